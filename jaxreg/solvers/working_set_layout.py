"""Where the working-set solver's design lives in memory: ``X.T`` laid out so XLA's CPU
client uses it in place (:func:`host_transposed`, :func:`transpose_on_host`,
:func:`pad_design`), the :class:`Design` that holds it, and the BLAS thread limit the
solvers run under (:func:`single_threaded_blas`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._buckets import ALIGN, aligned_empty, bucket, pad_rows
from jaxreg._compile import default_device
from jaxreg.solvers.working_set_kernels import capacity

TRANSPOSE_ROWS = 512  # host_transposed copies X.T in blocks of this many rows of X
SMALL_CAP = 256  # the smallest capacity; larger working sets take SMALL_CAP * CAP_GROWTH^k above them,
CAP_GROWTH = 4
ONE_CAP = 8192  # except up to this many features, where every working set takes capacity p: one
# coordinate-descent program per design, so a growing support never compiles during a fit
SUBSET_FRACTION = 0.875  # a problem's positive-weight rows alone when they are at most this share
SUBSET_BYTES = 2 << 30  # and their copies of the design take at most this much memory (see row_subsets)

TRANSPOSE = jax.jit(jnp.transpose)


def host_transposed(X):
    """``X.T`` as a C-contiguous numpy array whose data is 64-byte aligned, which XLA's CPU
    client uses in place (it copies a misaligned one). ``X.T`` itself when it already
    qualifies (a Fortran-ordered, aligned ``X``): no copy at all."""
    XT = X.T
    if XT.flags.c_contiguous and XT.ctypes.data % ALIGN == 0:
        return XT
    out = aligned_empty(XT.shape, XT.dtype)
    # in blocks of rows of X: each block's reads and writes stay in cache (one strided
    # copy of the whole: 10000 x 1000 float64 26 ms -> 14 ms, 5000 x 1000 10.5 -> 7.6 ms)
    for i in range(0, X.shape[0], TRANSPOSE_ROWS):
        out[:, i : i + TRANSPOSE_ROWS] = XT[:, i : i + TRANSPOSE_ROWS]
    return out


def pad_design(X, n_rows):
    """``X`` with zero rows appended up to ``n_rows`` (shape buckets), made in the layout
    :meth:`Design.put` then uses with no further copy: Fortran-ordered and aligned where
    the transpose is made on the host (:func:`transpose_on_host`), C-ordered (for XLA's
    transposing transfer) otherwise."""
    return pad_rows(X, n_rows, fortran=transpose_on_host(X))


def transpose_on_host(X) -> bool:
    """Whether the CPU backend gets ``X.T`` from :func:`host_transposed` rather than from
    ``device_put(X.T)`` (XLA's transposing transfer): always, now that the host copy is
    blocked. Measured on this project's 2-core machine (jax 0.10.2, float64, fresh
    arrays, median ms, host / XLA, load ~3.7): 1000 x 5000 7.0 / 19.9, 10000 x 1000 14.2 /
    40.4, 2000 x 5000 13.4 / 40.5, 5000 x 1000 7.6 / 20.6, 2000 x 20000 54 / 169,
    20000 x 200 4.2 / 4.0 (experiments/REPORT.md, "Where the Poisson fit's time goes")."""
    return True


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
        self._subsets_src, self._subsets = None, None

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
            # l1 may be a Box (a pytree): its fields in numpy
            self._constants = (*(np.asarray(a) for a in (prep.d, prep.xbar, prep.yc)), jax.tree.map(np.asarray, l1))
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

    def row_subsets(self, weights):
        """For a batch of problems on this design (``weights`` (B, n), e.g. the folds of a
        cross-validation, whose held-out rows weigh zero): per problem, ``(Design, rows)``
        with only its positive-weight rows, or None for the whole batch (then every
        problem runs on all ``n`` rows). ``rows`` (``n_c``,) int32 lists them, padded with
        ``n`` to ``n_c``, their count's shape bucket (:func:`jaxreg._buckets.bucket`), the
        same for every problem; the design's copy has zero columns there.

        Coordinate descent then costs ``n_c`` per update instead of ``n`` (5-fold CV: 80%).
        Problems with the same rows share a copy (the l1_ratios of ElasticNetCV). None
        when the rows are more than ``SUBSET_FRACTION`` of ``n``, when the copies would
        take more than ``SUBSET_BYTES``, or when the design is not in host memory (the
        copies are made there). Computed once per ``weights`` (the path's alphas share it)."""
        if self._subsets_src is weights:
            return self._subsets
        self._subsets_src, self._subsets = weights, None
        W = np.asarray(weights)
        if W.ndim != 2 or self.host is None:
            return None
        n = W.shape[1]
        positive = W > 0
        n_c = bucket(int(positive.sum(axis=1).max()))
        distinct = {positive[b].tobytes(): b for b in range(len(W))}
        itemsize = self.host.dtype.itemsize
        if n_c > SUBSET_FRACTION * n or len(distinct) * self.p * n_c * itemsize > SUBSET_BYTES:
            return None
        copies = {}
        for key, b in distinct.items():
            idx = np.flatnonzero(positive[b]).astype(np.int32)
            sub = aligned_empty((self.p, n_c), self.host.dtype)
            for j in range(0, self.p, 1024):  # in slabs: no temporary of the whole copy
                sub[j : j + 1024, : len(idx)] = self.host[j : j + 1024, idx]
            sub[:, len(idx) :] = 0.0
            rows = np.concatenate([idx, np.full(n_c - len(idx), n, np.int32)])
            copies[key] = (Design(jax.device_put(sub), sub), jax.device_put(rows))
        self._subsets = [copies[positive[b].tobytes()] for b in range(len(W))]
        return self._subsets

    def cap(self, size):
        """The static capacity for a working set of ``size`` features: all the features up to
        ``ONE_CAP`` of them (one program per design), else the first of ``SMALL_CAP``,
        ``SMALL_CAP * CAP_GROWTH``, ... at or above ``size`` (256, 1024, 4096, ...; at most
        all the features). Coordinate descent reads the working set in place, but its
        bookkeeping (the iterates Anderson extrapolates from, the objective, the signs) is
        sized by the capacity: replaying LassoCV's coordinate-descent calls on 2000 x 20000
        (working sets of 264-3096 features on a fold's 1664 rows) took 14% less CPU time with
        these capacities than with all the features, powers of two (twice the programs, each
        ~2.5 s to compile) 16%; on 1000 x 5000 the difference was within the noise
        (experiments/bench_cd_capacity.py), and capacity p there (``ONE_CAP`` 8192, was 1024)
        spares LassoCV's first call two programs: 14.7-16.2 -> 10.5-10.9 s of CPU cold, warm
        fits within the noise."""
        p = self.p
        if p <= ONE_CAP:
            return capacity(p)
        cap = SMALL_CAP
        while cap < size:
            cap *= CAP_GROWTH
        return min(capacity(cap), capacity(p))


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
