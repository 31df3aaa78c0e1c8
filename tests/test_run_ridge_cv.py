"""``kind: ridge_cv`` in ``jaxreg run`` (issue 18): the alpha chosen, the coefficients and the
whole cross-validation curve against scikit-learn's RidgeCV / Ridge / cross_val_score on the
same split, the cv_curve plot's lines against those numbers, and its config errors."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from run_cases import HEAD, run_error, run_text
from sklearn.linear_model import Ridge
from sklearn.linear_model import RidgeCV as SkRidgeCV
from sklearn.model_selection import KFold, cross_val_score

from jaxreg.experiment.run_plots import DRAW

ALPHAS = np.geomspace(1e-4, 1e3, 15)

CONFIG = f"""\
name: t
data: {{kind: linear, n_samples: 60, n_features: 8, n_informative: 3, rho: 0.5, snr: 2.0, seed: 3}}
split: {{test_size: 0.25}}
features: {{standardize: false}}
models:
  - {{name: loo, kind: ridge_cv, alphas: {{start: 1.0e-4, stop: 1000.0, num: 15}}, gcv_mode: [svd, eigen]}}
  - {{name: kfold, kind: ridge_cv, alphas: {ALPHAS.tolist()}, cv: 4}}
plots: [{{kind: cv_curve, alpha_axis: ln_lambda}}]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_text(CONFIG, tmp_path_factory.mktemp("ridge_cv"))


def test_alphas_are_candidates_not_a_grid_axis(run):
    config, records, _, out, text = run
    assert [r.info["label"] for r in records] == ["loo gcv_mode=svd", "loo gcv_mode=eigen", "kfold"]
    assert "failed" not in text and "skipped" not in text
    assert {p.name for p in out.glob("cv_curve*.png")} == {
        "cv_curve_loo_0.png",
        "cv_curve_loo_1.png",
        "cv_curve_kfold.png",
    }


def test_leave_one_out_matches_scikit_learn(run):
    _, records, split, _, _ = run
    X, y = np.asarray(split.X_train), np.asarray(split.y_train)
    sk = SkRidgeCV(alphas=ALPHAS, gcv_mode="svd", store_cv_results=True).fit(X, y)
    for r in records[:2]:
        info = r.info
        assert info["ridge_alpha"] == pytest.approx(sk.alpha_, rel=1e-12)
        assert info["alpha"] == pytest.approx(sk.alpha_ / len(y), rel=1e-12)  # jaxreg.fit's scaling
        np.testing.assert_allclose(r.coef, sk.coef_, rtol=1e-8, atol=1e-10)
        assert float(r.intercept) == pytest.approx(sk.intercept_, rel=1e-8)
        curve = info["cv_curve"]
        np.testing.assert_allclose(curve["alphas"], ALPHAS, rtol=1e-12)
        np.testing.assert_allclose(curve["score"], -sk.cv_results_.mean(axis=0), rtol=1e-8)
        # each alpha's held-out error: scikit-learn's Ridge at that alpha on the same split
        test = [np.sqrt(np.mean((Ridge(alpha=a).fit(X, y).predict(split.X_test) - split.y_test) ** 2)) for a in ALPHAS]
        np.testing.assert_allclose(curve["test_rmse"], test, rtol=1e-8)
        assert info["test_rmse"] == pytest.approx(test[int(np.argmin(np.abs(ALPHAS - sk.alpha_)))], rel=1e-8)


def test_k_fold_curve_is_the_mean_r2_of_the_folds(run):
    _, records, split, _, _ = run
    X, y = np.asarray(split.X_train), np.asarray(split.y_train)
    r = records[2]
    mean_r2 = [cross_val_score(Ridge(alpha=a), X, y, cv=KFold(4)).mean() for a in ALPHAS]
    np.testing.assert_allclose(r.info["cv_curve"]["score"], mean_r2, rtol=1e-8)
    assert r.info["ridge_alpha"] == pytest.approx(ALPHAS[int(np.argmax(mean_r2))], rel=1e-12)
    assert r.info["cv"] == "4-fold" and r.info["cv_curve"]["criterion"] == "r2"


def test_cv_curve_plot_draws_the_recorded_curve_and_marks_the_chosen_alpha(run):
    config, records, split, out, _ = run
    figs = DRAW["cv_curve"](config, records, split, config.plots[0], out)
    fig = figs["cv_curve_loo_0.png"]
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    curve = records[0].info["cv_curve"]
    loo = lines["LOO RMS error"]
    np.testing.assert_allclose(loo.get_xdata(), np.log(ALPHAS), rtol=1e-12)  # ln lambda: RidgeCV's alpha is lambda
    np.testing.assert_allclose(loo.get_ydata(), np.sqrt(-np.asarray(curve["score"])), rtol=1e-12)
    np.testing.assert_allclose(lines["test (held out)"].get_ydata(), curve["test_rmse"])
    (chosen,) = [line for label, line in lines.items() if label.startswith("chosen by LOO")]
    assert chosen.get_xdata()[0] == pytest.approx(np.log(records[0].info["ridge_alpha"]))
    assert ax.get_yscale() == "log" and ax.get_xlabel().startswith("ln lambda")
    kfold = figs["cv_curve_kfold.png"]
    assert len(kfold.axes) == 2 and kfold.axes[1].get_ylabel() == "4-fold mean R^2"  # R^2 on its own axis
    for f in figs.values():
        plt.close(f)


BASE = HEAD + "  - {name: r, kind: ridge_cv, alphas: [0.1, 1.0]}\n"

BAD = [
    (BASE.replace("[0.1, 1.0]", "[0.1, -1.0]"), "models[0]: alphas=", "> 0 (leave-one-out"),
    (BASE.replace("[0.1, 1.0]", "[0.0, 1.0]"), "models[0]: alphas=", "> 0"),
    (BASE.replace("[0.1, 1.0]", "{start: 1, stop: 10, num: 0}"), "models[0].alphas.num = 0", "greater than or equal"),
    (BASE.replace("alphas:", "cv: 1, alphas:"), "models[0].cv = 1", "greater than or equal to 2"),
    (BASE.replace("alphas:", "gcv_mode: svg, alphas:"), "models[0].gcv_mode = 'svg'", "'svd'"),
    (BASE.replace("kind: ridge_cv", "kind: ridgecv"), "models[0].kind = 'ridgecv'", "did you mean 'ridge_cv'?"),
    (BASE.replace("alphas:", "solver: fista, alphas:"), "unknown key 'solver'", "allowed keys"),
    (BASE + "plots: [{kind: fits, alpha_axis: ln_lambda}]\n", "plots[0]:", "alpha_axis applies to plots"),
]


@pytest.mark.parametrize("text, where, hint", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_ridge_cv_config_is_one_line_and_exit_2(text, where, hint, tmp_path, capsys):
    err = run_error(text, tmp_path, capsys)
    assert where in err and hint in err, err
