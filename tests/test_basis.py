"""Basis transformers against their formulas, computed here one scalar at a time."""

import math

import numpy as np
import pytest

from jaxreg import FourierBasis, GaussianBasis, PolynomialBasis, SigmoidBasis


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(-2.0, 3.0, 7), rng.uniform(10.0, 11.0, 7)])


def _by_column(Phi, n_features):
    """(n, n_features * k) -> (n, n_features, k): the output is grouped by input column."""
    return Phi.reshape(Phi.shape[0], n_features, -1)


def test_polynomial_is_powers_of_each_column(X):
    Phi = PolynomialBasis(degree=4).fit_transform(X)
    assert Phi.shape == (7, 8)
    P = _by_column(Phi, 2)
    for i, j, k in np.ndindex(7, 2, 4):
        assert P[i, j, k] == pytest.approx(X[i, j] ** (k + 1), rel=1e-14)
    with_bias = PolynomialBasis(degree=2, include_bias=True).fit(X)
    np.testing.assert_array_equal(with_bias.transform(X)[:, 0], 1.0)
    assert with_bias.get_feature_names_out().tolist() == ["1", "x0", "x0^2", "x1", "x1^2"]


def test_gaussian_default_centres_span_each_column(X):
    basis = GaussianBasis(n_centers=5).fit(X)
    for j in range(2):
        lo, hi = X[:, j].min(), X[:, j].max()
        np.testing.assert_allclose(basis.centers_[:, j], [lo + t * (hi - lo) / 4 for t in range(5)])
        assert basis.width_[j] == pytest.approx((hi - lo) / 4)  # the spacing of the centres
    P = _by_column(basis.transform(X), 2)
    for i, j, k in np.ndindex(7, 2, 5):
        mu, s = basis.centers_[k, j], basis.width_[j]
        assert P[i, j, k] == pytest.approx(math.exp(-((X[i, j] - mu) ** 2) / (2 * s**2)), rel=1e-13)


def test_sigmoid_with_given_centres_and_width(X):
    centers = np.array([[-1.0, 10.2], [0.0, 10.5], [2.0, 10.9]])
    basis = SigmoidBasis(centers=centers, width=[0.5, 0.1]).fit(X)
    P = _by_column(basis.transform(X), 2)
    for i, j, k in np.ndindex(7, 2, 3):
        s = [0.5, 0.1][j]
        assert P[i, j, k] == pytest.approx(1.0 / (1.0 + math.exp(-(X[i, j] - centers[k, j]) / s)), rel=1e-13)
    # 1-D centres are shared by every column.
    shared = SigmoidBasis(centers=[0.0, 10.5], width=1.0).fit(X)
    np.testing.assert_array_equal(shared.centers_, [[0.0, 0.0], [10.5, 10.5]])


def test_fourier_is_sines_and_cosines(X):
    basis = FourierBasis(n_frequencies=3).fit(X)
    np.testing.assert_allclose(basis.period_, 2 * (X.max(0) - X.min(0)))
    P = _by_column(basis.transform(X), 2)
    for i, j, k in np.ndindex(7, 2, 3):
        theta = 2 * math.pi * (k + 1) * X[i, j] / basis.period_[j]
        assert P[i, j, 2 * k] == pytest.approx(math.sin(theta), abs=1e-13)
        assert P[i, j, 2 * k + 1] == pytest.approx(math.cos(theta), abs=1e-13)
    names = FourierBasis(n_frequencies=2, period=1.0).fit(X).get_feature_names_out(["a", "b"])
    assert names.tolist() == ["a_sin1", "a_cos1", "a_sin2", "a_cos2", "b_sin1", "b_cos1", "b_sin2", "b_cos2"]


@pytest.mark.parametrize("basis", [PolynomialBasis(2), GaussianBasis(3), SigmoidBasis(3), FourierBasis(2)])
def test_float32_stays_float32(basis, X):
    out = basis.fit_transform(X.astype(np.float32))
    assert out.dtype == np.float32
    # float32 rounding of x ~ 10 (6e-7) shifts a phase 2 pi k x / P by up to ~1e-5.
    np.testing.assert_allclose(out, basis.fit_transform(X), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize(
    "basis, match",
    [
        (PolynomialBasis(degree=0), "degree=0"),
        (PolynomialBasis(degree=2.5), "degree=2.5"),
        (GaussianBasis(n_centers=0), "n_centers=0"),
        (GaussianBasis(centers=[[0.0, 1.0, 2.0]]), "centers has shape"),
        (SigmoidBasis(width=-1.0), "width=-1.0"),
        (SigmoidBasis(width=[1.0, 2.0, 3.0]), "one value per input feature"),
        (FourierBasis(n_frequencies=2, period=0.0), "period=0.0"),
    ],
)
def test_bad_parameters_name_the_argument(basis, match, X):
    with pytest.raises(ValueError, match=match):
        basis.fit(X)
