"""Shape buckets: the sizes a compiled solver is built for.

XLA compiles a program for fixed shapes, so a fit on 353 rows and one on 354 rows would
each compile every solver piece again (seconds, where the fit itself takes milliseconds).
``fit`` pads the rows of ``X`` up to a bucket instead: the padding rows are zero with
sample weight zero, and every loss is the weighted mean ``sum(w * l) / sum(w)``, so the
objective, its gradient, the Lipschitz constant (which uses ``w / sum(w)``), the optimal
intercept (a weighted mean) and every optimality measure are exactly those of the
unpadded problem.

The rule (:func:`bucket`): ``n <= 16`` rows become 16; above, ``n`` is rounded up to the
next multiple of ``2^(e-4)`` where ``2^(e-1) < n <= 2^e`` — eight sizes per doubling
(..., 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, ...), so the padding is less than
1/8 of the rows. Designs of more than ``MAX_ENTRIES`` entries are used at their own size:
there a fit costs more than its compile, and the padding is not free (a working-set lasso
on 500 x 5000, a 9 ms fit, took ~1 ms longer on 512 padded rows: the padded copy and the
extra rows).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bucket", "MAX_ENTRIES", "MIN_ROWS", "aligned_empty", "pad_rows"]

MIN_ROWS = 16
STEPS = 8  # bucket sizes per doubling: the padding is below 1/STEPS of the rows
MAX_ENTRIES = 1 << 20  # larger designs are not padded (1M entries: 8 MiB in float64)
ALIGN = 64  # bytes: the alignment XLA's CPU client needs to use host memory in place


def bucket(n: int) -> int:
    """The bucketed row count for ``n`` rows (module docstring)."""
    n = int(n)
    if n <= MIN_ROWS:
        return MIN_ROWS
    step = 1 << max((n - 1).bit_length() - STEPS.bit_length(), 0)
    return -(-n // step) * step


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array whose data is ``ALIGN``-byte aligned (the CPU
    backend uses such host memory in place instead of copying it)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def pad_rows(a: np.ndarray, n_rows: int, fill=0, fortran: bool = False) -> np.ndarray:
    """``a`` with rows appended up to ``n_rows`` (filled with ``fill``), in one copy.

    With ``fortran`` the result is Fortran-ordered and its data aligned, so that its
    transpose is a C-contiguous aligned array (the layout the working set reads, made
    here with no further copy)."""
    n = a.shape[0]
    if fortran:
        out = aligned_empty(a.shape[::-1][:-1] + (n_rows,), a.dtype).T
    else:
        out = np.empty((n_rows,) + a.shape[1:], a.dtype)
    out[:n] = a
    out[n:] = fill
    return out
