"""Generalized linear models with scikit-learn's names: ``PoissonRegressor``,
``GammaRegressor`` and ``TweedieRegressor`` (log link), thin wrappers over :func:`jaxreg.fit`.

Scaling (scikit-learn's; glum's for the elastic net): the objective is the weighted mean
half deviance plus the penalty,

    sum_i s_i dev_i / (2 sum_i s_i) + alpha * (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||^2),

that is :class:`jaxreg.losses.Poisson` (``Gamma``, ``Tweedie(power)``) with ``L2(alpha)``
(``l1_ratio = 0``, scikit-learn's only penalty and the default) or
``ElasticNet(alpha, l1_ratio)`` (``l1_ratio > 0``, as glum's ``GeneralizedLinearRegressor``).
``solver="auto"`` lets ``fit`` pick: newton or lbfgs for the L2 penalty, the working set for
the elastic net; scikit-learn's names ``"lbfgs"`` and ``"newton-cholesky"`` are jaxreg's
``lbfgs`` and ``newton``. ``tol`` has scikit-learn's meaning for both (the largest entry of
the gradient, or with an L1 part its distance to the subdifferential). ``verbose`` is
accepted and changes nothing.

``fit``, ``predict`` and ``score`` take glum's ``offset`` (added to the linear predictor:
``log(exposure)`` for rates). ``predict`` is ``exp(X @ coef_ + intercept_ [+ offset])`` and
``score`` is scikit-learn's D^2 (the fraction of the half deviance explained, against the
model that predicts the weighted mean).

``HuberRegressor`` (scikit-learn's, with a residual scale fitted jointly with the
coefficients, which is not a loss of ``(y, z)`` alone) is in :mod:`jaxreg.huber`;
:class:`jaxreg.losses.Huber` is the fixed-threshold Huber loss for ``jaxreg.fit``.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg._fitparts import canonical
from jaxreg.estimators import add_offset, check_fit_status, previous_fit
from jaxreg.fit import fit
from jaxreg.losses import Gamma, Loss, Poisson, Tweedie
from jaxreg.penalties import L2, ElasticNet

__all__ = ["PoissonRegressor", "GammaRegressor", "TweedieRegressor"]

_DTYPES = [np.float64, np.float32]  # kept as they are; anything else becomes float64
# scikit-learn's solver names for its GLMs, as jaxreg's
SKLEARN_GLM_SOLVERS = {"lbfgs": "lbfgs", "newton-cholesky": "newton"}


@jax.jit
def _mean_loss(loss, y, z, sw):
    return loss.value(y, z, sw)


class _GLMRegressor(RegressorMixin, BaseEstimator):
    """What the GLM estimators share; subclasses give ``__init__`` (scikit-learn reads the
    parameters from its signature) and ``_loss()``."""

    def _loss(self) -> Loss:  # pragma: no cover - abstract
        raise NotImplementedError

    def _penalty(self):
        alpha = V.check_number(self.alpha, "alpha", 0.0)
        l1_ratio = V.check_number(self.l1_ratio, "l1_ratio", 0.0, 1.0)
        return L2(alpha) if l1_ratio == 0.0 or alpha == 0.0 else ElasticNet(alpha, l1_ratio)

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Targets in the loss's domain (``y >= 0`` Poisson and Tweedie, ``y > 0`` Gamma).
        sample_weight : array-like of shape (n_samples,), optional
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor (glum's ``offset``): the model is
            ``E[y] = exp(X @ coef_ + intercept_ + offset)``; ``log(exposure)`` makes it a
            model of the rate ``y / exposure``. ``predict`` takes it again.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, accept_sparse=True, dtype=_DTYPES, y_numeric=True)
        loss, penalty = self._loss(), self._penalty()
        sw = V.check_sample_weight(sample_weight, X.shape[0], X.dtype)
        warm = previous_fit(self, X.shape[1])
        solver = SKLEARN_GLM_SOLVERS.get(self.solver, self.solver) if isinstance(self.solver, str) else self.solver
        res = fit(
            X,
            y,
            loss=loss,
            penalty=penalty,
            solver=solver,
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            sample_weight=sw,
            offset=offset,
            **warm,
        )
        check_fit_status(self, res, stacklevel=3)
        self.coef_ = np.array(res.coef)
        self.intercept_ = float(res.intercept)
        self.n_iter_ = int(res.n_iter)
        self.fit_result_ = res
        return self

    def _linear_predictor(self, X, offset=None):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, dtype=_DTYPES, reset=False)
        return add_offset(np.asarray(X @ self.coef_ + self.intercept_).ravel(), offset)

    def predict(self, X, offset=None):
        """The predicted mean ``exp(X @ coef_ + intercept_ + offset)`` (log link).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor, as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return np.exp(self._linear_predictor(X, offset))

    def score(self, X, y, sample_weight=None, offset=None):
        """D^2, the fraction of the (weighted mean half) deviance explained:
        ``1 - D(y, predict(X, offset)) / D(y, mean(y))`` with the weighted mean of ``y``
        (scikit-learn's GLM ``score``, and glum's with an offset: its null model is the
        mean without the offset; 1 is a perfect fit, it can be negative).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        offset : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        z = self._linear_predictor(X, offset)
        loss = self._loss()
        y = np.asarray(y, dtype=z.dtype).ravel()
        loss.check_target(y)
        sw = V.check_sample_weight(sample_weight, len(y), z.dtype)
        z0 = np.full_like(z, np.log(np.average(y, weights=sw)))
        x64 = jax.enable_x64(True) if z.dtype == np.float64 else contextlib.nullcontext()
        with x64:
            lc = canonical(loss, z.dtype)
            dev = float(_mean_loss(lc, y, z, sw))
            dev0 = float(_mean_loss(lc, y, z0, sw))
        return 1.0 - dev / dev0 if dev0 > 0 else (1.0 if dev == 0 else -np.inf)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy.sparse X goes to fit() as it is
        tags.target_tags.positive_only = True
        return tags


_PARAMS_DOC = """
    alpha : float, default=1.0
        Penalty strength (``>= 0``; 0 is the unpenalized GLM).
    l1_ratio : float, default=0.0
        Share of the L1 part in [0, 1]: 0 is scikit-learn's L2 penalty, above 0 the elastic
        net ``alpha * (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||^2)`` (glum's).
    fit_intercept : bool, default=True
        The intercept is never penalized.
    solver : str, default="auto"
        "auto", a jaxreg solver name, or scikit-learn's "lbfgs" / "newton-cholesky".
    max_iter : int, default=100
    tol : float, default=1e-4
        Stop when the largest entry of the gradient (its distance to the subdifferential
        with an L1 part) is at most ``tol``.
    warm_start : bool, default=False
        Start from the previous fit's coefficients.
    verbose : int, default=0
        Accepted for scikit-learn; changes nothing.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
    fit_result_ : jaxreg.FitResult
    n_features_in_, feature_names_in_
"""


class PoissonRegressor(_GLMRegressor):
    __doc__ = (
        """Poisson regression with log link (:class:`jaxreg.losses.Poisson`): counts, rates.

    Parameters
    ----------"""
        + _PARAMS_DOC
        + """
    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([1.0, 2.0, 4.0, 8.0])
    >>> est = jaxreg.PoissonRegressor(alpha=0.0, tol=1e-10).fit(X, y)
    >>> np.round(est.predict(X), 6).tolist()
    [1.0, 2.0, 4.0, 8.0]
    """
    )

    def __init__(
        self,
        *,
        alpha=1.0,
        l1_ratio=0.0,
        fit_intercept=True,
        solver="auto",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose

    def _loss(self):
        return Poisson()


class GammaRegressor(_GLMRegressor):
    __doc__ = (
        """Gamma regression with log link (:class:`jaxreg.losses.Gamma`): positive amounts.

    Parameters
    ----------"""
        + _PARAMS_DOC
    )

    def __init__(
        self,
        *,
        alpha=1.0,
        l1_ratio=0.0,
        fit_intercept=True,
        solver="auto",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose

    def _loss(self):
        return Gamma()


class TweedieRegressor(_GLMRegressor):
    __doc__ = (
        """Tweedie regression with log link (:class:`jaxreg.losses.Tweedie`).

    Parameters
    ----------
    power : float, default=1.5
        In [1, 2]: 1 Poisson, 2 Gamma, between them compound Poisson-Gamma. scikit-learn's
        default is 0 (the normal distribution, which is :class:`jaxreg.Ridge`) and it also
        takes powers outside [1, 2]; jaxreg's Tweedie loss does not.
    link : {"log", "auto"}, default="log"
        "auto" is scikit-learn's rule, the log link for powers in [1, 2].
"""
        + _PARAMS_DOC
    )

    def __init__(
        self,
        *,
        power=1.5,
        alpha=1.0,
        l1_ratio=0.0,
        fit_intercept=True,
        link="log",
        solver="auto",
        max_iter=100,
        tol=1e-4,
        warm_start=False,
        verbose=0,
    ):
        self.power = power
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.link = link
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose

    def _loss(self):
        if self.link not in ("log", "auto"):
            raise ValueError(
                f"link={self.link!r} is not allowed; allowed: 'log' or 'auto' (the log link for power in [1, 2])"
            )
        return Tweedie(self.power)
