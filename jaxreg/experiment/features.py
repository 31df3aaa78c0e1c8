"""The features a run fits on: a basis expansion and a scaler, fitted on the training inputs
(:func:`featurize`). Used by the run (:mod:`jaxreg.experiment.run`) and its plots
(:mod:`jaxreg.experiment.run_plots`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxreg.experiment.run_config import FeatureSpec

__all__ = ["Features", "featurize", "default_names"]


class Features(NamedTuple):
    """What a run fits on: ``transform`` maps raw inputs to features (for plotted curves),
    ``train``/``test`` the transformed inputs, ``names`` one name per feature column."""

    transform: object
    train: object
    test: object
    names: tuple


def default_names(n: int) -> tuple:
    """``x0, x1, ...``: the names of columns that come without any (counted from 0, as the
    columns of ``coefficients.npz`` are)."""
    return tuple(f"x{j}" for j in range(n))


def featurize(spec: FeatureSpec, X_train, X_test, names=None) -> Features:
    """The basis and scaler fitted on the training inputs only. ``names`` are the input
    columns' names (default ``x0, x1, ...``); the features' names follow them through the
    basis (``x^2``, ``x_c3``, ...)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import jaxreg

    dtype = X_train.dtype
    if spec.degree == 0:  # the constant model: one zero column, so only the intercept fits
        zero = lambda X: np.zeros((X.shape[0], 1), dtype)
        return Features(zero, zero(X_train), None if X_test is None else zero(X_test), ("zero",))
    names = tuple(names) if names is not None else default_names(np.shape(X_train)[1])
    steps = []
    if spec.basis == "polynomial":
        steps.append(jaxreg.PolynomialBasis(degree=spec.degree or 3))
    elif spec.basis in ("gaussian", "sigmoid"):
        cls = jaxreg.GaussianBasis if spec.basis == "gaussian" else jaxreg.SigmoidBasis
        steps.append(cls(n_centers=spec.n_centers or 10, width=spec.width))
    elif spec.basis == "fourier":
        steps.append(jaxreg.FourierBasis(n_frequencies=spec.n_frequencies or 5, period=spec.period))
    if spec.standardize:
        sparse = hasattr(X_train, "tocsr")
        steps.append(StandardScaler(with_mean=not sparse))  # centring would densify sparse input
    if not steps:
        return Features(lambda X: X, X_train, X_test, names)
    pipe = make_pipeline(*steps).fit(X_train)

    def transform(X):
        out = pipe.transform(X)
        return out.astype(dtype) if hasattr(out, "astype") else out

    F = transform(X_train)
    try:
        out_names = tuple(str(n) for n in pipe.get_feature_names_out(list(names)))
    except (AttributeError, ValueError):  # a step that names nothing: count them
        out_names = default_names(F.shape[1])
    if len(out_names) != F.shape[1]:
        out_names = default_names(F.shape[1])
    return Features(transform, F, None if X_test is None else transform(X_test), out_names)
