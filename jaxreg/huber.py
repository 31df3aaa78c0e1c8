"""scikit-learn's ``HuberRegressor``: robust regression with a scale fitted jointly.

The objective (scikit-learn's, with sample weights ``s_i`` and ``S = sum_i s_i``) is, for
the coefficients ``w``, the intercept ``b`` and the scale ``sigma > 0``,

    F(w, b, sigma) = sum_i s_i (sigma + sigma * H(r_i / sigma)) + alpha * ||w||^2,
    r = y - X @ w - b,   H(t) = t^2 for |t| <= epsilon, 2 epsilon |t| - epsilon^2 beyond.

``sigma * H(r / sigma)`` is the perspective of ``H``, so ``F`` is jointly convex, and it is
``(2 / sigma)`` times the fixed-threshold Huber loss :class:`jaxreg.losses.Huber` at the
threshold ``epsilon * sigma``: for a fixed scale the coefficients are a ``jaxreg.fit`` with
``Huber(epsilon * sigma)`` and ``L2(alpha * sigma / S)`` (tested). The scale makes the fit
equivariant in ``y``: ``epsilon`` needs no retuning when ``y`` is scaled.

The joint minimisation runs on the host: SciPy's L-BFGS-B over ``(w, b, sigma)`` with the
bound ``sigma >= 10 * eps`` and the objective and gradient in NumPy (one pass over ``X`` each
way per evaluation), as scikit-learn does, so ``max_iter``, ``tol`` (the largest entry of the
projected gradient) and ``n_iter_`` mean what they mean there; but L-BFGS-B stops only on
``tol`` (scikit-learn's also stops on a small relative decrease of ``F``, ~1e-6 from the
minimiser in our tests, and calls that converged), and where its line search stalls before
``tol`` Newton steps finish the fit (up to 2000 parameters). A fit that ends above ``tol``
warns. Nothing is compiled: the fits
this estimator is used for are small, where compilation would dominate.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg.estimators import previous_fit

__all__ = ["HuberRegressor", "huber_objective"]

_SIGMA_MIN = 10 * np.finfo(np.float64).eps


def huber_objective(params, X, y, epsilon, alpha, sample_weight, fit_intercept):
    """``F(w, b, sigma)`` and its gradient at ``params = [w, (b), sigma]``.

    Parameters
    ----------
    params : ndarray of shape (p + 2,) with an intercept, (p + 1,) without
    X : ndarray or scipy.sparse matrix of shape (n, p)
    y, sample_weight : ndarray of shape (n,)
    epsilon, alpha : float
    fit_intercept : bool

    Returns
    -------
    value : float
    grad : ndarray, the shape of ``params``
    """
    p = X.shape[1]
    w, sigma = params[:p], params[-1]
    b = params[p] if fit_intercept else 0.0
    r = y - np.asarray(X @ w).ravel() - b
    big = np.abs(r) > epsilon * sigma
    s_big = sample_weight * big
    s_small = sample_weight - s_big
    sq = s_small @ (r * r)  # sum over the inliers of s r^2
    value = sample_weight.sum() * sigma + sq / sigma
    value += 2.0 * epsilon * (s_big @ np.abs(r)) - epsilon**2 * sigma * s_big.sum()
    value += alpha * (w @ w)
    # psi = dH-part / dr: 2 r / sigma inside, 2 epsilon sign(r) outside
    psi = np.where(big, 2.0 * epsilon * np.sign(r), 2.0 * r / sigma) * sample_weight
    grad = np.empty_like(params)
    grad[:p] = -np.asarray(X.T @ psi).ravel() + 2.0 * alpha * w
    if fit_intercept:
        grad[p] = -psi.sum()
    grad[-1] = sample_weight.sum() - sq / sigma**2 - epsilon**2 * s_big.sum()
    return value, grad


_NEWTON_MAX_DIM = 2000  # Newton's (p + 2)^2 Hessian beyond L-BFGS-B, up to this many parameters


def _projected_gradient(params, grad):
    """The largest entry of ``grad`` projected on the bound ``sigma >= _SIGMA_MIN``."""
    held = params[-1] <= _SIGMA_MIN and grad[-1] > 0
    return float(np.max(np.abs(grad[:-1] if held else grad), initial=0.0))


def _hessian(params, X, y, epsilon, alpha, sample_weight, fit_intercept):
    """The Hessian of ``F`` where it exists (off the inlier/outlier boundary): the inliers'
    ``s r^2 / sigma`` (the perspective of a square) give ``(2 s / sigma) v v^T`` with
    ``v = [x, (1), r / sigma]``; the outliers' terms are linear; the penalty adds ``2 alpha``."""
    p = X.shape[1]
    w, sigma = params[:p], params[-1]
    b = params[p] if fit_intercept else 0.0
    Xd = X.toarray() if hasattr(X, "toarray") else X
    r = y - Xd @ w - b
    inlier = np.abs(r) <= epsilon * sigma
    cols = [Xd[inlier]] + ([np.ones((inlier.sum(), 1))] if fit_intercept else []) + [(r[inlier] / sigma)[:, None]]
    V = np.hstack(cols)
    H = (V * (2.0 * sample_weight[inlier] / sigma)[:, None]).T @ V
    H[np.arange(p), np.arange(p)] += 2.0 * alpha
    return H


def _newton(params, args, tol, max_iter, n_iter):
    """Newton steps with a backtracking line search from L-BFGS-B's answer: ``F`` is
    piecewise quadratic-over-linear, so once the outliers are settled Newton converges in a
    few steps to the precision L-BFGS-B cannot reach (its line search stalls there)."""
    value, g = huber_objective(params, *args)
    gap = _projected_gradient(params, g)
    while n_iter < max_iter and gap > tol:
        H = _hessian(params, *args)
        H[np.diag_indices_from(H)] += 1e-12 * max(1.0, float(np.trace(H)) / len(H))
        free = np.ones(len(params), dtype=bool)
        free[-1] = not (params[-1] <= _SIGMA_MIN and g[-1] > 0)  # sigma held on its bound
        step = np.zeros_like(params)
        try:
            step[free] = -np.linalg.solve(H[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            break
        t = 1.0
        rounding = 64 * np.finfo(np.float64).eps * max(abs(value), 1.0)
        while t > 1e-10:
            trial = params + t * step
            trial[-1] = max(trial[-1], _SIGMA_MIN)  # projected on the bound
            new_value, new_g = huber_objective(trial, *args)
            new_gap = _projected_gradient(trial, new_g)
            if new_value <= value + 1e-4 * t * (g @ step):
                break  # sufficient decrease
            if new_value <= value + rounding and new_gap < 0.5 * gap:
                break  # at rounding level in F the gradient tells progress
            t *= 0.5
        else:
            break  # no progress left at this precision
        params, value, g, gap = trial, new_value, new_g, new_gap
        n_iter += 1
    return params, n_iter


def _interpolant(params, args, gap, tol):
    """Where ``sigma`` sits on its bound the model interpolates the (weighted) rows, and the
    gradient in ``w``, ``(2 / sigma) X^T r``, is rounding noise times 1e15 that no solver can
    bring under ``tol``. The limit ``sigma -> 0`` is exact instead: the interpolant of least
    ``||w||`` (the intercept free), taken when it interpolates and is no worse."""
    X, y, epsilon, alpha, sample_weight, fit_intercept = args
    p, keep = X.shape[1], sample_weight > 0
    Xd = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    Xk, yk = Xd[keep], y[keep]
    if fit_intercept:
        Xk, yk = Xk - Xk.mean(axis=0), yk - yk.mean()
    w = np.linalg.lstsq(Xk, yk, rcond=None)[0]
    if np.abs(Xk @ w - yk).max() > 1e3 * np.finfo(np.float64).eps * max(1.0, np.abs(y).max()):
        return params, gap  # does not interpolate: leave the fit (and its warning) as it is
    trial = params.copy()
    trial[:p] = w
    if fit_intercept:
        trial[p] = np.mean(y[keep] - Xd[keep] @ w)
    trial[-1] = _SIGMA_MIN
    value = huber_objective(params, *args)[0]
    if huber_objective(trial, *args)[0] <= value + 64 * np.finfo(np.float64).eps * max(abs(value), 1.0):
        return trial, tol  # exact in the limit: reported as converged
    return params, gap


class HuberRegressor(RegressorMixin, BaseEstimator):
    """L2-regularized linear regression that is robust to outliers, with scikit-learn's
    parameters, attributes and objective (see the module docstring).

    Parameters
    ----------
    epsilon : float, default=1.35
        Residuals beyond ``epsilon * scale_`` count linearly (``>= 1``); smaller is more robust.
    max_iter : int, default=100
        The most L-BFGS-B iterations.
    alpha : float, default=0.0001
        Strength of the penalty ``alpha * ||w||^2`` (scikit-learn's, not halved; ``>= 0``).
    warm_start : bool, default=False
        Start from the previous fit's ``coef_``, ``intercept_`` and ``scale_``.
    fit_intercept : bool, default=True
        The intercept is never penalized.
    tol : float, default=1e-5
        Stop when the largest entry of the projected gradient is at most ``tol``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    scale_ : float
        The fitted scale ``sigma``.
    n_iter_ : int
        L-BFGS-B iterations (at most ``max_iter``).
    outliers_ : ndarray of bool, shape (n_samples,)
        ``|y - X @ coef_ - intercept_| > epsilon * scale_`` on the training data.
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = X @ [2.0, -1.0] + 0.1 * rng.normal(size=200)
    >>> y[:10] += 50.0  # gross outliers
    >>> est = jaxreg.HuberRegressor().fit(X, y)
    >>> np.round(est.coef_, 1).tolist(), int(est.outliers_[:10].sum())
    ([2.0, -1.0], 10)
    """

    def __init__(self, *, epsilon=1.35, max_iter=100, alpha=0.0001, warm_start=False, fit_intercept=True, tol=1e-05):
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.alpha = alpha
        self.warm_start = warm_start
        self.fit_intercept = fit_intercept
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        """Fit the coefficients, the intercept and the scale.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        epsilon = V.check_number(self.epsilon, "epsilon", 1.0)
        alpha = V.check_number(self.alpha, "alpha", 0.0)
        tol = V.check_number(self.tol, "tol", 0.0)
        max_iter = V.check_positive(self.max_iter, "max_iter", integer=True, allow_none=False, strict=False)
        fit_intercept = V.check_bool(self.fit_intercept, "fit_intercept")
        X, y = validate_data(self, X, y, accept_sparse=["csr"], dtype=[np.float64, np.float32], y_numeric=True)
        X = X.astype(np.float64) if X.dtype != np.float64 else X
        y = np.asarray(y, dtype=np.float64)
        sw = np.asarray(V.check_sample_weight(sample_weight, X.shape[0], np.float64), dtype=np.float64)
        p = X.shape[1]
        start = np.zeros(p + (2 if fit_intercept else 1))
        start[-1] = 1.0
        warm = previous_fit(self, p)
        if warm:
            start[:p] = warm["coef_init"]
            if fit_intercept:
                start[p] = warm["intercept_init"]
            start[-1] = max(float(self.scale_), _SIGMA_MIN)
        bounds = [(None, None)] * (len(start) - 1) + [(_SIGMA_MIN, None)]
        args = (X, y, epsilon, alpha, sw, fit_intercept)
        res = optimize.minimize(
            huber_objective,
            start,
            args=args,
            method="L-BFGS-B",
            jac=True,
            bounds=bounds,
            # ftol=0: stop on tol alone (the default relative-decrease test stopped fits ~1e-6
            # from the minimiser and called them converged)
            options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0},
        )
        if res.status == 2 and not np.all(np.isfinite(res.x)):
            raise ValueError(f"HuberRegressor did not converge: L-BFGS-B stopped with {res.message!r}")
        params, n_iter = res.x, min(int(res.nit), max_iter)
        gap = _projected_gradient(params, res.jac)
        if gap > tol and n_iter < max_iter and len(params) <= _NEWTON_MAX_DIM:
            params, n_iter = _newton(params, args, tol, max_iter, n_iter)
            gap = _projected_gradient(params, huber_objective(params, *args)[1])
        if gap > tol and params[-1] <= 2 * _SIGMA_MIN:
            params, gap = _interpolant(params, args, gap, tol)
        if gap > tol:
            warnings.warn(
                f"HuberRegressor: lbfgs failed to converge after {n_iter} iterations (max_iter={max_iter}): "
                f"the largest projected-gradient entry is {gap:.3g} > tol={tol:g}; increase max_iter or scale the data",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.n_iter_ = n_iter
        self.coef_ = params[:p].copy()
        self.intercept_ = float(params[p]) if fit_intercept else 0.0
        self.scale_ = float(params[-1])
        residual = np.abs(y - np.asarray(X @ self.coef_).ravel() - self.intercept_)
        self.outliers_ = residual > self.scale_ * epsilon
        return self

    def predict(self, X):
        """``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr"], dtype=[np.float64, np.float32], reset=False)
        return np.asarray(X @ self.coef_ + self.intercept_).ravel()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
