"""Issue 17 item 11: a huge (or tiny) but finite squared-loss target is fitted, not blamed on X.

Squared loss is equivariant in y: the fit on ``c y`` with ``alpha_L1 * c`` (L2 part unchanged)
is ``c`` times the fit on ``y``. The references are scikit-learn's fits on the unscaled ``y``
(scikit-learn's own Lasso does not converge on ``y * 1e300``) and numpy's least squares."""

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import Ridge as SkRidge

import jaxreg
from jaxreg.penalties import L1


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X @ np.arange(1.0, 6.0) + 0.3 * rng.standard_normal(40) + 2.0
    return X, y


@pytest.mark.parametrize("c", [1e300, 1e-300])
def test_item11_lasso_on_huge_or_tiny_y_matches_sklearn_scaled(data, c):
    X, y = data
    ref = SkLasso(alpha=0.5, tol=1e-12, max_iter=100_000).fit(X, y)
    for solver in ("auto", "fista"):
        m = jaxreg.Lasso(alpha=0.5 * c, solver=solver, tol=1e-10, max_iter=100_000).fit(X, y * c)
        assert np.all(np.isfinite(m.coef_)), solver
        np.testing.assert_allclose(m.coef_ / c, ref.coef_, rtol=1e-6, atol=1e-8, err_msg=solver)
        np.testing.assert_allclose(m.intercept_ / c, ref.intercept_, rtol=1e-6, err_msg=solver)
        assert m.fit_result_.status == "converged", solver


def test_item11_ridge_and_ols_on_huge_y(data):
    X, y = data
    c = 1e300
    ridge = jaxreg.Ridge(alpha=3.0).fit(X, y * c)  # L2: alpha does not scale with y
    ref = SkRidge(alpha=3.0).fit(X, y)
    np.testing.assert_allclose(ridge.coef_ / c, ref.coef_, rtol=1e-9)
    np.testing.assert_allclose(ridge.intercept_ / c, ref.intercept_, rtol=1e-9)
    ols = jaxreg.LinearRegression().fit(X, y * c)
    A = np.c_[X, np.ones(len(y))]
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(ols.coef_ / c, sol[:-1], rtol=1e-9)
    np.testing.assert_allclose(ols.intercept_ / c, sol[-1], rtol=1e-9)


def test_item11_elastic_net_on_tiny_y_matches_sklearn(data):
    """ElasticNet on ``c y``: the L1 part ``alpha l1_ratio`` times ``c``, the L2 part as is."""
    X, y = data
    c = 2.0**-700
    a1, a2 = 0.3 * 0.5, 0.3 * 0.5
    ref = SkElasticNet(alpha=0.3, l1_ratio=0.5, tol=1e-12, max_iter=100_000).fit(X, y)
    m = jaxreg.ElasticNet(alpha=a2 + c * a1, l1_ratio=c * a1 / (a2 + c * a1), tol=1e-10).fit(X, y * c)
    np.testing.assert_allclose(m.coef_ / c, ref.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(m.intercept_ / c, ref.intercept_, rtol=1e-6)


def test_item11_objective_in_user_units(data):
    """The history is the user's objective (c^2 times the scaled one), checked in numpy."""
    X, y = data
    c, alpha = 1e60, 0.5e60
    r = jaxreg.fit(X, y * c, penalty=L1(alpha), solver="fista", tol=1e-10)
    resid = y * c - X @ r.coef - r.intercept
    expected = 0.5 * np.mean(resid**2) + alpha * np.sum(np.abs(r.coef))
    assert r.objective == pytest.approx(expected, rel=1e-8)


def test_item11_huge_y_in_path_error_names_y(data):
    """Where a huge y is not rescaled (the path), the error says y and what to do, not X."""
    X, y = data
    try:
        jaxreg.path(X, y * 1e300, penalty="l1", n_alphas=3)
    except ValueError as e:
        assert "y" in str(e) and "rescale" in str(e) and "e+30" in str(e), str(e)
