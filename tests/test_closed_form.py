"""Closed-form ridge / least squares against scikit-learn and numpy."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

import jaxreg
from jaxreg.penalties import L2, Lp

from conftest import make_regression


@pytest.mark.parametrize("shape", [(80, 12), (30, 60)], ids=["n>p", "p>n"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_matches_sklearn(shape, fit_intercept):
    X, y, _ = make_regression(*shape, rho=0.6, seed=4)
    n = X.shape[0]
    alpha = 0.3
    res = jaxreg.fit(X, y, penalty=L2(alpha), solver="closed_form", fit_intercept=fit_intercept)
    # scikit-learn's Ridge minimises ||y - Xw||^2 + a ||w||^2: a = n * alpha in our scaling.
    sk = Ridge(alpha=n * alpha, fit_intercept=fit_intercept, solver="svd").fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-9, atol=1e-10)
    assert res.intercept == pytest.approx(sk.intercept_, abs=1e-9)
    assert res.status == "converged" and res.stop_crit < 1e-10


def test_ols_matches_numpy_lstsq():
    X, y, _ = make_regression(80, 12, seed=5)
    res = jaxreg.fit(X, y, solver="closed_form")
    A = np.hstack([X, np.ones((80, 1))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(res.coef, coef[:-1], rtol=1e-10)
    assert res.intercept == pytest.approx(coef[-1], abs=1e-10)
    sk = LinearRegression().fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-10)


def test_rank_deficient_gives_minimum_norm_solution():
    X, y, _ = make_regression(50, 6, seed=6)
    X = np.hstack([X, X[:, :2]])  # duplicate columns: X^T X is singular
    res = jaxreg.fit(X, y, solver="closed_form", fit_intercept=False)
    ref = np.linalg.pinv(X) @ y
    np.testing.assert_allclose(res.coef, ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.coef[0], res.coef[6], rtol=1e-8)  # mass split evenly


def test_underdetermined_least_squares_is_minimum_norm():
    X, y, _ = make_regression(20, 50, seed=7)
    res = jaxreg.fit(X, y, solver="closed_form")
    Xc, yc = X - X.mean(0), y - y.mean()
    ref = np.linalg.pinv(Xc) @ yc
    np.testing.assert_allclose(res.coef, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(X @ res.coef + res.intercept, y, atol=1e-8)  # interpolates


def test_weighted_ridge_matches_sklearn():
    X, y, _ = make_regression(60, 8, seed=8)
    sw = np.random.default_rng(0).uniform(0.1, 3.0, 60)
    alpha = 0.05
    res = jaxreg.fit(X, y, penalty=L2(alpha), sample_weight=sw)
    sk = Ridge(alpha=alpha * sw.sum()).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-9)
    assert res.solver == "closed_form"


def test_lp2_is_ridge_and_float32_is_close():
    X, y, _ = make_regression(80, 12, seed=9)
    r64 = jaxreg.fit(X, y, penalty=Lp(0.2, 2), solver="closed_form")
    r2 = jaxreg.fit(X, y, penalty=L2(0.2), solver="closed_form")
    np.testing.assert_allclose(r64.coef, r2.coef, rtol=1e-12)
    r32 = jaxreg.fit(X.astype(np.float32), y.astype(np.float32), penalty=L2(0.2))
    assert r32.coef.dtype == np.float32 and r32.dtype == "float32"
    np.testing.assert_allclose(r32.coef, r64.coef, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("m", [40, 70, 130])
def test_blocked_gram_is_the_product(monkeypatch, m):
    # the Gram matrix from its upper blocks (mirrored), with blocks made small so that 2, 4
    # and 4 uneven blocks are used, against numpy's full product
    import jax

    from jaxreg.solvers import closed_form as cf

    monkeypatch.setattr(cf, "GRAM_BLOCK", 16)
    A = np.random.default_rng(m).standard_normal((90, m))
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(cf.gram(jax.numpy.asarray(A))), A.T @ A, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(1200, 1000), (1000, 1100)], ids=["primal", "dual"])
def test_ridge_with_a_blocked_gram_matches_sklearn(shape):
    X, y, _ = make_regression(*shape, rho=0.5, seed=11)
    res = jaxreg.fit(X, y, penalty=L2(0.3), solver="closed_form")
    sk = Ridge(alpha=shape[0] * 0.3, solver="svd").fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, rtol=1e-8, atol=1e-10)
