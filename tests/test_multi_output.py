"""Multi-output y (shape (n, k)) in the regressors, against scikit-learn's own classes:
coefficients, intercepts, attribute shapes, predictions, and the per-target attributes."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sklm

import jaxreg

# sparse designs stay sparse in the estimators here (they test the sparse paths)
pytestmark = pytest.mark.usefixtures("keep_sparse")


def _data(sparse=False, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 8))
    W = rng.standard_normal((8, k)) * (rng.random((8, k)) < 0.6)
    Y = X @ W + 0.1 * rng.standard_normal((60, k)) + np.arange(k)
    return (sp.csr_matrix(X) if sparse else X), Y


CASES = [
    ("LinearRegression", {}),
    ("Ridge", {"alpha": 2.0}),
    ("Lasso", {"alpha": 0.05}),
    ("ElasticNet", {"alpha": 0.05, "l1_ratio": 0.4}),
]


def _pair(name, kw):
    # (scikit-learn's Ridge on sparse X is iterative: its default tol 1e-4 is too loose here)
    tol = {} if name == "LinearRegression" else {"tol": 1e-12}
    ref_tol = {} if name == "LinearRegression" else {"tol": 1e-14, "max_iter": 100_000}
    return getattr(jaxreg, name)(**kw, **tol), getattr(sklm, name)(**kw, **ref_tol)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name, kw", CASES, ids=[c[0] for c in CASES])
def test_several_targets_match_sklearn(name, kw, sparse):
    X, Y = _data(sparse)
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    ours, ref = _pair(name, kw)
    ours.fit(X, Y, sample_weight=w)
    ref.fit(X, Y, sample_weight=w)
    assert ours.coef_.shape == ref.coef_.shape == (3, 8)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_) == (3,)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-8)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-7)
    assert ours.predict(X).shape == (60, 3)
    assert ours.score(X, Y) == pytest.approx(ref.score(X, Y), abs=1e-9)
    if name in ("Lasso", "ElasticNet"):
        assert ours.dual_gap_.shape == ours.n_iter_.shape == (3,)
        # each target's fit is its own column's: the same as fitting that column alone
        alone = getattr(jaxreg, name)(**kw, tol=1e-12).fit(X, Y[:, 1], sample_weight=w)
        np.testing.assert_allclose(ours.coef_[1], alone.coef_, atol=1e-10)
        np.testing.assert_allclose(ours.dual_gap_[1], alone.dual_gap_, atol=1e-12)


@pytest.mark.parametrize("name, kw", CASES, ids=[c[0] for c in CASES])
def test_one_column_y_has_sklearns_shapes(name, kw):
    X, Y = _data(k=1)
    ours, ref = _pair(name, kw)
    ours.fit(X, Y)
    ref.fit(X, Y)
    assert np.shape(ours.coef_) == np.shape(ref.coef_)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    assert ours.predict(X).shape == ref.predict(X).shape
    np.testing.assert_allclose(np.ravel(ours.coef_), np.ravel(ref.coef_), atol=1e-8)
    if name in ("Lasso", "ElasticNet"):
        assert np.ndim(ours.dual_gap_) == np.ndim(ref.dual_gap_) == 0
        assert np.ndim(ours.n_iter_) == np.ndim(ref.n_iter_) == 0


def test_warm_start_with_several_targets_starts_each_column_from_its_fit():
    X, Y = _data(k=2)
    est = jaxreg.Lasso(alpha=0.05, tol=1e-12, warm_start=True).fit(X, Y)
    first = est.coef_.copy()
    est.fit(X, Y)  # already optimal: each column starts at its own solution
    np.testing.assert_allclose(est.coef_, first, atol=1e-12)
    assert np.all(est.n_iter_ <= 2)
    est.fit(X, Y[:, 0])  # a single target after several: a cold start, same answer as alone
    np.testing.assert_allclose(est.coef_, jaxreg.Lasso(alpha=0.05, tol=1e-12).fit(X, Y[:, 0]).coef_, atol=1e-10)


def test_positive_with_several_targets_matches_sklearn():
    X, Y = _data(k=2, seed=3)
    ours = jaxreg.Lasso(alpha=0.02, positive=True, tol=1e-12).fit(X, Y)
    ref = sklm.Lasso(alpha=0.02, positive=True, tol=1e-14, max_iter=100_000).fit(X, Y)
    assert np.all(ours.coef_ >= 0)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)


@pytest.mark.parametrize("name", ["Lasso", "ElasticNet", "LassoCV", "LogisticRegression"])
def test_small_sparse_x_gets_the_fit_of_its_dense_copy(name, monkeypatch):
    """scikit-learn's promise (its test_sparse_dense_equality): a sparse X fits as its dense
    copy, at the default tol too. Small sparse designs are fitted dense, so the two agree to
    rounding, where two different algorithms would only agree to tol."""
    from jaxreg import _validation

    monkeypatch.setattr(_validation, "SMALL_SPARSE_ENTRIES", 2**16)
    X, Y = _data(seed=4)
    y = Y[:, 0] > np.median(Y[:, 0]) if name == "LogisticRegression" else Y[:, 0]
    w = np.random.default_rng(5).uniform(0.1, 3.0, len(y))
    kw = {"cv": 3} if name == "LassoCV" else {}
    dense = getattr(jaxreg, name)(**kw).fit(X, y, sample_weight=w)
    sparse = getattr(jaxreg, name)(**kw).fit(sp.csc_matrix(X), y, sample_weight=w)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-12)


def test_ridge_alpha_per_target_matches_sklearn():
    X, Y = _data(k=3, seed=6)
    alphas = np.array([0.0, 1.0, 30.0])
    ours = jaxreg.Ridge(alpha=alphas).fit(X, Y)
    ref = sklm.Ridge(alpha=alphas).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-10)
    with pytest.raises(ValueError, match="Number of targets and number of penalties do not correspond: 2 != 3"):
        jaxreg.Ridge(alpha=alphas[:2]).fit(X, Y)
    one = jaxreg.Ridge().fit(X, Y[:, 0])
    assert np.shape(one.intercept_) == () and one.intercept_.dtype == np.float64  # scikit-learn's scalar
