"""Pieces every solver shares: the output record, status codes, the objective and its
gradient in ``(w, b)``, the optimality measure, divergence detection, spectral norms."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

RUNNING, CONVERGED, MAX_ITER, DIVERGED = -1, 0, 1, 2
STATUS_NAMES = {CONVERGED: "converged", MAX_ITER: "max_iter", DIVERGED: "diverged"}

# An objective this many times its starting value (or non-finite) counts as divergence.
DIVERGENCE_FACTOR = 1e10


class Data(NamedTuple):
    """The training data as the solvers see it (``weights`` sum to anything > 0)."""

    X: jax.Array
    y: jax.Array
    weights: jax.Array


class Hyper(NamedTuple):
    """Settings that change between fits without recompiling (traced scalars)."""

    tol: jax.Array
    lipschitz: jax.Array  # Lipschitz constant of the smooth part's gradient in (w, b)
    learning_rate: jax.Array
    decay: jax.Array  # decay rate of the learning-rate schedule (per epoch)
    key: jax.Array  # PRNG key for shuffling


class SolverOutput(NamedTuple):
    """What every solver returns (device arrays; ``fit`` turns them into a FitResult)."""

    coef: jax.Array
    intercept: jax.Array
    n_iter: jax.Array
    status: jax.Array
    stop_crit: jax.Array
    history: jax.Array
    criterion: jax.Array  # index into the solver's CRITERIA tuple


def rmatvec(X, g):
    """``X^T g`` for a dense ``X`` as a contraction over the sample axis.

    XLA's CPU backend materialises the transpose on every loop iteration for ``X.T @ g``
    (7x slower than this on 1000 x 5000 float64, measured); sparse containers keep their
    own ``X.T @ g``.
    """
    if isinstance(X, jax.Array):
        out = jnp.tensordot(g, X, axes=(0, 0))
        return out.T if out.ndim == 2 else out
    return X.T @ g


def predict(X, w, b):
    """``z = X @ w + b`` for a coefficient vector (p,) or matrix (p, K)."""
    return X @ w + b


def datafit(data: Data, loss, w, b):
    return loss.value(data.y, predict(data.X, w, b), data.weights)


def smooth_part(data: Data, loss, penalty, w, b):
    """The differentiable part of the objective: the datafit, plus the penalty if smooth."""
    f = datafit(data, loss, w, b)
    return f + penalty.value(w) if penalty.smooth else f


def objective(data: Data, loss, penalty, w, b):
    return datafit(data, loss, w, b) + penalty.value(w)


def value_and_grads(fun, w, b, fit_intercept):
    """``fun(w, b)`` and its gradient in ``(w, b)`` by ``jax.value_and_grad``; the
    intercept's gradient is zero when the intercept is not fitted."""
    f, (gw, gb) = jax.value_and_grad(fun, argnums=(0, 1))(w, b)
    return f, gw, (gb if fit_intercept else jnp.zeros_like(gb))


def optimality(penalty, w, gw, gb):
    """Max over coordinates of the subdifferential distance (``inf`` norm), intercept
    included (its optimality condition is a zero gradient).

    ``gw`` must be the gradient of the datafit alone for a non-smooth penalty and of the
    smooth part (datafit + penalty) for a smooth one only if the penalty's own term is
    subtracted; solvers pass the datafit gradient and let the penalty add its own term.
    """
    dist = jnp.max(penalty.subdiff_distance(w, gw))
    return jnp.maximum(dist, jnp.max(jnp.abs(gb)))


def is_diverged(F, F0):
    scale = jnp.maximum(jnp.abs(F0), jnp.finfo(F.dtype).tiny)
    return (~jnp.isfinite(F)) | (F > DIVERGENCE_FACTOR * scale)


def empty_history(max_iter, dtype):
    """Preallocated objective history, NaN where no iteration wrote."""
    return jnp.full((max_iter,), jnp.nan, dtype)


# Up to this many rows or columns the Gram matrix is formed and its top eigenvalue taken
# exactly (one pass over X, n p min(n, p) flops); beyond it, power iteration.
EXACT_GRAM_MAX = 1024


def _gram_lambda_max_exact(X, d, fit_intercept):
    n, p = X.shape
    A = jnp.concatenate([X, jnp.ones((n, 1), X.dtype)], axis=1) if fit_intercept else X
    As = A * jnp.sqrt(d)[:, None]
    # The nonzero eigenvalues of As^T As and As As^T coincide: use the smaller one.
    G = As.T @ As if A.shape[1] <= n else As @ As.T
    return jnp.linalg.eigvalsh(G)[-1]


def gram_lambda_max(X, d, fit_intercept, max_iter=200, rtol=1e-7):
    """Largest eigenvalue of ``A^T diag(d) A`` with ``A = [X, 1]`` (or ``X``): exactly from
    the smaller Gram matrix when ``min(n, p) <= EXACT_GRAM_MAX`` and ``X`` is dense, else by
    :func:`power_iteration` without forming it, converged to ``rtol`` relative change."""
    n, p = X.shape
    dtype = X.dtype
    if isinstance(X, jax.Array) and min(n, p + int(fit_intercept)) <= EXACT_GRAM_MAX:
        return _gram_lambda_max_exact(X, d, fit_intercept)
    v0 = jax.random.normal(jax.random.PRNGKey(0), (p,), dtype)
    vb0 = jnp.ones((), dtype) if fit_intercept else jnp.zeros((), dtype)  # the intercept's coordinate

    def apply(v):
        v, vb = v
        u = d * (X @ v + vb)
        return rmatvec(X, u), (jnp.sum(u) if fit_intercept else jnp.zeros((), dtype))

    return power_iteration(apply, (v0, vb0), max_iter=max_iter, rtol=rtol)


def power_iteration(apply, v0, *, max_iter, rtol, host=False):
    """Largest eigenvalue of the symmetric positive semidefinite operator ``apply``, by power
    iteration from ``v0``: the Rayleigh quotient ``<v, apply(v)>`` of the normalized iterate,
    until it changes by at most ``rtol`` relative, or ``max_iter`` times. It approaches the
    eigenvalue from below.

    ``v0`` is an array whose last axis is the vector (leading axes are independent problems,
    run until every one has converged, one eigenvalue each), or, for one problem, a pair
    ``(v, c)`` of a vector and one more coordinate ``c`` (an intercept's). ``host=True`` runs
    the loop in Python on numpy arrays, for an ``apply`` that is itself a host loop (a pass
    over files); otherwise it is a ``lax.while_loop`` and ``apply`` is traced.
    """
    xp, loop = (np, _python_while_loop) if host else (jnp, lax.while_loop)

    # the reductions are spelled as each caller's were before they shared this function, so
    # the compiled programs (and their rounding) are unchanged
    def vdot(a, b):  # over the last axis
        if isinstance(a, tuple):
            return (a[0] * b[0]).sum() + a[1] * b[1]
        return (a * b).sum(-1)

    def normalize(v):
        if isinstance(v, tuple):
            norm = xp.sqrt((v[0] ** 2).sum() + v[1] ** 2)
            norm = xp.where(norm > 0, norm, 1.0)  # a zero vector stays zero
            return v[0] / norm, v[1] / norm
        norm = xp.linalg.norm(v, axis=-1, keepdims=True)
        return v / xp.where(norm > 0, norm, 1.0)

    def body(state):
        v, lam, _, k = state
        av = apply(v)
        return normalize(av), vdot(v, av), lam, k + 1

    def cond(state):
        _, lam, old, k = state
        return (k < max_iter) & (abs(lam - old) > rtol * abs(lam)).any()

    first = v0[0] if isinstance(v0, tuple) else v0
    lam0 = xp.zeros(first.shape[:-1], first.dtype)
    _, lam, _, _ = loop(cond, body, (normalize(v0), lam0, lam0 - 1, 0))
    return lam


def _python_while_loop(cond, body, state):
    while cond(state):
        state = body(state)
    return state
