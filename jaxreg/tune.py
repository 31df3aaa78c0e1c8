"""Hyperparameter tuning by gradient: minimise a cross-validated (or held-out) loss over
``log alpha`` (and the log of one penalty weight per feature, for a weighted lasso) with an
optax optimizer, each step's fits warm-started from the last step's solutions, the gradient
coming from :func:`jaxreg.implicit.solution` (implicit differentiation).

``tune`` is the function; ``LassoHO`` and ``LogisticRegressionHO`` are scikit-learn-shaped
estimators over it. The number of inner fits is counted (``n_fits``): one per fold per step,
and one refit on all the data, against a grid search's ``n_alphas * n_folds``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import check_cv
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from jaxreg import _validation as V
from jaxreg.fit import alpha_max
from jaxreg.implicit import fit_count, solution
from jaxreg.penalties import L1

EPS = 1e-3  # the smallest grid alpha / alpha_max (scikit-learn's LassoCV eps)
LOSSES = ("squared", "logistic", "multinomial")

__all__ = ["tune", "TuneResult", "LassoHO", "LogisticRegressionHO", "validation_loss"]


class TuneResult(NamedTuple):
    """The outcome of :func:`tune` (numpy values).

    ``alpha`` and ``weights`` (None unless tuned) are the best point seen; ``history`` the
    validation loss at every point evaluated (the coarse grid first, then the gradient
    steps), ``alphas`` those points' alpha, ``best_step`` the index of the best; ``n_fits``
    the inner fits run (one per fold per point).
    """

    alpha: float
    weights: np.ndarray | None
    history: np.ndarray
    alphas: np.ndarray
    n_fits: int
    best_step: int


def validation_loss(loss: str, y, z, sw=None):
    """The held-out score tuning minimises: mean squared error (``loss="squared"``) or mean
    log-loss (``"logistic"``, labels {0, 1} or {-1, +1}; ``"multinomial"``, one-hot rows),
    weighted by ``sw`` if given."""
    if loss == "squared":
        per = (y - z) ** 2
    elif loss == "logistic":
        per = jax.nn.softplus(-jnp.where(y > 0, 1.0, -1.0) * z)
    elif loss == "multinomial":  # one-hot y, a row of predictions per sample
        per = jax.nn.logsumexp(z, axis=1) - jnp.sum(y * z, axis=1)
    else:
        raise ValueError(f"loss={loss!r} is not allowed for tuning; allowed: {LOSSES}")
    sw = jnp.ones_like(per) if sw is None else sw
    return jnp.sum(sw * per) / jnp.sum(sw)


@functools.partial(jax.jit, static_argnames=("loss", "fit_intercept", "tol"))
def _fold_step(params, train, test, warm, *, loss, fit_intercept, tol):
    """The held-out loss of one fold at ``params`` and its gradient; the fold's solution."""

    def outer(params):
        alpha = jnp.exp(params["log_alpha"])
        weighted = "log_weights" in params
        Xtr, ytr, swtr = train
        w, b = solution(
            Xtr,
            ytr,
            alpha,
            loss=loss,
            penalty="weighted_l1" if weighted else "l1",
            weights=jnp.exp(params["log_weights"]) if weighted else None,
            sample_weight=swtr,
            fit_intercept=fit_intercept,
            tol=tol,
            coef_init=warm[0],
            intercept_init=warm[1],
        )
        Xte, yte, swte = test
        return validation_loss(loss, yte, Xte @ w + b, swte), (w, b)

    return jax.value_and_grad(outer, has_aux=True)(params)


def _optimizer_factory(optimizer):
    """``learning_rate -> GradientTransformation`` from a name in optax or a callable."""
    if optimizer is None:
        optimizer = "adam"
    if isinstance(optimizer, str):
        fn = getattr(optax, optimizer, None)
        if not callable(fn):
            raise ValueError(f"optimizer={optimizer!r} is not allowed; give an optax optimizer name ('adam', 'sgd')")
        return fn
    if callable(optimizer):
        return optimizer
    raise ValueError(
        f"optimizer={optimizer!r} is not allowed; give an optax name or a function learning_rate -> optax transform"
    )


def _converged(hist, shrink, min_rel_change):
    """The last three losses within ``min_rel_change`` (relative), or the rate halved 6 times."""
    flat = len(hist) >= 3 and max(hist[-3:]) - min(hist[-3:]) <= min_rel_change * abs(hist[-1])
    return flat or shrink < 2.0**-6


def _check_steps(n_steps, learning_rate, tol):
    V.check_positive(n_steps, "n_steps", integer=True, allow_none=False)
    V.check_positive(learning_rate, "learning_rate", allow_none=False)
    V.check_positive(tol, "tol", allow_none=False)


def tune(
    X,
    y,
    *,
    loss="squared",
    cv=5,
    n_steps=14,
    alpha_init=None,
    n_grid=5,
    weighted=False,
    weights_init=None,
    optimizer=None,
    learning_rate=1.0,
    fit_intercept=True,
    sample_weight=None,
    tol=1e-8,
    min_rel_change=1e-5,
    backtrack=True,
):
    """Tune ``alpha`` of an L1 penalty (and, with ``weighted=True``, one weight per feature of
    a :class:`~jaxreg.penalties.WeightedL1`) by gradient descent on the cross-validated loss.

    Parameters
    ----------
    X : array of shape (n_samples, n_features); y : array of shape (n_samples,)
    loss : "squared" (held-out mean squared error) or "logistic" (held-out log-loss)
    cv : int, a scikit-learn splitter or an iterable of (train, test) index arrays
        Folds as scikit-learn's ``check_cv`` makes them (``KFold(cv)`` for "squared",
        ``StratifiedKFold(cv)`` for "logistic"), so the same ``cv`` gives ``LassoCV``'s folds.
    n_steps : int
        Gradient steps at most; each fits every fold once (warm-started).
    alpha_init : float, optional
        Where the descent starts. Default: the best of ``n_grid`` points of a coarse grid
        ``alpha_max * 1e-3 ** (k / n_grid)``, k = 1..n_grid (the held-out loss is not
        convex in alpha: a coarse grid keeps the descent out of a poor local minimum), or
        ``alpha_max / 10`` with ``n_grid=0``. Never ``alpha_max`` itself, where every
        coefficient is 0 and the gradient in alpha is 0.
    n_grid : int, default=5
    weighted, weights_init : tune per-feature weights (start: ones, or ``weights_init``).
    optimizer : str or callable, default "adam"
        An optax optimizer's name or a function ``learning_rate -> GradientTransformation``;
        it updates ``{"log_alpha": ..., "log_weights": ...}``.
    learning_rate : float, default=1.0 (in log alpha: a factor e per step at most with Adam)
    fit_intercept, sample_weight : as in :func:`jaxreg.fit`
        Sample weights weight both the training losses and the held-out loss.
    tol : float
        The inner fits' tolerance.
    min_rel_change : float
        Stop when the last three losses are within this (relative), or after six halvings.
    backtrack : bool
        A step that raises the loss is undone and the rate halved (fresh optimizer state).

    Returns
    -------
    TuneResult
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not allowed for tuning; allowed: {LOSSES}")
    _check_steps(n_steps, learning_rate, tol)
    V.check_positive(n_grid, "n_grid", integer=True, strict=False, allow_none=False)
    make = _optimizer_factory(optimizer)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    p = X.shape[1]
    sw = V.check_sample_weight(sample_weight, X.shape[0], np.float64)
    folds = list(check_cv(cv, y, classifier=loss != "squared").split(X, y))
    target = _target(y, sw, folds, loss)
    cv_loss = _CVLoss(X, target, sw, folds, dict(loss=loss, fit_intercept=bool(fit_intercept), tol=float(tol)))
    if alpha_init is None:
        yy = (y > 0).astype(float) if loss == "logistic" else y
        amax = alpha_max(X, yy, loss=loss, penalty=L1(1.0), fit_intercept=fit_intercept, sample_weight=sw)
        # below alpha_max (where every coefficient is 0 and the gradient in alpha is 0)
        starts = amax * EPS ** (np.arange(1, n_grid + 1) / n_grid) if n_grid else [amax / 10]
    else:
        V.check_positive(alpha_init, "alpha_init", allow_none=False)
        starts = [alpha_init]
    extra = {}
    if weighted:
        w0 = np.ones(p) if weights_init is None else np.asarray(weights_init, float)
        if w0.shape != (p,) or not np.all(w0 > 0):
            raise ValueError(f"weights_init has shape {w0.shape}; it must be ({p},) with every weight > 0")
        extra["log_weights"] = jnp.asarray(np.log(w0))
    start = fit_count()
    with jax.enable_x64(True):
        for a in starts:  # the coarse grid (or the one starting point), warm-started downwards
            cv_loss({"log_alpha": jnp.asarray(np.log(a)), **extra})
        _descend(cv_loss, make, float(learning_rate), n_steps, min_rel_change, backtrack)
    bp = jax.tree.map(np.asarray, cv_loss.best[1])
    return TuneResult(
        alpha=float(np.exp(bp["log_alpha"])),
        weights=np.exp(bp["log_weights"]) if weighted else None,
        history=np.asarray(cv_loss.history),
        alphas=np.asarray(cv_loss.alphas),
        n_fits=fit_count() - start,
        best_step=cv_loss.best[3],
    )


def _target(y, sw, folds, loss):
    """``y`` as the folds' fits read it (one-hot rows for "multinomial"); for a classifier,
    every class among each training fold's rows of positive weight, or a ValueError."""
    if loss == "squared":
        return y
    classes, idx = np.unique(y, return_inverse=True)
    for f, (train, _) in enumerate(folds):
        seen = np.unique(idx[train][sw[train] > 0])
        if len(seen) < len(classes):
            raise ValueError(
                f"fold {f} trains on {len(seen)} class(es) of {len(classes)} (rows of positive sample weight); "
                f"loss={loss!r} needs every class in every training fold: use fewer folds or stratified ones"
            )
    return np.eye(len(classes))[idx] if loss == "multinomial" else y


class _CVLoss:
    """The mean held-out loss over the folds and its gradient at ``params``; each fold
    warm-started from its last solution; the history and the best point seen."""

    def __init__(self, X, y, sw, folds, kw):
        # every fold's rows padded to the largest fold's count with zero-weight copies of
        # its first row: one shape, so one compiled step for all the folds
        n_tr = max(len(tr) for tr, _ in folds)
        n_te = max(len(te) for _, te in folds)
        self.data = [(_padded(X, y, sw, tr, n_tr), _padded(X, y, sw, te, n_te)) for tr, te in folds]
        out = y.shape[1:]  # (n_classes,) for one-hot rows
        self.warm = [(np.zeros((X.shape[1], *out)), np.zeros(out)) for _ in folds]
        self.kw = kw
        self.history, self.alphas = [], []
        self.best = (np.inf, None, None, -1)  # value, params, grads, step

    def __call__(self, params):
        K = len(self.data)
        value, grads = 0.0, jax.tree.map(jnp.zeros_like, params)
        for k, (train, test) in enumerate(self.data):
            (v, self.warm[k]), g = _fold_step(params, train, test, self.warm[k], **self.kw)
            value += float(v) / K
            grads = jax.tree.map(lambda a, b: a + b / K, grads, g)
        self.history.append(value)
        self.alphas.append(float(np.exp(params["log_alpha"])))
        if value < self.best[0]:
            self.best = (value, params, grads, len(self.history) - 1)
        return value, grads


def _padded(X, y, sw, idx, n_rows):
    """``(X, y, sw)`` at the rows ``idx``, then rows ``idx[0]`` with weight 0 up to ``n_rows``."""
    rows = np.concatenate([idx, np.full(n_rows - len(idx), idx[0])])
    weights = sw[rows].copy()
    weights[len(idx) :] = 0.0
    return X[rows], y[rows], weights


def _descend(cv_loss, make, lr0, n_steps, min_rel_change, backtrack):
    """Optax steps from the best point so far; a step that raises the loss is undone and
    the rate halved (a fresh optimizer from the best point)."""
    _, params, grads, _ = cv_loss.best
    lr = lr0
    opt = make(lr)
    state = opt.init(params)
    for _ in range(int(n_steps)):
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        value, grads = cv_loss(params)
        if value > cv_loss.best[0] and backtrack:
            _, params, grads, _ = cv_loss.best
            lr /= 2
            opt = make(lr)
            state = opt.init(params)
        if _converged(cv_loss.history, lr / lr0, min_rel_change):
            break


# ----------------------------------------------------------------------------- estimators


class _HOModel(BaseEstimator):
    """Shared fit: tune, then refit on all the data at the best point."""

    def __init__(
        self,
        *,
        cv=5,
        n_steps=14,
        alpha_init=None,
        n_grid=5,
        weighted=False,
        learning_rate=1.0,
        optimizer=None,
        fit_intercept=True,
        tol=1e-8,
    ):
        self.cv = cv
        self.n_steps = n_steps
        self.alpha_init = alpha_init
        self.n_grid = n_grid
        self.weighted = weighted
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.fit_intercept = fit_intercept
        self.tol = tol

    def _tune_and_refit(self, X, y, sample_weight, loss="squared"):
        if not isinstance(self.weighted, (bool, np.bool_)):
            raise ValueError(f"weighted={self.weighted!r} is not allowed; it must be True or False")
        res = tune(
            X,
            y,
            loss=loss,
            cv=self.cv,
            n_steps=self.n_steps,
            alpha_init=self.alpha_init,
            n_grid=self.n_grid,
            weighted=bool(self.weighted),
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            fit_intercept=bool(self.fit_intercept),
            sample_weight=sample_weight,
            tol=self.tol,
        )
        self.alpha_, self.weights_ = res.alpha, res.weights
        self.history_, self.alpha_path_, self.best_step_ = res.history, res.alphas, res.best_step
        start = fit_count()
        with jax.enable_x64(True):
            coef, b = solution(
                X,
                y,
                self.alpha_,
                loss=loss,
                penalty="weighted_l1" if self.weighted else "l1",
                weights=self.weights_,
                sample_weight=sample_weight,
                fit_intercept=bool(self.fit_intercept),
                tol=float(self.tol),
            )
        self.coef_ = np.asarray(coef)
        self.intercept_ = float(b) if np.ndim(b) == 0 else np.asarray(b)
        self.n_fits_ = res.n_fits + fit_count() - start
        return self

    def _decision(self, X):
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_ + self.intercept_


class LassoHO(RegressorMixin, _HOModel):
    """Lasso with ``alpha`` (and with ``weighted=True`` one penalty weight per feature)
    tuned by gradient descent on the K-fold validation mean squared error (:func:`tune`).

    Parameters
    ----------
    cv : int or splitter, default=5 (``KFold(5)``, scikit-learn's ``LassoCV`` folds)
    n_steps : int, default=14; alpha_init : float, optional; n_grid : int, default=5
        Gradient steps at most, after a coarse grid of ``n_grid`` alphas (see :func:`tune`):
        at most ``5 * (5 + 14) + 1 = 96`` fits with 5 folds, against ``LassoCV``'s 501.
    weighted : bool, default=False (a weighted lasso: ``alpha * sum(weights_j |w_j|)``)
    learning_rate : float, default=1.0 (Adam on log alpha); optimizer : an optax name
    fit_intercept : bool; tol : float, the inner fits' tolerance

    Attributes
    ----------
    alpha_, weights_ (None unless weighted), coef_, intercept_, history_ (validation loss at
    each point evaluated: grid, then steps), alpha_path_ (their alphas), best_step_ (index of
    the best), n_fits_ (inner fits, the refit included)

    Examples
    --------
    >>> import numpy as np
    >>> from jaxreg import LassoHO
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 8)); y = X[:, 0] - 2 * X[:, 3] + 0.5 * rng.standard_normal(60)
    >>> model = LassoHO(n_steps=5).fit(X, y)  # 5 folds x (5 grid points + 5 steps at most) + refit
    >>> bool(model.n_fits_ <= 51), bool(model.alpha_ > 0)
    (True, True)
    """

    def fit(self, X, y, sample_weight=None):
        """Tune on ``cv`` folds, then refit on all the data at the best point."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        return self._tune_and_refit(X, y, sample_weight)

    def predict(self, X):
        """``X @ coef_ + intercept_``."""
        return self._decision(X)


class LogisticRegressionHO(ClassifierMixin, _HOModel):
    """L1-penalized logistic regression with ``alpha`` (jaxreg's scaling, mean loss +
    ``alpha ||w||_1``; scikit-learn's ``C = 1 / (alpha n)``) tuned by gradient descent on the
    K-fold validation log-loss (``StratifiedKFold``): binary logistic for two classes,
    multinomial (softmax) for more. Parameters and attributes as :class:`LassoHO`, plus
    ``classes_``; ``coef_`` has shape (n_features,) for two classes, (n_features, n_classes)
    for more (``intercept_`` (n_classes,))."""

    def fit(self, X, y, sample_weight=None):
        """Tune on ``cv`` stratified folds, then refit on all the data at the best point."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}); LogisticRegressionHO needs two or more classes")
        loss = "logistic" if len(self.classes_) == 2 else "multinomial"
        return self._tune_and_refit(X, idx, sample_weight, loss)

    def decision_function(self, X):
        """``X @ coef_ + intercept_`` (two classes: positive for ``classes_[1]``)."""
        return self._decision(X)

    def predict_proba(self, X):
        """The probability of each class in ``classes_``."""
        z = self._decision(X)
        if z.ndim == 2:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        p1 = 1.0 / (1.0 + np.exp(-z))
        return np.stack([1 - p1, p1], axis=1)

    def predict(self, X):
        """The most probable class."""
        z = self._decision(X)
        return self.classes_[np.argmax(z, axis=1) if z.ndim == 2 else (z > 0).astype(int)]
