"""``jaxreg run``: every shipped config runs (fast mode) and shows what it claims, broken
configs give one line and exit code 2, ``--set`` works, a failed model is recorded while
the others finish, and the numbers in metrics.json match independent computations."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from jaxreg.cli import main
from jaxreg.experiment.run import run_experiment
from jaxreg.experiment.run_config import RunConfig, load_run

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SHIPPED = {
    "quickstart",
    "polynomial_overfitting",
    "ridge_tames_degree9",
    "l1_vs_l2_sparsity",
    "gd_learning_rates",
    "batch_minibatch_sgd",
    "normal_equation_vs_gd",
    "logistic_regularized",
    "bayesian_sequential",
    "mcp_scad_vs_lasso",
    "poisson_counts",
    "ridge_gcv",
    "lasso_tuning",
}


def _fits(folder):
    return {f["label"]: f for f in json.loads((folder / "metrics.json").read_text())["fits"]}


def _coefs(folder):
    with open(folder / "coefficients.csv") as f:
        rows = list(csv.DictReader(f))
    fixed = ("id", "label", "status", "intercept")
    return {
        r["label"]: (float(r["intercept"]), np.array([float(r[k]) for k in r if k not in fixed and r[k]])) for r in rows
    }


def test_the_shipped_configs_are_the_listed_ones():
    assert {p.stem for p in CONFIGS} == SHIPPED


# What each config is there to show, checked on its fast-mode run.
def _polynomial_overfitting(fits):
    d3, d9 = fits["least_squares degree=3"], fits["least_squares degree=9"]
    assert d9["train_rmse"] < 1e-3 < d3["train_rmse"]  # degree 9 interpolates the 10 points
    assert d9["test_rmse"] > d3["test_rmse"]


def _ridge_tames_degree9(fits):
    big = [max(abs(w) for w in f["coef"]) for f in fits.values()]
    assert big[0] > 1e4 > 1e3 > big[1] > big[2]


def _l1_vs_l2_sparsity(fits):
    assert fits["lasso"]["nonzeros"] < fits["elastic_net"]["nonzeros"] < fits["ridge"]["nonzeros"] == 20
    assert fits["lp"]["nonzeros"] == fits["linf"]["nonzeros"] == 20


def _gd_learning_rates(fits):
    assert fits["gd learning_rate=1"]["status"] == "diverged"
    assert fits["gd learning_rate=0.3"]["converged"]
    assert abs(fits["gd learning_rate=0.3"]["objective_diff"]) < 1e-10


def _normal_equation_vs_gd(fits):
    # on a CPU the normal equations are numpy/LAPACK: nothing to compile
    assert fits["normal_equation"]["compile_time"] == 0 and fits["normal_equation"]["fit_time"] > 0
    assert fits["lbfgs"]["coef_max_abs_diff"] < 1e-6


def _logistic_regularized(fits):
    l1 = [f["nonzeros"] for k, f in fits.items() if k.startswith("l1")]
    assert l1 == sorted(l1) and l1[0] < l1[-1]  # fewer features kept as alpha grows
    assert all(f["nonzeros"] == 30 for k, f in fits.items() if k.startswith("l2"))
    assert all(0.9 < f["test_accuracy"] <= 1 for k, f in fits.items() if not k.endswith("=0.3"))


def _bayesian_sequential(fits, config):
    from jaxreg.experiment.run_data import load_data

    ds = load_data(config.data)
    Phi = np.column_stack([np.ones(ds.X.shape[0]), ds.X[:, 0]])  # all 20 points seen
    S = np.linalg.inv(2.0 * np.eye(2) + 25.0 * Phi.T @ Phi)  # posterior (PRML eq. 3.53-3.54)
    (f,) = fits.values()
    np.testing.assert_allclose(f["posterior_mean"], 25.0 * S @ Phi.T @ ds.y, rtol=1e-10)
    np.testing.assert_allclose(f["posterior_std"], np.sqrt(np.diag(S)), rtol=1e-10)


def _mcp_scad_vs_lasso(fits):
    for name in ("lasso", "mcp", "scad"):  # all find the support; MCP/SCAD without the lasso's bias
        assert fits[name]["false_positives"] == fits[name]["false_negatives"] == 0
    assert max(fits["mcp"]["coef_error"], fits["scad"]["coef_error"]) < 0.5 * fits["lasso"]["coef_error"]
    assert min(fits["mcp"]["test_rmse"], fits["scad"]["test_rmse"]) < fits["lasso"]["test_rmse"]


def _poisson_counts(fits):
    poisson = {k.split()[-1]: f for k, f in fits.items() if k.startswith("poisson_path")}
    squared = {k.split()[-1]: f for k, f in fits.items() if k.startswith("squared_path")}
    assert all(poisson[a]["test_rmse"] < squared[a]["test_rmse"] for a in poisson)
    assert all(f["test_deviance"] > 0 for f in poisson.values()) and "test_deviance" not in squared[next(iter(squared))]
    assert fits["poisson_l1"]["false_negatives"] == 0 and round(fits["poisson_l1"]["coef_error"], 3) == 0.075
    # log(exposure) is the offset, not a feature: 20 coefficients, the intercept near the truth 0.5
    assert len(fits["poisson_l1"]["coef"]) == 20 and round(fits["poisson_l1"]["intercept"], 2) == 0.51
    rmse = [f["test_rmse"] for f in poisson.values()], [f["test_rmse"] for f in squared.values()]
    assert (round(min(rmse[0]), 2), round(max(rmse[0]), 2)) == (1.76, 4.70)  # the config's quoted ranges
    assert (round(min(rmse[1]), 2), round(max(rmse[1]), 2)) == (5.28, 5.70)


CLAIMS = {
    "mcp_scad_vs_lasso": _mcp_scad_vs_lasso,
    "poisson_counts": _poisson_counts,
    "polynomial_overfitting": _polynomial_overfitting,
    "ridge_tames_degree9": _ridge_tames_degree9,
    "l1_vs_l2_sparsity": _l1_vs_l2_sparsity,
    "gd_learning_rates": _gd_learning_rates,
    "normal_equation_vs_gd": _normal_equation_vs_gd,
    "logistic_regularized": _logistic_regularized,
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_runs_in_fast_mode(path, tmp_path):
    config, plan = load_run(path)
    out = io.StringIO()
    records = run_experiment(config, plan, tmp_path, progress=False, fast=True, stream=out)
    text = out.getvalue()
    for name in ("config.yaml", "env.json", "metrics.json", "coefficients.csv", "coefficients.npz"):
        assert (tmp_path / name).is_file(), name
    assert "skipped" not in text and "failed" not in text, text
    assert len(list(tmp_path.glob("*.png"))) >= len([p for p in config.plots if p.kind != "coef_table"])
    assert RunConfig.model_validate(yaml.safe_load((tmp_path / "config.yaml").read_text())) == config
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["dtype"] == config.dtype and {"jax", "jaxlib", "optax", "numpy"} <= set(env["packages"])
    assert "git_commit" in env and env["jaxreg"]
    fits = _fits(tmp_path)
    assert len(fits) == len(plan) == len(records)
    for f in fits.values():
        assert f["status"] in ("converged", "max_iter", "diverged")
        assert {"objective", "n_iter", "converged", "nonzeros", "fit_time", "compile_time"} <= set(f)
    coefs = _coefs(tmp_path)
    with np.load(tmp_path / "coefficients.npz") as npz:  # the archive holds what the csv says
        for r in records:
            if r.coef is not None and np.ndim(r.coef) == 1:
                np.testing.assert_allclose(npz[f"coef_{r.info['id']}"], coefs[r.info["label"]][1], rtol=1e-12)
    for label, f in fits.items():
        f["coef"] = coefs[label][1] if label in coefs else None
        f.setdefault("intercept", coefs[label][0] if label in coefs else None)
    if config.name in CLAIMS:
        CLAIMS[config.name](fits)
    if config.name == "bayesian_sequential":
        _bayesian_sequential(fits, config)
    first = text.splitlines()[0] if not any(p.kind == "coef_table" for p in config.plots) else ""  # printed first
    assert first == "" or first.startswith(f"{config.name}: {len(plan)} fits")


# ----------------------------------------------------------------------------- errors

BASE = """\
name: t
data: {kind: sinusoidal, n_samples: 12}
features: {basis: polynomial, degree: 2}
models:
  - {name: ridge, penalty: {kind: l2, alpha: 0.1}, solver: closed_form}
"""

BAD = [
    (BASE.replace("models:", "modles:"), "modles: unknown key 'modles'", "did you mean 'models'?"),
    (BASE.replace("penalty:", "penalti:"), "models[0].penalti: unknown key", "did you mean 'penalty'?"),
    (BASE + "seed: abc\n", "seed = 'abc'", "valid integer"),
    (BASE + "split: {test_size: -0.5}\n", "split.test_size = -0.5", "greater than or equal to 0"),
    (BASE.replace("alpha: 0.1", "alpha: -1"), "models[0].penalty.alpha = -1", "greater than or equal to 0"),
    (BASE.replace("alpha: 0.1", "alpha: [0.1, -2]"), "models[0].penalty.alpha[1] = -2", "greater than or equal"),
    (BASE.replace("closed_form", "closed_fom"), "models[0].solver = 'closed_fom'", "did you mean 'closed_form'?"),
    (BASE.replace("sinusoidal", "sinusoid"), "data.kind = 'sinusoid' is not allowed", "did you mean 'sinusoidal'?"),
    (BASE.replace("n_samples: 12", "n_samples: 0"), "data.n_samples = 0", "greater than or equal to 1"),
    (BASE.replace("degree: 2", "degree: 2, n_centers: 3"), "features:", "n_centers applies to basis gaussian"),
    (BASE + "plots: [fitz]\n", "plots[0].kind = 'fitz'", "did you mean 'fits'?"),
    (BASE + "plots: [{kind: fits, models: [ridg]}]\n", "plots[0].models = 'ridg' is not a model", "did you mean"),
    (BASE + "dtype: float16\n", "dtype = 'float16'", "'float32' or 'float64'"),
    (
        BASE.replace("{kind: sinusoidal, n_samples: 12}", "{kind: csv, path: no_such.csv, target: y}"),
        "data.path = 'no_such.csv': file not found",
        "looked in",
    ),
    (BASE + "models: [\n", "malformed YAML at line", ""),
    (
        BASE.replace("solver: closed_form", "solver: sgd, options: {learning_rat: 0.1}"),
        "options.learning_rat is not a jaxreg.fit option",
        "did you mean 'learning_rate'?",
    ),
    (BASE.replace("{name: ridge,", "{name: ridge, kind: bayes,"), "models[0].kind = 'bayes'", "did you mean"),
    (BASE.replace("{name: ridge,", "{name: ridge, loss: poison,"), "models[0].loss = 'poison'", "'poisson'?"),
    (
        BASE.replace("{name: ridge,", "{name: ridge, loss: {kind: tweedie, power: 2.5},"),
        "loss.power = 2.5",
        "less than or equal to 2",
    ),
    (BASE.replace("{name: ridge,", "{name: ridge, loss: {kind: poisson, power: 1.5},"), "models[0].loss:", "power"),
    (
        BASE.replace("{name: ridge,", "{name: ridge, loss: {kind: huber, epsilon: 0},"),
        "loss.epsilon = 0",
        "greater than 0",
    ),
    (BASE.replace("kind: l2, alpha: 0.1", "kind: scad, alpha: 0.1, gamma: 1.5"), "penalty.gamma = 1.5", "> 2"),
    (BASE.replace("kind: l2, alpha: 0.1", "kind: mcp, alpha: 0.1, gamma: 1"), "penalty.gamma = 1", "than 1"),
    (BASE.replace("alpha: 0.1", "alpha: 0.1, gamma: 3"), "models[0].penalty:", "gamma applies to kind 'mcp' or"),
    (BASE.replace("alpha: 0.1", "alpha_ratio: 0.1"), "models[0].penalty:", "alpha_max exists only for l1"),
    (BASE.replace("kind: l2, alpha: 0.1", "kind: linf, alpha: 0.1, positive: true"), "penalty:", "separable"),
    (BASE.replace("alpha: 0.1", "alpha: 0.1, positive: true, lower: -1"), "penalty:", "not both"),
    (BASE.replace("alpha: 0.1", "alpha: 0.1, upper: -1"), "penalty.upper = -1", "greater than or equal to 0"),
    (BASE + "  - {name: ridge, solver: fista}\n", "models[1].name = 'ridge' is already the name", "unique"),
    (
        BASE.replace("{kind: sinusoidal, n_samples: 12}", "{kind: npy, x: bad.yaml, y: bad.yaml, stream: true}"),
        "features: streamed npy data",
        "remove the features",
    ),
]


@pytest.mark.parametrize("text, where, hint", BAD, ids=[b[1][:30] for b in BAD])
def test_broken_config_is_one_line_and_exit_2(text, where, hint, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    rc = main(["run", str(cfg), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("jaxreg: error: "), err
    assert where in err and hint in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing runs before the whole config validates


def test_missing_config_file_and_bad_override(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(BASE)
    assert main(["run", str(cfg), "--set", "models.3.solver=fista"]) == 2
    assert "index 3 is out of range" in capsys.readouterr().err


def test_absent_device_is_a_usage_error(tmp_path, capsys):
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("a GPU is present")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "device: gpu\n")
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "device = 'gpu'" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_overrides_change_the_config_and_expand_grids(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE)
    config, plan = load_run(cfg, ["data.n_samples=30", "models.0.penalty.alpha=[1e-3, 1]", "features.degree=[1, 3]"])
    assert config.data.n_samples == 30
    assert [f.label for f in plan] == [
        "ridge degree=1 alpha=0.001",
        "ridge degree=1 alpha=1",
        "ridge degree=3 alpha=0.001",
        "ridge degree=3 alpha=1",
    ]
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress", "--set", "name=renamed"]) == 0
    assert yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())["name"] == "renamed"


def test_a_failed_model_is_recorded_and_the_others_finish(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        BASE.replace(
            "models:\n",
            "models:\n  - {name: impossible, penalty: {kind: l1, alpha: 0.1}, solver: closed_form}\n",
        )
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    fits = _fits(tmp_path / "o")
    assert fits["impossible"]["status"] == "failed" and "closed_form" in fits["impossible"]["error"]
    assert fits["ridge"]["status"] == "converged"
    assert set(_coefs(tmp_path / "o")) == {"ridge"}
    assert "impossible: failed:" in capsys.readouterr().out
    cfg.write_text(BASE.replace("kind: l2", "kind: l1"))  # every model fails: exit code 1
    assert main(["run", str(cfg), "--out", str(tmp_path / "o2"), "--no-progress"]) == 1


# ----------------------------------------------------------------------------- numbers


@pytest.fixture(scope="module")
def regression_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    w = np.array([1.5, 0.0, -2.0])
    X = rng.standard_normal((90, 3)) * [1.0, 3.0, 0.5] + [0.0, 1.0, -1.0]
    y = X @ w + 0.7 + 0.3 * rng.standard_normal(90)
    with open(d / "train.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["a", "b", "target", "c"])
        wr.writerows([[x[0], x[1], t, x[2]] for x, t in zip(X[:60], y[:60])])
    np.savez(d / "test.npz", X=X[60:], y=y[60:])
    return d, X[:60], y[:60], X[60:], y[60:]


def test_metrics_match_numpy_and_sklearn(regression_files, tmp_path):
    from sklearn.linear_model import Ridge

    d, Xtr, ytr, Xte, yte = regression_files
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: numbers\ndata: {{kind: csv, path: {d}/train.csv, target: target}}\n"
        f"split: {{test_data: {{kind: npz, path: {d}/test.npz}}}}\n"
        "models:\n  - {name: ridge, penalty: {kind: l2, alpha: [0.05, 0.5]}, solver: closed_form}\n"
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    fits, coefs = _fits(tmp_path / "o"), _coefs(tmp_path / "o")
    mu, sd = Xtr.mean(0), Xtr.std(0)  # StandardScaler: population std
    Ztr, Zte = (Xtr - mu) / sd, (Xte - mu) / sd
    for alpha in (0.05, 0.5):
        label = f"ridge alpha={alpha:g}"
        b, w = coefs[label]
        ref = Ridge(alpha=alpha * len(ytr)).fit(Ztr, ytr)  # our L2(a) is sklearn's Ridge(a * n)
        np.testing.assert_allclose(w, ref.coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, ref.intercept_, rtol=1e-9)
        f = fits[label]
        np.testing.assert_allclose(f["test_mse"], np.mean((yte - Zte @ w - b) ** 2), rtol=1e-9)
        np.testing.assert_allclose(f["train_rmse"], np.sqrt(np.mean((ytr - Ztr @ w - b) ** 2)), rtol=1e-9)
        obj = 0.5 * np.mean((ytr - Ztr @ w - b) ** 2) + 0.5 * alpha * w @ w
        np.testing.assert_allclose(f["objective"], obj, rtol=1e-9)


def test_classification_metrics_from_svmlight(tmp_path):
    from sklearn.datasets import dump_svmlight_file
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 4))
    y = np.where(X @ [2.0, -1.0, 0.0, 0.5] + 0.5 * rng.standard_normal(120) > 0, 1, -1)
    dump_svmlight_file(X[:80], y[:80], str(tmp_path / "train.svm"))
    dump_svmlight_file(X[80:], y[80:], str(tmp_path / "test.svm"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: cls\ndata: {kind: svmlight, path: train.svm, task: classification}\n"
        "split: {test_data: {kind: svmlight, path: test.svm, task: classification}}\n"
        "features: {standardize: false}\n"
        "models:\n  - {name: logit, penalty: {kind: l2, alpha: 0.05}, solver: lbfgs, tol: 1e-10}\n"
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0  # paths beside the config
    f = _fits(tmp_path / "o")["logit"]
    b, w = _coefs(tmp_path / "o")["logit"]
    ref = LogisticRegression(C=1 / (0.05 * 80), tol=1e-12, max_iter=10_000).fit(X[:80], y[:80])
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-5, atol=1e-7)
    z = X[80:] @ w + b
    p1 = 1 / (1 + np.exp(-z))
    t = y[80:] == 1
    assert f["loss"] == "logistic" and f["classes"] == [-1, 1]
    np.testing.assert_allclose(f["test_accuracy"], np.mean((z > 0) == t))
    np.testing.assert_allclose(f["test_log_loss"], -np.mean(np.where(t, np.log(p1), np.log(1 - p1))), rtol=1e-9)


def test_streamed_npy_data(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 4))
    y = X @ [1.0, -1.0, 0.0, 2.0] + 0.1 * rng.standard_normal(500)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: big\ndata: {{kind: npy, x: {tmp_path}/X.npy, y: {tmp_path}/y.npy, stream: true, block_rows: 128}}\n"
        "models:\n  - name: mb\n    penalty: {kind: l2, alpha: 0.01}\n    solver: minibatch\n"
        "    max_iter: 5\n    options: {batch_size: 64, shuffle: false, learning_rate: 0.05}\n"
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    f = _fits(tmp_path / "o")["mb"]
    b, w = _coefs(tmp_path / "o")["mb"]
    np.testing.assert_allclose(f["train_mse"], np.mean((y - X @ w - b) ** 2), rtol=1e-7)
    assert "test_mse" not in f


def test_new_losses_penalties_and_bounds_in_configs(tmp_path):
    from jaxreg.losses import Huber, Poisson, Tweedie
    from jaxreg.penalties import L1, MCP, SCAD, Bounded, NoPenalty

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        BASE.replace(
            "  - {name: ridge, penalty: {kind: l2, alpha: 0.1}, solver: closed_form}\n",
            "  - {name: a, loss: poisson, penalty: {kind: mcp, alpha: 0.1}}\n"
            "  - {name: b, loss: {kind: tweedie, power: [1.2, 1.8]}, penalty: {kind: scad, alpha_ratio: 0.1, gamma: 3}}\n"
            "  - {name: c, loss: {kind: huber, epsilon: 2}, penalty: {kind: l1, alpha: 0.1, positive: true}}\n"
            "  - {name: d, penalty: {kind: none, lower: -1, upper: 2}}\n",
        )
    )
    _, plan = load_run(cfg)
    assert [f.label for f in plan] == ["a", "b power=1.2", "b power=1.8", "c", "d"]
    losses = [f.model.loss.build() for f in plan[:4]]
    assert losses == [Poisson(), Tweedie(1.2), Tweedie(1.8), Huber(2.0)]
    assert plan[0].model.penalty.build() == MCP(0.1, 3.0) and plan[1].model.penalty.build(0.5) == SCAD(0.5, 3.0)
    assert repr(plan[3].model.penalty.build(0.1)) == repr(Bounded(L1(0.1), lower=0.0))
    assert repr(plan[4].model.penalty.build()) == repr(Bounded(NoPenalty(), lower=-1.0, upper=2.0))
    assert plan[3].model.penalty.label() == "l1 alpha=0.1 positive"
    assert plan[1].model.loss.label() == "tweedie(power=1.2)" and plan[1].model.penalty.label().startswith(
        "scad(gamma=3)"
    )


def test_readme_config_example_validates(tmp_path):
    import re

    text = re.search(r"## Experiments: `jaxreg run`.*?```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "c.yaml").write_text(text.group(1))
    config, plan = load_run(tmp_path / "c.yaml")
    assert len(plan) == 3 * (3 + 1)  # 3 degrees x (3 lasso alphas + the Bayesian model)
