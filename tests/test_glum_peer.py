"""glum as a sweep peer (jaxreg.experiment.baselines): with its parameters translated, its
solutions satisfy *our* optimality conditions (KKT, written out here in numpy) for the
squared, logistic (labels other than 0/1), Poisson and Gamma losses."""

import numpy as np
import pytest

from jaxreg.experiment import baselines as B
from jaxreg.experiment.specs import PenaltySpec

pytestmark = pytest.mark.skipif(not B.installed("glum"), reason="glum is not installed")


def problem(loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((80, 10)) / 2
    z = X @ np.array([0.8, -0.6, 0, 0, 0.4, 0, 0, 0, 0, 0.2]) + 0.3
    if loss == "squared":
        return X, z + 0.3 * rng.standard_normal(80)
    if loss == "logistic":
        return X, np.where(rng.uniform(size=80) < 1 / (1 + np.exp(-z)), 3, 1)  # labels 1 and 3
    if loss == "gamma":
        return X, rng.gamma(2.0, np.exp(z) / 2)
    return X, rng.poisson(np.exp(z)).astype(float)


def gradient_in_z(loss, y, z):
    """Derivative of each sample's loss in the prediction z (by hand)."""
    if loss == "squared":
        return z - y
    if loss == "logistic":
        s = np.where(y == np.max(y), 1.0, -1.0)
        return -s / (1 + np.exp(s * z))
    if loss == "gamma":
        return 1 - y * np.exp(-z)
    return np.exp(z) - y


@pytest.mark.parametrize(
    "loss, pen",
    [
        ("squared", {"kind": "elastic_net", "alpha": 0.05, "l1_ratio": 0.3}),
        ("logistic", {"kind": "l1", "alpha": 0.02}),
        ("poisson", {"kind": "elastic_net", "alpha": 0.02, "l1_ratio": 0.5}),
        ("gamma", {"kind": "l2", "alpha": 0.05}),
    ],
    ids=lambda c: str(c),
)
def test_glum_minimises_our_objective(loss, pen):
    X, y = problem(loss)
    spec = PenaltySpec(**pen)
    name, why = B.resolve("glum", loss, spec.kind, True)
    assert why is None and name == f"GeneralizedLinearRegressor[{loss}]"
    fit = B.run_peer(B.BaselineRun(peer="glum", tol=1e-12, max_iter=1000), name, spec, spec.alpha, X, y, True)
    assert fit.converged
    g = gradient_in_z(loss, y, X @ fit.coef + fit.intercept)
    l1, l2 = spec.alpha * spec.l1_fraction, spec.alpha * (1 - spec.l1_fraction)
    gw = X.T @ g / len(y) + l2 * fit.coef
    w = fit.coef
    dist = np.where(w != 0, np.abs(gw + l1 * np.sign(w)), np.maximum(np.abs(gw) - l1, 0.0))
    assert max(dist.max(), abs(g.mean())) < 1e-8
