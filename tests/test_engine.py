"""The generic working-set engine: every elementwise loss x every separable penalty, dense
and sparse X, against references that share no code with it: the optimality (KKT)
conditions written out here in numpy with each loss's derivative by hand, scikit-learn
where it has the pair, and FISTA's optimum for a user's own loss."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import jaxreg
from jaxreg.losses import Logistic, Squared, custom_loss
from jaxreg.penalties import L1, L2, ElasticNet, Lp, NoPenalty, WeightedL1

from conftest import make_regression

# sparse designs stay sparse in the estimators here (they test the sparse paths)
pytestmark = pytest.mark.usefixtures("keep_sparse")


def pseudo_huber(y, z):
    return jnp.sqrt(1.0 + (y - z) ** 2) - 1.0


PSEUDO_HUBER = custom_loss(pseudo_huber, name="pseudo_huber")

# the first derivative in z of each loss, by hand
DERIVATIVE = {
    "squared": lambda y, z: z - y,
    "logistic": lambda y, z: -y / (1.0 + np.exp(y * z)),
    "pseudo_huber": lambda y, z: (z - y) / np.sqrt(1.0 + (y - z) ** 2),
}
LOSSES = {"squared": Squared(), "logistic": Logistic(), "pseudo_huber": PSEUDO_HUBER}


def kkt_violation(kind, params, w, grad):
    """Max distance of ``-grad`` to the subdifferential of the penalty at ``w``, by hand."""
    if kind == "none":
        return np.max(np.abs(grad))
    if kind == "lp":
        a, q = params
        return np.max(np.abs(grad + a * np.sign(w) * np.abs(w) ** (q - 1)))
    l1, l2 = params  # sum l1_j |w_j| + l2/2 ||w||^2
    g = grad + l2 * w
    return np.max(np.where(w == 0, np.maximum(np.abs(g) - l1, 0), np.abs(g + l1 * np.sign(w))))


def penalties(p, scale):
    rng = np.random.default_rng(5)
    wt = rng.uniform(0.5, 2.0, p)
    wt[0] = 0.0  # an unpenalized feature
    a = scale
    return {
        "l1": (L1(a), ("en", (np.full(p, a), 0.0))),
        "elasticnet": (ElasticNet(a, 0.6), ("en", (np.full(p, 0.6 * a), 0.4 * a))),
        "weighted_l1": (WeightedL1(a, wt), ("en", (a * wt, 0.0))),
        "l2": (L2(a), ("en", (np.zeros(p), a))),
        "lp1.5": (Lp(a, p=1.5), ("lp", (a, 1.5))),
        "lp3": (Lp(a, p=3.0), ("lp", (a, 3.0))),
        "none": (NoPenalty(), ("none", None)),
    }


def data(loss_name, sparse, seed=0):
    X, y, _ = make_regression(90, 40, rho=0.3, n_informative=6, seed=seed)
    X[np.abs(X) < 0.6] = 0.0  # genuinely sparse: about half the entries
    if loss_name == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    if loss_name == "pseudo_huber":
        y = y + np.random.default_rng(seed).standard_t(2, len(y))  # heavy tails
    return (sp.csc_matrix(X) if sparse else X), y


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("pen_name", ["l1", "elasticnet", "weighted_l1", "l2", "lp1.5", "lp3", "none"])
@pytest.mark.parametrize("loss_name", ["squared", "logistic", "pseudo_huber"])
def test_engine_meets_the_optimality_conditions(loss_name, pen_name, sparse):
    X, y = data(loss_name, sparse)
    if pen_name == "none" and loss_name == "logistic":
        pytest.skip("unpenalized logistic regression on separable-looking data has no finite optimum")
    penalty, (kind, params) = penalties(X.shape[1], 0.02)[pen_name]
    res = jaxreg.fit(X, y, loss=LOSSES[loss_name], penalty=penalty, solver="working_set", tol=1e-10, max_iter=500)
    assert res.solver == "working_set" and res.converged, res.status
    Xd = X.toarray() if sparse else X
    s = np.where(y > 0, 1.0, -1.0) if loss_name == "logistic" else y
    z = Xd @ res.coef + res.intercept
    g = DERIVATIVE[loss_name](s, z) / len(y)
    assert abs(np.sum(g)) < 1e-9  # the intercept's condition
    assert kkt_violation(kind, params, res.coef, Xd.T @ g) < 1e-9
    if pen_name in ("l1", "weighted_l1", "elasticnet"):
        assert np.sum(res.coef == 0) > 0  # exact zeros


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_sparse_lasso_and_elastic_net_match_sklearn(l1_ratio):
    from sklearn.linear_model import ElasticNet as SkElasticNet

    rng = np.random.default_rng(3)
    X = sp.random(400, 3000, density=0.01, random_state=3, format="csr", data_rvs=rng.standard_normal)
    w = np.zeros(3000)
    w[rng.choice(3000, 20, replace=False)] = rng.standard_normal(20)
    y = X @ w + 0.01 * rng.standard_normal(400)
    amax = jaxreg.alpha_max(X, y, penalty=ElasticNet(1.0, l1_ratio))
    alpha = amax / 30
    res = jaxreg.fit(X, y, penalty=ElasticNet(alpha, l1_ratio), tol=1e-12, max_iter=1000)
    with warnings.catch_warnings():  # the reference at tol=1e-14 stops at the rounding floor
        warnings.simplefilter("ignore", ConvergenceWarning)  # (gap 1.9e-12 vs 1.7e-12); checked below
        sk = SkElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=100_000).fit(X, y)
    assert res.solver == "working_set" and res.converged

    def objective(coef, b):
        r = y - X @ coef - b
        return r @ r / 800 + alpha * (l1_ratio * np.abs(coef).sum() + (1 - l1_ratio) / 2 * coef @ coef)

    assert objective(res.coef, res.intercept) <= objective(sk.coef_, sk.intercept_) + 1e-13
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6)
    assert set(np.flatnonzero(res.coef)) == set(np.flatnonzero(sk.coef_))


def test_sparse_l1_logistic_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    X = sp.random(300, 800, density=0.02, random_state=4, format="csr", data_rvs=rng.standard_normal)
    w = np.zeros(800)
    w[:10] = 3 * rng.standard_normal(10)
    y = (X @ w + 0.3 * rng.logistic(size=300) > 0).astype(int)
    alpha = 0.01
    res = jaxreg.fit(X, y, loss="logistic", penalty=L1(alpha), tol=1e-11, max_iter=500)
    sk = LogisticRegression(C=1 / (alpha * 300), l1_ratio=1.0, solver="liblinear", tol=1e-12, max_iter=100_000,
                            intercept_scaling=1e4).fit(X, y)  # fmt: skip
    assert res.solver == "working_set" and res.converged
    np.testing.assert_allclose(res.coef, sk.coef_.ravel(), atol=2e-5)


def test_sparse_and_dense_designs_give_the_same_fit():
    X, y = data("pseudo_huber", sparse=False, seed=7)
    fits = [
        jaxreg.fit(A, y, loss=PSEUDO_HUBER, penalty=ElasticNet(0.01, 0.7), solver="working_set", tol=1e-11)
        for A in (X, sp.csc_matrix(X), sp.csr_matrix(X))
    ]
    for f in fits[1:]:
        np.testing.assert_allclose(f.coef, fits[0].coef, atol=1e-9)
        np.testing.assert_allclose(f.intercept, fits[0].intercept, atol=1e-9)


def test_a_users_loss_matches_fistas_optimum():
    X, y = data("pseudo_huber", sparse=False, seed=8)
    pen = L1(0.03)
    res = jaxreg.fit(X, y, loss=PSEUDO_HUBER, penalty=pen, tol=1e-10)
    ref = jaxreg.fit(X, y, loss=PSEUDO_HUBER, penalty=pen, solver="fista", tol=1e-10, max_iter=200_000)
    assert res.solver == "working_set" and res.converged and ref.converged
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-8)
    assert abs(res.objective - ref.objective) <= 1e-8 * abs(ref.objective)


def test_sample_weights_are_repetitions_with_sparse_x():
    X, y = data("squared", sparse=True, seed=9)
    reps = np.random.default_rng(9).integers(0, 3, len(y))
    Xr = sp.csr_matrix(np.repeat(X.toarray(), reps, axis=0))
    pen = L1(0.05)
    wtd = jaxreg.fit(X, y, penalty=pen, sample_weight=reps.astype(float), tol=1e-12)
    rep = jaxreg.fit(Xr, np.repeat(y, reps), penalty=pen, tol=1e-12)
    assert wtd.solver == rep.solver == "working_set"
    np.testing.assert_allclose(wtd.coef, rep.coef, atol=1e-9)
    np.testing.assert_allclose(wtd.intercept, rep.intercept, atol=1e-9)


def test_a_new_alpha_on_sparse_x_compiles_nothing(compiles):
    X, y = data("squared", sparse=True, seed=10)
    jaxreg.fit(X, y, penalty=L1(0.1), tol=1e-8)
    with compiles() as c:
        for a in (0.05, 0.02, 0.01):
            jaxreg.fit(X, y, penalty=L1(a), tol=1e-8)
    assert c.count == 0


def test_engine_without_intercept_and_with_a_warm_start():
    X, y = data("squared", sparse=True, seed=11)
    pen = L1(0.02)
    cold = jaxreg.fit(X, y, penalty=pen, fit_intercept=False, tol=1e-11)
    warm = jaxreg.fit(X, y, penalty=pen, fit_intercept=False, tol=1e-11, coef_init=cold.coef * 0.9)
    assert cold.intercept == 0 and warm.converged
    Xd = X.toarray()
    g = (Xd @ cold.coef - y) / len(y)
    assert kkt_violation("en", (np.full(X.shape[1], 0.02), 0.0), cold.coef, Xd.T @ g) < 1e-10
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-9)


def test_loss_derivatives_from_jax_match_the_closed_forms():
    rng = np.random.default_rng(12)
    y, z = np.sign(rng.standard_normal(50)), 3 * rng.standard_normal(50)
    with jax.enable_x64(True):
        for loss in (Squared(), Logistic()):
            g, h = loss.derivatives(y, z)
            g_ad, h_ad = jaxreg.losses.Loss.derivatives(loss, y, z)
            np.testing.assert_allclose(g, g_ad, atol=1e-14)
            np.testing.assert_allclose(h, h_ad, atol=1e-14)
            np.testing.assert_allclose(g, DERIVATIVE[loss.name](y, z), atol=1e-14)
        g, h = PSEUDO_HUBER.derivatives(y, z)
        np.testing.assert_allclose(g, DERIVATIVE["pseudo_huber"](y, z), atol=1e-14)
        np.testing.assert_allclose(h, (1 + (y - z) ** 2) ** -1.5, atol=1e-14)


def test_engine_reports_what_it_cannot_take():
    X, y = data("squared", sparse=False)
    with pytest.raises(ValueError, match="separable"):
        jaxreg.fit(X, y, penalty=jaxreg.penalties.LInf(0.1), solver="working_set")
    with pytest.raises(ValueError, match="one prediction per sample"):
        jaxreg.fit(X, (y > 0).astype(int) + (y > 1), loss="multinomial", penalty=L1(0.1), solver="working_set")
    with pytest.raises(ValueError, match="fn=3 is not allowed"):
        custom_loss(3)


def _sparse_regression(seed=0, n=200, p=500):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.05, random_state=seed, format="csr", data_rvs=rng.standard_normal)
    w = np.r_[rng.standard_normal(10), np.zeros(p - 10)]
    return X, X @ w + 0.1 * rng.standard_normal(n)


def test_path_on_sparse_x_matches_sklearns_lasso_path():
    from sklearn.linear_model import lasso_path

    X, y = _sparse_regression(13)
    res = jaxreg.path(X, y, n_alphas=20, tol=1e-10)
    Xc, yc = X.toarray() - X.toarray().mean(0), y - y.mean()  # scikit-learn's path has no intercept
    _, coefs, _ = lasso_path(Xc, yc, alphas=res.alphas, tol=1e-14, max_iter=100_000)
    assert res.converged.all() and res.criterion == "duality_gap"
    np.testing.assert_allclose(res.coefs, coefs, atol=1e-7)
    dense = jaxreg.path(X.toarray(), y, n_alphas=20, tol=1e-10)  # the squared-loss kernels
    np.testing.assert_allclose(res.coefs, dense.coefs, atol=1e-7)
    np.testing.assert_allclose(res.intercepts, dense.intercepts, atol=1e-7)


def test_path_of_a_users_loss_meets_the_conditions_at_every_alpha():
    X, y = data("pseudo_huber", sparse=True, seed=14)
    res = jaxreg.path(X, y, loss=PSEUDO_HUBER, penalty=L1(), alphas=[0.2, 0.05, 0.01], tol=1e-10)
    Xd = X.toarray()
    for k, a in enumerate(res.alphas):
        w, b = res.coefs[:, k], res.intercepts[k]
        g = DERIVATIVE["pseudo_huber"](y, Xd @ w + b) / len(y)
        assert abs(g.sum()) < 1e-9
        assert kkt_violation("en", (np.full(X.shape[1], a), 0.0), w, Xd.T @ g) < 1e-9
    assert res.nonzeros[0] < res.nonzeros[-1]


@pytest.mark.parametrize("l1_ratio", [1.0, [0.5, 1.0]])
def test_cv_estimators_take_sparse_x_and_agree_with_sklearn(l1_ratio):
    import warnings

    from sklearn.linear_model import ElasticNetCV as SkElasticNetCV

    X, y = _sparse_regression(15)
    ours = jaxreg.ElasticNetCV(l1_ratio=l1_ratio, cv=4, alphas=15, tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SkElasticNetCV(l1_ratio=l1_ratio, cv=4, alphas=15, tol=1e-10, max_iter=100_000).fit(X, y)
    assert ours.alpha_ == pytest.approx(theirs.alpha_, rel=1e-12)
    assert ours.l1_ratio_ == theirs.l1_ratio_
    np.testing.assert_allclose(ours.mse_path_, theirs.mse_path_, rtol=1e-5)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)


def test_a_ridge_path_on_sparse_x_matches_the_normal_equations():
    X, y = _sparse_regression(16, n=120, p=60)
    alphas = [10.0, 1.0, 0.1]
    res = jaxreg.path(X, y, penalty=L2(), alphas=alphas, tol=1e-12)
    Xd = X.toarray()
    Xc, yc = Xd - Xd.mean(0), y - y.mean()
    for k, a in enumerate(res.alphas):  # (Xc^T Xc / n + a I) w = Xc^T yc / n
        w = np.linalg.solve(Xc.T @ Xc / len(y) + a * np.eye(60), Xc.T @ yc / len(y))
        np.testing.assert_allclose(res.coefs[:, k], w, atol=1e-9)


def test_the_device_passes_over_a_sparse_design_match_scipy():
    # on a CPU the engine makes X w and X^T v with scipy; other devices use these
    from jaxreg.solvers import engine

    X, _ = _sparse_regression(17, n=50, p=80)
    Xd = X.toarray()
    rng = np.random.default_rng(17)
    w, v = rng.standard_normal(80), rng.standard_normal(60)
    with jax.enable_x64(True):
        design, counts = engine.columns(X, n_rows=60)  # ten empty padding rows
        np.testing.assert_allclose(design.matvec(w)[:50], X @ w, atol=1e-12)
        np.testing.assert_allclose(design.matvec(w)[50:], 0.0)
        np.testing.assert_allclose(design.rmatvec(v), X.T @ v[:50], atol=1e-12)
        ws = jnp.asarray([3, 7, 80, 80])  # two features and two padding slots
        block = design.block(ws, 2, engine.chunk_width(counts))
        np.testing.assert_allclose(
            block.dot_all(jnp.asarray(v)), [Xd[:, 3] @ v[:50], Xd[:, 7] @ v[:50], 0, 0], atol=1e-12
        )
    assert list(counts) == list(np.diff(X.tocsc().indptr))


def test_logistic_cv_on_sparse_x_equals_the_dense_fit():
    X, y = _sparse_regression(18)
    yb = (y > 0).astype(int)
    kw = dict(Cs=[0.01, 0.1, 1.0, 10.0], cv=3, l1_ratios=(1.0, 0.5), tol=1e-10)
    sparse = jaxreg.LogisticRegressionCV(**kw).fit(X, yb)
    dense = jaxreg.LogisticRegressionCV(**kw).fit(X.toarray(), yb)  # the batched logistic kernels
    assert sparse.C_ == dense.C_ and sparse.l1_ratio_ == dense.l1_ratio_
    # at C = 10 the problem is flat (p > n): both meet tol = 1e-10 in the subdifferential
    # distance with coefficients 1e-6 apart
    np.testing.assert_allclose(sparse.coefs_paths_[1], dense.coefs_paths_[1], atol=1e-5)
    np.testing.assert_allclose(sparse.scores_[1], dense.scores_[1], atol=1e-12)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-6)
    assert sparse.n_iter_.shape == dense.n_iter_.shape


def test_a_new_separable_penalty_is_one_class():
    # non-negative lasso, alpha * sum(w) with w >= 0, written here and nowhere else: the
    # working set (auto), its scores and criterion all come from these four methods
    from sklearn.linear_model import Lasso as SkLasso

    from jaxreg._tree import pytree_dataclass
    from jaxreg.penalties import Penalty

    @pytree_dataclass
    class NonNegativeL1(Penalty):
        alpha: float = 1.0
        name = "nonnegative_l1"

        def value(self, w):
            return self.alpha * jnp.sum(w)

        def prox(self, v, step):
            return jnp.maximum(v - step * self.alpha, 0.0)

        def subdiff_distance(self, w, grad):
            return jnp.where(w > 0, jnp.abs(grad + self.alpha), jnp.maximum(-grad - self.alpha, 0.0))

        def alpha_max(self, grad0):
            return jnp.maximum(jnp.max(-grad0), 0.0)

    for sparse in (False, True):
        X, y = data("squared", sparse=sparse, seed=19)
        res = jaxreg.fit(X, y, penalty=NonNegativeL1(0.05), tol=1e-12)
        sk = SkLasso(alpha=0.05, positive=True, tol=1e-14, max_iter=100_000).fit(X, y)
        assert res.solver == "working_set" and res.converged and np.all(res.coef >= 0)
        np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
        np.testing.assert_allclose(res.intercept, sk.intercept_, atol=1e-8)
