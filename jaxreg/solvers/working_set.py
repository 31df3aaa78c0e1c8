"""Working sets for L1-type penalties: coordinate descent on a few features, then an exact
Newton step on the support; the duality gap as the stopping rule.

Penalties handled (written as ``sum_j l1_j |w_j| + l2 / 2 ||w||^2``): ``L1``,
``WeightedL1``, ``ElasticNet`` and ``Lp`` with ``p = 1``; losses: squared (this module) and
logistic (:mod:`jaxreg.solvers.working_set_logistic`).

The design is held as its transpose ``XT`` (p, n), made by the one copy that puts ``X`` on
the device: a feature is a contiguous row (what coordinate descent reads), and ``XT @ v``
is the fastest form of the full pass on XLA's CPU backend.

The outer loop runs on the host (as skglm's and celer's do) and calls three jit-compiled
pieces whose sizes are bucketed, so a fit compiles a handful of shapes however many
iterations it takes:

``start`` (``start_cold`` from ``w = 0``: one pass over the design)
    constants, the residual and a ``check`` at the initial point;
``cd`` (static capacity: 256 features, or all of them)
    the working set: the support and the features with the largest subdifferential
    distance, ``max(16, 3 * support)`` in all (2x from a warm start: :func:`ws_size`),
    chosen by a threshold found by bisection (XLA's sort is slow on CPU). Cyclic
    coordinate descent on it with Anderson extrapolation every ``K + 1`` epochs, kept only
    when it lowers the objective, until the subproblem's criterion is below ``0.3 x`` the
    outer one or its support has stopped changing; then a ``check``: one ``XT @ v``
    product gives the criterion, the next scores and the intercept;
``newton`` (static size: the support rounded up by :func:`bucket`; run when the support
    was stable)
    on the support ``S`` with signs ``s`` the objective is the quadratic
    ``1/2 ||yt - Xt_S w_S||^2 + <l1_S * s, w_S> + l2/2 ||w_S||^2``, minimised by one
    Cholesky solve. The step goes to that minimiser, or stops where a coordinate first
    reaches zero (set to exactly zero), and is kept only if the objective does not go up.
    Once coordinate descent has found the support and signs this lands on the solution
    to rounding error, which makes tight tolerances cheap.

Squared loss ``sum_i d_i (y_i - x_i w - b)^2 / 2`` with ``d = weights / sum(weights)``: the
optimal intercept is ``b = ybar - xbar . w`` (weighted means), which turns the problem into
``1/2 ||yt - Xt w||^2`` with ``Xt = sqrt(d) (X - xbar)`` and ``yt = sqrt(d) (y - ybar)``.
``Xt`` is never formed: ``Xt^T v = XT @ (sqrt(d) v) - xbar sum(sqrt(d) v)``, and coordinate
descent reads the raw rows of ``XT`` and accounts for the centring with scalars.

Stopping rule (scikit-learn's): the duality gap at the dual point ``theta = c r`` (the
residual, rescaled by ``c = min(1, min_j l1_j / |Xt_j^T r - l2 w_j|)`` to be feasible),
relative to ``||yt||^2``: scikit-learn's ``gap <= tol * ||y - ybar||^2`` with its factor ``n``
taken out. With an unpenalized feature (a zero weight) no such dual point exists and the
rule is the largest subdifferential distance instead.

The pieces that pass over all of ``XT`` also have a batched form (``vmap`` over all
arguments but ``XT``) for several problems on the same design: the folds of a
cross-validation (held-out rows get weight zero) or several targets. Coordinate descent
and the Newton step run one problem at a time (:func:`inner_solve_batch`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._buckets import ALIGN, aligned_empty, pad_rows
from jaxreg._compile import Compiler, default_device
from jaxreg.losses import Logistic, Loss, Squared
from jaxreg.penalties import L1, ElasticNet, Lp, Penalty, WeightedL1, _l1_distance
from jaxreg.solvers._common import CONVERGED, MAX_ITER, SolverOutput
from jaxreg.solvers.support_newton import newton_step

CRITERIA = ("duality_gap", "subdiff_distance")

ANDERSON_K = 5  # extrapolate from the last K + 1 epochs (skglm's default)
WS_MIN = 16  # smallest working set
WS_GROWTH = 3  # the working set holds this many times the support (see ws_size),
WS_GROWTH_WARM = 2  # or this many from a warm start (most of the support is already there)
NEWTON_MAX = 2048  # largest support the Newton step factorizes
NEWTON_BYTES = 1 << 29  # and the most memory its support's rows may take (512 MiB)
NEWTON_ROUNDS = 8  # coordinates the Newton step may drop (each one a re-solve) before it stops
FAR = 10.0  # criterion / tol above which a stable support goes to the Newton step at once
HOST_TRANSPOSE_ROWS = 1024  # see transpose_on_host
HOST_TRANSPOSE_BYTES = 64 * 2**20
SMALL_CAP = 256  # working sets up to this size compile with this capacity; larger ones with p,
ONE_CAP = 1024  # except up to this many features, where every working set takes capacity p: one
# coordinate-descent program per design, so a growing support never compiles during a fit
INNER_FRACTION = 0.3  # inner tolerance as a fraction of the outer criterion
MAX_EPOCHS = 2000  # per working set
BISECTION_STEPS = 50
CD_BLOCK = 8  # coordinate updates per loop step (capacities are multiples of it)

HIGHEST = lax.Precision.HIGHEST
_dot = partial(jnp.matmul, precision=HIGHEST)


# ----------------------------------------------------------------------------- penalties


def handles(loss: Loss, penalty: Penalty) -> str | None:
    """None when this solver handles the pair, else the reason it does not."""
    if not isinstance(loss, (Squared, Logistic)):
        return f"working_set handles the squared and logistic losses, not {loss.name!r}; use fista"
    if isinstance(penalty, (L1, WeightedL1, ElasticNet)) or (isinstance(penalty, Lp) and penalty.p == 1.0):
        return None
    return (
        f"working_set handles L1-type penalties (L1, WeightedL1, ElasticNet, Lp with p = 1), not {penalty!r}; "
        "use fista (any penalty) or lbfgs (smooth penalties)"
    )


def l1_l2(penalty: Penalty, n_features: int, dtype):
    """:func:`l1_l2_host` put on the device in one transfer (eager jax ops cost ~50 us each)."""
    return jax.device_put(l1_l2_host(penalty, n_features, dtype))


def l1_l2_host(penalty: Penalty, n_features: int, dtype):
    """The penalty as ``sum_j l1_j |w_j| + l2 / 2 ||w||^2``: ``(l1 (p,), l2 scalar)`` in numpy."""
    alpha = np.asarray(penalty.alpha, dtype)
    if isinstance(penalty, ElasticNet):
        r = np.asarray(penalty.l1_ratio, dtype)
        l1, l2 = np.full(n_features, alpha * r, dtype), alpha * (1 - r)
    elif isinstance(penalty, WeightedL1):
        l1, l2 = alpha * np.asarray(penalty.weights, dtype), np.zeros((), dtype)
    else:  # L1, Lp(p=1)
        l1, l2 = np.full(n_features, alpha, dtype), np.zeros((), dtype)
    return l1, np.asarray(l2, dtype)


# ----------------------------------------------------------------------------- compilation


def pieces(*fns_and_statics):
    """``{name: (jit(fn), jit(vmap(fn)))}``: the batched form maps every argument but the
    first (the design ``XT``, shared) over a leading axis."""

    def both(fn, n_args, static):
        single = jax.jit(fn, static_argnames=static)
        axes = (None,) + (0,) * (n_args - 1)

        def batched_fn(*a, **s):
            return jax.vmap(partial(fn, **s), in_axes=axes)(*a)

        # a module-level name of its own: the disk cache of _compile keys on it
        batched_fn.__qualname__ = batched_fn.__name__ = f"{fn.__qualname__}_batched"
        batched_fn.__module__ = fn.__module__

        return single, jax.jit(batched_fn, static_argnames=static)

    return {fn.__name__: both(fn, n, static) for fn, n, static in fns_and_statics}


def capacity(p: int) -> int:
    """The largest working-set capacity: every feature, rounded up to a multiple of
    ``CD_BLOCK`` (the working set is read in place, so capacity costs only index arrays)."""
    return int(-(-p // CD_BLOCK) * CD_BLOCK)


def ws_size(nnz, warm: bool):
    """The working-set sizes for supports of ``nnz`` features: ``max(WS_MIN, g * nnz)``
    (geometric growth while the support grows), ``g = WS_GROWTH`` from ``w = 0`` and
    ``WS_GROWTH_WARM`` from a warm start. Measured (interleaved A/B, 7 reps): 3 instead of
    2 took 15-20% off the amax/100 fits from zero (fewer outer iterations, 16 -> 13 on
    1000 x 5000), but added ~10% to LassoCV on 2000 x 20000, whose alphas start warm."""
    return np.maximum(WS_MIN, (WS_GROWTH_WARM if warm else WS_GROWTH) * np.asarray(nnz)).astype(np.int64)


def bucket(size: int, p: int) -> int:
    """``size`` rounded up to the next of 16, 24, 32, 48, 64, 96, ... (powers of two and
    their 1.5 multiples; at most ``p``): the Newton step's cost grows with the square of its
    size, so half-steps waste at most 1.8x where powers of two alone waste up to 4x."""
    size = max(int(size), 16)
    pow2 = 1 << (size - 1).bit_length()
    return int(min(pow2 * 3 // 4 if size <= pow2 * 3 // 4 else pow2, p))


# ----------------------------------------------------------------------------- shared steps


def select(scores, support, size, cap):
    """Indices (ascending, padded with ``p``) of the support and of the ``size - |support|``
    largest positive scores elsewhere; ``cap`` is the static capacity."""
    m = jnp.maximum(size - jnp.sum(support), 0)
    s = jnp.where(support, 0.0, scores)

    # smallest tau with #{s > tau} <= m, by bisection on [0, max s]; a tau with exactly m
    # above it is as good and ends the search (~log2(p) steps on distinct scores, not 50)
    def halve(state):
        lo, hi, k, _ = state
        mid = 0.5 * (lo + hi)
        count = jnp.sum(s > mid)
        ok = count <= m
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi), k + 1, count == m

    def more(state):
        return (state[2] < BISECTION_STEPS) & ~state[3]

    hi = jnp.max(s)
    init = (jnp.zeros_like(hi), hi, jnp.zeros((), jnp.int32), jnp.sum(s > hi) == m)
    _, tau, _, _ = lax.while_loop(more, halve, init)
    return compact(support | (s > tau), cap)


def compact(mask, size):
    """The indices where ``mask`` holds, ascending, padded with ``len(mask)`` to ``size``
    (a cumulative sum and a scatter: no sort)."""
    p = mask.shape[0]
    slot = jnp.where(mask, jnp.cumsum(mask) - 1, size)
    idx = jnp.full(size, p, jnp.int32).at[slot].set(jnp.arange(p, dtype=jnp.int32), mode="drop")
    return idx, jnp.minimum(jnp.sum(mask), size)


def anderson_weights(W):
    """Anderson extrapolation from iterates ``W`` (K + 1, k): the weights ``c`` (K,) of
    ``sum c_i W_{i+1}`` minimising ``||sum c_i (W_{i+1} - W_i)||`` subject to ``sum c = 1``
    (a ridge-regularized solve)."""
    U = jnp.diff(W, axis=0)
    UU = _dot(U, U.T)
    K = UU.shape[0]
    reg = 1e-10 * jnp.maximum(jnp.trace(UU), jnp.finfo(W.dtype).tiny)
    c = cho_solve(UU + reg * jnp.eye(K, dtype=W.dtype), jnp.ones(K, W.dtype))
    return c / jnp.sum(c)


def cho_solve(A, b):
    """``A^{-1} b`` for symmetric positive definite ``A`` (NaN where it is not)."""
    return jax.scipy.linalg.cho_solve((lax.linalg.cholesky(A, symmetrize_input=False), True), b)


def step_to_minimizer(wS, wN, valid):
    """From ``wS`` towards ``wN``: all the way, or to where a coordinate first changes sign
    (that coordinate set to exactly zero), so the signs never flip."""
    sg = jnp.sign(wS)
    cross = valid & (sg * wN <= 0)
    frac = jnp.where(cross, wS / jnp.where(cross, wS - wN, 1.0), jnp.inf)
    t = jnp.minimum(1.0, jnp.min(frac))
    return jnp.where(valid & ~(cross & (frac <= t)), wS + t * (wN - wS), 0.0)


# ----------------------------------------------------------------------------- squared loss


class Prep(NamedTuple):
    """Per-problem constants: normalized weights ``d``, weighted column means ``xbar``, the
    centred target ``yc = y - ybar``, ``ybar`` and ``ny2 = sum d yc^2`` (the gap's scale)."""

    d: jax.Array
    xbar: jax.Array
    yc: jax.Array
    ybar: jax.Array
    ny2: jax.Array


class Check(NamedTuple):
    """The outer loop's view of a point: criterion (and which), scores, support size,
    objective, ``corr = Xc^T D r`` (reused when only the penalty changes) and the optimal
    intercept (:func:`intercept`: computed here, it needs no call of its own at the end)."""

    crit: jax.Array
    kind: jax.Array
    scores: jax.Array
    nnz: jax.Array
    obj: jax.Array
    corr: jax.Array
    b: jax.Array


def make_prep(XT, y, d, fit_intercept: bool) -> Prep:
    if fit_intercept:
        xbar, ybar = _dot(XT, d), jnp.vdot(d, y)
    else:
        xbar, ybar = jnp.zeros(XT.shape[0], XT.dtype), jnp.zeros((), XT.dtype)
    yc = y - ybar
    return Prep(d, xbar, yc, ybar, jnp.vdot(d, yc * yc))


def rows(XT, prep: Prep, idx):
    """Centred features ``idx`` as rows ``(len(idx), n)`` (one gather), zero rows where
    ``idx`` is padding (>= p)."""
    R = XT.at[idx].get(mode="fill", fill_value=0.0)
    return R - prep.xbar.at[idx].get(mode="fill", fill_value=0.0)[:, None]


def criterion(corr, w, r, prep: Prep, l1, l2):
    """The stopping measure for ``corr = Xc^T D r`` (on all features or a subset).

    The duality gap relative to ``sum d yc^2`` when every ``l1_j > 0``, else the largest
    subdifferential distance. Returns ``(value, kind, per-feature distance)``.
    """
    xta = corr - l2 * w
    dist = _l1_distance(w, -xta, l1)
    ratio = jnp.where(l1 > 0, jnp.abs(xta) / jnp.where(l1 > 0, l1, 1.0), 0.0)
    dual_norm = jnp.max(ratio, initial=0.0)
    c = jnp.where(dual_norm > 1.0, 1.0 / dual_norm, 1.0)
    dr = prep.d * r
    gap = 0.5 * (1.0 + c**2) * (jnp.vdot(dr, r) + l2 * jnp.vdot(w, w)) + jnp.vdot(l1, jnp.abs(w))
    gap = gap - c * jnp.vdot(dr, prep.yc)
    use_gap = jnp.all(l1 > 0)
    scale = jnp.maximum(prep.ny2, jnp.finfo(r.dtype).tiny)
    value = jnp.where(use_gap, jnp.maximum(gap, 0.0) / scale, jnp.max(dist, initial=0.0))
    return value, jnp.where(use_gap, 0, 1), dist


def primal(d, r, w, l1, l2):
    return 0.5 * jnp.vdot(d * r, r) + jnp.vdot(l1, jnp.abs(w)) + 0.5 * l2 * jnp.vdot(w, w)


def evaluate(XT, corr, prep: Prep, w, r, l1, l2) -> Check:
    """The check from a known ``corr`` (``XT`` is unused: it keeps the shared argument
    first, as the batched pieces expect). The criterion is NaN where ``corr`` is not
    finite: a NaN or infinite entry of ``X`` makes ``corr`` non-finite in the first pass
    (``inf * 0`` is NaN too), which is how a fit learns of one (see :class:`NonFiniteDesign`)."""
    crit, kind, dist = criterion(corr, w, r, prep, l1, l2)
    crit = jnp.where(jnp.all(jnp.isfinite(corr)), crit, jnp.nan)
    scores = jnp.where(w != 0, jnp.inf, dist)
    obj = primal(prep.d, r, w, l1, l2)
    return Check(crit, kind, scores, jnp.sum(w != 0), obj, corr, intercept(XT, prep, w))


def correlate(XT, xbar, d, r):
    """``Xc^T D r = XT @ (d r) - xbar sum(d r)``: one pass over the design."""
    dr = d * r
    return _dot(XT, dr) - xbar * jnp.sum(dr)


def predict(XT, xbar, w):
    """``Xc w = w @ XT - xbar . w``: one pass over the design."""
    return _dot(w, XT) - jnp.vdot(xbar, w)


def check(XT, prep: Prep, w, r, l1, l2) -> Check:
    """One pass over the design: ``corr = Xc^T D r`` (:func:`correlate`), then
    :func:`evaluate`."""
    return evaluate(XT, correlate(XT, prep.xbar, prep.d, r), prep, w, r, l1, l2)


def start(XT, y, weights, w, *, fit_intercept: bool):
    """Constants and the centred residual ``r = yc - (X - xbar) w``."""
    prep = make_prep(XT, y, weights / jnp.sum(weights), fit_intercept)
    return prep, residual(XT, prep, w)


def residual(XT, prep: Prep, w):
    """The centred residual ``yc - Xc w``, recomputed in one pass. Coordinate descent and
    the Newton step update the residual in place; in float32 it drifts from the true one
    (by ~1e-5 relative over an inner solve), which stalls the duality gap above a relative
    1e-6 and can leave the solver at the wrong point. float32 fits recompute it after each
    inner solve."""
    return prep.yc - predict(XT, prep.xbar, w)


def start_cold(XT, y, weights, l1, l2, *, fit_intercept: bool):
    """:func:`start` and :func:`check` at ``w = 0`` in one pass over the design: ``r = yc``,
    and ``XT @ [d, d y]`` gives both ``xbar`` and ``corr = XT @ (d yc) - xbar sum(d yc)``
    (``= XT @ (d y) - ybar xbar``; ``sum(d yc) = 0`` with an intercept, ``ybar = 0`` without).
    Returns ``(prep, r, check)``."""
    d = weights / jnp.sum(weights)
    M = _dot(XT, jnp.stack([d, d * y], axis=1))
    if fit_intercept:
        xbar, ybar = M[:, 0], jnp.vdot(d, y)
    else:
        xbar, ybar = jnp.zeros_like(M[:, 0]), jnp.zeros((), y.dtype)
    yc = y - ybar
    prep = Prep(d, xbar, yc, ybar, jnp.vdot(d, yc * yc))
    w = jnp.zeros_like(xbar)
    return prep, yc, evaluate(XT, M[:, 1] - ybar * xbar, prep, w, yc, l1, l2)


def _ws_blocks(ws, count, fn, init):
    """``fn(k0, rows_index, carry)`` over the working set in blocks of ``CD_BLOCK``
    (``count`` rounded up; ``ws`` is padded to a multiple of ``CD_BLOCK``)."""

    def body(i, carry):
        k0 = i * CD_BLOCK
        return fn(k0, lax.dynamic_slice_in_dim(ws, k0, CD_BLOCK), carry)

    return lax.fori_loop(0, (count + CD_BLOCK - 1) // CD_BLOCK, body, init)


def fetch(XT, idx):
    """The raw (uncentred) rows ``idx`` (``CD_BLOCK`` of them) of ``XT``, read in place, one
    dynamic slice per row: on XLA's CPU backend several times faster than a gather. A
    padding index (>= p) reads row ``p - 1``; callers give padding zero weight."""
    return jnp.stack([lax.dynamic_index_in_dim(XT, idx[u], keepdims=False) for u in range(CD_BLOCK)])


def ws_apply(XT, ws, count, fn, xw, like):
    """``out[k] = fn(raw row k, xbar_k)`` for the working-set entries ``k < count`` that are
    features (zero for padding and beyond ``count``), block by block."""
    p = XT.shape[0]

    def block(k0, idx, out):
        xb = lax.dynamic_slice_in_dim(xw, k0, CD_BLOCK)
        return lax.dynamic_update_slice_in_dim(out, jnp.where(idx < p, fn(fetch(XT, idx), xb), 0.0), k0, 0)

    return _ws_blocks(ws, count, block, jnp.zeros(ws.shape, like.dtype))


def _cd_epoch(XT, prep, ws, count, lips, l1w, xw, l2, w, r):
    """One cyclic pass over the working set:
    ``w_k = ST(w_k L_k + xc_k . D r, l1_k) / (L_k + l2)``, with ``r`` kept up to date.

    The centred feature is ``xc_k = x_k - xbar_k``; it is never formed. ``r`` is
    D-centred (``sum d r = 0``: the intercept is optimal), so ``xc_k . D r = x_k . D r``, and
    ``r - delta xc_k`` is kept as a raw residual ``r - delta x_k`` plus a scalar offset
    ``delta xbar_k``, folded in once per block. ``CD_BLOCK`` updates are written out in
    each loop step: XLA's per-step overhead on CPU is larger than one update's arithmetic.
    Padding entries have ``L_k = 0`` and stay at zero.
    """
    d = prep.d

    def block(k0, idx, carry):
        w, r = carry
        R = fetch(XT, idx)
        lb, tb, wb, xb = (lax.dynamic_slice_in_dim(a, k0, CD_BLOCK) for a in (lips, l1w, w, xw))
        new, shift = [], jnp.zeros((), r.dtype)
        for u in range(CD_BLOCK):
            v = wb[u] * lb[u] + jnp.vdot(R[u], d * r) + shift * xb[u]
            nu = jnp.where(lb[u] > 0, jnp.sign(v) * jnp.maximum(jnp.abs(v) - tb[u], 0.0) / (lb[u] + l2), 0.0)
            r = r - (nu - wb[u]) * R[u]
            shift = shift + (nu - wb[u]) * xb[u]
            new.append(nu)
        return lax.dynamic_update_slice_in_dim(w, jnp.stack(new), k0, 0), r + shift

    return _ws_blocks(ws, count, block, (w, r))


class _CD(NamedTuple):
    w: jax.Array
    r: jax.Array
    epochs: jax.Array
    crit: jax.Array
    stable: jax.Array


def cd(XT, prep: Prep, w, r, scores, l1, l2, tol_in, size, *, cap: int):
    """Coordinate descent on a working set of at most ``cap`` features, read in place as
    rows of ``XT`` (nothing is gathered, so ``cap`` can be every feature and one compiled
    shape serves every working-set size; a small ``cap`` keeps the small arrays small).

    Stops when the subproblem's criterion is below ``tol_in``, or when an Anderson block
    left the support and signs as they were (and the support is small enough for
    :func:`newton` to take over). Returns ``(w, r, same_support, epochs)``: whether the
    support and signs are those the call started from, and the epochs run.
    """
    support = w != 0
    ws, count = select(scores, support, size, cap)
    d = prep.d
    xw = prep.xbar.at[ws].get(mode="fill", fill_value=0.0)
    lips = ws_apply(XT, ws, count, lambda R, xb: _dot((R - xb[:, None]) ** 2, d), xw, r)
    l1w = l1.at[ws].get(mode="fill", fill_value=1.0)
    obj = lambda w, r: primal(d, r, w, l1w, l2)  # noqa: E731

    def block(s: _CD):
        def epoch(carry, _):
            carry = _cd_epoch(XT, prep, ws, count, lips, l1w, xw, l2, *carry)
            return carry, carry

        (w, r), (W, Rs) = lax.scan(epoch, (s.w, s.r), None, length=ANDERSON_K + 1)
        # r is affine in w and the weights sum to one: the same combination of the
        # residuals is the extrapolated point's residual (no pass over the rows)
        c = anderson_weights(W)
        w_acc, r_acc = _dot(c, W[1:]), _dot(c, Rs[1:])
        better = jnp.all(jnp.isfinite(w_acc)) & (obj(w_acc, r_acc) < obj(w, r))
        w = jnp.where(better, w_acc, w)
        r = jnp.where(better, r_acc, r)
        dr = d * r
        corr = ws_apply(XT, ws, count, lambda R, xb: _dot(R, dr) - xb * jnp.sum(dr), xw, r)
        crit, _, _ = criterion(corr, w, r, prep, l1w, l2)
        stable = jnp.all(jnp.sign(w) == jnp.sign(s.w))
        return _CD(w, r, s.epochs + ANDERSON_K + 1, crit, stable)

    w_ws = w.at[ws].get(mode="fill", fill_value=0.0)
    # A stable support hands over to the Newton step, if that can factorize it.
    newton_ok = jnp.sum(w_ws != 0) <= NEWTON_MAX

    def cond(s: _CD):
        return (s.crit > tol_in) & ~(s.stable & newton_ok) & (s.epochs < MAX_EPOCHS)

    s0 = _CD(w_ws, r, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, r.dtype), jnp.asarray(False))
    s = lax.while_loop(cond, block, s0)
    same = jnp.all(jnp.sign(s.w) == jnp.sign(w_ws))
    return w.at[ws].set(s.w, mode="drop"), s.r, same, s.epochs


def newton(XT, prep: Prep, w, r, l1, l2, *, size: int):
    """Exact minimiser on the support with its signs fixed (module docstring).

    Where the step to that minimiser would flip a sign, it stops at the first coordinate
    to reach zero and solves again with that coordinate held at zero, up to
    ``NEWTON_ROUNDS`` times. One factorization serves every round: the minimiser of
    ``1/2 x^T G x - c^T x`` subject to ``x_R = 0`` is ``x0 - Z lam`` with ``x0 = G^{-1} c``,
    ``Z = G^{-1} E_R`` (two triangular solves per dropped coordinate) and ``lam`` from the
    small system ``Z_R lam = x0_R``. Returns ``(w, r, accepted)``."""
    dtype = w.dtype
    p = w.shape[0]
    S, _ = compact(w != 0, size)
    valid = S < p
    Xs = rows(XT, prep, S)  # (size, n), zero rows for padding
    Xsd = Xs * jnp.sqrt(prep.d)
    wS = w.at[S].get(mode="fill", fill_value=0.0)
    l1S = l1.at[S].get(mode="fill", fill_value=0.0)
    eye = jnp.eye(size, dtype=dtype)
    G = jnp.where(valid[:, None] & valid[None, :], _dot(Xsd, Xsd.T) + l2 * eye, eye)
    C = lax.linalg.cholesky(G, symmetrize_input=False)

    def g_solve(b):
        return jax.scipy.linalg.cho_solve((C, True), b)

    x0 = g_solve(jnp.where(valid, _dot(Xs, prep.d * prep.yc) - l1S * jnp.sign(wS), 0.0))
    K = NEWTON_ROUNDS
    slots = jnp.arange(K)

    def solve(carry):
        v, Z, dropped, nd, _ = carry
        used = slots < nd
        M = jnp.where(used[:, None] & used[None, :], Z[dropped], jnp.eye(K, dtype=dtype))
        # M is a principal submatrix of G^-1 (identity on unused slots): positive definite
        lam = cho_solve(M, jnp.where(used, x0[dropped], 0.0))  # compiles faster than an LU solve
        on = valid & (v != 0)
        v_new = step_to_minimizer(v, x0 - _dot(Z, jnp.where(used, lam, 0.0)), on)
        # a coordinate that reached zero wanted to flip its sign: hold it at zero and solve again
        newly = on & (v_new == 0)
        more = jnp.any(newly) & (nd < K)
        j = jnp.argmax(newly).astype(jnp.int32)
        z = g_solve(jnp.zeros(size, dtype).at[j].set(1.0))
        Z = jnp.where(more, Z.at[:, jnp.minimum(nd, K - 1)].set(z), Z)
        dropped = jnp.where(more, dropped.at[jnp.minimum(nd, K - 1)].set(j), dropped)
        return v_new, Z, dropped, nd + more.astype(nd.dtype), more

    init = (wS, jnp.zeros((size, K), dtype), jnp.zeros(K, jnp.int32), jnp.zeros((), jnp.int32), jnp.asarray(True))
    w_new = lax.while_loop(lambda c: c[4], solve, init)[0]
    r_new = prep.yc - _dot(w_new, Xs)
    d = prep.d
    ok = jnp.all(jnp.isfinite(w_new)) & (primal(d, r_new, w_new, l1S, l2) <= primal(d, r, wS, l1S, l2))
    w = jnp.where(ok, w.at[S].set(w_new, mode="drop"), w)
    return w, jnp.where(ok, r_new, r), ok


def intercept(XT, prep: Prep, w):
    """The optimal intercept ``ybar - xbar . w`` (``XT`` unused, kept first for batching)."""
    return prep.ybar - jnp.vdot(prep.xbar, w)


SQUARED = pieces(
    (start, 4, ("fit_intercept",)),
    (start_cold, 5, ("fit_intercept",)),
    (check, 6, ()),
    (evaluate, 7, ()),
    (intercept, 3, ()),
    (residual, 3, ()),
)
# one problem at a time, also within a batch (see inner_solve_batch)
CD = jax.jit(cd, static_argnames=("cap",))
NEWTON = jax.jit(newton, static_argnames=("size",))
TRANSPOSE = jax.jit(jnp.transpose)


# ----------------------------------------------------------------------------- driver


class NonFiniteDesign(ValueError):
    """The first pass over the design gave a non-finite result: ``X`` holds a NaN or an
    infinity (or values so large that a product overflows). :func:`working_set` turns it
    into the error that names the entry; ``fit`` leaves its own pass over ``X`` out."""


def first_check_finite(crit):
    """Raise :class:`NonFiniteDesign` when the criterion of the first pass is not finite."""
    if not np.all(np.isfinite(crit)):
        raise NonFiniteDesign(
            "the first pass over X gave non-finite values: X has NaN or infinite entries, or entries "
            "so large that their products overflow; rescale X"
        )


class Outcome(NamedTuple):
    w: np.ndarray
    b: np.ndarray
    n_iter: int
    status: int
    crit: np.ndarray
    kind: np.ndarray
    history: np.ndarray


class SquaredState(NamedTuple):
    """Where a squared-loss solve ended: enough to continue at another penalty."""

    prep: Prep
    w: jax.Array
    r: jax.Array
    corr: jax.Array


def host_transposed(X):
    """``X.T`` as a C-contiguous numpy array whose data is 64-byte aligned, which XLA's CPU
    client uses in place (it copies a misaligned one). ``X.T`` itself when it already
    qualifies (a Fortran-ordered, aligned ``X``): no copy at all."""
    XT = X.T
    if XT.flags.c_contiguous and XT.ctypes.data % ALIGN == 0:
        return XT
    out = aligned_empty(XT.shape, XT.dtype)
    np.copyto(out, XT)
    return out


def pad_design(X, n_rows):
    """``X`` with zero rows appended up to ``n_rows`` (shape buckets), made in the layout
    :meth:`Design.put` then uses with no further copy: Fortran-ordered and aligned where
    the transpose is made on the host (:func:`transpose_on_host`), C-ordered (for XLA's
    transposing transfer) otherwise."""
    return pad_rows(X, n_rows, fortran=transpose_on_host(X))


def transpose_on_host(X) -> bool:
    """Whether the CPU backend gets ``X.T`` faster from :func:`host_transposed` than from
    ``device_put(X.T)``. XLA's transposing copy is fast on large C-ordered arrays but its
    plain copy (of an ``X.T`` that is already contiguous) runs at ~1.5 GB/s. Measured on
    this project's 2-core machine, float64, median ms (XLA / here): 500 x 5000 9.7 / 3.8,
    1000 x 5000 18 / 13, 5000 x 1000 21 / 34, 2000 x 5000 25 / 59, 2000 x 20000 94 / 230;
    a Fortran-ordered 1000 x 5000 28-38 / 11 (or 0 when aligned). numpy's strided copy
    wins while the rows it gathers are short (n) and the whole is small."""
    return X.T.flags.c_contiguous or (X.shape[0] <= HOST_TRANSPOSE_ROWS and X.nbytes <= HOST_TRANSPOSE_BYTES)


class Design:
    """The design as ``XT`` (p, n): features are contiguous rows.

    ``Design.put(X)`` makes it from ``X`` (n, p): a numpy array is transposed by the
    transfer to the device, or on the host into memory the CPU backend uses in place
    (:func:`transpose_on_host`); a jax array is transposed on its device.
    """

    def __init__(self, XT, host=None):
        self.XT = XT
        self._host = host
        self._constants_src, self._constants = (None, None), None

    @classmethod
    def put(cls, X, compiler):
        if isinstance(X, Design):
            return X
        if isinstance(X, jax.Array):
            return cls(compiler(TRANSPOSE, X))
        X = np.asarray(X)
        if default_device().platform == "cpu" and transpose_on_host(X):
            XT = host_transposed(X)
            return cls(jax.device_put(XT), XT)
        return cls(jax.device_put(X.T))  # the transfer makes the one (transposing) copy

    def host_constants(self, prep, l1):
        """``(d, xbar, yc, l1)`` in numpy, read from the device once per fit (they do not
        change while the outer loop runs; each read waits for the device)."""
        src = self._constants_src
        if src[0] is not prep or src[1] is not l1:  # held, so never a recycled id
            self._constants = tuple(np.asarray(a) for a in (prep.d, prep.xbar, prep.yc, l1))
            self._constants_src = (prep, l1)
        return self._constants

    @property
    def host(self):
        """``XT`` as a numpy array where the design lives in host memory (the CPU backend:
        no copy when the host made it), else None."""
        if self._host is None and next(iter(self.XT.devices())).platform == "cpu":
            self._host = np.asarray(self.XT)
        return self._host

    @property
    def p(self):
        return self.XT.shape[0]

    def cap(self, size):
        """The static capacity for a working set of ``size`` features: ``SMALL_CAP`` or all
        the features, and always all of them up to ``ONE_CAP`` features (the per-block cost
        of a large capacity, O(capacity), matters only on wide designs)."""
        if size <= SMALL_CAP and self.p > ONE_CAP:
            return SMALL_CAP
        return capacity(self.p)


def inner_solve(compiler, design, prep, w, r, scores, l1, l2, tol_in, size, far):
    """One working set: coordinate descent, then the Newton step when the support came out
    as it went in and coordinate descent is slow to finish: it needed more than one
    Anderson block, or ``far`` (the criterion is orders of magnitude above the tolerance).
    Returns ``(w, r)``."""
    XT, size = design.XT, int(size)
    tol_in, n_ws = np.asarray(tol_in), np.asarray(size, np.int32)
    w, r, same, epochs = compiler(CD, XT, prep, w, r, scores, l1, l2, tol_in, n_ws, cap=design.cap(size))
    if bool(same) and (int(epochs) > ANDERSON_K + 1 or far):
        s = int(np.sum(np.asarray(w) != 0))
        n_newton = bucket(s, design.p)
        if 0 < s <= NEWTON_MAX and n_newton * XT.shape[1] * XT.dtype.itemsize <= NEWTON_BYTES:
            if design.host is not None:  # CPU: numpy and LAPACK, no program per support size
                consts = design.host_constants(prep, l1)
                w, r, _ = newton_step(design.host, *consts[:3], np.asarray(w), np.asarray(r), consts[3],
                                      float(l2), NEWTON_ROUNDS)  # fmt: skip
                w, r = jax.device_put((w, r))
            else:
                w, r, _ = compiler(NEWTON, XT, prep, w, r, l1, l2, size=n_newton)
    return w, r


def take(tree, b):
    """Problem ``b`` of a batch (every leaf's row ``b``)."""
    return jax.tree.map(lambda a: a[b], tree)


def put(tree, b, values):
    """``tree`` with problem ``b`` replaced by ``values``."""
    return jax.tree.map(lambda a, v: a.at[b].set(v), tree, values)


TAKE, PUT = jax.jit(take), jax.jit(put)


def inner_solve_batch(compiler, design, prep, w, r, scores, l1, l2, tol_in, size, far):
    """:func:`inner_solve` for each problem of a batch whose ``tol_in`` is finite (the
    others are done). One problem at a time, not ``vmap``-ed: the problems of a batch (the
    folds of a cross-validation) need different numbers of epochs and working sets of
    different sizes, and a batched loop would run every problem as long and as wide as the
    slowest. The passes over all of ``X`` (the checks) stay batched."""
    for b in np.flatnonzero(np.isfinite(tol_in)):
        i = np.asarray(b, np.int32)
        args = compiler(TAKE, (prep, w, r, scores, l1, l2), i)
        wb, rb = inner_solve(compiler, design, *args, tol_in[b], size[b], far[b])
        w, r = compiler(PUT, (w, r), i, (wb, rb))
    return w, r


def solve_inner(compiler, design, *args, batched: bool):
    return (inner_solve_batch if batched else inner_solve)(compiler, design, *args)


def solve_squared(
    X, y, weights, l1, l2, w0, b0=None, *, fit_intercept, tol, max_iter, compiler, batched=False, state=None
):
    """The outer loop. ``X`` is the design (an array (n, p) or a :class:`Design`). With
    ``batched``, ``y, weights, l1, l2, w0`` carry a leading axis of problems solved
    together (the loop runs until all have converged; sizes follow the largest support).
    ``state`` (from a previous call on the same data, e.g. the previous alpha of a path)
    replaces ``w0`` and saves the first pass over the design.

    Returns ``(Outcome, SquaredState)``.
    """
    P = {name: fns[int(batched)] for name, fns in SQUARED.items()}
    design = Design.put(X, compiler)
    XT = design.XT
    warm = state is not None or bool(np.any(np.asarray(w0)))
    if not warm:
        prep, r, chk = compiler(P["start_cold"], XT, y, weights, l1, l2, fit_intercept=fit_intercept)
        w = jax.device_put(np.zeros(chk.corr.shape, chk.corr.dtype))  # no eager program
    elif state is None:
        prep, r = compiler(P["start"], XT, y, weights, w0, fit_intercept=fit_intercept)
        w = w0
        chk = compiler(P["check"], XT, prep, w, r, l1, l2)
    else:
        prep, w, r = state.prep, state.w, state.r
        chk = compiler(P["evaluate"], XT, state.corr, prep, w, r, l1, l2)
    history, n_iter = [], 0
    while True:
        crit, nnz = np.asarray(chk.crit), np.asarray(chk.nnz)
        if n_iter:
            history.append(np.asarray(chk.obj))
        elif state is None:
            first_check_finite(crit)
        done = crit <= tol
        if np.all(done) or n_iter >= max_iter:
            break
        n_iter += 1
        # the subproblem needs 0.3x the current criterion, but never much below tol itself
        tol_in = np.where(done, np.inf, np.maximum(INNER_FRACTION * crit, 0.9 * tol)).astype(crit.dtype)
        far = crit > FAR * tol
        size = ws_size(nnz, warm)
        w, r = solve_inner(compiler, design, prep, w, r, chk.scores, l1, l2, tol_in, size, far, batched=batched)
        if XT.dtype.itemsize < 8:  # float32: the residual updated in place drifts (see residual)
            r = compiler(P["residual"], XT, prep, w)
        chk = compiler(P["check"], XT, prep, w, r, l1, l2)
    b = chk.b
    status = CONVERGED if np.all(np.asarray(chk.crit) <= tol) else MAX_ITER
    hist = np.asarray(history).reshape(len(history), *np.shape(chk.obj))
    out = Outcome(np.asarray(w), np.asarray(b), n_iter, status, np.asarray(chk.crit), np.asarray(chk.kind), hist)
    return out, SquaredState(prep, w, r, chk.corr)


_BLAS = None


def single_threaded_blas():
    """A context limiting BLAS/LAPACK to one thread: jax's CPU Cholesky calls scipy's
    OpenBLAS, whose threads spin-wait badly on a loaded machine (a 128 x 128 Cholesky took
    0.2 s with 2 threads on a busy 2-core machine, 0.2 ms with one)."""
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        import contextlib

        return contextlib.nullcontext()
    if _BLAS is None:
        import scipy.linalg  # noqa: F401  (load the library jax's LAPACK calls use)

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def working_set(data, loss, penalty, w0, b0, hyper, *, max_iter=100, fit_intercept=True):
    """The solver entry point of :func:`jaxreg.fit` (host-driven: it is not itself jitted).

    Returns ``(SolverOutput, compile_time)``.
    """
    compiler = Compiler()
    X_host, y, weights = data
    l1, l2 = l1_l2(penalty, X_host.shape[1], X_host.dtype)
    X = Design.put(X_host, compiler)  # numpy X from fit(): transposed by the transfer
    kw = dict(fit_intercept=fit_intercept, tol=float(hyper.tol), max_iter=max_iter, compiler=compiler)
    try:
        with single_threaded_blas():
            if isinstance(loss, Logistic):
                from jaxreg.solvers.working_set_logistic import solve_logistic

                out, _ = solve_logistic(X, y, weights, l1, l2, w0, b0, **kw)
            else:
                out, _ = solve_squared(X, y, weights, l1, l2, w0, **kw)
    except NonFiniteDesign:
        # fit() left its pass over X to this solver's first one: name the entry now
        from jaxreg._validation import check_finite

        check_finite(np.asarray(X_host), "X")
        raise
    res = SolverOutput(
        coef=out.w,
        intercept=out.b,
        n_iter=np.asarray(out.n_iter),
        status=np.asarray(out.status),
        stop_crit=out.crit,
        history=out.history,
        criterion=out.kind,
    )
    return res, compiler.compile_time
