"""scikit-learn-compatible group lasso estimators: thin wrappers over :func:`jaxreg.fit` with
:class:`jaxreg.penalties.GroupLasso` / :class:`jaxreg.penalties.SparseGroupLasso` (the
``group_bcd`` solver on a dense X, FISTA on a sparse one).

``GroupLasso(alpha, groups=..., weights=...)`` minimises
``1/(2n) ||y - Xw - b||^2 + alpha sum_g w_g ||w_{[g]}||_2``, skglm's ``GroupLasso`` objective
(``weights=None``: every ``w_g = 1``, skglm's default), with ``groups`` an int group size,
a label per feature or a list of index arrays (see :class:`jaxreg.penalties.GroupLasso`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg.estimators import check_fit_status, previous_fit, store_params
from jaxreg.fit import fit
from jaxreg.penalties import GroupLasso as GroupLassoPenalty
from jaxreg.penalties import SparseGroupLasso as SparseGroupLassoPenalty

__all__ = ["GroupLasso", "SparseGroupLasso"]

_DTYPES = [np.float64, np.float32]


class _GroupRegressor(RegressorMixin, BaseEstimator):
    """What the group estimators share; subclasses give ``__init__`` and ``_penalty()``."""

    def _penalty(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            The loss is the weighted mean ``sum_i s_i (y_i - x_i w - b)^2 / (2 sum_i s_i)``.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, accept_sparse=True, dtype=_DTYPES, y_numeric=True)
        penalty = self._penalty()
        sw = V.check_sample_weight(sample_weight, X.shape[0], X.dtype)
        warm = previous_fit(self, X.shape[1])
        res = fit(
            X,
            y,
            penalty=penalty,
            solver=self.solver,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            sample_weight=sw,
            **warm,
        )
        check_fit_status(self, res, stacklevel=3)
        self.coef_ = np.array(res.coef)
        self.intercept_ = np.asarray(res.intercept, dtype=self.coef_.dtype)[()]
        self.n_iter_ = int(res.n_iter)
        self.fit_result_ = res
        return self

    def predict(self, X):
        """``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, dtype=_DTYPES, reset=False)
        return np.asarray(X @ self.coef_ + self.intercept_).ravel()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class GroupLasso(_GroupRegressor):
    """Group lasso: ``1/(2n) ||y - Xw - b||^2 + alpha sum_g w_g ||w_{[g]}||_2`` (skglm's).

    Parameters
    ----------
    alpha : float, default=1.0
    groups : int, a label per feature, or a list of index arrays, default=1
        An int: contiguous groups of that size (it must divide the number of features;
        1 is the lasso). A label per feature: the features with one label form a group
        (groups ordered by ``np.unique`` of the labels). A list of disjoint index arrays:
        one group each; features in no group are not penalized. (skglm reads a list of ints
        as group sizes; here a flat list is a label per feature.)
    weights : array of shape (n_groups,), optional
        ``w_g`` (>= 0; 0 leaves a group unpenalized). Default: all 1 (skglm's default);
        Yuan and Lin's ``sqrt(group size)`` is ``weights=np.sqrt(sizes)``.
    fit_intercept : bool, default=True
    solver : str, default="auto"
        "auto" is ``group_bcd`` (block coordinate descent with working sets) on a dense X
        and FISTA on a sparse one; any :func:`jaxreg.fit` solver with a prox ("fista",
        "ista") also works.
    tol : float, optional
        On the largest distance of a group's gradient to its subdifferential (skglm's
        criterion); the solver's default (1e-6 for group_bcd) when None.
    max_iter : int, optional
    warm_start : bool, default=False

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
    fit_result_ : jaxreg.FitResult

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 6)); y = X[:, :2] @ np.array([1.0, -1.0])
    >>> est = jaxreg.GroupLasso(alpha=0.1, groups=2).fit(X, y)
    >>> (np.abs(est.coef_.reshape(3, 2)).sum(1) > 0).tolist()  # the first group only
    [True, False, False]
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        groups=1,
        weights=None,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        warm_start=False,
    ):
        store_params(self, locals())

    def _penalty(self):
        return GroupLassoPenalty(V.check_number(self.alpha, "alpha", 0.0), self.groups, self.weights)


class SparseGroupLasso(_GroupRegressor):
    """Sparse group lasso: ``1/(2n) ||y - Xw - b||^2 + alpha (l1_ratio ||w||_1 + (1 - l1_ratio)
    sum_g w_g ||w_{[g]}||_2)`` (``l1_ratio=1`` is the lasso, ``0`` the group lasso).

    Parameters
    ----------
    alpha : float, default=1.0
    l1_ratio : float in [0, 1], default=0.5
    groups, weights, fit_intercept, solver, tol, max_iter, warm_start
        As in :class:`GroupLasso`; features in no group carry no term at all.

    Attributes
    ----------
    coef_, intercept_, n_iter_, fit_result_
        As in :class:`GroupLasso`.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        groups=1,
        weights=None,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        warm_start=False,
    ):
        store_params(self, locals())

    def _penalty(self):
        alpha = V.check_number(self.alpha, "alpha", 0.0)
        l1_ratio = V.check_number(self.l1_ratio, "l1_ratio", 0.0, 1.0)
        return SparseGroupLassoPenalty(alpha, l1_ratio, self.groups, self.weights)
