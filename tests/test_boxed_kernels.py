"""Box constraints in the squared-loss working-set kernels (``positive=True`` and any
``Bounded`` penalty of elastic-net form on a dense design): scikit-learn's
``Lasso(positive=True)``, its duality gap, optimality conditions with the box written out
here, an independent bound-constrained solve (L-BFGS-B on the split ``w = u - v``), the
Newton step's stop at a bound in closed form, and MCP against skglm on a wide design."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import sklearn.linear_model as sklm

import jaxreg
from jaxreg.fit import elastic_net_gap
from jaxreg.penalties import L1, MCP, Bounded, ElasticNet
from jaxreg.solvers import support_newton
from jaxreg.solvers.working_set_check import Box, Prep, criterion
from jaxreg.solvers.working_set_kernels import step_in_box


def _wide(seed=0, n=60, p=300):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:12] = 2.0 * rng.standard_normal(12)  # half of them negative: positive=True drops those
    return X, X @ w + 0.1 * rng.standard_normal(n) + 1.5


@pytest.mark.parametrize("frac", [0.2, 0.02])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_positive_lasso_takes_the_kernels_and_matches_sklearn(frac, weighted):
    X, y = _wide(1)
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(y)) if weighted else None
    d = np.ones(len(y)) / len(y) if sw is None else sw / sw.sum()
    xbar = d @ X
    alpha = frac * np.max((X - xbar).T @ (d * (y - d @ y)))
    res = jaxreg.fit(X, y, penalty=Bounded(L1(alpha), lower=0.0), sample_weight=sw, tol=1e-12)
    # the generic engine reports the subdifferential distance: the gap says the box kernels ran
    assert res.solver == "working_set" and res.criterion == "duality_gap" and res.converged
    ref = sklm.Lasso(alpha=alpha, positive=True, tol=1e-14, max_iter=200_000).fit(X, y, sample_weight=sw)
    assert np.all(res.coef >= 0) and np.sum(res.coef > 0) >= 5
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(res.intercept, ref.intercept_, atol=1e-8)


def test_box_criterion_is_sklearns_positive_gap_at_any_feasible_point():
    X, y = _wide(3, n=40, p=80)
    n, p = X.shape
    rng = np.random.default_rng(4)
    d = np.full(n, 1.0 / n)
    xbar, ybar = d @ X, d @ y
    yc = y - ybar
    for l2 in (0.0, 0.3):
        w = np.where(rng.random(p) < 0.2, rng.uniform(0, 1, p), 0.0)
        r = yc - (X - xbar) @ w  # centred residual: the intercept optimal for w
        corr = (X - xbar).T @ (d * r)
        l1 = np.full(p, 0.05)
        box = Box(l1, np.zeros(p), np.full(p, np.inf))
        with jax.enable_x64(True):
            prep = Prep(*(jnp.asarray(a) for a in (d, xbar, yc, ybar, d @ yc**2)))
            value, kind, _ = criterion(jnp.asarray(corr), jnp.asarray(w), jnp.asarray(r), prep, box, l2)
        ref = elastic_net_gap(X, y, np.ones(n), w, ybar - xbar @ w, l1, l2, True, positive=True)
        assert int(kind) == 0 and ref > 1e-3
        assert float(value) * (d @ yc**2) == pytest.approx(ref, rel=1e-10)


def _objective(X, y, w, b, l1, l2):
    r = y - X @ w - b
    return 0.5 * r @ r / len(y) + l1 * np.abs(w).sum() + 0.5 * l2 * w @ w


def _split_reference(X, y, l1, l2, lo, hi):
    """min over (u, v >= 0, b) of the objective at w = u - v, with u <= hi and v <= -lo:
    smooth, so L-BFGS-B solves it with its own box."""
    n, p = X.shape

    def f(z):
        u, v, b = z[:p], z[p : 2 * p], z[-1]
        w = u - v
        r = y - X @ w - b
        gw = -X.T @ r / n + l2 * w
        val = 0.5 * r @ r / n + l1 * (u + v).sum() + 0.5 * l2 * w @ w
        return val, np.r_[gw + l1, -gw + l1, -r.sum() / n]

    bounds = [(0, h) for h in hi] + [(0, -lo_j) for lo_j in lo] + [(None, None)]
    out = scipy.optimize.minimize(f, np.zeros(2 * p + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                                  options=dict(ftol=1e-16, gtol=1e-12, maxiter=50_000, maxcor=30))  # fmt: skip
    return out.x[:p] - out.x[p : 2 * p], out.x[-1]


def test_bounded_elastic_net_meets_the_box_kkt_conditions_and_a_split_reference():
    X, y = _wide(5, n=80, p=120)
    p = X.shape[1]
    y = y + X[:, 20:26] @ np.array([3.0, -2.5, -2.0, -3.0, 0.5, 2.0])  # bounds that bind
    kinds = np.arange(p) % 3  # [0, inf), [-0.4, 0.6], (-inf, 1.0]
    lo = np.choose(kinds, [0.0, -0.4, -np.inf])
    hi = np.choose(kinds, [np.inf, 0.6, 1.0])
    alpha, ratio = 0.05, 0.7
    l1, l2 = alpha * ratio, alpha * (1 - ratio)
    res = jaxreg.fit(X, y, penalty=Bounded(ElasticNet(alpha, ratio), lower=lo, upper=hi), tol=1e-12)
    assert res.criterion == "duality_gap" and res.converged
    w, b = res.coef, res.intercept
    assert np.all(w >= lo) and np.all(w <= hi)
    on_bound = (w != 0) & ((w == lo) | (w == hi))
    assert on_bound.sum() >= 2  # the test exercises nonzero bounds
    # KKT: -grad in l1 d|w| + the normal cone of the box at w
    n = len(y)
    r = y - X @ w - b
    assert abs(r.sum() / n) < 1e-10  # the intercept
    xta = X.T @ r / n - l2 * w  # -grad
    inside = (w != 0) & ~on_bound
    assert np.max(np.abs(xta[inside] - l1 * np.sign(w[inside]))) < 1e-9
    at_hi, at_lo = (w != 0) & (w == hi), (w != 0) & (w == lo)
    assert np.all(xta[at_hi] - l1 >= -1e-9) and np.all(xta[at_lo] + l1 <= 1e-9)
    zero = w == 0
    assert np.all(np.where(hi[zero] > 0, xta[zero] - l1, -1.0) <= 1e-9)
    assert np.all(np.where(lo[zero] < 0, -xta[zero] - l1, -1.0) <= 1e-9)
    w_ref, b_ref = _split_reference(X, y, l1, l2, lo, hi)
    f, f_ref = _objective(X, y, w, b, l1, l2), _objective(X, y, w_ref, b_ref, l1, l2)
    assert f <= f_ref + 1e-12 * abs(f_ref)
    np.testing.assert_allclose(w, w_ref, atol=1e-5)


@pytest.mark.parametrize("host", [False, True], ids=["compiled", "host"])
def test_the_newton_step_stops_at_the_first_nonzero_bound(host):
    wS = np.array([0.5, -0.2, 0.3, 0.4])
    wN = np.array([2.0, -0.5, -0.1, 0.6])  # coordinate 0 passes its upper bound 1 at t = 1/3
    lo = np.array([0.0, -1.0, 0.0, 0.0])
    hi = np.array([1.0, np.inf, np.inf, 0.9])
    on = np.ones(4, bool)
    if host:
        w, stopped = support_newton._step_in_box(wS, wN, on, lo, hi)
    else:
        with jax.enable_x64(True):
            w, stopped = (np.asarray(a) for a in step_in_box(*map(jnp.asarray, (wS, wN, on, lo, hi))))
    t = 0.5 / 1.5
    expected = wS + t * (wN - wS)
    expected[0] = 1.0
    assert bool(stopped) and w[0] == 1.0
    np.testing.assert_allclose(w, expected, rtol=1e-15)
    # a sign change first (coordinate 2 reaches zero at t = 3/4 < the bound's): held at zero
    wN2 = np.array([0.9, -0.5, -0.1, 0.6])
    hi2 = np.array([1.0, np.inf, np.inf, 0.45])
    if host:
        w2, stopped2 = support_newton._step_in_box(wS, wN2, on, lo, hi2)
    else:
        with jax.enable_x64(True):
            w2, stopped2 = (np.asarray(a) for a in step_in_box(*map(jnp.asarray, (wS, wN2, on, lo, hi2))))
    # coordinate 3 reaches 0.45 at t = 0.25 before coordinate 2's zero at 0.75
    np.testing.assert_allclose(w2, np.r_[wS[:3] + 0.25 * (wN2[:3] - wS[:3]), 0.45], rtol=1e-15)
    assert bool(stopped2)


@pytest.mark.slow  # numba compiles skglm's MCP solver: 10-20 s on a worker that has not yet
def test_mcp_on_a_wide_design_matches_skglm():
    skglm = pytest.importorskip("skglm")
    rng = np.random.default_rng(6)
    X = rng.standard_normal((100, 400))
    X /= np.sqrt((X**2).mean(0))
    w = np.zeros(400)
    w[rng.choice(400, 10, replace=False)] = rng.standard_normal(10)
    y = X @ w + 0.1 * rng.standard_normal(100)
    alpha = 0.1 * np.max(np.abs(X.T @ (y - y.mean()))) / 100
    res = jaxreg.fit(X, y, penalty=MCP(alpha, 3.0), tol=1e-10)
    ref = skglm.MCPRegression(alpha=alpha, gamma=3.0, tol=1e-12).fit(X, y)
    assert res.converged
    np.testing.assert_array_equal(res.coef != 0, ref.coef_ != 0)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-7)
    np.testing.assert_allclose(res.intercept, ref.intercept_, atol=1e-7)


@pytest.mark.parametrize("host", [False, True], ids=["compiled", "host"])
def test_the_newton_step_holds_coordinates_on_a_bound_and_solves_the_others(host):
    from jaxreg.solvers.working_set_kernels import newton

    rng = np.random.default_rng(7)
    n, p = 30, 6
    X = rng.standard_normal((n, p))
    y = X @ np.r_[0.9, 2.0, -1.5, 0, 0, 0] + 0.05 * rng.standard_normal(n)
    d = np.full(n, 1.0 / n)
    xbar, ybar = d @ X, d @ y
    Xc, yc = X - xbar, y - ybar
    l1, l2 = np.full(p, 0.01), 0.02
    lo, hi = np.full(p, -np.inf), np.r_[0.5, np.full(p - 1, np.inf)]
    w = np.r_[0.5, 1.0, -1.0, 0, 0, 0]  # coordinate 0 on its upper bound, 1 and 2 free
    r = yc - Xc @ w
    # the exact minimiser over coordinates 1 and 2, coordinate 0 held at 0.5, the rest at 0
    F = Xc[:, 1:3]
    rhs = F.T @ (d * (yc - 0.5 * Xc[:, 0])) - l1[1:3] * np.sign(w[1:3])
    expected = np.linalg.solve(F.T @ (d[:, None] * F) + l2 * np.eye(2), rhs)
    assert np.all(np.sign(expected) == np.sign(w[1:3]))  # no sign change: one round
    if host:
        out, r_out, ok = support_newton.newton_step(X.T.copy(), d, xbar, yc, w, r, Box(l1, lo, hi), l2, 8)
    else:
        with jax.enable_x64(True):
            prep = Prep(*(jnp.asarray(a) for a in (d, xbar, yc, ybar, d @ yc**2)))
            box = Box(*(jnp.asarray(a) for a in (l1, lo, hi)))
            out, r_out, ok = (
                np.asarray(a) for a in newton(jnp.asarray(X.T), prep, jnp.asarray(w), jnp.asarray(r), box, l2, size=8)
            )
    assert bool(ok) and out[0] == 0.5 and np.all(out[3:] == 0)
    np.testing.assert_allclose(out[1:3], expected, rtol=1e-12)
    np.testing.assert_allclose(r_out, yc - Xc @ out, atol=1e-12)
