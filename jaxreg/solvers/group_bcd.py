"""Block coordinate descent over groups, with working sets of groups (skglm's ``GroupBCD``,
written over the ``Loss`` and ``GroupPenalty`` interfaces), for the group penalties
(:class:`jaxreg.penalties.GroupLasso`, :class:`jaxreg.penalties.SparseGroupLasso`) with
any loss of one prediction per sample, on a dense design.

The design is laid out once by block: ``XG`` (blocks, width, n), block ``k`` the columns
of the penalty's :class:`~jaxreg.penalties.GroupLayout` row ``k`` (zero rows in the
padding), so a block's columns are one contiguous slice. The outer loop runs on the host
and calls two compiled pieces:

``check`` (one pass over the design)
    the gradient of every block, each block's distance of ``-grad`` to the penalty's
    subdifferential (:func:`jaxreg.penalties.residual_block`: the working set's scores and,
    their maximum with the intercept's gradient, the stopping criterion, the measure skglm
    stops on), the objective;
``inner`` (static capacity: every block up to ``ONE_CAP`` blocks, else a power of two)
    on the working set (the groups with a nonzero coefficient and the largest scores
    elsewhere, ``max(WS_MIN, 2 |support|)`` groups, skglm's rule). For the squared loss,
    epochs of block proximal-gradient steps ``w_g <- prox(w_g - grad_g / L_g, 1 / L_g)``
    (exact prox; ``L_g = lambda_max(X_g^T D X_g)``: the step minimises a majorant), the
    intercept updated exactly after each epoch, an Anderson extrapolation every
    ``ANDERSON_K + 1`` epochs kept if it lowers the objective; the epochs stop when the
    largest ``L_g ||step_g||`` (the norm of the block gradient mapping, zero exactly at the
    working set's optimum) falls below the working set's tolerance. For every other loss,
    proximal Newton with the same block steps on the loss's second-order model and a line
    search (:mod:`jaxreg.solvers.group_newton`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._buckets import aligned_empty
from jaxreg._compile import Compiler
from jaxreg.losses import Loss, Squared
from jaxreg.penalties import GroupPenalty, Penalty, prox_block, residual_block
from jaxreg.solvers import engine as _engine
from jaxreg.solvers._common import CONVERGED, DIVERGED, MAX_ITER, SolverOutput
from jaxreg.solvers.group_newton import INNER_NEWTON
from jaxreg.solvers.working_set import CRITERIA
from jaxreg.solvers.working_set_kernels import anderson_weights

__all__ = ["handles", "group_bcd", "solve", "solve_path", "problem", "CRITERIA"]

# ("duality_gap", "subdiff_distance") as the working set's (one table for paths); this one
# reports the second

WS_MIN = 10  # smallest working set, in groups (skglm's p0)
WS_GROWTH = 2  # the working set holds this many times the groups in the support
ONE_CAP = 64  # up to this many blocks every working set takes them all (one program)
SMALL_CAP = 16  # the smallest capacity beyond that
EPOCHS_MAX = 20_000  # epochs per working set
ANDERSON_K = 5  # extrapolate from the last K + 1 epochs (skglm's default)
INNER_FRACTION = 0.3  # the working set is solved to this fraction of the largest violation outside it

HIGHEST = lax.Precision.HIGHEST
_dot = partial(jnp.matmul, precision=HIGHEST)


def handles(loss: Loss, penalty: Penalty) -> str | None:
    """None when the block coordinate descent takes the pair, else why not."""
    if not isinstance(penalty, GroupPenalty):
        return (
            f"group_bcd fits the group penalties (GroupLasso, SparseGroupLasso), not {penalty!r}; "
            "use working_set for separable penalties or fista"
        )
    if not loss.elementwise:
        return f"group_bcd needs a loss of one prediction per sample, not {loss.name!r}; use fista"
    return None


def _norm(v):
    return jnp.sqrt(jnp.sum(v * v))


# ----------------------------------------------------------------------------- pieces


class Problem(NamedTuple):
    """What stays the same across the fits on one design (a path's alphas)."""

    XG: jax.Array  # (blocks, width, n): the design by block
    index: np.ndarray  # the layout's (blocks, width) feature indices (p in the padding)
    lips: jax.Array  # (blocks,) lambda_max(X_g^T D X_g)
    y: jax.Array
    d: jax.Array  # sample weights summing to 1
    n_features: int
    fit_intercept: bool


def problem(X, y, weights, penalty: GroupPenalty, *, fit_intercept: bool, like: Problem | None = None) -> Problem:
    """``X`` (dense numpy, rows as many as ``y``) laid out by block and put on the device
    once (or taken from ``like``, a problem on the same ``X``, when only ``y`` or the
    weights change)."""
    dtype = np.dtype(y.dtype)
    sw = np.asarray(weights, dtype)
    d = (sw / np.sum(sw)).astype(dtype)
    n, p = X.shape
    index = penalty.layout(p).index
    if like is not None and like.index is index:
        XG = like.XG
    else:
        XG = layout_design(X, index, dtype)
    # each block's Lipschitz constant: the largest eigenvalue of its weighted Gram matrix
    # (width x width, one batched eigvalsh); equal weights need no weighted copy of X
    XGn = np.asarray(XG)
    if np.all(d == d[0]):
        gram = np.matmul(XGn, XGn.transpose(0, 2, 1)) * d[0]
    else:
        root = np.sqrt(d)
        gram = np.matmul(XGn * root, (XGn * root).transpose(0, 2, 1))
    lips = np.linalg.eigvalsh(gram)[:, -1] if gram.shape[1] > 1 else gram[:, 0, 0]
    lips = np.maximum(lips, 0.0).astype(dtype)
    return Problem(XG, index, jax.device_put(lips), y, jax.device_put(d), p, bool(fit_intercept))


def layout_design(X, index, dtype):
    """``XG`` (blocks, width, n) on the device: the columns of ``X`` in block order, zero
    rows in the padding. Made on the host in one aligned buffer (the CPU backend takes it
    in place): the transpose itself when the blocks are the features in order."""
    n, p = X.shape
    blocks, width = index.shape
    XT = aligned_empty((p, n), dtype)
    XT[...] = np.asarray(X).T  # one transposing copy
    if blocks * width == p and np.array_equal(index.ravel(), np.arange(p)):
        return jax.device_put(XT.reshape(blocks, width, n))
    XG = aligned_empty((blocks * width, n), dtype)
    flat = index.ravel()
    np.take(XT, np.minimum(flat, p - 1), axis=0, out=XG)  # whole rows: contiguous copies
    XG[flat == p] = 0.0
    return jax.device_put(XG.reshape(blocks, width, n))


class Check(NamedTuple):
    crit: jax.Array
    scores: jax.Array  # (blocks,): the distance to the subdifferential
    obj: jax.Array
    z: jax.Array


def _objective(loss, y, d, z, wg, t, l1):
    return jnp.vdot(d, loss.per_sample(y, z)) + jnp.vdot(t, jax.vmap(_norm)(wg)) + jnp.sum(l1 * jnp.abs(wg))


def check(XG, y, d, wg, b, z, loss, penalty, *, n_features: int, fit_intercept: bool):
    """One pass: the scores and the criterion at ``z`` (computed from ``wg`` first when
    None)."""
    if z is None:
        z = jnp.tensordot(wg, XG, axes=((0, 1), (0, 1)), precision=HIGHEST) + b
    r = d * loss.derivatives(y, z)[0]
    grad = jnp.tensordot(XG, r, axes=(2, 0), precision=HIGHEST)  # (blocks, width)
    t, l1 = penalty.block_terms(n_features, z.dtype)
    dist = jax.vmap(_norm)(jax.vmap(residual_block)(wg, grad, t, l1))
    gb = jnp.abs(jnp.sum(r)) if fit_intercept else jnp.zeros((), z.dtype)
    crit = jnp.maximum(jnp.max(dist, initial=0.0), gb)
    finite = jnp.all(jnp.isfinite(grad)) & jnp.isfinite(gb)
    obj = _objective(loss, y, d, z, wg, t, l1)
    return Check(jnp.where(finite, crit, jnp.nan), dist, obj, z)


def inner(XG, ws, size, lips, y, d, wg, b, z, loss, penalty, tol_in, *, n_features, fit_intercept):
    """Block coordinate descent on the blocks ``ws`` (``size`` of them; padded with the
    number of blocks) for the squared loss, to ``tol_in`` on the largest ``L_g ||step_g||``.
    Returns ``(wg, b, z, epochs)``."""
    dtype = z.dtype
    t, l1 = penalty.block_terms(n_features, dtype)
    t, l1 = t.at[ws].get(mode="fill", fill_value=0.0), l1.at[ws].get(mode="fill", fill_value=0.0)
    L = lips.at[ws].get(mode="fill", fill_value=0.0)
    L = jnp.where(L > 0, L, 1.0)  # an all-zero block: its gradient is 0, its step the prox of the penalty
    zero = jnp.zeros((), dtype)

    def epoch(x, b, z):
        def body(k, c):
            x, z, big = c
            Xk = lax.dynamic_index_in_dim(XG, ws[k], keepdims=False)
            grad = _dot(Xk, d * (z - y))
            new = prox_block(x[k] - grad / L[k], 1.0 / L[k], t[k], l1[k])
            z = z + _dot(new - x[k], Xk)
            return x.at[k].set(new), z, jnp.maximum(big, L[k] * _norm(new - x[k]))

        x, z, big = lax.fori_loop(0, size, body, (x, z, zero))
        if fit_intercept:  # its exact minimiser (the weights sum to 1)
            step = jnp.vdot(d, z - y)
            b, z, big = b - step, z - step, jnp.maximum(big, jnp.abs(step))
        return x, b, z, big

    def F(x, z):
        return _objective(loss, y, d, z, x, t, l1)

    def cd(c):
        x, b, z, _, k, Xh, Bh, Zh = c
        x, b, z, big = epoch(x, b, z)
        slot = k % (ANDERSON_K + 1)
        Xh, Bh, Zh = Xh.at[slot].set(x.ravel()), Bh.at[slot].set(b), Zh.at[slot].set(z)

        def extrapolate(args):
            x, b, z = args
            w = anderson_weights(Xh)
            xa, ba, za = _dot(w, Xh[1:]).reshape(x.shape), _dot(w, Bh[1:]), _dot(w, Zh[1:])
            better = jnp.all(jnp.isfinite(xa)) & (F(xa, za) < F(x, z))
            return jnp.where(better, xa, x), jnp.where(better, ba, b), jnp.where(better, za, z)

        x, b, z = lax.cond(slot == ANDERSON_K, extrapolate, lambda a: a, (x, b, z))
        return x, b, z, big, k + 1, Xh, Bh, Zh

    def more(c):
        return (c[3] > tol_in) & (c[4] < EPOCHS_MAX)  # a NaN change stops it (the check reports it)

    x0 = wg.at[ws].get(mode="fill", fill_value=0.0)
    K1 = ANDERSON_K + 1
    hist = (jnp.zeros((K1, x0.size), dtype), jnp.zeros(K1, dtype), jnp.zeros((K1,) + z.shape, dtype))
    init = (x0, b, z, jnp.asarray(jnp.inf, dtype), 0, *hist)
    x, b, z, _, epochs, *_ = lax.while_loop(more, cd, init)
    return wg.at[ws].set(x, mode="drop"), b, z, epochs


CHECK = jax.jit(check, static_argnames=("n_features", "fit_intercept"))
INNER = jax.jit(inner, static_argnames=("n_features", "fit_intercept"))


# ----------------------------------------------------------------------------- driver


def capacity(size: int, n_blocks: int) -> int:
    """The static capacity for a working set of ``size`` of ``n_blocks`` blocks (each
    capacity is a program to compile): all of them up to ``ONE_CAP``, else the power of two
    at or above ``size`` (at least ``SMALL_CAP``)."""
    if n_blocks <= ONE_CAP:
        return n_blocks
    return min(max(1 << (max(int(size), 1) - 1).bit_length(), SMALL_CAP), n_blocks)


def select(scores, support, size):
    """The blocks of the support and the largest positive scores elsewhere, ``size`` in
    all (numpy)."""
    keep = np.flatnonzero(support)
    m = max(int(size) - len(keep), 0)
    s = np.where(support, -np.inf, scores)
    cand = np.flatnonzero(s > 0)
    if len(cand) > m:
        cand = cand[np.argpartition(-s[cand], m - 1)[:m]] if m > 0 else cand[:0]
    return np.sort(np.concatenate([keep, cand]))


def solve(prob: Problem, loss, penalty, w0, b0, *, tol, max_iter, compiler):
    """The outer loop for one penalty: returns the :class:`SolverOutput`."""
    y, d, p = prob.y, prob.d, prob.n_features
    dtype = np.dtype(y.dtype)
    index = prob.index
    n_blocks = index.shape[0]
    free = ~penalty.layout(p).penalized
    w0 = np.append(np.asarray(w0, dtype), 0.0)
    wg = w0[index]  # (blocks, width)
    b = np.asarray(b0, dtype)
    static = dict(n_features=p, fit_intercept=prob.fit_intercept)
    exact = isinstance(loss, Squared)
    z0 = jax.device_put(np.full(y.shape[0], b, dtype)) if not np.any(wg) else None
    chk = compiler(CHECK, prob.XG, y, d, wg, b, z0, loss, penalty, **static)
    history, n_iter, status = [], 0, MAX_ITER
    while True:
        crit = float(chk.crit)
        if not (np.isfinite(crit) and np.isfinite(float(chk.obj))):
            status = DIVERGED
            break
        if n_iter:
            history.append(float(chk.obj))
        if crit <= tol:
            status = CONVERGED
            break
        if n_iter >= max_iter:
            break
        n_iter += 1
        scores = np.asarray(chk.scores)
        support = np.any(wg != 0, axis=1) | free
        size = min(max(WS_MIN, WS_GROWTH * int(np.sum(support))), n_blocks)
        ws = select(scores, support, size)
        cap = max(capacity(len(ws), n_blocks), len(ws))
        ws_pad = np.full(cap, n_blocks, np.int32)
        ws_pad[: len(ws)] = ws
        outside = float(np.max(np.where(support, 0.0, scores), initial=0.0))
        tol_in = np.asarray(max(INNER_FRACTION * outside, 0.9 * tol) if outside > tol else 0.1 * tol, dtype)
        wg_new, b_new, z_new, _ = compiler(
            INNER if exact else INNER_NEWTON, prob.XG, ws_pad, np.int32(len(ws)), prob.lips, y, d, wg, b, chk.z,
            loss, penalty, tol_in, **static,
        )  # fmt: skip
        # the predictions updated in place drift from X w + b in float32: recomputed there
        z_new = z_new if dtype.itemsize >= 8 else None
        chk_new = compiler(CHECK, prob.XG, y, d, wg_new, b_new, z_new, loss, penalty, **static)
        if not np.isfinite(float(chk_new.crit)):
            status = DIVERGED
            break
        wg, b, chk = np.asarray(wg_new), np.asarray(b_new), chk_new
    coef = np.zeros(p + 1, dtype)
    coef[index] = wg
    return SolverOutput(
        coef=coef[:p],
        intercept=np.asarray(b, dtype),
        n_iter=np.asarray(n_iter),
        status=np.asarray(status),
        stop_crit=np.asarray(chk.crit, dtype),
        history=np.asarray(history, dtype),
        criterion=np.asarray(CRITERIA.index("subdiff_distance")),
    )


def group_bcd(data, loss, penalty, w0, b0, hyper, *, max_iter=100, fit_intercept=True):
    """The solver entry point (host-driven): ``data = (X, y, weights)`` with ``X`` a dense
    numpy array (rows padded to ``y``'s length). Returns ``(SolverOutput, compile_time)``."""
    compiler = Compiler()
    prob = problem(data[0], data[1], data[2], penalty, fit_intercept=fit_intercept)
    out = solve(prob, loss, penalty, w0, b0, tol=float(hyper.tol), max_iter=max_iter, compiler=compiler)
    return out, compiler.compile_time


def solve_path(X, y, weights, loss, penalties, alphas, *, fit_intercept, **options):
    """:func:`jaxreg.solvers.engine.solve_path` (its contract, its loop) on this solver's
    problem and outer loop; ``X`` (dense numpy) is laid out and put on the device once."""

    def make_problem(X, y, weights, penalty, like):
        return problem(X, y, weights, penalty, fit_intercept=fit_intercept, like=like)

    return _engine.solve_path(
        np.asarray(X), y, weights, loss, penalties, alphas, fit_intercept=fit_intercept, make_problem=make_problem,
        run=solve, **options,
    )  # fmt: skip
