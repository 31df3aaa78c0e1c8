"""Proximal Newton on a working set of groups (skglm's ``GroupProxNewton``): the inner
solve of :mod:`jaxreg.solvers.group_bcd` for every loss but the squared one.

Each iteration replaces the loss by its second-order model at the predictions ``z``
(``sum d (g u + h u^2 / 2)`` in the change ``u`` of the predictions, ``g, h`` the loss's
derivatives from :meth:`jaxreg.losses.Loss.derivatives`), minimises that model plus the
penalty by block coordinate descent (block ``k``'s step ``1 / H_k``, ``H_k`` the largest
eigenvalue of ``X_k diag(d h) X_k^T``: exact for the model; the intercept one more
coordinate), then searches along the direction found on the true objective (Armijo,
halving). Any loss whose ``derivatives`` exist works (Poisson's unbounded curvature
included: the line search keeps every step a descent).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxreg.penalties import prox_block, residual_block

__all__ = ["inner_newton", "INNER_NEWTON"]

PN_MAX = 50  # proximal Newton iterations per working set
CD_MAX = 500  # block coordinate descent epochs per proximal Newton iteration
CD_FRACTION = 0.3  # the model is solved to this fraction of the working set's criterion
LINE_SEARCH_STEPS = 30
ARMIJO = 1e-4

_dot = partial(jnp.matmul, precision=lax.Precision.HIGHEST)


def _norm(v):
    return jnp.sqrt(jnp.sum(v * v))


class _PN(NamedTuple):
    x: jax.Array  # (cap, width) working-set coefficients
    b: jax.Array
    z: jax.Array
    crit: jax.Array
    it: jax.Array
    epochs: jax.Array


def _each(fn, size, out):
    """``out[k] = fn(k)`` for the first ``size`` working-set entries (the padding stays)."""
    return lax.fori_loop(0, size, lambda k, o: o.at[k].set(fn(k)), out)


def inner_newton(XG, ws, size, lips, y, d, wg, b, z, loss, penalty, tol_in, *, n_features, fit_intercept):
    """Proximal Newton on the blocks ``ws`` (``size`` of them; padded with the number of
    blocks) to ``tol_in`` (the working set's largest subdifferential distance, intercept
    included). Returns ``(wg, b, z, epochs)`` as :func:`jaxreg.solvers.group_bcd.inner`."""
    dtype = z.dtype
    t, l1 = penalty.block_terms(n_features, dtype)
    t, l1 = t.at[ws].get(mode="fill", fill_value=0.0), l1.at[ws].get(mode="fill", fill_value=0.0)
    zero = jnp.zeros((), dtype)

    def block(k):
        return lax.dynamic_index_in_dim(XG, ws[k], keepdims=False)

    def pen(x):
        return jnp.vdot(t, jax.vmap(_norm)(x)) + jnp.sum(l1 * jnp.abs(x))

    def F(z, x):
        return jnp.vdot(d, loss.per_sample(y, z)) + pen(x)

    def derivs(z):
        g, h = loss.derivatives(y, z)
        return d * g, d * h

    def ws_crit(x, z):
        g, _ = derivs(z)
        grad = _each(lambda k: _dot(block(k), g), size, jnp.zeros(x.shape, dtype))
        dist = jax.vmap(_norm)(jax.vmap(residual_block)(x, grad, t, l1))
        gb = jnp.abs(jnp.sum(g)) if fit_intercept else zero
        return jnp.maximum(jnp.max(dist), gb)

    def pn_step(s: _PN):
        g, h = derivs(s.z)

        def curvature(k):
            Xk = block(k)
            return jnp.linalg.eigvalsh(_dot(Xk * h, Xk.T))[-1]

        H = _each(curvature, size, jnp.zeros(ws.shape[0], dtype))
        Hb = jnp.sum(h)
        tol_cd = CD_FRACTION * s.crit

        def epoch(c):
            x, db, u, _, k = c

            def body(i, c):
                x, u, big = c
                Xk, Hk = block(i), H[i]
                safe = jnp.where(Hk > 0, Hk, 1.0)
                grad = _dot(Xk, g + h * u)
                new = jnp.where(Hk > 0, prox_block(x[i] - grad / safe, 1.0 / safe, t[i], l1[i]), x[i])
                u = u + _dot(new - x[i], Xk)
                return x.at[i].set(new), u, jnp.maximum(big, Hk * _norm(new - x[i]))

            x, u, big = lax.fori_loop(0, size, body, (x, u, zero))
            if fit_intercept:
                step = jnp.where(Hb > 0, jnp.sum(g + h * u) / jnp.where(Hb > 0, Hb, 1.0), 0.0)
                u, db, big = u - step, db - step, jnp.maximum(big, Hb * jnp.abs(step))
            return x, db, u, big, k + 1

        x0 = s.x
        init = (x0, zero, jnp.zeros_like(s.z), jnp.asarray(jnp.inf, dtype), 0)
        x, db, u, _, n_epochs = lax.while_loop(lambda c: (c[3] > tol_cd) & (c[4] < CD_MAX), epoch, init)
        dx = x - x0
        F0 = F(s.z, x0)
        descent = jnp.vdot(g, u) + pen(x) - pen(x0)  # g.u = grad.dx + sum(g) db
        slack = 10 * jnp.finfo(dtype).eps * jnp.abs(F0)  # rounding, so that noise near the optimum passes

        def ls_more(c):
            return ~c[2] & (c[1] < LINE_SEARCH_STEPS)

        def ls_body(c):
            step, i, _ = c
            step = jnp.where(i == 0, step, 0.5 * step)
            Ft = F(s.z + step * u, x0 + step * dx)
            return step, i + 1, jnp.isfinite(Ft) & (Ft <= F0 + ARMIJO * step * jnp.minimum(descent, 0.0) + slack)

        step, _, ok = lax.while_loop(ls_more, ls_body, (jnp.ones((), dtype), 0, jnp.asarray(False)))
        step = jnp.where(ok, step, 0.0)
        x, b, z = x0 + step * dx, s.b + step * db, s.z + step * u
        crit = jnp.where(ok, ws_crit(x, z), 0.0)  # no progress: hand back to the outer loop
        return _PN(x, b, z, crit, s.it + 1, s.epochs + n_epochs)

    x0 = wg.at[ws].get(mode="fill", fill_value=0.0)
    s0 = _PN(x0, b, z, ws_crit(x0, z), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    s = lax.while_loop(lambda s: (s.crit > tol_in) & (s.it < PN_MAX), pn_step, s0)
    return wg.at[ws].set(s.x, mode="drop"), s.b, s.z, s.epochs


INNER_NEWTON = jax.jit(inner_newton, static_argnames=("n_features", "fit_intercept"))
