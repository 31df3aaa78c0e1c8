"""Data sources in configs: a ``kind`` and its parameters, validated by pydantic, built into
numpy arrays by :func:`make_data`.

Synthetic generators only for now (``linear``, ``classification``, ``sinusoidal``, all from
:mod:`jaxreg.datasets`); files and bundled data sets join :data:`DataSpec` as more members
of the same discriminated union.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from jaxreg.experiment.config import MAX_COUNT, MAX_SEED, StrictModel

__all__ = ["LinearData", "ClassificationData", "SinusoidalData", "DataSpec", "Dataset", "make_data"]


class LinearData(StrictModel):
    """A correlated Gaussian design (``corr(x_i, x_j) = rho^|i-j|``) and a sparse linear
    truth: :func:`jaxreg.datasets.make_correlated_regression`."""

    kind: Literal["linear"] = "linear"
    n_samples: int = Field(100, ge=1, le=MAX_COUNT)
    n_features: int = Field(50, ge=1, le=MAX_COUNT)
    rho: float = Field(0.5, ge=0.0, lt=1.0, description="column correlation")
    n_informative: int = Field(10, ge=0, le=MAX_COUNT, description="nonzero true coefficients")
    snr: float = Field(3.0, gt=0.0, description="||X w|| / ||noise|| (ignored when noise is given)")
    noise: float | None = Field(None, ge=0.0, description="noise standard deviation")
    seed: int = Field(0, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _informative_fits(self):
        if self.n_informative > self.n_features:
            raise ValueError(f"n_informative={self.n_informative} must be <= n_features={self.n_features}")
        return self


class ClassificationData(StrictModel):
    """Labels drawn from a softmax of a sparse linear model on a correlated design:
    :func:`jaxreg.datasets.make_correlated_classification`."""

    kind: Literal["classification"] = "classification"
    n_samples: int = Field(200, ge=1, le=MAX_COUNT)
    n_features: int = Field(20, ge=1, le=MAX_COUNT)
    rho: float = Field(0.3, ge=0.0, lt=1.0)
    n_informative: int = Field(5, ge=1, le=MAX_COUNT)
    n_classes: int = Field(2, ge=2, le=MAX_COUNT)
    seed: int = Field(0, ge=0, le=MAX_SEED)


class SinusoidalData(StrictModel):
    """``sin(2 pi x)`` plus Gaussian noise, ``x`` uniform on [0, 1]: one feature."""

    kind: Literal["sinusoidal"] = "sinusoidal"
    n_samples: int = Field(10, ge=1, le=MAX_COUNT)
    noise: float = Field(0.3, ge=0.0)
    random_x: bool = Field(True, description="x uniform at random, else evenly spaced on [0, 1]")
    seed: int = Field(0, ge=0, le=MAX_SEED)


DataSpec = Annotated[LinearData | ClassificationData | SinusoidalData, Field(discriminator="kind")]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays built from a spec: ``task`` is "regression" or "classification";
    ``feature_names`` the columns' names where the data has them (a CSV header);
    ``offset`` a fixed term per sample added to every model's linear predictor
    (``jaxreg.fit(offset=...)``), where the data has one."""

    X: np.ndarray
    y: np.ndarray
    task: str
    coef_true: np.ndarray | None = None
    feature_names: tuple[str, ...] | None = None
    offset: np.ndarray | None = None

    @property
    def shape(self):
        return self.X.shape


def make_data(spec, dtype=np.float64) -> Dataset:
    """Build the arrays a data spec describes (deterministic given its ``seed``).

    Parameters
    ----------
    spec : LinearData, ClassificationData or SinusoidalData
    dtype : numpy dtype of ``X`` (and of ``y`` for regression)

    Returns
    -------
    Dataset

    Examples
    --------
    >>> ds = make_data(LinearData(n_samples=20, n_features=5, n_informative=2))
    >>> ds.X.shape, ds.task, int((ds.coef_true != 0).sum())
    ((20, 5), 'regression', 2)
    """
    from jaxreg import datasets

    if isinstance(spec, LinearData):
        X, y, w = datasets.make_correlated_regression(
            spec.n_samples,
            spec.n_features,
            rho=spec.rho,
            n_informative=spec.n_informative,
            snr=spec.snr,
            noise=spec.noise,
            seed=spec.seed,
            dtype=dtype,
        )
        return Dataset(X, y, "regression", w)
    if isinstance(spec, ClassificationData):
        X, y, W = datasets.make_correlated_classification(
            spec.n_samples,
            spec.n_features,
            rho=spec.rho,
            n_informative=min(spec.n_informative, spec.n_features),
            n_classes=spec.n_classes,
            seed=spec.seed,
            dtype=dtype,
        )
        return Dataset(X, y, "classification", W)
    if isinstance(spec, SinusoidalData):
        X, y = datasets.make_sinusoidal(spec.n_samples, noise=spec.noise, seed=spec.seed, random_x=spec.random_x)
        return Dataset(X.astype(dtype), y.astype(dtype), "regression")
    raise TypeError(f"no builder for data spec {spec!r}")
