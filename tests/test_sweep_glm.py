"""Sweeps with the GLM losses (issue 15): objective64 scores Poisson, Gamma, Tweedie and Huber
as scikit-learn's and scipy's own formulas do; the peers' answers, parameters translated,
meet our optimality conditions (KKT, gradients written out here by hand); the amounts data
has the means and zeros its distribution says; a loss that does not fit a problem's targets
is refused naming the key, the value and what is allowed."""

import numpy as np
import pytest
from scipy.special import huber
from sklearn.metrics import mean_gamma_deviance, mean_poisson_deviance, mean_tweedie_deviance

from jaxreg.errors import UsageError
from jaxreg.experiment import baselines as B
from jaxreg.experiment.config import validate
from jaxreg.experiment.measure import objective64
from jaxreg.experiment.specs import PenaltySpec
from jaxreg.experiment.sweep import SweepConfig, expand
from jaxreg.experiment.sweep_data import AmountData
from jaxreg.losses import Gamma, Huber, Poisson, Tweedie


def _problem(loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((80, 10)) / 2
    z = X @ np.array([0.8, -0.6, 0, 0, 0.4, 0, 0, 0, 0, 0.2]) + 0.3
    if loss.name == "gamma":
        return X, rng.gamma(2.0, np.exp(z) / 2)
    if loss.name == "tweedie":  # zeros and positive amounts, mean exp(z)
        return X, rng.poisson(1.5, 80) * rng.gamma(1.0, np.exp(z) / 1.5)
    if loss.name == "huber":
        return X, z + rng.standard_t(2, 80)  # heavy tails: some residuals past epsilon
    return X, rng.poisson(np.exp(z)).astype(float)


def _grad_in_z(loss, y, z):
    """d/dz of each sample's loss (by hand, log link: mu = exp(z))."""
    if loss.name == "poisson":
        return np.exp(z) - y
    if loss.name == "gamma":
        return 1.0 - y * np.exp(-z)
    if loss.name == "tweedie":
        p = loss.power
        return np.exp((2 - p) * z) - y * np.exp((1 - p) * z)
    return np.clip(z - y, -loss.epsilon, loss.epsilon)  # huber


def _kkt(loss, spec, X, y, w, b):
    """Largest distance of minus the gradient to the penalty's subdifferential (and |d/db|)."""
    g = _grad_in_z(loss, y, X @ w + b)
    alpha = spec.alpha or 0.0
    l1, l2 = alpha * spec.l1_fraction, alpha * (1 - spec.l1_fraction)
    gw = X.T @ g / len(y) + l2 * w
    dist = np.where(w != 0, np.abs(gw + l1 * np.sign(w)), np.maximum(np.abs(gw) - l1, 0.0))
    return max(dist.max(), abs(g.mean()))


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
def test_objective64_is_half_of_scikit_learns_mean_deviance(power):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 4))
    w, b = rng.standard_normal(4) * 0.3, 0.2
    y = rng.gamma(2.0, 1.0, 50) * (rng.uniform(size=50) < 0.7 if power < 2 else 1)  # zeros where allowed
    mu = np.exp(X @ w + b)
    spec = PenaltySpec(kind="elastic_net", alpha=0.1, l1_ratio=0.3)
    pen = 0.1 * (0.3 * np.abs(w).sum() + 0.35 * (w**2).sum())
    expected = 0.5 * mean_tweedie_deviance(y, mu, power=power) + pen
    named = {1.0: "poisson", 2.0: "gamma"}.get(power)
    losses = [Tweedie(power)] + ([named, {"poisson": Poisson, "gamma": Gamma}[named]()] if named else [])
    for loss in losses:
        assert objective64(loss, spec, 0.1, X, y, w, b) == pytest.approx(expected, rel=1e-12)
    other = {1.0: mean_poisson_deviance, 2.0: mean_gamma_deviance}.get(power)
    if other is not None:
        assert objective64(named, PenaltySpec(kind="none"), 0.0, X, y, w, b) == pytest.approx(0.5 * other(y, mu))


def test_objective64_huber_is_scipys_huber():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((60, 3)), 3 * rng.standard_normal(60)
    w = rng.standard_normal(3)
    r = y - X @ w - 0.5
    assert np.abs(r).max() > 0.7 > np.abs(r).min()  # both branches
    got = objective64(Huber(0.7), PenaltySpec(kind="l1", alpha=0.2), 0.2, X, y, w, 0.5)
    assert got == pytest.approx(np.mean(huber(0.7, r)) + 0.2 * np.abs(w).sum(), rel=1e-12)


# (peer, loss, penalty, options): one skglm model (numba compiles each for 10-20 s here)
CASES = [
    ("glum", Tweedie(1.5), {"kind": "elastic_net", "alpha": 0.02, "l1_ratio": 0.5}, {}),
    ("glum", Tweedie(1.2), {"kind": "l1", "alpha": 0.08}, {}),
    ("skglm", Poisson(), {"kind": "l1", "alpha": 0.03}, {}),
    ("sklearn", Poisson(), {"kind": "l2", "alpha": 0.05}, {"solver": "newton-cholesky"}),
    ("sklearn", Gamma(), {"kind": "l2", "alpha": 0.05}, {"solver": "newton-cholesky"}),
    ("sklearn", Tweedie(1.5), {"kind": "l2", "alpha": 0.05}, {"solver": "newton-cholesky"}),
]


@pytest.mark.parametrize("peer, loss, pen, options", CASES, ids=lambda c: repr(c))
def test_peer_answer_meets_our_kkt_conditions(peer, loss, pen, options):
    if not B.installed(peer):
        pytest.skip(f"{peer} is not installed")
    X, y = _problem(loss)
    spec = PenaltySpec(**pen)
    name, why = B.resolve(peer, loss.name, spec.kind, True)
    assert why is None, why
    run = B.BaselineRun(peer=peer, tol=1e-10, max_iter=1000, options=options)
    fit = B.run_peer(run, name, spec, spec.alpha, X, y, True, loss=loss)
    assert fit.converged
    assert _kkt(loss, spec, X, y, fit.coef, fit.intercept) < 1e-7
    if spec.l1_fraction > 0:
        assert 0 < np.count_nonzero(fit.coef) < 10  # the L1 part matters at this alpha


def test_peer_kkt_fails_with_an_untranslated_power():
    # the power reaches glum: fitted as Tweedie(1.2), the answer is not Tweedie(1.8)'s optimum
    if not B.installed("glum"):
        pytest.skip("glum is not installed")
    X, y = _problem(Tweedie(1.5))
    spec = PenaltySpec(kind="l2", alpha=0.02)
    run = B.BaselineRun(peer="glum", tol=1e-10)
    fit = B.run_peer(run, "GeneralizedLinearRegressor[tweedie]", spec, 0.02, X, y, True, loss=Tweedie(1.2))
    assert _kkt(Tweedie(1.2), spec, X, y, fit.coef, fit.intercept) < 1e-7
    assert _kkt(Tweedie(1.8), spec, X, y, fit.coef, fit.intercept) > 1e-3


def test_amounts_have_their_distributions_mean_and_zeros():
    common = {"n_samples": 40000, "n_features": 3, "n_informative": 3, "coef_scale": 0.3, "intercept": 0.2}
    gamma = AmountData(distribution="gamma", dispersion=0.5, **common).make()
    mu = np.exp(0.2 + gamma.X @ gamma.coef_true)
    assert gamma.y.min() > 0
    assert np.mean(gamma.y / mu) == pytest.approx(1.0, abs=0.02)
    assert np.var(gamma.y / mu) == pytest.approx(0.5, rel=0.05)  # Var y = phi mu^2
    tw = AmountData(distribution="tweedie", power=1.5, dispersion=2.0, **common).make()
    mu = np.exp(0.2 + tw.X @ tw.coef_true)
    assert np.mean(tw.y / mu) == pytest.approx(1.0, abs=0.03)
    # P(y = 0) = P(no claim) = exp(-mu^(2-p) / (phi (2-p)))
    assert np.mean(tw.y == 0) == pytest.approx(np.mean(np.exp(-np.sqrt(mu) / (2.0 * 0.5))), abs=0.01)


def _config(loss="auto", **problem):
    raw = {
        "name": "t",
        "loss": loss,
        "problems": [{"kind": "counts", "n_samples": 50, "n_features": 5, **problem}],
        "solvers": [{"solver": "auto"}],
    }
    return validate(SweepConfig, raw, source="t.yaml")


def _error(config):
    with pytest.raises(UsageError) as info:
        expand(config, "t.yaml", devices={"cpu"})
    return str(info.value)


def test_a_loss_that_does_not_fit_the_targets_is_refused_naming_it():
    msg = _error(_config("gamma"))
    assert "t.yaml: loss = 'gamma' does not fit problems[0] (kind 'counts')" in msg
    assert "needs y > 0" in msg and "allowed: auto, squared, poisson, tweedie, huber" in msg
    assert "loss = 'tweedie(power=2)'" in _error(_config({"kind": "tweedie", "power": 2.0}))
    assert "loss = 'logistic'" in _error(_config("logistic"))
    msg = _error(_config(exposure="offset", log_exposure_spread=1.0))
    assert "problems[0].exposure = 'offset' is not allowed in sweeps" in msg
    with pytest.raises(UsageError, match="power"):
        expand(_config(kind="amounts", distribution="gamma", power=1.5), "t.yaml", devices={"cpu"})


def test_auto_fits_each_problem_with_its_own_loss_and_penalties():
    raw = {
        "name": "t",
        "problems": [
            {"kind": "counts", "n_samples": 50, "n_features": 5, "penalties": [{"kind": "l1", "alpha": 0.1}]},
            {"kind": "amounts", "distribution": "tweedie", "power": 1.3, "n_samples": 50, "n_features": 5},
        ],
        "penalties": [{"kind": "l2", "alpha": [0.1, 0.2]}],
        "solvers": [{"solver": "auto"}],
    }
    cells, _ = expand(validate(SweepConfig, raw, source="t.yaml"), "t.yaml", devices={"cpu"})
    got = [(c.payload["loss"], c.payload.get("loss_params"), c.info["penalty"]) for c in cells]
    assert got == [
        ("poisson", None, "l1 alpha=0.1"),
        ("tweedie", {"power": 1.3}, "l2 alpha=0.1"),
        ("tweedie", {"power": 1.3}, "l2 alpha=0.2"),
    ]
