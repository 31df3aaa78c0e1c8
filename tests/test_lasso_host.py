"""The host active-set elastic net (jaxreg.solvers.lasso_host), LassoCV's refit: against
scikit-learn's ElasticNet solved to a tight tolerance, and the duality gap (numpy)."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet

from jaxreg.fit import elastic_net_gap
from jaxreg.solvers import lasso_host

from conftest import make_regression


def _sklearn(X, y, sw, alpha, l1_ratio, fit_intercept):
    # ours: sum d (y - Xw - b)^2 / 2 + l1 |w|_1 + l2/2 |w|^2 with d = sw / sum(sw): scikit-learn's
    # ElasticNet with the weights rescaled to sum to n_samples (its own normalisation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=1e-14, max_iter=10**6)
        return m.fit(X, y, sample_weight=sw * len(y) / sw.sum())


@pytest.mark.parametrize(
    "l1_ratio, weighted, fit_intercept, start",
    [(1.0, False, True, "zero"), (0.7, True, True, "noisy"), (1.0, True, False, "wrong signs")],
)
def test_active_set_lands_on_the_elastic_net_solution(l1_ratio, weighted, fit_intercept, start):
    X, y, _ = make_regression(80, 200, rho=0.5, n_informative=8, noise=0.3, seed=7)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2.0, len(y)) if weighted else np.ones(len(y))
    alpha = 0.05
    sk = _sklearn(X, y, sw, alpha, l1_ratio, fit_intercept)
    w0 = {"zero": np.zeros(200), "noisy": sk.coef_ + 0.05 * rng.standard_normal(200) * (sk.coef_ != 0),
          "wrong signs": -sk.coef_}[start]  # fmt: skip
    out = lasso_host.active_set(X, y, sw, alpha * l1_ratio, alpha * (1 - l1_ratio), fit_intercept, w0)
    assert out is not None
    w, b, rounds = out
    np.testing.assert_allclose(w, sk.coef_, atol=1e-9)
    assert b == pytest.approx(sk.intercept_ if fit_intercept else 0.0, abs=1e-9)
    gap = elastic_net_gap(X, y, sw, w, b, alpha * l1_ratio, alpha * (1 - l1_ratio), fit_intercept)
    assert gap <= 1e-12 and rounds >= 1


def test_active_set_gives_up_when_the_support_outgrows_the_rows():
    # alpha near zero with p > n: the support would pass n and the Newton step's Gram matrix
    # is singular there (or the rounds run out first): None, and the refit falls back to the
    # compiled solver
    X, y, _ = make_regression(20, 60, rho=0.0, n_informative=60, noise=0.0, seed=3)
    assert lasso_host.active_set(X, y, np.ones(20), 1e-9, 0.0, True, np.zeros(60), rounds=5) is None
