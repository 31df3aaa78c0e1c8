"""Issue 17 items 11-13 in ``jaxreg run``: error_vs_degree / error_vs_alpha draw one line per
value of the model's other grid axes (sorted along x), coef_path names the largest of many
coefficients, ``alpha_axis`` puts alpha on a ln lambda / log10 axis, and ``solver: auto``
options are checked when the config loads. The lines' data are checked against metrics.json
and numpy."""

import io
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from run_cases import HEAD, run_error, run_text

from jaxreg.experiment.run import run_experiment
from jaxreg.experiment.run_config import load_run
from jaxreg.experiment.run_plots import DRAW

# two grid axes: degree (features) x alpha (written unsorted)
GRID = """\
name: t
data: {kind: sinusoidal, n_samples: 20, noise: 0.3, seed: 1}
split: {test_size: 0.3}
features: {basis: polynomial, degree: [5, 1, 3], standardize: true}
models:
  - {name: ridge, penalty: {kind: l2, alpha: [1.0, 0.001, 0.1]}, solver: closed_form}
plots:
  - error_vs_degree
  - error_vs_alpha
  - {kind: coef_path, alpha_axis: ln_lambda}
  - {kind: error_vs_alpha, alpha_axis: log10}
"""

WIDE = """\
name: w
data: {kind: linear, n_samples: 80, n_features: 20, n_informative: 6, rho: 0.3, snr: 4.0, seed: 2}
features: {standardize: true}
models:
  - {name: ridge, penalty: {kind: l2, alpha: [10.0, 1.0, 0.1, 0.01]}, solver: closed_form}
plots: [coef_path]
"""


def _run(text, tmp_path):
    config, records, split, out, _ = run_text(text, tmp_path)
    fits = {f["label"]: f for f in json.loads((out / "metrics.json").read_text())["fits"]}
    return config, records, split, fits


def _draw(config, records, split, index, tmp_path):
    (fig,) = DRAW[config.plots[index].kind](config, records, split, config.plots[index], tmp_path).values()
    return fig


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    return _run(GRID, tmp_path_factory.mktemp("grid"))


def _test_lines(ax):
    """The solid test-error lines by label (the legend's style key has no data)."""
    return {line.get_label(): line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata())}


def test_item12_error_vs_degree_one_line_per_alpha_sorted_by_degree(grid, tmp_path):
    config, records, split, fits = grid
    ax = _draw(config, records, split, 0, tmp_path).axes[0]
    lines = _test_lines(ax)
    assert set(lines) == {"alpha=1", "alpha=0.001", "alpha=0.1"}  # not one zig-zag through all nine fits
    for alpha, line in lines.items():
        np.testing.assert_array_equal(line.get_xdata(), [1, 3, 5])
        want = [fits[f"ridge degree={d} {alpha}"]["test_rmse"] for d in (1, 3, 5)]
        np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"alpha=1", "alpha=0.001", "alpha=0.1", "test (solid)", "train (dashed)"} <= set(legend)
    plt.close("all")


def test_item12_error_vs_alpha_one_line_per_degree_sorted_by_alpha(grid, tmp_path):
    config, records, split, fits = grid
    ax = _draw(config, records, split, 1, tmp_path).axes[0]
    lines = _test_lines(ax)
    assert set(lines) == {"degree=5", "degree=1", "degree=3"}
    for degree, line in lines.items():
        np.testing.assert_array_equal(line.get_xdata(), [0.001, 0.1, 1.0])
        want = [fits[f"ridge {degree} alpha={a:g}"]["test_rmse"] for a in (0.001, 0.1, 1.0)]
        np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12)
    assert ax.get_xscale() == "log"
    plt.close("all")


def test_item13_alpha_axis_ln_lambda_and_log10(grid, tmp_path):
    config, records, split, fits = grid
    n = len(split.y_train)
    spec = config.plots[2]
    paths = DRAW["coef_path"](config, records, split, spec, tmp_path)  # one path per degree
    assert set(paths) == {f"coef_path_ridge_degree={d}.png" for d in (5, 1, 3)}
    ax = paths["coef_path_ridge_degree=3.png"].axes[0]
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == f"ln lambda (lambda = {n} * alpha)"
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
    assert len(lines) == 3  # degree 3: three coefficients
    coefs = np.array([r.coef for r in records if r.fit.params["degree"] == 3 and r.fit.params["alpha"] == 0.1])
    for line in lines:
        np.testing.assert_allclose(line.get_xdata(), np.log(n * np.array([1.0, 0.1, 0.001])), rtol=1e-12)
    np.testing.assert_allclose(sorted(line.get_ydata()[1] for line in lines), np.sort(coefs[0]), rtol=1e-12)
    ax = _draw(config, records, split, 3, tmp_path).axes[0]
    assert ax.get_xlabel() == "log10 alpha" and ax.get_xscale() == "linear"
    for line in _test_lines(ax).values():
        np.testing.assert_allclose(line.get_xdata(), [-3, -1, 0], atol=1e-12)
    plt.close("all")


def test_item13_error_vs_alpha_draws_the_metric_asked_for(grid, tmp_path):
    config, records, split, fits = grid
    spec = config.plots[0].model_copy(update={"kind": "error_vs_alpha", "metric": "mse"})
    (name, fig), *_ = DRAW["error_vs_alpha"](config, records, split, spec, tmp_path).items()
    ax = fig.axes[0]
    assert name == "error_vs_alpha_mse.png" and ax.get_ylabel() == "mean squared error"
    line = _test_lines(ax)["degree=3"]
    want = [np.mean((r.predict(split.X_test) - split.y_test) ** 2) for r in records if r.fit.params["degree"] == 3]
    alphas = [r.fit.params["alpha"] for r in records if r.fit.params["degree"] == 3]
    np.testing.assert_allclose(line.get_ydata(), np.array(want)[np.argsort(alphas)], rtol=1e-10)
    spec = spec.model_copy(update={"metric": "accuracy"})  # a classifier's metric on regression fits
    with pytest.raises(Exception, match="metric 'accuracy' is not recorded for these fits; recorded: mse, rmse"):
        DRAW["error_vs_alpha"](config, records, split, spec, tmp_path)
    plt.close("all")


def test_item13_metric_and_alpha_axis_apply_to_their_plots_only(tmp_path, capsys):
    err = run_error(
        HEAD + "  - {name: r, penalty: {kind: l2, alpha: 1.0}}\nplots: [{kind: fits, metric: mse}]\n", tmp_path, capsys
    )
    assert "plots[0]: metric applies to plots error_vs_degree, error_vs_alpha only, not 'fits'" in err
    err = run_error(
        HEAD + "  - {name: r, penalty: {kind: l2, alpha: 1.0}}\nplots: [{kind: error_vs_alpha, metric: r2}]\n",
        tmp_path,
        capsys,
    )
    assert "plots[0].metric = 'r2'" in err and "'rmse'" in err


def test_item13_coef_path_of_many_features_names_the_largest(tmp_path):
    config, records, split, fits = _run(WIDE, tmp_path)
    ax = _draw(config, records, split, 0, tmp_path).axes[0]
    coefs = np.array([r.coef for r in records])
    biggest = np.argsort(-np.abs(coefs).max(axis=0))[:8]
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == [f"x{j}" for j in biggest]  # the 8 largest, largest first
    assert "8 largest of 20 coefficients named" in ax.get_title()
    assert len([line for line in ax.get_lines() if len(line.get_xdata()) == 4]) == 20  # every path drawn
    plt.close("all")


AUTO = HEAD + "  - {name: lasso, penalty: {kind: l1, alpha: 0.1}, OPTIONS}\n"


@pytest.mark.parametrize(
    "options, where, hint",
    [
        ("options: {step: backtrack}", "options.step: step='backtrack' is not allowed", "'backtracking', 'lipschitz'"),
        ("options: {check_every: 1.0e+20}", "options.check_every", "<= 2147483647"),
        ("options: {memory_size: 0}", "options.memory_size: memory_size=0", "> 0"),
        ("options: {learning_rate: 0.1}", "options.learning_rate = 0.1 applies to solvers gd", "never picks"),
        ("solver: auto, options: {seed: -1}", "options.seed: seed=-1", "integer >= 0"),
    ],
)
def test_item11_auto_solver_options_checked_at_config_time(options, where, hint, tmp_path, capsys):
    err = run_error(AUTO.replace("OPTIONS", options), tmp_path, capsys)
    assert "models[0]" in err and where in err and hint in err, err


def test_item11_valid_auto_options_still_run(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(AUTO.replace("OPTIONS", "options: {step: lipschitz, check_every: 5}"))
    config, plan = load_run(cfg)
    (r,) = run_experiment(config, plan, tmp_path / "out", progress=False, stream=io.StringIO())
    assert r.ok and r.info["solver"] == "fista"  # auto gives way to fista for its step options
