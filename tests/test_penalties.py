"""Each prox against its own optimality condition and an independent scalar solve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from jaxreg.penalties import L1, L2, ElasticNet, LInf, Lp, NoPenalty, WeightedL1, simplex_threshold

jax.config.update("jax_enable_x64", False)  # the library must not need it flipped globally


def x64(f, *a):
    with jax.enable_x64(True):
        return np.asarray(f(*(jnp.asarray(x) for x in a)))


RNG = np.random.default_rng(0)
V = np.concatenate([RNG.standard_normal(30) * 3, [0.0, 1e-9, -1e-9, 5.0, -5.0]])


def scalar_prox(pen_value, v, step):
    """argmin_u (u - v)^2 / (2 step) + pen(u) by bounded scalar minimisation."""
    lo, hi = min(0.0, v) - 1.0, max(0.0, v) + 1.0
    res = minimize_scalar(
        lambda u: (u - v) ** 2 / (2 * step) + pen_value(u), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
    )
    return res.x


@pytest.mark.parametrize("step", [0.1, 1.0, 3.0])
def test_l1_prox_soft_threshold_and_subgradient(step):
    pen = L1(0.7)
    u = x64(pen.prox, V, step)
    t = step * 0.7
    zero = np.abs(V) <= t
    assert np.all(u[zero] == 0.0)  # exact zeros, not small numbers
    g = (V - u) / step
    np.testing.assert_allclose(g[~zero], 0.7 * np.sign(u[~zero]), rtol=1e-12)
    assert np.all(np.abs(g[zero]) <= 0.7 + 1e-12)
    ref = np.array([scalar_prox(lambda s: 0.7 * abs(s), v, step) for v in V[:10]])
    np.testing.assert_allclose(u[:10], ref, atol=1e-7)


@pytest.mark.parametrize("step", [0.2, 2.0])
def test_elasticnet_l2_weighted_prox_against_scalar_solve(step):
    cases = [
        (ElasticNet(0.5, 0.3), lambda s: 0.5 * (0.3 * abs(s) + 0.35 * s * s)),
        (L2(1.3), lambda s: 0.65 * s * s),
    ]
    for pen, val in cases:
        u = x64(pen.prox, V[:12], step)
        ref = np.array([scalar_prox(val, v, step) for v in V[:12]])
        np.testing.assert_allclose(u, ref, atol=1e-7)
    weights = np.abs(RNG.standard_normal(12))
    weights[3] = 0.0
    pen = WeightedL1(0.4, weights)
    u = x64(lambda v: pen.prox(v, step), V[:12])
    ref = np.array([scalar_prox(lambda s, c=c: 0.4 * c * abs(s), v, step) for v, c in zip(V[:12], weights)])
    np.testing.assert_allclose(u, ref, atol=1e-7)
    assert u[3] == V[3]  # a zero weight leaves the coefficient untouched


@pytest.mark.parametrize("p", [1.05, 1.2, 1.5, 1.9, 2.0, 2.5, 3.0, 6.0])
def test_lp_prox_solves_its_scalar_equation_to_machine_precision(p):
    # t + c t^(p-1) = a over many magnitudes, including tiny a with huge c (where plain
    # Newton fails for p < 2).
    a = np.abs(np.concatenate([RNG.standard_normal(20) * 10 ** RNG.uniform(-8, 3, 20), [1e-12, 1e3]]))
    for c in [1e-6, 1e-2, 1.0, 1e2, 1e6]:
        pen = Lp(1.0, p)
        t = x64(lambda v: pen.prox(v, c), a)
        ref = np.array(
            [brentq(lambda s: s + c * s ** (p - 1) - ai, 0, ai, xtol=1e-300, rtol=1e-15, maxiter=2000) for ai in a]
        )
        np.testing.assert_allclose(t, ref, rtol=1e-12, atol=0)
        # sign symmetry
        np.testing.assert_array_equal(x64(lambda v: pen.prox(v, c), -a), -t)


def test_lp_p1_is_l1_and_p2_is_l2():
    np.testing.assert_array_equal(x64(lambda v: Lp(0.3, 1).prox(v, 2.0), V), x64(lambda v: L1(0.3).prox(v, 2.0), V))
    np.testing.assert_allclose(x64(lambda v: Lp(0.3, 2).prox(v, 2.0), V), x64(lambda v: L2(0.3).prox(v, 2.0), V))
    assert float(Lp(0.3, 2).value(jnp.asarray(V))) == pytest.approx(float(L2(0.3).value(jnp.asarray(V))))


def test_lp_prox_float32_close_to_float64():
    pen = Lp(1.0, 1.5)
    v = V.astype(np.float32)
    u32 = np.asarray(pen.prox(jnp.asarray(v), 0.5))
    assert u32.dtype == np.float32
    np.testing.assert_allclose(u32, x64(lambda x: pen.prox(x, 0.5), V), rtol=2e-6, atol=1e-7)


def linf_prox_reference(v, r):
    """prox of r * max|u|: u = clip(v, -t, t) with t minimising the convex scalar
    phi(t) = sum (|v_i| - t)_+^2 / 2 + r t (an independent derivation)."""
    a = np.abs(v)
    phi = lambda t: 0.5 * np.sum(np.maximum(a - t, 0) ** 2) + r * t
    t = minimize_scalar(phi, bounds=(0, a.max()), method="bounded", options={"xatol": 1e-13}).x
    return np.sign(v) * np.minimum(a, t)


@pytest.mark.parametrize("r", [0.01, 0.5, 3.0, 100.0])
def test_linf_prox_against_scalar_reference_and_optimality(r):
    v = RNG.standard_normal(15) * 2
    u = x64(lambda x: LInf(r).prox(x, 1.0), v)
    np.testing.assert_allclose(u, linf_prox_reference(v, r), atol=1e-7)
    if r >= np.abs(v).sum():
        assert np.all(u == 0)
    else:
        # (v - u) lies in r * d||u||_inf: supported on the argmax set, sign-matched, sum r.
        g = v - u
        on_max = np.abs(u) == np.abs(u).max()
        assert np.all(np.abs(g[~on_max]) < 1e-12)
        assert np.all(g[on_max] * np.sign(u[on_max]) >= -1e-12)
        assert np.sum(np.abs(g)) == pytest.approx(r, rel=1e-10)


def test_linf_prox_ties_are_exact():
    v = np.array([3.0, -3.0, 2.9, 0.5, -2.95, 1.0])
    u = x64(lambda x: LInf(0.4).prox(x, 1.0), v)
    top = np.abs(u).max()
    assert np.sum(np.abs(u) == top) == 4  # four coordinates clipped, all exactly equal
    assert u[3] == 0.5 and u[5] == 1.0


def test_simplex_threshold_projects_onto_simplex():
    a = RNG.standard_normal(9)
    tau = float(x64(lambda x: simplex_threshold(x, 2.0), a))
    proj = np.maximum(a - tau, 0)
    assert proj.sum() == pytest.approx(2.0, rel=1e-12)


PENALTIES = [
    L1(0.3),
    L2(0.3),
    ElasticNet(0.3, 0.6),
    WeightedL1(0.3, np.linspace(0.5, 2.0, 35)),
    Lp(0.3, 1.5),
    Lp(0.3, 3.0),
    LInf(0.3),
    NoPenalty(),
]


@pytest.mark.parametrize("pen", PENALTIES, ids=repr)
def test_prox_point_has_zero_subdiff_distance(pen):
    # u = prox(v, s) is optimal for (u - v)^2/(2s) + pen(u): the gradient of the quadratic
    # is (u - v)/s, so its subdifferential distance must vanish; perturbing u breaks it.
    for s in [0.5, 2.0]:
        u = x64(lambda x: pen.prox(x, s), V)
        d = x64(lambda uu, vv: pen.subdiff_distance(uu, (uu - vv) / s), u, V)
        assert np.max(d) < 1e-9
        if not isinstance(pen, NoPenalty):
            u2 = u + 0.01
            d2 = x64(lambda uu, vv: pen.subdiff_distance(uu, (uu - vv) / s), u2, V)
            assert np.max(d2) > 1e-4


@pytest.mark.parametrize("pen", PENALTIES, ids=repr)
def test_prox_minimises_its_objective(pen):
    # The prox objective at u is no larger than at random nearby points (brute force).
    s = 0.8
    u = x64(lambda x: pen.prox(x, s), V)
    obj = lambda w: float(np.sum((w - V) ** 2) / (2 * s) + x64(pen.value, w))
    base = obj(u)
    for _ in range(50):
        assert obj(u + 1e-3 * RNG.standard_normal(u.shape)) >= base - 1e-12


def test_values_follow_the_documented_scaling():
    w = np.array([1.0, -2.0, 0.0, 3.0])
    assert float(x64(L1(0.5).value, w)) == pytest.approx(0.5 * 6)
    assert float(x64(L2(0.5).value, w)) == pytest.approx(0.25 * 14)
    assert float(x64(ElasticNet(0.5, 0.2).value, w)) == pytest.approx(0.5 * (0.2 * 6 + 0.4 * 14))
    assert float(x64(Lp(0.5, 3).value, w)) == pytest.approx(0.5 / 3 * (1 + 8 + 27))
    assert float(x64(LInf(0.5).value, w)) == pytest.approx(1.5)
    assert float(x64(WeightedL1(0.5, [1, 2, 3, 0]).value, w)) == pytest.approx(0.5 * 5)


def test_alpha_max_formulas():
    g = np.array([0.5, -2.0, 1.0])
    assert float(x64(L1(1).alpha_max, g)) == 2.0
    assert float(x64(ElasticNet(1, 0.5).alpha_max, g)) == 4.0
    assert float(x64(LInf(1).alpha_max, g)) == 3.5
    assert float(x64(WeightedL1(1, [1.0, 4.0, 0.0]).alpha_max, g)) == 0.5
    with pytest.raises(ValueError, match="alpha_max does not exist"):
        L2(1).alpha_max(jnp.asarray(g))


def test_matrix_coefficients_are_supported():
    W = RNG.standard_normal((6, 3))
    for pen in [L1(0.3), LInf(0.3), Lp(0.3, 1.5), WeightedL1(0.3, np.ones(6))]:
        U = x64(lambda x: pen.prox(x, 1.0), W)
        assert U.shape == W.shape
        d = x64(lambda uu, vv: pen.subdiff_distance(uu, uu - vv), U, W)
        assert np.max(d) < 1e-9


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L1(-1.0), "alpha=-1.0"),
        (lambda: L2(float("nan")), "alpha=nan"),
        (lambda: ElasticNet(1.0, 1.5), "l1_ratio=1.5"),
        (lambda: Lp(1.0, 0.5), "p=0.5"),
        (lambda: Lp(1.0, float("inf")), "p=inf"),
        (lambda: WeightedL1(1.0, [1.0, -1.0]), "weights="),
    ],
)
def test_bad_penalty_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_new_alpha_does_not_recompile():
    f = jax.jit(lambda pen, v: pen.prox(v, 1.0))
    v = jnp.ones(4)
    for a in [0.1, 0.2, 0.3]:
        f(L1(a), v)
        f(Lp(a, 1.5), v)
    assert f._cache_size() == 2  # one per penalty type, none per alpha


def test_penalty_classes_are_distinct_tree_structures():
    # jax caches compiled programs by tree structure: two penalty classes with the same
    # fields (L1 and L2, LInf: one leaf, alpha) must not compare equal, or a program traced
    # for one can run on the other (it did, rarely, with jax.tree_util.register_dataclass).
    same_fields = [L1(0.1), L2(0.1), LInf(0.1)]
    for i, a in enumerate(same_fields):
        for b in same_fields[i + 1 :]:
            assert jax.tree.structure(a) != jax.tree.structure(b)
        assert jax.tree.structure(a) == jax.tree.structure(type(a)(0.5))
        assert jax.tree.unflatten(jax.tree.structure(a), [0.5]) == type(a)(0.5)
    # and one jitted function, called with each in turn, computes each one's value
    value = jax.jit(lambda pen, w: pen.value(w))
    w = jnp.array([1.0, -2.0, 0.5])
    for pen in same_fields:
        assert float(value(pen, w)) == pytest.approx(float(pen.value(w)))
