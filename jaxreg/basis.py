"""Basis-function expansions as scikit-learn transformers (Bishop, PRML section 3.1).

Each transformer expands every input column ``x_j`` on its own into ``k`` basis functions
``phi_1(x_j), ..., phi_k(x_j)``, so a linear model on the output is an additive model
``f(x) = b + sum_j sum_i w_ji phi_i(x_j)``. Output columns are grouped by input column
(all functions of ``x_0`` first), in the input's float dtype (float32 stays float32).
The computation is a few numpy expressions: nothing here needs JAX.

Scale the expanded features with scikit-learn's scalers in a Pipeline, e.g.
``make_pipeline(PolynomialBasis(5), StandardScaler(), Ridge(1e-3))``.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["PolynomialBasis", "GaussianBasis", "SigmoidBasis", "FourierBasis"]

_DTYPES = [np.float64, np.float32]


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be an integer >= {minimum}")
    return int(value)


def _per_feature(value, name, n_features, positive=True):
    """A scalar or one finite value per input feature, as an array of shape (n_features,)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n_features):
        raise ValueError(
            f"{name}={value!r} is not allowed; {name} must be a number or an array with one value per "
            f"input feature ({n_features})"
        )
    if not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be finite" + (" and > 0" if positive else ""))
    return np.broadcast_to(arr, (n_features,)).copy()


def _span(X):
    """``max - min`` of each column, 1 where a column is constant (so scales stay > 0)."""
    span = np.max(X, axis=0).astype(np.float64) - np.min(X, axis=0)
    return np.where(span > 0, span, 1.0)


class _Basis(TransformerMixin, BaseEstimator):
    """Validation, dtype handling and feature names; subclasses give ``_learn(X)`` (set the
    fitted parameters), ``_expand(X)`` (an array of shape (n, n_features, k)) and
    ``_suffixes()`` (the k output-name suffixes)."""

    def fit(self, X, y=None):
        """Learn the basis parameters from the range of each column of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=_DTYPES)
        self._learn(X)
        return self

    def transform(self, X):
        """Expand each column of ``X`` into its basis functions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features * n_basis)
            Grouped by input column; the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_DTYPES, reset=False)
        Phi = self._expand(X)
        return Phi.reshape(X.shape[0], -1).astype(X.dtype, copy=False)

    def get_feature_names_out(self, input_features=None):
        """Output names ``"<input name>_<function>"``, e.g. ``"x0^2"`` or ``"age_gauss3"``.

        Parameters
        ----------
        input_features : array-like of str, optional
            Input names; ``feature_names_in_`` (or ``x0, x1, ...``) when None.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "n_features_in_")
        names = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = names if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        input_features = np.asarray(input_features, dtype=object)
        if input_features.shape != (self.n_features_in_,):
            raise ValueError(
                f"input_features has {input_features.size} names; it needs one per input feature "
                f"({self.n_features_in_})"
            )
        if names is not None and not np.array_equal(input_features, names):
            raise ValueError("input_features is not equal to feature_names_in_")
        return np.asarray([f"{f}{s}" for f in input_features for s in self._suffixes()], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class PolynomialBasis(_Basis):
    """Powers of each input column: ``phi_i(x) = x^i`` for ``i = 1, ..., degree``.

    Unlike scikit-learn's ``PolynomialFeatures`` there are no interaction terms (one
    polynomial per column). The constant ``x^0`` is left out by default because the linear
    estimators fit an intercept.

    Parameters
    ----------
    degree : int >= 1, default=3
    include_bias : bool, default=False
        Add one constant column of ones first.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxreg import PolynomialBasis
    >>> PolynomialBasis(degree=3).fit_transform(np.array([[2.0], [-1.0]]))
    array([[ 2.,  4.,  8.],
           [-1.,  1., -1.]])
    """

    def __init__(self, degree=3, *, include_bias=False):
        self.degree = degree
        self.include_bias = include_bias

    def _learn(self, X):
        _check_int(self.degree, "degree", 1)
        if not isinstance(self.include_bias, (bool, np.bool_)):
            raise ValueError(f"include_bias={self.include_bias!r} is not allowed; it must be True or False")

    def _expand(self, X):
        powers = np.arange(1, self.degree + 1)
        return X[:, :, None] ** powers

    def transform(self, X):
        Phi = super().transform(X)
        if self.include_bias:
            Phi = np.hstack([np.ones((Phi.shape[0], 1), Phi.dtype), Phi])
        return Phi

    transform.__doc__ = _Basis.transform.__doc__

    def get_feature_names_out(self, input_features=None):
        names = super().get_feature_names_out(input_features)
        return np.concatenate([np.asarray(["1"], dtype=object), names]) if self.include_bias else names

    get_feature_names_out.__doc__ = _Basis.get_feature_names_out.__doc__

    def _suffixes(self):
        return ["" if i == 1 else f"^{i}" for i in range(1, self.degree + 1)]


class _CenteredBasis(_Basis):
    """Bumps or steps at centres ``mu_i`` with a width ``s`` (per input column).

    Centres: ``centers`` when given, else ``n_centers`` evenly spaced over each column's
    training range. Width: ``width`` when given, else the spacing of the centres,
    ``(max mu - min mu) / (k - 1)`` (1 for a single centre or a constant column).
    """

    _name = ""

    def __init__(self, n_centers=10, *, centers=None, width=None):
        self.n_centers = n_centers
        self.centers = centers
        self.width = width

    def _learn(self, X):
        n_features = X.shape[1]
        if self.centers is None:
            k = _check_int(self.n_centers, "n_centers", 1)
            lo = np.min(X, axis=0).astype(np.float64)
            self.centers_ = lo + np.linspace(0.0, 1.0, k)[:, None] * (np.max(X, axis=0) - lo)
        else:
            c = np.asarray(self.centers, dtype=np.float64)
            if c.ndim == 1:
                c = np.repeat(c[:, None], n_features, axis=1)
            if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] != n_features or not np.all(np.isfinite(c)):
                raise ValueError(
                    f"centers has shape {np.shape(self.centers)}; it must be finite, of shape (n_centers,) "
                    f"(the same centres for every column) or (n_centers, n_features={n_features})"
                )
            self.centers_ = c
        if self.width is None:
            k = self.centers_.shape[0]
            span = np.ptp(self.centers_, axis=0) / max(k - 1, 1)
            self.width_ = np.where(span > 0, span, 1.0)
        else:
            self.width_ = _per_feature(self.width, "width", n_features)

    def _scaled(self, X):
        """``(x_j - mu_ij) / s_j`` of shape (n, n_features, k)."""
        return (X[:, :, None] - self.centers_.T[None]) / self.width_[None, :, None]

    def _suffixes(self):
        return [f"_{self._name}{i}" for i in range(self.centers_.shape[0])]


class GaussianBasis(_CenteredBasis):
    """Gaussian bumps ``phi_i(x) = exp(-(x - mu_i)^2 / (2 s^2))`` on each input column.

    Parameters
    ----------
    n_centers : int >= 1, default=10
        Centres evenly spaced over each column's training range (ignored with ``centers``).
    centers : array-like of shape (n_centers,) or (n_centers, n_features), optional
        Fixed centres: the same for every column, or one column of centres per feature.
    width : float or array-like of shape (n_features,), optional
        ``s``; default the spacing of the centres.

    Attributes
    ----------
    centers_ : ndarray of shape (n_centers, n_features)
    width_ : ndarray of shape (n_features,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxreg import GaussianBasis
    >>> GaussianBasis(centers=[0.0, 1.0], width=1.0).fit_transform(np.array([[0.0], [1.0]])).round(4)
    array([[1.    , 0.6065],
           [0.6065, 1.    ]])
    """

    _name = "gauss"

    def _expand(self, X):
        return np.exp(-0.5 * self._scaled(X) ** 2)


class SigmoidBasis(_CenteredBasis):
    """Logistic sigmoids ``phi_i(x) = 1 / (1 + exp(-(x - mu_i) / s))`` on each input column.

    Parameters
    ----------
    n_centers : int >= 1, default=10
        Centres evenly spaced over each column's training range (ignored with ``centers``).
    centers : array-like of shape (n_centers,) or (n_centers, n_features), optional
    width : float or array-like of shape (n_features,), optional
        ``s``; default the spacing of the centres.

    Attributes
    ----------
    centers_ : ndarray of shape (n_centers, n_features)
    width_ : ndarray of shape (n_features,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.
    """

    _name = "sigmoid"

    def _expand(self, X):
        return expit(self._scaled(X))


class FourierBasis(_Basis):
    """Sines and cosines ``sin(2 pi i x / P), cos(2 pi i x / P)`` for ``i = 1..n_frequencies``.

    The expansion is ``P``-periodic. The default period is twice each column's training
    range, so the fit is not forced to take equal values at both ends of the data (pass
    ``period`` for a known periodic signal, e.g. ``period=1.0`` for ``sin(2 pi x)``).

    Parameters
    ----------
    n_frequencies : int >= 1, default=5
    period : float or array-like of shape (n_features,), optional
        ``P`` (> 0); default ``2 * (max - min)`` of each column (2 for a constant column).

    Attributes
    ----------
    period_ : ndarray of shape (n_features,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxreg import FourierBasis
    >>> FourierBasis(n_frequencies=1, period=4.0).fit_transform(np.array([[1.0]])).round(6)
    array([[1., 0.]])
    """

    def __init__(self, n_frequencies=5, *, period=None):
        self.n_frequencies = n_frequencies
        self.period = period

    def _learn(self, X):
        _check_int(self.n_frequencies, "n_frequencies", 1)
        if self.period is None:
            self.period_ = 2.0 * _span(X)
        else:
            self.period_ = _per_feature(self.period, "period", X.shape[1])

    def _expand(self, X):
        k = np.arange(1, self.n_frequencies + 1)
        theta = 2.0 * np.pi * X[:, :, None] * k / self.period_[None, :, None]
        # Interleave: sin_1, cos_1, sin_2, cos_2, ... for each column.
        return np.stack([np.sin(theta), np.cos(theta)], axis=-1).reshape(X.shape[0], X.shape[1], -1)

    def _suffixes(self):
        return [f"_{f}{i}" for i in range(1, self.n_frequencies + 1) for f in ("sin", "cos")]
