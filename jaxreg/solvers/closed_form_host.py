"""Closed-form ridge / least squares on the host: numpy with BLAS and LAPACK, no JAX.

Solves the same problem as :mod:`jaxreg.solvers.closed_form`, with the same answers:
it minimises ``sum_i d_i (y_i - x_i^T w - b)^2 / 2 + l2/2 ||w||^2`` with ``d`` the sample
weights normalised to sum to one. Weighted centering removes the intercept; with
``Xs = sqrt(d) Xc`` and ``ys = sqrt(d) yc``:

* primal, ``p <= n``: ``(Xs^T Xs + l2 I) w = Xs^T ys`` by Cholesky;
* dual, ``p > n``: ``w = Xs^T (Xs Xs^T + l2 I)^{-1} ys`` by Cholesky;
* when that matrix is singular to working precision, the SVD gives the minimum-norm
  least-squares solution ``w = V diag(s / (s^2 + l2)) U^T ys`` with singular values below
  ``eps * max(n, p) * s_max`` dropped.

Nothing here is compiled, so a new shape costs nothing beyond the arithmetic; that is
what small fits (and cross-validation, a new shape per fold) need. The Gram matrix comes
from a symmetric rank-k update (``?syrk``: one triangle, half the flops of a product),
which the JAX closed form cannot express.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, lapack, svd

from jaxreg.solvers._common import CONVERGED, DIVERGED, SolverOutput
from jaxreg.solvers.ridge_spectral import blas_threads

__all__ = ["solve", "closed_form"]


def solve(X, y, sample_weight, l2, fit_intercept):
    """Exact weighted ridge regression (least squares when ``l2 == 0``) with numpy/LAPACK.

    Parameters
    ----------
    X : ndarray of shape (n, p), float32 or float64, C or Fortran ordered
        Computation is in this dtype. X is never modified; it is copied only to centre it
        (``fit_intercept``), to drop zero-weight rows, or to scale rows by unequal weights.
    y : ndarray of shape (n,) or (n, k)
        Cast to X's dtype.
    sample_weight : ndarray of shape (n,)
        Nonnegative with a positive sum; normalised to sum to one. Zero-weight rows (such
        as padding) are dropped before anything else, so they never change the answer.
    l2 : float
        Ridge strength ``>= 0`` in the ``l2/2 ||w||^2`` convention above.
    fit_intercept : bool
        Fit an unpenalized intercept (by weighted centering).

    Returns
    -------
    coef : ndarray of shape (p,) or (p, k), X's dtype
    intercept : numpy scalar or ndarray of shape (k,), X's dtype

    Raises
    ------
    FloatingPointError
        If the solution is not finite (non-finite inputs or overflow).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = 2 * X[:, 0] + 1
    >>> coef, b = solve(X, y, np.ones(3), 0.0, True)
    >>> np.round(coef, 12), np.round(b, 12)
    (array([2.]), np.float64(1.0))
    """
    squeeze = np.ndim(y) == 1
    X, y2, sw, l2 = _check(X, y, sample_weight, l2)
    # Non-finite input surfaces once, as a non-finite solution below, not as warnings on the
    # way. Small problems run on one BLAS thread (ridge_spectral.blas_threads: two spin-wait
    # on a loaded machine; a 1000 x 200 fit took 200 ms with two there, 1.5 ms with one).
    with np.errstate(all="ignore"), blas_threads(*X.shape):
        w, b = _solve(X, y2, sw, l2, fit_intercept)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise FloatingPointError(
            "closed_form_host.solve: the ridge solution is not finite; X, y or sample_weight "
            "hold inf/NaN or values too large for " + str(X.dtype)
        )
    return (w[:, 0], b[0]) if squeeze else (w, b)


def _solve(X, y2, sw, l2, fit_intercept):
    """``solve`` on checked arguments (``y2`` two-dimensional); returns ``w (p, k), b (k,)``."""
    own = False  # whether X is already our copy, so it may be changed in place
    if not np.all(sw > 0):
        keep = sw > 0
        X, y2, sw, own = X[keep], y2[keep], sw[keep], True
    n, p = X.shape
    d = (sw / sw.sum()).astype(X.dtype)
    if fit_intercept:
        A, x_mean = _center(X, d, inplace=own)
        yA, y_mean = _center(y2, d, inplace=False)
        own = True
    else:
        A, yA = X, y2
    # Xs = sqrt(c) * A. Equal weights (the usual case) leave A unscaled and scale the Gram
    # matrix by c = 1/n instead: no pass over X and no copy of it.
    if np.all(sw == sw[0]):
        c = d[0]
    else:
        sq = np.sqrt(d)[:, None]
        A = np.multiply(A, sq, out=A if own else None)
        yA, c = yA * sq, X.dtype.type(1)
    w = _cholesky_solve(A, yA, c, l2, p <= n)
    if w is None:
        w = _svd_solve(np.sqrt(c) * A, np.sqrt(c) * yA, l2)
    b = y_mean - x_mean @ w if fit_intercept else np.zeros(yA.shape[1], X.dtype)
    return w, b


def _check(X, y, sample_weight, l2):
    """Shapes, dtypes and ranges, with messages naming the argument (no pass over X)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype not in (np.float32, np.float64):
        raise ValueError(f"X must be a 2-D float32 or float64 array; got shape {X.shape}, dtype {X.dtype}")
    n = X.shape[0]
    y = np.asarray(y, dtype=X.dtype)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, k) to match X; got {y.shape}")
    sw = np.asarray(sample_weight, dtype=np.float64)
    total = sw.sum() if sw.shape == (n,) else np.nan
    if not (np.all(sw >= 0) and 0 < total < np.inf):
        raise ValueError(
            f"sample_weight must have shape ({n},), be >= 0 and have a finite positive sum; "
            f"got shape {sw.shape}, sum {total}"
        )
    if not 0 <= float(l2) < np.inf:
        raise ValueError(f"l2 must be a finite float >= 0; got {l2!r}")
    return X, y.reshape(n, -1), sw, float(l2)


def _center(X, d, inplace):
    """``X - d @ X`` and the weighted mean. Shifting by the first row before averaging makes
    a constant column exactly zero (the mean alone is off by rounding, and that residue would
    make the column look informative to the solve); it also reduces cancellation."""
    x0 = X[0].copy()
    Xc = np.subtract(X, x0, out=X if inplace else None)
    m = d @ Xc
    Xc -= m
    return Xc, x0 + m


def _gram(A, c, outer):
    """``c A^T A`` (``outer=False``) or ``c A A^T``, both triangles. numpy's product of a
    matrix with its own transpose is a symmetric rank-k update (``?syrk``, half the flops)
    in numpy's BLAS, the one scikit-learn's Ridge uses too: scipy's BLAS wrappers may load
    another OpenBLAS build (0.3.30 against numpy's 0.3.31 here), 5-10% slower on
    20000 x 2000. Either order of A is read without a copy."""
    G = A @ A.T if outer else A.T @ A
    if c != 1:
        G *= c
    return G


def _cholesky_solve(A, yA, c, l2, primal):
    """The normal equations for ``Xs = sqrt(c) A`` by Cholesky, or None when the matrix is
    singular to working precision (then the caller takes the SVD).

    Singular means any of: potrf fails; a pivot is tiny next to the largest (the test of
    :mod:`closed_form`, ``min diag(R)^2 <= 10 m eps max diag(R)^2``); or LAPACK's condition
    estimate says ``rcond < eps`` (xPOSVX's own test). Both tests are lower bounds on the
    condition number (``diag(R)_k^2`` lies between the extreme eigenvalues), so either can
    miss what the other sees; the estimate costs O(m^2) against O(m^3) for the factor.
    """
    if A.shape[1] == 0:  # no features: BLAS rejects empty matrices
        return np.zeros((0, yA.shape[1]), A.dtype)
    G = _gram(A, c, outer=not primal)
    m = G.shape[0]
    G[np.diag_indices(m)] += l2
    potrf, potrs, pocon, lange = lapack.get_lapack_funcs(("potrf", "potrs", "pocon", "lange"), (G,))
    anorm = lange("1", G)  # G is stored whole, so this is its exact 1-norm
    R, info = potrf(G, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        return None
    diag = np.diag(R)
    eps = np.finfo(G.dtype).eps
    if not (np.all(np.isfinite(diag)) and diag.min() ** 2 > 10 * m * eps * diag.max() ** 2):
        return None
    rcond, info = pocon(R, anorm)
    if info != 0 or not rcond >= eps:
        return None
    rhs = c * (A.T @ yA) if primal else yA
    sol, info = potrs(R, rhs, lower=False)
    if info != 0:
        return None
    return sol if primal else c * (A.T @ sol)


def _svd_solve(Xs, ys, l2):
    """Minimum-norm ridge / least squares ``V diag(s / (s^2 + l2)) U^T ys``, dropping
    singular values below ``eps * max(n, p) * s_max`` (as ``closed_form._svd_solve``)."""
    if not (np.all(np.isfinite(Xs)) and np.all(np.isfinite(ys))):
        raise FloatingPointError("closed_form_host.solve: X or y holds inf/NaN (or overflows after centering)")
    try:
        U, s, Vt = svd(Xs, full_matrices=False, check_finite=False, lapack_driver="gesdd")
    except LinAlgError:  # divide-and-conquer occasionally fails to converge; QR iteration is slower but sturdier
        U, s, Vt = svd(Xs, full_matrices=False, check_finite=False, lapack_driver="gesvd")
    cutoff = np.finfo(Xs.dtype).eps * max(Xs.shape) * s.max(initial=0.0)
    keep = s > cutoff
    # s / (s^2 + l2) written as 1 / (s + l2 / s): s^2 overflows for entries near 1e155 and
    # underflows near 1e-160, where the solution itself is representable
    with np.errstate(divide="ignore", over="ignore"):
        filt = np.where(keep, 1.0 / np.where(keep, s + l2 / np.where(keep, s, 1), 1), 0).astype(Xs.dtype)
    return Vt.T @ (filt[:, None] * (U.T @ ys))


def closed_form(data, loss, penalty, w0, b0, hyper, *, fit_intercept=True):
    """:func:`jaxreg.fit`'s entry point (numpy data on the CPU): :func:`solve` with the
    penalty's ``l2`` (the Lipschitz constant of its gradient: ``alpha`` for L2, 0 for none)
    and the report of :func:`jaxreg.solvers.closed_form.closed_form`: the optimality
    measure at the solution (a check, not a stopping rule) and the objective. Returns
    ``(SolverOutput, compile_time)`` (nothing is compiled)."""
    del loss, w0, hyper
    X, y, sw = (np.asarray(a) for a in data)
    l2 = float(penalty.grad_lipschitz())
    w, b = solve(X, y, sw, l2, fit_intercept)
    if not fit_intercept:
        b = np.zeros_like(np.asarray(b0))
    d = sw / sw.sum()
    r = y - X @ w - b
    dr = d * r
    grad = l2 * w - X.T @ dr
    crit = max(float(np.max(np.abs(grad), initial=0.0)), abs(float(dr.sum())) if fit_intercept else 0.0)
    objective = 0.5 * dr @ r + (0.5 * l2 * (w @ w) if l2 else 0.0)  # w @ w may overflow when l2 = 0
    status = CONVERGED if np.isfinite(objective) else DIVERGED
    out = SolverOutput(w, np.asarray(b), np.asarray(1), np.asarray(status), np.asarray(crit, X.dtype),
                       np.asarray([objective], X.dtype), np.asarray(0))  # fmt: skip
    return out, 0.0
