"""scipy.sparse input as JAX pytrees the solvers use like a dense ``X``.

The solvers touch ``X`` only through ``X @ w``, ``X.T @ g``, ``X[rows]`` (mini-batches),
``X.shape`` and ``X.dtype``; the two formats here provide exactly that, with the products
as segment sums over the stored entries (cost proportional to the number of nonzeros).
Measured on this project's CPU they beat ``jax.experimental.sparse.BCOO`` (see
experiments/reports/scale.md), and the gradient with respect to ``w`` comes from
``jax.grad`` (the transpose of a gather is a scatter-add).

* :class:`SparseRows` (the entries of a CSR matrix in row order) for full-batch solvers:
  ``z_i = sum_k data_k w[col_k]`` over the entries of row ``i``.
* :class:`PaddedRows` (each row's entries padded to the longest row, "ELLPACK") for
  mini-batch solvers, where a batch must have a fixed shape: ``X[rows]`` is a gather of
  whole rows. Memory is ``n_samples * max_row_nnz``, so very uneven row lengths cost.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg._tree import pytree_dataclass

__all__ = ["SparseRows", "PaddedRows", "is_sparse", "to_jax", "row_norms_sq", "densify_for_closed_form"]

# closed_form densifies sparse input up to this many entries (32 MiB of float64).
DENSIFY_LIMIT = 2**22


def is_sparse(X) -> bool:
    """A scipy.sparse matrix or array (without importing scipy for dense input)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _vec_times(values, w_at):
    """``values * w_at`` for ``w`` a vector or a (p, K) matrix (one column per class)."""
    return values * w_at if w_at.ndim == values.ndim else values[..., None] * w_at


@pytree_dataclass(static=("shape",))
class SparseRows:
    """The stored entries of an ``(n, p)`` matrix in row order: ``data[k]`` at
    ``(rows[k], cols[k])``."""

    data: jax.Array
    rows: jax.Array
    cols: jax.Array
    shape: tuple

    ndim = 2

    @property
    def dtype(self):
        return self.data.dtype

    def __matmul__(self, w):
        # z_i = sum over row i's entries of data_k w[col_k]
        return jax.ops.segment_sum(
            _vec_times(self.data, w[self.cols]), self.rows, num_segments=self.shape[0], indices_are_sorted=True
        )

    @property
    def T(self):
        return _TransposedRows(self.data, self.rows, self.cols, self.shape)


class _TransposedRows:
    def __init__(self, data, rows, cols, shape):
        self.data, self.rows, self.cols, self.shape = data, rows, cols, shape[::-1]

    def __matmul__(self, u):
        # g_j = sum over column j's entries of data_k u[row_k]
        return jax.ops.segment_sum(_vec_times(self.data, u[self.rows]), self.cols, num_segments=self.shape[0])


@pytree_dataclass(static=("n_features",))
class PaddedRows:
    """Row ``i``'s entries in ``values[i]`` at columns ``cols[i]``, padded with zeros."""

    values: jax.Array
    cols: jax.Array
    n_features: int

    ndim = 2

    @property
    def shape(self):
        return (self.values.shape[0], self.n_features)

    @property
    def dtype(self):
        return self.values.dtype

    def __matmul__(self, w):
        return jnp.sum(_vec_times(self.values, w[self.cols]), axis=1)

    def __getitem__(self, rows):
        return PaddedRows(self.values[rows], self.cols[rows], self.n_features)

    @property
    def T(self):
        return _TransposedPadded(self)


class _TransposedPadded:
    def __init__(self, X: PaddedRows):
        self.X = X
        self.shape = X.shape[::-1]

    def __matmul__(self, u):
        v = _vec_times(self.X.values, u[:, None])
        v = v.reshape((-1,) + v.shape[2:])
        return jax.ops.segment_sum(v, self.X.cols.reshape(-1), num_segments=self.X.n_features)


def to_jax(X, device, row_batches: bool) -> Any:
    """A validated CSR matrix as :class:`PaddedRows` (``row_batches``) or
    :class:`SparseRows` on ``device``."""
    X = X.tocsr()
    X.sum_duplicates()
    n, p = X.shape
    counts = np.diff(X.indptr)
    index = np.int32 if max(X.nnz, p) < 2**31 else np.int64
    if row_batches:
        width = max(int(counts.max(initial=0)), 1)
        values = np.zeros((n, width), X.dtype)
        cols = np.zeros((n, width), index)
        slot = np.arange(X.nnz) - np.repeat(X.indptr[:-1], counts)  # position within its row
        rows = np.repeat(np.arange(n), counts)
        values[rows, slot] = X.data
        cols[rows, slot] = X.indices
        return PaddedRows(jax.device_put(values, device), jax.device_put(cols, device), p)
    rows = np.repeat(np.arange(n, dtype=index), counts)
    return SparseRows(
        jax.device_put(X.data, device),
        jax.device_put(rows, device),
        jax.device_put(X.indices.astype(index), device),
        (n, p),
    )


def row_norms_sq(X) -> np.ndarray:
    """``||x_i||^2`` for every row of a dense or sparse ``X``."""
    if is_sparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


def densify_for_closed_form(X):
    """closed_form factorizes a dense matrix: densify small sparse input, refuse large."""
    n, p = X.shape
    if n * p > DENSIFY_LIMIT:
        raise ValueError(
            f"solver='closed_form' needs a dense X, and this sparse X ({n} x {p}, {X.nnz} nonzeros) would take "
            f"{n * p * X.dtype.itemsize / 2**20:.0f} MiB dense (the limit is {DENSIFY_LIMIT} entries); "
            "use solver='fista', 'lbfgs' or 'gd', which work on the nonzeros"
        )
    return X.toarray()
