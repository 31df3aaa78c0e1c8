"""Config models for what is fitted: a penalty (with ``alpha`` absolute or as a fraction of
``alpha_max``) and a jaxreg solver with its options. Shared by sweeps and experiments.

Solver names are checked against the live registry :data:`jaxreg.solvers.SOLVERS`, so a
solver added there is usable in configs with no change here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jaxreg.experiment.config import StrictModel, did_you_mean
from jaxreg.penalties import PENALTIES, get_penalty

__all__ = ["PenaltySpec", "SolverRun", "PENALTY_KINDS", "PENALTY_NAMES"]

# A config's penalty ``kind`` -> its name in jaxreg.penalties.PENALTIES. Configs spell the
# elastic net "elastic_net"; weighted_l1 needs per-feature weights, which a config does not give.
PENALTY_NAMES = {{"elasticnet": "elastic_net"}.get(name, name): name for name in PENALTIES if name != "weighted_l1"}
PENALTY_KINDS = tuple(PENALTY_NAMES)
# the parameter only one kind takes (the others refuse it)
_OWN_PARAM = {"elastic_net": "l1_ratio", "lp": "p"}


class PenaltySpec(StrictModel):
    """A penalty: ``kind`` and its strength.

    ``alpha`` is absolute; ``alpha_ratio`` is a fraction of ``alpha_max`` (the smallest
    alpha giving all-zero coefficients), which exists for l1, elastic_net, linf and lp with
    p = 1. Give one of the two (neither for ``none``).
    """

    kind: Literal[PENALTY_KINDS]
    alpha: float | None = Field(None, ge=0.0)
    alpha_ratio: float | None = Field(None, gt=0.0)
    l1_ratio: float | None = Field(None, gt=0.0, le=1.0, description="elastic_net only (default 0.5)")
    p: float | None = Field(None, ge=1.0, description="lp only")

    @model_validator(mode="after")
    def _consistent(self):
        k = self.kind
        if k == "none":
            if self.alpha is not None or self.alpha_ratio is not None:
                raise ValueError("kind 'none' takes no alpha or alpha_ratio")
        elif (self.alpha is None) == (self.alpha_ratio is None):
            raise ValueError(f"kind {k!r} needs exactly one of alpha (absolute) or alpha_ratio (fraction of alpha_max)")
        if self.alpha_ratio is not None and not self.has_alpha_max:
            raise ValueError(
                f"alpha_ratio is not allowed for kind {k!r}{'' if k != 'lp' else f' with p={self.p}'}: alpha_max "
                "exists only for l1, elastic_net, linf and lp with p=1; give alpha instead"
            )
        for owner, param in _OWN_PARAM.items():
            if getattr(self, param) is not None and k != owner:
                raise ValueError(f"{param} applies to kind {owner!r} only, not {k!r}")
        if k == "lp" and self.p is None:
            raise ValueError("kind 'lp' needs p (a number >= 1)")
        return self

    @property
    def has_alpha_max(self) -> bool:
        return self.kind in ("l1", "elastic_net", "linf") or (self.kind == "lp" and self.p == 1.0)

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
        if self.kind in _OWN_PARAM:  # elastic_net's l1_ratio has a default; lp's p is required
            params[_OWN_PARAM[self.kind]] = self.l1_fraction if self.kind == "elastic_net" else self.p
        return get_penalty(PENALTY_NAMES[self.kind], **params)

    def resolve_alpha(self, X, y, loss, fit_intercept=True) -> float:
        """The absolute alpha on data ``(X, y)``: ``alpha``, or ``alpha_ratio * alpha_max``."""
        if self.kind == "none":
            return 0.0
        if self.alpha is not None:
            return float(self.alpha)
        from jaxreg import alpha_max

        amax = alpha_max(X, y, loss=loss, penalty=self.build(1.0), fit_intercept=fit_intercept)
        return float(self.alpha_ratio) * amax

    def label(self) -> str:
        """Short text: ``l1 alpha_max/100``, ``elastic_net(l1_ratio=0.5) alpha=0.1``."""
        extra = ""
        if self.kind == "elastic_net":
            extra = f"(l1_ratio={self.l1_fraction:g})"
        elif self.kind == "lp":
            extra = f"(p={self.p:g})"
        if self.kind == "none":
            return "none"
        if self.alpha_ratio is not None:
            inv = 1.0 / self.alpha_ratio
            strength = f"alpha_max/{inv:g}" if abs(inv - round(inv)) < 1e-9 else f"{self.alpha_ratio:g}*alpha_max"
        else:
            strength = f"alpha={self.alpha:g}"
        return f"{self.kind}{extra} {strength}"


class SolverRun(StrictModel):
    """A jaxreg solver (a name in :data:`jaxreg.solvers.SOLVERS`) with ``tol``, ``max_iter``
    and the solver's options, passed to :func:`jaxreg.fit` as they are."""

    solver: str
    tol: float | None = Field(None, ge=0.0)
    max_iter: int | None = Field(None, ge=1)
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
        return self

    def family(self) -> str:
        """``jaxreg:name`` plus the options (what stays the same across a tol grid)."""
        opts = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(self.options.items()))
        return f"jaxreg:{self.solver}" + (f"({opts})" if opts else "")

    def fit_kwargs(self) -> dict:
        return {"solver": self.solver, "tol": self.tol, "max_iter": self.max_iter, **self.options}


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
