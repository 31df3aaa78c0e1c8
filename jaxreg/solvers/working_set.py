"""Working sets for L1-type penalties: coordinate descent on a few features, then an exact
Newton step on the support; the duality gap as the stopping rule.

Penalties handled (written as ``sum_j l1_j |w_j| + l2 / 2 ||w||^2``): ``L1``,
``WeightedL1``, ``ElasticNet`` and ``Lp`` with ``p = 1``; losses: squared (this module) and
logistic (:mod:`jaxreg.solvers.working_set_logistic`).

The outer loop runs on the host (as skglm's and celer's do) and calls three jit-compiled
pieces whose sizes are bucketed, so a fit compiles a handful of shapes however many
iterations it takes:

``start``
    constants, the residual and a ``check`` at the initial point;
``cd`` (static capacity: 256, 2048, 16384, ... features)
    the working set: the support and the features with the largest subdifferential
    distance, ``max(16, 2 * support)`` in all (geometric growth), chosen by a threshold
    found by bisection (XLA's sort is slow on CPU). Cyclic coordinate descent on it with
    Anderson extrapolation every ``K + 1`` epochs, kept only when it lowers the objective,
    until the subproblem's criterion is below ``0.3 x`` the outer one or its support has
    stopped changing; then a ``check``: one ``v @ X`` product gives the criterion and the
    next scores;
``newton`` (static size: the support rounded up to a power of two; run when the support
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
``Xt`` is never formed: ``Xt^T v = (sqrt(d) v) @ X - xbar sum(sqrt(d) v)`` and only the
working set's columns are gathered, centred and scaled.

Stopping rule (scikit-learn's): the duality gap at the dual point ``theta = c r`` (the
residual, rescaled by ``c = min(1, min_j l1_j / |Xt_j^T r - l2 w_j|)`` to be feasible),
relative to ``||yt||^2``: scikit-learn's ``gap <= tol * ||y - ybar||^2`` with its factor ``n``
taken out. With an unpenalized feature (a zero weight) no such dual point exists and the
rule is the largest subdifferential distance instead.

Every piece also has a batched form (``vmap`` over all arguments but ``X``) that solves
several problems on the same design at once: the folds of a cross-validation (held-out
rows get weight zero) or several targets.
"""

from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg.losses import Logistic, Loss, Squared
from jaxreg.penalties import L1, ElasticNet, Lp, Penalty, WeightedL1, _l1_distance
from jaxreg.solvers._common import CONVERGED, MAX_ITER, SolverOutput

CRITERIA = ("duality_gap", "subdiff_distance")

ANDERSON_K = 5  # extrapolate from the last K + 1 epochs (skglm's default)
WS_MIN = 16  # smallest working set
CAPACITY_MIN = 256  # working-set capacities are CAPACITY_MIN * 8^m (one compile each)
CAPACITY_GROWTH = 8
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
    """The penalty as ``sum_j l1_j |w_j| + l2 / 2 ||w||^2``: ``(l1 (p,), l2 scalar)``."""
    ones = jnp.ones(n_features, dtype)
    alpha = jnp.asarray(penalty.alpha, dtype)
    if isinstance(penalty, ElasticNet):
        r = jnp.asarray(penalty.l1_ratio, dtype)
        return alpha * r * ones, alpha * (1.0 - r)
    if isinstance(penalty, WeightedL1):
        return alpha * jnp.asarray(penalty.weights, dtype), jnp.zeros((), dtype)
    return alpha * ones, jnp.zeros((), dtype)  # L1, Lp(p=1)


# ----------------------------------------------------------------------------- compilation


class Compiler:
    """Ahead-of-time compiled pieces keyed on (piece, static settings, argument shapes).

    ``compile_time`` adds up this instance's compiling; ``compiled`` counts the shapes it
    compiled; ``Compiler.cache`` holds every executable of the process.
    """

    cache: dict = {}

    def __init__(self):
        self.compile_time = 0.0
        self.compiled = 0

    def __call__(self, fn, *args, **static):
        leaves, treedef = jax.tree.flatten(args)
        key = (fn, tuple(sorted(static.items())), treedef, tuple((x.shape, str(x.dtype)) for x in leaves))
        exe = self.cache.get(key)
        if exe is None:
            t0 = time.perf_counter()
            exe = fn.lower(*args, **static).compile()
            self.compile_time += time.perf_counter() - t0
            self.compiled += 1
            self.cache[key] = exe
        return exe(*args)


def pieces(*fns_and_statics):
    """``{name: (jit(fn), jit(vmap(fn)))}``: the batched form maps every argument but the
    first (the design ``X``, shared) over a leading axis."""

    def both(fn, n_args, static):
        single = jax.jit(fn, static_argnames=static)
        axes = (None,) + (0,) * (n_args - 1)
        batched = jax.jit(lambda *a, **s: jax.vmap(partial(fn, **s), in_axes=axes)(*a), static_argnames=static)
        return single, batched

    return {fn.__name__: both(fn, n, static) for fn, n, static in fns_and_statics}


def capacity(size: int, p: int) -> int:
    """The working-set capacity for ``size`` features: ``CAPACITY_MIN * CAPACITY_GROWTH^m``,
    at most ``p`` rounded up to a multiple of ``CD_BLOCK``."""
    c = CAPACITY_MIN
    while c < size:
        c *= CAPACITY_GROWTH
    return int(min(c, -(-p // CD_BLOCK) * CD_BLOCK))


def bucket(size: int, p: int) -> int:
    """``size`` rounded up to a power of two (at least 16, at most ``p``)."""
    return int(min(max(16, 1 << max(int(size) - 1, 0).bit_length()), p))


# ----------------------------------------------------------------------------- shared steps


def select(scores, support, size, cap):
    """Indices (ascending, padded with ``p``) of the support and of the ``size - |support|``
    largest positive scores elsewhere; ``cap`` is the static capacity."""
    p = scores.shape[0]
    m = jnp.maximum(size - jnp.sum(support), 0)
    s = jnp.where(support, 0.0, scores)

    def halve(_, bounds):  # smallest tau with #{s > tau} <= m, by bisection on [0, max s]
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        ok = jnp.sum(s > mid) <= m
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

    hi = jnp.max(s)
    _, tau = lax.fori_loop(0, BISECTION_STEPS, halve, (jnp.zeros_like(hi), hi))
    return compact(support | (s > tau), cap)


def compact(mask, size):
    """The indices where ``mask`` holds, ascending, padded with ``len(mask)`` to ``size``
    (a cumulative sum and a scatter: no sort)."""
    p = mask.shape[0]
    slot = jnp.where(mask, jnp.cumsum(mask) - 1, size)
    idx = jnp.full(size, p, jnp.int32).at[slot].set(jnp.arange(p, dtype=jnp.int32), mode="drop")
    return idx, jnp.minimum(jnp.sum(mask), size)


def anderson(W):
    """Extrapolation from iterates ``W`` (K + 1, k): ``sum c_i W_i`` with ``c`` minimising
    ``||sum c_i (W_i - W_{i-1})||`` subject to ``sum c = 1`` (a ridge-regularized solve)."""
    U = jnp.diff(W, axis=0)
    UU = _dot(U, U.T)
    K = UU.shape[0]
    reg = 1e-10 * jnp.maximum(jnp.trace(UU), jnp.finfo(W.dtype).tiny)
    c = cho_solve(UU + reg * jnp.eye(K, dtype=W.dtype), jnp.ones(K, W.dtype))
    return _dot(c / jnp.sum(c), W[1:])


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
    """Per-problem constants: ``sqrt(d)``, weighted column means, ``yt``, ``ybar``."""

    sd: jax.Array
    xbar: jax.Array
    yt: jax.Array
    ybar: jax.Array


class Check(NamedTuple):
    """The outer loop's view of a point: criterion (and which), scores, support size,
    objective, and ``corr = Xt^T rho`` (reused when only the penalty changes)."""

    crit: jax.Array
    kind: jax.Array
    scores: jax.Array
    nnz: jax.Array
    obj: jax.Array
    corr: jax.Array


def xt_dot(X, prep: Prep, v):
    """``Xt^T v`` for the centred, scaled design, without forming it."""
    u = prep.sd * v
    return _dot(u, X) - prep.xbar * jnp.sum(u)


def gather_columns(X, prep: Prep, idx):
    """Columns ``idx`` of ``Xt`` as rows ``(len(idx), n)``; zero rows for padding (>= p)."""
    cols = X.at[:, idx].get(mode="fill", fill_value=0.0, indices_are_sorted=True)
    xbar = prep.xbar.at[idx].get(mode="fill", fill_value=0.0)
    return (cols - xbar).T * prep.sd


def criterion(corr, w, rho, yt, l1, l2):
    """The stopping measure for ``corr = Xt^T rho`` (on all features or a subset).

    The duality gap relative to ``||yt||^2`` when every ``l1_j > 0``, else the largest
    subdifferential distance. Returns ``(value, kind, per-feature distance)``.
    """
    xta = corr - l2 * w
    dist = _l1_distance(w, -xta, l1)
    ratio = jnp.where(l1 > 0, jnp.abs(xta) / jnp.where(l1 > 0, l1, 1.0), 0.0)
    dual_norm = jnp.max(ratio, initial=0.0)
    c = jnp.where(dual_norm > 1.0, 1.0 / dual_norm, 1.0)
    gap = 0.5 * (1.0 + c**2) * (jnp.vdot(rho, rho) + l2 * jnp.vdot(w, w)) + jnp.vdot(l1, jnp.abs(w))
    gap = gap - c * jnp.vdot(rho, yt)
    scale = jnp.maximum(jnp.vdot(yt, yt), jnp.finfo(yt.dtype).tiny)
    use_gap = jnp.all(l1 > 0)
    value = jnp.where(use_gap, jnp.maximum(gap, 0.0) / scale, jnp.max(dist, initial=0.0))
    return value, jnp.where(use_gap, 0, 1), dist


def primal(rho, w, l1, l2):
    return 0.5 * jnp.vdot(rho, rho) + jnp.vdot(l1, jnp.abs(w)) + 0.5 * l2 * jnp.vdot(w, w)


def evaluate(X, corr, prep: Prep, w, rho, l1, l2) -> Check:
    """The check from a known ``corr = Xt^T rho`` (``X`` is unused: it keeps the shared
    argument first, as the batched pieces expect)."""
    crit, kind, dist = criterion(corr, w, rho, prep.yt, l1, l2)
    return Check(crit, kind, jnp.where(w != 0, jnp.inf, dist), jnp.sum(w != 0), primal(rho, w, l1, l2), corr)


def check(X, prep: Prep, w, rho, l1, l2) -> Check:
    return evaluate(X, xt_dot(X, prep, rho), prep, w, rho, l1, l2)


def start(X, y, weights, w, l1, l2, *, fit_intercept: bool):
    """Constants and the residual ``yt - Xt w``."""
    d = weights / jnp.sum(weights)
    if fit_intercept:
        xbar, ybar = _dot(d, X), jnp.vdot(d, y)
    else:
        xbar, ybar = jnp.zeros(X.shape[1], X.dtype), jnp.zeros((), X.dtype)
    sd = jnp.sqrt(d)
    prep = Prep(sd, xbar, sd * (y - ybar), ybar)
    return prep, prep.yt - sd * (_dot(X, w) - jnp.vdot(xbar, w))


def _cd_epoch(XwT, lips, l1w, l2, count, w, rho):
    """One cyclic pass over the first ``count`` rows (rounded up to a multiple of
    ``CD_BLOCK``): ``w_j = ST(w_j L_j + x_j . rho, l1_j) / (L_j + l2)``, the residual kept
    up to date. ``CD_BLOCK`` updates are written out in each loop step: XLA's per-step
    overhead on CPU is larger than one update's arithmetic."""

    def body(i, carry):
        w, rho = carry
        j = i * CD_BLOCK
        xb, lb, tb, wb = (lax.dynamic_slice_in_dim(a, j, CD_BLOCK) for a in (XwT, lips, l1w, w))
        new = []
        for u in range(CD_BLOCK):
            v = wb[u] * lb[u] + jnp.vdot(xb[u], rho)
            nu = jnp.where(lb[u] > 0, jnp.sign(v) * jnp.maximum(jnp.abs(v) - tb[u], 0.0) / (lb[u] + l2), 0.0)
            rho = rho - (nu - wb[u]) * xb[u]
            new.append(nu)
        return lax.dynamic_update_slice_in_dim(w, jnp.stack(new), j, 0), rho

    return lax.fori_loop(0, (count + CD_BLOCK - 1) // CD_BLOCK, body, (w, rho))


class _CD(NamedTuple):
    w: jax.Array
    rho: jax.Array
    epochs: jax.Array
    crit: jax.Array
    stable: jax.Array


def cd(X, prep: Prep, w, rho, scores, l1, l2, tol_in, *, cap: int):
    """Coordinate descent on a working set of at most ``cap`` features.

    Returns ``(w, rho, stalled, epochs)``; ``stalled`` says the support and signs did not change
    over the last Anderson block while the criterion is still above ``tol_in`` (the cue
    for :func:`newton`).
    """
    support = w != 0
    ws, count = select(scores, support, jnp.maximum(WS_MIN, 2 * jnp.sum(support)), cap)
    XwT = gather_columns(X, prep, ws)
    lips = jnp.sum(XwT**2, axis=1)
    l1w = l1.at[ws].get(mode="fill", fill_value=1.0)
    obj = lambda w, r: primal(r, w, l1w, l2)  # noqa: E731

    def block(s: _CD):
        def epoch(carry, _):
            carry = _cd_epoch(XwT, lips, l1w, l2, count, *carry)
            return carry, carry[0]

        (w, rho), W = lax.scan(epoch, (s.w, s.rho), None, length=ANDERSON_K + 1)
        w_acc = anderson(W)
        rho_acc = rho + _dot(w - w_acc, XwT)
        better = jnp.all(jnp.isfinite(w_acc)) & (obj(w_acc, rho_acc) < obj(w, rho))
        w = jnp.where(better, w_acc, w)
        rho = jnp.where(better, rho_acc, rho)
        crit, _, _ = criterion(_dot(XwT, rho), w, rho, prep.yt, l1w, l2)
        stable = jnp.all(jnp.sign(w) == jnp.sign(s.w))
        return _CD(w, rho, s.epochs + ANDERSON_K + 1, crit, stable)

    def cond(s: _CD):
        return (s.crit > tol_in) & ~s.stable & (s.epochs < MAX_EPOCHS)

    w_ws = w.at[ws].get(mode="fill", fill_value=0.0)
    s0 = _CD(w_ws, rho, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, rho.dtype), jnp.asarray(False))
    s = lax.while_loop(cond, block, s0)
    w = w.at[ws].set(s.w, mode="drop")
    return w, s.rho, s.stable & (s.crit > tol_in), s.epochs


def newton(X, prep: Prep, w, rho, l1, l2, *, size: int):
    """Exact minimiser on the support with its signs fixed (module docstring).
    Returns ``(w, rho, accepted)``."""
    dtype = w.dtype
    p = w.shape[0]
    on = w != 0
    S, _ = compact(on, size)
    valid = S < p
    XsT = gather_columns(X, prep, S)
    wS = w.at[S].get(mode="fill", fill_value=0.0)
    l1S = l1.at[S].get(mode="fill", fill_value=0.0)
    eye = jnp.eye(size, dtype=dtype)
    G = jnp.where(valid[:, None] & valid[None, :], _dot(XsT, XsT.T) + l2 * eye, eye)
    rhs = jnp.where(valid, _dot(XsT, prep.yt) - l1S * jnp.sign(wS), 0.0)
    wN = cho_solve(G, rhs)
    w_new = step_to_minimizer(wS, wN, valid)
    rho_new = prep.yt - _dot(w_new, XsT)
    ok = jnp.all(jnp.isfinite(w_new)) & (primal(rho_new, w_new, l1S, l2) <= primal(rho, wS, l1S, l2))
    w = jnp.where(ok, w.at[S].set(w_new, mode="drop"), w)
    return w, jnp.where(ok, rho_new, rho), ok


def intercept(X, prep: Prep, w):
    """The optimal intercept ``ybar - xbar . w`` (``X`` unused, kept first for batching)."""
    return prep.ybar - jnp.vdot(prep.xbar, w)


SQUARED = pieces(
    (start, 6, ("fit_intercept",)),
    (check, 6, ()),
    (evaluate, 7, ()),
    (cd, 8, ("cap",)),
    (newton, 6, ("size",)),
    (intercept, 3, ()),
)


# ----------------------------------------------------------------------------- driver


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
    rho: jax.Array
    corr: jax.Array


def solve_squared(X, y, weights, l1, l2, w0, b0=None, *, fit_intercept, tol, max_iter, compiler, batched=False, state=None):
    """The outer loop. With ``batched``, ``y, weights, l1, l2, w0`` carry a leading axis of
    problems solved together (the loop runs until all have converged; sizes follow the
    largest support). ``state`` (from a previous call on the same data, e.g. the previous
    alpha of a path) replaces ``w0`` and saves the first ``X`` product.

    Returns ``(Outcome, SquaredState)``.
    """
    P = {name: fns[int(batched)] for name, fns in SQUARED.items()}
    p = X.shape[1]
    if state is None:
        prep, rho = compiler(P["start"], X, y, weights, w0, l1, l2, fit_intercept=fit_intercept)
        w = w0
        chk = compiler(P["check"], X, prep, w, rho, l1, l2)
    else:
        prep, w, rho = state.prep, state.w, state.rho
        chk = compiler(P["evaluate"], X, state.corr, prep, w, rho, l1, l2)
    history, n_iter = [], 0
    while True:
        crit, nnz = np.asarray(chk.crit), np.asarray(chk.nnz)
        if n_iter:
            history.append(np.asarray(chk.obj))
        done = crit <= tol
        if np.all(done) or n_iter >= max_iter:
            break
        n_iter += 1
        cap = capacity(max(WS_MIN, 2 * int(np.max(nnz))), p)
        tol_in = jnp.asarray(np.where(done, np.inf, INNER_FRACTION * crit).astype(crit.dtype))
        w, rho, stable, _ = compiler(P["cd"], X, prep, w, rho, chk.scores, l1, l2, tol_in, cap=cap)
        if np.any(np.asarray(stable) & ~done):
            size = bucket(int(np.max(np.sum(np.asarray(w) != 0, axis=-1))), p)
            w, rho, _ = compiler(P["newton"], X, prep, w, rho, l1, l2, size=size)
        chk = compiler(P["check"], X, prep, w, rho, l1, l2)
    b = compiler(P["intercept"], X, prep, w)
    status = CONVERGED if np.all(np.asarray(chk.crit) <= tol) else MAX_ITER
    hist = np.asarray(history).reshape(len(history), *np.shape(chk.obj))
    out = Outcome(np.asarray(w), np.asarray(b), n_iter, status, np.asarray(chk.crit), np.asarray(chk.kind), hist)
    return out, SquaredState(prep, w, rho, chk.corr)


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
    X, y, weights = data
    l1, l2 = l1_l2(penalty, X.shape[1], X.dtype)
    kw = dict(fit_intercept=fit_intercept, tol=float(hyper.tol), max_iter=max_iter, compiler=compiler)
    with single_threaded_blas():
        if isinstance(loss, Logistic):
            from jaxreg.solvers.working_set_logistic import solve_logistic

            out, _ = solve_logistic(X, y, weights, l1, l2, w0, b0, **kw)
        else:
            out, _ = solve_squared(X, y, weights, l1, l2, w0, **kw)
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
