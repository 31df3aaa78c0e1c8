"""The models a ``jaxreg run`` config may compare, one schema per ``kind``: ``fit``
(:func:`jaxreg.fit` with a loss, a penalty and a solver), ``bayesian``
(:class:`jaxreg.BayesianLinearRegression`, updated point by point), ``ridge_cv``
(:class:`jaxreg.RidgeCV`) and ``tuning`` (:class:`jaxreg.LassoHO`). Each validates on its
own; :data:`MODEL_KINDS` maps a kind to its schema."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from jaxreg.experiment.config import MAX_COUNT, StrictModel
from jaxreg.experiment.specs import BoundedPenaltySpec, LossSpec, SolverRun

__all__ = ["FitModel", "BayesModel", "AlphaGrid", "RidgeCVModel", "TuningModel", "MODEL_KINDS"]


class FitModel(SolverRun):
    """A model fitted with :func:`jaxreg.fit`: ``loss``, ``penalty``, ``solver`` (with
    ``tol``, ``max_iter`` and ``options``) and ``fit_intercept``. ``loss: auto`` is squared
    for regression data, logistic for two classes, multinomial for more; a loss with
    parameters is a mapping (``{kind: tweedie, power: 1.5}``, ``{kind: huber, epsilon: 1.35}``).
    The penalty may carry bounds (``positive: true``, ``lower``, ``upper``)."""

    kind: Literal["fit"] = "fit"
    name: str = Field(min_length=1)
    loss: LossSpec = LossSpec(kind="auto")
    penalty: BoundedPenaltySpec = BoundedPenaltySpec(kind="none")
    solver: str = "auto"
    fit_intercept: bool = True


class BayesModel(StrictModel):
    """Bayesian linear regression (:class:`jaxreg.BayesianLinearRegression`) updated one
    point at a time with ``partial_fit``; the posterior is recorded after each count of
    points in ``steps`` (0 is the prior). The weight ``w0`` of a constant feature stands
    for the intercept and has the prior too (PRML section 3.3), so with one input the
    posterior is over ``(w0, w1)``. ``alpha`` (prior precision) and ``beta`` (noise
    precision) are fixed unless ``fit_hyperparameters``."""

    kind: Literal["bayesian"] = "bayesian"
    name: str = Field(min_length=1)
    alpha: float = Field(2.0, gt=0.0)
    beta: float = Field(25.0, gt=0.0)
    fit_hyperparameters: bool = False
    steps: list[int] = Field(default_factory=lambda: [0, 1, 2, 20], min_length=1)

    @field_validator("steps")
    @classmethod
    def _steps(cls, v):
        if any(s < 0 for s in v) or v != sorted(v):
            raise ValueError("steps must be counts of points >= 0 in increasing order")
        return v


class AlphaGrid(StrictModel):
    """``num`` alphas spaced evenly on a log scale from ``start`` to ``stop`` (both included,
    numpy's ``geomspace``)."""

    start: float = Field(gt=0.0)
    stop: float = Field(gt=0.0)
    num: int = Field(ge=1, le=10_000)

    def values(self) -> list[float]:
        import numpy as np

        return np.geomspace(self.start, self.stop, self.num).tolist()


# a list of alphas, or a mapping {start, stop, num} (errors name the list's or the mapping's keys)
AlphaList = Annotated[
    Annotated[list[float], Tag("list")] | Annotated[AlphaGrid, Tag("grid")],
    Discriminator(lambda v: "grid" if isinstance(v, dict) else "list"),
]


class RidgeCVModel(StrictModel):
    """Ridge regression with ``alpha`` chosen by cross-validation (:class:`jaxreg.RidgeCV`,
    scikit-learn's names and meaning): ``alphas`` are scikit-learn ``Ridge`` strengths (the
    objective ``sum_i (y_i - x_i^T w - b)^2 + alpha ||w||^2``, so ``alpha`` is PRML's lambda),
    a list or ``{start, stop, num}`` (log-spaced); the list is the candidates, not a grid
    axis. ``cv: null`` (default) is the exact leave-one-out error of every alpha from one
    factorization (scored by mean squared error); an int is K-fold (scored by R^2, as
    scikit-learn). ``gcv_mode`` picks the factorization (``svd`` is the accurate one for
    ill-conditioned designs such as raw polynomial powers). In metrics.json ``ridge_alpha`` is
    the chosen alpha and ``alpha`` the same strength in :func:`jaxreg.fit`'s scaling
    (``ridge_alpha / n_train``), as for the other models; ``cv_curve`` holds every alpha's
    cross-validation score and its train and test error."""

    kind: Literal["ridge_cv"] = "ridge_cv"
    name: str = Field(min_length=1)
    alphas: AlphaList = Field(default_factory=lambda: [0.1, 1.0, 10.0])
    cv: int | None = Field(None, ge=2, le=MAX_COUNT, description="folds; null: exact leave-one-out")
    gcv_mode: Literal["auto", "svd", "eigen"] | None = None
    fit_intercept: bool = True

    @model_validator(mode="after")
    def _alphas(self):
        from jaxreg.ridge_cv import check_alphas

        check_alphas(self.alpha_values(), strict=self.cv is None)
        return self

    def alpha_values(self) -> list[float]:
        return self.alphas.values() if isinstance(self.alphas, AlphaGrid) else list(self.alphas)


class TuningModel(StrictModel):
    """A lasso whose ``alpha`` (and with ``weighted`` one penalty weight per feature) is tuned
    by gradient descent on the K-fold validation mean squared error (:class:`jaxreg.LassoHO`,
    :func:`jaxreg.tune.tune`: a coarse grid of ``n_grid`` alphas, then at most ``n_steps``
    Adam steps of ``learning_rate`` in log alpha), then refitted on all the training data.
    With ``grid`` > 0 the run also does the grid search it replaces, :class:`jaxreg.LassoCV`
    over ``grid`` alphas on the same ``cv`` folds, for the ``validation_path`` plot and
    metrics.json's ``grid_search`` (its alpha, validation error, fits, test error)."""

    kind: Literal["tuning"] = "tuning"
    name: str = Field(min_length=1)
    cv: int = Field(5, ge=2, le=MAX_COUNT, description="K-fold folds (not shuffled, LassoCV's)")
    n_steps: int = Field(14, ge=1, le=10_000)
    n_grid: int = Field(5, ge=0, le=1_000)
    alpha_init: float | None = Field(None, gt=0.0)
    weighted: bool = False
    learning_rate: float = Field(1.0, gt=0.0)
    tol: float = Field(1e-8, gt=0.0, description="the inner fits' tolerance")
    fit_intercept: bool = True
    grid: int = Field(0, ge=0, le=10_000, description="alphas of the comparison grid search (0: none)")


MODEL_KINDS = {"fit": FitModel, "bayesian": BayesModel, "ridge_cv": RidgeCVModel, "tuning": TuningModel}
