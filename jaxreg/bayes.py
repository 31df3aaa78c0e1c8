"""Bayesian linear regression (Bishop, PRML sections 3.3 and 3.5), in numpy.

Model: ``y = X w + b + noise`` with noise ``N(0, 1/beta)`` and prior ``w ~ N(0, I/alpha)``.
The intercept ``b`` has a flat prior, which is the same as centring ``X`` and ``y`` (the
Gaussian integral over ``b`` leaves the centred likelihood); this is what scikit-learn's
``BayesianRidge`` does. Note the names: our ``alpha`` is the *weight* precision
(scikit-learn's ``lambda_``) and ``beta`` the *noise* precision (scikit-learn's ``alpha_``).

Everything the posterior needs is in the weighted second moments of ``[X, y]``, kept as
``W = sum(s_i)``, the means and the centred co-moment matrix. ``partial_fit`` merges a new
batch's moments into them (Chan et al.'s pairwise update), which for fixed ``alpha, beta``
is exactly "the posterior becomes the prior": the precision ``alpha I + beta S_xx`` and the
vector ``beta s_xy`` both grow by the new batch's terms. The posterior after any split of the
data is therefore the batch posterior, and evidence maximisation re-runs on all data seen.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V

__all__ = ["BayesianLinearRegression"]

# Hyperparameters are kept inside [1/_BOUND, _BOUND]: a degenerate fit (one sample, a
# constant target, y exactly linear in X) drives alpha or beta to 0 or infinity. The noise
# precision has a tighter, scale-aware ceiling (see _Evidence.beta_bounds).
_BOUND = 1e200


def _moments(Z, sw):
    """Weight sum, mean and co-moment ``sum_i s_i (z_i - mean)(z_i - mean)^T`` of the rows of ``Z``."""
    W = float(np.sum(sw))
    mean = (sw @ Z) / W
    Zc = Z - mean
    return W, mean, (Zc * sw[:, None]).T @ Zc


def _merge(a, b):
    """Moments of the union of two samples (Chan, Golub & LeVeque, 1979, pairwise update)."""
    (Wa, ma, Ma), (Wb, mb, Mb) = a, b
    W = Wa + Wb
    delta = mb - ma
    return W, ma + delta * (Wb / W), Ma + Mb + np.outer(delta, delta) * (Wa * Wb / W)


def _bounded_ratio(num, den, current, low=1.0 / _BOUND, high=_BOUND):
    """``num / den`` for Python floats ``>= 0``, kept in ``[low, high]`` (no overflow); ``0 / 0``
    (nothing in the data determines it) keeps ``current``."""
    if num == 0.0 and den == 0.0:
        return current
    if den * high <= num:
        return high
    if num <= low * den:
        return low
    return num / den


def _check_precision(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value < np.inf):
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be None or a finite number > 0")
    return float(value)


class _Evidence:
    """The posterior and the log evidence as functions of ``(alpha, beta)`` for fixed data,
    through the eigenpairs ``(e, V)`` of ``S_xx = X_c^T X_c`` with ``e > 0`` (``V``: p x r),
    ``u = V^T s_xy``, ``s_yy`` and the number of features ``M``. Directions outside ``V``
    carry no data: there the posterior is the prior ``N(0, 1/alpha)``.

    :meth:`from_moments` decomposes the p x p ``S_xx`` (the form ``partial_fit`` merges);
    :meth:`from_rows`, for ``p`` above the number of rows ``n``, the n x n kernel
    ``K = X_c X_c^T = U diag(e) U^T``, whose nonzero eigenvalues are those of ``S_xx``, with
    ``V = X_c^T U diag(e)^(-1/2)`` (the Woodbury identity in eigen form): O(n^2 p) time and
    O(n p) memory instead of O(p^3) and O(p^2)."""

    def __init__(self, W, e, V, u, syy, M):
        self.W, self.e, self.V, self.u, self.syy, self.M = W, e, V, u, syy, M
        self.beta_bounds = (1.0 / _BOUND, _BOUND)

    @staticmethod
    def _null(e):
        # s_xy = X_c^T y_c lies in the row space of X_c: along (numerically) null directions
        # of S_xx both e and s_xy are 0, and rounding noise there must not become weight.
        return e <= np.finfo(np.float64).eps * max(len(e), 1) * max(float(np.max(e, initial=0.0)), 0.0)

    @classmethod
    def from_moments(cls, W, Sxx, sxy, syy):
        e, V = np.linalg.eigh(Sxx)
        keep = ~cls._null(e)
        return cls(W, e[keep], V[:, keep], V[:, keep].T @ sxy, syy, Sxx.shape[0])

    @classmethod
    def from_rows(cls, W, Xs, ys):
        """From the rows ``Xs = sqrt(s) X_c`` and ``ys = sqrt(s) y_c`` (weights folded in)."""
        k, U = np.linalg.eigh(Xs @ Xs.T)
        keep = ~cls._null(k)
        e = k[keep]
        V = (Xs.T @ U[:, keep]) / np.sqrt(e)
        return cls(W, e, V, V.T @ (Xs.T @ ys), float(ys @ ys), Xs.shape[1])

    def interpolates(self) -> bool:
        """Whether the data are fitted exactly (least squares leaves no residual: ``n <= p``,
        one sample, y linear in X): then the evidence grows without bound in beta."""
        resid = self.syy - float(np.sum(self.u**2 / self.e)) if self.e.size else self.syy
        return resid <= 1e3 * np.finfo(np.float64).eps * self.syy and self.W > self.e.size

    def covariance(self, alpha, beta):
        """The posterior covariance ``(alpha I + beta S_xx)^-1`` (p x p)."""
        cov = (self.V / (alpha + beta * self.e)) @ self.V.T
        if self.V.shape[1] < self.M:  # the prior's 1/alpha on the directions without data
            cov += (np.eye(self.M) - self.V @ self.V.T) / alpha
        return cov

    def quadratic(self, Z, alpha, beta):
        """``z^T sigma z`` for each row ``z`` of ``Z``, never < 0."""
        proj = Z @ self.V
        q = np.sum(proj**2 / (alpha + beta * self.e), axis=1)
        if self.V.shape[1] < self.M:
            q += np.maximum(np.sum(Z**2, axis=1) - np.sum(proj**2, axis=1), 0.0) / alpha
        return q

    def posterior(self, alpha, beta):
        """Mean (in the eigenbasis), ``gamma``, squared weight norm and the residual sum of squares."""
        d = alpha + beta * self.e
        m = beta * self.u / d
        gamma = float(np.sum(beta * self.e / d))  # effective number of parameters (3.91)
        # E_D = ||y_c - X_c m||^2 = s_yy - 2 m.s_xy + m^T S_xx m, floored: it is a sum of squares.
        sse = self.syy - 2.0 * m @ self.u + np.sum(self.e * m**2)
        return m, gamma, float(m @ m), max(float(sse), 0.0)

    def log_evidence(self, alpha, beta):
        """``ln p(y | alpha, beta)`` (Bishop 3.86) with ``N = W`` and ``M`` = number of features."""
        _, _, mm, sse = self.posterior(alpha, beta)
        r = self.e.shape[0]  # the M - r directions without data add log(alpha) - log(alpha) = 0
        return 0.5 * (
            r * np.log(alpha)
            + self.W * np.log(beta)
            - beta * sse
            - alpha * mm
            - np.sum(np.log(alpha + beta * self.e))
            - self.W * np.log(2.0 * np.pi)
        )

    def maximise(self, alpha, beta, max_iter, tol):
        """MacKay's fixed-point re-estimation (Bishop 3.92, 3.95):
        ``alpha = gamma / ||m||^2``, ``beta = (N - gamma) / E_D``. Stops when both change by
        less than ``tol`` relatively, or when beta has, alpha is growing and the weights
        explain less than ``tol`` of the residual sum of squares: then the evidence is
        maximal at ``alpha = infinity`` (no linear signal) and alpha would only drift up.
        Returns ``alpha, beta, n_iter, converged``."""
        for it in range(1, max_iter + 1):
            m, gamma, mm, sse = self.posterior(alpha, beta)
            new_alpha = _bounded_ratio(gamma, mm, alpha)
            if self.interpolates():  # sup at beta = infinity: its ceiling at once, not by slow steps
                new_beta = self.beta_bounds[1]
            else:
                new_beta = _bounded_ratio(max(self.W - gamma, 0.0), sse, beta, *self.beta_bounds)
            d_alpha, d_beta = abs(np.log(new_alpha / alpha)), abs(np.log(new_beta / beta))
            no_signal = new_alpha >= alpha and np.sum(self.e * m**2) <= tol * sse
            alpha, beta = float(new_alpha), float(new_beta)
            if d_beta < tol and (d_alpha < tol or no_signal):
                return alpha, beta, it, True
        return alpha, beta, max_iter, False


class BayesianLinearRegression(RegressorMixin, BaseEstimator):
    """Bayesian linear regression with a Gaussian prior and evidence maximisation.

    Prior ``w ~ N(0, I / alpha)``, noise precision ``beta``. The posterior is Gaussian
    with covariance ``sigma_ = (alpha I + beta X_c^T X_c)^-1`` and mean
    ``coef_ = beta sigma_ X_c^T y_c`` (``X_c, y_c``: centred data when ``fit_intercept``).
    The mean is the MAP estimate: scikit-learn's ``Ridge(alpha=alpha_ / beta_)``.

    Parameters
    ----------
    alpha : float > 0, optional
        Prior precision of the weights: the starting value when ``fit_hyperparameters``,
        else the value used. Default 1.
    beta : float > 0, optional
        Noise precision, likewise. Default ``1 / var(y)`` of all data seen.
    fit_hyperparameters : bool, default=True
        Re-estimate ``alpha`` and ``beta`` by maximising the marginal likelihood (evidence).
    fit_intercept : bool, default=True
        Fit an unpenalized intercept (a flat prior on it).
    max_iter : int, default=300
        Cap on the re-estimation iterations.
    tol : float, default=1e-8
        Stop when ``alpha`` and ``beta`` both change by less than this, relatively.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Posterior mean of the weights.
    intercept_ : float
    sigma_ : ndarray of shape (n_features, n_features)
        Posterior covariance of the weights.
    alpha_, beta_ : float
        The weight and noise precisions used (found, when ``fit_hyperparameters``).
    gamma_ : float
        Effective number of well-determined parameters, ``sum beta e_i / (alpha + beta e_i)``.
    log_marginal_likelihood_ : float
        ``ln p(y | alpha_, beta_)``; with an intercept, that of the centred data.
    n_iter_ : int
        Re-estimation iterations of the last fit (0 without ``fit_hyperparameters``).
    n_samples_seen_ : float
        Sum of the sample weights seen (the number of samples without weights).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 3)); y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(200)
    >>> blr = jaxreg.BayesianLinearRegression().fit(X, y)
    >>> mean, std = blr.predict(X[:2], return_std=True)
    >>> round(float(blr.beta_) ** -0.5, 1)  # the noise level
    0.1
    """

    def __init__(self, alpha=None, beta=None, fit_hyperparameters=True, *, fit_intercept=True, max_iter=300, tol=1e-8):
        self.alpha = alpha
        self.beta = beta
        self.fit_hyperparameters = fit_hyperparameters
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        """Posterior (and hyperparameters) from ``X, y`` alone, forgetting earlier data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Frequency weights: a weight of 2 counts a sample twice.

        Returns
        -------
        self
        """
        return self._update(X, y, sample_weight, reset=True, warn_degenerate=True)

    def partial_fit(self, X, y, sample_weight=None):
        """Update the posterior with a new batch: the current posterior is the prior.

        After any split of the data the result equals :meth:`fit` on all of it (with
        ``fit_hyperparameters`` the evidence is re-maximised over all data seen).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._update(X, y, sample_weight, reset=not hasattr(self, "_evidence"))

    def _update(self, X, y, sample_weight, reset, warn_degenerate=False):
        """The posterior of all data seen. ``warn_degenerate`` (fit): warn when the data
        determine neither hyperparameter (``partial_fit`` from one sample is the usual
        start of sequential learning, not a mistake)."""
        alpha0 = _check_precision(self.alpha, "alpha")
        beta0 = _check_precision(self.beta, "beta")
        V.check_positive(self.max_iter, "max_iter", integer=True, allow_none=False)
        V.check_positive(self.tol, "tol", allow_none=False)
        for name in ("fit_hyperparameters", "fit_intercept"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; it must be True or False")
        X, y = validate_data(self, X, y, reset=reset, y_numeric=True, dtype=np.float64)
        sw = V.check_sample_weight(sample_weight, X.shape[0], np.float64)
        ev, W, mean, y2 = self._evidence_of(X, y, sw, reset)
        p = X.shape[1]
        # scikit-learn's starting point, from all data seen: alpha = 1, beta = 1 / (var(y) + eps).
        # Every update restarts there, so any split of the data takes the batch fit's path.
        # beta's ceiling: a noise variance below eps * mean(y^2) is rounding, not noise (it
        # binds when the data are fitted exactly: one sample, n <= p, y linear in X).
        ev.beta_bounds = (1.0 / _BOUND, 1.0 / (np.finfo(np.float64).eps * (y2 if y2 > 0 else 1.0)))
        y_var = self._y_var
        self.alpha_ = 1.0 if alpha0 is None else alpha0
        self.beta_ = min(1.0 / (y_var + np.finfo(np.float64).eps) if beta0 is None else beta0, ev.beta_bounds[1])
        self.n_iter_ = 0
        if self.fit_hyperparameters:
            self.alpha_, self.beta_, self.n_iter_, converged = ev.maximise(
                self.alpha_, self.beta_, self.max_iter, self.tol
            )
            if not converged:
                warnings.warn(
                    f"BayesianLinearRegression: evidence maximisation did not converge in {self.max_iter} "
                    f"iterations (alpha={self.alpha_:.3g}, beta={self.beta_:.3g}); increase max_iter",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            if warn_degenerate and ev.syy == 0.0 and ev.e.size == 0:
                warnings.warn(
                    f"BayesianLinearRegression: the data ({W:g} samples{', centred' if self.fit_intercept else ''}) "
                    "are all zero: nothing determines alpha or beta; alpha_ stays at its start "
                    f"({self.alpha_:.3g}) and beta_ at its ceiling 1 / (eps * mean(y^2)) = {self.beta_:.3g}, "
                    "so the predictive spread is the prior's",
                    UserWarning,
                    stacklevel=3,
                )
        m, self.gamma_, _, _ = ev.posterior(self.alpha_, self.beta_)
        self.coef_ = ev.V @ m
        self.intercept_ = float(mean[p] - mean[:p] @ self.coef_) if self.fit_intercept else 0.0
        self.log_marginal_likelihood_ = float(ev.log_evidence(self.alpha_, self.beta_))
        self.n_samples_seen_ = W
        self._x_mean = mean[:p]
        self._evidence = ev
        return self

    def _evidence_of(self, X, y, sw, reset):
        """The evidence of all data seen, ``W``, the means of ``[X, y]`` and ``mean(y^2)``.

        While the rows seen are fewer than the features, the rows themselves are kept and the
        n x n form is used (:meth:`_Evidence.from_rows`); from there on, their moments, which
        ``partial_fit`` merges batch by batch."""
        Z = np.column_stack([X, y])
        p = X.shape[1]
        rows = None if reset else getattr(self, "rows_", None)
        if reset or rows is not None:
            rows = (Z, sw) if rows is None else (np.vstack([rows[0], Z]), np.concatenate([rows[1], sw]))
        if rows is not None and np.count_nonzero(rows[1]) < p:
            Z, sw = rows
            W = float(np.sum(sw))
            mean = (sw @ Z) / W if self.fit_intercept else np.zeros(Z.shape[1])
            Zs = (Z - mean) * np.sqrt(sw)[:, None]
            self.rows_, self.moments_ = rows, None
            self._y_var = float(sw @ (Z[:, p] - sw @ Z[:, p] / W) ** 2 / W)
            y2 = float(sw @ Z[:, p] ** 2 / W)
            return _Evidence.from_rows(W, Zs[:, :p], Zs[:, p]), W, (sw @ Z) / W, y2
        batch = _moments(Z, sw) if rows is None else _moments(*rows)
        self.moments_ = batch if reset or rows is not None else _merge(self.moments_, batch)
        self.rows_ = None
        W, mean, M = self.moments_
        self._y_var = float(M[p, p] / W)
        y2 = float(M[p, p] / W + mean[p] ** 2)
        if not self.fit_intercept:  # raw second moments: sum_i s_i z_i z_i^T
            M = M + W * np.outer(mean, mean)
        return _Evidence.from_moments(W, M[:p, :p], M[:p, p], M[p, p]), W, mean, y2

    @property
    def sigma_(self):
        """Posterior covariance of the weights (p x p, computed when asked)."""
        check_is_fitted(self)
        return self._evidence.covariance(self.alpha_, self.beta_)

    def log_marginal_likelihood(self, alpha=None, beta=None):
        """``ln p(y | alpha, beta)`` of all data seen (the fitted values when None).

        Parameters
        ----------
        alpha, beta : float > 0, optional

        Returns
        -------
        float
        """
        check_is_fitted(self)
        alpha = self.alpha_ if alpha is None else _check_precision(alpha, "alpha")
        beta = self.beta_ if beta is None else _check_precision(beta, "beta")
        return float(self._evidence.log_evidence(alpha, beta))

    def predict(self, X, return_std=False):
        """Predictive mean, and standard deviation when ``return_std``.

        The predictive variance is ``1/beta + (x - xbar)^T sigma_ (x - xbar)``, plus
        ``1 / (beta W)`` for the intercept's uncertainty when it is fitted (``xbar`` the
        weighted mean of the training ``X``, ``W`` the weight sum; no centring without an
        intercept). scikit-learn's ``BayesianRidge`` leaves the intercept term out.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False

        Returns
        -------
        mean : ndarray of shape (n_samples,)
        std : ndarray of shape (n_samples,)
            Only when ``return_std``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        mean = X @ self.coef_ + self.intercept_
        if not return_std:
            return mean
        Xc = X - self._x_mean if self.fit_intercept else X
        # x^T sigma_ x in sigma_'s eigenbasis, sum_i (v_i.x)^2 / (alpha + beta e_i): never < 0.
        var = 1.0 / self.beta_ + self._evidence.quadratic(Xc, self.alpha_, self.beta_)
        if self.fit_intercept:
            var = var + 1.0 / (self.beta_ * self.n_samples_seen_)
        return mean, np.sqrt(var)
