"""HuberRegressor against scikit-learn's (objective, gradient, fits), finite differences,
the fixed-scale identity with jaxreg.fit's Huber loss, and its invariances."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import approx_fprime
from sklearn.linear_model import HuberRegressor as SkHuber
from sklearn.linear_model._huber import _huber_loss_and_gradient

import jaxreg
from jaxreg.huber import huber_objective
from jaxreg.losses import Huber
from jaxreg.penalties import L2

TIGHT = dict(tol=1e-11, max_iter=5000)


def _data(n=120, p=5, seed=0, outliers=12):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + 0.5 + 0.3 * rng.normal(size=n)
    y[:outliers] += rng.choice([-1, 1], outliers) * rng.uniform(5, 20, outliers)
    return X, y


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_objective_and_gradient_match_scikit_learn_and_finite_differences(fit_intercept):
    X, y = _data()
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2.0, len(y))
    params = np.r_[rng.normal(size=X.shape[1]), [0.3] if fit_intercept else [], [0.7]]
    value, grad = huber_objective(params, X, y, 1.35, 0.1, sw, fit_intercept)
    sk_value, sk_grad = _huber_loss_and_gradient(params, X, y, 1.35, 0.1, sw)
    assert value == pytest.approx(sk_value, rel=1e-12)
    np.testing.assert_allclose(grad, sk_grad, rtol=1e-10, atol=1e-10)
    fd = approx_fprime(params, lambda q: huber_objective(q, X, y, 1.35, 0.1, sw, fit_intercept)[0], 1e-7)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 1e-4, 1.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_scikit_learn(alpha, fit_intercept):
    """Same minimiser as scikit-learn's; ours reaches tol where scikit-learn's L-BFGS-B stops
    on a small relative decrease (~1e-6 away), so ours is never the worse of the two."""
    X, y = _data()
    ours = jaxreg.HuberRegressor(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    ref = SkHuber(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-4, abs=1e-6)
    assert ours.scale_ == pytest.approx(ref.scale_, rel=1e-4)
    np.testing.assert_array_equal(ours.outliers_, ref.outliers_)

    def params(est):
        return np.r_[est.coef_, [est.intercept_] if fit_intercept else [], est.scale_]

    sw = np.ones(len(y))
    f_ours, g_ours = _huber_loss_and_gradient(params(ours), X, y, 1.35, alpha, sw)
    f_ref, _ = _huber_loss_and_gradient(params(ref), X, y, 1.35, alpha, sw)
    assert f_ours <= f_ref + 1e-12 * abs(f_ref)
    assert np.abs(g_ours).max() <= 1e-9  # scikit-learn's own gradient at our answer


def test_fixed_scale_is_jaxreg_fit_with_the_huber_loss():
    """At the fitted scale sigma, the coefficients minimise Huber(epsilon sigma) + L2(alpha sigma / S)."""
    X, y = _data()
    sw = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    est = jaxreg.HuberRegressor(alpha=0.5, **TIGHT).fit(X, y, sample_weight=sw)
    sigma = est.scale_
    res = jaxreg.fit(
        X, y, loss=Huber(1.35 * sigma), penalty=L2(0.5 * sigma / sw.sum()), sample_weight=sw, tol=1e-12, max_iter=10000
    )
    np.testing.assert_allclose(np.asarray(res.coef), est.coef_, rtol=1e-6, atol=1e-8)
    assert float(res.intercept) == pytest.approx(est.intercept_, rel=1e-6, abs=1e-8)


def test_scale_equivariance_without_penalty():
    X, y = _data()
    a = jaxreg.HuberRegressor(alpha=0.0, **TIGHT).fit(X, y)
    b = jaxreg.HuberRegressor(alpha=0.0, **TIGHT).fit(X, 1000.0 * y)
    np.testing.assert_allclose(b.coef_, 1000.0 * a.coef_, rtol=1e-6)
    assert b.scale_ == pytest.approx(1000.0 * a.scale_, rel=1e-6)
    np.testing.assert_array_equal(a.outliers_, b.outliers_)


def test_sparse_weights_and_warm_start():
    X, y = _data()
    dense = jaxreg.HuberRegressor(**TIGHT).fit(X, y)
    sparse = jaxreg.HuberRegressor(**TIGHT).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
    # integer weights = repeated rows
    k = np.random.default_rng(3).integers(1, 4, len(y))
    weighted = jaxreg.HuberRegressor(**TIGHT).fit(X, y, sample_weight=k.astype(float))
    repeated = jaxreg.HuberRegressor(**TIGHT).fit(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-8)
    assert weighted.scale_ == pytest.approx(repeated.scale_, rel=1e-6)
    # a warm start from the optimum takes no iteration
    warm = jaxreg.HuberRegressor(warm_start=True, **TIGHT).fit(X, y)
    warm.fit(X, y)
    assert warm.n_iter_ == 0


def test_max_iter_warns_and_bad_parameters_are_named():
    X, y = _data()
    with pytest.warns(Warning, match="max_iter"):
        est = jaxreg.HuberRegressor(max_iter=1).fit(X, y)
    assert est.n_iter_ == 1
    for name, value in [("epsilon", 0.5), ("alpha", -1.0), ("max_iter", 1.5), ("tol", float("nan"))]:
        with pytest.raises(ValueError, match=f"{name}="):
            jaxreg.HuberRegressor(**{name: value}).fit(X, y)


def test_more_features_than_samples_interpolates_with_least_norm():
    """p > n: sigma goes to its bound and the limit is the least-norm interpolant (the
    gradient there is rounding noise over sigma ~ 1e-15, which L-BFGS-B cannot settle)."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(12, 30)), rng.normal(size=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: the limit is exact
        est = jaxreg.HuberRegressor(max_iter=1000).fit(X, y)
    Xc = X - X.mean(axis=0)
    w = np.linalg.pinv(Xc) @ (y - y.mean())
    np.testing.assert_allclose(est.coef_, w, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.predict(X), y, atol=1e-10)
    ref = SkHuber(max_iter=1000).fit(X, y)
    sw = np.ones(len(y))
    ours = _huber_loss_and_gradient(np.r_[est.coef_, est.intercept_, est.scale_], X, y, 1.35, 1e-4, sw)[0]
    theirs = _huber_loss_and_gradient(np.r_[ref.coef_, ref.intercept_, ref.scale_], X, y, 1.35, 1e-4, sw)[0]
    assert ours <= theirs + 1e-12
