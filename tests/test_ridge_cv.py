"""RidgeCV and the ridge path against scikit-learn, brute-force leave-one-out, jaxreg.fit,
the normal equations and numpy's lstsq."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge as SkRidge
from sklearn.linear_model import RidgeCV as SkRidgeCV
from sklearn.metrics import make_scorer, mean_absolute_error
from sklearn.model_selection import KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

import jaxreg
from jaxreg.penalties import NoPenalty

ALPHAS = np.logspace(-3, 3, 13)


def _data(n, p, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 3.0, p) + rng.uniform(-2, 2, p)
    W = rng.standard_normal((p, k or 1))
    Y = X @ W + 0.5 * rng.standard_normal((n, k or 1)) + 3.0
    sw = rng.uniform(0.2, 3.0, n)
    return X, (Y[:, 0] if k is None else Y), sw


def _sklearn(X, y, sw=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its folds' singular-matrix warnings at alpha = 0
        return SkRidgeCV(**kw).fit(X, y, sample_weight=sw)


def _assert_same(ours, theirs, tol_results=1e-9):
    np.testing.assert_allclose(ours.alpha_, theirs.alpha_, rtol=1e-12)
    np.testing.assert_allclose(ours.best_score_, theirs.best_score_, rtol=1e-8)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-8, atol=1e-10)
    assert np.shape(ours.coef_) == np.shape(theirs.coef_)
    assert np.shape(ours.intercept_) == np.shape(theirs.intercept_)
    if hasattr(theirs, "cv_results_"):
        assert ours.cv_results_.shape == theirs.cv_results_.shape
        scale = np.abs(theirs.cv_results_).max()
        np.testing.assert_allclose(ours.cv_results_ / scale, theirs.cv_results_ / scale, atol=tol_results)


@pytest.mark.parametrize("shape", [(80, 20), (20, 80)])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_leave_one_out_matches_sklearn(shape, fit_intercept, weighted):
    X, y, sw = _data(*shape)
    sw = sw if weighted else None
    kw = dict(alphas=ALPHAS, fit_intercept=fit_intercept, store_cv_results=True)
    ours = jaxreg.RidgeCV(**kw).fit(X, y, sample_weight=sw)
    _assert_same(ours, _sklearn(X, y, sw, **kw), tol_results=1e-8)
    assert ours.n_features_in_ == shape[1]
    np.testing.assert_allclose(ours.predict(X), ours.coef_ @ X.T + ours.intercept_, rtol=1e-12)


@pytest.mark.parametrize("gcv_mode", ["svd", "eigen", "auto"])
@pytest.mark.parametrize("shape", [(60, 15), (15, 60)])
def test_every_gcv_mode_matches_sklearns(gcv_mode, shape):
    X, y, sw = _data(*shape, seed=1)
    kw = dict(alphas=ALPHAS, gcv_mode=gcv_mode, store_cv_results=True)
    _assert_same(jaxreg.RidgeCV(**kw).fit(X, y, sample_weight=sw), _sklearn(X, y, sw, **kw), tol_results=1e-8)


def _brute_force_loo(X, y, sw, alpha):
    """Refit without each row (scikit-learn's Ridge) and return sw_i * (y_i - prediction_i)^2."""
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        model = SkRidge(alpha=alpha, solver="svd").fit(X[keep], y[keep], sample_weight=sw[keep])
        out[i] = sw[i] * (y[i] - model.predict(X[i : i + 1])[0]) ** 2
    return out


@pytest.mark.parametrize("shape", [(30, 8), (12, 30)])
def test_leave_one_out_errors_are_those_of_refitting_without_each_row(shape):
    X, y, sw = _data(*shape, seed=2)
    alphas = [0.05, 1.0, 20.0]
    ours = jaxreg.RidgeCV(alphas=alphas, store_cv_results=True).fit(X, y, sample_weight=sw)
    brute = np.stack([_brute_force_loo(X, y, sw, a) for a in alphas], axis=1)
    np.testing.assert_allclose(ours.cv_results_, brute, rtol=1e-7)


@pytest.mark.parametrize("shape", [(70, 12), (12, 70)])
@pytest.mark.parametrize("alpha_per_target", [False, True])
def test_multi_output_matches_sklearn(shape, alpha_per_target):
    X, Y, sw = _data(*shape, k=3, seed=3)
    Y[:, 2] = 0.1 * Y[:, 2] + 5 * np.random.default_rng(3).standard_normal(shape[0])  # a noisier target
    kw = dict(alphas=ALPHAS, alpha_per_target=alpha_per_target, store_cv_results=True)
    ours = jaxreg.RidgeCV(**kw).fit(X, Y, sample_weight=sw)
    theirs = _sklearn(X, Y, sw, **kw)
    _assert_same(ours, theirs, tol_results=1e-8)
    if alpha_per_target:
        assert ours.alpha_.shape == (3,) and len(set(ours.alpha_)) > 1  # the targets chose differently


@pytest.mark.parametrize(
    "scoring", ["r2", "neg_mean_absolute_error", make_scorer(mean_absolute_error, greater_is_better=False)]
)
def test_leave_one_out_with_a_scorer_matches_sklearn(scoring):
    X, Y, sw = _data(50, 10, k=2, seed=4)
    for y, kw in ((Y[:, 0], {}), (Y, {"alpha_per_target": True})):
        kw = dict(alphas=ALPHAS, scoring=scoring, store_cv_results=True, **kw)
        _assert_same(jaxreg.RidgeCV(**kw).fit(X, y, sample_weight=sw), _sklearn(X, y, sw, **kw))


@pytest.mark.parametrize("shape", [(90, 15), (25, 60)])
@pytest.mark.parametrize("weighted", [False, True])
def test_five_folds_match_sklearn(shape, weighted):
    X, y, sw = _data(*shape, seed=5)
    sw = sw if weighted else None
    kw = dict(alphas=np.r_[ALPHAS, 0.0], cv=5)  # alpha = 0 is allowed with folds
    _assert_same(jaxreg.RidgeCV(**kw).fit(X, y, sample_weight=sw), _sklearn(X, y, sw, **kw))


def test_folds_from_a_splitter_with_a_scorer_and_multi_output_match_sklearn():
    X, Y, sw = _data(60, 12, k=2, seed=6)
    kw = dict(alphas=ALPHAS, cv=KFold(4, shuffle=True, random_state=0), scoring="neg_mean_squared_error")
    _assert_same(jaxreg.RidgeCV(**kw).fit(X, Y, sample_weight=sw), _sklearn(X, Y, sw, **kw))
    kw = dict(alphas=ALPHAS, cv=3, fit_intercept=False)
    _assert_same(jaxreg.RidgeCV(**kw).fit(X, Y[:, 0]), _sklearn(X, Y[:, 0], **kw))
    # a scorer computed one alpha at a time (scikit-learn passes it the held-out weights)
    kw = dict(alphas=ALPHAS, cv=4, scoring=make_scorer(mean_absolute_error, greater_is_better=False))
    _assert_same(jaxreg.RidgeCV(**kw).fit(X, Y, sample_weight=sw), _sklearn(X, Y, sw, **kw))


def test_the_vectorised_r2_matches_sklearns_on_constant_targets():
    X, y, _ = _data(30, 5, seed=11)
    y[:10] = 1.0  # the first of three folds holds a constant target: R^2's special case
    kw = dict(alphas=ALPHAS, cv=3)
    _assert_same(jaxreg.RidgeCV(**kw).fit(X, y), _sklearn(X, y, **kw))


def test_float32_input_gives_float32_attributes():
    X, y, _ = _data(40, 6, seed=7)
    ours = jaxreg.RidgeCV(alphas=ALPHAS).fit(X.astype(np.float32), y.astype(np.float32))
    theirs = _sklearn(X, y, alphas=ALPHAS)
    assert ours.coef_.dtype == np.float32 and ours.alpha_ == theirs.alpha_
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "alphas, cv, match",
    [
        ([1.0, 0.0], None, r"alphas=\[1.0, 0.0\] is not allowed; .*> 0 \(leave-one-out"),
        ([1.0, -1.0], 5, r"alphas=\[1.0, -1.0\] is not allowed; .*>= 0"),
        ([1.0, np.nan], None, r"alphas=.* is not allowed; .*finite"),
        ([np.inf], 5, r"alphas=\[inf\] is not allowed"),
        ([], None, r"alphas=\[\] is not allowed; alphas must be a non-empty"),
        ("big", None, r"alphas='big' is not allowed"),
    ],
)
def test_bad_alphas_are_refused_naming_the_argument(alphas, cv, match):
    X, y, _ = _data(20, 3)
    with pytest.raises(ValueError, match=match):
        jaxreg.RidgeCV(alphas=alphas, cv=cv).fit(X, y)


def test_bad_options_are_refused_naming_the_argument():
    X, y, _ = _data(20, 3)
    with pytest.raises(ValueError, match=r"gcv_mode='qr' is not allowed; allowed: \[None, 'auto', 'svd', 'eigen'\]"):
        jaxreg.RidgeCV(gcv_mode="qr").fit(X, y)
    with pytest.raises(ValueError, match=r"cv=5 and store_cv_results=True are incompatible"):
        jaxreg.RidgeCV(cv=5, store_cv_results=True).fit(X, y)
    with pytest.raises(ValueError, match=r"cv=5 and alpha_per_target=True are incompatible"):
        jaxreg.RidgeCV(cv=5, alpha_per_target=True).fit(X, y)


# ---- the ridge path: every alpha from one factorization --------------------------------


@pytest.mark.parametrize("shape", [(60, 20), (20, 60)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_path_equals_fit_and_the_normal_equations_at_each_alpha(shape, fit_intercept):
    X, y, sw = _data(*shape, seed=8)
    res = jaxreg.path(X, y, penalty=jaxreg.L2(), alphas=[3.0, 0.3, 0.03], sample_weight=sw, fit_intercept=fit_intercept)
    assert res.criterion == "subdiff_distance" and res.converged.all() and np.all(res.stop_crit < 1e-10)
    d = sw / sw.sum()
    xbar, ybar = (d @ X, d @ y) if fit_intercept else (0.0, 0.0)
    Xc, yc = X - xbar, y - ybar
    for k, a in enumerate(res.alphas):
        # jaxreg's scaling: sum_i d_i r_i^2 / 2 + a/2 ||w||^2, so (Xc^T D Xc + a I) w = Xc^T D yc
        w = np.linalg.solve(Xc.T @ (d[:, None] * Xc) + a * np.eye(X.shape[1]), Xc.T @ (d * yc))
        np.testing.assert_allclose(res.coefs[:, k], w, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(res.intercepts[k], ybar - xbar @ w if fit_intercept else 0.0, atol=1e-10)
        one = jaxreg.fit(X, y, penalty=jaxreg.L2(a), sample_weight=sw, fit_intercept=fit_intercept)
        np.testing.assert_allclose(res.coefs[:, k], np.asarray(one.coef), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(40, 10), (10, 40)])
def test_ridge_path_at_alpha_zero_on_a_singular_design_is_lstsq_minimum_norm(shape):
    X, y, _ = _data(*shape, seed=9)
    X[:, 1] = X[:, 0]  # rank-deficient whatever the shape
    res = jaxreg.path(X, y, penalty=NoPenalty(), alphas=[0.0], fit_intercept=False)
    np.testing.assert_allclose(res.coefs[:, 0], np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-8, atol=1e-9)
    res = jaxreg.path(X, y, penalty=jaxreg.L2(), alphas=[1.0, 0.0], fit_intercept=True)
    xbar, ybar = X.mean(0), y.mean()
    w = np.linalg.lstsq(X - xbar, y - ybar, rcond=None)[0]
    np.testing.assert_allclose(res.coefs[:, 1], w, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.intercepts[1], ybar - xbar @ w, atol=1e-9)


def test_ridge_cv_alpha_is_sklearn_ridge_alpha_over_the_weight_sum_in_path_scaling():
    X, y, sw = _data(50, 8, seed=10)
    cv = jaxreg.RidgeCV(alphas=ALPHAS).fit(X, y, sample_weight=sw)
    res = jaxreg.path(X, y, penalty=jaxreg.L2(), alphas=[cv.alpha_ / sw.sum()], sample_weight=sw)
    np.testing.assert_allclose(res.coefs[:, 0], cv.coef_, rtol=1e-9)


@parametrize_with_checks([jaxreg.RidgeCV(), jaxreg.RidgeCV(cv=3, gcv_mode="svd")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
