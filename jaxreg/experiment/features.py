"""The features a run fits on: a basis expansion and a scaler, fitted on the training inputs
(:func:`featurize`). Used by the run (:mod:`jaxreg.experiment.run`) and its plots
(:mod:`jaxreg.experiment.run_plots`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxreg.experiment.run_config import FeatureSpec

__all__ = ["Features", "featurize", "default_names", "standardizer"]


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


def standardizer(F):
    """``F -> (F - mean) / std`` with the training columns' mean and population standard
    deviation (a constant column keeps scale 1; sparse input is only scaled: centring would
    densify it), scikit-learn's ``StandardScaler`` transform (tests/test_run_split.py checks
    it against it). Written here because importing scikit-learn costs ~1 s of a run's start,
    and a run without a basis needs nothing else from it."""
    sparse = hasattr(F, "tocsr")
    n = F.shape[0]
    if sparse:  # float64 accumulators, as scikit-learn
        mean = np.asarray(F.mean(axis=0, dtype=np.float64)).ravel()
        var = np.maximum(np.asarray(F.multiply(F).mean(axis=0, dtype=np.float64)).ravel() - mean**2, 0)
    else:
        mean = F.mean(axis=0, dtype=np.float64)
        var = ((F - mean) ** 2).mean(axis=0)
    # a column is constant when its variance is within rounding of zero (scikit-learn's bound)
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    if sparse:
        import scipy.sparse as sps

        return lambda X: sps.csr_matrix(X) @ sps.diags((1 / scale).astype(F.dtype))
    return lambda X: (X - mean.astype(F.dtype)) / scale.astype(F.dtype)


def featurize(spec: FeatureSpec, X_train, X_test, names=None) -> Features:
    """The basis and scaler fitted on the training inputs only. ``names`` are the input
    columns' names (default ``x0, x1, ...``); the features' names follow them through the
    basis (``x^2``, ``x_c3``, ...)."""
    import jaxreg

    dtype = X_train.dtype
    if spec.degree == 0:  # the constant model: one zero column, so only the intercept fits
        zero = lambda X: np.zeros((X.shape[0], 1), dtype)
        return Features(zero, zero(X_train), None if X_test is None else zero(X_test), ("zero",))
    names = tuple(names) if names is not None else default_names(np.shape(X_train)[1])
    basis = None
    if spec.basis == "polynomial":
        basis = jaxreg.PolynomialBasis(degree=spec.degree or 3)
    elif spec.basis in ("gaussian", "sigmoid"):
        cls = jaxreg.GaussianBasis if spec.basis == "gaussian" else jaxreg.SigmoidBasis
        basis = cls(n_centers=spec.n_centers or 10, width=spec.width)
    elif spec.basis == "fourier":
        basis = jaxreg.FourierBasis(n_frequencies=spec.n_frequencies or 5, period=spec.period)
    expand = (lambda X: X) if basis is None else basis.fit(X_train).transform
    F = expand(X_train)
    if basis is not None:
        try:
            names = tuple(str(n) for n in basis.get_feature_names_out(list(names)))
        except (AttributeError, ValueError):  # a basis that names nothing: count them
            names = ()
    if len(names) != F.shape[1]:
        names = default_names(F.shape[1])
    scale = standardizer(F) if spec.standardize else (lambda X: X)

    def transform(X):
        out = scale(expand(X))
        return out.astype(dtype) if hasattr(out, "astype") and out.dtype != dtype else out

    if basis is None and not spec.standardize:
        return Features(lambda X: X, X_train, X_test, names)
    return Features(transform, transform(X_train), None if X_test is None else transform(X_test), names)
