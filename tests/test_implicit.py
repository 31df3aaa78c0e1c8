"""Differentiable fits (jaxreg.solution) and tuning by gradient (LassoHO).

References: central finite differences of refitted solutions at a tight tolerance (the
support checked stable over the difference), ridge's closed-form derivative, jax.grad
through an unrolled proximal-gradient solver, and scikit-learn's LassoCV on the same folds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LassoCV
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

import jaxreg
from jaxreg.implicit import fit_count
from jaxreg.penalties import keep_positive
from tests.conftest import make_regression

TOL = 1e-13  # the forward fits' tolerance (the finite differences need exact solutions)


@pytest.fixture(autouse=True)
def x64():
    # one BLAS thread: on the shared 2-core machine OpenBLAS's threads stalled the small host
    # solves (0.3 ms) for ~150 ms each (measured while other suites ran)
    with jax.enable_x64(True), threadpool_limits(1):
        yield


def _reg(n=50, p=8, seed=0):
    X, y, _ = make_regression(n, p, rho=0.3, n_informative=4, noise=0.5, seed=seed)
    return X, y


def _clf(n=80, p=6, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = (X @ rng.standard_normal(p) + 0.3 + rng.logistic(size=n) > 0).astype(float)
    return X, y


def _scalar(out, seed=5):
    """A fixed random linear functional of (coef, intercept): one backward pass tests all."""
    coef, b = out
    u = np.random.default_rng(seed).standard_normal(coef.shape[0] + 1)
    return jnp.dot(u[:-1], coef) + u[-1] * b


def _support(out):
    return tuple(np.flatnonzero(np.asarray(out[0])))


def _check_fd(f, x, direction, h=1e-5, rtol=1e-5):
    """``grad f(x) . direction`` against the central difference, the support unchanged."""
    g = jax.grad(lambda t: _scalar(f(t)))(x)
    analytic = float(jnp.vdot(g, direction))
    plus, minus = f(x + h * direction), f(x - h * direction)
    assert _support(plus) == _support(minus) == _support(f(x)), "the support moved: pick another point"
    numeric = float((_scalar(plus) - _scalar(minus)) / (2 * h))
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=1e-8 * max(1.0, abs(numeric)))


CASES = [
    ("squared", "l1", 0.05),
    ("squared", "elastic_net", 0.05),
    ("squared", "l2", 0.5),
    ("logistic", "l1", 0.01),
    ("logistic", "l2", 0.05),
    ("poisson", "l2", 0.05),
]


@pytest.mark.parametrize("loss,penalty,alpha", CASES)
def test_log_alpha_gradient_matches_finite_differences(loss, penalty, alpha):
    X, y = _clf() if loss == "logistic" else _reg()
    if loss == "poisson":
        y = np.random.default_rng(2).poisson(np.exp(0.3 * X[:, 0] + 0.2 * X[:, 1]))
    f = lambda la: jaxreg.solution(X, y, jnp.exp(la), loss=loss, penalty=penalty, tol=TOL)
    out = f(np.log(alpha))
    if penalty in ("l1", "elastic_net"):
        assert 0 < len(_support(out)) < X.shape[1]  # a sparse solution: the restricted system is used
    _check_fd(f, jnp.asarray(np.log(alpha)), jnp.asarray(1.0))


def test_weighted_l1_weights_gradient():
    X, y = _reg(seed=3)
    wts = np.linspace(0.5, 2.0, X.shape[1])
    f = lambda w: jaxreg.solution(X, y, 0.05, penalty="weighted_l1", weights=w, tol=TOL)
    assert 0 < len(_support(f(wts))) < X.shape[1]
    for j in range(X.shape[1]):
        _check_fd(f, jnp.asarray(wts), jnp.eye(X.shape[1])[j])


def test_l1_ratio_gradient():
    X, y = _reg(seed=4)
    f = lambda r: jaxreg.solution(X, y, 0.05, penalty="elastic_net", l1_ratio=r, tol=TOL)
    _check_fd(f, jnp.asarray(0.6), jnp.asarray(1.0))


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_data_gradients(loss):
    """Sample weights, y (regression) and X, each along a random direction."""
    X, y = _clf() if loss == "logistic" else _reg()
    rng = np.random.default_rng(7)
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    kw = dict(loss=loss, penalty="l1", tol=TOL)
    alpha = 0.02 if loss == "logistic" else 0.05
    f_sw = lambda s: jaxreg.solution(X, y, alpha, sample_weight=s, **kw)
    _check_fd(f_sw, jnp.asarray(sw), jnp.asarray(rng.standard_normal(sw.shape)))
    f_X = lambda A: jaxreg.solution(A, y, alpha, sample_weight=sw, **kw)
    _check_fd(f_X, jnp.asarray(X), jnp.asarray(rng.standard_normal(X.shape)))
    if loss == "squared":
        f_y = lambda t: jaxreg.solution(X, t, alpha, sample_weight=sw, **kw)
        _check_fd(f_y, jnp.asarray(y), jnp.asarray(rng.standard_normal(y.shape)))


def test_ridge_matches_closed_form_derivative():
    """coef(alpha) = (Xc^T Xc / n + alpha I)^-1 Xc^T yc / n, so d coef / d alpha = -M^-1 coef
    and the intercept ybar - xbar . coef moves by -xbar . d coef."""
    X, y = _reg(n=30, p=6, seed=8)
    n, alpha = X.shape[0], 0.3
    Xc, yc = X - X.mean(0), y - y.mean()
    M = Xc.T @ Xc / n + alpha * np.eye(X.shape[1])
    coef = np.linalg.solve(M, Xc.T @ yc / n)
    dcoef = -np.linalg.solve(M, coef)
    jac = jax.jacrev(lambda a: jaxreg.solution(X, y, a, penalty="l2", tol=TOL))(alpha)
    np.testing.assert_allclose(jac[0], dcoef, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(jac[1], -X.mean(0) @ dcoef, rtol=1e-8, atol=1e-12)


def test_lasso_matches_unrolled_ista():
    """jax.grad through 3000 ISTA iterations (written here) converges to the implicit gradient."""
    X, y = _reg(n=30, p=5, seed=9)
    n = X.shape[0]
    A = np.hstack([X, np.ones((n, 1))])
    step = 1.0 / np.linalg.eigvalsh(A.T @ A / n).max()

    def ista(alpha):
        def body(_, wb):
            r = A @ wb - y
            v = wb - step * A.T @ r / n
            w = jnp.sign(v[:-1]) * jnp.maximum(jnp.abs(v[:-1]) - step * alpha, 0.0)
            return jnp.concatenate([w, v[-1:]])

        wb = jax.lax.fori_loop(0, 3000, body, jnp.zeros(A.shape[1]))
        return wb[:-1], wb[-1]

    alpha = 0.1
    g_unrolled = jax.grad(lambda a: _scalar(ista(a)))(alpha)
    g_implicit = jax.grad(lambda a: _scalar(jaxreg.solution(X, y, a, tol=TOL)))(alpha)
    np.testing.assert_allclose(np.asarray(ista(alpha)[0]), jaxreg.solution(X, y, alpha, tol=TOL)[0], atol=1e-9)
    np.testing.assert_allclose(g_implicit, g_unrolled, rtol=1e-6)


def test_jit_and_vmap_over_alphas():
    X, y = _reg(seed=10)
    g = jax.grad(lambda a: _scalar(jaxreg.solution(X, y, a, tol=TOL)))
    alphas = jnp.asarray([0.02, 0.05, 0.1])
    loop = np.array([float(g(a)) for a in alphas])
    np.testing.assert_allclose(jax.jit(g)(alphas[1]), loop[1], rtol=1e-9)
    np.testing.assert_allclose(jax.vmap(g)(alphas), loop, rtol=1e-9)
    # a batch of folds: vmap over sample weights (zero weight = held out)
    folds = jnp.asarray([(np.arange(X.shape[0]) % 3 != k).astype(float) for k in range(3)])
    coefs = jax.jit(jax.vmap(lambda s: jaxreg.solution(X, y, 0.05, sample_weight=s, tol=TOL)[0]))(folds)
    for k in range(3):
        keep = np.asarray(folds[k]) > 0
        ref = jaxreg.fit(X[keep], y[keep], penalty=jaxreg.L1(0.05), tol=TOL).coef
        np.testing.assert_allclose(coefs[k], ref, atol=1e-9)


@pytest.mark.parametrize("penalty,alpha", [("l1", 0.01), ("l2", 0.05)])
def test_multinomial_gradients(penalty, alpha):
    """A held-out cross-entropy (it depends on the predictions only: the intercepts' common
    shift, which no prediction sees, does not enter) in log alpha and along a direction in X."""
    rng = np.random.default_rng(13)
    X = rng.standard_normal((90, 5))
    y = np.argmax(1.5 * X[:, :3] + rng.gumbel(size=(90, 3)), axis=1)
    Xte, Yte = rng.standard_normal((30, 5)), np.eye(3)[rng.integers(0, 3, 30)]

    def held_out(la, A=X):
        W, b = jaxreg.solution(A, y, jnp.exp(la), loss="multinomial", penalty=penalty, tol=TOL)
        z = Xte @ W + b
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.sum(Yte * z, axis=1))

    la, h = np.log(alpha), 1e-4
    W, b = jaxreg.solution(X, y, alpha, loss="multinomial", penalty=penalty, tol=TOL)
    ref = jaxreg.fit(X, y, loss="multinomial", penalty=jaxreg.penalties.get_penalty(penalty, alpha=alpha), tol=TOL)
    np.testing.assert_allclose(W, ref.coef, atol=1e-8)
    assert W.shape == (5, 3) and b.shape == (3,)
    fd = (held_out(la + h) - held_out(la - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(held_out)(la), fd, rtol=1e-5)
    D = rng.standard_normal(X.shape)
    gX = jax.grad(held_out, argnums=1)(la, jnp.asarray(X))
    fd = (held_out(la, X + h * D) - held_out(la, X - h * D)) / (2 * h)
    np.testing.assert_allclose(jnp.vdot(gX, D), fd, rtol=1e-5)


def test_lp_penalty_instance():
    """A smooth penalty given as an instance (Lp, p = 1.5): alpha from the argument."""
    X, y = _reg(seed=14)
    f = lambda la: jaxreg.solution(X, y, jnp.exp(la), penalty=jaxreg.Lp(1.0, p=1.5), tol=TOL)
    _check_fd(f, jnp.asarray(np.log(0.05)), jnp.asarray(1.0), h=1e-4)


def test_logistic_labels_pm1_same_as_01():
    X, y01 = _clf()
    a = jaxreg.solution(X, y01, 0.01, loss="logistic", tol=TOL)
    b = jaxreg.solution(X, 2 * y01 - 1, 0.01, loss="logistic", tol=TOL)
    ref = jaxreg.fit(X, y01, loss="logistic", penalty=jaxreg.L1(0.01), tol=TOL)
    np.testing.assert_allclose(a[0], b[0], atol=1e-12)
    np.testing.assert_allclose(a[0], ref.coef, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(penalty="lasso"), "penalty='lasso' is not allowed"),
        (dict(alpha=None), "alpha=None is not allowed"),
        (dict(penalty="weighted_l1"), "weights=None is not allowed"),
        (dict(loss="logistic"), "loss='logistic' needs labels"),
        (dict(penalty=jaxreg.LInf(1.0)), "separable"),
        (dict(tol=0.0), "tol=0.0 is not allowed"),
        (dict(penalty=keep_positive(jaxreg.L1(1.0), True)), "bounds"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    X, y = _reg(n=20, p=3)
    kw = dict(alpha=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        jaxreg.solution(X, y, **kw)


def _cv_mse(X, y, alpha, folds):
    """K-fold held-out MSE at ``alpha`` from tight fits (numpy, jaxreg.fit)."""
    out = []
    for tr, te in folds:
        r = jaxreg.fit(X[tr], y[tr], penalty=jaxreg.L1(alpha), tol=1e-12)
        out.append(np.mean((X[te] @ r.coef + r.intercept - y[te]) ** 2))
    return float(np.mean(out))


def test_lasso_ho_reaches_lasso_cv_with_fewer_fits():
    X, y = _reg(n=120, p=15, seed=11)
    cv = KFold(5)
    folds = list(cv.split(X))
    ref = LassoCV(cv=cv, alphas=100, tol=1e-10, max_iter=100000).fit(X, y)
    n0 = fit_count()
    model = jaxreg.LassoHO(cv=cv).fit(X, y)
    assert model.n_fits_ == fit_count() - n0 <= (100 * 5 + 1) / 5
    assert _cv_mse(X, y, model.alpha_, folds) <= _cv_mse(X, y, ref.alpha_, folds) * (1 + 1e-4)
    np.testing.assert_allclose(model.history_.min(), _cv_mse(X, y, model.alpha_, folds), rtol=1e-6)
    # the refit is the lasso at alpha_ on all the data
    lasso = jaxreg.fit(X, y, penalty=jaxreg.L1(model.alpha_), tol=1e-12)
    np.testing.assert_allclose(model.coef_, lasso.coef, atol=1e-7)
    np.testing.assert_allclose(model.predict(X[:3]), X[:3] @ lasso.coef + lasso.intercept, atol=1e-6)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_weighted_lasso_ho_and_logistic_ho_run():
    X, y = _reg(n=80, p=6, seed=12)
    w = jaxreg.LassoHO(weighted=True, n_steps=4, n_grid=2).fit(X, y)
    assert w.weights_.shape == (6,) and w.n_fits_ == len(w.history_) * 5 + 1
    Xc, yc = _clf()
    labels = np.where(yc > 0, "yes", "no")
    c = jaxreg.LogisticRegressionHO(n_steps=3, n_grid=2).fit(Xc, labels)
    assert set(c.predict(Xc)) <= {"yes", "no"} and c.score(Xc, labels) > 0.6
    ref = jaxreg.fit(Xc, yc, loss="logistic", penalty=jaxreg.L1(c.alpha_), tol=1e-12)
    np.testing.assert_allclose(c.coef_, ref.coef, atol=1e-7)
    # three classes: the multinomial loss; the refit is jaxreg.fit's at alpha_
    rng = np.random.default_rng(15)
    X3 = rng.standard_normal((90, 5))
    y3 = np.array(["a", "b", "c"])[np.argmax(1.5 * X3[:, :3] + rng.gumbel(size=(90, 3)), axis=1)]
    m = jaxreg.LogisticRegressionHO(n_steps=2, n_grid=1, cv=3).fit(X3, y3)
    ref = jaxreg.fit(X3, y3, loss="multinomial", penalty=jaxreg.L1(m.alpha_), tol=1e-12)
    np.testing.assert_allclose(m.predict_proba(X3), _softmax(X3 @ ref.coef + ref.intercept), atol=1e-6)
    assert m.coef_.shape == (5, 3) and set(m.predict(X3)) <= {"a", "b", "c"}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(loss="huber"), "loss='huber' is not allowed for tuning"),
        (dict(n_steps=0), "n_steps=0 is not allowed"),
        (dict(alpha_init=-1.0), "alpha_init=-1.0 is not allowed"),
        (dict(weighted=True, weights_init=np.ones(2)), "weights_init has shape"),
        (dict(optimizer="nope"), "optimizer='nope' is not allowed"),
    ],
)
def test_tune_bad_input_names_the_argument(kwargs, match):
    from jaxreg.tune import tune

    X, y = _reg(n=20, p=3)
    with pytest.raises(ValueError, match=match):
        tune(X, y, **kwargs)
