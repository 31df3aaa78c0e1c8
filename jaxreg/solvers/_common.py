"""Pieces every solver shares: the output record, status codes, the objective and its
gradient in ``(w, b)``, the optimality measure, divergence detection, spectral norms."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
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
    power iteration without forming it, converged to ``rtol`` relative change."""
    n, p = X.shape
    dtype = X.dtype
    if isinstance(X, jax.Array) and min(n, p + int(fit_intercept)) <= EXACT_GRAM_MAX:
        return _gram_lambda_max_exact(X, d, fit_intercept)
    v0 = jax.random.normal(jax.random.PRNGKey(0), (p,), dtype)
    vb0 = jnp.ones((), dtype) if fit_intercept else jnp.zeros((), dtype)

    def apply(v, vb):
        u = d * (X @ v + vb)
        return rmatvec(X, u), (jnp.sum(u) if fit_intercept else jnp.zeros((), dtype))

    def normalize(v, vb):
        nrm = jnp.sqrt(jnp.sum(v**2) + vb**2)
        nrm = jnp.where(nrm > 0, nrm, 1.0)
        return v / nrm, vb / nrm

    def body(state):
        v, vb, lam, _, k = state
        av, avb = apply(v, vb)
        new_lam = jnp.sum(v * av) + vb * avb  # Rayleigh quotient, v normalized
        av, avb = normalize(av, avb)
        return av, avb, new_lam, lam, k + 1

    def cond(state):
        _, _, lam, old, k = state
        return (k < max_iter) & (jnp.abs(lam - old) > rtol * jnp.abs(lam))

    v, vb = normalize(v0, vb0)
    state = (v, vb, jnp.zeros((), dtype), -jnp.ones((), dtype), 0)
    _, _, lam, _, _ = lax.while_loop(cond, body, state)
    return lam
