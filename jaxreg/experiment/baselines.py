"""Peers that sweeps run side by side with jaxreg: scikit-learn (Lasso, ElasticNet, Ridge,
LinearRegression, LogisticRegression, SGDRegressor, PoissonRegressor, GammaRegressor,
TweedieRegressor), skglm, celer and glum.

A peer is chosen by name (``sklearn``, ``sklearn_sgd``, ``skglm``, ``celer``, ``glum``); which of its
estimators solves a (loss, penalty) pair is looked up in :data:`ESTIMATORS`, and its
parameters are translated so that it minimises *our* objective (``shared/DESIGN.md``):

* Lasso/ElasticNet (all three libraries), skglm's SparseLogisticRegression and
  MCPRegression (``gamma`` too), GroupLasso (``groups`` too) and SGDRegressor use our
  scaling: ``alpha`` passes through.
* ``Ridge(alpha=a * n)`` is our ``L2(a)``: ``||r||^2 + a n ||w||^2`` is ``2n`` times ours.
* ``LogisticRegression(C=1 / (a n))`` (scikit-learn, celer): their objective
  ``C * sum(loss) + penalty`` divided by ``C n`` is ours.
* glum's ``GeneralizedLinearRegressor`` minimises ``1/(2 sum(s)) * sum(s_i * unit
  deviance)`` plus ``alpha (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||^2)`` (its docstring;
  the sample weights ``s`` are normalised to sum 1, and sweeps give none): the mean half
  deviance, ours, so ``alpha`` and ``l1_ratio`` pass through, with the family of our loss
  (squared: normal, identity link; logistic: binomial, logit; poisson, gamma and
  ``tweedie (power)``: log link); ``tol`` is its ``gradient_tol``.
* scikit-learn's ``PoissonRegressor``, ``GammaRegressor`` and ``TweedieRegressor(power,
  link="log")`` minimise ``1/(2n) sum(deviance) + alpha/2 ||w||^2``: ours with ``L2(alpha)``
  (alpha 0 with no penalty).
* skglm's Poisson, Gamma and Huber datafits in ``GeneralizedLinearEstimator`` with its
  ``L1(alpha)`` or ``L1_plus_L2(alpha, l1_ratio)`` (our scaling): its Poisson and Gamma
  datafits are our half deviances less terms free of ``w`` (``mean(exp(z) - y z)``,
  ``mean(z + y exp(-z)) - ...``), its ``Huber(delta)`` is our ``Huber(epsilon=delta)``;
  solved by its ``ProxNewton`` (Poisson, Gamma) or ``AndersonCD`` (Huber), which take
  ``fit_intercept``, ``tol``, ``max_iter`` and the ``options``.

A peer whose package is not installed is skipped with a note (``jaxreg[bench]`` installs
skglm and celer); so is a pair it has no estimator for.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import time
import warnings
from typing import Any, Literal

import numpy as np
from pydantic import Field

from jaxreg.experiment.config import StrictModel
from jaxreg.experiment.specs import PENALTY_NAMES

__all__ = ["BaselineRun", "PEERS", "ESTIMATORS", "resolve", "run_peer"]


@dataclasses.dataclass(frozen=True)
class Peer:
    name: str
    module: str  # the import that must succeed
    classes: str  # the module holding its estimators
    install: str


PEERS = {
    "sklearn": Peer("sklearn", "sklearn", "sklearn.linear_model", "pip install scikit-learn"),
    "sklearn_sgd": Peer("sklearn_sgd", "sklearn", "sklearn.linear_model", "pip install scikit-learn"),
    "skglm": Peer("skglm", "skglm", "skglm", "pip install 'jaxreg[bench]'"),
    "celer": Peer("celer", "celer", "celer", "pip install 'jaxreg[bench]'"),
    "glum": Peer("glum", "glum", "glum", "pip install glum"),
}

# our loss -> glum's (family, link); the estimator's name carries the family ("[poisson]")
GLUM_FAMILIES = {
    "squared": ("normal", "identity"),
    "logistic": ("binomial", "logit"),
    "poisson": ("poisson", "log"),
    "gamma": ("gamma", "log"),
    "tweedie": ("tweedie", "log"),  # with the power: "tweedie (1.5)"
}
GLUM = "GeneralizedLinearRegressor"
# skglm's generic estimator, its datafit named in brackets: "GeneralizedLinearEstimator[poisson]"
SKGLM_GLM = "GeneralizedLinearEstimator"
SKGLM_DATAFITS = ("poisson", "gamma", "huber")
SKLEARN_GLMS = {"poisson": "PoissonRegressor", "gamma": "GammaRegressor", "tweedie": "TweedieRegressor"}

_CLASSIFIERS = ("logistic", "multinomial")

# (peer, loss, penalty kind) -> estimator class; logistic and multinomial share
# scikit-learn's LogisticRegression (binary data: logistic; more classes: multinomial).
ESTIMATORS: dict[tuple[str, str, str], str] = {
    ("sklearn", "squared", "l1"): "Lasso",
    ("sklearn", "squared", "elastic_net"): "ElasticNet",
    ("sklearn", "squared", "l2"): "Ridge",
    ("sklearn", "squared", "none"): "LinearRegression",
    **{
        ("sklearn", loss, k): "LogisticRegression" for loss in _CLASSIFIERS for k in ("l1", "l2", "elastic_net", "none")
    },  # noqa: E501
    **{("sklearn_sgd", "squared", k): "SGDRegressor" for k in ("none", "l1", "l2", "elastic_net")},
    ("skglm", "squared", "l1"): "Lasso",
    ("skglm", "squared", "elastic_net"): "ElasticNet",
    ("skglm", "logistic", "l1"): "SparseLogisticRegression",
    ("skglm", "logistic", "elastic_net"): "SparseLogisticRegression",
    ("skglm", "squared", "group_lasso"): "GroupLasso",
    ("skglm", "squared", "mcp"): "MCPRegression",
    ("celer", "squared", "l1"): "Lasso",
    ("celer", "squared", "elastic_net"): "ElasticNet",
    ("celer", "logistic", "l1"): "LogisticRegression",
    **{("glum", loss, k): f"{GLUM}[{loss}]" for loss in GLUM_FAMILIES for k in ("none", "l1", "l2", "elastic_net")},
    **{("skglm", loss, k): f"{SKGLM_GLM}[{loss}]" for loss in SKGLM_DATAFITS for k in ("l1", "elastic_net")},
    **{("sklearn", loss, k): name for loss, name in SKLEARN_GLMS.items() for k in ("none", "l2")},
}


class BaselineRun(StrictModel):
    """A peer with ``tol``, ``max_iter`` (each passed to the estimator under those names;
    their meaning is the peer's own) and extra estimator ``options``.

    For ``sklearn_sgd``, ``max_iter`` (default 1000) is the number of epochs run one by one
    with ``partial_fit`` (so the objective after each epoch can be recorded outside the
    timed region); with a ``tol`` it stops early when the objective has not improved by
    ``tol`` for ``n_iter_no_change`` epochs (scikit-learn's rule, 5 by default), without
    one it runs every epoch (scikit-learn's ``tol=None``).
    """

    peer: Literal["sklearn", "sklearn_sgd", "skglm", "celer", "glum"]
    tol: float | None = Field(None, ge=0.0)
    max_iter: int | None = Field(None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)

    def family(self, estimator: str) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.peer}:{estimator}" + (f"({opts})" if opts else "")


def installed(peer: str) -> bool:
    try:
        return importlib.util.find_spec(PEERS[peer].module) is not None
    except (ImportError, ValueError):
        return False


def resolve(peer: str, loss: str, penalty_kind: str, fit_intercept: bool, n_classes: int = 2):
    """Which estimator of ``peer`` fits this problem.

    Returns
    -------
    (str, None) or (None, str)
        The estimator's class name, or None and why the peer is left out (not installed,
        no estimator for the pair, no intercept...).
    """
    if not installed(peer):
        return None, f"{peer} is not installed ({PEERS[peer].install})"
    name = ESTIMATORS.get((peer, loss, penalty_kind))
    if name is None:
        return None, f"{peer} has no estimator for loss {loss!r} with penalty {penalty_kind!r}"
    if name == "LogisticRegression" and (loss == "multinomial") != (n_classes > 2):
        natural = "multinomial" if n_classes > 2 else "logistic"
        return None, f"{peer} fits {n_classes}-class data with the {natural} loss, not {loss!r}"
    if peer == "celer" and name == "LogisticRegression" and fit_intercept:
        return None, "celer's LogisticRegression fits no intercept (set fit_intercept: false)"
    return name, None


def make_estimator(run: BaselineRun, estimator: str, penalty, alpha: float, n: int, fit_intercept: bool, loss=None):
    """The peer estimator that minimises our objective (parameters translated); ``loss`` (a
    :class:`jaxreg.losses.Loss`) gives the parameters of a loss that has them (Tweedie's
    power, Huber's epsilon; their defaults when None)."""
    name, _, loss_name = estimator.partition("[")  # glum's: "GeneralizedLinearRegressor[poisson]"
    loss_name = loss_name.rstrip("]")
    if loss_name and (loss is None or loss.name != loss_name):
        from jaxreg.losses import get_loss

        loss = get_loss(loss_name)
    cls = getattr(importlib.import_module(PEERS[run.peer].classes), name)
    kind, l1_ratio = penalty.kind, penalty.l1_fraction
    kw: dict[str, Any] = {"fit_intercept": fit_intercept}
    if name == SKGLM_GLM:
        return _skglm_glm(cls, run, loss, kind, alpha, l1_ratio, fit_intercept)
    if name == GLUM:
        family, link = GLUM_FAMILIES[loss_name]
        family = f"{family} ({loss.power!r})" if loss_name == "tweedie" else family
        kw.update(family=family, link=link, alpha=0.0 if kind == "none" else alpha, l1_ratio=l1_ratio)
        if run.tol is not None:
            kw["gradient_tol"] = run.tol
        if run.max_iter is not None:
            kw["max_iter"] = run.max_iter
        return cls(**{**kw, **run.options})
    if name in ("Lasso", "ElasticNet"):
        kw["alpha"] = alpha
        if name == "ElasticNet":
            kw["l1_ratio"] = l1_ratio
    elif name == "Ridge":
        kw["alpha"] = alpha * n
    elif name in SKLEARN_GLMS.values():  # 1/(2n) sum(deviance) + alpha/2 ||w||^2: ours
        kw["alpha"] = alpha
        if name == "TweedieRegressor":
            kw.update(power=loss.power, link="log")
    elif name == "SparseLogisticRegression":
        kw.update(alpha=alpha, l1_ratio=l1_ratio)
    elif name == "GroupLasso":  # skglm's: alpha sum_g ||w_g||, every weight 1 (ours by default)
        groups = penalty.build(alpha).groups
        kw.update(alpha=alpha, groups=groups if isinstance(groups, int) else [list(g) for g in groups])
    elif name == "MCPRegression":  # skglm's parametrisation is ours (jaxreg.penalties.MCP)
        kw.update(alpha=alpha, gamma=penalty.build(alpha).gamma)
    elif name == "LogisticRegression":
        kw["C"] = np.inf if kind == "none" else 1.0 / (alpha * n)
        if run.peer == "sklearn":
            kw["l1_ratio"] = l1_ratio
            kw["solver"] = "saga" if l1_ratio > 0 else "lbfgs"
    elif name == "SGDRegressor":
        # scikit-learn spells its penalties as jaxreg.penalties.PENALTIES does ("elasticnet")
        kw.update(penalty=None if kind == "none" else PENALTY_NAMES[kind], alpha=alpha)
        if kind == "elastic_net":
            kw["l1_ratio"] = l1_ratio
    if name != "LinearRegression":
        if run.tol is not None:
            kw["tol"] = run.tol
        if run.max_iter is not None and name != "SGDRegressor":
            kw["max_iter"] = run.max_iter
    kw.update(run.options)
    return cls(**kw)


def _skglm_glm(cls, run, loss, kind, alpha, l1_ratio, fit_intercept):
    """skglm's ``GeneralizedLinearEstimator`` with its datafit of our loss, its L1 or
    L1_plus_L2 penalty (our scaling) and a solver taking tol, max_iter and the options."""
    from skglm import datafits, penalties, solvers

    if loss.name == "huber":
        datafit, solver = datafits.Huber(float(loss.epsilon)), solvers.AndersonCD
    else:
        datafit, solver = getattr(datafits, type(loss).__name__)(), solvers.ProxNewton
    pen = penalties.L1(alpha) if kind == "l1" else penalties.L1_plus_L2(alpha, l1_ratio)
    kw: dict[str, Any] = {"fit_intercept": fit_intercept}
    if run.tol is not None:
        kw["tol"] = run.tol
    if run.max_iter is not None:
        kw["max_iter"] = run.max_iter
    return cls(datafit=datafit, penalty=pen, solver=solver(**{**kw, **run.options}))


@dataclasses.dataclass
class PeerFit:
    coef: np.ndarray
    intercept: Any
    n_iter: int | None
    converged: bool
    wall: float
    trace: tuple | None = None  # (times, objectives) per epoch for sklearn_sgd


def run_peer(
    run: BaselineRun, estimator: str, penalty, alpha, X, y, fit_intercept, objective=None, loss=None
) -> PeerFit:
    """Fit the peer once on ``(X, y)``, timing ``fit`` alone (construction excluded).

    Parameters
    ----------
    run : BaselineRun
    estimator : str
        From :func:`resolve`.
    penalty : PenaltySpec
    alpha : float
        Our absolute alpha (translated here to the peer's parameter).
    X, y : arrays (labels for classifiers)
    fit_intercept : bool
    objective : callable ``(coef, intercept) -> float``, optional
        Scores each epoch of ``sklearn_sgd`` for its trace.
    loss : jaxreg.losses.Loss, optional
        The loss with its parameters (Tweedie's power, Huber's epsilon); by default the
        estimator's loss with its default parameters.

    Returns
    -------
    PeerFit
        Coefficients in our shapes ((p,) or (p, K)), intercept, iterations, whether it
        converged (no ConvergenceWarning; skglm: ``stop_crit_ <= tol``) and the time.
    """
    est = make_estimator(run, estimator, penalty, alpha, X.shape[0], fit_intercept, loss)
    if estimator == f"{GLUM}[logistic]":  # glum's binomial takes y in {0, 1}: the larger label is 1
        y = (np.asarray(y) == np.max(y)).astype(np.float64)
    if estimator == "SGDRegressor":
        return _run_sgd_epochs(est, run, X, y, objective)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(X, y)
        wall = time.perf_counter() - t0
    converged = not any(issubclass(w.category, _convergence_warning()) for w in caught)
    stop = getattr(est, "stop_crit_", None)  # skglm says nothing when it stops early
    if stop is not None and run.tol is not None and float(stop) > run.tol:
        converged = False
    coef, intercept = _coef_intercept(est)
    n_iter = getattr(est, "n_iter_", None)
    n_iter = None if n_iter is None else int(np.max(n_iter))
    return PeerFit(coef, intercept, n_iter, converged, wall)


def _run_sgd_epochs(est, run, X, y, objective):
    """Epochs of ``partial_fit`` (the learning-rate schedule carries on across calls); the
    objective after each epoch is computed outside the timed region."""
    max_epochs = run.max_iter or 1000
    patience = int(run.options.get("n_iter_no_change", 5))
    tol = run.tol
    times, values = [], []
    elapsed, best, stall = 0.0, np.inf, 0
    for _ in range(max_epochs):
        t0 = time.perf_counter()
        est.partial_fit(X, y)
        elapsed += time.perf_counter() - t0
        coef, intercept = _coef_intercept(est)
        F = objective(coef, intercept) if objective is not None else np.nan
        times.append(elapsed)
        values.append(F)
        if tol is not None:
            stall = stall + 1 if F > best - tol else 0
            best = min(best, F)
        if stall >= patience or not np.isfinite(F):
            break
    coef, intercept = _coef_intercept(est)
    converged = stall >= patience and np.isfinite(values[-1])
    return PeerFit(coef, intercept, len(times), bool(converged), elapsed, (times, values))


def _coef_intercept(est):
    coef = np.asarray(est.coef_, dtype=np.float64)
    intercept = np.asarray(getattr(est, "intercept_", 0.0), dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] == 1:  # binary classifiers: one row
        coef, intercept = coef[0], intercept.reshape(-1)[0]
    elif coef.ndim == 2:  # multinomial: (K, p) -> our (p, K)
        coef = coef.T
    intercept = float(intercept) if np.ndim(intercept) == 0 else intercept
    return coef, intercept


def _convergence_warning():
    from sklearn.exceptions import ConvergenceWarning

    return ConvergenceWarning
