"""Issue 17 items 12 and 13: every sentence a shipped config (and the README's example
config) says about its results, checked against the metrics of its own run (fast mode, as
``tests/test_run.py`` runs them). The numbers quoted in a config's comments are checked to
the precision they are quoted with; a config whose numbers change must change its words.

poisson_counts and bayesian_sequential are checked in ``tests/test_run.py`` (their claims
against held-out errors and PRML's posterior formulas)."""

import io
import re
from pathlib import Path

import numpy as np
import pytest

from jaxreg.experiment.run import run_experiment
from jaxreg.experiment.run_config import load_run

ROOT = Path(__file__).resolve().parents[1]


def _run(path, tmp_path):
    config, plan = load_run(path)
    out = io.StringIO()
    records = run_experiment(config, plan, tmp_path, progress=False, fast=True, stream=out)
    fits = {r.info["label"]: {**r.info, "coef": r.coef, "history": r.history} for r in records}
    return fits, out.getvalue()


def _config(name):
    return ROOT / "configs" / f"{name}.yaml"


def test_item13_quickstart(tmp_path):
    fits, _ = _run(_config("quickstart"), tmp_path)
    assert fits["lasso"]["nonzeros"] < 10  # lasso zeroes coefficients
    assert fits["ridge"]["nonzeros"] == 10  # ridge shrinks them all
    w = np.abs(fits["linf"]["coef"])  # L-infinity ties the largest magnitudes (bmi and s5)
    assert np.isclose(w[2], w.max(), rtol=1e-6) and np.isclose(w[8], w.max(), rtol=1e-6)
    assert fits["lp"]["nonzeros"] == 10  # Lp shrinks without exact zeros


def test_item13_polynomial_overfitting(tmp_path):
    fits, _ = _run(_config("polynomial_overfitting"), tmp_path)
    test = {d: fits[f"least_squares degree={d}"]["test_rmse"] for d in (0, 1, 3, 9)}
    # the numbers quoted: 0.76, 0.56, 0.31, 0.54; train RMS ~ 1e-5 at degree 9
    np.testing.assert_allclose([test[0], test[1], test[3], test[9]], [0.76, 0.56, 0.31, 0.54], atol=0.005)
    assert fits["least_squares degree=9"]["train_rmse"] < 1e-4
    assert test[3] < test[9] < test[0]  # above degree 3's, not above degree 0's


def test_item13_ridge_tames_degree9(tmp_path):
    fits, _ = _run(_config("ridge_tames_degree9"), tmp_path)
    big = {a: np.abs(fits[f"ridge alpha={a}"]["coef"]).max() for a in ("0", "1.523e-09", "0.1")}
    assert big["0"] > 1e5  # hundreds of thousands
    assert 100 <= big["1.523e-09"] < 1000  # ln lambda = -18: hundreds
    assert fits["ridge alpha=0.1"]["test_rmse"] == pytest.approx(0.58, abs=0.005)
    assert fits["ridge alpha=1.523e-09"]["test_rmse"] == pytest.approx(0.31, abs=0.005)
    curve = [f for k, f in fits.items() if k.startswith("ridge_curve")]
    assert len(curve) == 8
    ln_lambda = [np.log(10 * f["alpha"]) for f in curve]
    np.testing.assert_allclose(ln_lambda, np.arange(-35, 1, 5), atol=1e-3)  # alpha = e^(ln lambda) / 10
    test = np.array([f["test_rmse"] for f in curve])
    best = int(np.argmin(test))
    assert ln_lambda[best] == pytest.approx(-10, abs=1e-3) and test[best] == pytest.approx(0.30, abs=0.005)
    assert np.all(np.diff(test[: best + 1]) < 0) and np.all(np.diff(test[best:]) > 0)  # rises on both sides
    assert test[0] == pytest.approx(0.54, abs=0.005)


def _ridge_test_rmse(X, y, X_test, y_test, lam):
    """Held-out RMS error of ridge ``||y - Xw - b||^2 + lam ||w||^2`` by least squares on the
    centred data stacked on ``sqrt(lam) I`` (accurate for raw powers, whose ``X^T X`` is not)."""
    xm, ym = X.mean(axis=0), y.mean()
    A = np.vstack([X - xm, np.sqrt(lam) * np.eye(X.shape[1])])
    w = np.linalg.lstsq(A, np.r_[y - ym, np.zeros(X.shape[1])], rcond=None)[0]
    return np.sqrt(np.mean((X_test @ w + ym - xm @ w - y_test) ** 2))


def test_issue18_ridge_gcv(tmp_path):
    from sklearn.linear_model import RidgeCV

    from jaxreg.experiment.run_data import load_data

    fits, _ = _run(_config("ridge_gcv"), tmp_path)
    assert fits["least_squares"]["test_rmse"] == pytest.approx(0.54, abs=0.005)
    loo = fits["ridge_loo"]
    curve = loo["cv_curve"]
    ln_lambda = np.log(curve["alphas"])
    np.testing.assert_allclose(ln_lambda, np.arange(-35, 1), atol=1e-4)  # the 36 lambdas quoted
    # the curve against scikit-learn's RidgeCV on the raw powers x^1..x^9 of the same points
    config, _ = load_run(_config("ridge_gcv"))
    train, test = load_data(config.data), load_data(config.split.test_data)
    powers = lambda x: np.vander(np.ravel(x), 10, increasing=True)[:, 1:]  # noqa: E731
    sk = RidgeCV(alphas=curve["alphas"], gcv_mode="svd", store_cv_results=True).fit(powers(train.X), train.y)
    loo_rmse = np.sqrt(sk.cv_results_.mean(axis=0))
    np.testing.assert_allclose(curve["loo_rmse"], loo_rmse, rtol=1e-6)
    assert loo["ridge_alpha"] == pytest.approx(sk.alpha_, rel=1e-12)
    assert np.log(loo["ridge_alpha"]) == pytest.approx(-10, abs=1e-4)
    assert loo_rmse.min() == pytest.approx(0.33, abs=0.005)
    test_rmse = [_ridge_test_rmse(powers(train.X), train.y, powers(test.X), test.y, a) for a in curve["alphas"]]
    np.testing.assert_allclose(curve["test_rmse"], test_rmse, rtol=1e-8)
    best = int(np.argmin(test_rmse))  # the held-out points agree: -10 has the lowest test error
    assert ln_lambda[best] == pytest.approx(-10, abs=1e-4) and loo["test_rmse"] == pytest.approx(0.298, abs=5e-4)
    assert loo_rmse[0] == pytest.approx(19, abs=0.5)  # ln lambda = -35
    misses = np.sqrt(sk.cv_results_[:, 0])  # |y_i - (fit without point i)(x_i)|
    assert np.ravel(train.X)[[0, -1]].tolist() == [0.0, 1.0]
    assert np.round(misses[[0, -1]]).tolist() == [28, 53]
    assert misses[0] ** 2 + misses[-1] ** 2 > 0.95 * np.sum(misses**2)  # nearly all from the end points
    below = ln_lambda[loo_rmse < 1]
    assert below.min() == pytest.approx(-13, abs=1e-4) and np.all(np.diff(np.flatnonzero(loo_rmse < 1)) == 1)
    assert np.all(np.diff(curve["train_rmse"]) > 0)  # train error only falls as lambda shrinks
    cond = np.linalg.cond(powers(train.X) - powers(train.X).mean(axis=0))  # why gcv_mode: svd
    assert 10**6.5 < cond < 10**7.5


def _cv_mse(X, y, alpha, weights=None):
    """scikit-learn's 5-fold (unshuffled) validation MSE of Lasso(alpha); with per-feature
    ``weights``, the lasso on the columns divided by them (the weighted lasso's fit)."""
    from sklearn.linear_model import Lasso
    from sklearn.model_selection import KFold, cross_val_score

    Xw = X if weights is None else X / np.asarray(weights)
    lasso = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000)
    return -cross_val_score(lasso, Xw, y, cv=KFold(5), scoring="neg_mean_squared_error").mean()


def test_issue16_lasso_tuning(tmp_path):
    from sklearn.linear_model import Lasso, LassoCV
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    from jaxreg.experiment.run import prepare

    fits, _ = _run(_config("lasso_tuning"), tmp_path)
    config, _ = load_run(_config("lasso_tuning"))
    split = prepare(config)
    scaler = StandardScaler().fit(split.X_train)
    X, Xt, y, yt = scaler.transform(split.X_train), scaler.transform(split.X_test), split.y_train, split.y_test
    informative = np.flatnonzero(split.coef_true)
    assert X.shape == (150, 50) and informative.size == 5
    ho, weighted = fits["lasso_ho"], fits["weighted_ho"]
    assert ho["n_fits"] == 5 * len(ho["tuning_path"]["alphas"]) + 1 == 76
    assert ho["alpha"] == pytest.approx(0.0626, abs=5e-5)
    assert ho["cv_mse"] == pytest.approx(_cv_mse(X, y, ho["alpha"]), rel=1e-6) == pytest.approx(0.6671, abs=5e-5)
    sk = LassoCV(alphas=100, cv=KFold(5), tol=1e-8, max_iter=100_000).fit(X, y)  # the grid search
    grid = ho["grid_search"]
    assert grid["n_fits"] == 501 and grid["alpha"] == pytest.approx(sk.alpha_, rel=1e-9)
    assert grid["alpha"] == pytest.approx(0.0650, abs=5e-5) and grid["cv_mse_best"] == pytest.approx(0.6674, abs=5e-5)
    np.testing.assert_allclose(grid["cv_mse"], sk.mse_path_.mean(axis=1), rtol=5e-3)  # LassoCV tol 1e-4
    rmse = lambda w, b: np.sqrt(np.mean((Xt @ w + b - yt) ** 2))  # noqa: E731
    held_out = Lasso(alpha=ho["alpha"], tol=1e-12, max_iter=100_000).fit(X, y)
    assert ho["test_rmse"] == pytest.approx(rmse(held_out.coef_, held_out.intercept_), rel=1e-5)
    assert round(ho["test_rmse"], 3) == 0.949 and round(grid["test_rmse"], 3) == 0.952
    assert weighted["n_fits"] == 96 and len(weighted["weights"]) == 50
    assert weighted["cv_mse"] == pytest.approx(_cv_mse(X, y, weighted["alpha"], weighted["weights"]), rel=1e-6)
    assert round(weighted["cv_mse"], 3) == 0.551 and round(weighted["test_rmse"], 3) == 0.937
    assert weighted["nonzeros"] == 11 and ho["nonzeros"] == grid["nonzeros"] == 18
    assert np.count_nonzero(weighted["coef"][informative]) == 4 and np.all(ho["coef"][informative] != 0)


def test_item13_logistic_regularized(tmp_path):
    fits, _ = _run(_config("logistic_regularized"), tmp_path)
    l1 = {f["alpha"]: f for k, f in fits.items() if k.startswith("l1")}
    l2 = {f["alpha"]: f for k, f in fits.items() if k.startswith("l2")}
    assert len(l1) == len(l2) == 9 and max(l1) == 0.3 and min(l1) == pytest.approx(0.00095, rel=0.01)
    assert all(f["converged"] for f in fits.values())
    assert l1[0.3]["nonzeros"] == 2 and l1[min(l1)]["nonzeros"] == 17
    assert all(f["nonzeros"] == 30 for f in l2.values())
    for path in (l1, l2):
        acc = [f["test_accuracy"] for a, f in path.items() if a <= 0.1]
        assert 0.93 <= min(acc) and max(acc) <= 0.965
    assert l1[0.3]["test_accuracy"] == pytest.approx(0.71, abs=0.005)
    assert l2[0.3]["test_accuracy"] == pytest.approx(0.94, abs=0.005)


def test_item13_l1_vs_l2_sparsity(tmp_path):
    fits, _ = _run(_config("l1_vs_l2_sparsity"), tmp_path)
    assert fits["lasso"]["nonzeros"] < fits["elastic_net"]["nonzeros"] < fits["ridge"]["nonzeros"] == 20
    assert fits["lp"]["nonzeros"] == 20
    w = np.abs(fits["linf"]["coef"])
    assert np.sum(np.isclose(w, w.max(), rtol=1e-6)) >= 2  # the largest magnitudes share a value
    path = [f["nonzeros"] for k, f in fits.items() if k.startswith("lasso_path")]
    assert path[0] == 0 and path[-1] == 19 and path == sorted(path)
    assert all(f["nonzeros"] == 20 for k, f in fits.items() if k.startswith("ridge_path"))


def test_item13_batch_minibatch_sgd(tmp_path):
    fits, _ = _run(_config("batch_minibatch_sgd"), tmp_path)
    batch, mini, sgd = fits["batch"], fits["minibatch"], fits["sgd"]
    f_star = fits["fista"]["objective"]
    # first epoch: the stochastic methods, many steps per pass, are ahead of the full batch
    assert mini["history"][0] < batch["history"][0] and sgd["history"][0] < batch["history"][0]
    assert abs(batch["objective_diff"]) < 1e-12  # batch GD: to machine precision
    assert mini["objective_diff"] > 1e-3  # the constant-rate mini-batches stall at a floor
    assert 0 < sgd["objective_diff"] < mini["objective_diff"]  # the decaying SGD creeps below it
    sub = np.asarray(sgd["history"]) - f_star  # still creeping down (with epoch-to-epoch noise)
    assert sub[9] > sub[29] > sub[49] > 0


def test_item13_gd_learning_rates(tmp_path):
    fits, _ = _run(_config("gd_learning_rates"), tmp_path)
    assert fits["gd learning_rate=1"]["status"] == "diverged"
    fast = fits["gd learning_rate=0.3"]
    assert fast["converged"] and abs(fast["objective_diff"]) < 1e-10
    slow = fits["gd learning_rate=0.01"]
    assert slow["status"] == "max_iter" and slow["n_iter"] == 300 and slow["objective_diff"] > 1e-2  # far off


def test_item13_normal_equation_vs_gd(tmp_path):
    fits, _ = _run(_config("normal_equation_vs_gd"), tmp_path)
    for name in ("gradient_descent", "lbfgs"):  # the same answer
        assert fits[name]["converged"] and fits[name]["coef_max_abs_diff"] < 1e-6
        assert abs(fits[name]["objective_diff"]) < 1e-10


def test_item13_mcp_scad_vs_lasso(tmp_path):
    fits, _ = _run(_config("mcp_scad_vs_lasso"), tmp_path)
    quoted = {"lasso": 0.73, "mcp": 0.09, "scad": 0.19}
    for name, err in quoted.items():
        assert fits[name]["alpha"] == 0.25
        assert fits[name]["false_positives"] == fits[name]["false_negatives"] == 0
        assert fits[name]["coef_error"] == pytest.approx(err, abs=0.005)
    assert fits["lasso"]["test_rmse"] > max(fits["mcp"]["test_rmse"], fits["scad"]["test_rmse"])
    lasso = [f for k, f in fits.items() if k.startswith("lasso_path")]
    best = min(lasso, key=lambda f: f["test_rmse"])
    assert 10 <= best["false_positives"] <= 14  # "a dozen noise features"
    for name in ("mcp_path", "scad_path"):
        exact = [f for k, f in fits.items() if k.startswith(name) and f["false_positives"] == f["false_negatives"] == 0]
        assert len(exact) >= 2 and min(f["test_rmse"] for f in exact) < best["test_rmse"]


def test_item12_readme_example_runs_without_plot_failures(tmp_path):
    text = re.search(r"## Experiments: `jaxreg run`.*?```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "c.yaml").write_text(text.group(1))
    fits, out = _run(tmp_path / "c.yaml", tmp_path / "run")
    assert "failed" not in out and "skipped" not in out, out
    assert len(out.splitlines()) < 40  # a summary, not a 90-row coefficient table
    assert all(f["converged"] for f in fits.values())
    for degree in (1, 3, 5):  # the Bayesian model is as good as the lasso (RMSE 52.8 vs 52.7 at degree 1)
        lasso = min(f["test_rmse"] for k, f in fits.items() if k.startswith(f"lasso degree={degree} "))
        assert fits[f"blr degree={degree}"]["test_rmse"] <= 1.05 * lasso
