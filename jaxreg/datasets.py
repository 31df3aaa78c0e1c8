"""Synthetic data generators and scikit-learn's bundled data sets.

The generators are deterministic given ``seed`` and return numpy arrays; the correlated
designs are the ones used in the sparse-regression literature (and by celer/skglm
benchmarks): Gaussian columns with ``corr(x_i, x_j) = rho^|i - j|``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "make_sinusoidal",
    "make_correlated_regression",
    "make_correlated_classification",
    "load_builtin",
    "BUILTIN",
]


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be an integer >= {minimum}")
    return int(value)


def _check_rho(rho):
    if not (0.0 <= float(rho) < 1.0):
        raise ValueError(f"rho={rho!r} is not allowed; rho (column correlation) must be in [0, 1)")
    return float(rho)


def make_sinusoidal(n_samples=10, noise=0.3, seed=0, x_range=(0.0, 1.0), random_x=True):
    """``y = sin(2 pi x) + N(0, noise^2)`` with ``x`` uniform on ``x_range`` (Bishop, ch. 1).

    Returns ``X`` of shape (n_samples, 1) and ``y``.
    """
    n = _check_int(n_samples, "n_samples", 1)
    rng = np.random.default_rng(seed)
    lo, hi = x_range
    x = np.sort(rng.uniform(lo, hi, n)) if random_x else np.linspace(lo, hi, n)
    y = np.sin(2 * np.pi * x) + noise * rng.standard_normal(n)
    return x[:, None], y


def _correlated_design(rng, n, p, rho, dtype):
    """Gaussian columns with corr = rho^|i-j| (an AR(1) recursion across columns)."""
    X = rng.standard_normal((n, p)).astype(dtype)
    if rho > 0:
        c = np.sqrt(1.0 - rho**2)
        for j in range(1, p):
            X[:, j] *= c
            X[:, j] += rho * X[:, j - 1]
    return X


def make_correlated_regression(
    n_samples=100,
    n_features=50,
    rho=0.5,
    n_informative=10,
    snr=3.0,
    noise=None,
    intercept=0.0,
    seed=0,
    dtype=np.float64,
):
    """A correlated Gaussian design and a sparse linear truth.

    Parameters
    ----------
    rho : float in [0, 1)
        Column correlation ``corr(x_i, x_j) = rho^|i-j|``.
    n_informative : int
        Nonzero true coefficients (spread evenly over the features, standard normal).
    snr : float
        Signal-to-noise ratio ``||X w|| / ||noise||`` (used when ``noise`` is None).
    noise : float, optional
        Standard deviation of the Gaussian noise (overrides ``snr``).

    Returns
    -------
    X, y, w_true
    """
    n = _check_int(n_samples, "n_samples", 1)
    p = _check_int(n_features, "n_features", 1)
    k = _check_int(n_informative, "n_informative", 0)
    if k > p:
        raise ValueError(f"n_informative={k} is not allowed; it must be <= n_features={p}")
    rho = _check_rho(rho)
    rng = np.random.default_rng(seed)
    X = _correlated_design(rng, n, p, rho, dtype)
    w = np.zeros(p, dtype)
    support = np.round(np.linspace(0, p - 1, k)).astype(int) if k else np.array([], int)
    w[support] = rng.standard_normal(k)
    signal = X @ w
    eps = rng.standard_normal(n)
    if noise is None:
        scale = np.linalg.norm(signal) / (snr * np.linalg.norm(eps)) if np.any(signal) else 1.0
    else:
        scale = float(noise)
    y = (signal + scale * eps + intercept).astype(dtype)
    return X, y, w


def make_correlated_classification(
    n_samples=200, n_features=20, rho=0.3, n_informative=5, n_classes=2, seed=0, dtype=np.float64
):
    """Labels drawn from a softmax (logistic for two classes) of a sparse linear model."""
    n = _check_int(n_samples, "n_samples", 1)
    p = _check_int(n_features, "n_features", 1)
    k = _check_int(n_informative, "n_informative", 1)
    K = _check_int(n_classes, "n_classes", 2)
    rng = np.random.default_rng(seed)
    X = _correlated_design(rng, n, p, _check_rho(rho), dtype)
    W = np.zeros((p, K))
    support = np.round(np.linspace(0, p - 1, min(k, p))).astype(int)
    W[support] = 2.0 * rng.standard_normal((len(support), K))
    logits = X @ W + rng.gumbel(size=(n, K))  # Gumbel-max: a draw from the softmax
    y = np.argmax(logits, axis=1)
    return X, y, W


BUILTIN = {
    "diabetes": ("load_diabetes", "regression"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "digits": ("load_digits", "classification"),
}


def load_builtin(name):
    """One of scikit-learn's bundled data sets (no download): returns ``X, y, task``."""
    if name not in BUILTIN:
        raise ValueError(f"dataset {name!r} is not a bundled data set; allowed: {sorted(BUILTIN)}")
    import sklearn.datasets

    loader, task = BUILTIN[name]
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y), task
