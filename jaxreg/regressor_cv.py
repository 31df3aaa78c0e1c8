"""``RegressorCV``: any regression loss with any penalty that has a path, its ``alpha``
chosen by K-fold cross-validation on the held-out mean loss (glum's
``GeneralizedLinearRegressorCV`` for our losses and penalties: Poisson, Gamma, Tweedie,
Huber or a user's loss with L1, elastic net, MCP, SCAD, group lasso, bounds, ...).

Each fold's path is :func:`jaxreg.path` on the fold's training rows (warm-started from one
``alpha`` to the next), on one grid for every fold (from ``alpha_max`` of the whole data,
as scikit-learn's ``LassoCV`` does); the held-out score is the loss itself, the weighted
mean of ``loss.per_sample`` over the fold's held-out rows (the half deviance for the GLM
families, so that ``alpha_`` minimises the held-out deviance). ``LassoCV`` and
``ElasticNetCV`` (:mod:`jaxreg.cv`) batch the folds of the squared loss and stay the fast
choice there.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg._fitparts import check_offset, compute_context
from jaxreg.estimators import add_offset, check_fit_status
from jaxreg.fit import alpha_max, fit
from jaxreg.losses import get_loss, mean_of
from jaxreg.path import alpha_grid, checked_grid, path
from jaxreg.penalties import L1, get_penalty

__all__ = ["RegressorCV"]

_DTYPES = [np.float64, np.float32]


def held_out_loss(loss, y, Z, sample_weight, offset=None) -> np.ndarray:
    """The weighted mean of ``loss.per_sample`` over rows, one value per column of the linear
    predictors ``Z`` (n, k) (plus ``offset``)."""
    if offset is not None:
        Z = Z + offset[:, None]
    with compute_context(Z.dtype):
        per = np.asarray(loss.per_sample(np.asarray(y, Z.dtype)[:, None], Z), dtype=np.float64)
    return np.average(per, axis=0, weights=sample_weight)


class RegressorCV(RegressorMixin, BaseEstimator):
    """Any regression loss and path-capable penalty, ``alpha`` chosen by cross-validation.

    Parameters
    ----------
    penalty : Penalty or str, default="l1"
        The penalty's form; its ``alpha`` is ignored (the grid supplies it): ``L1()``,
        ``ElasticNet(l1_ratio=0.5)``, ``MCP(gamma=3)``, ``GroupLasso(groups=...)``,
        ``Bounded(L1(), lower=0)``, ... (any penalty :func:`jaxreg.path` takes).
    loss : str or Loss, default="squared"
        As in :class:`jaxreg.Regressor`.
    alphas : int or array-like, default=100
        Number of grid points from ``alpha_max`` down to ``eps * alpha_max``, or the grid
        (needed for penalties without an ``alpha_max``, such as ``L2``).
    eps : float, default=1e-3
    cv : int, cross-validation generator or iterable, default=None (5-fold ``KFold``)
    fit_intercept : bool, default=True
    tol : float, default=1e-6
        Stopping tolerance per ``alpha`` (as in :func:`jaxreg.path`), and of the refit.
    max_iter : int, optional
        Outer iterations per ``alpha`` (:func:`jaxreg.path`'s default if None).

    Attributes
    ----------
    alpha_ : float
        The grid point with the least held-out mean loss, averaged over folds.
    alphas_ : ndarray of shape (n_alphas,)
        The grid, decreasing.
    loss_path_ : ndarray of shape (n_alphas, n_folds)
        The held-out mean loss of every ``alpha`` and fold (for the squared loss, half of
        ``LassoCV``'s ``mse_path_``).
    coef_, intercept_, n_iter_, fit_result_
        The refit on all rows at ``alpha_``.
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10)); y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.5 * X[:, 1]))
    >>> model = jaxreg.RegressorCV(loss="poisson", alphas=20, cv=3).fit(X, y)
    >>> model.loss_path_.shape, bool(model.coef_[0] > 0 > model.coef_[1])
    ((20, 3), True)
    """

    def __init__(
        self,
        penalty="l1",
        *,
        loss="squared",
        alphas=100,
        eps=1e-3,
        cv=None,
        fit_intercept=True,
        tol=1e-6,
        max_iter=None,
    ):
        self.penalty = penalty
        self.loss = loss
        self.alphas = alphas
        self.eps = eps
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def _problem(self):
        loss = get_loss(self.loss)
        if loss.is_classifier:
            raise ValueError(f"loss={self.loss!r} is a classification loss; RegressorCV takes regression losses")
        penalty = get_penalty(L1(1.0) if self.penalty is None else self.penalty)
        return loss, penalty

    def fit(self, X, y, sample_weight=None, offset=None, groups=None):
        """Fit every fold's path, choose ``alpha_``, refit on all rows.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the fits and of the held-out means.
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor (see :class:`jaxreg.Regressor`).
        groups : array-like of shape (n_samples,), optional
            Group labels for a group-aware splitter (``GroupKFold``).

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], dtype=_DTYPES, y_numeric=True)
        loss, penalty = self._problem()
        loss.check_target(y)
        V.check_positive(self.tol, "tol", strict=False, allow_none=False)
        n = X.shape[0]
        sw = V.check_sample_weight(sample_weight, n, np.float64)
        offset = check_offset(offset, n, X.dtype)
        kw = dict(fit_intercept=bool(self.fit_intercept), tol=float(self.tol), max_iter=self.max_iter)
        if isinstance(self.alphas, numbers.Integral) and not isinstance(self.alphas, bool):
            try:
                penalty.alpha_max(np.ones(X.shape[1]))
            except ValueError as e:
                raise ValueError(
                    f"alphas={self.alphas!r}: penalty {penalty!r} has no alpha_max to start a grid from ({e}); "
                    "give the grid as alphas=[...]"
                ) from None
            top = alpha_max(
                X, y, loss, penalty, fit_intercept=bool(self.fit_intercept), sample_weight=sw, offset=offset
            )
            grid = alpha_grid(top, int(self.alphas), self.eps)
        else:
            grid = checked_grid(self.alphas)
        folds = list(check_cv(self.cv).split(X, y, groups))
        scores = np.empty((grid.size, len(folds)))
        unconverged = 0
        for f, (train, test) in enumerate(folds):
            res = path(
                X[train],
                y[train],
                loss,
                penalty,
                alphas=grid,
                sample_weight=sw[train],
                offset=None if offset is None else offset[train],
                **kw,
            )
            unconverged += int(np.sum(~np.asarray(res.converged)))
            Z = np.asarray(X[test] @ res.coefs) + res.intercepts  # (n_test, n_alphas), dense or sparse X
            scores[:, f] = held_out_loss(loss, y[test], Z, sw[test], None if offset is None else offset[test])
        if unconverged:
            warnings.warn(
                f"{unconverged} of {scores.size} fold fits did not reach tol={self.tol} within max_iter; "
                "raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.alphas_ = grid
        self.loss_path_ = scores
        self.alpha_ = float(grid[int(np.argmin(scores.mean(axis=1)))])
        res = fit(
            X,
            y,
            loss=loss,
            penalty=penalty.with_alpha(self.alpha_),
            sample_weight=None if sample_weight is None else sw,
            offset=offset,
            **{k: v for k, v in kw.items() if v is not None},
        )
        check_fit_status(self, res, stacklevel=3)
        self.coef_ = np.array(res.coef)
        self.intercept_ = float(res.intercept) if self.fit_intercept else 0.0
        self.n_iter_ = int(res.n_iter)
        self.fit_result_ = res
        return self

    def predict(self, X, offset=None):
        """The predicted mean at ``X @ coef_ + intercept_ (+ offset)`` (``exp`` of it for the
        log-link losses), as :class:`jaxreg.Regressor`'s.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), optional

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=_DTYPES)
        return mean_of(get_loss(self.loss), add_offset(np.asarray(X @ self.coef_ + self.intercept_).ravel(), offset))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
