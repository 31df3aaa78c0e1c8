"""Coordinate descent on the Gram matrix (solver "gram_cd") against scikit-learn, an
independent duality gap, the optimality conditions; and the shapes it compiles for."""

import numpy as np
import pytest
from test_working_set import relative_gap, sk_enet

import jaxreg
from jaxreg import _compile
from jaxreg.penalties import L1, ElasticNet, WeightedL1
from jaxreg.solvers import gram

from conftest import make_regression


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("frac", [0.5, 0.05, 1e-4])
@pytest.mark.parametrize("shape", [(60, 12, 0.9), (25, 40, 0.5)], ids=["n>p", "p>n"])
def test_lasso_matches_sklearn_and_its_gap(shape, frac, fit_intercept):
    n, p, rho = shape
    X, y, _ = make_regression(n, p, rho=rho, seed=31, n_informative=6)
    alpha = frac * jaxreg.alpha_max(X, y, fit_intercept=fit_intercept)
    res = jaxreg.fit(X, y, penalty=L1(alpha), fit_intercept=fit_intercept, tol=1e-12, max_iter=100_000)
    assert res.solver == "gram_cd" and res.converged and res.criterion == "duality_gap"
    # the gap recomputed from the returned coefficients, in numpy, the way scikit-learn does
    assert relative_gap(X, y, res.coef, res.intercept, alpha, fit_intercept=fit_intercept) <= 2e-12
    if n > p or frac > 0.01:  # p > n at a tiny alpha: several lasso solutions
        sk = sk_enet(X, y, alpha, fit_intercept=fit_intercept)
        np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6 * max(1, np.abs(sk.coef_).max()))
        assert res.intercept == pytest.approx(sk.intercept_, abs=1e-6 * max(1, abs(sk.intercept_)))


def test_elastic_net_and_sample_weights_match_sklearn():
    X, y, _ = make_regression(70, 15, rho=0.6, seed=32)
    res = jaxreg.fit(X, y, penalty=ElasticNet(0.05, 0.3), tol=1e-13)
    sk = sk_enet(X, y, 0.05, l1_ratio=0.3)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
    assert res.intercept == pytest.approx(sk.intercept_, abs=1e-8)
    sw = np.random.default_rng(0).uniform(0, 3, len(y))
    sw[:5] = 0.0
    res = jaxreg.fit(X, y, penalty=L1(0.02), sample_weight=sw, tol=1e-13)
    # scikit-learn rescales sample weights to sum to n; ours are normalized: the same model
    sk = sk_enet(X, y, 0.02, sample_weight=sw * len(y) / sw.sum())
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
    dropped = jaxreg.fit(X[5:], y[5:], penalty=L1(0.02), sample_weight=sw[5:], tol=1e-13)
    np.testing.assert_allclose(res.coef, dropped.coef, atol=1e-10)


def test_unpenalized_feature_meets_the_optimality_conditions():
    # a zero weight: no duality gap exists, the subdifferential distance stops the solver
    X, y, _ = make_regression(60, 10, rho=0.5, seed=33)
    wt = np.ones(10)
    wt[3] = 0.0
    alpha = 0.5
    res = jaxreg.fit(X, y, penalty=WeightedL1(alpha, wt), tol=1e-11)
    assert res.solver == "gram_cd" and res.converged and res.criterion == "subdiff_distance"
    r = y - X @ res.coef - res.intercept
    g = X.T @ r / len(y)  # minus the gradient of the squared loss
    on = res.coef != 0
    np.testing.assert_allclose(g[on], alpha * wt[on] * np.sign(res.coef[on]), atol=1e-9)
    assert np.all(np.abs(g[~on]) <= alpha * wt[~on] + 1e-9)
    assert res.coef[3] != 0 and abs(r.sum()) < 1e-8


def test_float32_constant_column_warm_start_and_max_iter():
    X, y, _ = make_regression(80, 9, rho=0.3, seed=34)
    X[:, 4] = 7.0  # constant: with an intercept its coefficient is zero
    r64 = jaxreg.fit(X, y, penalty=L1(0.01), tol=1e-12)
    assert r64.coef[4] == 0.0
    r32 = jaxreg.fit(X.astype(np.float32), y.astype(np.float32), penalty=L1(0.01), tol=1e-6)
    assert r32.coef.dtype == np.float32 and r32.converged
    np.testing.assert_allclose(r32.coef, r64.coef, atol=1e-3)
    warm = jaxreg.fit(X, y, penalty=L1(0.01), tol=1e-12, coef_init=r64.coef)
    assert warm.n_iter <= 1 and np.allclose(warm.coef, r64.coef, atol=1e-10)
    capped = jaxreg.fit(X, y, penalty=L1(1e-5), tol=1e-15, max_iter=1)
    assert capped.status == "max_iter" and len(capped.history) == 1 and np.all(np.isfinite(capped.coef))


def test_auto_picks_it_for_few_features_only():
    X, y, _ = make_regression(40, gram.MAX_FEATURES + 1, seed=35)
    assert jaxreg.fit(X, y, penalty=L1(0.1)).solver == "working_set"
    assert jaxreg.fit(X[:, :20], y, penalty=L1(0.1)).solver == "gram_cd"
    assert jaxreg.fit(X[:, :20], y > 0, loss="logistic", penalty=L1(0.01)).solver == "working_set"


def test_one_program_for_every_row_count_and_nearby_feature_counts():
    # the program lives in p-space: row counts, alphas and features 10..16 share it
    X, y, _ = make_regression(200, 16, rho=0.5, seed=36)
    jaxreg.fit(X[:50, :13], y[:50], penalty=L1(0.1))
    before = len(_compile.CACHE)
    for n, p, a in [(51, 13, 0.1), (77, 10, 0.05), (200, 16, 0.01), (120, 14, 1.0)]:
        res = jaxreg.fit(X[:n, :p], y[:n], penalty=L1(a), tol=1e-10)
        assert res.solver == "gram_cd" and res.compile_time == 0.0
    assert len(_compile.CACHE) == before
