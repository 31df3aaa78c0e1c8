"""ISTA/FISTA (and lbfgs for smooth logistic) against scikit-learn and scipy."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import LogisticRegression

import jaxreg
from jaxreg.penalties import L1, L2, ElasticNet, LInf, Lp, WeightedL1

from conftest import make_regression

SHAPES = {"n>p": (80, 12, 0.5), "p>n": (30, 60, 0.3), "correlated": (60, 25, 0.9)}


def sk_lasso(X, y, alpha, fit_intercept=True, l1_ratio=None):
    kw = dict(alpha=alpha, tol=1e-14, max_iter=1_000_000, fit_intercept=fit_intercept)
    model = SkLasso(**kw) if l1_ratio is None else SkElasticNet(l1_ratio=l1_ratio, **kw)
    return model.fit(X, y)


@pytest.mark.parametrize("solver", ["fista", "ista"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lasso_matches_sklearn(solver, shape, fit_intercept):
    n, p, rho = SHAPES[shape]
    X, y, _ = make_regression(n, p, rho=rho, seed=11)
    alpha = 0.1 * jaxreg.alpha_max(X, y, fit_intercept=fit_intercept)
    res = jaxreg.fit(X, y, penalty=L1(alpha), solver=solver, tol=1e-11, max_iter=100_000, fit_intercept=fit_intercept)
    sk = sk_lasso(X, y, alpha, fit_intercept)
    assert res.converged, (res.status, res.stop_crit)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6)
    np.testing.assert_array_equal(res.coef == 0, sk.coef_ == 0)  # same exact-zero support
    assert res.intercept == pytest.approx(sk.intercept_, abs=1e-6)


@pytest.mark.parametrize("shape", ["n>p", "p>n"])
def test_elasticnet_matches_sklearn(shape):
    n, p, rho = SHAPES[shape]
    X, y, _ = make_regression(n, p, rho=rho, seed=12)
    res = jaxreg.fit(X, y, penalty=ElasticNet(0.05, 0.7), solver="fista", tol=1e-11, max_iter=100_000)
    sk = sk_lasso(X, y, 0.05, l1_ratio=0.7)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6)
    np.testing.assert_array_equal(res.coef == 0, sk.coef_ == 0)


def test_weighted_l1_equals_lasso_on_rescaled_features():
    # sum c_j |w_j| on X equals plain L1 on X / c with w' = c w (an independent reference).
    X, y, _ = make_regression(60, 10, seed=13)
    c = np.linspace(0.5, 2.0, 10)
    res = jaxreg.fit(X, y, penalty=WeightedL1(0.05, c), tol=1e-11, max_iter=100_000)
    sk = sk_lasso(X / c, y, 0.05)
    np.testing.assert_allclose(res.coef, sk.coef_ / c, atol=1e-6)


def test_alpha_max_zeroes_every_coefficient():
    X, y, _ = make_regression(50, 15, seed=14)
    a_max = jaxreg.alpha_max(X, y)
    # independent formula for squared loss: ||X^T (y - mean y)||_inf / n
    assert a_max == pytest.approx(np.abs(X.T @ (y - y.mean())).max() / 50, rel=1e-12)
    assert jaxreg.fit(X, y, penalty=L1(a_max * 1.0001), tol=1e-10).nonzeros == 0
    assert jaxreg.fit(X, y, penalty=L1(a_max * 0.95), tol=1e-10).nonzeros > 0


def test_logistic_l2_matches_sklearn(clf_data):
    X, y = clf_data
    alpha = 0.02
    sk = LogisticRegression(C=1 / (alpha * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    res = jaxreg.fit(X, y, loss="logistic", penalty=L2(alpha), tol=1e-10)
    assert res.solver == "newton"  # auto, on few features
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=1e-6)
    assert res.intercept == pytest.approx(sk.intercept_[0], abs=1e-6)
    res = jaxreg.fit(X, y, loss="logistic", penalty=L2(alpha), solver="lbfgs", tol=1e-10)
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=1e-6)
    assert res.intercept == pytest.approx(sk.intercept_[0], abs=1e-6)
    res_f = jaxreg.fit(X, y, loss="logistic", penalty=L2(alpha), solver="fista", tol=1e-10)
    np.testing.assert_allclose(res_f.coef, sk.coef_[0], atol=1e-6)


def test_logistic_l1_matches_sklearn(clf_data):
    X, y = clf_data
    alpha = 0.03
    res = jaxreg.fit(X, y, loss="logistic", penalty=L1(alpha), tol=1e-10, max_iter=50_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(C=1 / (alpha * len(y)), l1_ratio=1.0, solver="saga", tol=1e-13, max_iter=200_000).fit(
            X, y
        )
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=2e-5)
    np.testing.assert_array_equal(res.coef == 0, np.abs(sk.coef_[0]) < 1e-8)
    assert res.nonzeros < X.shape[1]


def test_multinomial_l2_matches_sklearn():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((150, 5))
    y = np.argmax(X @ rng.standard_normal((5, 3)) + rng.gumbel(size=(150, 3)), axis=1)
    alpha = 0.01
    res = jaxreg.fit(X, y, loss="multinomial", penalty=L2(alpha), tol=1e-10)
    sk = LogisticRegression(C=1 / (alpha * 150), tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_.T, atol=1e-5)
    np.testing.assert_allclose(res.intercept, sk.intercept_, atol=1e-5)
    np.testing.assert_array_equal(res.classes, [0, 1, 2])


def scipy_objective(X, y, pen):
    n, p = X.shape

    def f(v):
        w, b = v[:p], v[p]
        r = y - X @ w - b
        return r @ r / (2 * n) + pen(w)

    return f


@pytest.mark.parametrize("p_exp", [1.5, 3.0])
def test_lp_reaches_scipy_optimum_and_kkt(p_exp):
    X, y, _ = make_regression(60, 10, seed=16)
    alpha = 0.2
    res = jaxreg.fit(X, y, penalty=Lp(alpha, p_exp), tol=1e-10, max_iter=100_000)
    assert res.converged and res.stop_crit < 1e-10
    f = scipy_objective(X, y, lambda w: alpha / p_exp * np.sum(np.abs(w) ** p_exp))
    ref = minimize(f, np.zeros(11), method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    ours = f(np.append(res.coef, res.intercept))
    assert ours <= ref.fun + 1e-10
    # KKT written out independently: X^T r / n = alpha sign(w)|w|^(p-1), sum r = 0
    r = y - X @ res.coef - res.intercept
    np.testing.assert_allclose(X.T @ r / 60, alpha * np.sign(res.coef) * np.abs(res.coef) ** (p_exp - 1), atol=1e-9)
    assert abs(r.sum()) < 1e-8


def test_linf_reaches_scipy_optimum_and_kkt():
    X, y, _ = make_regression(60, 8, seed=17)
    alpha = 0.5
    res = jaxreg.fit(X, y, penalty=LInf(alpha), tol=1e-10, max_iter=100_000)
    assert res.converged
    n, p = X.shape
    # epigraph form: min f(w, b) + alpha t  s.t.  -t <= w_i <= t  (SLSQP)
    f = scipy_objective(X, y, lambda w: 0.0)
    cons = [{"type": "ineq", "fun": lambda v: np.concatenate([v[-1] - v[:p], v[-1] + v[:p]])}]
    ref = minimize(
        lambda v: f(v[:-1]) + alpha * v[-1],
        np.zeros(p + 2),
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    ours = f(np.append(res.coef, res.intercept)) + alpha * np.abs(res.coef).max()
    assert ours <= ref.fun + 1e-9
    # KKT: g = X^T r / n is supported on the argmax set of |w|, sign-matched, ||g||_1 = alpha.
    g = X.T @ (y - X @ res.coef - res.intercept) / n
    on_max = np.abs(res.coef) == np.abs(res.coef).max()
    assert on_max.sum() >= 2  # the L-inf ball's corner: several coefficients tie exactly
    assert np.all(np.abs(g[~on_max]) < 1e-9)
    assert np.sum(np.abs(g)) == pytest.approx(alpha, rel=1e-7)


def test_fixed_step_and_backtracking_agree():
    X, y, _ = make_regression(80, 12, seed=18)
    a = jaxreg.fit(X, y, penalty=L1(0.05), solver="fista", step="lipschitz", tol=1e-10)
    b = jaxreg.fit(X, y, penalty=L1(0.05), solver="fista", step="backtracking", tol=1e-10)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-8)
    assert np.all(np.diff(jaxreg.fit(X, y, penalty=L1(0.05), solver="ista", tol=1e-10).history) <= 1e-12)


def test_float32_fit_close_to_float64():
    X, y, _ = make_regression(80, 12, seed=19)
    r64 = jaxreg.fit(X, y, penalty=L1(0.05), tol=1e-10)
    r32 = jaxreg.fit(X.astype(np.float32), y.astype(np.float32), penalty=L1(0.05), tol=1e-4)
    assert r32.coef.dtype == np.float32
    np.testing.assert_allclose(r32.coef, r64.coef, atol=1e-4)
