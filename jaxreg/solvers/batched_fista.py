"""A whole regularization path at once: FISTA on every ``alpha`` together, each iteration two
matrix products with the design.

The working-set solver walks a path one ``alpha`` after the other, with warm starts and
coordinate descent: the fastest way on a CPU, and a poor fit for a GPU, where one
coordinate update is a handful of tiny kernels. Here the ``B`` problems of a batch (the
``alphas`` of a path; any problems on one design: the rows of ``l1``, ``l2`` and
``weights``) are solved together: the coefficients are a ``(B, p)`` matrix ``W`` and an
iteration costs ``W @ XT`` and ``(D R) @ XT^T``, two products of shape ``B x p x n`` that
keep a GPU busy, whatever ``B``.

Per problem ``b`` the objective is the working-set solver's (:mod:`working_set`): weighted
squared loss with the optimal (unpenalized) intercept, ``1/2 sum_i d_i (yc_i - xc_i w)^2 +
sum_j l1_j |w_j| + l2 / 2 ||w||^2``, the centring by the weighted means never formed
(``Xc w = X w - xbar . w``).

* Step ``1 / L`` with ``L`` the largest eigenvalue of ``Xc^T D Xc`` (power iteration on all
  problems at once, then a 5% margin: the estimate comes from below), so no backtracking;
  the proximal step is soft-thresholding then the ridge shrinkage.
* FISTA momentum with gradient-based adaptive restart, per problem (O'Donoghue & Candes).
* Stopping: the relative duality gap of :func:`working_set_check.criterion` at the iterate,
  computed every ``check_every`` iterations (one more product); a problem that meets
  ``tol`` is frozen, and the loop ends when all have (or at ``max_iter``).

No warm starts: every ``alpha`` starts from zero and they run in lock step, so the smallest
``alpha`` sets the number of iterations. That is the price of one big product instead of
many small ones; on a CPU the working-set path is faster (``experiments/REPORT.md``).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxreg.solvers._common import CONVERGED, MAX_ITER, power_iteration
from jaxreg.solvers.working_set_check import Prep, correlate, criterion, dot, predict

POWER_ITERATIONS = 100
POWER_RTOL = 1e-6
STEP_MARGIN = 1.05  # L from power iteration is a lower bound: step 1 / (1.05 L)


# the working set's one-problem passes, over a leading axis of problems: vmap turns the
# matrix-vector products into the two matrix products per iteration
predict_c = jax.vmap(predict, in_axes=(None, 0, 0))  # Xc W (B, n)
correlate_c = jax.vmap(correlate, in_axes=(None, 0, 0, 0))  # Xc^T D R (B, p)


def lipschitz(XT, xbar, d):
    """Largest eigenvalue of ``Xc^T D_b Xc`` for every problem ``b``, by power iteration."""
    B, p = xbar.shape
    lam = power_iteration(
        lambda V: correlate_c(XT, xbar, d, predict_c(XT, xbar, V)),
        jnp.ones((B, p), xbar.dtype),  # normalized to ones / sqrt(p)
        max_iter=POWER_ITERATIONS,
        rtol=POWER_RTOL,
    )
    return jnp.maximum(lam, jnp.finfo(xbar.dtype).tiny)


class _State(NamedTuple):
    Wx: jax.Array  # iterate (B, p)
    Rx: jax.Array  # its centred residual yc - Xc Wx (B, n)
    Wy: jax.Array  # extrapolated point
    Ry: jax.Array
    t: jax.Array  # momentum (B,)
    crit: jax.Array  # last criterion per problem (B,)
    done: jax.Array  # (B,) bool
    k: jax.Array


@partial(jax.jit, static_argnames=("fit_intercept", "max_iter", "check_every"))
def fista_batch(XT, y, weights, l1, l2, tol, *, fit_intercept: bool, max_iter: int, check_every: int = 10):
    """Solve the ``B`` problems (rows of ``y``, ``weights`` (B, n), ``l1`` (B, p), ``l2``
    (B,)) on the design ``XT`` (p, n). Returns ``(W, b, n_iter, status, crit)``: status
    per problem (converged or max_iter), ``crit`` the relative duality gap reached."""
    dtype = XT.dtype
    d = weights / jnp.sum(weights, axis=1, keepdims=True)
    if fit_intercept:
        xbar = jax.vmap(lambda di: dot(XT, di))(d)  # (B, p)
        ybar = jnp.sum(d * y, axis=1)
    else:
        xbar = jnp.zeros((y.shape[0], XT.shape[0]), dtype)
        ybar = jnp.zeros(y.shape[0], dtype)
    yc = y - ybar[:, None]
    prep = Prep(d, xbar, yc, ybar, jnp.sum(d * yc * yc, axis=1))
    step = 1.0 / (STEP_MARGIN * lipschitz(XT, xbar, d))  # (B,); the ridge part is in the prox

    def prox(V, s):
        # prox of s (l1 |.| + l2/2 |.|^2) after the gradient step of the loss alone
        return jnp.sign(V) * jnp.maximum(jnp.abs(V) - s[:, None] * l1, 0.0) / (1.0 + s[:, None] * l2[:, None])

    gap = jax.vmap(lambda corr, w, r, pr, a, c: criterion(corr, w, r, pr, a, c)[0])

    def body(s: _State):
        G = -correlate_c(XT, xbar, d, s.Ry)  # gradient of the loss at the extrapolated point
        W = prox(s.Wy - step[:, None] * G, step)
        R = yc - predict_c(XT, xbar, W)
        uphill = jnp.sum((s.Wy - W) * (W - s.Wx), axis=1) > 0
        t_next = jnp.where(uphill, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * s.t**2)))
        beta = jnp.where(uphill, 0.0, (s.t - 1.0) / t_next)[:, None]
        keep = s.done[:, None]
        Wx, Rx = jnp.where(keep, s.Wx, W), jnp.where(keep, s.Rx, R)
        Wy, Ry = jnp.where(keep, s.Wy, W + beta * (W - s.Wx)), jnp.where(keep, s.Ry, R + beta * (R - s.Rx))
        k = s.k + 1

        def measure():
            c = gap(correlate_c(XT, xbar, d, Rx), Wx, Rx, prep, l1, l2)
            return c, s.done | (c <= tol)

        crit, done = lax.cond(k % check_every == 0, measure, lambda: (s.crit, s.done))
        return _State(Wx, Rx, Wy, Ry, jnp.where(s.done, s.t, t_next), crit, done, k)

    def cond(s: _State):
        return (s.k < max_iter) & ~jnp.all(s.done)

    W0 = jnp.zeros_like(l1)
    c0 = gap(correlate_c(XT, xbar, d, yc), W0, yc, prep, l1, l2)
    s0 = _State(W0, yc, W0, yc, jnp.ones_like(ybar), c0, c0 <= tol, jnp.zeros((), jnp.int32))
    s = lax.while_loop(cond, body, s0)
    crit = gap(correlate_c(XT, xbar, d, s.Rx), s.Wx, s.Rx, prep, l1, l2)
    status = jnp.where(crit <= tol, CONVERGED, MAX_ITER)
    b = ybar - jnp.sum(xbar * s.Wx, axis=1)
    return s.Wx, b, s.k, status, crit
