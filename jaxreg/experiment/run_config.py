"""The schema of a ``jaxreg run`` config, and the list of fits it expands to.

A config names the data, a train/test split, ``features`` (a basis and scaling) and
``models`` to compare. Inside ``features`` and inside each model every list is a grid
axis, as in sweeps: ``penalty: {kind: l2, alpha: [0.01, 0.1, 1]}`` is three fits,
``features: {basis: polynomial, degree: [1, 3, 9]}`` fits every model at three degrees.
(A Bayesian model's ``steps`` and a ridge_cv model's ``alphas`` are lists, not axes; the model
kinds are in :mod:`jaxreg.experiment.run_models`.) Everything is validated before
anything runs: one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jaxreg.errors import UsageError
from jaxreg.experiment.config import (
    MAX_COUNT,
    MAX_SEED,
    StrictModel,
    apply_overrides,
    did_you_mean,
    expand_grid,
    format_path,
    load_yaml,
    validate,
)
from jaxreg.experiment.run_data import RunDataSpec, check_paths

# the model schemas live in run_models; their names stay importable from here
from jaxreg.experiment.run_models import MODEL_KINDS, AlphaGrid, BayesModel, FitModel, RidgeCVModel, TuningModel

__all__ = [
    "FeatureSpec",
    "SplitSpec",
    "FitModel",
    "BayesModel",
    "RidgeCVModel",
    "TuningModel",
    "AlphaGrid",
    "PlotSpec",
    "RunConfig",
    "PlannedFit",
    "load_run",
    "plan",
    "PLOT_KINDS",
]

PLOT_KINDS = (
    "fits",
    "error_vs_degree",
    "error_vs_alpha",
    "objective",
    "coef_path",
    "coef_bars",
    "coef_table",
    "constraint",
    "posterior",
    "cv_curve",
    "validation_path",
)

# the plots whose x axis is a regularization strength (``alpha_axis`` applies to them)
ALPHA_PLOTS = ("error_vs_alpha", "coef_path", "cv_curve", "validation_path")
ALPHA_AXES = ("log", "linear", "ln_lambda", "log10")
# what error_vs_degree / error_vs_alpha draw (train and test): the metrics of metrics.json
METRICS = ("rmse", "mse", "deviance", "accuracy", "log_loss")


class FeatureSpec(StrictModel):
    """Inputs -> features: an optional basis expansion of each column
    (:mod:`jaxreg.basis`), then scikit-learn's ``StandardScaler`` when ``standardize``.

    ``degree: 0`` is the constant model (no features; only the intercept is fitted).
    """

    basis: Literal["none", "polynomial", "gaussian", "sigmoid", "fourier"] = "none"
    degree: int | None = Field(None, ge=0, le=100, description="polynomial only (default 3)")
    n_centers: int | None = Field(None, ge=1, le=MAX_COUNT, description="gaussian/sigmoid only (default 10)")
    width: float | None = Field(None, gt=0.0, description="gaussian/sigmoid only")
    n_frequencies: int | None = Field(None, ge=1, le=MAX_COUNT, description="fourier only (default 5)")
    period: float | None = Field(None, gt=0.0, description="fourier only")
    standardize: bool = True

    @model_validator(mode="after")
    def _fields_apply(self):
        owners = {
            "degree": ("polynomial",),
            "n_centers": ("gaussian", "sigmoid"),
            "width": ("gaussian", "sigmoid"),
            "n_frequencies": ("fourier",),
            "period": ("fourier",),
        }
        for key, bases in owners.items():
            if getattr(self, key) is not None and self.basis not in bases:
                raise ValueError(f"{key} applies to basis {' or '.join(bases)} only, not {self.basis!r}")
        return self


class SplitSpec(StrictModel):
    """A train/test split (scikit-learn's ``train_test_split``). ``test_size`` and
    ``train_size`` are fractions in (0, 1) or counts; ``test_size: 0`` keeps all data for
    training (no test metrics). With ``test_data`` (a data section of its own) all of
    ``data`` is the training set and ``test_data`` the test set."""

    test_size: float | int = Field(0.25, ge=0)
    train_size: float | int | None = Field(None, gt=0)
    shuffle: bool = True
    stratify: bool = Field(False, description="keep class proportions (classification data)")
    test_data: RunDataSpec | None = None

    @field_validator("test_size", "train_size")
    @classmethod
    def _fraction_or_count(cls, v):
        # 1.0 is no fraction (the whole data), and not the count 1 it used to become silently
        if isinstance(v, float) and v >= 1.0:
            raise ValueError("a fraction must be < 1; a number of samples is a whole number written without a point")
        if v is not None and v > MAX_COUNT:
            raise ValueError(f"a number of samples must be <= {MAX_COUNT}")
        return v

    @property
    def holds_out(self) -> bool:
        return self.test_data is None and not (self.test_size == 0 and self.train_size is None)


class PlotSpec(StrictModel):
    """A figure to draw: ``kind`` and, optionally, the ``models`` (names) it shows.

    ``constraint`` draws loss contours over two ``features`` (indices) with the L1, L2 and
    L-infinity balls through the penalized solutions at ``alphas`` (keys l1, l2, linf).

    ``alpha_axis`` (error_vs_alpha, coef_path, cv_curve) is how alpha is drawn: ``log``
    (default; alpha on a log scale), ``linear``, ``log10`` (log10 alpha on a linear scale) or
    ``ln_lambda`` (PRML's ln lambda, lambda = n_train * alpha: the penalty's weight against
    the summed squared error; a ridge_cv model's alphas are lambda already).

    ``metric`` (error_vs_degree, error_vs_alpha) is the train and test metric drawn: rmse,
    mse, deviance (log-link losses), accuracy or log_loss (classifiers); default rmse, or
    log_loss for classifiers.
    """

    kind: Literal[PLOT_KINDS]  # type: ignore[valid-type]
    models: list[str] | None = None
    features: list[int] = Field(default_factory=lambda: [0, 1], min_length=2, max_length=2)
    alphas: dict[Literal["l1", "l2", "linf"], float] | None = None
    alpha_axis: Literal[ALPHA_AXES] | None = None  # type: ignore[valid-type]
    metric: Literal[METRICS] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _axis_applies(self):
        if self.alpha_axis is not None and self.kind not in ALPHA_PLOTS:
            raise ValueError(f"alpha_axis applies to plots {', '.join(ALPHA_PLOTS)} only, not {self.kind!r}")
        if self.metric is not None and self.kind not in ("error_vs_degree", "error_vs_alpha"):
            raise ValueError(f"metric applies to plots error_vs_degree, error_vs_alpha only, not {self.kind!r}")
        return self


class RunConfig(StrictModel):
    """A ``jaxreg run`` config file (see ``configs/``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(0, ge=0, le=MAX_SEED, description="split, and stochastic solvers that are given no seed")
    device: Literal["cpu", "gpu", "auto"] = "cpu"
    dtype: Literal["float32", "float64"] = "float64"
    data: RunDataSpec
    split: SplitSpec = SplitSpec()
    features: dict[str, Any] = Field(default_factory=dict)
    models: list[dict[str, Any]] = Field(min_length=1)
    reference: str | None = Field(None, description="model whose first fit the others are compared with")
    plots: list[PlotSpec] = Field(default_factory=list)

    @field_validator("plots", mode="before")
    @classmethod
    def _bare_names(cls, v):
        return [{"kind": p} if isinstance(p, str) else p for p in v] if isinstance(v, list) else v


@dataclasses.dataclass(frozen=True)
class PlannedFit:
    """One fit of a run: the model, the features, and the grid values that name it."""

    index: int
    model: FitModel | BayesModel | RidgeCVModel | TuningModel
    features: FeatureSpec
    params: dict

    @property
    def label(self) -> str:
        extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.model.name} {extra}".strip()


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def load_run(path, overrides=()) -> tuple[RunConfig, list[PlannedFit]]:
    """The validated config of a run file and the fits it expands to.

    Parameters
    ----------
    path : str or Path
    overrides : iterable of str
        ``key.path=value`` items (``--set``), applied before validation.

    Raises
    ------
    UsageError
        One line naming the key, the value and what is allowed (a missing data file too).
    """
    source = str(path)
    raw = apply_overrides(load_yaml(path), overrides)
    config = validate(RunConfig, raw, source=source)
    if getattr(config.data, "stream", False) and config.features:
        raise UsageError(
            f"{source}: features: streamed npy data (stream: true) is fitted as it is; remove the features section"
        )
    base = Path(path).parent
    update = {"data": check_paths(config.data, base, source)}
    if config.split.test_data is not None:
        test = check_paths(config.split.test_data, base, source, key="split.test_data")
        update["split"] = config.split.model_copy(update={"test_data": test})
    config = config.model_copy(update=update)
    fits = plan(config, source)
    if getattr(config.data, "stream", False):
        _check_streamed(fits, source)
    return config, fits


def _check_streamed(fits, source):
    """Streamed npy data is read block by block: only the streaming solvers take it, and
    nothing that needs all of it in memory (alpha_max, a Bayesian posterior)."""
    from jaxreg._streamfit import STREAM_SOLVERS

    for pf in fits:
        m = pf.model
        where = f"{source}: {pf.label}"
        if not isinstance(m, FitModel):
            raise UsageError(f"{where}: a {m.kind} model needs data in memory, not streamed npy data (stream: true)")
        if m.solver not in ("auto", *STREAM_SOLVERS):
            raise UsageError(
                f"{where}: solver = {m.solver!r} cannot fit streamed npy data (stream: true); "
                f"allowed: auto, {', '.join(STREAM_SOLVERS)} (or stream: false to load the data in memory)"
            )
        if m.penalty.alpha_ratio is not None:
            raise UsageError(
                f"{where}: alpha_ratio needs the data in memory (alpha_max is computed from it); give alpha "
                "with streamed npy data"
            )


def _model_schema(entry, i, source):
    kind = entry.get("kind", "fit") if isinstance(entry, dict) else "fit"
    schemas = MODEL_KINDS
    if kind not in schemas:
        raise UsageError(
            f"{source}: models[{i}].kind = {kind!r} is not allowed; allowed: {', '.join(schemas)}"
            + did_you_mean(str(kind), schemas)
        )
    return schemas[kind]


def _short(path) -> str:
    """The display name of a grid axis: ``penalty.alpha`` -> ``alpha``."""
    return str(path[-1])


def plan(config: RunConfig, source="config") -> list[PlannedFit]:
    """Every fit of a config: features grid x (each model's grid), in the order written."""
    feature_points = [
        (validate(FeatureSpec, point, source=source, prefix=("features",), axes=axes), axes)
        for point, axes in expand_grid(config.features, source, ("features",))
    ]
    models = []
    for i, entry in enumerate(config.models):
        schema = _model_schema(entry, i, source)
        if schema is BayesModel:
            models.append((validate(schema, entry, source=source, prefix=("models", i)), {}, {}))
            continue
        # a ridge_cv model's alphas are its candidates, not a grid axis
        fixed = {k: entry[k] for k in ("alphas",) if schema is RidgeCVModel and isinstance(entry, dict) and k in entry}
        grid = {k: v for k, v in entry.items() if k not in fixed} if fixed else entry
        for point, axes in expand_grid(grid, source, ("models", i)):
            m = validate(schema, {**point, **fixed}, source=source, prefix=("models", i), axes=axes)
            models.append((m, axes, point))
    names = [m.name for m, _, _ in models]
    entry_names = [e.get("name") if isinstance(e, dict) else None for e in config.models]
    for i, name in enumerate(entry_names):
        if name in entry_names[:i]:
            raise UsageError(
                f"{source}: models[{i}].name = {name!r} is already the name of models[{entry_names.index(name)}]; "
                "model names must be unique (a list of values inside one model is a grid)"
            )
    _check_names(config, names, source)
    fits = []
    for feats, faxes in feature_points:
        for m, axes, point in models:
            params = {_short(p): _get(config.features, p)[i] for p, i in faxes.items()}
            params.update({_short(p): _get(point, p) for p in axes})
            fits.append(PlannedFit(len(fits), m, feats, params))
    return fits


def _get(node, path):
    for part in path:
        node = node[part]
    return node


def _check_names(config, names, source):
    for j, plot in enumerate(config.plots):
        for name in plot.models or ():
            if name not in names:
                raise UsageError(
                    f"{source}: {format_path(('plots', j, 'models'))} = {name!r} is not a model name; "
                    f"allowed: {', '.join(dict.fromkeys(names))}{did_you_mean(name, names)}"
                )
    if config.reference is not None and config.reference not in names:
        raise UsageError(
            f"{source}: reference = {config.reference!r} is not a model name; allowed: "
            f"{', '.join(dict.fromkeys(names))}{did_you_mean(config.reference, names)}"
        )
