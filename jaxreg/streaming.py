"""Data larger than memory: ``.npy`` files, or folders of ``.npy`` shards, read in
fixed-size blocks of mini-batches by a background thread.

An :class:`NpyDataset` holds only the files' headers. :func:`jaxreg.fit` streams it with
the gd, minibatch and sgd solvers: each epoch reads the rows once to train and once to
evaluate the objective and its gradient (the stopping rule of the in-memory solvers).
Memory is bounded by the block size and the prefetch depth, whatever the file size:
``(prefetch + 3) * block_rows * n_features * itemsize`` for the blocks in flight (queued,
being filled, being used, its device copy), plus the model and the runtime.

The files are opened with ``np.load(mmap_mode="r")`` to read their headers, and rows are
read with ``os.preadv`` straight into each block's buffer. Reading through a memory map
instead would keep every page it touched resident in this process (counted in its RSS)
until the map is closed; explicit reads leave caching to the operating system's page
cache.

The ``data:`` section of an experiment config (``kind: npy``) is
:class:`jaxreg.experiment.npy_data.NpyDataSpec`.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxreg._validation import compute_dtype

__all__ = ["NpyDataset", "Block"]

# Default block: about this many bytes of X (a whole number of batches).
DEFAULT_BLOCK_BYTES = 8 * 2**20


class _Shard(NamedTuple):
    path: str
    offset: int  # bytes before the first row
    start: int  # first global row
    rows: int


class _RowFiles:
    """One logical array (rows first) stored in one .npy file or a folder of them, read
    by global row ranges."""

    def __init__(self, path, name: str, ndim: tuple[int, ...]):
        p = Path(path)
        if p.is_dir():
            files = sorted(p.glob("*.npy"))
            if not files:
                raise ValueError(f"{name}={str(path)!r} is a folder without .npy files; it must hold .npy shards")
        elif p.is_file():
            files = [p]
        else:
            raise FileNotFoundError(f"{name}={str(path)!r} does not exist; give a .npy file or a folder of .npy shards")
        self.name = name
        self.shards: list[_Shard] = []
        self.row_shape = None
        self.dtype = None
        start = 0
        for f in files:
            try:
                m = np.load(f, mmap_mode="r")
            except ValueError as exc:
                raise ValueError(f"{name}: {str(f)!r} is not a readable .npy array ({exc})") from exc
            if m.ndim not in ndim:
                raise ValueError(
                    f"{name}: {str(f)!r} has shape {m.shape}; it must have {' or '.join(map(str, ndim))} dimension(s)"
                )
            if m.dtype.kind not in "biuf" and not (name == "y" and m.dtype.kind in "U"):
                raise ValueError(f"{name}: {str(f)!r} has dtype {m.dtype}; it must be numeric")
            if m.ndim > 1 and not m.flags.c_contiguous:
                raise ValueError(
                    f"{name}: {str(f)!r} is stored in Fortran order; rows must be contiguous "
                    "(save it with np.save(path, np.ascontiguousarray(a)))"
                )
            if self.row_shape is None:
                self.row_shape, self.dtype = m.shape[1:], m.dtype
            elif (m.shape[1:], m.dtype) != (self.row_shape, self.dtype):
                raise ValueError(
                    f"{name}: shard {str(f)!r} has rows of shape {m.shape[1:]} and dtype {m.dtype}; the first shard "
                    f"has {self.row_shape} and {self.dtype}, and all shards must agree"
                )
            self.shards.append(_Shard(str(f), int(m.offset), start, m.shape[0]))
            start += m.shape[0]
            del m
        self.n_rows = start
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fd(self, path):
        with self._lock:
            if path not in self._fds:
                self._fds[path] = os.open(path, os.O_RDONLY)
            return self._fds[path]

    def read(self, start: int, out: np.ndarray):
        """Rows ``start : start + len(out)`` into ``out`` (the file dtype, C order)."""
        stop = start + len(out)
        buf = memoryview(out).cast("B")
        for sh in self.shards:
            a, b = max(start, sh.start), min(stop, sh.start + sh.rows)
            if a >= b:
                continue
            view = buf[(a - start) * self.row_bytes : (b - start) * self.row_bytes]
            pos = sh.offset + (a - sh.start) * self.row_bytes
            fd = self._fd(sh.path)
            while len(view):
                got = os.preadv(fd, [view], pos)
                if got <= 0:
                    raise ValueError(f"{self.name}: {sh.path!r} ended early (truncated file?)")
                view, pos = view[got:], pos + got

    def close(self):
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


class Block(NamedTuple):
    """``k`` mini-batches of ``bs`` rows: ``X`` (k, bs, p), ``y`` (k, bs, ...),
    ``weights`` (k, bs) with 0 on padding rows; the first ``n_active`` batches are real."""

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    n_active: int


class NpyDataset:
    """Training data in .npy files, streamed from disk in fixed-size blocks.

    Parameters
    ----------
    x : path
        A 2-D .npy file (C order) or a folder of them (sorted by name; rows concatenated).
    y : path
        A 1-D .npy file (or a folder of shards) with one target or class label per row.
    sample_weight : path, optional
        A 1-D .npy file (or folder) of non-negative weights.
    block_rows : int, optional
        Rows read per block (rounded to whole batches); default about 8 MiB of ``x``.
    prefetch : int
        Blocks read ahead by the background thread.

    Examples
    --------
    >>> import numpy as np, jaxreg, tempfile, os
    >>> from jaxreg.streaming import NpyDataset
    >>> d = tempfile.mkdtemp(); rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 4)); np.save(os.path.join(d, "X.npy"), X)
    >>> np.save(os.path.join(d, "y.npy"), X @ np.array([1.0, -1.0, 0.0, 2.0]))
    >>> ds = NpyDataset(os.path.join(d, "X.npy"), os.path.join(d, "y.npy"), block_rows=128)
    >>> res = jaxreg.fit(ds, solver="minibatch", batch_size=32, max_iter=50, seed=0)
    >>> bool(np.allclose(res.coef, [1.0, -1.0, 0.0, 2.0], atol=1e-2))
    True
    """

    def __init__(self, x, y, sample_weight=None, *, block_rows: int | None = None, prefetch: int = 2):
        self.x = _RowFiles(x, "x", (2,))
        self.y = _RowFiles(y, "y", (1, 2))
        if self.y.row_shape not in ((), (1,)):
            raise ValueError(f"y has rows of shape {self.y.row_shape}; y must be 1-D (n_samples,)")
        self.w = None if sample_weight is None else _RowFiles(sample_weight, "sample_weight", (1,))
        for other in (self.y, self.w):
            if other is not None and other.n_rows != self.x.n_rows:
                raise ValueError(
                    f"x has {self.x.n_rows} rows but {other.name} has {other.n_rows}; they must have the same rows"
                )
        for value, name in ((block_rows, "block_rows"), (prefetch, "prefetch")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name}={value!r} is not allowed; {name} must be an integer >= 1")
        self.n_samples, self.n_features = self.x.n_rows, self.x.row_shape[0]
        if self.n_samples == 0 or self.n_features == 0:
            raise ValueError(
                f"x has shape {(self.n_samples, self.n_features)}; it needs at least 1 sample and 1 feature"
            )
        self.dtype = compute_dtype(np.empty(0, self.x.dtype))
        self.block_rows = block_rows or max(1, DEFAULT_BLOCK_BYTES // self.x.row_bytes)
        self.prefetch = int(prefetch)

    def __repr__(self):
        return f"NpyDataset({self.n_samples} x {self.n_features}, {self.x.dtype}, block_rows={self.block_rows})"

    def batches_per_block(self, batch_size: int) -> int:
        return max(1, self.block_rows // batch_size)

    # ------------------------------------------------------------------ reading

    def _read(self, start, stop, X, y, w):
        """Rows ``start:stop`` into the given (pre-zeroed, compute-dtype) row buffers."""
        m = stop - start
        for files, out in ((self.x, X), (self.y, y), (self.w, w)):
            if files is None:
                out[:m] = 1.0
                continue
            raw = np.empty((m,) + files.row_shape, files.dtype)
            files.read(start, raw)
            out[:m] = raw.reshape(out[:m].shape)
        if not np.all(np.isfinite(X[:m])):
            raise ValueError(f"x contains non-finite values in rows {start}..{stop - 1}; x must be finite")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y[:m])):
            raise ValueError(f"y contains non-finite values in rows {start}..{stop - 1}; y must be finite")
        if not np.all(np.isfinite(w[:m])) or np.any(w[:m] < 0):
            raise ValueError(f"sample_weight has negative or non-finite values in rows {start}..{stop - 1}")

    def _fill(self, batch_ids, batch_size, k, encode):
        p, n = self.n_features, self.n_samples
        X = np.zeros((k, batch_size, p), self.dtype)
        y_raw = np.zeros((k, batch_size), self.y.dtype)
        w = np.zeros((k, batch_size), self.dtype)
        for i, j in enumerate(batch_ids):
            start, stop = j * batch_size, min((j + 1) * batch_size, n)
            self._read(start, stop, X[i], y_raw[i], w[i])
        return Block(X, encode(y_raw, w), w, len(batch_ids))

    def blocks(self, batch_size: int, order, encode: Callable) -> Iterator[Block]:
        """Blocks of whole batches, batch ``j`` being rows ``j*bs : (j+1)*bs``, in the
        order of the batch indices ``order``; ``encode(y_raw, weights)`` maps raw targets
        (zero-filled on padding rows) to what the loss expects. Read ahead by a thread."""
        k = self.batches_per_block(batch_size)
        order = np.asarray(order)
        groups = [order[i : i + k] for i in range(0, len(order), k)]
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce():
            try:
                for g in groups:
                    item = self._fill(g, batch_size, k, encode)
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(None)
            except BaseException as exc:  # handed to the consumer, raised there
                q.put(exc)

        thread = threading.Thread(target=produce, name="jaxreg-npy-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    q.get_nowait()
                except queue.Empty:
                    thread.join(0.05)

    def targets(self, chunk_rows: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(y, weights)`` in chunks, in file order (a pass that reads no ``x``)."""
        chunk = chunk_rows or max(self.block_rows, 1 << 16)
        for start in range(0, self.n_samples, chunk):
            stop = min(start + chunk, self.n_samples)
            y = np.empty((stop - start,) + self.y.row_shape, self.y.dtype)
            self.y.read(start, y)
            if self.w is None:
                w = np.ones(stop - start, self.dtype)
            else:
                w = np.empty(stop - start, self.w.dtype)
                self.w.read(start, w)
            yield y.reshape(-1), w.astype(self.dtype)

    def load(self):
        """All of it in memory: ``(X, y, sample_weight or None)`` (for data that fits)."""
        out = []
        for files in (self.x, self.y, self.w):
            if files is None:
                out.append(None)
                continue
            a = np.empty((files.n_rows,) + files.row_shape, files.dtype)
            files.read(0, a)
            out.append(a.reshape(files.n_rows, -1) if files is self.x else a.reshape(-1))
        return tuple(out)

    def close(self):
        for files in (self.x, self.y, self.w):
            if files is not None:
                files.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
