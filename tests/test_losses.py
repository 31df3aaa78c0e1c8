"""Losses against their formulas, numerical stability, and Lipschitz constants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxreg.losses import Logistic, Multinomial, Squared, get_loss

rng = np.random.default_rng(0)


def x64(f, *a):
    with jax.enable_x64(True):
        return np.asarray(f(*(jnp.asarray(x) for x in a)))


def test_squared_value_and_weights():
    y, z = rng.standard_normal(10), rng.standard_normal(10)
    assert float(x64(Squared().value, y, z)) == pytest.approx(np.sum((y - z) ** 2) / 20)
    w = rng.uniform(0.5, 2, 10)
    assert float(x64(Squared().value, y, z, w)) == pytest.approx(np.sum(w * (y - z) ** 2) / (2 * w.sum()))


def test_logistic_value_is_stable_for_huge_margins():
    s = np.array([1.0, -1.0, 1.0, -1.0])
    z = np.array([1000.0, 1000.0, -1000.0, 0.3])
    val = x64(Logistic().per_sample, s, z)
    assert np.all(np.isfinite(val))
    np.testing.assert_allclose(val, [0.0, 1000.0, 1000.0, np.log1p(np.exp(0.3))], rtol=1e-12, atol=1e-300)
    g = x64(Logistic().grad_z, s, z)
    assert np.all(np.isfinite(g))


def test_multinomial_value_matches_formula():
    z = rng.standard_normal((6, 3)) * 50
    yk = np.eye(3)[rng.integers(0, 3, 6)]
    ref = np.mean(np.log(np.sum(np.exp(z - z.max(1, keepdims=True)), 1)) + z.max(1) - np.sum(yk * z, 1))
    assert float(x64(Multinomial().value, yk, z)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("loss, c", [(Squared(), 1.0), (Logistic(), 0.25)])
def test_lipschitz_is_the_largest_eigenvalue(loss, c, fit_intercept):
    X = rng.standard_normal((40, 7)) @ rng.standard_normal((7, 7))
    A = np.c_[X, np.ones(40)] if fit_intercept else X
    ref = c * np.linalg.eigvalsh(A.T @ A / 40).max()
    assert float(x64(lambda a: loss.lipschitz(a, None, fit_intercept), X)) == pytest.approx(ref, rel=1e-6)


def test_lipschitz_bounds_the_logistic_gradient_change():
    X = rng.standard_normal((30, 4))
    s = np.sign(rng.standard_normal(30))
    loss = Logistic()
    L = float(x64(lambda a: loss.lipschitz(a, None, False), X))
    with jax.enable_x64(True):
        grad = jax.grad(lambda w: loss.value(jnp.asarray(s), jnp.asarray(X) @ w))
        for _ in range(20):
            a, b = jnp.asarray(rng.standard_normal(4)), jnp.asarray(rng.standard_normal(4))
            assert float(jnp.linalg.norm(grad(a) - grad(b))) <= L * float(jnp.linalg.norm(a - b)) + 1e-12


def test_init_intercepts_are_the_optimal_intercepts():
    y = rng.standard_normal(50) + 2
    assert float(x64(Squared().init_intercept, y)) == pytest.approx(y.mean())
    s = np.where(rng.uniform(size=50) < 0.3, 1.0, -1.0)
    b = float(x64(Logistic().init_intercept, s))
    p = np.mean(s > 0)
    assert b == pytest.approx(np.log(p / (1 - p)))


def test_get_loss():
    assert isinstance(get_loss("squared"), Squared)
    with pytest.raises(ValueError, match="loss='l2' is not a known loss"):
        get_loss("l2")
