"""``RidgeCV``: ridge regression with the ``alpha`` chosen by cross-validation, scikit-learn's.

Every ``alpha`` comes from one factorization (:mod:`jaxreg.solvers.ridge_spectral`), in numpy
and LAPACK on the host (nothing is compiled, so a new shape costs nothing beyond the arithmetic):

* ``cv=None`` (default): the exact leave-one-out errors of every ``alpha`` from one SVD or
  eigendecomposition of the weighted, centered design, scikit-learn's ``_RidgeGCV`` (the same
  scores, ``cv_results_``, tie rule and ``alpha_per_target``), computed for all alphas at once
  as matrix products instead of one pass over the data per ``alpha``.
* ``cv`` an int, a splitter or an iterable of splits: scikit-learn's ``GridSearchCV`` over
  ``Ridge`` (its folds, its scores: R^2 by default, unweighted on the held-out rows; the mean
  over folds; the first best ``alpha``; a refit on all the data), with one factorization per
  fold for every ``alpha``.

``alpha`` means what it means in scikit-learn's ``Ridge``: the objective is
``sum_i sw_i (y_i - x_i^T w - b)^2 + alpha ||w||^2``; in :func:`jaxreg.fit`'s scaling that is
``L2(alpha / sum(sw))``.
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg.solvers import closed_form_host
from jaxreg.solvers import ridge_spectral as rs

__all__ = ["RidgeCV"]

GCV_MODES = (None, "auto", "svd", "eigen")


class _Predictions(RegressorMixin, BaseEstimator):
    """A regressor whose "X" is its predictions, so a scorer ``scorer(est, X, y)`` scores
    predictions made elsewhere (scikit-learn's ``_IdentityRegressor``)."""

    def predict(self, X):
        return X


def _r2(Y, P, w):
    """scikit-learn's ``r2_score`` per output and alpha, ``(k, A)``, for ``Y (m, k)``,
    ``P (m, k, A)``: ``1 - sum w (y - p)^2 / sum w (y - ybar)^2``, and as its ``force_finite``:
    1 for a constant target predicted exactly, 0 for one predicted otherwise."""
    w = np.ones(len(Y)) if w is None else w
    num = np.einsum("m,mka->ka", w, (Y[:, :, None] - P) ** 2)
    den = (w @ (Y - np.average(Y, axis=0, weights=w)) ** 2)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, 1 - num / den, np.where(num == 0, 1.0, 0.0))


def _neg_mse(Y, P, w):
    """scikit-learn's ``neg_mean_squared_error`` per output and alpha, ``(k, A)``."""
    w = np.ones(len(Y)) if w is None else w
    return -np.einsum("m,mka->ka", w / w.sum(), (Y[:, :, None] - P) ** 2)


# scorers computed for every alpha at once (the others: one scorer call per alpha)
VECTOR_SCORERS = {"r2": _r2, "neg_mean_squared_error": _neg_mse}


def _accepts_sample_weight(scorer):
    """Whether scikit-learn's GridSearchCV would pass ``sample_weight`` to ``scorer``."""
    if hasattr(scorer, "_accept_sample_weight"):
        return bool(scorer._accept_sample_weight())
    return "sample_weight" in inspect.signature(scorer).parameters


def check_alphas(alphas, strict):
    """``alphas`` as a 1-D float array, finite and ``> 0`` (``strict``, leave-one-out) or ``>= 0``."""
    try:
        a = np.asarray(alphas, dtype=np.float64)
    except (TypeError, ValueError):
        a = None
    if a is not None and a.ndim == 0:
        a = a.reshape(1)
    bound = "> 0" if strict else ">= 0"
    if a is None or a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0 if strict else a < 0):
        why = " (leave-one-out, cv=None, needs alpha > 0)" if strict else ""
        raise ValueError(
            f"alphas={alphas!r} is not allowed; alphas must be a non-empty 1-D array of finite numbers {bound}{why}"
        )
    return a


class RidgeCV(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Ridge regression with built-in cross-validation of ``alpha`` (scikit-learn's ``RidgeCV``).

    Parameters
    ----------
    alphas : array-like of shape (n_alphas,), default=(0.1, 1.0, 10.0)
        scikit-learn's ridge strengths, in the order tried (ties go to the first). Finite and
        ``> 0`` for leave-one-out (``cv=None``), ``>= 0`` otherwise.
    fit_intercept : bool, default=True
    scoring : str, callable or None, default=None
        A scikit-learn scorer name or ``scorer(estimator, X, y)``. None: the negative mean
        squared leave-one-out error (``cv=None``; weighted by ``sample_weight``, as scikit-learn),
        or R^2 (``cv`` given).
    cv : None, int, cross-validation splitter or iterable of (train, test), default=None
        None: efficient leave-one-out. Otherwise K-fold as ``sklearn.model_selection.check_cv``
        makes it (an int is ``KFold(cv)``).
    gcv_mode : {"auto", "svd", "eigen"} or None, default=None
        The factorization: "svd" of the design; "auto", "eigen" and None the eigendecomposition
        of ``X X^T`` when ``n_samples <= n_features``, of ``X^T X`` otherwise (scikit-learn's rule).
        Used by the folds of ``cv`` too.
    store_cv_results : bool, default=False
        Keep ``cv_results_`` (``cv=None`` only).
    alpha_per_target : bool, default=False
        Choose an ``alpha`` per column of a 2-D ``y`` (``cv=None`` only).

    Attributes
    ----------
    alpha_ : float or ndarray of shape (n_targets,)
    best_score_ : float or ndarray of shape (n_targets,)
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    cv_results_ : ndarray of shape (n_samples, n_alphas) or (n_samples, n_targets, n_alphas)
        The squared leave-one-out errors (scaled by ``sample_weight``) when ``scoring`` is
        None, else the leave-one-out predictions.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); y = X @ np.arange(5.0) + rng.standard_normal(100)
    >>> model = jaxreg.RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X, y)
    >>> round(model.alpha_, 3), np.abs(model.coef_).round(0).tolist()
    (0.316, [0.0, 1.0, 2.0, 3.0, 4.0])
    """

    def __init__(
        self,
        alphas=(0.1, 1.0, 10.0),
        *,
        fit_intercept=True,
        scoring=None,
        cv=None,
        gcv_mode=None,
        store_cv_results=False,
        alpha_per_target=False,
    ):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.cv = cv
        self.gcv_mode = gcv_mode
        self.store_cv_results = store_cv_results
        self.alpha_per_target = alpha_per_target

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified: the factorization is dense
        return tags

    def fit(self, X, y, sample_weight=None):
        """Choose ``alpha`` and fit on all the data at it.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : float or array-like of shape (n_samples,), optional
            scikit-learn's meaning: rows scaled by ``sqrt(sample_weight)`` (multiplying every
            weight by ``k`` is dividing ``alpha`` by ``k``).

        Returns
        -------
        self
        """
        for name in ("fit_intercept", "store_cv_results", "alpha_per_target"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; it must be True or False")
        if self.gcv_mode not in GCV_MODES:
            raise ValueError(f"gcv_mode={self.gcv_mode!r} is not allowed; allowed: {list(GCV_MODES)}")
        alphas = check_alphas(self.alphas, strict=self.cv is None)
        if self.cv is not None and (self.store_cv_results or self.alpha_per_target):
            which = "store_cv_results" if self.store_cv_results else "alpha_per_target"
            raise ValueError(f"cv={self.cv!r} and {which}=True are incompatible ({which} needs cv=None)")
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True,
            accept_sparse=["csr", "csc", "coo"],
        )  # fmt: skip
        dtype, self._y_ndim = X.dtype, y.ndim
        if hasattr(X, "toarray"):
            X = X.toarray()
        weighted = sample_weight is not None
        sw = V.check_sample_weight(sample_weight, X.shape[0], np.float64)
        Y = y.reshape(len(y), -1).astype(np.float64)
        with rs.blas_threads(*X.shape):
            if self.cv is None:
                coef, intercept = self._fit_loo(X, Y, sw, weighted, alphas)
            else:
                coef, intercept = self._fit_folds(X, Y, sw, weighted, alphas)
        # scikit-learn's shapes: coef_ (p,) for 1-D y or one column, else (k, p)
        self.coef_ = (coef[:, 0] if Y.shape[1] == 1 else coef.T).astype(dtype)
        if not self.fit_intercept:
            self.intercept_ = 0.0
        elif y.ndim == 1:
            self.intercept_ = dtype.type(intercept[0])
        else:
            self.intercept_ = intercept.astype(dtype)
        return self

    def _mode(self, n, p):
        return rs.choose_mode(n, p, self.gcv_mode)

    def _fit_loo(self, X, Y, sw, weighted, alphas):
        """Leave-one-out from one factorization; sets alpha_, best_score_, cv_results_."""
        n, k = Y.shape
        Xs, Ys, sqrt_sw, xbar, ybar = rs.scale(X, Y, sw, self.fit_intercept)
        spec = rs.decompose(Xs, self._mode(*X.shape))
        Bty = spec.B.T @ Ys
        E = rs.loo_residuals(spec, Ys, Bty, sqrt_sw, alphas, self.fit_intercept)  # (n, k, A)
        per_target = self.alpha_per_target and k > 1
        if self.scoring is None:
            results = E * E
            scores = -results.mean(axis=0) if per_target else -results.mean(axis=(0, 1))  # (k, A) or (A,)
        else:
            # held-out predictions in y's units: y - e, with E = sqrt(sw) e
            with np.errstate(divide="ignore", invalid="ignore"):
                results = Y[:, :, None] - (E / sqrt_sw[:, None, None] if weighted else E)
            scores = self._scores(results, Y, sw if weighted else None, per_target)
        best = np.argmax(scores, axis=-1)  # the first best, as scikit-learn's strict ">" update
        if per_target:
            self.alpha_ = alphas[best]
            self.best_score_ = scores[np.arange(k), best]
            chosen = alphas[best]
        else:
            self.alpha_ = float(alphas[best])
            self.best_score_ = float(scores[best])
            chosen = np.full(k, alphas[best])
        if self.store_cv_results:
            self.cv_results_ = results[:, 0, :] if self._y_1d else results
        coef = rs.coefs_per_target(spec, Bty, chosen)
        return coef, ybar - xbar @ coef

    def _scores(self, P, Y, sw, per_target, scoring=None):
        """``scoring`` of the predictions ``P (n, k, A)`` per alpha: (A,), or (k, A) per target."""
        scoring = self.scoring if scoring is None else scoring
        if isinstance(scoring, str) and scoring in VECTOR_SCORERS:
            by_output = VECTOR_SCORERS[scoring](Y, P, sw)
            return by_output if per_target else by_output.mean(axis=0)  # scikit-learn's uniform average
        scorer = check_scoring(estimator=self, scoring=scoring)
        kw = {} if sw is None else {"sample_weight": sw}
        ident = _Predictions()
        A = P.shape[2]
        if per_target:
            return np.array([[scorer(ident, P[:, j, a], Y[:, j], **kw) for a in range(A)] for j in range(Y.shape[1])])
        y = Y[:, 0] if self._y_1d else Y
        return np.array([scorer(ident, P[:, 0, a] if self._y_1d else P[:, :, a], y, **kw) for a in range(A)])

    def _fit_folds(self, X, Y, sw, weighted, alphas):
        """K-fold: one factorization per fold gives every alpha's held-out predictions. As
        scikit-learn's GridSearchCV, the held-out score is weighted by ``sample_weight`` when
        one is given and the scorer accepts it."""
        k, A = Y.shape[1], len(alphas)
        y_split = Y[:, 0] if self._y_1d else Y
        folds = list(check_cv(self.cv, y_split, classifier=False).split(X, y_split))
        scoring = "r2" if self.scoring is None else self.scoring  # Ridge.score: R^2
        weigh_scores = weighted and _accepts_sample_weight(check_scoring(estimator=self, scoring=scoring))
        scores = np.empty((len(folds), A))
        for f, (train, test) in enumerate(folds):
            Xs, Ys, _, xbar, ybar = rs.scale(X[train], Y[train], sw[train], self.fit_intercept)
            spec = rs.decompose(Xs, self._mode(*Xs.shape))
            W = rs.coefs(spec, spec.B.T @ Ys, alphas)  # (p, k, A)
            b = ybar[:, None] - np.einsum("p,pka->ka", xbar, W)
            P = (X[test] @ W.reshape(X.shape[1], k * A)).reshape(-1, k, A) + b
            scores[f] = self._scores(P, Y[test], sw[test] if weigh_scores else None, False, scoring)
        mean = scores.mean(axis=0)
        best = int(np.argmax(mean))
        self.alpha_, self.best_score_ = float(alphas[best]), float(mean[best])
        # the refit on all the data: Ridge(alpha_) is L2(alpha_ / sum(sw)) in closed_form_host's scaling
        return closed_form_host.solve(X.astype(np.float64), Y, sw, self.alpha_ / sw.sum(), self.fit_intercept)

    @property
    def _y_1d(self):
        return self._y_ndim == 1

    def predict(self, X):
        """``X @ coef_.T + intercept_``."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc"])
        return X @ self.coef_.T + self.intercept_
