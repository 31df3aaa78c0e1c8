"""jaxreg.path and the CV estimators on a design near the ends of the float range (issue 17
items 3 and 5, left over there): they divide X by fit's power of two
(:func:`jaxreg._fitparts.rescaling`, via :func:`jaxreg.path.rescaled_units`) and take sample
weights scale-free, so ``X * 1e200`` (float32: ``1e20``) gives the path of ``X`` with alphas
times 1e200 and coefficients divided by it, where it gave NaN. References: scikit-learn's
lasso_path, enet_path, ridge and LassoCV on the unscaled X."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LassoCV as SkLassoCV
from sklearn.linear_model import LinearRegression, lasso_path

import jaxreg
from jaxreg.penalties import L1, L2

from conftest import make_regression

C = 1e200


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_regression(40, 10, rho=0.4, n_informative=4, noise=0.3, seed=61)
    return X, y


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("form", ["dense", "sparse", "fista"])
def test_lasso_path_of_a_huge_design_is_sklearns_rescaled(data, form):
    X, y = data
    Xc = sp.csr_matrix(X * C) if form == "sparse" else X * C
    solver = "fista" if form == "fista" else "auto"
    ours = jaxreg.path(Xc, y, n_alphas=8, eps=1e-2, fit_intercept=False, tol=1e-10, solver=solver)
    assert np.all(np.isfinite(ours.coefs)) and ours.converged.all()
    alphas = ours.alphas / C  # the grid of X: alpha_max scales with X
    _, sk_coefs, _ = lasso_path(X, y, alphas=alphas, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(ours.coefs * C, sk_coefs, atol=1e-6 if form == "fista" else 1e-7)
    plain = jaxreg.path(X, y, n_alphas=8, eps=1e-2, fit_intercept=False, tol=1e-10, solver=solver)
    np.testing.assert_allclose(ours.alphas, plain.alphas * C, rtol=1e-12)


def test_float32_path_of_a_huge_design(data):
    X, y = data
    X32, y32 = (X * 1e20).astype(np.float32), y.astype(np.float32)
    ours = jaxreg.path(X32, y32, n_alphas=6, eps=1e-2, tol=1e-5)
    assert ours.coefs.dtype == np.float32 and np.all(np.isfinite(ours.coefs))
    plain = jaxreg.path(X.astype(np.float32), y32, n_alphas=6, eps=1e-2, tol=1e-5)
    np.testing.assert_allclose(ours.coefs * 1e20, plain.coefs, atol=2e-4)


def test_ridge_path_of_a_huge_design_is_least_squares(data):
    # L2 scales with the square: alpha on X * C is alpha / C^2 on X, below the float range
    # here, so every alpha gives the least-squares fit of X (it gave NaN: X^T X overflowed)
    X, y = data
    ours = jaxreg.path(X * C, y, penalty=L2(1.0), alphas=[3.0, 0.0])
    ref = LinearRegression().fit(X, y)
    for k in range(2):
        np.testing.assert_allclose(ours.coefs[:, k] * C, ref.coef_, atol=1e-9)
        assert ours.intercepts[k] == pytest.approx(ref.intercept_, abs=1e-9)


def test_path_sample_weights_are_scale_free(data):
    X, y = data
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    huge = jaxreg.path(X, y, n_alphas=6, eps=1e-2, tol=1e-10, sample_weight=sw * 1e306)
    plain = jaxreg.path(X, y, n_alphas=6, eps=1e-2, tol=1e-10, sample_weight=sw)
    assert np.all(np.isfinite(huge.coefs))
    np.testing.assert_allclose(huge.alphas, plain.alphas, rtol=1e-12)
    np.testing.assert_allclose(huge.coefs, plain.coefs, atol=1e-9)


@pytest.mark.parametrize("p", [10, 300], ids=["gram", "working_set"])
def test_lassocv_on_a_huge_design_picks_sklearns_alpha(p):
    X, y, _ = make_regression(60, p, rho=0.5, n_informative=6, noise=0.5, seed=62)
    ours = jaxreg.LassoCV(alphas=12, eps=1e-2, tol=1e-10, cv=3).fit(X * C, y)
    sk = quiet(SkLassoCV(alphas=12, eps=1e-2, tol=1e-10, max_iter=10**6, cv=3).fit, X, y)
    assert ours.alpha_ == pytest.approx(sk.alpha_ * C, rel=1e-10)
    np.testing.assert_allclose(ours.mse_path_, sk.mse_path_, rtol=1e-6)
    np.testing.assert_allclose(ours.coef_ * C, sk.coef_, atol=1e-7)
    assert ours.intercept_ == pytest.approx(sk.intercept_, abs=1e-7)


def test_lassocv_sample_weights_are_scale_free(data):
    X, y = data
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    ours = jaxreg.LassoCV(alphas=10, eps=1e-2, tol=1e-10, cv=3).fit(
        X, y, sample_weight=sw * 1e307
    )  # their sum overflows
    sk = quiet(SkLassoCV(alphas=10, eps=1e-2, tol=1e-10, max_iter=10**6, cv=3).fit, X, y, sample_weight=sw)
    assert ours.alpha_ == pytest.approx(sk.alpha_, rel=1e-10)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-7)


def test_logistic_cv_on_a_huge_design_is_the_rescaled_fit(data):
    # L1: C on X * c is C * c on X (|w| / C = |v| / (C c)); the refit is fit's own rescaling
    X, y = data
    labels = y > np.median(y)
    Cs = np.array([0.3, 3.0])
    kw = dict(l1_ratios=[1.0], cv=3, tol=1e-8, use_legacy_attributes=False)
    huge = jaxreg.LogisticRegressionCV(Cs=Cs / C, **kw).fit(X * C, labels)
    plain = jaxreg.LogisticRegressionCV(Cs=Cs, **kw).fit(X, labels)
    np.testing.assert_allclose(huge.scores_, plain.scores_)
    np.testing.assert_allclose(huge.coefs_paths_[..., :-1] * C, plain.coefs_paths_[..., :-1], atol=1e-6)
    assert np.all(np.isfinite(huge.coef_))
    # the L1 logistic fit of X at the chosen C, scikit-learn's meaning: alpha = 1 / (C n)
    ref = jaxreg.fit(X, labels, loss="logistic", penalty=L1(1.0 / (plain.C_ * len(y))), tol=1e-10)
    np.testing.assert_allclose(huge.coef_.ravel() * C, ref.coef, atol=1e-5)
