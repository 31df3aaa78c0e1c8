"""MCP, SCAD and bounds (positive=True) on the working set: exact 1-D proxes against a brute
force grid, fits against skglm (non-convex: same start, w = 0), scikit-learn's
positive=True, scipy's non-negative and box-constrained least squares, and stationarity
conditions written out here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

import jaxreg
from jaxreg.penalties import L1, L2, MCP, SCAD, Bounded, ElasticNet, NoPenalty

# sparse designs stay sparse in the estimators here (they test the sparse paths)
pytestmark = pytest.mark.usefixtures("keep_sparse")


def _design(seed=0, n=200, p=40, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X /= np.sqrt((X**2).mean(0))  # unit column scale: skglm's MCP/SCAD setting
    w = np.zeros(p)
    w[:6] = [3.0, -2.0, 2.0, 1.5, -1.0, 0.5]
    y = X @ w + 0.1 * rng.standard_normal(n)
    return (sp.csc_matrix(X) if sparse else X), y


def _mcp_deriv(w, a, g):
    return np.sign(w) * np.where(np.abs(w) <= g * a, a - np.abs(w) / g, 0.0)


def _scad_deriv(w, a, g):
    aw = np.abs(w)
    return np.sign(w) * np.where(aw <= a, a, np.where(aw <= g * a, (g * a - aw) / (g - 1), 0.0))


@pytest.mark.parametrize("penalty", [MCP(0.7, 3.0), SCAD(0.7, 3.7), MCP(0.5, 1.5), SCAD(0.5, 2.2)], ids=repr)
@pytest.mark.parametrize("step", [0.3, 1.0, 2.5, 6.0])
def test_nonconvex_prox_is_the_global_minimiser(penalty, step):
    v = np.linspace(-6, 6, 41)
    grid = np.linspace(-8, 8, 320_001)
    with jax.enable_x64(True):
        u = np.asarray(penalty.prox(jnp.asarray(v), step))
        val = np.asarray(penalty._value_1d(jnp.asarray(grid)))
    for ui, vi in zip(u, v, strict=True):
        f_grid = np.min((grid - vi) ** 2 / (2 * step) + val)
        with jax.enable_x64(True):
            f_u = (ui - vi) ** 2 / (2 * step) + float(penalty._value_1d(jnp.asarray(ui)))
        assert f_u <= f_grid + 1e-9


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("kind", ["mcp", "scad"])
def test_mcp_and_scad_are_stationary_and_match_skglm(kind, sparse):
    X, y = _design(1, sparse=sparse)
    a, g = 0.1, (3.0 if kind == "mcp" else 3.7)
    pen = MCP(a, g) if kind == "mcp" else SCAD(a, g)
    res = jaxreg.fit(X, y, penalty=pen, tol=1e-11, fit_intercept=False)
    assert res.solver == "working_set" and res.converged
    Xd = X.toarray() if sparse else X
    grad = Xd.T @ (Xd @ res.coef - y) / len(y)
    deriv = (_mcp_deriv if kind == "mcp" else _scad_deriv)(res.coef, a, g)
    nz = res.coef != 0
    assert np.max(np.abs(grad[nz] + deriv[nz])) < 1e-9  # stationary on the support
    assert np.max(np.abs(grad[~nz])) <= a + 1e-9  # and zero is a local minimum elsewhere
    skglm = pytest.importorskip("skglm")
    Est = skglm.MCPRegression if kind == "mcp" else None
    if Est is None:  # skglm's SCAD has no estimator class: its GeneralizedLinearEstimator
        from skglm.datafits import Quadratic
        from skglm.penalties import SCAD as SkSCAD

        ref = skglm.GeneralizedLinearEstimator(Quadratic(), SkSCAD(a, g), skglm.solvers.AndersonCD(tol=1e-11, fit_intercept=False))
    else:
        ref = Est(alpha=a, gamma=g, tol=1e-11, fit_intercept=False)
    ref.fit(X, y)
    np.testing.assert_allclose(res.coef, np.ravel(ref.coef_), atol=1e-7)


def test_mcp_has_less_bias_than_the_lasso_on_large_coefficients():
    X, y = _design(2)
    lasso = jaxreg.fit(X, y, penalty=L1(0.2), tol=1e-10)
    mcp = jaxreg.fit(X, y, penalty=MCP(0.2, 3.0), tol=1e-10)
    truth = np.r_[3.0, -2.0, 2.0]
    assert np.abs(mcp.coef[:3] - truth).max() < 0.05 < np.abs(lasso.coef[:3] - truth).min()


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", ["Lasso", "ElasticNet"])
def test_positive_matches_sklearn(name, sparse):
    import sklearn.linear_model as sklm

    X, y = _design(3, p=30, sparse=sparse)
    y = y - 2.0 * np.asarray(X[:, 10].todense()).ravel() if sparse else y - 2.0 * X[:, 10]  # a negative truth
    kw = dict(alpha=0.05) if name == "Lasso" else dict(alpha=0.05, l1_ratio=0.5)
    ours = getattr(jaxreg, name)(positive=True, tol=1e-12, **kw).fit(X, y)
    ref = getattr(sklm, name)(positive=True, tol=1e-14, max_iter=100_000, **kw).fit(X, y)
    assert np.all(ours.coef_ >= 0) and ours.coef_[10] == 0
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-8)
    assert ours.dual_gap_ == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_positive_least_squares_is_scipys_nnls(sparse):
    X, y = _design(4, n=80, p=15, sparse=sparse)
    Xd = X.toarray() if sparse else X
    y = y - 1.5 * Xd[:, 7]
    ours = jaxreg.LinearRegression(positive=True, fit_intercept=False, tol=1e-12).fit(X, y)
    ref, _ = scipy.optimize.nnls(Xd, y)
    np.testing.assert_allclose(ours.coef_, ref, atol=1e-8)


def test_box_constrained_ridge_is_scipys_bounded_least_squares():
    X, y = _design(5, n=120, p=10)
    lo, hi = -0.5 * np.ones(10), np.r_[2.5, np.full(9, 0.8)]
    a = 0.1
    res = jaxreg.fit(X, y, penalty=Bounded(L2(a), lower=lo, upper=hi), tol=1e-12)
    # min 1/(2n)||y - Xw - b||^2 + a/2||w||^2 as least squares on [X/sqrt(n), 1/sqrt(n); sqrt(a) I, 0]
    n = len(y)
    A = np.block([[X / np.sqrt(n), np.ones((n, 1)) / np.sqrt(n)], [np.sqrt(a) * np.eye(10), np.zeros((10, 1))]])
    t = np.r_[y / np.sqrt(n), np.zeros(10)]
    ref = scipy.optimize.lsq_linear(A, t, bounds=(np.r_[lo, -np.inf], np.r_[hi, np.inf]), tol=1e-14, method="bvls")
    assert res.converged and np.all(res.coef >= lo) and np.all(res.coef <= hi)
    np.testing.assert_allclose(res.coef, ref.x[:10], atol=1e-8)
    np.testing.assert_allclose(res.intercept, ref.x[10], atol=1e-8)


def test_bounds_are_checked():
    with pytest.raises(ValueError, match="gamma=1.0 is not allowed"):
        MCP(0.1, 1.0)
    with pytest.raises(ValueError, match="gamma=2.0 is not allowed"):
        SCAD(0.1, 2.0)
    with pytest.raises(ValueError, match="zero must be feasible"):
        Bounded(L1(0.1), lower=0.5)
    with pytest.raises(ValueError, match="needs a separable penalty|bounds need a separable penalty"):
        Bounded(jaxreg.penalties.LInf(0.1), lower=0.0)
    X, y = _design(6, p=8)
    with pytest.raises(ValueError, match=r"Bounded lower has shape \(3,\)"):
        jaxreg.fit(X, y, penalty=Bounded(ElasticNet(0.1), lower=np.zeros(3)))
    with pytest.raises(ValueError, match="positive='yes' is not allowed"):
        jaxreg.Lasso(positive="yes").fit(X, y)
    # without a penalty term the box alone: the unconstrained solution where it is feasible
    free = jaxreg.fit(X, y, penalty=Bounded(NoPenalty(), lower=-10.0, upper=10.0), tol=1e-12)
    ols = np.linalg.lstsq(np.c_[X, np.ones(len(y))], y, rcond=None)[0]
    np.testing.assert_allclose(free.coef, ols[:8], atol=1e-8)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_positive_cv_estimators_match_sklearn(sparse):
    import warnings

    import sklearn.linear_model as sklm

    X, y = _design(7, n=100, p=20, sparse=sparse)
    y = y - 2.0 * (X.toarray() if sparse else X)[:, 12]
    kw = dict(l1_ratio=[0.5, 1.0], positive=True, cv=4, alphas=10)
    ours = jaxreg.ElasticNetCV(tol=1e-10, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklm.ElasticNetCV(tol=1e-10, max_iter=100_000, **kw).fit(X, y)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-12) and ours.l1_ratio_ == ref.l1_ratio_
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-8)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    assert np.all(ours.coef_ >= 0) and ours.coef_[12] == 0
