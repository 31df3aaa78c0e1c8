"""Config models for what is fitted: a loss (with its parameters), a penalty (with
``alpha`` absolute or as a fraction of ``alpha_max``, optionally with bounds) and a jaxreg
solver with its options. Shared by sweeps and experiments.

Solver, loss and penalty names are checked against the live registries
(:data:`jaxreg.solvers.SOLVERS`, :data:`jaxreg.losses.LOSSES`,
:data:`jaxreg.penalties.PENALTIES`), and which kind takes which parameter is read from the
classes' fields, so an entry added there is usable in configs with no new table here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from jaxreg.experiment.config import MAX_COUNT, StrictModel, did_you_mean
from jaxreg.losses import LOSSES
from jaxreg.penalties import PENALTIES, Bounded, Penalty, get_penalty

__all__ = [
    "LossSpec",
    "PenaltySpec",
    "BoundedPenaltySpec",
    "SolverRun",
    "LOSS_KINDS",
    "PENALTY_KINDS",
    "PENALTY_NAMES",
]

# A config's penalty ``kind`` -> its name in jaxreg.penalties.PENALTIES. Configs spell the
# elastic net "elastic_net"; weighted_l1 needs per-feature weights, which a config does not give.
PENALTY_NAMES = {{"elasticnet": "elastic_net"}.get(name, name): name for name in PENALTIES if name != "weighted_l1"}
PENALTY_KINDS = tuple(PENALTY_NAMES)
LOSS_KINDS = ("auto", *LOSSES)


def _defaults(cls) -> dict:
    """A loss or penalty class's parameters and their defaults (its dataclass fields)."""
    return {f.name: f.default for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}


def _owners(registry, names, params) -> dict:
    """``{param: the kinds whose class takes it}``: a kind refuses the others' parameters."""
    return {p: tuple(k for k, n in names.items() if p in _defaults(registry[n])) for p in params}


def _refuse_foreign(spec, owners, what):
    for param, kinds in owners.items():
        if getattr(spec, param) is not None and spec.kind not in kinds:
            allowed = " or ".join(repr(k) for k in kinds)
            raise ValueError(f"{param} applies to {what} {allowed} only, not {spec.kind!r}")


_PENALTY_PARAMS = _owners(PENALTIES, PENALTY_NAMES, ("l1_ratio", "p", "gamma", "groups"))
_LOSS_PARAMS = _owners(LOSSES, {k: k for k in LOSSES}, ("power", "epsilon"))
# kinds whose alpha_max (the smallest alpha with all-zero coefficients) exists; lp only at p = 1
_ALPHA_MAX_KINDS = tuple(k for k, n in PENALTY_NAMES.items() if PENALTIES[n].alpha_max is not Penalty.alpha_max)


class LossSpec(StrictModel):
    """A loss: ``kind`` (a name in :data:`jaxreg.losses.LOSSES`, or ``auto``: squared for
    regression data, logistic for two classes, multinomial for more) and its parameters:
    ``power`` of tweedie (in [1, 2]), ``epsilon`` of huber (> 0). In a config ``loss:
    poisson`` is short for ``loss: {kind: poisson}``."""

    kind: Literal[LOSS_KINDS]  # type: ignore[valid-type]
    power: float | None = Field(None, ge=1.0, le=2.0, description="tweedie only (default 1.5)")
    epsilon: float | None = Field(None, gt=0.0, description="huber only (default 1.35)")

    @model_validator(mode="before")
    @classmethod
    def _a_name_is_its_kind(cls, v):
        if not isinstance(v, str):
            return v
        if v not in LOSS_KINDS:
            raise ValueError(f"not a jaxreg loss; allowed: {', '.join(LOSS_KINDS)}{did_you_mean(v, LOSS_KINDS)}")
        return {"kind": v}

    @model_validator(mode="after")
    def _params_apply(self):
        _refuse_foreign(self, _LOSS_PARAMS, "loss")
        return self

    def build(self, kind=None):
        """The jaxreg loss (``kind`` resolves ``auto``)."""
        kind = kind or self.kind
        params = {p: getattr(self, p) for p, kinds in _LOSS_PARAMS.items() if kind in kinds}
        return LOSSES[kind](**{p: v for p, v in params.items() if v is not None})

    def label(self) -> str:
        """``poisson``, ``tweedie(power=1.5)``, ``huber(epsilon=1.35)``."""
        if self.kind == "auto":
            return "auto"
        given = {p: getattr(self, p) for p in _LOSS_PARAMS}
        extra = [f"{p}={v if given.get(p) is None else given[p]:g}" for p, v in _defaults(LOSSES[self.kind]).items()]
        return self.kind + (f"({', '.join(extra)})" if extra else "")


class PenaltySpec(StrictModel):
    """A penalty: ``kind`` and its strength.

    ``alpha`` is absolute; ``alpha_ratio`` is a fraction of ``alpha_max`` (the smallest
    alpha giving all-zero coefficients), which exists for l1, elastic_net, linf, mcp, scad
    and lp with p = 1. Give one of the two (neither for ``none``). ``gamma`` shapes mcp
    (> 1, default 3) and scad (> 2, default 3.7), skglm's parametrisation. ``groups`` (an
    int: contiguous groups of that many features, default 1) for group_lasso and
    sparse_group_lasso (with ``l1_ratio``, default 0.5).
    """

    kind: Literal[PENALTY_KINDS]
    alpha: float | None = Field(None, ge=0.0)
    alpha_ratio: float | None = Field(None, gt=0.0)
    l1_ratio: float | None = Field(None, gt=0.0, le=1.0, description="elastic_net only (default 0.5)")
    p: float | None = Field(None, ge=1.0, description="lp only")
    gamma: float | None = Field(None, gt=1.0, description="mcp (default 3) and scad (> 2, default 3.7) only")
    groups: int | None = Field(
        None, ge=1, description="group_lasso and sparse_group_lasso only: contiguous groups of this many features"
    )

    @field_validator("gamma")
    @classmethod
    def _scad_gamma(cls, v, info: ValidationInfo):
        if v is not None and info.data.get("kind") == "scad" and v <= 2.0:
            raise ValueError("kind 'scad' needs gamma > 2 (mcp needs gamma > 1)")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        k = self.kind
        if k == "none":
            if self.alpha is not None or self.alpha_ratio is not None:
                raise ValueError("kind 'none' takes no alpha or alpha_ratio")
        elif (self.alpha is None) == (self.alpha_ratio is None):
            raise ValueError(f"kind {k!r} needs exactly one of alpha (absolute) or alpha_ratio (fraction of alpha_max)")
        if self.alpha_ratio is not None and not self.has_alpha_max:
            kinds = ", ".join("lp with p=1" if m == "lp" else m for m in _ALPHA_MAX_KINDS)
            raise ValueError(
                f"alpha_ratio is not allowed for kind {k!r}{'' if k != 'lp' else f' with p={self.p}'}: alpha_max "
                f"exists only for {kinds}; give alpha instead"
            )
        _refuse_foreign(self, _PENALTY_PARAMS, "kind")
        if k == "lp" and self.p is None:
            raise ValueError("kind 'lp' needs p (a number >= 1)")
        return self

    @property
    def has_alpha_max(self) -> bool:
        return self.kind in _ALPHA_MAX_KINDS and (self.kind != "lp" or self.p == 1.0)

    @property
    def l1_fraction(self) -> float:
        """The share of the strength on ``||w||_1``: 1 for l1, ``l1_ratio`` (default 0.5)
        for elastic_net, 0 otherwise (how peers with an ``l1_ratio`` take the penalty)."""
        return {"l1": 1.0, "elastic_net": self.l1_ratio or 0.5}.get(self.kind, 0.0)

    def build(self, alpha=None):
        """The jaxreg penalty with strength ``alpha`` (default: this spec's ``alpha``)."""
        if self.kind == "none":
            return get_penalty("none")
        params = {"alpha": self.alpha if alpha is None else float(alpha)}
        for param, kinds in _PENALTY_PARAMS.items():  # lp's p is required; the others have defaults
            if self.kind in kinds and getattr(self, param) is not None:
                params[param] = getattr(self, param)
        if self.kind == "elastic_net":
            params["l1_ratio"] = self.l1_fraction
        return get_penalty(PENALTY_NAMES[self.kind], **params)

    def resolve_alpha(self, X, y, loss, fit_intercept=True, offset=None) -> float:
        """The absolute alpha on data ``(X, y)`` (and ``offset``, see ``jaxreg.fit``):
        ``alpha``, or ``alpha_ratio * alpha_max`` (``loss`` a name or a
        :class:`jaxreg.losses.Loss`)."""
        if self.kind == "none":
            return 0.0
        if self.alpha is not None:
            return float(self.alpha)
        from jaxreg import alpha_max

        amax = alpha_max(X, y, loss=loss, penalty=self.build(1.0), fit_intercept=fit_intercept, offset=offset)
        return float(self.alpha_ratio) * amax

    def label(self) -> str:
        """Short text: ``l1 alpha_max/100``, ``elastic_net(l1_ratio=0.5) alpha=0.1``."""
        extra = ""
        if self.kind == "elastic_net":
            extra = f"(l1_ratio={self.l1_fraction:g})"
        elif self.kind == "lp":
            extra = f"(p={self.p:g})"
        elif self.kind in ("group_lasso", "sparse_group_lasso"):
            ratio = f", l1_ratio={self.l1_ratio or 0.5:g}" if self.kind == "sparse_group_lasso" else ""
            extra = f"(groups={self.groups or 1}{ratio})"
        elif "gamma" in _defaults(PENALTIES[PENALTY_NAMES[self.kind]]):
            extra = f"(gamma={self.gamma or _defaults(PENALTIES[PENALTY_NAMES[self.kind]])['gamma']:g})"
        if self.kind == "none":
            return "none"
        if self.alpha_ratio is not None:
            inv = 1.0 / self.alpha_ratio
            strength = f"alpha_max/{inv:g}" if abs(inv - round(inv)) < 1e-9 else f"{self.alpha_ratio:g}*alpha_max"
        else:
            strength = f"alpha={self.alpha:g}"
        return f"{self.kind}{extra} {strength}"


class BoundedPenaltySpec(PenaltySpec):
    """A penalty with optional box constraints on the coefficients: ``positive: true``
    (scikit-learn's ``positive=True``, every coefficient >= 0) or ``lower`` (<= 0) and
    ``upper`` (>= 0), one number for every coefficient; built as
    :class:`jaxreg.penalties.Bounded` (the penalty's prox clipped to the box), so the
    penalty must be separable. ``jaxreg run`` takes it; sweeps take :class:`PenaltySpec`,
    as their peers and float64 objective know no bounds."""

    positive: bool = False
    lower: float | None = Field(None, le=0.0, description="every coefficient >= lower (<= 0)")
    upper: float | None = Field(None, ge=0.0, description="every coefficient <= upper (>= 0)")

    @model_validator(mode="after")
    def _bounds_apply(self):
        if self.positive and self.lower is not None:
            raise ValueError("give positive: true (lower = 0) or lower, not both")
        if self.bounded and not PENALTIES[PENALTY_NAMES[self.kind]].separable:
            allowed = ", ".join(k for k, n in PENALTY_NAMES.items() if PENALTIES[n].separable)
            raise ValueError(f"bounds need a separable penalty, not kind {self.kind!r}; allowed: {allowed}")
        return self

    @property
    def bounded(self) -> bool:
        return self.positive or self.lower is not None or self.upper is not None

    def build(self, alpha=None):
        """The penalty with strength ``alpha``, clipped to the bounds when there are any."""
        penalty = super().build(alpha)
        if not self.bounded:
            return penalty
        lower = 0.0 if self.positive else (-float("inf") if self.lower is None else self.lower)
        upper = float("inf") if self.upper is None else self.upper
        return Bounded(penalty, lower=lower, upper=upper)

    def label(self) -> str:
        """:meth:`PenaltySpec.label` plus ``positive`` or ``in [lower, upper]``."""
        text = super().label()
        if self.positive and self.upper is None:
            return f"{text} positive"
        if self.bounded:
            lo = 0.0 if self.positive else (-float("inf") if self.lower is None else self.lower)
            hi = float("inf") if self.upper is None else self.upper
            return f"{text} in [{lo:g}, {hi:g}]"
        return text


class SolverRun(StrictModel):
    """A jaxreg solver (a name in :data:`jaxreg.solvers.SOLVERS`) with ``tol``, ``max_iter``
    and the solver's options, passed to :func:`jaxreg.fit` as they are."""

    solver: str
    tol: float | None = Field(None, ge=0.0)
    max_iter: int | None = Field(None, ge=1, le=MAX_COUNT)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, name):
        from jaxreg.solvers import SOLVERS

        allowed = ["auto", *SOLVERS]
        if name not in allowed:
            raise ValueError(f"not a jaxreg solver; allowed: {', '.join(allowed)}{did_you_mean(name, allowed)}")
        return name

    @model_validator(mode="after")
    def _options_apply(self):
        from jaxreg._fitparts import OPTIONS, check_options
        from jaxreg.solvers import get_solver

        for key in self.options:
            if key == "device":
                raise ValueError("options.device is not allowed here; the device is set by the config's device key")
            if key not in OPTIONS:
                raise ValueError(
                    f"options.{key} is not a jaxreg.fit option; allowed: {', '.join(OPTIONS)}"
                    f"{did_you_mean(key, OPTIONS)}"
                )
        if self.solver != "auto":
            check_options(get_solver(self.solver), self.options)
        else:
            _check_auto_options(self.options)
        return self

    def family(self) -> str:
        """``jaxreg:name`` plus the options (what stays the same across a tol grid)."""
        opts = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.options.items()))
        return f"jaxreg:{self.solver}" + (f"({opts})" if opts else "")

    def fit_kwargs(self) -> dict:
        return {"solver": self.solver, "tol": self.tol, "max_iter": self.max_iter, **self.options}


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# The solvers ``solver: auto`` may pick (jaxreg.solvers.auto_solver, and jaxreg.fit's turn to
# fista for its step options and to lbfgs for memory_size): an option only the others take
# (learning_rate, batch_size, ...) would fail every fit of the model, so it is refused here.
AUTO_PICKS = ("closed_form", "gram_cd", "working_set", "newton", "lbfgs", "group_bcd", "fista")


def _check_auto_options(options):
    """Issue 17 item 11: with ``solver: auto`` each option's value is checked as the solver
    that takes it checks it, at config time, instead of failing every fit of the run."""
    from jaxreg._fitparts import check_options
    from jaxreg.solvers import SOLVERS

    for key, value in options.items():
        if value is None:
            continue
        users = [n for n, s in SOLVERS.items() if key in s.static_options or key in s.traced_options]
        # seed and devices: check_options lets every solver take them
        picked = ["fista"] if key in ("seed", "devices") else [n for n in users if n in AUTO_PICKS]
        if not picked:
            raise ValueError(
                f"options.{key} = {_fmt(value)} applies to solver{'s' * (len(users) > 1)} {', '.join(users)} only, "
                f"which solver 'auto' never picks; name the solver (solver: {users[0]})"
            )
        try:
            check_options(SOLVERS[picked[0]], {key: value})
        except ValueError as exc:
            raise ValueError(f"options.{key}: {exc}") from None
