"""The problems a sweep can run, and which losses fit them.

Besides the synthetic kinds of :mod:`jaxreg.experiment.data` (``linear``, ``classification``,
``sinusoidal``), a sweep takes ``jaxreg run``'s ``counts`` (Poisson counts around a known
log-linear truth, :class:`jaxreg.experiment.run_data.CountData`) and ``amounts``
(:class:`AmountData`: Gamma or Tweedie targets around the same truth), so the GLM losses
have problems with a known answer.

A loss fits a problem when every target the problem can have is in the loss's domain:
``y > 0`` (gamma), ``y >= 0`` (poisson, tweedie with power < 2), any real number (squared,
huber) or class labels (logistic, multinomial). The losses' domains are read from their
``check_target``, so a loss added to :data:`jaxreg.losses.LOSSES` needs no table here.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from jaxreg.experiment.data import ClassificationData, LinearData, SinusoidalData, make_data
from jaxreg.experiment.run_data import CountData

__all__ = [
    "AmountData",
    "SweepDataSpec",
    "make_sweep_data",
    "natural_loss",
    "loss_fits",
    "loss_params",
    "build_loss",
]


class AmountData(CountData):
    """Positive amounts around the log-linear truth of ``counts`` (same design, coefficients,
    intercept and exposure; mean ``mu = exposure * exp(intercept + X w)``):
    ``distribution: gamma`` draws ``y ~ Gamma(shape 1/dispersion, scale mu * dispersion)``
    (every ``y > 0``); ``distribution: tweedie`` draws the compound Poisson-Gamma of Tweedie
    ``power`` p in (1, 2) (default 1.5) and that ``dispersion`` phi: ``N ~ Poisson(mu^(2-p) /
    (phi (2-p)))`` claims, each ``Gamma(shape (2-p)/(p-1), scale phi (p-1) mu^(p-1))``, so
    ``y = 0`` where ``N = 0`` (claims data: many zeros, positive amounts)."""

    kind: Literal["amounts"] = "amounts"
    distribution: Literal["gamma", "tweedie"] = "gamma"
    power: float | None = Field(None, gt=1.0, lt=2.0, description="tweedie only (default 1.5)")
    dispersion: float = Field(1.0, gt=0.0, description="phi: variance = phi * mu^power")

    @model_validator(mode="after")
    def _power_is_tweedies(self):
        if self.power is not None and self.distribution != "tweedie":
            raise ValueError(f"power applies to distribution 'tweedie' only, not {self.distribution!r}")
        return self

    @property
    def tweedie_power(self) -> float:
        """The power of the variance function: 2 for gamma, ``power`` (1.5) for tweedie."""
        return 2.0 if self.distribution == "gamma" else (self.power or 1.5)

    def make(self, dtype=np.float64):
        """The arrays (deterministic given ``seed``)."""
        from jaxreg.experiment.data import Dataset

        rng = np.random.default_rng([self.seed, 1])
        X, w, eta, offset = self.linear_predictor(rng, dtype)
        mu, phi, p = np.exp(eta), self.dispersion, self.tweedie_power
        if self.distribution == "gamma":
            y = rng.gamma(1.0 / phi, mu * phi)
        else:
            claims = rng.poisson(mu ** (2.0 - p) / (phi * (2.0 - p)))
            shape = claims * (2.0 - p) / (p - 1.0)  # a sum of N Gamma(a, s) is Gamma(N a, s)
            y = np.where(claims > 0, rng.gamma(np.maximum(shape, 1e-300), phi * (p - 1.0) * mu ** (p - 1.0)), 0.0)
        return Dataset(X, y.astype(dtype), "regression", w, offset=offset)


SweepDataSpec = Annotated[
    LinearData | ClassificationData | SinusoidalData | CountData | AmountData, Field(discriminator="kind")
]


def make_sweep_data(spec, dtype=np.float64):
    """The :class:`jaxreg.experiment.data.Dataset` of a :data:`SweepDataSpec`."""
    if isinstance(spec, CountData):  # counts and amounts
        return spec.make(dtype)
    return make_data(spec, dtype)


# Targets a problem can have, from the narrowest: each domain holds the ones before it.
_DOMAINS = ("positive", "nonnegative", "real")
_BOUND = {"positive": "y > 0", "nonnegative": "y >= 0", "real": "any real y", "labels": "class labels"}


def _target_domain(spec) -> str:
    if isinstance(spec, ClassificationData):
        return "labels"
    if isinstance(spec, AmountData):
        return "positive" if spec.distribution == "gamma" else "nonnegative"
    return "nonnegative" if isinstance(spec, CountData) else "real"


def _loss_domain(loss) -> str:
    """The widest domain whose probe target ``loss.check_target`` accepts."""
    if loss.is_classifier:
        return "labels"
    for domain, probe in (("real", -1.0), ("nonnegative", 0.0)):
        try:
            loss.check_target(np.array([probe]))
            return domain
        except ValueError:
            continue
    return "positive"


def loss_fits(loss, spec) -> str | None:
    """None when ``loss`` (a :class:`jaxreg.losses.Loss`) fits every target ``spec`` can
    have, else why not (``needs y > 0; kind 'counts' has y >= 0``)."""
    need, have = _loss_domain(loss), _target_domain(spec)
    if need == have or (need in _DOMAINS and have in _DOMAINS and _DOMAINS.index(have) < _DOMAINS.index(need)):
        return None
    return f"it needs {_BOUND[need]}; kind {spec.kind!r} has {_BOUND[have]}"


def natural_loss(spec):
    """The loss a problem was drawn for: squared (linear, sinusoidal), logistic (two classes)
    or multinomial, poisson (counts), gamma or tweedie of the data's power (amounts)."""
    from jaxreg.losses import Gamma, Logistic, Multinomial, Poisson, Squared, Tweedie

    if isinstance(spec, ClassificationData):
        return Logistic() if spec.n_classes == 2 else Multinomial()
    if isinstance(spec, AmountData):
        return Gamma() if spec.distribution == "gamma" else Tweedie(spec.tweedie_power)
    return Poisson() if isinstance(spec, CountData) else Squared()


def loss_params(loss) -> dict:
    """A loss's parameters (``{"power": 1.5}`` for Tweedie, ``{}`` for Poisson): what with
    its ``name`` rebuilds it (:func:`build_loss`)."""
    return {f.name: getattr(loss, f.name) for f in dataclasses.fields(loss)} if dataclasses.is_dataclass(loss) else {}


def build_loss(name: str, params=None):
    """The :class:`jaxreg.losses.Loss` named ``name`` with ``params`` (see :func:`loss_params`)."""
    from jaxreg.losses import LOSSES

    return LOSSES[name](**(params or {}))
