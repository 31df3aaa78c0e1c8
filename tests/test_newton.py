"""Damped Newton (solver="newton") against independent references: scikit-learn's
LogisticRegression, the normal equations, and the optimality conditions written in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import jaxreg
from jaxreg.losses import Logistic, Multinomial, Squared
from jaxreg.penalties import L1, L2, ElasticNet, Lp, NoPenalty
from jaxreg.solvers import Data, Hyper, auto_solver
from jaxreg.solvers.newton import newton

from conftest import make_regression


def logistic_gradient(X, s, sw, alpha, coef, intercept, p_exp=2.0):
    """Gradient in (w, b) of sum(sw * log(1 + exp(-s z))) / sum(sw) + alpha/p sum |w|^p."""
    z = X @ coef + intercept
    r = sw * (-s / (1.0 + np.exp(s * z))) / sw.sum()
    return X.T @ r + alpha * np.sign(coef) * np.abs(coef) ** (p_exp - 1), r.sum()


def sk_logistic(X, y, alpha, sw=None, fit_intercept=True):
    total = len(y) if sw is None else sw.sum()
    model = LogisticRegression(C=1 / (alpha * total), solver="newton-cholesky", tol=1e-12, max_iter=1000)
    return model.set_params(fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_l2_matches_sklearn(clf_data, fit_intercept, weighted):
    X, y = clf_data
    sw = np.random.default_rng(0).uniform(0.2, 3.0, len(y)) if weighted else None
    alpha = 0.02
    res = jaxreg.fit(
        X, y, "logistic", L2(alpha), solver="newton", fit_intercept=fit_intercept, tol=1e-10, sample_weight=sw
    )
    sk = sk_logistic(X, y, alpha, sw, fit_intercept)
    assert res.converged and res.solver == "newton"
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=1e-8)
    assert res.intercept == pytest.approx(sk.intercept_[0] if fit_intercept else 0.0, abs=1e-8)


def test_squared_l2_matches_the_normal_equations():
    X, y, _ = make_regression(80, 12, rho=0.5, seed=1)
    n, alpha = len(y), 0.3
    res = jaxreg.fit(X, y, "squared", L2(alpha), solver="newton", tol=1e-12)
    # minimise |y - Xw - b|^2 / (2n) + alpha/2 |w|^2: (A^T A / n + alpha [I 0; 0 0]) [w; b] = A^T y / n
    A = np.c_[X, np.ones(n)]
    G = A.T @ A / n + alpha * np.diag(np.r_[np.ones(12), 0.0])
    sol = np.linalg.solve(G, A.T @ y / n)
    np.testing.assert_allclose(res.coef, sol[:12], atol=1e-12)
    assert res.intercept == pytest.approx(sol[12], abs=1e-12)
    assert res.n_iter <= 3  # one Newton step solves a quadratic (up to its tiny ridge)


def test_gradient_norm_is_below_tol_and_history_decreases(clf_data):
    X, y = clf_data
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    alpha, tol = 0.01, 1e-9
    res = jaxreg.fit(X, y, "logistic", L2(alpha), solver="newton", tol=tol, sample_weight=sw)
    gw, gb = logistic_gradient(X, 2.0 * y - 1.0, sw, alpha, res.coef, res.intercept)
    assert max(np.abs(gw).max(), abs(gb)) <= tol
    assert res.stop_crit <= tol and res.criterion == "gradient_norm"
    assert len(res.history) == res.n_iter and np.all(np.isfinite(res.history))
    assert np.all(np.diff(res.history) <= 0)  # Armijo: every accepted step decreases the objective
    assert res.history[-1] == pytest.approx(res.objective, rel=1e-12)


def test_new_alpha_and_tol_do_not_recompile(clf_data, compiles):
    X, y = clf_data
    jaxreg.fit(X, y, "logistic", L2(0.1), solver="newton", tol=1e-8)
    with compiles() as c:
        res = jaxreg.fit(X, y, "logistic", L2(0.03), solver="newton", tol=1e-10)
    assert c.count == 0
    assert res.converged


def test_float32_runs_in_float32(clf_data):
    X, y = clf_data
    X32 = X.astype(np.float32)
    res = jaxreg.fit(X32, y, "logistic", L2(0.02), solver="newton", tol=1e-4)
    assert res.converged and res.coef.dtype == np.float32
    sk = sk_logistic(X, y, 0.02)
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=1e-4)
    # the compiled program holds no float64 value at all
    n, p = X32.shape
    data = Data(jnp.asarray(X32), jnp.asarray(2.0 * y - 1.0, jnp.float32), jnp.ones(n, jnp.float32))
    one = jnp.ones((), jnp.float32)
    hyper = Hyper(one, one, one, one, jax.random.PRNGKey(0))
    lowered = newton.lower(data, Logistic(), L2(one), jnp.zeros(p, jnp.float32), jnp.zeros((), jnp.float32), hyper)
    assert "f64" not in lowered.as_text()


def test_multinomial_matches_sklearn():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((150, 5))
    y = np.argmax(X @ rng.standard_normal((5, 3)) + rng.gumbel(size=(150, 3)), axis=1)
    alpha = 0.01
    res = jaxreg.fit(X, y, "multinomial", L2(alpha), solver="newton", tol=1e-10)
    sk = LogisticRegression(C=1 / (alpha * 150), tol=1e-12, max_iter=10_000).fit(X, y)
    assert res.converged
    np.testing.assert_allclose(res.coef, sk.coef_.T, atol=1e-6)
    # the intercepts are defined up to a common shift (softmax); scikit-learn's sum to 0
    np.testing.assert_allclose(res.intercept - res.intercept.mean(), sk.intercept_, atol=1e-6)


def test_other_twice_differentiable_penalties(clf_data):
    X, y = clf_data
    s, sw = 2.0 * y - 1.0, np.ones(len(y))
    ridge = jaxreg.fit(X, y, "logistic", ElasticNet(0.05, l1_ratio=0.0), solver="newton", tol=1e-10)
    sk = sk_logistic(X, y, 0.05)
    np.testing.assert_allclose(ridge.coef, sk.coef_[0], atol=1e-8)
    cubic = jaxreg.fit(X, y, "logistic", Lp(0.05, p=3.0), solver="newton", tol=1e-10)
    gw, gb = logistic_gradient(X, s, sw, 0.05, cubic.coef, cubic.intercept, p_exp=3.0)
    assert cubic.converged and max(np.abs(gw).max(), abs(gb)) <= 1e-10


def test_a_penalty_without_a_hessian_is_refused(clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match="newton needs a twice-differentiable penalty.*use lbfgs"):
        jaxreg.fit(X, y, "logistic", L1(0.01), solver="newton")
    with pytest.raises(ValueError, match="newton needs a twice-differentiable penalty"):
        jaxreg.fit(X, y, "logistic", Lp(0.01, p=1.5), solver="newton")


def test_max_iter_and_divergence_are_reported_without_nan_coefficients(clf_data):
    X, y = clf_data
    res = jaxreg.fit(X, y, "logistic", L2(0.01), solver="newton", tol=1e-12, max_iter=1)
    assert res.status == "max_iter" and res.n_iter == 1
    Xnan = jnp.asarray(X).at[3, 2].set(jnp.nan)
    n, p = X.shape
    data = Data(Xnan, jnp.asarray(2.0 * y - 1.0), jnp.ones(n))
    one = jnp.ones(())
    hyper = Hyper(one * 1e-8, one, one, one, jax.random.PRNGKey(0))
    with jax.enable_x64(True):
        out = newton(data, Logistic(), L2(one * 0.01), jnp.zeros(p), jnp.zeros(()), hyper, max_iter=1)
    assert jaxreg.solvers.STATUS_NAMES[int(out.status)] == "diverged"
    assert np.all(np.isfinite(out.coef)) and int(out.n_iter) == 0


def test_auto_prefers_newton_for_a_small_dense_hessian():
    assert auto_solver(Logistic(), L2(1.0), n_features=30, n_samples=569) == "newton"
    assert auto_solver(Multinomial(), NoPenalty(), n_features=4, n_samples=150, n_outputs=3) == "newton"
    assert auto_solver(Logistic(), ElasticNet(1.0, l1_ratio=0.0), n_features=30) == "newton"
    # unknown or large shapes, and penalties without a Hessian, keep lbfgs
    assert auto_solver(Logistic(), L2(1.0)) == "lbfgs"
    assert auto_solver(Logistic(), L2(1.0), n_features=500) == "lbfgs"
    assert auto_solver(Logistic(), L2(1.0), n_features=30, n_samples=10**6) == "lbfgs"
    assert auto_solver(Logistic(), Lp(1.0, p=1.5), n_features=30) == "lbfgs"
    assert auto_solver(Squared(), L2(1.0), n_features=30) == "closed_form"
