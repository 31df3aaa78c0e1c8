"""scikit-learn-compatible estimators: thin wrappers over :func:`jaxreg.fit`.

Each estimator turns its scikit-learn-style parameters into a loss and a penalty in our
scaling, calls ``fit`` once and copies the result into scikit-learn's fitted attributes.
No solver logic lives here; ``solver="auto"`` lets ``fit`` pick the solver for the pair.

Scaling (the squared loss is ``1/(2n)||y - Xw - b||^2`` and the logistic loss a mean, both
weighted means with ``sample_weight``; ``W`` below is ``sum(sample_weight)``, ``n`` without):

- ``Ridge(alpha=a)`` minimises ``||y - Xw - b||^2 + a||w||^2``: divided by ``2W`` that is
  our ``L2(a / W)``;
- ``Lasso(alpha)`` and ``ElasticNet(alpha, l1_ratio)`` already use our scaling;
- ``LogisticRegression(C)`` minimises ``C * sum_i loss_i + penalty(w)``: divided by ``C W``
  that is our penalty with ``alpha = 1 / (C W)``.

scikit-learn's other parameters are accepted with its meaning where jaxreg has one:
``random_state`` seeds the stochastic solvers (when ``seed`` is None); ``warm_start`` starts
from the previous fit's coefficients; ``class_weight`` (dict or "balanced") multiplies the
sample weights; ``positive=True`` (Ridge, Lasso, ElasticNet, LinearRegression and the CV
estimators) keeps every coefficient >= 0 (``penalties.Bounded(..., lower=0)`` on the
working set); ``dual=True`` (liblinear's dual problem, whose optimum is the primal's for the
L2 penalty) gives the primal fit with an L2 penalty and an error otherwise; ``selection``
("cyclic" or "random": jaxreg's coordinate solvers run cyclically to the same optimum);
``copy_X``, ``precompute``, ``n_jobs``, ``verbose`` and ``intercept_scaling`` change nothing
(X is never modified; the Gram matrix is used when it pays, see ``gram_cd``).
scikit-learn's solver names map to jaxreg's (``SKLEARN_SOLVERS``:
"svd" and "cholesky" are ``closed_form``, the others ``auto``).

No penalty is passed to ``fit`` as ``L2(0)`` and an L1 penalty as ``ElasticNet(alpha, 1)`` (as
scikit-learn fits its Lasso). Both are the same objective, prox and optimality measure to the
last bit, and they let estimators share compiled solvers: alpha is traced, so
LinearRegression and Ridge (or Lasso and ElasticNet) on data of one shape compile once.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg._fitparts import check_offset
from jaxreg.fit import dual_gap, elastic_net_gap, fit
from jaxreg.losses import get_loss, mean_of
from jaxreg.penalties import L2, PENALTIES, Lp, get_penalty, keep_positive
from jaxreg.penalties import ElasticNet as _ElasticNetPenalty

__all__ = [
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "Regressor",
    "LogisticRegression",
    "Classifier",
]

# Input dtypes kept as they are (float32 computes in float32); anything else becomes float64.
_DTYPES = [np.float64, np.float32]

_STOCHASTIC_OPTIONS = ("learning_rate", "batch_size", "seed")


def _check_number(value, name, low=0.0, strict=True):
    """A finite real number above ``low`` (``>= low`` when not ``strict``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or (value <= low if strict else value < low):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be a finite number {bound}")
    return float(value)


def previous_fit(estimator, n_features) -> dict:
    """``coef_init``/``intercept_init`` from the previous one-output fit on ``n_features``
    features when ``warm_start`` is on (checked to be a flag), else ``{}``."""
    warm = V.check_bool(estimator.warm_start, "warm_start")
    if warm and hasattr(estimator, "coef_") and np.shape(estimator.coef_) == (n_features,):
        return {"coef_init": estimator.coef_, "intercept_init": estimator.intercept_}
    return {}


def store_params(estimator, params):
    """Keep ``__init__``'s arguments as attributes of the same names, untouched (scikit-learn's
    rule: ``__init__`` validates nothing and sets nothing else; ``fit`` checks them)."""
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


class _JaxregLinearModel(BaseEstimator):
    """What every estimator shares: calling ``fit`` and reading its result.

    Subclasses define ``_penalty(weight_sum)`` (the penalty in our scaling, given the sum
    of the sample weights) and set their parameters in ``__init__`` (scikit-learn reads the
    parameters from the signature, so each class spells its own out).
    """

    def _penalty(self, weight_sum):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_options(self):
        options = {k: getattr(self, k) for k in _STOCHASTIC_OPTIONS}
        random_state = getattr(self, "random_state", None)
        if options["seed"] is None and isinstance(random_state, numbers.Integral):
            options["seed"] = int(random_state)  # scikit-learn's name for the stochastic solvers' seed
        extra = {} if self.solver_options is None else self.solver_options
        if not isinstance(extra, dict):
            raise ValueError(f"solver_options={extra!r} is not allowed; it must be a dict of jaxreg.fit options")
        twice = sorted(k for k in extra if k in options)
        if twice:
            raise ValueError(f"solver_options sets {twice}, which are estimator parameters; set them on the estimator")
        return {**options, **extra}

    def _run_fit(self, X, y, loss, sw, warm=None, offset=None):
        """``jaxreg.fit`` with this estimator's settings; warns or raises on a bad status.
        ``warm``: the ``coef_init``/``intercept_init`` to use (default: :meth:`_warm_start`)."""
        _check_sklearn_params(self)
        penalty = self._penalty(float(np.sum(sw, dtype=np.float64)))
        res = fit(
            X,
            y,
            loss=loss,
            penalty=penalty,
            solver=self._solver(),
            fit_intercept=self.fit_intercept,
            tol=self.tol,
            max_iter=self.max_iter,
            sample_weight=sw,
            **(self._warm_start() if warm is None else warm),
            **self._fit_options(),
            offset=offset,
        )
        check_fit_status(self, res, stacklevel=4)
        self.n_iter_ = int(res.n_iter)
        self.objective_history_ = res.history
        self.fit_result_ = res
        return res

    def _solver(self):
        """jaxreg's solver for ``self.solver``; with ``positive=True`` a scikit-learn name
        (scikit-learn's positive fits are L-BFGS-B or coordinate descent) is the working
        set, which takes the bounds, via ``auto``."""
        if getattr(self, "positive", False) and (self.solver in SKLEARN_SOLVERS or self.solver == "lbfgs"):
            return "auto"
        return _solver_name(self.solver)

    def _warm_start(self):
        """``coef_init``/``intercept_init`` from the previous fit with ``warm_start=True``."""
        if not getattr(self, "warm_start", False) or not hasattr(self, "coef_"):
            return {}
        coef = self.coef_.toarray() if sp.issparse(self.coef_) else np.asarray(self.coef_)
        coef = coef[0] if coef.ndim == 2 and coef.shape[0] == 1 else coef.T if coef.ndim == 2 else coef
        return {"coef_init": coef, "intercept_init": np.squeeze(np.asarray(self.intercept_))}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy.sparse X goes to fit() as it is (dense when small: V.densify_small)
        return tags


# scikit-learn's solver names, mapped to jaxreg's (the names jaxreg shares keep their meaning)
SKLEARN_SOLVERS = {
    "svd": "closed_form",
    "cholesky": "closed_form",
    "lsqr": "auto",
    "sparse_cg": "auto",
    "sag": "auto",
    "saga": "auto",
    "liblinear": "auto",
    "newton-cg": "auto",
    "newton-cholesky": "auto",
}


def _solver_name(solver):
    return SKLEARN_SOLVERS.get(solver, solver) if isinstance(solver, str) else solver


def _warn_alpha_zero(alpha):
    """scikit-learn's warning for Lasso/ElasticNet at alpha = 0 (least squares by coordinate
    descent; jaxreg's working set does converge there, but the advice stands)."""
    if alpha == 0:
        warnings.warn(
            "With alpha=0, this algorithm does not converge well. You are advised to use the LinearRegression "
            "estimator",
            UserWarning,
            stacklevel=5,
        )


def add_offset(z, offset):
    """The linear predictors ``z`` plus ``offset`` (one per sample, checked; a 2-D ``z`` gets
    it in every column). Shared by the estimators that take an ``offset`` in ``predict``."""
    offset = check_offset(offset, z.shape[0], z.dtype)
    if offset is None:
        return z
    return z + (offset if z.ndim == 1 else offset[:, None])


def check_fit_status(est, res, stacklevel=3):
    """Raise for a diverged fit; warn (scikit-learn's ConvergenceWarning) for one that hit
    ``max_iter``. Shared by every estimator that wraps :func:`jaxreg.fit`."""
    res.raise_for_status()
    if res.status == "max_iter":
        warnings.warn(
            f"{type(est).__name__}: solver {res.solver!r} did not converge in {res.n_iter} iterations "
            f"({res.criterion} = {res.stop_crit:.3g}); increase max_iter, loosen tol, or scale the features",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )


def _centred_intercepts(b):
    """Multinomial intercepts with zero sum (scikit-learn's choice): adding one constant to
    every class's intercept changes no probability, so the loss fixes them only up to it."""
    return b - b.mean() if b.shape[0] > 1 else b


def _check_sklearn_params(est):
    """The scikit-learn parameters jaxreg accepts but cannot honour in every value."""
    if not isinstance(getattr(est, "positive", False), (bool, np.bool_)):
        raise ValueError(f"positive={est.positive!r} is not allowed; it must be True or False")
    selection = getattr(est, "selection", "cyclic")
    if selection not in ("cyclic", "random"):
        raise ValueError(f"selection={selection!r} is not allowed; allowed: 'cyclic', 'random'")


# ----------------------------------------------------------------------------- regressors


class _AlphaParam:
    """``__init__`` of the estimators whose one own parameter is ``alpha`` (with scikit-learn's
    other parameters of Ridge and Lasso, see the module docstring)."""

    def __init__(
        self,
        alpha=1.0,
        *,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        learning_rate=None,
        batch_size=None,
        seed=None,
        solver_options=None,
        copy_X=True,
        positive=False,
        random_state=None,
        precompute=False,
        warm_start=False,
        selection="cyclic",
    ):
        store_params(self, locals())


class _PenaltyParam:
    """``__init__`` and penalty of the estimators that take any penalty object."""

    def __init__(
        self,
        penalty=None,
        *,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        learning_rate=None,
        batch_size=None,
        seed=None,
        solver_options=None,
    ):
        store_params(self, locals())

    def _penalty(self, weight_sum):
        return get_penalty(self.penalty)


class _Regressor(RegressorMixin, _JaxregLinearModel):
    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Several targets are fitted one after the other (``coef_`` of shape
            (n_targets, n_features)).
        sample_weight : array-like of shape (n_samples,), optional
            Frequency weights: a weight of 2 counts a sample twice.
        check_input : bool, default=True
            Accepted for scikit-learn's Lasso/ElasticNet; the input is always checked.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight, offset=None):
        X, y = validate_data(self, X, y, accept_sparse=True, dtype=_DTYPES, y_numeric=True, multi_output=True)
        X = V.densify_small(X)
        sw = V.check_sample_weight(sample_weight, X.shape[0], np.float64)
        self._target, self._n_targets = 0, 1 if y.ndim == 1 else y.shape[1]  # (Ridge's alpha per target)
        if y.ndim == 1:
            res = self._run_fit(X, y, self._fit_loss(), sw, offset=offset)
            self.coef_ = np.array(res.coef)  # a writable copy (scikit-learn users assign into coef_)
            self.intercept_ = np.asarray(res.intercept, dtype=res.coef.dtype)[()]  # a numpy scalar, as scikit-learn's
            for name, value in self._target_attributes(X, y, sw, res).items():
                setattr(self, name, value)
        else:
            self._fit_targets(X, y, sw, offset)
        self._fitted()
        return self

    def _fit_targets(self, X, Y, sw, offset=None):
        """Multi-output ``y`` of shape (n, k): one fit per column (scikit-learn fits its
        linear models column by column too), warm-started column by column with
        ``warm_start``. ``coef_`` is (k, p), ``intercept_``, ``n_iter_`` and the per-target
        attributes are arrays of length k; with one column, the classes scikit-learn ravels
        (``_RAVEL_ONE_TARGET``) give ``coef_`` of shape (p,) and scalar per-target attributes."""
        k = Y.shape[1]
        previous = getattr(self, "coef_", None) if getattr(self, "warm_start", False) else None
        warm = [{}] * k  # cold starts
        if previous is not None and np.size(previous) == k * X.shape[1]:
            rows = np.reshape(previous, (k, X.shape[1]))
            b = np.broadcast_to(np.asarray(self.intercept_, dtype=np.float64), (k,))
            warm = [{"coef_init": rows[j], "intercept_init": b[j]} for j in range(k)]
        results, attributes = [], []
        for j in range(k):
            self._target = j
            results.append(self._run_fit(X, Y[:, j], self._fit_loss(), sw, warm=warm[j], offset=offset))
            attributes.append(self._target_attributes(X, Y[:, j], sw, results[-1]))
        ravel = k == 1 and self._RAVEL_ONE_TARGET
        coef = np.stack([np.asarray(r.coef) for r in results])
        self.coef_ = coef[0] if ravel else coef
        self.intercept_ = np.array([r.intercept for r in results], dtype=coef.dtype)
        self.n_iter_ = int(results[0].n_iter) if ravel else np.array([r.n_iter for r in results])
        self.objective_history_ = [r.history for r in results]
        self.fit_result_ = results[0] if k == 1 else results
        for name in attributes[0]:
            values = np.array([a[name] for a in attributes])
            setattr(self, name, values[0] if ravel else values)

    def _warm_start(self):
        if np.ndim(getattr(self, "coef_", None)) == 2 and np.shape(self.coef_)[0] > 1:
            return {}  # the last fit had several targets; this y has one
        return super()._warm_start()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may be 2-D (one fit per column)
        return tags

    def _fit_loss(self):
        """The loss every target is fitted with (squared here; :class:`Regressor` takes any)."""
        return "squared"

    # y of shape (n, 1): coef_ of shape (p,) as scikit-learn's Ridge/Lasso/ElasticNet give
    # (LinearRegression keeps (1, p))
    _RAVEL_ONE_TARGET = True

    def _target_attributes(self, X, y, sw, res) -> dict:
        """Attributes computed from one target's fit (none by default)."""
        return {}

    def _fitted(self):
        """Hook for attributes of the whole fit (none by default)."""

    def predict(self, X):
        """``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, dtype=_DTYPES, reset=False)
        return np.asarray(X @ np.asarray(self.coef_).T + self.intercept_)


class LinearRegression(_Regressor):
    """Ordinary least squares, fitted by :func:`jaxreg.fit` (no penalty).

    Parameters
    ----------
    fit_intercept : bool, default=True
    solver : str, default="auto"
        Any :func:`jaxreg.fit` solver; "auto" solves the normal equations exactly.
    tol : float, optional
        Stopping tolerance of iterative solvers (the solver's default if None).
    max_iter : int, optional
        Iteration (epoch) cap of iterative solvers (the solver's default if None).
    learning_rate, batch_size, seed : optional
        Options of the stochastic solvers ("gd", "minibatch", "sgd").
    solver_options : dict, optional
        Further :func:`jaxreg.fit` options (``optimizer``, ``schedule``, ``device``, ...).
    copy_X, n_jobs, positive
        scikit-learn's; see the module docstring.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float (numpy scalar) or ndarray of shape (n_targets,)
    noise_precision_ : float
        The maximum-likelihood noise precision ``beta_ML``: ``1 / beta_ML`` is the
        (weighted) mean squared residual.
    n_iter_ : int
    objective_history_ : ndarray
        Objective after each iteration.
    fit_result_ : jaxreg.FitResult
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> est = jaxreg.LinearRegression().fit(X, y)
    >>> round(float(est.coef_[0]), 6), round(float(est.intercept_), 6)
    (2.0, 1.0)
    """

    def __init__(
        self,
        *,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        learning_rate=None,
        batch_size=None,
        seed=None,
        solver_options=None,
        copy_X=True,
        n_jobs=None,
        positive=False,
    ):
        store_params(self, locals())

    def _penalty(self, weight_sum):
        # no penalty, compiled as Ridge's (see the module docstring); positive: non-negative
        # least squares on the working set
        return keep_positive(L2(0.0), self.positive)

    _RAVEL_ONE_TARGET = False

    def _target_attributes(self, X, y, sw, res):
        # beta_ML maximises prod_i N(y_i | x_i w + b, 1/beta)^(s_i): 1/beta_ML = weighted mean r_i^2.
        resid = np.asarray(X @ res.coef + res.intercept, dtype=np.float64) - y
        with np.errstate(over="ignore"):  # a huge y: mse = inf, precision 0
            mse = float(np.sum(sw * resid**2) / np.sum(sw))
        return {"noise_precision_": 1.0 / mse if mse > 0 else np.inf}


class Ridge(_AlphaParam, _Regressor):
    """Ridge regression: ``||y - Xw - b||^2 + alpha ||w||^2`` as in scikit-learn.

    In :func:`jaxreg.fit`'s scaling this is ``L2(alpha / n)`` (``alpha / sum(sample_weight)``
    with weights).

    Parameters
    ----------
    alpha : float or array of shape (n_targets,), default=1.0
        scikit-learn's ridge strength (>= 0); an array gives each target its own.
    fit_intercept, solver, tol, max_iter, learning_rate, batch_size, seed, solver_options
        As in :class:`LinearRegression`.
    copy_X, positive, random_state, precompute, warm_start, selection
        scikit-learn's; see the module docstring.

    Attributes
    ----------
    coef_, intercept_, n_iter_, objective_history_, fit_result_, n_features_in_, feature_names_in_
        As in :class:`LinearRegression`.
    solver_ : str
        The solver the fit used, as scikit-learn reports it: the ``solver`` given (a
        scikit-learn name maps to jaxreg's, see ``SKLEARN_SOLVERS``), or the one ``"auto"`` chose.
    """

    def _penalty(self, weight_sum):
        alpha = self.alpha
        if np.ndim(alpha) == 1:  # scikit-learn's one alpha per target
            if len(alpha) != self._n_targets:
                raise ValueError(
                    f"Number of targets and number of penalties do not correspond: {len(alpha)} != {self._n_targets}"
                )
            alpha = float(np.asarray(alpha, dtype=np.float64)[self._target])
        return keep_positive(L2(_check_number(alpha, "alpha", strict=False) / weight_sum), self.positive)

    def _fitted(self):
        first = self.fit_result_[0] if isinstance(self.fit_result_, list) else self.fit_result_
        self.solver_ = first.solver if self.solver == "auto" else self.solver


def enet_path(X, y, *, l1_ratio=0.5, eps=1e-3, n_alphas=100, alphas=None, coef_init=None, return_n_iter=False,
              positive=False, tol=1e-6, max_iter=None, sample_weight=None, precompute="auto", Xy=None, copy_X=True,
              verbose=False, check_input=True, random_state=None, selection="cyclic"):  # fmt: skip
    """scikit-learn's ``enet_path`` (``lasso_path`` with ``l1_ratio=1``) on jaxreg's path:
    no intercept, X and y as given, ``1/(2n)||y - Xw||^2 + alpha (l1_ratio ||w||_1 + (1 -
    l1_ratio)/2 ||w||^2)`` along a decreasing grid (weighted means with ``sample_weight``).
    scikit-learn's ``precompute``, ``Xy``, ``copy_X``, ``verbose``, ``check_input``,
    ``random_state`` and ``selection`` change nothing; any other keyword is a TypeError.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
    coefs : ndarray of shape (n_features, n_alphas), or (n_targets, n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,) (or (n_targets, n_alphas)), scikit-learn's gap
    n_iters : ndarray, only with ``return_n_iter``
    """
    from jaxreg.path import path as _path

    Y = np.asarray(y, dtype=np.float64)
    if Y.ndim == 2:
        outs = [
            enet_path(X, Y[:, k], l1_ratio=l1_ratio, eps=eps, n_alphas=n_alphas, alphas=alphas, positive=positive,
                      tol=tol, max_iter=max_iter, sample_weight=sample_weight, return_n_iter=True)
            for k in range(Y.shape[1])
        ]  # fmt: skip
        alphas_, *per_target = zip(*outs, strict=True)  # one grid; coefs, gaps, n_iters stacked over targets
        stacked = (alphas_[0], *map(np.stack, per_target))
        return stacked if return_n_iter else stacked[:3]
    penalty = keep_positive(_ElasticNetPenalty(1.0, _check_number(l1_ratio, "l1_ratio", strict=False)), positive)
    res = _path(X, Y, penalty=penalty, alphas=alphas, n_alphas=n_alphas, eps=eps, fit_intercept=False, tol=tol,
                max_iter=max_iter, coef_init=coef_init, sample_weight=sample_weight)  # fmt: skip
    sw = V.check_sample_weight(sample_weight, Y.shape[0], np.float64)
    gaps = np.array([
        elastic_net_gap(X, Y, sw, res.coefs[:, k], 0.0, a * l1_ratio, a * (1 - l1_ratio), False, positive)
        for k, a in enumerate(res.alphas)
    ])  # fmt: skip
    out = (res.alphas, res.coefs, gaps)
    return out + (res.n_iter,) if return_n_iter else out


class Lasso(_AlphaParam, _Regressor):
    """Lasso: ``1/(2n) ||y - Xw - b||^2 + alpha ||w||_1`` (scikit-learn's scaling).

    Fitted, as scikit-learn does, as the elastic net with ``l1_ratio=1``.

    Parameters
    ----------
    alpha : float, default=1.0
    fit_intercept, solver, tol, max_iter, learning_rate, batch_size, seed, solver_options
        As in :class:`LinearRegression`; ``solver="sgd"`` takes proximal stochastic steps.
    copy_X, positive, random_state, precompute, warm_start, selection
        scikit-learn's; see the module docstring.

    Attributes
    ----------
    coef_, intercept_, n_iter_, objective_history_, fit_result_, n_features_in_, feature_names_in_
        As in :class:`LinearRegression`.
    dual_gap_ : float
        scikit-learn's duality gap at ``coef_`` (objective units), whatever the solver.
    """

    def _penalty(self, weight_sum):
        # The elastic net with l1_ratio = 1, compiled as ElasticNet's (see the module docstring).
        alpha = _check_number(self.alpha, "alpha", strict=False)
        _warn_alpha_zero(alpha)
        return keep_positive(_ElasticNetPenalty(alpha, 1.0), self.positive)

    def _target_attributes(self, X, y, sw, res):
        return {"dual_gap_": dual_gap(res, X, y, sw, self.fit_intercept)}

    path = staticmethod(enet_path)  # scikit-learn's Lasso.path is its enet_path too (l1_ratio 0.5 unless given)


class ElasticNet(_Regressor):
    """Elastic net: ``1/(2n)||y - Xw - b||^2 + alpha (l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2)``.

    Parameters
    ----------
    alpha : float, default=1.0
    l1_ratio : float in [0, 1], default=0.5
    fit_intercept, solver, tol, max_iter, learning_rate, batch_size, seed, solver_options
        As in :class:`LinearRegression`.
    copy_X, positive, random_state, precompute, warm_start, selection
        scikit-learn's; see the module docstring.

    Attributes
    ----------
    coef_, intercept_, n_iter_, objective_history_, fit_result_, n_features_in_, feature_names_in_
        As in :class:`LinearRegression`.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        learning_rate=None,
        batch_size=None,
        seed=None,
        solver_options=None,
        copy_X=True,
        positive=False,
        random_state=None,
        precompute=False,
        warm_start=False,
        selection="cyclic",
    ):
        store_params(self, locals())

    def _penalty(self, weight_sum):
        alpha = _check_number(self.alpha, "alpha", strict=False)
        _warn_alpha_zero(alpha)
        return keep_positive(_ElasticNetPenalty(alpha, self.l1_ratio), self.positive)

    def _target_attributes(self, X, y, sw, res):
        return {"dual_gap_": dual_gap(res, X, y, sw, self.fit_intercept)}

    path = staticmethod(enet_path)  # scikit-learn's ElasticNet.path


class Regressor(_PenaltyParam, _Regressor):
    """Any regression loss with any penalty from :mod:`jaxreg.penalties` and any solver
    that handles the pair: :func:`jaxreg.fit` as an estimator.

    Parameters
    ----------
    penalty : Penalty, str or None, default=None
        A penalty object in :func:`jaxreg.fit`'s scaling (``L1(0.1)``, ``Lp(0.1, p=1.5)``,
        ``LInf(0.5)``, ``WeightedL1(0.1, weights)``, ``MCP(0.1, gamma=3)``, ...), a penalty
        name with default parameters, or None (no penalty).
    loss : str or Loss, default="squared"
        A name (``"squared"``, ``"poisson"``, ``"gamma"``, ``"tweedie"``, ``"huber"``) or a
        :mod:`jaxreg.losses` instance (``Tweedie(1.5)``, ``Huber(2.0)``, a
        :func:`jaxreg.losses.custom_loss`); classification losses belong to
        :class:`Classifier`.
    fit_intercept, solver, tol, max_iter, learning_rate, batch_size, seed, solver_options
        As in :class:`LinearRegression`.

    Attributes
    ----------
    coef_, intercept_, n_iter_, objective_history_, fit_result_, n_features_in_, feature_names_in_
        As in :class:`LinearRegression`.

    Notes
    -----
    ``predict`` is the mean of ``y`` at ``X @ coef_ + intercept_ (+ offset)``: the linear
    predictor itself for the squared, Huber and a user's loss, its exponential for the
    log-link losses (Poisson, Gamma, Tweedie). ``score`` is scikit-learn's R^2 of ``predict``.

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> from jaxreg.penalties import LInf
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3)); y = X @ np.array([1.0, -1.0, 0.5])
    >>> est = jaxreg.Regressor(penalty=LInf(0.5), tol=1e-9).fit(X, y)
    >>> bool(np.isclose(abs(est.coef_[0]), abs(est.coef_[1])))  # L-inf ties the largest
    True
    >>> counts = rng.poisson(np.exp(0.3 * X[:, 0]))
    >>> est = jaxreg.Regressor(penalty=jaxreg.L1(0.01), loss="poisson").fit(X, counts)
    >>> bool(np.all(est.predict(X) > 0))  # exp of the linear predictor
    True
    """

    def __init__(
        self,
        penalty=None,
        *,
        loss="squared",
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        learning_rate=None,
        batch_size=None,
        seed=None,
        solver_options=None,
    ):
        store_params(self, locals())

    def _fit_loss(self):
        loss = get_loss(self.loss)
        if loss.is_classifier:
            raise ValueError(f"loss={self.loss!r} is a classification loss; use jaxreg.Classifier for it")
        return loss

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            In the loss's domain (``y >= 0`` Poisson and Tweedie, ``y > 0`` Gamma).
        sample_weight : array-like of shape (n_samples,), optional
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor (glum's ``offset``; ``log(exposure)`` makes a
            log-link model one of the rate). ``predict`` takes it again.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, offset)

    def predict(self, X, offset=None):
        """The predicted mean at ``X @ coef_ + intercept_ (+ offset)`` (see Notes).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor, as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        return mean_of(get_loss(self.loss), add_offset(super().predict(X), offset))


# ----------------------------------------------------------------------------- classifiers


class LinearClassifierOutputs:
    """What a fitted linear classifier answers from ``coef_`` (1 or K rows), ``intercept_``
    and ``classes_``: scores, classes, probabilities (sigmoid for two classes, softmax for
    more), and scikit-learn's ``sparsify``/``densify``. Shared by the classifiers here and
    :class:`jaxreg.cv.LogisticRegressionCV`."""

    def decision_function(self, X):
        """Scores ``X @ coef_.T + intercept_``: shape (n_samples,) for two classes (positive
        means ``classes_[1]``), (n_samples, n_classes) for more.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=True, dtype=_DTYPES, reset=False)
        scores = np.asarray(safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        idx = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Class probabilities: the logistic sigmoid (two classes) or the softmax of the scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p1 = expit(scores)
            return np.column_stack([1.0 - p1, p1])
        return softmax(scores, axis=1)

    def sparsify(self):
        """Store ``coef_`` as a scipy.sparse CSR matrix (scikit-learn's ``sparsify``: worth it
        when most coefficients are zero, as after an L1 fit). Predictions are unchanged.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        self.coef_ = sp.csr_matrix(self.coef_)
        return self

    def densify(self):
        """Store ``coef_`` as a dense array again (undoes :meth:`sparsify`).

        Returns
        -------
        self
        """
        check_is_fitted(self)
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:  # log sigmoid without overflow
            return np.column_stack([-np.logaddexp(0.0, scores), -np.logaddexp(0.0, -scores)])
        return log_softmax(scores, axis=1)


class _Classifier(ClassifierMixin, LinearClassifierOutputs, _JaxregLinearModel):
    """Two classes: the logistic loss, ``coef_`` of shape (1, p). More: the multinomial
    (softmax cross-entropy) loss with the same penalty, ``coef_`` of shape (K, p)."""

    def fit(self, X, y, sample_weight=None):
        """Fit the classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (any two or more distinct values).
        sample_weight : array-like of shape (n_samples,), optional
            Frequency weights: a weight of 2 counts a sample twice.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, accept_sparse=True, dtype=_DTYPES)
        X = V.densify_small(X)
        V.check_labels_given(y)  # before scikit-learn's check sorts them (a raw TypeError)
        check_classification_targets(y)
        loss = "logistic" if np.unique(y).shape[0] <= 2 else "multinomial"
        sw = V.check_sample_weight(sample_weight, X.shape[0], np.float64)
        if getattr(self, "class_weight", None) is not None:  # scikit-learn's: weights per class
            sw = sw * compute_sample_weight(self.class_weight, y)
        res = self._run_fit(X, y, loss, sw)
        self.classes_ = res.classes
        coef = np.asarray(res.coef)
        self.coef_ = np.array(coef[None, :] if coef.ndim == 1 else coef.T)  # writable, C-ordered
        self.intercept_ = _centred_intercepts(np.atleast_1d(np.asarray(res.intercept, dtype=coef.dtype)))
        self.n_iter_ = np.array([self.n_iter_])  # scikit-learn's shape (1,): one fit for all classes
        return self


class LogisticRegression(_Classifier):
    """Penalized logistic regression with scikit-learn's ``C``; multinomial for > 2 classes.

    Minimises ``C * sum_i loss_i + penalty(w)``, i.e. :func:`jaxreg.fit` with the mean loss
    and ``alpha = 1 / (C n)`` (``n = sum(sample_weight)`` with weights).

    Parameters
    ----------
    penalty : {"auto", "l2", "l1", "elasticnet", "lp", "linf"} or None, default="auto"
        ``l2``: ``||w||^2 / 2``; ``l1``: ``||w||_1``; ``elasticnet``: ``l1_ratio ||w||_1 +
        (1 - l1_ratio)/2 ||w||^2``; ``lp``: ``||w||_p^p / p``; ``linf``: ``max|w_i|``; None: none.
        ``auto`` (scikit-learn >= 1.8's rule, whose ``penalty`` is deprecated): ``l1_ratio``
        decides: None or 0 is ``l2``, 1 is ``l1``, in between ``elasticnet``.
    C : float, default=1.0
        Inverse regularization strength (> 0).
    l1_ratio : float in [0, 1], optional
        The elastic-net mixing with ``penalty="auto"`` or ``"elasticnet"`` (required there).
    p : float >= 1, optional
        Required with ``penalty="lp"``.
    fit_intercept, solver, tol, max_iter, learning_rate, batch_size, seed, solver_options
        As in :class:`LinearRegression`; "auto" is L-BFGS for smooth penalties and FISTA
        otherwise (or whatever :func:`jaxreg.fit` picks).
    class_weight, warm_start, random_state, dual, intercept_scaling, verbose, n_jobs
        scikit-learn's; see the module docstring.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) for two classes, (n_classes, n_features) for more
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_, objective_history_, fit_result_, n_features_in_, feature_names_in_
        As in :class:`LinearRegression`.

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 2)); y = np.where(X[:, 0] > 0, "yes", "no")
    >>> clf = jaxreg.LogisticRegression(C=10.0).fit(X, y)
    >>> clf.classes_.tolist(), clf.coef_.shape, clf.predict_proba(X[:2]).shape
    (['no', 'yes'], (1, 2), (2, 2))
    """

    # scikit-learn's names, which are those of jaxreg.penalties.PENALTIES (l2, its default,
    # first); no penalty is None, and weighted_l1 and the group penalties (per-feature weights,
    # groups) are not offered here
    _OFFERED = [n for n in PENALTIES if n not in ("none", "l2", "weighted_l1", "group_lasso", "sparse_group_lasso")]
    _PENALTIES = ("auto", "l2", *_OFFERED, None)

    def __init__(
        self,
        penalty="auto",
        *,
        C=1.0,
        l1_ratio=None,
        p=None,
        fit_intercept=True,
        solver="auto",
        tol=None,
        max_iter=None,
        learning_rate=None,
        batch_size=None,
        seed=None,
        solver_options=None,
        class_weight=None,
        warm_start=False,
        random_state=None,
        dual=False,
        intercept_scaling=1,
        verbose=0,
        n_jobs=None,
    ):
        store_params(self, locals())

    def _penalty(self, weight_sum):
        penalty = self._primal_penalty(weight_sum)
        if self.dual and not isinstance(penalty, L2):
            # liblinear's dual problem has the same optimum as the primal for L2 only
            raise ValueError(
                f"dual=True is not allowed with {penalty!r}; the dual formulation exists for the L2 penalty only"
            )
        return penalty

    def _warn_l1_ratio_ignored(self, kind):
        """scikit-learn's warnings (same classes and words) where penalty= makes l1_ratio or C moot."""
        r = self.l1_ratio
        if kind != "elasticnet" and r is not None and 0 < r < 1:
            warnings.warn(
                f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got (penalty={kind})", stacklevel=5
            )
        if r is not None and ((kind == "l2" and r != 0) or (kind == "l1" and r != 1)):
            warnings.warn(f"Inconsistent values: penalty={kind} with l1_ratio={r}: l1_ratio is ignored", stacklevel=5)
        if kind is None and self.C != 1.0:
            warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters", stacklevel=5)

    def _primal_penalty(self, weight_sum):
        kind = self.penalty
        if kind not in self._PENALTIES:
            raise ValueError(f"penalty={kind!r} is not allowed; allowed: {list(self._PENALTIES)}")
        if isinstance(self.C, numbers.Real) and not isinstance(self.C, bool) and self.C == np.inf:
            return L2(0.0)  # scikit-learn's C=inf: no penalty, whatever the penalty's kind
        alpha = 1.0 / (_check_number(self.C, "C") * weight_sum)
        if kind == "auto":  # scikit-learn >= 1.8: l1_ratio alone chooses the penalty
            r = 0.0 if self.l1_ratio is None else _check_number(self.l1_ratio, "l1_ratio", strict=False)
            if r > 1:
                raise ValueError(f"l1_ratio={self.l1_ratio!r} is not allowed; l1_ratio must be in [0, 1]")
            return L2(alpha) if r == 0 else _ElasticNetPenalty(alpha, r)
        for name, wanted in (("l1_ratio", "elasticnet"), ("p", "lp")):
            value = getattr(self, name)
            if kind == wanted and value is None:
                raise ValueError(f"{name}=None is not allowed with penalty={kind!r}; set {name}")
            if kind != wanted and value is not None and name == "p":
                warnings.warn(f"{name}={value!r} is ignored: it only applies to penalty={wanted!r}", stacklevel=4)
        self._warn_l1_ratio_ignored(kind)
        # None and "l1" as L2(0) and ElasticNet(alpha, 1), see the module docstring.
        if kind is None:
            return L2(0.0)
        if kind in ("elasticnet", "l1"):
            return _ElasticNetPenalty(alpha, 1.0 if kind == "l1" else self.l1_ratio)
        if kind == "lp":
            return Lp(alpha, self.p)
        return PENALTIES[kind](alpha)  # l2, linf


class Classifier(_PenaltyParam, _Classifier):
    """Logistic (two classes) or multinomial (more) loss with any penalty and any solver.

    Parameters
    ----------
    penalty : Penalty, str or None, default=None
        A penalty object in :func:`jaxreg.fit`'s scaling (``alpha`` multiplies the penalty
        added to the *mean* loss), a penalty name with default parameters, or None.
    fit_intercept, solver, tol, max_iter, learning_rate, batch_size, seed, solver_options
        As in :class:`LinearRegression`.

    Attributes
    ----------
    classes_, coef_, intercept_, n_iter_, objective_history_, fit_result_, n_features_in_
        As in :class:`LogisticRegression`.
    """
