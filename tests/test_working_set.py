"""The working-set solver against scikit-learn, FISTA, closed-form optimality conditions and
an independent duality-gap computation; the number of compiled shapes it needs."""

import functools
import warnings

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import LogisticRegression

import jaxreg
from jaxreg.datasets import make_correlated_regression
from jaxreg.penalties import L1, ElasticNet, Lp, WeightedL1
from jaxreg.solvers import working_set as ws
from jaxreg.solvers import working_set_layout as ws_layout

from conftest import make_regression

# the working set by name: auto picks the Gram-matrix solver for the squared loss on few
# features, and these tests are about the working set
fit_ws = functools.partial(jaxreg.fit, solver="working_set")

# Two shapes for most tests (every new shape compiles the pieces again).
SHAPES = {"n>p": (50, 40, 0.5), "p>n": (30, 40, 0.8)}


def sk_enet(X, y, alpha, l1_ratio=1.0, fit_intercept=True, sample_weight=None):
    kw = dict(alpha=alpha, tol=1e-14, max_iter=1_000_000, fit_intercept=fit_intercept)
    model = SkLasso(**kw) if l1_ratio == 1.0 else SkElasticNet(l1_ratio=l1_ratio, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, sample_weight=sample_weight)


def objective(X, y, coef, intercept, l1, l2=0.0, sw=None):
    d = np.ones(len(y)) if sw is None else np.asarray(sw, float)
    d = d / d.sum()
    r = y - X @ coef - intercept
    return 0.5 * d @ r**2 + np.sum(l1 * np.abs(coef)) + 0.5 * l2 * coef @ coef


def relative_gap(X, y, coef, intercept, alpha, l1_ratio=1.0, fit_intercept=True):
    """scikit-learn's duality gap (enet_coordinate_descent), written out in numpy, divided
    by ||y - ybar||^2 / n: an independent check of the solver's stopping rule."""
    n = len(y)
    Xc, yc = (X - X.mean(0), y - y.mean()) if fit_intercept else (X, y)
    l1_reg, l2_reg = alpha * l1_ratio * n, alpha * (1 - l1_ratio) * n
    R = yc - Xc @ coef
    XtA = Xc.T @ R - l2_reg * coef
    dual_norm = np.max(np.abs(XtA))
    R2, w2 = R @ R, coef @ coef
    const = l1_reg / dual_norm if dual_norm > l1_reg else 1.0
    gap = 0.5 * R2 * (1 + const**2) + l1_reg * np.abs(coef).sum() - const * R @ yc + 0.5 * l2_reg * (1 + const**2) * w2
    return gap / (yc @ yc)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("frac", [0.3, 0.02])
def test_lasso_matches_sklearn_and_fista(shape, fit_intercept, frac):
    n, p, rho = SHAPES[shape]
    X, y, _ = make_regression(n, p, rho=rho, n_informative=8, seed=21)
    alpha = frac * jaxreg.alpha_max(X, y, fit_intercept=fit_intercept)
    res = fit_ws(X, y, penalty=L1(alpha), fit_intercept=fit_intercept, tol=1e-12)
    assert res.solver == "working_set" and res.converged and res.criterion == "duality_gap"
    sk = sk_enet(X, y, alpha, fit_intercept=fit_intercept)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
    np.testing.assert_array_equal(res.coef != 0, np.abs(sk.coef_) > 1e-12)  # exact zeros, same support
    assert res.intercept == pytest.approx(sk.intercept_, abs=1e-8)
    if fit_intercept and frac == 0.3:  # FISTA is slow to 1e-9: two cases suffice
        fista = jaxreg.fit(X, y, penalty=L1(alpha), solver="fista", tol=1e-9, max_iter=200_000)
        assert res.objective <= fista.objective + 1e-12
        np.testing.assert_allclose(res.coef, fista.coef, atol=1e-6)
    assert relative_gap(X, y, res.coef, res.intercept, alpha, fit_intercept=fit_intercept) <= 1e-12
    assert res.stop_crit <= 1e-12


@pytest.mark.parametrize("shape", list(SHAPES))
def test_elasticnet_matches_sklearn(shape):
    n, p, rho = SHAPES[shape]
    X, y, _ = make_regression(n, p, rho=rho, n_informative=8, seed=22)
    alpha = 0.05 * jaxreg.alpha_max(X, y, penalty=ElasticNet(1.0, 0.6))
    res = fit_ws(X, y, penalty=ElasticNet(alpha, 0.6), tol=1e-12)
    sk = sk_enet(X, y, alpha, l1_ratio=0.6)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
    np.testing.assert_array_equal(res.coef != 0, np.abs(sk.coef_) > 1e-12)
    assert relative_gap(X, y, res.coef, res.intercept, alpha, 0.6) <= 1e-12


def test_sample_weight_matches_sklearn():
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=23)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, n)
    sw[:5] = 0.0  # zero weights drop rows
    alpha = 0.05 * jaxreg.alpha_max(X, y, sample_weight=sw)
    res = fit_ws(X, y, penalty=L1(alpha), sample_weight=sw, tol=1e-12)
    sk = sk_enet(X, y, alpha, sample_weight=sw)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
    assert res.intercept == pytest.approx(sk.intercept_, abs=1e-8)


def test_weighted_l1_with_unpenalized_feature_meets_kkt():
    # A zero weight leaves a feature unpenalized: no dual point, so the subdifferential
    # distance is the criterion. KKT written out: X_j^T r / n = l1_j sign(w_j) on the
    # support, |X_j^T r / n| <= l1_j off it, X_j^T r = 0 for the free feature, sum r = 0.
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=24)
    wt = np.linspace(0.5, 2.0, p)
    wt[3] = 0.0
    alpha = 0.05
    res = fit_ws(X, y, penalty=WeightedL1(alpha, wt), tol=1e-11)
    assert res.converged and res.criterion == "subdiff_distance"
    r = y - X @ res.coef - res.intercept
    g = X.T @ r / n
    on = res.coef != 0
    np.testing.assert_allclose(g[on], alpha * wt[on] * np.sign(res.coef[on]), atol=1e-10)
    assert np.all(np.abs(g[~on]) <= alpha * wt[~on] + 1e-10)
    assert res.coef[3] != 0 and abs(r.sum()) < 1e-9


def test_lp1_is_lasso():
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=25)
    a = fit_ws(X, y, penalty=Lp(0.05, 1.0), tol=1e-12)
    # auto sends Lp(p=1) to the coordinate solvers too (the Gram one on these few features)
    assert jaxreg.fit(X, y, penalty=Lp(0.05, 1.0)).solver == "gram_cd"
    np.testing.assert_allclose(a.coef, sk_enet(X, y, 0.05).coef_, atol=1e-8)


def test_alpha_above_alpha_max_gives_zeros_at_once():
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=26)
    res = fit_ws(X, y, penalty=L1(1.001 * jaxreg.alpha_max(X, y)), tol=1e-12)
    assert res.converged and res.nonzeros == 0 and res.n_iter == 0
    assert res.intercept == pytest.approx(y.mean(), abs=1e-12)


def test_warm_start_at_the_solution_takes_no_iteration():
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=27)
    first = fit_ws(X, y, penalty=L1(0.05), tol=1e-10)
    again = fit_ws(X, y, penalty=L1(0.05), tol=1e-10, coef_init=first.coef)
    assert first.n_iter > 0 and again.n_iter == 0 and again.converged


def test_degenerate_columns_duplicate_and_constant():
    # A duplicated column makes the support's Gram matrix singular (the Newton step must be
    # rejected or still be right) and a constant column is zero once centred.
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=28)
    X = X.copy()
    X[:, 7] = X[:, 6]
    X[:, 9] = 3.0
    res = fit_ws(X, y, penalty=L1(0.02), tol=1e-12)
    sk = sk_enet(X, y, 0.02)
    assert res.converged and res.coef[9] == 0
    assert res.objective <= objective(X, y, sk.coef_, sk.intercept_, 0.02) + 1e-12
    assert relative_gap(X, y, res.coef, res.intercept, 0.02) <= 1e-12


@pytest.mark.parametrize("where", ["compiled", "host"])
def test_newton_step_drops_wrong_features_and_lands_on_the_solution(where):
    # Start the Newton piece from the lasso solution's support (values perturbed) plus three
    # features that are zero at the solution: with the signs fixed, the quadratic's minimiser
    # flips those three, so the step must drop them one by one (re-solving each time) and
    # end on scikit-learn's solution, all in one call. The compiled step (GPU) and the host
    # step (CPU: support_newton) both.
    import jax
    import jax.numpy as jnp

    from jaxreg.solvers.support_newton import newton_step

    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, n_informative=8, seed=33)
    alpha = 0.05 * jaxreg.alpha_max(X, y)
    sk = sk_enet(X, y, alpha)
    on = np.flatnonzero(sk.coef_)
    extra = np.flatnonzero(sk.coef_ == 0)[:3]
    assert len(on) >= 3 and len(extra) == 3
    w0 = sk.coef_ * (1 + 0.05 * np.random.default_rng(0).standard_normal(p))
    w0[extra] = [0.01, -0.02, 0.015]
    with jax.enable_x64(True):
        XT = jnp.asarray(X.T)
        prep, r = ws.start(XT, jnp.asarray(y), jnp.ones(n), jnp.asarray(w0), fit_intercept=True)
        l1, l2 = ws.l1_l2(L1(alpha), p, np.float64)
        size = ws.bucket(len(on) + 3, p)
        if where == "compiled":
            w, _, ok = ws.NEWTON(XT, prep, jnp.asarray(w0), r, l1, l2, size=size)
        else:
            host = [np.asarray(a) for a in (prep.d, prep.xbar, prep.yc, w0, r, l1)]
            w, r_new, ok = newton_step(X.T.copy(), *host, float(l2), ws.NEWTON_ROUNDS)
            Xc = X - X.mean(0)
            np.testing.assert_allclose(r_new, y - y.mean() - Xc @ w, atol=1e-10)
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(w), sk.coef_, atol=1e-10)
    assert np.all(np.asarray(w)[extra] == 0)


def test_constant_target():
    n, p, rho = SHAPES["n>p"]
    X, _, _ = make_regression(n, p, rho=rho, seed=29)
    res = fit_ws(X, np.full(n, 2.5), penalty=L1(0.1))
    assert res.converged and res.nonzeros == 0 and res.intercept == pytest.approx(2.5)


def test_float32_close_to_float64():
    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=30)
    r64 = fit_ws(X, y, penalty=L1(0.05), tol=1e-12)
    r32 = fit_ws(X.astype(np.float32), y.astype(np.float32), penalty=L1(0.05), tol=1e-6)
    assert r32.coef.dtype == np.float32 and r32.converged
    np.testing.assert_allclose(r32.coef, r64.coef, atol=2e-5)


@pytest.mark.parametrize("rho,n_informative,seed,ratio", [(0.9, 50, 0, 0.1), (0.9, 50, 2, 0.01), (0.5, 100, 0, 0.01)])
def test_float32_reported_convergence_is_true(rho, n_informative, seed, ratio):
    # In float32 the residual updated in place drifts; a solver that trusts it reports a gap
    # below tol while the true gap (here in float64 from its coefficients) is 10-50x larger.
    X, y, _ = make_correlated_regression(300, 1000, rho=rho, n_informative=n_informative, seed=seed, dtype=np.float32)
    alpha = ratio * jaxreg.alpha_max(X, y)
    res = fit_ws(X, y, penalty=L1(alpha), tol=1e-6)
    assert res.converged and res.coef.dtype == np.float32
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    # 2x tol: the coefficients themselves are rounded to float32
    assert relative_gap(X64, y64, res.coef.astype(np.float64), res.intercept, alpha) <= 2e-6


def test_host_transposed_is_aligned_and_copies_only_when_it_must():
    rng = np.random.default_rng(0)
    for X in [rng.standard_normal((7, 13)), np.asfortranarray(rng.standard_normal((7, 13)))[:, 1:], rng.random((5, 3))]:
        XT = ws.host_transposed(X)
        assert XT.flags.c_contiguous and XT.ctypes.data % ws.ALIGN == 0
        np.testing.assert_array_equal(XT, X.T)
    # an aligned Fortran-ordered X is used as it is (its transpose is a view)
    F = ws.host_transposed(np.ascontiguousarray(rng.standard_normal((13, 7)))).T
    assert F.flags.f_contiguous and np.shares_memory(ws.host_transposed(F), F)
    # and the fit on it is the fit on a C-ordered copy
    X, y, _ = make_regression(60, 13, seed=3)
    XF = ws.host_transposed(X).T
    a, b = (
        fit_ws(XF, y, penalty=L1(0.01), tol=1e-12),
        fit_ws(np.ascontiguousarray(X), y, penalty=L1(0.01), tol=1e-12),
    )
    np.testing.assert_array_equal(a.coef, b.coef)
    np.testing.assert_array_equal(XF, X)
    # the copy in blocks of rows: more rows than one block, and a strided view
    for X in [rng.standard_normal((2 * ws_layout.TRANSPOSE_ROWS + 3, 5)), rng.standard_normal((1100, 8))[::2, 1:]]:
        XT = ws.host_transposed(X)
        assert XT.flags.c_contiguous and XT.ctypes.data % ws.ALIGN == 0
        np.testing.assert_array_equal(XT, X.T)


def test_batched_solve_equals_separate_solves():
    # the batched pieces (vmap over problems sharing X) against one solve per problem
    import jax
    import jax.numpy as jnp

    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, seed=31)
    rng = np.random.default_rng(1)
    W = (rng.uniform(size=(3, n)) > 0.3).astype(float)
    alphas = np.array([0.02, 0.05, 0.2])
    with jax.enable_x64(True):
        l1 = jnp.asarray(alphas[:, None] * np.ones((3, p)))
        kw = dict(fit_intercept=True, tol=1e-12, max_iter=100, compiler=ws.Compiler())
        Xj = jnp.asarray(X)
        batch, _ = ws.solve_squared(
            Xj, jnp.asarray(np.tile(y, (3, 1))), jnp.asarray(W), l1, jnp.zeros(3), jnp.zeros((3, p)), batched=True, **kw
        )
        for b in range(3):
            one, _ = ws.solve_squared(Xj, jnp.asarray(y), jnp.asarray(W[b]), l1[b], jnp.zeros(()), jnp.zeros(p), **kw)
            np.testing.assert_allclose(batch.w[b], one.w, atol=1e-10)
            np.testing.assert_allclose(batch.b[b], one.b, atol=1e-10)
            sk = sk_enet(X, y, alphas[b], sample_weight=W[b])
            np.testing.assert_allclose(one.w, sk.coef_, atol=1e-8)


def test_compiles_a_few_shapes_and_none_for_a_new_alpha():
    # a shape no other test uses, so the count is this fit's own
    X, y, _ = make_regression(41, 37, rho=0.5, seed=32)
    before = len(ws.Compiler.cache)
    first = fit_ws(X, y, penalty=L1(0.01), tol=1e-12)
    compiled = len(ws.Compiler.cache) - before
    # start, check, cd (one working-set capacity), newton (one or two support sizes), intercept
    assert 1 <= compiled <= 7, compiled
    assert first.compile_time > 0
    mid = len(ws.Compiler.cache)
    again = fit_ws(X, y, penalty=L1(0.02), tol=1e-12)
    assert len(ws.Compiler.cache) - mid <= 1  # at most a new Newton support size
    assert again.compile_time == 0 or len(ws.Compiler.cache) > mid


def test_logistic_l1_matches_sklearn_and_kkt(clf_data):
    X, y = clf_data
    alpha = 0.02
    res = fit_ws(X, y, loss="logistic", penalty=L1(alpha), tol=1e-10)
    assert res.solver == "working_set" and res.converged and res.criterion == "subdiff_distance"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(C=1 / (alpha * len(y)), l1_ratio=1.0, solver="saga", tol=1e-13, max_iter=200_000)
        sk.fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=2e-5)
    # KKT: with s = +-1 labels, g = X^T (-s sigma(-s z)) / n
    s = np.where(y == res.classes[1], 1.0, -1.0)
    z = X @ res.coef + res.intercept
    gz = -s / (1 + np.exp(s * z)) / len(y)
    g = X.T @ gz
    on = res.coef != 0
    np.testing.assert_allclose(g[on], -alpha * np.sign(res.coef[on]), atol=1e-9)
    assert np.all(np.abs(g[~on]) <= alpha + 1e-9) and abs(gz.sum()) < 1e-9


def test_logistic_elasticnet_matches_fista(clf_data):
    X, y = clf_data
    pen = ElasticNet(0.03, 0.5)
    res = fit_ws(X, y, loss="logistic", penalty=pen, tol=1e-10)
    ref = jaxreg.fit(X, y, loss="logistic", penalty=pen, solver="fista", tol=1e-10, max_iter=100_000)
    assert res.solver == "working_set" and res.converged
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-7)
    assert res.objective <= ref.objective + 1e-12


def test_sparse_input_takes_the_engine_and_sharded_input_goes_to_fista():
    import scipy.sparse as sp

    n, p, rho = SHAPES["n>p"]
    X, y, _ = make_regression(n, p, rho=rho, n_informative=8, seed=21)
    X[np.abs(X) < 0.5] = 0.0  # a genuinely sparse matrix
    alpha = 0.3 * jaxreg.alpha_max(X, y)
    sk = sk_enet(X, y, alpha)
    for kw, solver in (({"X": sp.csr_matrix(X)}, "working_set"), ({"X": X, "devices": 1}, "fista")):
        res = jaxreg.fit(y=y, penalty=L1(alpha), tol=1e-10, max_iter=100_000, **kw)
        assert res.solver == solver and res.converged
        np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6)
    with pytest.raises(ValueError, match=r"solver='working_set' needs a dense X on one device"):
        jaxreg.fit(X, y=y, penalty=L1(alpha), solver="working_set", devices=1)
