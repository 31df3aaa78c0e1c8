"""Bayesian linear regression against scikit-learn's BayesianRidge, scipy's Gaussian
densities, direct Gaussian conditioning and ridge regression."""

import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import BayesianRidge
from sklearn.linear_model import Ridge as SkRidge

from jaxreg import BayesianLinearRegression, LinearRegression, Ridge, fit
from jaxreg.penalties import L2

from conftest import make_regression


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_regression(60, 6, rho=0.5, n_informative=4, noise=0.5, seed=11)
    return X, y


def _bayesian_ridge(fit_intercept):
    """scikit-learn's BayesianRidge with its Gamma hyperpriors switched off (then its fixed
    point is plain evidence maximisation) and run to a tight tolerance."""
    return BayesianRidge(
        alpha_1=0.0,
        alpha_2=0.0,
        lambda_1=0.0,
        lambda_2=0.0,
        tol=1e-12,
        max_iter=10000,
        fit_intercept=fit_intercept,
        compute_score=True,
    )


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_evidence_maximisation_matches_bayesian_ridge(data, fit_intercept):
    X, y = data
    ours = BayesianLinearRegression(fit_intercept=fit_intercept, tol=1e-12, max_iter=10000).fit(X, y)
    sk = _bayesian_ridge(fit_intercept).fit(X, y)
    # Names: our alpha (weight precision) is sklearn's lambda_, our beta its alpha_.
    assert ours.alpha_ == pytest.approx(sk.lambda_, rel=1e-8)
    assert ours.beta_ == pytest.approx(sk.alpha_, rel=1e-8)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-8)
    assert ours.intercept_ == pytest.approx(sk.intercept_, rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(ours.sigma_, sk.sigma_, rtol=1e-7)
    assert ours.log_marginal_likelihood_ == pytest.approx(sk.scores_[-1], rel=1e-9)
    mean, std = ours.predict(X[:10], return_std=True)
    sk_mean, sk_std = sk.predict(X[:10], return_std=True)
    np.testing.assert_allclose(mean, sk_mean, rtol=1e-9)
    # BayesianRidge leaves out the intercept's posterior variance 1/(beta n) (flat prior on b).
    extra = 1.0 / (ours.beta_ * X.shape[0]) if fit_intercept else 0.0
    np.testing.assert_allclose(std**2, sk_std**2 + extra, rtol=1e-8)


def test_weighted_fit_matches_bayesian_ridge(data):
    X, y = data
    sw = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0])
    ours = BayesianLinearRegression(tol=1e-12, max_iter=10000).fit(X, y, sample_weight=sw)
    sk = _bayesian_ridge(True).fit(X, y, sample_weight=sw)
    assert ours.alpha_ == pytest.approx(sk.lambda_, rel=1e-8)
    assert ours.beta_ == pytest.approx(sk.alpha_, rel=1e-8)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-8)


def test_log_evidence_is_the_gaussian_marginal_and_is_maximised(data):
    X, y = data
    blr = BayesianLinearRegression(fit_intercept=False, tol=1e-12, max_iter=10000).fit(X, y)

    def reference(log_a, log_b):
        # y ~ N(0, I/beta + X X^T / alpha) once w is integrated out (Bishop 3.85).
        cov = np.eye(len(y)) / np.exp(log_b) + X @ X.T / np.exp(log_a)
        return stats.multivariate_normal(np.zeros(len(y)), cov).logpdf(y)

    for a, b in [(0.3, 2.0), (blr.alpha_, blr.beta_), (5.0, 0.1)]:
        assert blr.log_marginal_likelihood(a, b) == pytest.approx(reference(np.log(a), np.log(b)), rel=1e-10)
    # At the re-estimated (alpha, beta) the evidence is stationary: its gradient in
    # (log alpha, log beta), by central differences of the scipy density, vanishes.
    la, lb, h = np.log(blr.alpha_), np.log(blr.beta_), 1e-4
    grad = [
        (reference(la + h, lb) - reference(la - h, lb)) / (2 * h),
        (reference(la, lb + h) - reference(la, lb - h)) / (2 * h),
    ]
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)
    best = optimize.minimize(
        lambda t: -reference(*t),
        x0=[0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
    )
    np.testing.assert_allclose([la, lb], best.x, atol=1e-4)


def test_posterior_from_the_augmented_design():
    """With fixed alpha, beta: Bishop 3.53-3.54 on the design [X, 1] with the prior precision
    diag(alpha, ..., alpha, 0) (a flat prior on the intercept), without any centring."""
    X, y, _ = make_regression(25, 4, noise=0.3, seed=12)
    alpha, beta = 0.7, 4.0
    blr = BayesianLinearRegression(alpha, beta, fit_hyperparameters=False).fit(X, y)
    A = np.column_stack([X, np.ones(len(y))])
    post_cov = np.linalg.inv(np.diag([alpha] * 4 + [0.0]) + beta * A.T @ A)
    post_mean = beta * post_cov @ A.T @ y
    np.testing.assert_allclose(blr.coef_, post_mean[:4], rtol=1e-10)
    assert blr.intercept_ == pytest.approx(post_mean[4], rel=1e-10)
    np.testing.assert_allclose(blr.sigma_, post_cov[:4, :4], rtol=1e-10)
    Xq = np.random.default_rng(0).standard_normal((5, 4)) * 3
    Aq = np.column_stack([Xq, np.ones(5)])
    mean, std = blr.predict(Xq, return_std=True)
    np.testing.assert_allclose(mean, Aq @ post_mean, rtol=1e-10)
    # Predictive variance 1/beta + a^T S a (Bishop 3.59), intercept uncertainty included.
    np.testing.assert_allclose(std**2, 1 / beta + np.einsum("ij,jk,ik->i", Aq, post_cov, Aq), rtol=1e-10)
    assert blr.n_iter_ == 0 and blr.alpha_ == alpha and blr.beta_ == beta


@pytest.mark.parametrize("fit_hyperparameters", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sequential_updates_equal_the_batch_posterior(data, fit_hyperparameters, fit_intercept):
    X, y = data
    kw = dict(fit_hyperparameters=fit_hyperparameters, fit_intercept=fit_intercept, tol=1e-13, max_iter=10000)
    if not fit_hyperparameters:
        kw.update(alpha=0.5, beta=3.0)
    batch = BayesianLinearRegression(**kw).fit(X, y)
    seq = BayesianLinearRegression(**kw)
    for chunk in np.split(np.arange(len(y)), [1, 7, 30, 31]):  # uneven, one of a single sample
        seq.partial_fit(X[chunk], y[chunk])
    for name in ("coef_", "sigma_", "intercept_", "alpha_", "beta_", "log_marginal_likelihood_"):
        np.testing.assert_allclose(getattr(seq, name), getattr(batch, name), rtol=1e-7, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(seq.predict(X[:5], return_std=True), batch.predict(X[:5], return_std=True), rtol=1e-8)
    # fit() forgets what partial_fit saw.
    np.testing.assert_allclose(seq.fit(X[:30], y[:30]).coef_, BayesianLinearRegression(**kw).fit(X[:30], y[:30]).coef_)


def test_partial_fit_uses_the_posterior_as_the_prior(data):
    """Bishop 3.49-3.51 by hand: after batch 1 the prior is N(m1, S1); batch 2 gives
    S2^-1 = S1^-1 + beta X2^T X2 and m2 = S2 (S1^-1 m1 + beta X2^T y2)."""
    X, y = data
    alpha, beta = 0.5, 3.0
    X1, y1, X2, y2 = X[:20], y[:20], X[20:], y[20:]
    S1_inv = alpha * np.eye(6) + beta * X1.T @ X1
    m1 = np.linalg.solve(S1_inv, beta * X1.T @ y1)
    S2_inv = S1_inv + beta * X2.T @ X2
    m2 = np.linalg.solve(S2_inv, S1_inv @ m1 + beta * X2.T @ y2)
    blr = BayesianLinearRegression(alpha, beta, fit_hyperparameters=False, fit_intercept=False)
    blr.partial_fit(X1, y1)
    np.testing.assert_allclose(blr.coef_, m1, rtol=1e-10)
    blr.partial_fit(X2, y2)
    np.testing.assert_allclose(blr.coef_, m2, rtol=1e-10)
    np.testing.assert_allclose(blr.sigma_, np.linalg.inv(S2_inv), rtol=1e-9)


def test_map_weights_are_ridge_with_alpha_over_beta(data):
    X, y = data
    blr = BayesianLinearRegression().fit(X, y)
    ratio = blr.alpha_ / blr.beta_
    np.testing.assert_allclose(blr.coef_, SkRidge(alpha=ratio, solver="svd").fit(X, y).coef_, rtol=1e-9)
    np.testing.assert_allclose(blr.coef_, Ridge(alpha=ratio).fit(X, y).coef_, rtol=1e-9)
    res = fit(X, y, penalty=L2(ratio / X.shape[0]))  # our scaling: alpha / (beta n)
    np.testing.assert_allclose(blr.coef_, res.coef, rtol=1e-9)
    assert blr.intercept_ == pytest.approx(res.intercept, rel=1e-9)


def test_ols_noise_precision_is_the_maximum_likelihood_one(data):
    X, y = data
    ols = LinearRegression().fit(X, y)
    resid = y - ols.predict(X)
    # The Gaussian log-likelihood of the residuals, maximised over sigma by scipy.
    best = optimize.minimize_scalar(
        lambda s: -stats.norm(0, s).logpdf(resid).sum(), bounds=(1e-3, 10), method="bounded", options={"xatol": 1e-10}
    )
    assert ols.noise_precision_ == pytest.approx(1 / best.x**2, rel=1e-6)
    # The limit of a vanishing prior: beta's update (N - gamma)/E_D with gamma -> M + ... is
    # not ML, but at alpha -> 0 with fixed beta the posterior mean is the OLS fit.
    flat = BayesianLinearRegression(alpha=1e-12, beta=1.0, fit_hyperparameters=False).fit(X, y)
    np.testing.assert_allclose(flat.coef_, ols.coef_, rtol=1e-9)


def test_not_converged_warns_and_bad_parameters_raise(data):
    X, y = data
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        BayesianLinearRegression(max_iter=1).fit(X, y)
    for kw, match in [
        (dict(alpha=-1.0), "alpha=-1.0"),
        (dict(beta=0), "beta=0"),
        (dict(max_iter=0), "max_iter=0"),
        (dict(tol=-1.0), "tol=-1.0"),
        (dict(fit_hyperparameters="yes"), "fit_hyperparameters='yes'"),
    ]:
        with pytest.raises(ValueError, match=match):
            BayesianLinearRegression(**kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BayesianLinearRegression().fit(X, y)  # converges by default: no warning


def test_no_signal_converges_to_zero_weights():
    """y independent of X: the evidence grows with alpha without bound; the fit stops with
    weights that explain nothing instead of chasing alpha to infinity."""
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    X = X - X.mean(0)
    y = y - (X @ np.linalg.lstsq(X, y - y.mean(), rcond=None)[0])  # y orthogonal to X's columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blr = BayesianLinearRegression().fit(X, y)
    assert blr.alpha_ > 1e6 and np.all(np.abs(blr.coef_) < 1e-6)
    assert blr.beta_ == pytest.approx(1 / np.var(y), rel=1e-6)


def test_interpolating_data_gives_finite_predictions():
    """n <= p: the evidence keeps growing with beta (the data can be fitted exactly); the fit
    must still end with finite weights, means and standard deviations, and no warnings."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 10))
    y = X[:, :3] @ np.array([1.0, -1.0, 2.0]) + 0.5 * rng.standard_normal(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blr = BayesianLinearRegression().fit(X, y)
        mean, std = blr.predict(np.vstack([X, rng.standard_normal((3, 10))]), return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)
    np.testing.assert_allclose(mean[:10], y, atol=1e-6)  # interpolates
