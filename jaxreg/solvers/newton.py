"""Damped Newton's method (scikit-learn's "newton-cholesky") for a twice-differentiable
loss with a twice-differentiable penalty, when the dense Hessian is small.

Built to compile small: one ``lax.while_loop`` whose body evaluates the gradient and the
Hessian, takes one Cholesky solve and a backtracking line search (a small inner loop); no
optimizer library. The coefficients are a ``(q, K)`` matrix ``W = [w; b]`` over the design
``A = [X, 1]`` (``q = p + 1``, or ``p`` without an intercept; ``K = 1`` for a coefficient
vector, the number of classes for the multinomial loss), so one code path serves every loss:

* gradient ``A^T G + [grad pen(w); 0]``, ``G = dF/dZ`` at ``Z = A W`` (the intercept is
  not penalized);
* Hessian ``sum_i kron(a_i a_i^T, H_i) + [hess pen(w), 0; 0, 0]``: the loss is a weighted
  mean over samples, so its Hessian in ``Z`` is block diagonal, with a ``K x K`` block
  ``H_i`` per sample (normalized sample weight included) from ``K`` forward-mode products
  of ``dF/dZ``; the penalty's comes from ``jax.hessian`` of its value;
* direction ``-(H + mu I)^{-1} g`` with ``mu = sqrt(eps) max|H|``, a ridge far above
  rounding that keeps the factor finite when ``H`` is singular (no penalty and collinear
  or constant columns; the multinomial intercept's all-ones direction, along which the
  gradient is zero too), and far below the curvature that matters; a gradient step when
  the factor fails anyway (a non-convex user loss);
* step ``t`` in 1, 1/2, 1/4, ... until ``F(W + t dW) <= F + c t <g, dW>`` (Armijo), on
  ``Z + t A dW`` (no product with ``X`` per trial). A line search that finds no decrease
  (the objective is flat to rounding: ``tol`` below what the dtype can reach) ends the
  run unconverged (status ``max_iter``) rather than spinning to ``max_iter``.

Stops when the gradient's ``inf`` norm in ``(w, b)`` is at most ``tol`` (as lbfgs);
``n_iter`` counts Newton steps. A non-finite objective or gradient is divergence, and the
last finite iterate is returned. Each iteration costs ``n (qK)^2`` multiply-adds for the
Hessian and ``(qK)^3 / 3`` for its factor; :func:`small_enough` says when ``auto`` picks
it. Autodiff gives ``Lp(p=2)`` (``|w|^2`` through ``abs``) a zero second derivative at
exactly ``w_j = 0``, so from ``w = 0`` its first step ignores the penalty's curvature; the
line search absorbs that (``L2`` is exact).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxreg._compile import FAST_COMPILE
from jaxreg.penalties import ElasticNet, Lp
from jaxreg.solvers._common import (
    CONVERGED,
    DIVERGED,
    MAX_ITER,
    RUNNING,
    Data,
    SolverOutput,
    empty_history,
)

CRITERIA = ("gradient_norm",)

# Armijo's sufficient-decrease constant and the most step halvings per iteration.
ARMIJO_C = 1e-4
MAX_HALVINGS = 40

# XLA's CPU backend compiles every fusion to its own LLVM module; its older (non-MLIR)
# fusion emitters build them in far less time (experiments/bench_newton_compile.py), and
# the loops they emit are as fast here: a Newton iteration's work is in library calls
# (GEMM, Cholesky). So Newton uses _compile's fast-compile options at every size (other
# programs only on small data). Only the CPU backend reads this option.
COMPILER_OPTIONS = FAST_COMPILE


# ``auto`` picks Newton when its Hessian has at most this many rows, ``(p + 1) K``, and
# forming it (``n ((p + 1) K)^2`` multiply-adds, about 10 ms on one core at the bound)
# costs at most MAX_HESSIAN_WORK per iteration: beyond that lbfgs's cheaper iterations
# tend to win, compilation aside.
MAX_HESSIAN_SIZE = 128
MAX_HESSIAN_WORK = 2**25


def small_enough(n_features, n_samples=None, n_outputs=1):
    """Whether the dense Hessian of a design with this shape is cheap enough for ``auto``
    to prefer Newton (its program compiles in a fraction of lbfgs's time); False when the
    number of features is unknown (None)."""
    if n_features is None:
        return False
    size = (int(n_features) + 1) * int(n_outputs)
    return size <= MAX_HESSIAN_SIZE and (n_samples is None or int(n_samples) * size**2 <= MAX_HESSIAN_WORK)


def handles(loss, penalty):
    """None when Newton applies: a twice-differentiable penalty (none, L2, ElasticNet with
    ``l1_ratio = 0``, Lp with ``p >= 2``), else why not."""
    ridge_like = isinstance(penalty, ElasticNet) and _is_zero(penalty.l1_ratio)
    if not (penalty.smooth or ridge_like) or (isinstance(penalty, Lp) and penalty.p < 2.0):
        return (
            f"newton needs a twice-differentiable penalty (none, L2, ElasticNet with l1_ratio=0, "
            f"Lp with p >= 2), not {penalty!r}; use lbfgs (any differentiable penalty), "
            "fista or ista (exact prox)"
        )
    return None


def _is_zero(value):
    try:
        return float(value) == 0.0
    except (TypeError, jax.errors.ConcretizationTypeError):
        return False


class _State(NamedTuple):
    W: jax.Array  # (q, K): [w; b], one column per class
    Z: jax.Array  # (n, K): A @ W
    k: jax.Array
    crit: jax.Array
    status: jax.Array
    history: jax.Array


def _design(X, fit_intercept):
    """``A = [X, 1]`` (or ``X``) as a dense array; a sparse container is densified by a
    product with the identity (its one operation), which is cheap at the sizes Newton is
    meant for."""
    if not isinstance(X, jax.Array):
        X = X @ jnp.eye(X.shape[1], dtype=X.dtype)
    if not fit_intercept:
        return X
    return jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1)


def _times(A, W, dW):
    """``(A @ W, A @ dW)`` as one product with two (or 2K) columns: XLA's CPU backend
    calls a library GEMM for it, where a matrix-vector product is code-generated (tens of
    ms of compilation each)."""
    K = W.shape[1]
    AW = A @ jnp.concatenate([W, dW], axis=1)
    return AW[:, :K], AW[:, K:]


@partial(jax.jit, static_argnames=("max_iter", "fit_intercept"), compiler_options=COMPILER_OPTIONS)
def newton(data: Data, loss, penalty, w0, b0, hyper, *, max_iter=100, fit_intercept=True):
    """Damped Newton with a Cholesky solve and Armijo backtracking; see the module."""
    dtype = data.X.dtype
    vector = w0.ndim == 1
    p = w0.shape[0]
    A = _design(data.X, fit_intercept)
    n, q = A.shape
    K = 1 if vector else w0.shape[1]
    eps = jnp.finfo(dtype).eps

    def unpack(W):
        """``W`` (q, K) -> ``(w, b)`` in the caller's shapes."""
        w = W[:p, 0] if vector else W[:p]
        if not fit_intercept:
            return w, jnp.zeros_like(b0)
        return w, (W[p, 0] if vector else W[p])

    def datafit(Z):
        return loss.value(data.y, Z[:, 0] if vector else Z, data.weights)

    def penalty_value(W):
        return penalty.value(unpack(W)[0])

    def derivatives(Z):
        """The datafit, ``dF/dZ`` (n, K) and the per-sample Hessian blocks in ``Z``,
        ``[m, i, k] = d^2 F / dZ_ik dZ_im``: the datafit is a weighted mean over samples,
        so its Hessian in ``Z`` is block diagonal, and one forward product per class (along
        ``e_m`` in every sample at once) gives every block's column ``m``."""
        tangents = jnp.broadcast_to(jnp.eye(K, dtype=dtype)[:, None, :], (K, n, K))

        def along(t):
            primal, (_, dG) = jax.jvp(jax.value_and_grad(datafit), (Z,), (t,))
            return primal, dG

        (F, G), blocks = jax.vmap(along, out_axes=((None, None), 0))(tangents)
        return F, G, blocks

    def gradient_and_hessian(G, blocks, W):
        # B[i, k, l, m] = A_il H_i[k, m]; one product A^T [G, B] gives the gradient and
        # the Hessian H[j, k, l, m] = sum_i A_ij A_il H_i[k, m] together
        if vector:
            B = blocks[0] * A
        else:
            B = A[:, None, :, None] * jnp.transpose(blocks, (1, 2, 0))[:, :, None, :]
        M = jnp.tensordot(A, jnp.concatenate([G, B.reshape(n, K * q * K)], axis=1), axes=(0, 0))
        g = M[:, :K] + jax.grad(penalty_value)(W)
        H = M[:, K:].reshape(q * K, q * K) + jax.hessian(penalty_value)(W).reshape(q * K, q * K)
        return g.ravel(), H

    def direction(H, g):
        """``-(H + mu I)^{-1} g`` and its slope ``<g, d>``; a gradient step scaled by the
        largest curvature when the Cholesky factor fails."""
        # max |H_jk| is the largest diagonal entry of a positive semi-definite H
        scale = jnp.maximum(jnp.max(jnp.abs(H)), jnp.finfo(dtype).tiny)
        # a ridge far above rounding and far below the curvature that matters
        L = lax.linalg.cholesky(H + jnp.sqrt(eps) * scale * jnp.eye(q * K, dtype=dtype), symmetrize_input=False)
        solve = partial(lax.linalg.triangular_solve, L, left_side=True, lower=True)
        d = solve(solve(-g[:, None]), transpose_a=True)[:, 0]
        slope = jnp.vdot(g, d)
        ok = (slope < 0) & (slope > -jnp.inf)  # a non-finite d makes the slope non-finite
        d = jnp.where(ok, d, -g / scale)
        return d.reshape(q, K), jnp.where(ok, slope, -jnp.vdot(g, g) / scale)

    def line_search(run, Z, W, F, dZ, dW, slope):
        """The largest ``t`` in 1, 1/2, 1/4, ... with ``F(t) <= F + c t slope`` (Armijo),
        ``F(t)``, and whether one was found (at most ``MAX_HALVINGS`` halvings)."""

        def armijo(t, Ft):
            return Ft <= F + ARMIJO_C * t * slope

        def cond(s):
            t, Ft = s
            return run & ~armijo(t, Ft) & (t > 2.0**-MAX_HALVINGS)

        def body(s):
            t = 0.5 * s[0]
            return t, datafit(Z + t * dZ) + penalty_value(W + t * dW)

        t, Ft = lax.while_loop(cond, body, (jnp.asarray(2.0, dtype), jnp.asarray(jnp.nan, dtype)))
        return t, Ft, armijo(t, Ft)

    def body(s: _State):
        # evaluate at the current point, then stop there or take one damped Newton step
        F, G, blocks = derivatives(s.Z)
        F = F + penalty_value(s.W)
        g, H = gradient_and_hessian(G, blocks, s.W)
        crit = jnp.max(jnp.abs(g))
        bad = ~jnp.isfinite(F + crit)
        run = ~bad & (crit > hyper.tol) & (s.k < max_iter)
        dW, slope = direction(H, g)
        Z, dZ = _times(A, s.W, dW)
        t, Ft, found = line_search(run, Z, s.W, F, dZ, dW, slope)
        stepped = run & found
        # a line search without decrease ends the run: diverged if the objective went
        # non-finite, else unconverged (flat to rounding: tol out of reach in this dtype)
        status = jnp.where(
            bad | (run & ~jnp.isfinite(Ft)),
            DIVERGED,
            jnp.where(crit <= hyper.tol, CONVERGED, jnp.where(stepped, RUNNING, MAX_ITER)),
        )
        return _State(
            W=jnp.where(stepped, s.W + t * dW, s.W),
            Z=jnp.where(stepped, Z + t * dZ, Z),
            k=s.k + stepped.astype(jnp.int32),
            crit=crit,
            status=status.astype(jnp.int32),
            history=s.history.at[s.k].set(jnp.where(stepped, Ft, jnp.nan), mode="drop"),
        )

    w_col = w0[:, None] if vector else w0
    W0 = jnp.concatenate([w_col, jnp.reshape(b0, (1, K))], axis=0) if fit_intercept else w_col
    W0 = W0.astype(dtype)
    s0 = _State(
        W0,
        _times(A, W0, W0)[0],
        jnp.zeros((), jnp.int32),
        jnp.asarray(jnp.inf, dtype),
        jnp.asarray(RUNNING, jnp.int32),
        empty_history(max_iter, dtype),
    )
    s = lax.while_loop(lambda s: s.status == RUNNING, body, s0)
    w, b = unpack(s.W)
    return SolverOutput(w, b.astype(b0.dtype), s.k, s.status, s.crit, s.history, jnp.asarray(0))
