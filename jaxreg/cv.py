"""Cross-validated estimators: ``LassoCV``, ``ElasticNetCV``, ``LogisticRegressionCV``.

scikit-learn's names, defaults and behaviour: the same folds (``check_cv``: ``KFold(5)``
for regressors, ``StratifiedKFold(5)`` for classifiers, unless ``cv`` says otherwise), the
same alpha grid (from ``alpha_max`` on all the data), the same score (held-out mean squared
error; accuracy for the classifier), the first best grid point, and a refit on all the
data at the chosen value.

The folds are not fitted one after another: every fold (and every ``l1_ratio``) is one
problem of a batch on the shared design ``X``, the held-out rows given weight zero, and
the whole batch walks down the path together with warm starts (the working-set pieces
``vmap``-ed over the batch, see :func:`jaxreg.path.solve_path`; each fold's coordinate
descent runs on a copy of its training rows only, see
:meth:`jaxreg.solvers.working_set_layout.Design.row_subsets`). A design near the ends of
the float range is rescaled as :func:`jaxreg.fit` does (:func:`jaxreg.path.rescaled_units`).
The refit of ``LassoCV`` / ``ElasticNetCV`` on a dense X starts from the folds' median
solution at the chosen point and finishes by active sets on the host
(:func:`jaxreg.solvers.lasso_host.active_set`: nothing to compile), kept when its duality gap
meets ``tol``; otherwise it is :func:`jaxreg.fit`.
"""

from __future__ import annotations

import numbers
import warnings

import jax.numpy as jnp
import numpy as np
from scipy.special import log_softmax
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg._cache import ensure_compilation_cache
from jaxreg._compile import Compiler
from jaxreg._fitparts import FitResult, scale_free_weights
from jaxreg._sparse import is_sparse
from jaxreg.estimators import LinearClassifierOutputs, LogisticRegression, _centred_intercepts, check_fit_status
from jaxreg.fit import alpha_max, dual_gap, elastic_net_gap, fit
from jaxreg.losses import Logistic, Squared
from jaxreg.path import alpha_grid, compute_context, rescaled_units, solve_path, unscaled
from jaxreg.penalties import L1, ElasticNet, keep_positive
from jaxreg.solvers import engine, gram, lasso_host
from jaxreg.solvers.working_set import l1_l2_host

__all__ = ["LassoCV", "ElasticNetCV", "LogisticRegressionCV"]


def _check_data(est, X, y, sample_weight, classifier=False, accept_sparse=False):
    sparse = ["csr", "csc"] if accept_sparse else False
    X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], y_numeric=not classifier, accept_sparse=sparse)
    X, y = V.check_X_y(V.densify_small(X), y, regression=not classifier, accept_sparse=accept_sparse)
    if isinstance(sample_weight, numbers.Number):
        sample_weight = None
    sw = V.check_sample_weight(sample_weight, X.shape[0], X.dtype)
    return X, y, sw, sample_weight is not None


def _split_params(est, params):
    """``groups`` from ``fit``'s extra parameters, as scikit-learn's CV estimators take
    them: only with metadata routing on (``sklearn.set_config(enable_metadata_routing=True)``),
    and only what the splitter uses."""
    if not params:
        return None
    if not get_config().get("enable_metadata_routing", False):
        raise ValueError(
            f"{type(est).__name__}.fit got {sorted(params)}: passing extra parameters is only supported if "
            "enable_metadata_routing=True (sklearn.set_config), which routes groups to the splitter"
        )
    unknown = sorted(set(params) - {"groups"})
    if unknown:
        raise TypeError(f"{type(est).__name__}.fit got {unknown}; the only extra parameter taken is groups")
    return params["groups"]


def _check_alphas(alphas):
    """A given alpha grid as floats, with scikit-learn's errors naming the bad entry."""
    values = np.ravel(np.asarray(alphas, dtype=object))
    if values.size == 0:
        raise ValueError(f"alphas={alphas!r} is not allowed; give an int (the grid's size) or numbers >= 0")
    for k, a in enumerate(values):
        if not isinstance(a, numbers.Real) or isinstance(a, bool):
            raise TypeError(f"alphas[{k}] must be an instance of float, not {type(a).__name__}")
        if not np.isfinite(a) or a < 0:
            raise ValueError(f"alphas[{k}] == {a}, must be >= 0.0 and finite.")
    return values.astype(float)


def _fold_weights(sw, folds, n):
    """One weight vector per fold: the sample weights on the training rows, zero on the
    held-out ones."""
    W = np.zeros((len(folds), n), sw.dtype)
    for f, (train, _) in enumerate(folds):
        W[f, train] = sw[train]
    return W


def _held_out(X, y, sw, coefs, intercepts, test, score):
    """``score(y_test, predictions, weights)`` at every alpha, using only the columns some
    alpha uses."""
    cols = np.flatnonzero(np.any(coefs != 0, axis=0))
    Z = np.asarray(X[test][:, cols] @ coefs[:, cols].T) + intercepts  # dense or sparse X
    return score(y[test][:, None], Z, sw[test])


def _mse(y, Z, w):
    return np.average((Z - y) ** 2, axis=0, weights=w)


class _PathCV(RegressorMixin, BaseEstimator):
    """Shared fit of LassoCV / ElasticNetCV."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC X: the folds' paths run on the engine
        return tags

    def _l1_ratios(self):  # pragma: no cover - overridden
        return np.array([1.0])

    def fit(self, X, y, sample_weight=None, **params):
        """Fit the path on every fold (batched), choose ``alpha`` (and ``l1_ratio``), refit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        **params
            ``groups`` for the splitter, with scikit-learn's metadata routing on (as there).

        Returns
        -------
        self
        """
        groups = _split_params(self, params)
        ensure_compilation_cache()
        positive = getattr(self, "positive", False)
        if not isinstance(positive, (bool, np.bool_)):
            raise ValueError(f"positive={positive!r} is not allowed; it must be True or False")
        V.check_positive(self.tol, "tol", strict=False, allow_none=False)
        V.check_positive(self.max_iter, "max_iter", integer=True, allow_none=False)
        if not isinstance(sample_weight, numbers.Number):  # scale-free, as in fit (weights * 1e306)
            sample_weight = scale_free_weights(sample_weight)
        X, y, sw, weighted = _check_data(self, X, y, sample_weight, accept_sparse=True)
        n, p = X.shape
        l1_ratios = self._l1_ratios()
        if isinstance(self.alphas, numbers.Integral) and not isinstance(self.alphas, bool):
            if np.any(l1_ratios == 0):
                raise ValueError(
                    "Automatic alpha grid generation is not supported for l1_ratio=0. Please supply a grid by "
                    "providing your estimator with the appropriate `alphas=` argument."
                )
            grids = np.stack(
                [
                    alpha_grid(
                        alpha_max(
                            X,
                            y,
                            penalty=keep_positive(ElasticNet(1.0, r), positive),
                            fit_intercept=self.fit_intercept,
                            sample_weight=sw,
                        ),
                        self.alphas,
                        self.eps,
                    )
                    for r in l1_ratios
                ]
            )
        else:
            given = _check_alphas(self.alphas)
            grids = np.tile(np.sort(given)[::-1], (len(l1_ratios), 1))
        folds = list(check_cv(self.cv).split(X, y, groups))
        F = len(folds)
        # problem (i, f) = l1_ratio i on fold f, flattened i-major
        Wf = _fold_weights(sw, folds, n)
        B = len(l1_ratios) * F
        units = [keep_positive(ElasticNet(1.0, r), positive) for r in np.repeat(l1_ratios, F)]
        # a design near the ends of the float range is fitted as fit does: v = s w on X / s
        scale, units, factors = rescaled_units(X, units, float(grids.max(initial=0.0)))
        X_fit = X if scale == 1.0 else X * (1.0 / scale)
        alphas = np.repeat(grids, F, axis=0).T * factors  # (n_alphas, B)
        Y, Wb = np.broadcast_to(y, (B, n)), np.tile(Wf, (len(l1_ratios), 1))
        kw = dict(fit_intercept=bool(self.fit_intercept), tol=float(self.tol), max_iter=int(self.max_iter))
        with compute_context(X.dtype):
            if is_sparse(X) or positive:  # the engine, fold after fold (each alpha warm-started)
                res = engine.solve_path(X_fit, Y, Wb, Squared(), units, alphas, **kw)
            else:
                l1l2 = [l1_l2_host(u, p, X.dtype) for u in units]
                units = (np.stack([l1 for l1, _ in l1l2]), np.array([l2 for _, l2 in l1l2]))
                if p <= gram.MAX_FEATURES:  # few features: the path on each fold's Gram matrix
                    res = gram.solve_path(X_fit, Y, Wb, units, alphas, compiler=Compiler(), **kw)
                else:
                    res = solve_path(X_fit, jnp.asarray(Y), jnp.asarray(Wb), Squared(), units, alphas, **kw)
        res["coefs"] = unscaled(res["coefs"], scale)
        mse = np.empty((len(l1_ratios), F, grids.shape[1]))
        for i in range(len(l1_ratios)):
            for f, (_, test) in enumerate(folds):
                b = i * F + f
                mse[i, f] = _held_out(X, y, sw, res["coefs"][:, b], res["intercepts"][:, b], test, _mse)
        mean = mse.mean(axis=1)
        i_best, j_best = np.unravel_index(np.argmin(mean), mean.shape)
        self.alpha_ = float(grids[i_best, j_best])
        self.l1_ratio_ = float(l1_ratios[i_best])
        # scikit-learn's layout: one row per l1_ratio for generated grids, one row for given alphas
        self.alphas_ = grids[0] if len(l1_ratios) == 1 or not isinstance(self.alphas, numbers.Integral) else grids
        self.mse_path_ = np.squeeze(np.moveaxis(mse, 1, 2))
        self.fold_n_iter_ = res["n_iter"]
        start = np.median(res["coefs"][j_best, i_best * F : (i_best + 1) * F], axis=0)  # nonzero in most folds
        if is_sparse(X) or positive or scale != 1.0 or not self._refit_on_host(X, y, sw, start):
            self._refit(X, y, sw if weighted else None)
        return self

    def _penalty(self):
        pen = L1(self.alpha_) if self.l1_ratio_ == 1.0 else ElasticNet(self.alpha_, self.l1_ratio_)
        return keep_positive(pen, getattr(self, "positive", False))

    def _refit_on_host(self, X, y, sw, start):
        """The refit by active sets from the folds' mean solution at the chosen point
        (:func:`jaxreg.solvers.lasso_host.active_set`: nothing compiled), kept when its
        duality gap meets ``tol`` as the working set's would; False when it does not."""
        pen = self._penalty()
        l1, l2 = (float(np.ravel(v)[0]) for v in l1_l2_host(pen, 1, np.float64))  # one feature's: all alike
        if not l1 > 0:
            return False
        out = lasso_host.active_set(X, y, sw, l1, l2, bool(self.fit_intercept), start)
        if out is None:
            return False
        w, b, rounds = out
        d = sw / sw.sum()
        scale = d @ (y - d @ y if self.fit_intercept else y) ** 2  # the relative gap's denominator
        gap = elastic_net_gap(X, y, sw, w, b, l1, l2, bool(self.fit_intercept))
        if not gap <= self.tol * scale:
            return False
        self.coef_ = np.array(w)
        self.intercept_ = float(b) if self.fit_intercept else 0.0
        self.n_iter_ = rounds
        self.dual_gap_ = gap
        r = y - X @ w - b
        objective = 0.5 * (d * r) @ r + l1 * np.abs(w).sum() + 0.5 * l2 * (w @ w)
        self.fit_result_ = FitResult(
            coef=self.coef_, intercept=self.intercept_, n_iter=rounds, converged=True, status="converged",
            stop_crit=gap / scale if scale > 0 else 0.0, criterion="duality_gap", history=np.array([objective]),
            objective=float(objective), solver="active_set_host", loss=Squared(), penalty=pen, dtype=str(X.dtype),
        )  # fmt: skip
        return True

    def _refit(self, X, y, sample_weight):
        pen = self._penalty()
        r = fit(
            X,
            y,
            penalty=pen,
            fit_intercept=bool(self.fit_intercept),
            tol=float(self.tol),
            max_iter=int(self.max_iter),
            sample_weight=sample_weight,
        )
        self.coef_ = np.array(r.coef)
        self.intercept_ = float(r.intercept) if self.fit_intercept else 0.0
        self.n_iter_ = r.n_iter
        self.dual_gap_ = dual_gap(r, X, y, sample_weight, bool(self.fit_intercept))
        self.fit_result_ = r

    def predict(self, X):
        """``X @ coef_ + intercept_``."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc"])
        return np.asarray(X @ self.coef_ + self.intercept_)  # scipy.sparse X too, as fit takes it


class LassoCV(_PathCV):
    """Lasso with ``alpha`` chosen by cross-validation (scikit-learn's ``LassoCV``).

    Parameters
    ----------
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the grid.
    alphas : int or array-like, default=100
        Number of grid points, or the grid.
    fit_intercept : bool, default=True
    max_iter : int, default=1000
        Outer (working-set) iterations per ``alpha`` at most.
    tol : float, default=1e-4
        Relative duality gap per ``alpha`` (scikit-learn's ``gap <= tol * ||y - ybar||^2``).
    cv : int, cross-validation generator or iterable, default=None (5-fold ``KFold``)
    precompute, copy_X, verbose, n_jobs, random_state, selection
        Accepted for compatibility with scikit-learn and ignored (they tune scikit-learn's
        coordinate descent).
    positive : bool, default=False
        Keep every coefficient >= 0 (the folds' paths then run on the engine).

    Attributes
    ----------
    alpha_, alphas_, mse_path_ (n_alphas, n_folds), coef_, intercept_, dual_gap_, n_iter_

    Examples
    --------
    >>> import numpy as np
    >>> from jaxreg import LassoCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 10)); y = X[:, 0] - 2 * X[:, 3] + 0.1 * rng.standard_normal(60)
    >>> model = LassoCV(alphas=20).fit(X, y)
    >>> model.mse_path_.shape, bool(model.alpha_ > 0)
    ((20, 5), True)
    """

    def __init__(
        self,
        *,
        eps=1e-3,
        alphas=100,
        fit_intercept=True,
        precompute="auto",
        max_iter=1000,
        tol=1e-4,
        copy_X=True,
        cv=None,
        verbose=False,
        n_jobs=None,
        positive=False,
        random_state=None,
        selection="cyclic",
    ):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection

    def _l1_ratios(self):
        return np.array([1.0])

    def fit(self, X, y, sample_weight=None, **params):
        super().fit(X, y, sample_weight, **params)
        del self.l1_ratio_
        return self


class ElasticNetCV(_PathCV):
    """Elastic net with ``alpha`` (and ``l1_ratio`` from a list) chosen by cross-validation
    (scikit-learn's ``ElasticNetCV``). Every ``l1_ratio`` and fold is one problem of the
    same batch.

    Parameters
    ----------
    l1_ratio : float or list of float, default=0.5
        In (0, 1].
    eps, alphas, fit_intercept, max_iter, tol, cv, ...
        As in :class:`LassoCV`.

    Attributes
    ----------
    alpha_, l1_ratio_, alphas_, mse_path_ ((n_l1_ratio,) n_alphas, n_folds), coef_,
    intercept_, dual_gap_, n_iter_
    """

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        eps=1e-3,
        alphas=100,
        fit_intercept=True,
        precompute="auto",
        max_iter=1000,
        tol=1e-4,
        cv=None,
        copy_X=True,
        verbose=0,
        n_jobs=None,
        positive=False,
        random_state=None,
        selection="cyclic",
    ):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection

    def _l1_ratios(self):
        r = np.atleast_1d(np.asarray(self.l1_ratio, dtype=float))
        if r.ndim != 1 or r.size == 0 or np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
            raise ValueError(
                f"l1_ratio={self.l1_ratio!r} is not allowed; l1_ratio must be a number or list of numbers "
                "in [0, 1] (0, the ridge, needs alphas= given)"
            )
        return r


def _accuracy(s, Z, w):
    return np.average((Z > 0) == (s > 0), axis=0, weights=w)


def _neg_log_loss(s, Z, w):
    return -np.average(np.logaddexp(0.0, -s * Z), axis=0, weights=w)


_SCORES = {None: _accuracy, "accuracy": _accuracy, "neg_log_loss": _neg_log_loss}


def _multi_accuracy(k, Z, w):
    """Held-out accuracy at every grid point; ``Z`` (n_test, n_Cs, K), ``k`` class indices."""
    return np.average(np.argmax(Z, axis=2) == k[:, None], axis=0, weights=w)


def _multi_neg_log_loss(k, Z, w):
    return np.average(np.take_along_axis(log_softmax(Z, axis=2), k[:, None, None], axis=2)[..., 0], axis=0, weights=w)


_MULTI_SCORES = {None: _multi_accuracy, "accuracy": _multi_accuracy, "neg_log_loss": _multi_neg_log_loss}


class LogisticRegressionCV(ClassifierMixin, LinearClassifierOutputs, BaseEstimator):
    """Logistic regression with an L1, elastic-net or L2 penalty, ``C`` (and ``l1_ratio``)
    chosen by cross-validation (scikit-learn's ``LogisticRegressionCV``). More than two
    classes: the multinomial loss, with scikit-learn's multiclass attribute shapes.

    scikit-learn's objective ``C sum_i loss_i + l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2``
    is jaxreg's ``mean loss + ElasticNet(alpha = 1 / (C n_train), l1_ratio)`` on each fold.
    Every fold and ``l1_ratio`` is one problem of a batch walking the ``C`` grid from the
    smallest (strongest penalty) up with warm starts.

    Parameters
    ----------
    Cs : int or list of float, default=10
        The grid, or its size (``logspace(-4, 4, Cs)``).
    l1_ratios : sequence of float in [0, 1], or None, default="warn" (= None)
        0 is the L2 penalty, 1 the lasso. None (scikit-learn's default) is the L2 penalty
        with the attributes in scikit-learn's shapes without an ``l1_ratio`` axis. Grids
        with a 0 run on the working-set engine one fold after another (the batched logistic
        kernels need an L1 part).
    fit_intercept : bool, default=True
    cv : int, cross-validation generator or iterable, default=None (5-fold stratified)
    scoring : None, str or callable, default=None (accuracy)
        "accuracy" and "neg_log_loss" are computed for every grid point at once; any other
        scikit-learn scorer is called on a fitted model per grid point and fold.
    tol : float, default=1e-4
        Largest subdifferential distance at each grid point.
    max_iter : int, default=100
        Proximal-Newton iterations per grid point at most.
    refit : bool, default=True
        Refit on all the data at the best ``C``; with False, ``coef_`` averages the folds'
        coefficients at their best point (scikit-learn's behaviour).
    use_legacy_attributes : bool or "warn", default="warn" (= True)
        scikit-learn's: True keeps the dict attributes described below; False gives its
        newer layout (``C_``, ``l1_ratio_`` floats; ``scores_`` and ``n_iter_`` arrays
        (n_folds, n_l1_ratios, n_Cs); ``coefs_paths_`` (n_folds, n_l1_ratios, n_Cs, n_classes or 1, n_dof)).
    dual, penalty, solver, n_jobs, verbose, intercept_scaling, random_state
        Accepted for compatibility with scikit-learn and ignored.
    class_weight : dict, "balanced" or None, default=None
        Multiplies each sample's weight by its class's weight (scikit-learn's meaning).

    Attributes
    ----------
    classes_, C_ (1,), l1_ratio_ (1,), Cs_, l1_ratios_, coef_ (1, n_features),
    intercept_ (1,), scores_ ({classes_[1]: (n_folds, n_Cs, n_l1_ratios)}), coefs_paths_
    ({classes_[1]: (n_folds, n_Cs, n_l1_ratios, n_features [+ 1])}), n_iter_ (scikit-learn's
    shapes when ``l1_ratios`` is given)
    """

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios="warn",
        fit_intercept=True,
        cv=None,
        dual=False,
        penalty="deprecated",
        scoring=None,
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        intercept_scaling=1.0,
        random_state=None,
        use_legacy_attributes="warn",
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.dual = dual
        self.penalty = penalty
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.use_legacy_attributes = use_legacy_attributes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR/CSC X: the folds' paths run on the engine
        return tags

    @staticmethod
    def _dense_path(X, s, Wf, units, alphas, kw):
        """Every fold's path on the logistic working-set kernels, batched."""
        n, p = X.shape
        l1l2 = [l1_l2_host(u, p, X.dtype) for u in units]
        return solve_path(
            X, jnp.asarray(np.broadcast_to(s, (len(units), n))), jnp.asarray(Wf), Logistic(),
            (np.stack([l1 for l1, _ in l1l2]), np.array([l2 for _, l2 in l1l2])), alphas, **kw,
        )  # fmt: skip

    def _default_l1_ratios(self):
        """No l1_ratios given (None, or scikit-learn's "warn" default)."""
        return self.l1_ratios is None or isinstance(self.l1_ratios, str) and self.l1_ratios == "warn"

    def _grids(self):
        if isinstance(self.Cs, numbers.Integral) and not isinstance(self.Cs, bool):
            V.check_positive(self.Cs, "Cs", integer=True)
            Cs = np.logspace(-4, 4, self.Cs)
        else:
            Cs = np.asarray(self.Cs, dtype=float).ravel()
            if Cs.size == 0 or not np.all(np.isfinite(Cs)) or np.any(Cs <= 0):
                raise ValueError(f"Cs={self.Cs!r} is not allowed; give an int or finite numbers > 0")
        if self._default_l1_ratios():
            return Cs, np.array([0.0])  # scikit-learn's default: the L2 penalty, no l1_ratio axis
        r = np.atleast_1d(np.asarray(self.l1_ratios, dtype=float))
        if r.ndim != 1 or r.size == 0 or np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
            raise ValueError(f"l1_ratios={self.l1_ratios!r} is not allowed; give numbers in [0, 1] (0 is L2, 1 is L1)")
        return Cs, r

    def fit(self, X, y, sample_weight=None, **params):
        """Fit every fold along the ``C`` grid (batched), choose ``C`` and ``l1_ratio``, refit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), class labels
        sample_weight : array-like of shape (n_samples,), optional
        **params
            ``groups`` for the splitter, with scikit-learn's metadata routing on (as there).

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, _split_params(self, params))
        dtype = self._dtype
        self.coef_ = self.coef_.astype(dtype, copy=False)
        self.intercept_ = self.intercept_.astype(dtype, copy=False)
        if self.use_legacy_attributes is False:  # scikit-learn >= 1.9's layout: arrays, folds then l1_ratios then Cs
            self.C_, self.l1_ratio_ = float(self.C_[0]), float(self.l1_ratio_[0])
            self.scores_ = np.moveaxis(next(iter(self.scores_.values())), 2, 1)
            paths = np.stack(list(self.coefs_paths_.values()), axis=3)  # (F, n_Cs, R, K, dof)
            self.coefs_paths_ = np.moveaxis(paths, 2, 1)
            self.n_iter_ = np.moveaxis(self.n_iter_[0], 2, 1)
        elif self._default_l1_ratios():  # scikit-learn's shapes without l1_ratios
            self.scores_ = {k: v[..., 0] for k, v in self.scores_.items()}
            self.coefs_paths_ = {k: v[:, :, 0] for k, v in self.coefs_paths_.items()}
            self.n_iter_ = self.n_iter_[..., 0]
            self.l1_ratio_ = np.full(len(self.C_), None)
            self.l1_ratios_ = np.array([None])
        return self

    def _scorer_scores(self, X, y, test, coefs, intercepts):
        """A scikit-learn scorer's value at each grid point of one fold: ``coefs`` (n_Cs, K, p)
        and ``intercepts`` (n_Cs, K) in ``coef_``'s layout, scored on the held-out rows
        through a fitted jaxreg.LogisticRegression that holds them."""
        scorer = check_scoring(self, scoring=self.scoring)
        est = LogisticRegression()
        est.classes_, est.n_features_in_ = self.classes_, X.shape[1]
        out = np.empty(len(coefs))
        for j, (coef, b) in enumerate(zip(coefs, intercepts, strict=True)):
            est.coef_, est.intercept_ = coef, b
            out[j] = scorer(est, X[test], y[test])
        return out

    def _fit(self, X, y, sample_weight, groups):
        ensure_compilation_cache()
        if self.scoring not in _SCORES:
            check_scoring(self, scoring=self.scoring)  # scikit-learn's error for an unknown name
        V.check_positive(self.tol, "tol", strict=False, allow_none=False)
        V.check_positive(self.max_iter, "max_iter", integer=True, allow_none=False)
        Cs, l1_ratios = self._grids()
        X, y, sw, weighted = _check_data(self, X, y, sample_weight, classifier=True, accept_sparse=True)
        self._dtype = X.dtype
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type not in ("binary", "multiclass"):
            raise ValueError(f"y of type {y_type!r} is not allowed; LogisticRegressionCV takes class labels")
        if self.class_weight is not None:  # scikit-learn's meaning: a factor on each sample's weight
            sw = sw * compute_sample_weight(self.class_weight, y).astype(sw.dtype)
            weighted = True
        n, p = X.shape
        folds = list(check_cv(self.cv, y, classifier=True).split(X, y, groups))
        F, R = len(folds), len(l1_ratios)
        self.Cs_, self.l1_ratios_ = Cs, l1_ratios
        if y_type == "multiclass":
            return self._fit_multinomial(X, y, sw, weighted, folds, Cs, l1_ratios)
        self.classes_, s = V.encode_labels(y, "logistic", X.dtype)
        Wf = np.tile(_fold_weights(sw, folds, n), (R, 1))  # problem (i, f) = l1_ratio i, fold f
        ratio = np.repeat(l1_ratios, F)
        alphas = 1.0 / (Cs[:, None] * Wf.sum(axis=1)[None, :])  # (n_Cs, B); increasing C
        # a design near the ends of the float range is fitted as fit does: v = s w on X / s
        scale, units, factors = rescaled_units(X, [ElasticNet(1.0, r) for r in ratio], float(alphas.max()))
        X_fit, alphas = (X, alphas) if scale == 1.0 else (X * (1.0 / scale), alphas * factors)
        with compute_context(X.dtype):
            kw = dict(fit_intercept=bool(self.fit_intercept), tol=float(self.tol), max_iter=int(self.max_iter))
            if is_sparse(X) or np.any(ratio == 0):  # the engine, fold after fold (each C warm-started);
                # the batched logistic kernels need an L1 part in every problem
                res = engine.solve_path(X_fit, np.broadcast_to(s, (R * F, n)), Wf, Logistic(), units, alphas, **kw)
            else:
                res = self._dense_path(X_fit, s, Wf, units, alphas, kw)
        res["coefs"] = unscaled(res["coefs"], scale)
        score = _SCORES.get(self.scoring)
        scores = np.empty((F, len(Cs), R))
        for i in range(R):
            for f, (_, test) in enumerate(folds):
                b = i * F + f
                coefs, b0 = res["coefs"][:, b], res["intercepts"][:, b]
                if score is None:  # any other scikit-learn scorer
                    scores[f, :, i] = self._scorer_scores(X, y, test, coefs[:, None, :], b0[:, None])
                else:
                    scores[f, :, i] = _held_out(X, s, sw, coefs, b0, test, score)
        mean = scores.mean(axis=0)
        j, i = np.unravel_index(np.argmax(mean), mean.shape)
        self.C_, self.l1_ratio_ = np.array([Cs[j]]), np.array([l1_ratios[i]])
        key = self.classes_[1]
        self.scores_ = {key: scores}
        paths = np.concatenate([res["coefs"], res["intercepts"][..., None]], axis=-1)  # (n_Cs, B, p + 1)
        paths = np.moveaxis(paths.reshape(len(Cs), R, F, p + 1), (2, 0, 1), (0, 1, 2))  # (F, n_Cs, R, p + 1)
        if not self.fit_intercept:
            paths = paths[..., :p]
        self.coefs_paths_ = {key: paths}
        # a batch on the dense kernels shares its outer iterations (one count for every fold),
        # the engine counts each fold's own; a grid point optimal at its warm start counts the
        # one check that found it so (scikit-learn expects n_iter_ >= 1)
        n_iter = np.maximum(res["n_iter"], 1)
        if n_iter.ndim == 1:
            n_iter = np.broadcast_to(n_iter[:, None], (len(Cs), R * F))
        self.n_iter_ = np.moveaxis(n_iter.reshape(len(Cs), R, F), 2, 0)[None].copy()  # (1, F, n_Cs, R)
        if self.refit:
            r = fit(
                X,
                y,
                loss="logistic",
                penalty=ElasticNet(1.0 / (Cs[j] * sw.sum()), l1_ratios[i]),
                solver="working_set",
                fit_intercept=bool(self.fit_intercept),
                tol=float(self.tol),
                max_iter=int(self.max_iter),
                sample_weight=sw if weighted else None,
            )
            self.coef_ = np.array(r.coef[None, :])
            self.intercept_ = np.array([r.intercept if self.fit_intercept else 0.0])
        else:
            best = paths[:, j, i]
            self.coef_ = best[:, :p].mean(axis=0)[None, :]
            self.intercept_ = np.array([best[:, p].mean() if self.fit_intercept else 0.0])
        return self

    def _fit_multinomial(self, X, y, sw, weighted, folds, Cs, l1_ratios):
        """More than two classes: the multinomial loss, each fold and ``l1_ratio`` walking
        the ``C`` grid up with warm starts (fit after fit: the batched path kernels are
        binary). Attributes in scikit-learn's multiclass shapes: ``coef_`` (K, p), the
        scores repeated under every class's key, each class's own coefficient paths."""
        self.classes_, idx = np.unique(y, return_inverse=True)
        K, (n, p), F, R = len(self.classes_), X.shape, len(folds), len(l1_ratios)
        W = _fold_weights(sw, folds, n)
        coefs = np.zeros((F, len(Cs), R, p, K))
        intercepts = np.zeros((F, len(Cs), R, K))
        n_iter = np.ones((F, len(Cs), R), dtype=int)
        scores = np.empty((F, len(Cs), R))
        score = _MULTI_SCORES.get(self.scoring)
        unconverged = 0

        def one(C, ratio, weights, warm):
            return fit(
                X, y, loss="multinomial", penalty=ElasticNet(1.0 / (C * weights.sum()), ratio),
                fit_intercept=bool(self.fit_intercept), tol=float(self.tol), max_iter=int(self.max_iter),
                sample_weight=weights, **warm,
            )  # fmt: skip

        for f, (_, test) in enumerate(folds):
            for i, ratio in enumerate(l1_ratios):
                warm = {}
                for j, C in enumerate(Cs):
                    r = one(C, ratio, W[f], warm)
                    unconverged += r.status != "converged"
                    coefs[f, j, i], n_iter[f, j, i] = r.coef, max(r.n_iter, 1)
                    intercepts[f, j, i] = _centred_intercepts(np.asarray(r.intercept))
                    warm = {"coef_init": r.coef, "intercept_init": r.intercept}
                if score is None:  # any other scikit-learn scorer
                    cf = np.swapaxes(coefs[f, :, i], 1, 2)
                    scores[f, :, i] = self._scorer_scores(X, y, test, cf, intercepts[f, :, i])
                    continue
                Xt = X[test].toarray() if is_sparse(X) else X[test]
                Z = np.einsum("tp,cpk->tck", Xt, coefs[f, :, i]) + intercepts[f, :, i][None]
                scores[f, :, i] = score(idx[test], Z, sw[test])
        if unconverged:
            warnings.warn(
                f"LogisticRegressionCV: {unconverged} of {n_iter.size} fold fits did not converge in "
                f"max_iter={self.max_iter} iterations; increase max_iter, loosen tol, or scale the features",
                ConvergenceWarning,
                stacklevel=3,
            )
        mean = scores.mean(axis=0)
        j, i = np.unravel_index(np.argmax(mean), mean.shape)
        self.C_, self.l1_ratio_ = np.full(K, Cs[j]), np.full(K, l1_ratios[i])
        self.scores_ = {c: scores for c in self.classes_}
        paths = np.concatenate([coefs, intercepts[..., None, :]], axis=3)  # (F, n_Cs, R, p + 1, K)
        if not self.fit_intercept:
            paths = paths[..., :p, :]
        self.coefs_paths_ = {c: paths[..., k] for k, c in enumerate(self.classes_)}
        self.n_iter_ = n_iter[None]
        if self.refit:
            best = one(Cs[j], l1_ratios[i], sw, {})
            check_fit_status(self, best)
            coef, b = best.coef, best.intercept
        else:
            coef, b = coefs[:, j, i].mean(axis=0), intercepts[:, j, i].mean(axis=0)
        self.coef_ = np.asarray(coef).T.copy()
        self.intercept_ = _centred_intercepts(np.asarray(b)) if self.fit_intercept else np.zeros(K)
        return self
