"""Ridge for many ``alpha`` from one factorization (numpy/LAPACK on the host, nothing compiled).

With ``Xs`` the (weighted, centered) design and ``ys`` the target, ridge at strength ``a`` is
``w(a) = (Xs^T Xs + a I)^{-1} Xs^T ys``. One spectral factorization gives every ``a`` at the
cost of a few matrix products, and with it the exact leave-one-out residuals
(Rifkin & Lippert 2007, "Notes on regularized least squares"):

* ``"svd"``:  ``Xs = U diag(s) V^T``; ``w = V (s / (s^2 + a) * U^T ys)``;
* ``"cov"``:  ``Xs^T Xs = V diag(l) V^T`` (``p < n``), ``Q = Xs V``; ``w = V (Q^T ys / (l + a))``;
* ``"gram"``: ``Xs Xs^T = U diag(l) U^T`` (``n <= p``); ``w = Xs^T U (U^T ys / (l + a))``.

The hat matrix is ``Xs (Xs^T Xs + a I)^{-1} Xs^T = B diag(g(a)) B^T`` with ``B = U, g = l / (l + a)``
(svd, gram) or ``B = Q, g = 1 / (l + a)`` (cov). The leave-one-out residual of row ``i`` is
``r_i / (1 - h_i)`` with ``r = ys - hat ys`` and ``h`` the hat diagonal; fitting an intercept by
centering adds the intercept column's leverage ``sw_i / sum(sw)`` to ``h_i``. When ``B``'s columns span
all of R^n (gram; svd with ``n <= p``), ``1 - h`` and ``r`` are computed from ``a / (l + a)``
directly, which keeps their digits when ``a`` is small next to ``l``.

Eigenvalues are clipped at zero (rounding makes null ones slightly negative). At ``a = 0`` the
solution is the minimum-norm least-squares one: directions with ``s <= eps max(n, p) s_max``
(svd) or ``l <= eps max(n, p) l_max`` (eigen; an eigenvalue of ``Xs^T Xs`` is only known to
``eps l_max``) are dropped, as :mod:`closed_form_host` does.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
from scipy.linalg import LinAlgError, blas, eigh, svd

__all__ = ["MODES", "Spectrum", "choose_mode", "blas_threads", "scale", "decompose", "coefs", "loo_residuals"]

MODES = ("svd", "cov", "gram")
SMALL_FLOPS = 1e8  # below this factorization size, BLAS threads cost more than they give


def blas_threads(n, p):
    """A context for the factorizations of an (n, p) design: one BLAS thread when it is small
    (``min(n, p)^2 max(n, p) < SMALL_FLOPS``): OpenBLAS's threads spin-wait on a loaded
    machine, and a 400 x 50 ``syrk`` then takes tens of milliseconds instead of tens of
    microseconds; larger ones keep the threads."""
    if min(n, p) ** 2 * max(n, p) >= SMALL_FLOPS:
        return contextlib.nullcontext()
    from jaxreg.solvers.working_set_layout import single_threaded_blas

    return single_threaded_blas()


def choose_mode(n, p, gcv_mode):
    """scikit-learn's rule: ``"svd"`` when asked; otherwise (``None``, ``"auto"``, ``"eigen"``)
    the eigendecomposition of the smaller of ``Xs Xs^T`` (``n <= p``) and ``Xs^T Xs``."""
    if gcv_mode == "svd":
        return "svd"
    return "gram" if n <= p else "cov"


def scale(X, Y, sw, fit_intercept):
    """``Xs = sqrt(sw) (X - xbar)``, ``Ys = sqrt(sw) (Y - ybar)`` with weighted means (zero
    when ``fit_intercept`` is False), in float64. ``Y`` is 2-D. Returns
    ``Xs, Ys, sqrt_sw, xbar, ybar``; ``Xs`` is a new array (``X`` is never modified)."""
    sw = np.asarray(sw, np.float64)
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if fit_intercept:
        d = sw / sw.sum()
        xbar, ybar = d @ X, d @ Y
        Xs, Ys = X - xbar, Y - ybar
    else:
        xbar, ybar = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
        Xs, Ys = X.copy(), Y.copy()
    sqrt_sw = np.sqrt(sw)
    if not np.all(sw == 1.0):
        Xs *= sqrt_sw[:, None]
        Ys *= sqrt_sw[:, None]
    return Xs, Ys, sqrt_sw, xbar, ybar


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """One factorization of ``Xs``: ``mode``, the basis ``B`` (n, r), the eigenvalues ``lam``
    (``s^2`` for svd), ``V`` (p, r; None for gram), ``Xs`` (kept for gram's coefficients)."""

    mode: str
    B: np.ndarray
    lam: np.ndarray
    V: np.ndarray | None
    Xs: np.ndarray

    @property
    def complete(self) -> bool:
        """Whether ``B``'s columns are an orthonormal basis of R^n (so ``B B^T = I``)."""
        return self.mode != "cov" and self.B.shape[1] == self.B.shape[0]

    def cutoff(self) -> float:
        """Eigenvalues at or below this are zero (used at ``a = 0`` only)."""
        n, p = self.Xs.shape
        eps, lmax = np.finfo(np.float64).eps * max(n, p), self.lam.max(initial=0.0)
        return (eps**2 if self.mode == "svd" else eps) * lmax


def _syrk(A, outer):
    """Upper triangle of ``A^T A`` (or ``A A^T``), A C-ordered float64, no copy of A."""
    A = np.ascontiguousarray(A)
    return blas.dsyrk(1.0, A.T, trans=1 if outer else 0)


def decompose(Xs, mode) -> Spectrum:
    """Factorize ``Xs`` (n, p) once, in ``mode`` (one of :data:`MODES`)."""
    if mode == "svd":
        try:
            U, s, Vt = svd(Xs, full_matrices=False, check_finite=False, lapack_driver="gesdd")
        except LinAlgError:  # divide-and-conquer occasionally fails to converge; QR iteration is sturdier
            U, s, Vt = svd(Xs, full_matrices=False, check_finite=False, lapack_driver="gesvd")
        return Spectrum("svd", U, s**2, Vt.T, Xs)
    if mode not in ("cov", "gram"):
        raise ValueError(f"mode={mode!r} is not allowed; allowed: {list(MODES)}")
    M = _syrk(Xs, outer=mode == "gram")
    lam, E = eigh(M, lower=False, overwrite_a=True, check_finite=False, driver="evd")
    lam = np.maximum(lam, 0.0)
    if mode == "gram":
        return Spectrum("gram", E, lam, None, Xs)
    return Spectrum("cov", Xs @ E, lam, E, Xs)


def _coef_filter(spec: Spectrum, alphas):
    """``c (r, A)`` with ``w(a) = R (c[:, a] * B^T ys)``: ``s / (l + a)`` (svd), ``1 / (l + a)``
    (eigen); at ``a = 0`` the directions below the cutoff get 0 (minimum norm)."""
    a = np.asarray(alphas, np.float64)[None, :]
    lam = spec.lam[:, None]
    keep = (lam > spec.cutoff()) | (a > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(keep, 1.0 / np.where(keep, lam + a, 1.0), 0.0)
    return c * np.sqrt(lam) if spec.mode == "svd" else c


def coefs(spec: Spectrum, Bty, alphas):
    """Coefficients ``(p, k, A)`` for every ``alpha``; ``Bty = B^T ys`` (r, k)."""
    c = _coef_filter(spec, alphas)  # (r, A)
    Z = c[:, None, :] * Bty[:, :, None]  # (r, k, A)
    r, k, A = Z.shape
    return _apply_R(spec, Z.reshape(r, k * A)).reshape(-1, k, A)


def coefs_per_target(spec: Spectrum, Bty, alphas):
    """Coefficients ``(p, k)``: target ``j`` at ``alphas[j]``."""
    return _apply_R(spec, _coef_filter(spec, alphas) * Bty)


def _apply_R(spec, Z):
    """``V Z`` (svd, cov) or ``Xs^T (U Z)`` (gram)."""
    return spec.Xs.T @ (spec.B @ Z) if spec.mode == "gram" else spec.V @ Z


def loo_residuals(spec: Spectrum, Ys, Bty, sqrt_sw, alphas, fit_intercept):
    """Leave-one-out residuals ``(n, k, A)`` in the scaled space (``sqrt(sw_i) (y_i - yhat_{-i})``,
    scikit-learn's ``looe``) for every ``alpha > 0``."""
    a = np.asarray(alphas, np.float64)[None, :]
    lam = spec.lam[:, None]
    n, (r, k), A = Ys.shape[0], Bty.shape, a.shape[1]
    if fit_intercept:  # sqrt(sw) rides along as a (k+1)-th target, for the intercept's leverage below
        Bty = np.concatenate([Bty, (sqrt_sw @ spec.B)[:, None]], axis=1)
        Ys = np.concatenate([Ys, sqrt_sw[:, None]], axis=1)
    k1 = Bty.shape[1]
    if spec.complete:  # B B^T = I: 1 - h = B^2 (a / (l + a)), r = B (a / (l + a) * B^T ys)
        g = a / (lam + a)
        one_minus_h = (spec.B * spec.B) @ g
        resid = (spec.B @ (g[:, None, :] * Bty[:, :, None]).reshape(r, k1 * A)).reshape(n, k1, A)
    else:  # 1 - h = 1 - B^2 g, r = ys - B (g * B^T ys)
        g = 1.0 / (lam + a) if spec.mode == "cov" else lam / (lam + a)
        one_minus_h = 1.0 - (spec.B * spec.B) @ g
        resid = Ys[:, :, None] - (spec.B @ (g[:, None, :] * Bty[:, :, None]).reshape(r, k1 * A)).reshape(n, k1, A)
    if fit_intercept:
        # the intercept column's leverage, sw_i / sum(sw) in exact arithmetic (centering makes
        # sqrt(sw) a null vector of Xs). Computed as scikit-learn does, as the residual of
        # sqrt(sw) through the same factorization: its rounding then cancels the null
        # direction's in 1 - h, which matters when p > n and alpha is small.
        one_minus_h = one_minus_h - resid[:, k, :] * (sqrt_sw / (sqrt_sw @ sqrt_sw))[:, None]
        resid = resid[:, :k, :]
    return resid / one_minus_h[:, None, :]


def ridge_path(X, y, sw, l2s, fit_intercept):
    """Weighted ridge at every strength in ``l2s`` from one factorization, in
    :mod:`closed_form_host`'s scaling: ``sum_i d_i (y_i - x_i^T w - b)^2 / 2 + l2/2 ||w||^2`` with
    ``d = sw / sum(sw)`` (:func:`jaxreg.fit`'s mean loss plus ``L2(l2)``).

    Parameters
    ----------
    X : ndarray of shape (n, p)
    y : ndarray of shape (n,)
    sw : ndarray of shape (n,)
        Nonnegative with a positive sum.
    l2s : ndarray of shape (A,)
        ``>= 0``; at 0 the minimum-norm least-squares solution (then by the SVD, whose small
        singular values are accurate where the eigenvalues of ``X^T X`` are not).
    fit_intercept : bool

    Returns
    -------
    coefs (A, p), intercepts (A,), stop_crit (A,): float64; ``stop_crit`` is the largest
    entry of the gradient ``l2 w - X^T (d * r)`` (and ``|sum d r|`` with an intercept), the
    optimality measure at the solution, a check rather than a stopping rule.
    """
    d = np.asarray(sw, np.float64) / np.sum(sw)
    l2s = np.asarray(l2s, np.float64)
    Xs, Ys, _, xbar, ybar = scale(X, np.reshape(y, (-1, 1)), d, fit_intercept)
    n, p = Xs.shape
    with blas_threads(n, p):
        spec = decompose(Xs, "svd" if np.any(l2s == 0) else choose_mode(n, p, None))
        W = coefs(spec, spec.B.T @ Ys, l2s)[:, 0, :]  # (p, A)
    b = ybar[0] - xbar @ W
    X = np.asarray(X, np.float64)
    R = d[:, None] * (np.reshape(y, (-1, 1)) - X @ W - b)  # d * residuals, (n, A)
    crit = np.max(np.abs(l2s * W - X.T @ R), axis=0, initial=0.0)
    if fit_intercept:
        crit = np.maximum(crit, np.abs(R.sum(axis=0)))
    return W.T, b, crit
