"""The features a run fits on: a basis expansion and a scaler, fitted on the training inputs
(:func:`featurize`). Used by the run (:mod:`jaxreg.experiment.run`) and its plots
(:mod:`jaxreg.experiment.run_plots`)."""

from __future__ import annotations

import numpy as np

from jaxreg.experiment.run_config import FeatureSpec

__all__ = ["featurize"]


def featurize(spec: FeatureSpec, X_train, X_test):
    """``(transform, F_train, F_test)``: the basis and scaler are fitted on the training
    inputs only; ``transform`` maps new raw inputs (for plotted curves)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import jaxreg

    dtype = X_train.dtype
    if spec.degree == 0:  # the constant model: one zero column, so only the intercept fits
        zero = lambda X: np.zeros((X.shape[0], 1), dtype)
        return zero, zero(X_train), None if X_test is None else zero(X_test)
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
        return (lambda X: X), X_train, X_test
    pipe = make_pipeline(*steps).fit(X_train)

    def transform(X):
        out = pipe.transform(X)
        return out.astype(dtype) if hasattr(out, "astype") else out

    return transform, transform(X_train), None if X_test is None else transform(X_test)
