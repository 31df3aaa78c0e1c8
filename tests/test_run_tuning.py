"""``kind: tuning`` in ``jaxreg run`` (issue 16's config): the validation errors recorded along
the tuning path against scikit-learn's cross_val_score, the comparison grid search against
scikit-learn's LassoCV, the validation_path plot's lines against those records, config errors."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from run_cases import HEAD, run_error, run_text
from sklearn.linear_model import Lasso, LassoCV
from sklearn.model_selection import KFold, cross_val_score

from jaxreg.experiment.run_plots import DRAW

CONFIG = """\
name: t
data: {kind: linear, n_samples: 60, n_features: 8, n_informative: 3, rho: 0.5, snr: 2.0, seed: 3}
split: {test_size: 0.25}
features: {standardize: false}
models:
  - {name: ho, kind: tuning, cv: 3, n_grid: 2, n_steps: 3, grid: 10}
plots: [{kind: validation_path, alpha_axis: log10}]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config, (record,), split, out, text = run_text(CONFIG, tmp_path_factory.mktemp("tuning"))
    return config, record, split, out, text


def test_path_and_grid_search_match_scikit_learn(run):
    _, r, split, out, text = run
    assert "failed" not in text and (out / "validation_path.png").is_file()
    X, y = np.asarray(split.X_train), np.asarray(split.y_train)
    path = r.info["tuning_path"]
    assert path["n_start"] == 2 and 3 <= len(path["alphas"]) <= 5
    assert r.info["n_fits"] == 3 * len(path["alphas"]) + 1
    for alpha, mse in zip(path["alphas"], path["cv_mse"], strict=True):  # the validation error at each point
        lasso = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000)
        scores = cross_val_score(lasso, X, y, cv=KFold(3), scoring="neg_mean_squared_error")
        assert mse == pytest.approx(-scores.mean(), rel=1e-6)
    assert r.info["alpha"] == path["alphas"][int(np.argmin(path["cv_mse"]))]
    refit = Lasso(alpha=r.info["alpha"], tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(r.coef, refit.coef_, atol=1e-6)
    sk = LassoCV(alphas=10, cv=KFold(3), tol=1e-10, max_iter=100_000).fit(X, y)
    grid = r.info["grid_search"]
    assert grid["alpha"] == pytest.approx(sk.alpha_, rel=1e-9) and grid["n_fits"] == 31
    np.testing.assert_allclose(grid["alphas"], sk.alphas_, rtol=1e-9)


def test_validation_path_plot_draws_the_recorded_path(run):
    config, r, split, out, _ = run
    (fig,) = DRAW["validation_path"](config, [r], split, config.plots[0], out).values()
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    path, grid = r.info["tuning_path"], r.info["grid_search"]
    x = np.log10(path["alphas"])
    np.testing.assert_allclose(lines["starting grid"].get_xdata(), x[:2])
    steps = lines["gradient steps"]  # from the best starting point, then every step in order
    first = int(np.argmin(path["cv_mse"][:2]))
    np.testing.assert_allclose(steps.get_xdata(), np.r_[x[first], x[2:]])
    np.testing.assert_allclose(steps.get_ydata(), np.r_[path["cv_mse"][first], path["cv_mse"][2:]])
    (curve,) = [line for label, line in lines.items() if label.startswith("grid search (10 alphas, 31 fits)")]
    np.testing.assert_allclose(curve.get_ydata(), grid["cv_mse"])
    assert ax.get_xlabel() == "log10 alpha"
    plt.close(fig)


BASE = HEAD + "  - {name: ho, kind: tuning}\n"


@pytest.mark.parametrize(
    "text, where, hint",
    [
        (BASE.replace("kind: tuning", "kind: tuning, cv: 1"), "models[0].cv = 1", "greater than or equal to 2"),
        (BASE.replace("kind: tuning", "kind: tuning, n_steps: 0"), "models[0].n_steps = 0", "greater than or equal"),
        (BASE.replace("kind: tuning", "kind: tuning, learning_rate: -1"), "learning_rate = -1", "greater than 0"),
        (BASE.replace("kind: tuning", "kind: tunning"), "models[0].kind = 'tunning'", "did you mean 'tuning'?"),
        (BASE.replace("kind: tuning", "kind: tuning, alpha: 1"), "unknown key 'alpha'", "alpha_init"),
    ],
)
def test_bad_tuning_config_is_one_line_and_exit_2(text, where, hint, tmp_path, capsys):
    err = run_error(text, tmp_path, capsys)
    assert where in err and hint in err, err
