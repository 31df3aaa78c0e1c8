"""The outer loop of the working-set solver for the squared loss (see
:mod:`jaxreg.solvers.working_set` for the algorithm), run on the host: check, grow the working
set, solve on it (:func:`inner_solve`, one problem of a batch at a time), until the criterion
is below ``tol``. The logistic solver (:mod:`jaxreg.solvers.working_set_logistic`) runs it as
its inner solver.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from typing import NamedTuple

import jax
import numpy as np

from jaxreg._compile import compiled
from jaxreg.solvers._common import CONVERGED, MAX_ITER
from jaxreg.solvers.support_newton import newton_step
from jaxreg.solvers.working_set_check import SQUARED, Prep
from jaxreg.solvers.working_set_kernels import ANDERSON_K, CD, NEWTON, NEWTON_MAX, NEWTON_ROUNDS, bucket
from jaxreg.solvers.working_set_layout import Design

WS_MIN = 16  # smallest working set
WS_GROWTH = 3  # the working set holds this many times the support (see ws_size),
WS_GROWTH_WARM = 2  # or this many from a warm start (most of the support is already there),
WS_GROWTH_WARM_SQUARED = 1.5  # the squared loss's (see ws_size)
NEWTON_BYTES = 1 << 29  # and the most memory its support's rows may take (512 MiB)
FAR = 10.0  # criterion / tol above which a stable support goes to the Newton step at once
INNER_FRACTION = 0.3  # inner tolerance as a fraction of the outer criterion


def ws_size(nnz, warm: bool, growth_warm=WS_GROWTH_WARM):
    """The working-set sizes for supports of ``nnz`` features: ``max(WS_MIN, g * nnz)``
    (geometric growth while the support grows), ``g = WS_GROWTH`` from ``w = 0`` and
    ``growth_warm`` from a warm start. Measured (interleaved A/B, 7 reps): 3 instead of
    2 took 15-20% off the amax/100 fits from zero (fewer outer iterations, 16 -> 13 on
    1000 x 5000), but added ~10% to LassoCV on 2000 x 20000, whose alphas start warm; there
    1.5 instead of 2 (``WS_GROWTH_WARM_SQUARED``, the squared loss's) took 9% off LassoCV's
    CPU time (7% on 1000 x 5000: the small alphas' supports of 500-700 features grow by ~20
    per alpha, and each epoch costs the working set's size), 1.25 no more."""
    return np.maximum(WS_MIN, (growth_warm if warm else WS_GROWTH) * np.asarray(nnz)).astype(np.int64)


class NonFiniteDesign(ValueError):
    """The first pass over the design gave a non-finite result: ``X`` holds a NaN or an
    infinity (or values so large that a product overflows). :func:`working_set` turns it
    into the error that names the entry; ``fit`` leaves its own pass over ``X`` out."""


def first_check_finite(crit, y=None):
    """Raise :class:`NonFiniteDesign` when the criterion of the first pass is not finite,
    naming ``y`` when ``||y||^2`` alone overflows (from ``|y| ~ 1e154`` in float64)."""
    if np.all(np.isfinite(crit)):
        return
    if y is not None:
        y = np.asarray(y)
        top = float(np.max(np.abs(y), initial=0.0))
        with np.errstate(over="ignore"):
            squares = np.float64(top) * top * max(y.shape[-1], 1)
        if np.isfinite(top) and squares > np.finfo(y.dtype).max:
            raise NonFiniteDesign(
                f"y's largest absolute value is {top:.3g}: ||y||^2 overflows {y.dtype}; rescale y (divide it "
                "by a power of ten and multiply the coefficients and an L1 alpha by the same); jaxreg.fit and "
                "the single-alpha estimators rescale a squared-loss y themselves"
            )
    raise NonFiniteDesign(
        "the first pass over X gave non-finite values: X has NaN or infinite entries, or entries "
        "so large that their products (with each other or with y) overflow; rescale X"
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


def inner_solve(compiler, design, prep, w, r, scores, l1, l2, tol_in, size, far, *, own_constants=False):
    """One working set: coordinate descent, then the Newton step when the support came out
    as it went in and coordinate descent is slow to finish: it needed more than one
    Anderson block, or ``far`` (the criterion is orders of magnitude above the tolerance).
    ``own_constants``: read the Newton step's constants from ``prep`` here rather than
    through the design's cache (which threads sharing the design must not use).
    Returns ``(w, r)``."""
    XT, size = design.XT, int(size)
    tol_in, n_ws = np.asarray(tol_in), np.asarray(size, np.int32)
    w, r, same, epochs = compiler(CD, XT, prep, w, r, scores, l1, l2, tol_in, n_ws, cap=design.cap(size))
    if bool(same) and (int(epochs) > ANDERSON_K + 1 or far):
        s = int(np.sum(np.asarray(w) != 0))
        n_newton = bucket(s, design.p)
        if 0 < s <= NEWTON_MAX and n_newton * XT.shape[1] * XT.dtype.itemsize <= NEWTON_BYTES:
            if design.host is not None:  # CPU: numpy and LAPACK, no program per support size
                consts = _host_constants(prep, l1) if own_constants else design.host_constants(prep, l1)
                w, r, _ = newton_step(design.host, *consts[:3], np.asarray(w), np.asarray(r), consts[3],
                                      float(l2), NEWTON_ROUNDS)  # fmt: skip
                w, r = jax.device_put((w, r))
            else:
                w, r, _ = compiler(NEWTON, XT, prep, w, r, l1, l2, size=n_newton)
    return w, r


def _host_constants(prep, l1):
    """``(d, xbar, yc, l1)`` in numpy (what :meth:`Design.host_constants` caches)."""
    return (*(np.asarray(a) for a in (prep.d, prep.xbar, prep.yc)), jax.tree.map(np.asarray, l1))


def take(tree, b):
    """Problem ``b`` of a batch (every leaf's row ``b``)."""
    return jax.tree.map(lambda a: a[b], tree)


def put(tree, b, values):
    """``tree`` with problem ``b`` replaced by ``values``."""
    return jax.tree.map(lambda a, v: a.at[b].set(v), tree, values)


def take_rows(tree, b, rows):
    """:func:`take` with the row-indexed arrays (``prep.d``, ``prep.yc``, ``r``) restricted to
    ``rows`` (padding index ``n``: zero), for a problem solved on its own rows
    (:meth:`Design.row_subsets`). ``tree`` is ``(prep, w, r, scores, l1, l2)``."""
    prep, w, r, scores, l1, l2 = take(tree, b)
    at = lambda a: a.at[rows].get(mode="fill", fill_value=0.0)  # noqa: E731
    return prep._replace(d=at(prep.d), yc=at(prep.yc)), w, at(r), scores, l1, l2


def put_rows(w, r, b, wb, rb, rows):
    """:func:`put` of ``(wb, rb)``, ``rb`` on ``rows`` only. ``r`` keeps its old values on the
    other rows: their weight is zero, so nothing reads them (every use of the residual is
    weighted by ``d``; float32's refresh recomputes all of it)."""
    return w.at[b].set(wb), r.at[b].set(r[b].at[rows].set(rb, mode="drop"))


TAKE, PUT, TAKE_ROWS, PUT_ROWS = jax.jit(take), jax.jit(put), jax.jit(take_rows), jax.jit(put_rows)


def inner_solve_batch(compiler, design, prep, w, r, scores, l1, l2, tol_in, size, far, subsets=None):
    """:func:`inner_solve` for each problem of a batch whose ``tol_in`` is finite (the
    others are done). One call per problem, not ``vmap``-ed: the problems of a batch (the
    folds of a cross-validation) need different numbers of epochs and working sets of
    different sizes, and a batched loop would run every problem as long and as wide as the
    slowest. The passes over all of ``X`` (the checks) stay batched. With ``subsets``
    (:meth:`Design.row_subsets`), each problem's coordinate descent and Newton step run on
    a copy of the design with its positive-weight rows only.

    The problems run on ``THREADS`` host threads: each drives its own compiled calls (the
    interpreter's lock is released while one runs), so coordinate descent, which XLA runs
    on one core, keeps every core busy."""
    active = [int(b) for b in np.flatnonzero(np.isfinite(tol_in))]
    state = (prep, w, r, scores, l1, l2)
    shared = _SharedCompiler.of(compiler)
    context = _caller_context()

    def one(b):
        with context():
            return one_in_context(b)

    def one_in_context(b):
        i = np.asarray(b, np.int32)
        if subsets is None:
            args = shared(TAKE, state, i)
            return inner_solve(shared, design, *args, tol_in[b], size[b], far[b], own_constants=True)
        sub, rows = subsets[b]
        args = shared(TAKE_ROWS, state, i, rows)
        return inner_solve(shared, sub, *args, tol_in[b], size[b], far[b], own_constants=True)

    if THREADS > 1 and len(active) > 1:
        solved = list(_pool().map(one, active))
    else:
        solved = [one(b) for b in active]
    for b, (wb, rb) in zip(active, solved, strict=True):
        i = np.asarray(b, np.int32)
        if subsets is None:
            w, r = compiler(PUT, (w, r), i, (wb, rb))
        else:
            w, r = compiler(PUT_ROWS, w, r, i, wb, rb, subsets[b][1])
    return w, r


THREADS = min(2, os.cpu_count() or 1)  # host threads solving the problems of a batch
_POOL = []


def _caller_context():
    """A maker of contexts with this thread's JAX settings (x64, default device, matmul
    precision: thread-local, so a worker thread would not see the caller's)."""
    x64, device = jax.config.jax_enable_x64, jax.config.jax_default_device
    precision = jax.config.jax_default_matmul_precision

    def context():
        stack = contextlib.ExitStack()
        stack.enter_context(jax.enable_x64(bool(x64)))
        stack.enter_context(jax.default_device(device))
        stack.enter_context(jax.default_matmul_precision(precision))
        return stack

    return context


def _pool():
    if not _POOL:
        _POOL.append(concurrent.futures.ThreadPoolExecutor(THREADS, thread_name_prefix="jaxreg-ws"))
    return _POOL[0]


os.register_at_fork(after_in_child=_POOL.clear)  # a forked child has none of the parent's threads


class _SharedCompiler:
    """A :class:`~jaxreg._compile.Compiler` for several threads: a program missing from the
    cache is built by one thread while the others wait (two would build it twice), and its
    time is added to the compiler's; the call itself runs unlocked, through the compiler."""

    _lock = threading.Lock()

    def __init__(self, compiler):
        self.compiler = compiler

    @classmethod
    def of(cls, compiler):
        return compiler if isinstance(compiler, cls) else cls(compiler)

    def __call__(self, fn, *args, **static):
        with self._lock:
            _, seconds = compiled(fn, args, static)
            if seconds:
                self.compiler.compile_time += seconds
                self.compiler.compiled += 1
        return self.compiler(fn, *args, **static)


def solve_inner(compiler, design, *args, batched: bool, subsets=None):
    if batched:
        return inner_solve_batch(compiler, design, *args, subsets=subsets)
    return inner_solve(compiler, design, *args)


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
    subsets = design.row_subsets(weights) if batched else None
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
            first_check_finite(crit, y)
        done = crit <= tol
        if np.all(done) or n_iter >= max_iter:
            break
        n_iter += 1
        # the subproblem needs 0.3x the current criterion, but never much below tol itself
        tol_in = np.where(done, np.inf, np.maximum(INNER_FRACTION * crit, 0.9 * tol)).astype(crit.dtype)
        far = crit > FAR * tol
        size = ws_size(nnz, warm, WS_GROWTH_WARM_SQUARED)
        args = (prep, w, r, chk.scores, l1, l2, tol_in, size, far)
        w, r = solve_inner(compiler, design, *args, batched=batched, subsets=subsets)
        if XT.dtype.itemsize < 8:  # float32: the residual updated in place drifts (see residual)
            r = compiler(P["residual"], XT, prep, w)
        chk = compiler(P["check"], XT, prep, w, r, l1, l2)
    b = chk.b
    status = CONVERGED if np.all(np.asarray(chk.crit) <= tol) else MAX_ITER
    hist = np.asarray(history).reshape(len(history), *np.shape(chk.obj))
    out = Outcome(np.asarray(w), np.asarray(b), n_iter, status, np.asarray(chk.crit), np.asarray(chk.kind), hist)
    return out, SquaredState(prep, w, r, chk.corr)
