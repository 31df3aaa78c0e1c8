"""The working set written once over the ``Loss`` and ``Penalty`` interfaces: proximal
Newton with coordinate descent, on a dense or a sparse (CSC) design.

Any elementwise loss (``Loss.derivatives``: closed forms or JAX autodiff, so a user's own
``per_sample`` function works) with any separable penalty (``Penalty.prox_1d``,
``restrict``, ``subdiff_distance``). The maths is asked of those objects; nothing here
knows which loss or penalty it runs.

The outer loop runs on the host and calls two compiled pieces:

``check`` (one pass over the design)
    ``g, h = loss.derivatives(y, z)``, the gradient ``X^T (d g)``, the per-feature
    subdifferential distances (the working set's scores and, their maximum with the
    intercept's gradient, the stopping criterion: the same measure as FISTA's), the
    objective;
``inner`` (static capacity: every feature up to ``ONE_CAP``, else a power of two at or
    above the working-set size; for sparse X also the chunk width of :func:`chunk_width`)
    proximal Newton on the working set (the support and the features with the largest
    scores, ``max(m, 2 |support|)`` in all: skglm's rule, with ``m`` from 16 up to 128 on
    wide designs, :func:`min_size`): the loss replaced by its
    second-order model at ``z`` (``sum d (g u + h u^2 / 2)`` in the change ``u`` of the
    predictions), that model minimised with the penalty by cyclic coordinate descent
    (the unpenalized intercept is one more coordinate, updated by its exact minimiser
    after each epoch), then a backtracking line search on the true objective along the
    direction found. For the squared loss the model is exact and the step is always
    accepted: this is plain coordinate descent.

The working set's columns are read in place: a dense design's rows of ``X^T`` one dynamic
slice each, a sparse one's CSC entries in chunks of a width fixed per design
(:func:`chunk_width`), so a coordinate update costs the column's nonzeros, not ``n`` and
not the longest column's, and a capacity costs only index-sized vectors.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._compile import Compiler, default_device
from jaxreg._tree import pytree_dataclass
from jaxreg.losses import Loss, Squared
from jaxreg.penalties import Penalty
from jaxreg.solvers import working_set as _ws
from jaxreg.solvers._common import CONVERGED, DIVERGED, MAX_ITER, SolverOutput
from jaxreg.solvers.working_set_kernels import anderson_weights

__all__ = ["handles", "engine", "working_set", "CRITERIA", "DenseColumns", "SparseColumns", "columns"]

CRITERIA = _ws.CRITERIA  # ("duality_gap", "subdiff_distance"): this one reports the second

WS_MIN = 16  # smallest working set, and the smallest share of the features it takes:
WS_SHARE = 40  # at least p / WS_SHARE features, up to WS_MIN_TOP (see min_size)
WS_MIN_TOP = 128
WS_GROWTH = 2  # the working set holds this many times the support
ONE_CAP = 1024  # up to this many features every working set takes capacity p (one program)
SMALL_CAP = 256  # the smallest capacity beyond that
CD_BLOCK = 1  # coordinate updates written out per loop step (capacities are multiples of it)
PN_MAX = 50  # proximal Newton iterations per working set
CD_MAX = 200  # coordinate-descent epochs per proximal Newton iteration
ANDERSON_K = 5  # extrapolate from the last K + 1 epochs (skglm's default)
CD_FRACTION = 0.3  # the model is solved to this fraction of the working set's criterion
INNER_FRACTION = 0.3  # the working set is solved to this fraction of the largest violation outside it
MAX_WIDTH = 256  # the longest chunk in which a sparse column is read
LINE_SEARCH_STEPS = 30
ARMIJO = 1e-4

HIGHEST = lax.Precision.HIGHEST
_dot = partial(jnp.matmul, precision=HIGHEST)


def handles(loss: Loss, penalty: Penalty) -> str | None:
    """None when the engine takes the pair, else why not."""
    if not loss.elementwise:
        return (
            f"the working set needs a loss of one prediction per sample, not {loss.name!r} "
            "(one per class); use fista or lbfgs"
        )
    if not penalty.separable:
        return f"the working set needs a separable penalty, not {penalty!r}; use fista"
    return None


# ----------------------------------------------------------------------------- designs


@pytree_dataclass
class DenseColumns:
    """A dense design as ``XT`` (p, n): a feature is a contiguous row."""

    XT: jax.Array

    @property
    def n_features(self):
        return self.XT.shape[0]

    def matvec(self, w):
        return _dot(w, self.XT)

    def rmatvec(self, v):
        return _dot(self.XT, v)

    def block(self, ws, size, width):
        return DenseBlock(self.XT, ws, size)


@pytree_dataclass(static=("n_samples",))
class SparseColumns:
    """A CSC design: column ``j``'s entries are ``data[indptr[j]:indptr[j+1]]`` at rows
    ``indices[...]``; ``cols`` is each entry's column (for the full passes)."""

    data: jax.Array
    indices: jax.Array
    indptr: jax.Array
    cols: jax.Array
    n_samples: int

    @property
    def n_features(self):
        return self.indptr.shape[0] - 1

    def matvec(self, w):
        return jax.ops.segment_sum(self.data * w[self.cols], self.indices, num_segments=self.n_samples)

    def rmatvec(self, v):
        return jax.ops.segment_sum(
            self.data * v[self.indices], self.cols, num_segments=self.n_features, indices_are_sorted=True
        )

    def block(self, ws, size, width):
        start = self.indptr.at[ws].get(mode="fill", fill_value=0)
        count = self.indptr.at[ws + 1].get(mode="fill", fill_value=0) - start
        return SparseBlock(start, count, self.data, self.indices, size, width)


def _each(fn, size, cap, dtype):
    """``out[k] = fn(k)`` for the first ``size`` of ``cap`` working-set entries, one after
    the other (zero beyond): each column runs its own cost (a ``vmap`` would run every
    column as long as the longest), and the padding costs nothing."""
    return lax.fori_loop(0, size, lambda k, out: out.at[k].set(fn(k)), jnp.zeros(cap, dtype))


@pytree_dataclass
class DenseBlock:
    """The working set's rows of ``XT``, read in place (one dynamic slice per row: nothing
    is gathered, so the capacity costs only index-sized vectors); ``size`` entries of
    ``ws`` are features, the rest padding."""

    XT: jax.Array
    ws: jax.Array
    size: jax.Array

    def row(self, k):
        return lax.dynamic_index_in_dim(self.XT, self.ws[k], keepdims=False)

    def dot(self, k, v):
        return jnp.vdot(self.row(k), v)

    def model_grad(self, k, g, h, u):
        """``x_k . (g + h u)``: the model's gradient in coordinate ``k``."""
        return jnp.vdot(self.row(k), g + h * u)

    def axpy(self, k, a, u):
        return u + a * self.row(k)

    def dot_all(self, v):
        return _each(lambda k: self.dot(k, v), self.size, self.ws.shape[0], v.dtype)

    def sq_all(self, v):
        return _each(lambda k: jnp.vdot(self.row(k) ** 2, v), self.size, self.ws.shape[0], v.dtype)


@pytree_dataclass(static=("width",))
class SparseBlock:
    """The working set's columns, read in place from the CSC arrays: column ``k``'s
    ``count[k]`` entries from ``start[k]``, in chunks of ``width`` (a loop of
    ``ceil(count / width)`` steps), so a coordinate costs its own nonzeros however long
    the longest column is (one-hot designs have a few very long ones)."""

    start: jax.Array
    count: jax.Array
    data: jax.Array  # padded with MAX_WIDTH zeros at the end
    indices: jax.Array
    size: jax.Array  # working-set entries that are features (the rest is padding)
    width: int

    def _fold(self, k, fn, init):
        s, c, W = self.start[k], self.count[k], self.width
        slot = jnp.arange(W, dtype=s.dtype)

        def body(i, acc):
            # contiguous reads (the arrays end in ``width`` zeros, so a slice never clamps)
            val = lax.dynamic_slice_in_dim(self.data, s + i * W, W)
            val = jnp.where(i * W + slot < c, val, 0.0)
            return fn(lax.dynamic_slice_in_dim(self.indices, s + i * W, W), val, acc)

        return lax.fori_loop(0, (c + W - 1) // W, body, init)

    def dot(self, k, v):
        return self._fold(k, lambda i, val, acc: acc + jnp.vdot(val, v[i]), jnp.zeros((), v.dtype))

    def model_grad(self, k, g, h, u):
        # gathers of the column's rows only: O(nonzeros), not O(n)
        return self._fold(k, lambda i, val, acc: acc + jnp.vdot(val, g[i] + h[i] * u[i]), jnp.zeros((), u.dtype))

    def axpy(self, k, a, u):
        return self._fold(k, lambda i, val, u: u.at[i].add(a * val), u)

    def dot_all(self, v):
        return _each(lambda k: self.dot(k, v), self.size, self.start.shape[0], v.dtype)

    def sq_all(self, v):
        def sq(k):
            return self._fold(k, lambda i, val, acc: acc + jnp.vdot(val * val, v[i]), jnp.zeros((), v.dtype))

        return _each(sq, self.size, self.start.shape[0], v.dtype)


def columns(X, n_rows=None, full_passes=True):
    """The design in the engine's column layout, on the default device: a scipy.sparse
    matrix as :class:`SparseColumns` (``n_rows`` >= its rows: padding rows are empty), a
    dense one as :class:`DenseColumns`. Without ``full_passes`` (the caller makes ``X w``
    and ``X^T v`` itself) a sparse design leaves out what only those need. Returns
    ``(design, column nonzeros or None)``."""
    if hasattr(X, "tocsc") and hasattr(X, "nnz"):
        C = X.tocsc()
        if not C.has_canonical_format:  # a copy: the caller's matrix stays as it was
            C = C.copy()
            C.sum_duplicates()
        n, p = C.shape
        index = np.int32 if max(C.nnz, n, p) < 2**31 - 1 else np.int64
        counts = np.diff(C.indptr)
        pad = np.zeros(MAX_WIDTH, C.dtype), np.zeros(MAX_WIDTH, index)  # see SparseBlock._fold
        data, indices = np.concatenate([C.data, pad[0]]), np.concatenate([C.indices.astype(index), pad[1]])
        cols = None
        if full_passes:
            cols = np.concatenate(
                [np.repeat(np.arange(p, dtype=index), counts), np.full(MAX_WIDTH, max(p - 1, 0), index)]
            )
        design = SparseColumns(
            *jax.device_put((data, indices, C.indptr.astype(index), cols)),
            int(n if n_rows is None else n_rows),
        )
        return design, counts
    # X.T made as the fast kernels make it: an aligned copy the CPU client uses in place
    # (working_set_layout.host_transposed)
    return DenseColumns(_ws.Design.put(np.asarray(X), None).XT), None


# ----------------------------------------------------------------------------- pieces


class Check(NamedTuple):
    crit: jax.Array  # the stopping measure (``kind``: an index into CRITERIA)
    kind: jax.Array
    scores: jax.Array  # per feature: the subdifferential distance, inf on the support
    dist: jax.Array  # the largest subdifferential distance (intercept included)
    obj: jax.Array
    z: jax.Array
    b: jax.Array  # the intercept to report (the optimal one where the gap profiles it out)


def objective(loss, penalty, y, d, z, w):
    return jnp.vdot(d, loss.per_sample(y, z)) + penalty.value(w)


def data_gradient(loss, y, d, z):
    """``d * g``: the per-sample derivative of the weighted loss at ``z``."""
    return d * loss.derivatives(y, z)[0]


def check(design, y, d, w, b, z, grad, loss, penalty, gap, *, fit_intercept: bool):
    """One pass: the scores and the criterion at the predictions ``z`` (with ``z`` None,
    computed from ``w`` first: a second pass). ``grad = X^T (d g)`` when the caller
    made it (scipy on the host: see :class:`Problem`), else None.

    The criterion is the largest subdifferential distance, the intercept's gradient
    included (FISTA's measure), except with ``gap = (l1, l2, xbar)`` (the squared loss with
    a penalty of elastic-net form; ``xbar = X^T d``): then scikit-learn's duality gap
    relative to ``sum d (y - ybar)^2``, at the optimal intercept for ``w``, which is the
    intercept the check hands back."""
    if z is None:
        z = design.matvec(w) + b
    dg = data_gradient(loss, y, d, z)
    grad = design.rmatvec(dg) if grad is None else grad
    dist = penalty.subdiff_distance(w, grad)
    gb = jnp.sum(dg) if fit_intercept else jnp.zeros((), dg.dtype)
    dmax = jnp.maximum(jnp.max(dist, initial=0.0), jnp.abs(gb))
    finite = jnp.all(jnp.isfinite(grad)) & jnp.isfinite(gb)
    crit, kind = dmax, jnp.asarray(CRITERIA.index("subdiff_distance"))
    if gap is not None:
        l1, l2, xbar = gap
        r = y - z
        shift = jnp.sum(d * r) if fit_intercept else jnp.zeros((), r.dtype)  # to the optimal intercept
        ybar = jnp.vdot(d, y) if fit_intercept else jnp.zeros((), r.dtype)
        yc = y - ybar
        prep = _ws.Prep(d, xbar, yc, ybar, jnp.vdot(d, yc * yc))
        crit, kind, _ = _ws.criterion(-grad - xbar * shift, w, r - shift, prep, l1, l2)
        b = b + shift
    crit = jnp.where(finite, crit, jnp.nan)
    scores = jnp.where(w != 0, jnp.inf, dist)
    return Check(crit, kind, scores, dmax, objective(loss, penalty, y, d, z, w), z, b)


class _PN(NamedTuple):
    x: jax.Array  # working-set coefficients
    b: jax.Array
    z: jax.Array
    g: jax.Array  # d * loss derivatives at z
    h: jax.Array
    grad: jax.Array  # block gradient at z
    crit: jax.Array
    it: jax.Array
    epochs: jax.Array


def _blocks(count, fn, init):
    def body(i, carry):
        return fn(i * CD_BLOCK, carry)

    return lax.fori_loop(0, (count + CD_BLOCK - 1) // CD_BLOCK, body, init)


def inner(design, ws, count, y, d, w, b, z, loss, penalty, tol_in, *, width: int, fit_intercept: bool):
    """Proximal Newton on the working set ``ws`` (``count`` features, padded with ``p``)
    to ``tol_in``. Returns ``(w, b, z, coordinate-descent epochs)``."""
    B = design.block(ws, count, width)
    pen = penalty.restrict(ws)
    valid = jnp.arange(ws.shape[0]) < count
    dtype = z.dtype
    zero = jnp.zeros((), dtype)

    def derivs(z):
        g, h = loss.derivatives(y, z)
        return d * g, d * h

    def ws_crit(x, g, grad):
        dist = jnp.where(valid, pen.subdiff_distance(x, grad), 0.0)
        gb = jnp.abs(jnp.sum(g)) if fit_intercept else zero
        return jnp.maximum(jnp.max(dist), gb)

    def F(z, x):
        return jnp.vdot(d, loss.per_sample(y, z)) + pen.value(x)

    def pn_step(s: _PN):
        g, h = s.g, s.h
        H = jnp.where(valid, B.sq_all(h), 0.0)
        Hb = jnp.sum(h)
        tol_cd = CD_FRACTION * s.crit

        def model(x, db, u):
            # the second-order model of the loss in the change u of the predictions, plus
            # the penalty (the terms constant in (x, db) left out)
            return jnp.vdot(g, u) + 0.5 * jnp.vdot(h, u * u) + pen.value(x)

        def epoch(x, db, u):
            def block(k0, c):
                x, u, big = c
                for j in range(CD_BLOCK):
                    kk = k0 + j
                    Hk = H[kk]
                    gk = B.model_grad(kk, g, h, u)
                    xk = x[kk]
                    v = xk - gk / jnp.where(Hk > 0, Hk, 1.0)
                    new = jnp.where(Hk > 0, pen.prox_1d(v, 1.0 / jnp.where(Hk > 0, Hk, 1.0), kk), xk)
                    delta = new - xk
                    u = B.axpy(kk, delta, u)
                    x = x.at[kk].set(new)
                    big = jnp.maximum(big, Hk * jnp.abs(delta))
                return x, u, big

            x, u, big = _blocks(count, block, (x, u, zero))
            if fit_intercept:
                step = jnp.where(Hb > 0, jnp.sum(g + h * u) / jnp.where(Hb > 0, Hb, 1.0), 0.0)
                u = u - step
                db = db - step
                big = jnp.maximum(big, Hb * jnp.abs(step))
            return x, db, u, big

        def cd(carry):
            """One epoch, and every ``ANDERSON_K + 1`` epochs an Anderson extrapolation of
            the last iterates (kept only if it lowers the model: ``u`` is affine in
            ``(x, db)``, so the same combination of the ``u`` is the extrapolated point's)."""
            x, db, u, _, k, Xh, Bh, Uh = carry
            x, db, u, big = epoch(x, db, u)
            slot = k % (ANDERSON_K + 1)
            Xh, Bh, Uh = Xh.at[slot].set(x), Bh.at[slot].set(db), Uh.at[slot].set(u)

            def extrapolate(args):
                x, db, u = args
                c = anderson_weights(Xh)
                xa, dba, ua = _dot(c, Xh[1:]), _dot(c, Bh[1:]), _dot(c, Uh[1:])
                better = jnp.all(jnp.isfinite(xa)) & (model(xa, dba, ua) < model(x, db, u))
                return jnp.where(better, xa, x), jnp.where(better, dba, db), jnp.where(better, ua, u)

            x, db, u = lax.cond(slot == ANDERSON_K, extrapolate, lambda a: a, (x, db, u))
            return x, db, u, big, k + 1, Xh, Bh, Uh

        def more(carry):
            return (carry[3] > tol_cd) & (carry[4] < CD_MAX)

        x0 = s.x
        u0 = jnp.zeros_like(s.z)
        K1 = ANDERSON_K + 1
        hist = (jnp.zeros((K1,) + x0.shape, dtype), jnp.zeros(K1, dtype), jnp.zeros((K1,) + u0.shape, dtype))
        x, db, u, _, n_epochs, *_ = lax.while_loop(more, cd, (x0, zero, u0, jnp.asarray(jnp.inf, dtype), 0, *hist))
        dx = x - x0
        # Armijo on the true objective along (dx, db)
        F0 = F(s.z, x0)
        descent = jnp.vdot(s.grad, dx) + jnp.sum(g) * db + pen.value(x) - pen.value(x0)

        def ls_more(c):
            t, i, ok = c
            return ~ok & (i < LINE_SEARCH_STEPS)

        def ls_body(c):
            t, i, _ = c
            t = jnp.where(i == 0, t, 0.5 * t)
            Ft = F(s.z + t * u, x0 + t * dx)
            # rounding slack, so that the test never fails on noise close to the optimum
            slack = 10 * jnp.finfo(dtype).eps * jnp.abs(F0)
            return t, i + 1, jnp.isfinite(Ft) & (Ft <= F0 + ARMIJO * t * jnp.minimum(descent, 0.0) + slack)

        t, _, ok = lax.while_loop(ls_more, ls_body, (jnp.ones((), dtype), 0, jnp.asarray(False)))
        t = jnp.where(ok, t, 0.0)
        x, b, z = x0 + t * dx, s.b + t * db, s.z + t * u
        g, h = derivs(z)
        grad = jnp.where(valid, B.dot_all(g), 0.0)
        crit = jnp.where(ok, ws_crit(x, g, grad), 0.0)  # no progress: hand back to the outer loop
        return _PN(x, b, z, g, h, grad, crit, s.it + 1, s.epochs + n_epochs)

    x0 = w.at[ws].get(mode="fill", fill_value=0.0)
    g0, h0 = derivs(z)
    grad0 = jnp.where(valid, B.dot_all(g0), 0.0)
    s0 = _PN(x0, b, z, g0, h0, grad0, ws_crit(x0, g0, grad0), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    s = lax.while_loop(lambda s: (s.crit > tol_in) & (s.it < PN_MAX), pn_step, s0)
    return w.at[ws].set(s.x, mode="drop"), s.b, s.z, s.epochs


CHECK = jax.jit(check, static_argnames=("fit_intercept",))
DATA_GRADIENT = jax.jit(data_gradient)
INNER = jax.jit(inner, static_argnames=("width", "fit_intercept"))


# ----------------------------------------------------------------------------- driver


def capacity(size: int, p: int) -> int:
    """The static capacity for a working set of ``size`` of ``p`` features (a multiple of
    ``CD_BLOCK``; each capacity is a program to compile): all of them up to ``ONE_CAP``
    features, else the power of two at or above ``size`` (at least ``SMALL_CAP``). The
    columns are read in place, so capacity costs only index-sized vectors."""
    cap = p if p <= ONE_CAP else min(max(1 << (max(int(size), 1) - 1).bit_length(), SMALL_CAP), p)
    return int(-(-cap // CD_BLOCK) * CD_BLOCK)


def chunk_width(col_nnz) -> int:
    """The chunk in which sparse columns are read: the power of two at or above their
    mean length, between 8 and 256 (one chunk for most columns of a random design; a
    handful for the long columns of a one-hot one). One value per design: one program."""
    mean = float(np.mean(col_nnz)) if len(col_nnz) else 1.0
    return int(min(max(1 << max(int(np.ceil(mean)) - 1, 0).bit_length(), 8), MAX_WIDTH))


def min_size(p: int) -> int:
    """The smallest working set on ``p`` features: ``p / WS_SHARE`` (between ``WS_MIN`` and
    ``WS_MIN_TOP``). An outer iteration costs a pass over all ``p`` columns, a feature of
    the working set one column per coordinate-descent epoch (some 20 in a fit), so a wide
    design's first working sets are better too large than too small: Poisson lasso
    1000 x 5000 at alpha_max / 10, 9 outer iterations and 36-39 ms with 16, 6 and 31 ms
    with 128; 10000 x 1000 (support 17) 5-7% slower with 128 (experiments/REPORT.md,
    "Where the Poisson fit's time goes")."""
    return int(min(max(WS_MIN, p // WS_SHARE), WS_MIN_TOP))


def select(scores, w, size):
    """The support and the largest positive scores elsewhere, ``size`` features in all,
    ascending (host numpy: one partition, no compiled program per size)."""
    support = np.flatnonzero(w != 0)
    m = max(int(size) - len(support), 0)
    s = np.where(w != 0, -np.inf, scores)
    cand = np.flatnonzero(s > 0)
    if len(cand) > m:
        cand = cand[np.argpartition(-s[cand], m - 1)[:m]] if m > 0 else cand[:0]
    return np.sort(np.concatenate([support, cand]))


class Problem(NamedTuple):
    """What stays the same across the fits on one design (a path's alphas)."""

    design: object
    width: int
    y: jax.Array
    d: jax.Array
    xbar: np.ndarray | None  # X^T d: the gap's column means (squared loss only, else None)
    fit_intercept: bool
    # a sparse X on the CPU, as scipy CSC: the full passes ``X^T v`` and ``X w`` run there
    # (scipy's loops over the nonzeros are ~3x faster than XLA's scatter-based segment sums
    # on this machine: 1M nonzeros, 0.73 ms against 2.3 ms), the working sets on the device
    host: object = None


def problem(
    X, y, weights, *, fit_intercept: bool, loss: Loss, like: Problem | None = None, penalty: Penalty | None = None
) -> Problem:
    """``X`` (numpy or scipy.sparse, rows as many as ``y``) put on the device once (or
    taken from ``like``, a problem on the same ``X``). ``xbar`` (a pass over ``X``) is made
    only for the squared loss, the one whose duality gap needs it, and there only when the
    ``penalty`` (every penalty of the path) has the gap's elastic-net form (None: any)."""
    sparse = hasattr(X, "tocsc")
    X = X.tocsc() if sparse else X  # one conversion serves the device design and the host passes
    on_host = sparse and default_device().platform == "cpu"
    if like is not None:
        design, col_nnz = like.design, None
    else:
        design, col_nnz = columns(X, n_rows=y.shape[0], full_passes=not on_host)
    dtype = np.dtype(y.dtype)
    sw = np.asarray(weights)
    d = (sw / np.sum(sw)).astype(dtype)
    xbar = None
    if isinstance(loss, Squared) and (penalty is None or penalty.as_elastic_net(1, dtype) is not None):
        xbar = np.asarray(X.T @ d, dtype).ravel() if fit_intercept else np.zeros(X.shape[1], dtype)
    width = like.width if like is not None else 1 if col_nnz is None else chunk_width(col_nnz)
    host = like.host if like is not None else X if on_host else None
    if host is not None and host.shape[0] != y.shape[0]:  # padding rows: empty
        host = type(host)((host.data, host.indices, host.indptr), shape=(y.shape[0], host.shape[1]))
    return Problem(design, width, y, jax.device_put(d), xbar, bool(fit_intercept), host)


def gap_terms(prob: Problem, loss, penalty):
    """``(l1, l2, xbar)`` for the duality gap (see :func:`check`), or None: the squared
    loss with a penalty of elastic-net form."""
    form = None if prob.xbar is None else penalty.as_elastic_net(prob.design.n_features, prob.xbar.dtype)
    return None if form is None else jax.device_put((form[0], form[1], prob.xbar))


def solve(prob: Problem, loss, penalty, w0, b0, *, tol, max_iter, compiler):
    """The outer loop for one penalty: returns the :class:`SolverOutput`."""
    design, y, d = prob.design, prob.y, prob.d
    p = design.n_features
    dtype = np.dtype(y.dtype)
    w = np.asarray(w0, dtype).copy()
    b = np.asarray(b0, dtype)
    gap = gap_terms(prob, loss, penalty)
    static = dict(fit_intercept=prob.fit_intercept)
    history, n_iter, status = [], 0, MAX_ITER
    # from w = 0 the predictions are the intercept: no pass (and no program) to make them
    z0 = jax.device_put(np.full(y.shape[0], b, dtype)) if not np.any(w) else None

    def run_check(w, b, z):
        grad = None
        if prob.host is not None:  # the passes over X by scipy (see Problem)
            if z is None:
                z = jax.device_put((prob.host @ np.asarray(w) + b).astype(dtype))
            dg = np.asarray(compiler(DATA_GRADIENT, loss, y, d, z))
            grad = jax.device_put((prob.host.T @ dg).astype(dtype))
        return compiler(CHECK, design, y, d, w, b, z, grad, loss, penalty, gap, **static)

    chk = run_check(w, b, z0)
    # the predictions the inner solve updates in place drift from X w + b in float32 (by
    # ~1e-5 relative over a solve, enough to stall the criterion): recomputed there
    exact_z = dtype.itemsize >= 8
    first = True
    while True:
        crit = float(chk.crit)
        if not np.isfinite(crit) or not np.isfinite(float(chk.obj)):
            status = DIVERGED
            break
        if not first:
            history.append(float(chk.obj))
        if crit <= tol:
            status = CONVERGED
            break
        if n_iter >= max_iter:
            break
        first = False
        n_iter += 1
        scores = np.asarray(chk.scores)
        size = min(max(min_size(p), WS_GROWTH * int(np.sum(w != 0))), p)
        ws = select(scores, w, size)
        cap = capacity(len(ws), p)
        ws_pad = np.full(cap, p, np.int32)
        ws_pad[: len(ws)] = ws
        # the working set is solved to a fraction of the largest violation outside the
        # support (never much below tol); once none is left it is the whole problem: to
        # tol / 10 (proximal Newton's last steps are cheap, and on flat problems, such as
        # logistic regression with a small alpha, a criterion just below tol can leave the
        # coefficients 1e-7 from the optimum), or under the gap to 1% of the largest
        # violation (the gap falls as its square)
        outside = float(np.max(np.where(w != 0, 0.0, scores), initial=0.0))
        if outside > 0:
            tol_in = max(INNER_FRACTION * outside, 0.9 * tol if gap is None else 0.0)
        else:
            tol_in = 0.1 * tol if gap is None else 0.01 * float(chk.dist)
        tol_in = np.asarray(tol_in, dtype)
        w_new, b_new, z_new, _ = compiler(
            INNER, design, ws_pad, np.int32(len(ws)), y, d, w, b, chk.z, loss, penalty, tol_in,
            width=prob.width, **static,
        )  # fmt: skip
        z_new = z_new if exact_z else None
        chk_new = run_check(w_new, b_new, z_new)
        if not np.isfinite(float(chk_new.crit)):
            status = DIVERGED
            break
        w, b, chk = np.asarray(w_new), np.asarray(b_new), chk_new
    if status != DIVERGED:
        b = np.asarray(chk.b)  # the optimal intercept where the gap was measured there
    out = SolverOutput(
        coef=w,
        intercept=np.asarray(b, dtype),
        n_iter=np.asarray(n_iter),
        status=np.asarray(status),
        stop_crit=np.asarray(chk.crit, dtype),
        history=np.asarray(history, dtype),
        criterion=np.asarray(chk.kind),
    )
    return out


def engine(data, loss, penalty, w0, b0, hyper, *, max_iter=100, fit_intercept=True):
    """The solver entry point (host-driven): ``data = (X, y, weights)`` with ``X`` a dense
    array or a scipy.sparse matrix (rows padded to ``y``'s length). Returns
    ``(SolverOutput, compile_time)``."""
    compiler = Compiler()
    # the host's BLAS (xbar's X^T d) on one thread, as the fast kernels run: on a loaded
    # 2-core machine OpenBLAS's spinning threads took 12 ms for 1000 x 5000, one thread 1.7 ms
    with _ws.single_threaded_blas():
        prob = problem(data[0], data[1], data[2], fit_intercept=fit_intercept, loss=loss, penalty=penalty)
        out = solve(prob, loss, penalty, w0, b0, tol=float(hyper.tol), max_iter=max_iter, compiler=compiler)
    return out, compiler.compile_time


def solve_path(
    X, y, weights, loss, penalties, alphas, *, fit_intercept, tol, max_iter, w0=None, compiler=None, make_problem=None,
    run=None,
):  # fmt: skip
    """:func:`jaxreg.path.solve_path`'s contract on the engine: problem ``j`` is ``(y[j],
    weights[j], penalties[j])`` (``y``, ``weights`` with a leading axis of ``B`` problems,
    ``penalties`` their unit penalties) along ``alphas`` (``(n_alphas, B)``), each alpha
    warm-started from the last; ``X`` numpy or scipy.sparse is put on the device once.

    Another host-driven solver runs the same path with its own ``make_problem(X, y,
    weights, penalty, like)`` and ``run`` (:func:`solve`'s signature; its problem has ``y``
    and ``d``, and its output's ``criterion`` indexes ``CRITERIA``)."""
    compiler = compiler or Compiler()
    run = run or solve
    if make_problem is None:

        def make_problem(X, y, weights, penalty, like):
            return problem(X, y, weights, fit_intercept=fit_intercept, loss=loss, like=like, penalty=penalty)

    alphas = np.asarray(alphas)
    A, B = alphas.shape
    X = X.tocsc() if hasattr(X, "tocsc") else np.asarray(X)
    dtype = np.dtype(X.dtype)
    p = X.shape[1]
    out = {k: np.zeros((A, B) + s, t) for k, s, t in (
        ("coefs", (p,), dtype), ("intercepts", (), dtype), ("n_iter", (), np.int64), ("converged", (), bool),
        ("stop_crit", (), dtype), ("kind", (), np.int64))}  # fmt: skip
    prob = None
    for j in range(B):
        yj = jax.device_put(np.asarray(y[j], dtype))
        prob = make_problem(X, yj, np.asarray(weights[j]), penalties[j], prob)
        w = np.zeros(p, dtype) if w0 is None else np.asarray(w0, dtype)
        b = np.zeros((), dtype)
        if fit_intercept and not np.any(w):
            b = np.asarray(compiler(INIT_INTERCEPT, loss, prob.y, prob.d), dtype)
        for i in range(A):
            res = run(prob, loss, penalties[j].with_alpha(alphas[i, j]), w, b, tol=tol, max_iter=max_iter,
                      compiler=compiler)  # fmt: skip
            w, b = res.coef, res.intercept
            for key, value in (("coefs", w), ("intercepts", b), ("n_iter", res.n_iter), ("stop_crit", res.stop_crit),
                               ("kind", res.criterion), ("converged", res.status == CONVERGED)):  # fmt: skip
                out[key][i, j] = value
    out["compile_time"] = compiler.compile_time
    return out


def init_intercept(loss, y, d):
    return loss.init_intercept(y, d)


INIT_INTERCEPT = jax.jit(init_intercept)


def fast_kernels(loss: Loss, penalty: Penalty, X) -> bool:
    """Whether :mod:`jaxreg.solvers.working_set`'s kernels take the fit: a dense design,
    the squared or logistic loss (their closed-form derivatives are written into those
    kernels, with the duality gap) and a penalty of elastic-net form."""
    dense = not (hasattr(X, "tocsc") and hasattr(X, "nnz"))
    return dense and _ws.handles(loss, penalty) is None


def boxed_kernels(loss: Loss, penalty: Penalty, X) -> bool:
    """Whether the squared-loss kernels take a box-constrained fit (``positive=True``, or
    any :class:`~jaxreg.penalties.Bounded` of elastic-net form) on a dense design: they clip
    each coordinate update to the box (:class:`~jaxreg.solvers.working_set_check.Box`).
    Only for single fits: paths scale the penalty's terms by alpha, a box's bounds stay."""
    dense = not (hasattr(X, "tocsc") and hasattr(X, "nnz"))
    return (
        dense and isinstance(loss, Squared) and penalty.bounds(np.shape(X)[1], np.float64) is not None
        and _ws.handles(loss, penalty.penalty) is None
    )  # fmt: skip


def working_set(data, loss, penalty, w0, b0, hyper, *, max_iter=100, fit_intercept=True):
    """The ``working_set`` solver: the specialised squared/logistic kernels where they
    apply (:func:`fast_kernels`, :func:`boxed_kernels`), the generic engine otherwise.
    Returns ``(SolverOutput, compile_time)``."""
    if fast_kernels(loss, penalty, data[0]) or boxed_kernels(loss, penalty, data[0]):
        return _ws.working_set(data, loss, penalty, w0, b0, hyper, max_iter=max_iter, fit_intercept=fit_intercept)
    return engine(data, loss, penalty, w0, b0, hyper, max_iter=max_iter, fit_intercept=fit_intercept)
