"""scipy.sparse input: the same fit as the dense array, and scikit-learn's on sparse data."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Lasso, LogisticRegression, Ridge

import jaxreg
from jaxreg.penalties import L1, L2

# sparse designs stay sparse in the estimators here (they test the sparse paths)
pytestmark = pytest.mark.usefixtures("keep_sparse")


@pytest.fixture(scope="module")
def text_like():
    """A sparse design like bag-of-words counts (about 10% nonzero, uneven rows)."""
    rng = np.random.default_rng(11)
    n, p = 120, 40
    X = sp.random(n, p, density=0.1, format="csr", random_state=11, data_rvs=lambda k: rng.poisson(2.0, k) + 1.0)
    w = np.zeros(p)
    w[:6] = [1.0, -0.8, 0.6, 0.0, 0.5, -0.4]
    y = X @ w + 0.3 + 0.1 * rng.standard_normal(n)
    labels = (y > np.median(y)).astype(int)
    return X, y, labels


def test_lasso_on_sparse_equals_dense_and_sklearn(text_like):
    X, y, _ = text_like
    alpha = 0.02
    sparse = jaxreg.fit(X.tocsc(), y, penalty=L1(alpha), solver="fista", tol=1e-10)
    dense = jaxreg.fit(X.toarray(), y, penalty=L1(alpha), solver="fista", tol=1e-10)
    assert sparse.converged
    np.testing.assert_allclose(sparse.coef, dense.coef, rtol=0, atol=1e-10)
    assert sparse.intercept == pytest.approx(dense.intercept, abs=1e-10)
    sk = Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(sparse.coef, sk.coef_, atol=1e-7)
    assert sparse.intercept == pytest.approx(sk.intercept_, abs=1e-7)
    np.testing.assert_array_equal(sparse.coef == 0, sk.coef_ == 0)


def test_logistic_on_sparse_equals_sklearn(text_like):
    X, _, labels = text_like
    alpha = 0.01
    res = jaxreg.fit(X, labels, loss="logistic", penalty=L2(alpha), solver="lbfgs", tol=1e-10)
    assert res.converged
    sk = LogisticRegression(C=1.0 / (alpha * X.shape[0]), tol=1e-12, max_iter=10_000).fit(X, labels)
    np.testing.assert_allclose(res.coef, sk.coef_.ravel(), atol=1e-6)
    assert res.intercept == pytest.approx(sk.intercept_[0], abs=1e-6)


def test_minibatch_on_sparse_sees_the_dense_batches(text_like):
    # mini-batches gather whole rows of the padded-row format: the same batches (same seed)
    # and the same iterates as the dense fit. The learning rate is given: the default 1/L comes
    # from the exact Gram eigenvalue for a small dense X but from power iteration (to 1e-7) for
    # a sparse one, and the two steps would differ in the 9th digit.
    X, y, _ = text_like
    A = np.hstack([X.toarray(), np.ones((X.shape[0], 1))])
    lr = 1.0 / np.linalg.eigvalsh(A.T @ A / X.shape[0])[-1]
    kw = dict(
        penalty=L1(0.02),
        solver="minibatch",
        learning_rate=lr,
        batch_size=16,
        max_iter=20,
        tol=0.0,
        n_iter_no_change=10**6,
        seed=5,
    )
    sparse = jaxreg.fit(X, y, **kw)
    dense = jaxreg.fit(X.toarray(), y, **kw)
    assert sparse.n_iter == dense.n_iter == 20
    np.testing.assert_allclose(sparse.coef, dense.coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sparse.history, dense.history, rtol=1e-12)


def test_multinomial_on_sparse_equals_dense(text_like):
    X, y, _ = text_like
    classes = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    kw = dict(loss="multinomial", penalty=L1(0.005), solver="fista", tol=1e-9)
    sparse = jaxreg.fit(X, classes, **kw)
    dense = jaxreg.fit(X.toarray(), classes, **kw)
    assert sparse.coef.shape == (X.shape[1], 3)
    np.testing.assert_allclose(sparse.coef, dense.coef, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sparse.decision_function(X), dense.decision_function(X.toarray()), atol=1e-8)


def test_closed_form_densifies_small_sparse_and_refuses_large(text_like):
    X, y, _ = text_like
    alpha = 0.5
    res = jaxreg.fit(X, y, penalty=L2(alpha / X.shape[0]), solver="closed_form")
    sk = Ridge(alpha=alpha).fit(X.toarray(), y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-10)
    big = sp.random(3000, 2000, density=1e-4, format="csr", random_state=0)
    with pytest.raises(ValueError, match="closed_form.*dense X.*fista"):
        jaxreg.fit(big, np.zeros(3000), penalty=L2(1.0), solver="closed_form")


def test_alpha_max_on_sparse_zeroes_the_lasso(text_like):
    X, y, _ = text_like
    a_max = jaxreg.alpha_max(X, y)
    assert a_max == pytest.approx(jaxreg.alpha_max(X.toarray(), y), rel=1e-12)
    assert not np.any(Lasso(alpha=a_max * 1.0001, tol=1e-12).fit(X, y).coef_)
    assert np.any(Lasso(alpha=a_max * 0.99, tol=1e-12).fit(X, y).coef_)


def test_sparse_non_finite_names_row_and_column():
    X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, np.nan], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="X contains 1 non-finite stored value.*row 1, column 1"):
        jaxreg.fit(X, np.zeros(3), penalty=L1(0.1), solver="fista")
    with pytest.raises(ValueError, match="devices= is not supported with sparse X"):
        jaxreg.fit(sp.csr_matrix(np.eye(3)), np.zeros(3), penalty=L1(0.1), solver="fista", devices=1)
