"""The working-set kernels of the squared-loss solver (see :mod:`jaxreg.solvers.working_set`
for the algorithm): choosing the working set (:func:`select`), coordinate descent on it with
Anderson extrapolation (:func:`cd`) and the Newton step on the support (:func:`newton`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxreg.solvers.working_set_check import Box, Prep, box_terms, criterion, dot, primal, rows

ANDERSON_K = 5  # extrapolate from the last K + 1 epochs (skglm's default)
NEWTON_MAX = 2048  # largest support the Newton step factorizes
NEWTON_ROUNDS = 8  # coordinates the Newton step may drop (each one a re-solve) before it stops
MAX_EPOCHS = 2000  # per working set
BISECTION_STEPS = 50
CD_BLOCK = 8  # coordinate updates per loop step (capacities are multiples of it)


def capacity(p: int) -> int:
    """The largest working-set capacity: every feature, rounded up to a multiple of
    ``CD_BLOCK`` (the working set is read in place, so capacity costs only index arrays)."""
    return int(-(-p // CD_BLOCK) * CD_BLOCK)


def bucket(size: int, p: int) -> int:
    """``size`` rounded up to the next of 16, 24, 32, 48, 64, 96, ... (powers of two and
    their 1.5 multiples; at most ``p``): the Newton step's cost grows with the square of its
    size, so half-steps waste at most 1.8x where powers of two alone waste up to 4x."""
    size = max(int(size), 16)
    pow2 = 1 << (size - 1).bit_length()
    return int(min(pow2 * 3 // 4 if size <= pow2 * 3 // 4 else pow2, p))


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
    UU = dot(U, U.T)
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


def step_in_box(wS, wN, valid, lower, upper):
    """:func:`step_to_minimizer` that also stops where a coordinate first reaches a nonzero
    bound (set to exactly that bound; a zero bound is a sign change already). Returns
    ``(w, whether a bound stopped the step)``."""
    bound = jnp.where(wN > wS, upper, lower)
    hit = valid & (bound != 0) & ((wN - bound) * (wS - bound) <= 0) & (wN != wS)
    frac = jnp.where(hit, (bound - wS) / jnp.where(hit, wN - wS, 1.0), jnp.inf)
    t = jnp.minimum(1.0, jnp.min(frac))
    first = hit & (frac <= t)
    # the target pulled back to the first bound, on the same ray: a sign change before it
    # still stops the step first
    w = step_to_minimizer(wS, jnp.where(first, bound, wS + t * (wN - wS)), valid)
    stopped = jnp.any(first & (w == bound))
    return w, stopped


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


def _cd_epoch(XT, prep, ws, count, lips, l1w, box, xw, l2, w, r):
    """One cyclic pass over the working set:
    ``w_k = ST(w_k L_k + xc_k . D r, l1_k) / (L_k + l2)`` (clipped to ``box = (lower,
    upper)`` of the working set unless None), with ``r`` kept up to date.

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
        if box is not None:
            lo, hi = (lax.dynamic_slice_in_dim(a, k0, CD_BLOCK) for a in box)
        new, shift = [], jnp.zeros((), r.dtype)
        for u in range(CD_BLOCK):
            v = wb[u] * lb[u] + jnp.vdot(R[u], d * r) + shift * xb[u]
            nu = jnp.where(lb[u] > 0, jnp.sign(v) * jnp.maximum(jnp.abs(v) - tb[u], 0.0) / (lb[u] + l2), 0.0)
            if box is not None:  # the 1-D problem is convex: its minimiser in the box is the clipped one
                nu = jnp.clip(nu, lo[u], hi[u])
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
    support and signs are those the call started from, and the epochs run. ``l1`` may be a
    :class:`~jaxreg.solvers.working_set_check.Box`: every iterate then stays in it.
    """
    support = w != 0
    ws, count = select(scores, support, size, cap)
    d = prep.d
    xw = prep.xbar.at[ws].get(mode="fill", fill_value=0.0)
    lips = ws_apply(XT, ws, count, lambda R, xb: dot((R - xb[:, None]) ** 2, d), xw, r)
    l1, lower, upper = box_terms(l1)
    l1w = l1.at[ws].get(mode="fill", fill_value=1.0)
    box = None if lower is None else tuple(b.at[ws].get(mode="fill", fill_value=0.0) for b in (lower, upper))
    terms = l1w if box is None else Box(l1w, *box)
    obj = lambda w, r: primal(d, r, w, l1w, l2)  # noqa: E731

    def inside(w):
        return jnp.asarray(True) if box is None else jnp.all((w >= box[0]) & (w <= box[1]))

    def block(s: _CD):
        def epoch(carry, _):
            carry = _cd_epoch(XT, prep, ws, count, lips, l1w, box, xw, l2, *carry)
            return carry, carry

        (w, r), (W, Rs) = lax.scan(epoch, (s.w, s.r), None, length=ANDERSON_K + 1)
        # r is affine in w and the weights sum to one: the same combination of the
        # residuals is the extrapolated point's residual (no pass over the rows)
        c = anderson_weights(W)
        w_acc, r_acc = dot(c, W[1:]), dot(c, Rs[1:])
        if box is not None:  # a coordinate that stayed on its bound stays there exactly (sum c = 1 rounds)
            w_acc = jnp.where(jnp.all(W[1:] == W[-1], axis=0), W[-1], w_acc)
        # kept only inside the box (an extrapolation can leave it)
        better = jnp.all(jnp.isfinite(w_acc)) & inside(w_acc) & (obj(w_acc, r_acc) < obj(w, r))
        w = jnp.where(better, w_acc, w)
        r = jnp.where(better, r_acc, r)
        dr = d * r
        corr = ws_apply(XT, ws, count, lambda R, xb: dot(R, dr) - xb * jnp.sum(dr), xw, r)
        crit, _, _ = criterion(corr, w, r, prep, terms, l2)
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
    """Exact minimiser on the support with its signs fixed (see :mod:`jaxreg.solvers.working_set`).

    Where the step to that minimiser would flip a sign, it stops at the first coordinate
    to reach zero and solves again with that coordinate held at zero, up to
    ``NEWTON_ROUNDS`` times. One factorization serves every round: the minimiser of
    ``1/2 x^T G x - c^T x`` subject to ``x_R = 0`` is ``x0 - Z lam`` with ``x0 = G^{-1} c``,
    ``Z = G^{-1} E_R`` (two triangular solves per dropped coordinate) and ``lam`` from the
    small system ``Z_R lam = x0_R``. With a :class:`~jaxreg.solvers.working_set_check.Box`
    the coordinates on a nonzero bound are held there (the solve is over the others, with
    ``yc - X_rest w_rest = r + Xs^T w_S`` as its target), and the step also stops where a
    coordinate first reaches a nonzero bound (held there: no further round); a zero bound
    is a sign change. Returns ``(w, r, accepted)``."""
    dtype = w.dtype
    p = w.shape[0]
    l1, lower, upper = box_terms(l1)
    free = w != 0 if lower is None else (w != 0) & (w != lower) & (w != upper)
    S, _ = compact(free, size)
    valid = S < p
    Xs = rows(XT, prep, S)  # (size, n), zero rows for padding
    Xsd = Xs * jnp.sqrt(prep.d)
    wS = w.at[S].get(mode="fill", fill_value=0.0)
    l1S = l1.at[S].get(mode="fill", fill_value=0.0)
    fit_to = prep.yc  # what the solved coordinates fit: every other one is zero,
    if lower is not None:  # or held on its bound
        box = tuple(b.at[S].get(mode="fill", fill_value=0.0) for b in (lower, upper))
        fit_to = r + dot(wS, Xs)
    eye = jnp.eye(size, dtype=dtype)
    G = jnp.where(valid[:, None] & valid[None, :], dot(Xsd, Xsd.T) + l2 * eye, eye)
    C = lax.linalg.cholesky(G, symmetrize_input=False)

    def g_solve(b):
        return jax.scipy.linalg.cho_solve((C, True), b)

    x0 = g_solve(jnp.where(valid, dot(Xs, prep.d * fit_to) - l1S * jnp.sign(wS), 0.0))
    K = NEWTON_ROUNDS
    slots = jnp.arange(K)

    def solve(carry):
        v, Z, dropped, nd, _ = carry
        used = slots < nd
        M = jnp.where(used[:, None] & used[None, :], Z[dropped], jnp.eye(K, dtype=dtype))
        # M is a principal submatrix of G^-1 (identity on unused slots): positive definite
        lam = cho_solve(M, jnp.where(used, x0[dropped], 0.0))  # compiles faster than an LU solve
        on = valid & (v != 0)
        target = x0 - dot(Z, jnp.where(used, lam, 0.0))
        if lower is None:
            v_new, bounded = step_to_minimizer(v, target, on), jnp.asarray(False)
        else:
            v_new, bounded = step_in_box(v, target, on, *box)
        # a coordinate that reached zero wanted to flip its sign: hold it at zero and solve again
        newly = on & (v_new == 0)
        more = jnp.any(newly) & (nd < K) & ~bounded
        j = jnp.argmax(newly).astype(jnp.int32)
        z = g_solve(jnp.zeros(size, dtype).at[j].set(1.0))
        Z = jnp.where(more, Z.at[:, jnp.minimum(nd, K - 1)].set(z), Z)
        dropped = jnp.where(more, dropped.at[jnp.minimum(nd, K - 1)].set(j), dropped)
        return v_new, Z, dropped, nd + more.astype(nd.dtype), more

    init = (wS, jnp.zeros((size, K), dtype), jnp.zeros(K, jnp.int32), jnp.zeros((), jnp.int32), jnp.asarray(True))
    w_new = lax.while_loop(lambda c: c[4], solve, init)[0]
    r_new = fit_to - dot(w_new, Xs)
    d = prep.d
    ok = jnp.all(jnp.isfinite(w_new)) & (primal(d, r_new, w_new, l1S, l2) <= primal(d, r, wS, l1S, l2))
    w = jnp.where(ok, w.at[S].set(w_new, mode="drop"), w)
    return w, jnp.where(ok, r_new, r), ok


# one problem at a time, also within a batch (see working_set_loop.inner_solve_batch)
CD = jax.jit(cd, static_argnames=("cap",))
NEWTON = jax.jit(newton, static_argnames=("size",))
