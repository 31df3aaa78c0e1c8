"""Input checks done once, at the edge, in numpy (before anything is traced).

Every error names the argument, the value given and what is allowed.

One exception: a solver whose first pass over ``X`` detects NaN/inf itself
(``SolverSpec.checks_finite``: the working set, where the pass of this module's finiteness
test was ~10% of a small lasso fit) gets ``X`` unchecked for finiteness, and calls
:func:`check_finite` for the same error when its pass finds a non-finite value.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = [
    "check_X",
    "check_sparse",
    "check_X_y",
    "check_finite",
    "encode_labels",
    "check_sample_weight",
    "check_positive",
    "compute_dtype",
]


def _describe(a) -> str:
    return f"array of shape {np.shape(a)} and dtype {getattr(a, 'dtype', type(a).__name__)}"


def compute_dtype(X) -> np.dtype:
    """float32 input (or lower precision) computes in float32; anything else in float64."""
    dt = np.asarray(X).dtype if not hasattr(X, "dtype") else np.dtype(X.dtype)
    if dt.kind == "f" and dt.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def check_finite(a, name):
    """Raise the error for a non-finite entry of ``a`` (named ``name``), if it has one."""
    # a finite sum means every entry is finite (NaN and inf propagate): one pass and no
    # temporary array; the elementwise test runs only to report (or for an overflowed sum)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(a)):
            return
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))
        n_bad = len(bad)
        first = tuple(int(i) for i in bad[0])
        kind = "NaN" if np.isnan(a[first]) else "infinite"
        raise ValueError(
            f"{name} contains {n_bad} non-finite value(s) ({kind} at index {first}); "
            f"{name} must be finite (drop or impute missing values first)"
        )


def check_sparse(X, name="X", dtype=None):
    """A 2-D, non-empty numeric scipy.sparse matrix with finite stored values, as CSR or
    CSC (kept as given: the working set reads columns, mini-batches read rows, and each
    conversion is a pass over the nonzeros) of the compute dtype; other formats as CSR."""
    if len(X.shape) != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} has shape {X.shape}; {name} must be 2-D (n_samples, n_features) and non-empty")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {X.dtype}; {name} must be numeric (bool, int or float)")
    X = (X if X.format in ("csr", "csc") else X.tocsr()).astype(dtype or compute_dtype(X), copy=False)
    bad = ~np.isfinite(X.data)
    if np.any(bad):
        k = int(np.argmax(bad))
        major, minor = int(np.searchsorted(X.indptr, k, side="right") - 1), int(X.indices[k])
        row, col = (major, minor) if X.format == "csr" else (minor, major)
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite stored value(s) (first at row {row}, column "
            f"{col}); {name} must be finite"
        )
    return X


# A scipy.sparse design with at most this many entries (n_samples * n_features) is fitted
# dense by the estimators: at this size the dense kernels are as fast or faster, and a
# sparse design then gets the very fit its dense copy gets (scikit-learn's sparse and dense
# coordinate descents take the same steps; ours are different algorithms that stop at
# different points within tol). 2**16 float64 entries are 512 KiB.
SMALL_SPARSE_ENTRIES = 2**16


def densify_small(X):
    """``X.toarray()`` for a scipy.sparse ``X`` of at most ``SMALL_SPARSE_ENTRIES`` entries;
    anything else as it is."""
    if sp.issparse(X) and X.shape[0] * X.shape[1] <= SMALL_SPARSE_ENTRIES:
        return X.toarray()
    return X


def check_X(X, name="X", dtype=None, accept_sparse=False, finite=True) -> np.ndarray:
    """A 2-D, finite, non-empty numeric array (or, with ``accept_sparse``, a scipy.sparse
    matrix as CSR). ``finite=False`` leaves out the pass over a dense ``X`` that tests
    finiteness, for a caller whose own first pass detects non-finite values and then calls
    :func:`check_finite` for the error."""
    if X is None:
        raise ValueError(f"{name}=None is not allowed; {name} must be a 2-D array (n_samples, n_features)")
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        if accept_sparse:
            return check_sparse(X, name, dtype)
        raise ValueError(
            f"{name} is a scipy.sparse matrix; sparse input is not supported by this function, "
            f"pass a dense array ({name}.toarray())"
        )
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array ({exc}); {name} must be a 2-D numeric array") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {arr.dtype}; {name} must be numeric (bool, int or float)")
    if arr.ndim != 2:
        hint = f" (use {name}.reshape(-1, 1) for a single feature)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} has shape {arr.shape}; {name} must be 2-D (n_samples, n_features){hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}; {name} needs at least 1 sample and 1 feature")
    arr = arr.astype(dtype or compute_dtype(arr), copy=False)
    if finite:
        check_finite(arr, name)
    return arr


def check_X_y(X, y, dtype=None, regression=True, accept_sparse=False, finite_X=True):
    X = check_X(X, dtype=dtype, accept_sparse=accept_sparse, finite=finite_X)
    if y is None:
        raise ValueError("y=None is not allowed; y must be a 1-D array with one target per row of X")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}; y must be 1-D (n_samples,)")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} samples but y has {y.shape[0]}; X and y must have the same number of rows"
        )
    if regression:
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y has dtype {y.dtype}; a regression target must be numeric")
        y = y.astype(X.dtype, copy=False)
        check_finite(y, "y")
    else:
        if y.dtype.kind == "f":
            check_finite(y, "y")
        check_labels_given(y)
    return X, y


def check_labels_given(y):
    """Refuse missing class labels (``None`` in an object array) before anything sorts them."""
    y = np.asarray(y)
    if y.dtype.kind == "O" and any(v is None for v in y.ravel()):
        raise ValueError("y contains None; class labels must all be given")


def encode_labels(y, loss_name, dtype):
    """Classes (sorted, as numpy's unique) and the encoding the loss expects.

    logistic: exactly two classes, the second mapped to +1 and the first to -1;
    multinomial: two or more classes, one-hot rows.
    """
    classes, idx = np.unique(y, return_inverse=True)
    k = len(classes)
    if loss_name == "logistic":
        if k != 2:
            raise ValueError(
                f"y has {k} class(es) {classes.tolist()[:10]}; loss='logistic' needs exactly two "
                "(use loss='multinomial' for more than two)"
            )
        return classes, np.where(idx == 1, 1.0, -1.0).astype(dtype)
    if k < 2:
        raise ValueError(f"y has {k} class {classes.tolist()}; a classifier needs at least two classes")
    return classes, np.eye(k, dtype=dtype)[idx]


def check_sample_weight(sample_weight, n, dtype):
    if sample_weight is None:
        return np.ones(n, dtype)
    sw = np.asarray(sample_weight, dtype=float)
    if sw.ndim == 0:
        sw = np.full(n, float(sw))
    if sw.shape != (n,):
        raise ValueError(f"sample_weight has shape {sw.shape}; it must be 1-D with one weight per sample ({n},)")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0) or not np.any(sw > 0):
        raise ValueError("sample_weight must be finite, >= 0, and not all zero")
    return sw.astype(dtype)


# counts (iterations, batch sizes, ...) become int32 in the compiled loops
MAX_COUNT = 2**31 - 1


def check_positive(value, name, integer=False, allow_none=True, strict=True):
    """A positive number (or None when allowed); an integer also at most :data:`MAX_COUNT`."""
    if value is None and allow_none:
        return None
    bound = "> 0" if strict else ">= 0"
    if integer:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if not ok or (value <= 0 if strict else value < 0) or value > MAX_COUNT:
            raise ValueError(
                f"{name}={value!r} is not allowed; {name} must be a finite integer {bound} and <= {MAX_COUNT}"
            )
        return value
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or (value <= 0 if strict else value < 0):
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be a finite number {bound}")
    return value


def check_number(value, name, low, high=None) -> float:
    """A finite real number in ``[low, high]`` (``>= low`` without ``high``), as a float."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < low or (high is not None and value > high):
        allowed = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be a finite number {allowed}")
    return float(value)


def check_bool(value, name) -> bool:
    """A flag: True or False (a NumPy bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r} is not allowed; it must be True or False")
    return bool(value)
