"""Group lasso and sparse group lasso (jaxreg.penalties.GroupLasso / SparseGroupLasso, the
group_bcd solver): proxes against their closed form and a brute-force minimisation, fits
against skglm's GroupLasso and scikit-learn's Lasso, optimality (KKT) conditions written
out here in numpy, alpha_max, FISTA, and the errors for bad groups."""

import jax
import numpy as np
import pytest
import scipy.optimize
from sklearn.linear_model import Lasso

import jaxreg
from jaxreg.experiment.baselines import BaselineRun, make_estimator, resolve
from jaxreg.experiment.specs import PenaltySpec
from jaxreg.penalties import GroupLasso, SparseGroupLasso

N, P, SIZE = 80, 20, 4


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N, P))
    w = np.zeros(P)
    w[:4] = [1.5, -1.0, 0.5, 2.0]
    w[8:10] = [-1.0, 0.7]
    y = X @ w + 0.8 + 0.1 * rng.standard_normal(N)
    return X, y


def _blocks(groups, p):
    """The index arrays of ``groups`` (an int size or a list of index arrays)."""
    if isinstance(groups, int):
        return [np.arange(s, s + groups) for s in range(0, p, groups)]
    return [np.asarray(g) for g in groups]


def _kkt(X, y, coef, intercept, alpha, groups, weights=None, l1_ratio=0.0, loss="squared"):
    """The largest violation of the optimality conditions of ``loss + alpha (l1_ratio ||w||_1
    + (1 - l1_ratio) sum_g w_g ||w_g||)``, written out here: per group, at w_g = 0 the
    soft-thresholded gradient lies in the ball of radius alpha (1 - l1_ratio) w_g; on a
    nonzero group the gradient is cancelled; features in no group have a zero gradient."""
    z = X @ coef + intercept
    if loss == "squared":
        r = (z - y) / len(y)
    else:  # logistic, labels 0/1 mapped to -1/+1
        s = 2 * y - 1
        r = -s / (1 + np.exp(s * z)) / len(y)
    grad = X.T @ r
    worst = abs(r.sum())
    blocks = _blocks(groups, X.shape[1])
    weights = np.ones(len(blocks)) if weights is None else np.asarray(weights)
    covered = np.zeros(X.shape[1], bool)
    for g, wt in zip(blocks, weights, strict=True):
        covered[g] = True
        t, lam = alpha * (1 - l1_ratio) * wt, alpha * l1_ratio
        wg, gg = coef[g], grad[g]
        st = np.sign(gg) * np.maximum(np.abs(gg) - lam, 0.0)
        if not np.any(wg):
            worst = max(worst, np.linalg.norm(st) - t)
            continue
        nz = wg != 0
        res = np.where(nz, gg + t * wg / np.linalg.norm(wg) + lam * np.sign(wg), st)
        worst = max(worst, np.linalg.norm(res))
    return max(worst, np.max(np.abs(grad[~covered]), initial=0.0))


def _objective(X, y, coef, b, alpha, groups, weights=None, l1_ratio=0.0):
    blocks = _blocks(groups, X.shape[1])
    weights = np.ones(len(blocks)) if weights is None else np.asarray(weights)
    group = sum(wt * np.linalg.norm(coef[g]) for g, wt in zip(blocks, weights, strict=True))
    pen = alpha * (l1_ratio * np.abs(coef[np.concatenate(blocks)]).sum() + (1 - l1_ratio) * group)
    return 0.5 * np.mean((y - X @ coef - b) ** 2) + pen


# ----------------------------------------------------------------------------- proxes


def test_group_lasso_prox_is_block_soft_thresholding():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(9) * 2
    groups, weights, step, alpha = [[0, 1, 2], [3, 4], [6, 7, 8]], [1.0, 2.5, 0.3], 0.7, 1.1
    with jax.enable_x64(True):
        got = np.asarray(GroupLasso(alpha, groups, weights).prox(v, step))
    want = v.copy()  # feature 5 is in no group: untouched
    for g, wt in zip(groups, weights, strict=True):
        want[g] = v[g] * max(0.0, 1 - step * alpha * wt / np.linalg.norm(v[g]))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    assert np.all(got[3:5] == 0)  # ||v_g|| below the threshold: exact zeros


@pytest.mark.parametrize("l1_ratio", [0.3, 0.8])
def test_sparse_group_lasso_prox_minimises_its_objective(l1_ratio):
    rng = np.random.default_rng(1)
    v = rng.standard_normal(6) * 1.5
    groups, step, alpha = [0, 0, 0, 1, 1, 1], 0.6, 0.9
    pen = SparseGroupLasso(alpha, l1_ratio, groups)
    with jax.enable_x64(True):
        u = np.asarray(pen.prox(v, step))

    def cost(x):
        group = np.linalg.norm(x[:3]) + np.linalg.norm(x[3:])
        return np.sum((x - v) ** 2) / (2 * step) + alpha * (l1_ratio * np.abs(x).sum() + (1 - l1_ratio) * group)

    best = min(
        (scipy.optimize.minimize(cost, x0, method="Powell", options={"xtol": 1e-12, "ftol": 1e-14}) for x0 in (v, u)),
        key=lambda r: r.fun,
    )
    assert cost(u) <= best.fun + 1e-12
    for scale in (1e-3, 1e-6):  # no nearby point is better (the objective is strongly convex)
        for _ in range(50):
            assert cost(u) <= cost(u + scale * rng.standard_normal(6)) + 1e-15


# ----------------------------------------------------------------------------- fits


@pytest.mark.slow  # numba compiles skglm's GroupBCD: 10-50 s depending on the load
@pytest.mark.xdist_group("skglm_group")  # both cases on one worker: numba compiles once
@pytest.mark.parametrize("frac", [0.5, 0.05])
def test_group_lasso_matches_skglm(data, frac):
    skglm = pytest.importorskip("skglm")
    X, y = data
    weights = np.array([1.0, 0.5, 2.0, 1.0, 1.5])
    pen = GroupLasso(1.0, SIZE, weights)
    alpha = frac * jaxreg.alpha_max(X, y, penalty=pen)
    res = jaxreg.fit(X, y, penalty=pen.with_alpha(alpha), tol=1e-10)
    assert res.solver == "group_bcd" and res.converged
    sk = skglm.GroupLasso(groups=SIZE, alpha=alpha, weights=weights, tol=1e-12, max_iter=1000).fit(X, y)
    if frac == 0.05:  # the sweep's skglm peer, translated from a config, fits our objective too
        spec = PenaltySpec(kind="group_lasso", groups=SIZE, alpha=alpha)
        peer = make_estimator(BaselineRun(peer="skglm", tol=1e-12, max_iter=1000), "GroupLasso", spec, alpha, N, True)
        plain = jaxreg.fit(X, y, penalty=GroupLasso(alpha, SIZE), tol=1e-10)
        np.testing.assert_allclose(peer.fit(X, y).coef_, plain.coef, atol=1e-8)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-8)
    np.testing.assert_allclose(res.intercept, sk.intercept_, atol=1e-8)
    f_ours, f_sk = (
        _objective(X, y, c, b, alpha, SIZE, weights) for c, b in ((res.coef, res.intercept), (sk.coef_, sk.intercept_))
    )
    assert f_ours <= f_sk * (1 + 1e-10)
    assert _kkt(X, y, res.coef, res.intercept, alpha, SIZE, weights) < 1e-9


def test_groups_as_labels_or_index_lists_with_unpenalized_features(data):
    X, y = data
    groups = [[0, 1, 5], [2, 3], [8, 9, 10, 11], [14, 15, 16, 17, 18, 19]]  # 4, 6, 7, 12, 13 free
    res = jaxreg.fit(X, y, penalty=GroupLasso(0.3, groups), tol=1e-10)
    assert res.converged
    assert _kkt(X, y, res.coef, res.intercept, 0.3, groups) < 1e-9
    assert np.all(res.coef[[4, 6, 7, 12, 13]] != 0)  # unpenalized: a least-squares fit
    labels = np.repeat(np.array(["d", "a", "c", "b", "e"]), SIZE)  # groups in np.unique order: a, b, c, d, e
    weights = np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    by_label = jaxreg.fit(X, y, penalty=GroupLasso(0.2, labels, weights), tol=1e-10)
    blocks = [np.flatnonzero(labels == k) for k in "abcde"]
    assert _kkt(X, y, by_label.coef, by_label.intercept, 0.2, blocks, weights) < 1e-9


def test_groups_of_one_are_the_lasso(data):
    X, y = data
    res = jaxreg.fit(X, y, penalty=GroupLasso(0.05, 1), tol=1e-12)
    sk = Lasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-9)
    np.testing.assert_allclose(res.intercept, sk.intercept_, atol=1e-9)


def test_sparse_group_lasso_with_l1_ratio_one_is_the_lasso_and_kkt_otherwise(data):
    X, y = data
    res = jaxreg.fit(X, y, penalty=SparseGroupLasso(0.05, 1.0, SIZE), tol=1e-12)
    sk = Lasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-9)
    pen = SparseGroupLasso(1.0, 0.4, SIZE)
    amax = jaxreg.alpha_max(X, y, penalty=pen)
    fit = jaxreg.fit(X, y, penalty=pen.with_alpha(0.2 * amax), tol=1e-10)
    assert fit.converged
    assert _kkt(X, y, fit.coef, fit.intercept, 0.2 * amax, SIZE, l1_ratio=0.4) < 1e-9
    zero_in_active = [np.any(fit.coef[g]) and np.any(fit.coef[g] == 0) for g in _blocks(SIZE, P)]
    assert any(zero_in_active)  # sparsity inside a selected group: what the L1 part adds


@pytest.mark.parametrize("pen", [GroupLasso(1.0, SIZE, [1.0, 0.5, 2.0, 1.0, 1.5]), SparseGroupLasso(1.0, 0.3, SIZE)])
def test_alpha_max_is_where_the_solution_becomes_zero(data, pen):
    X, y = data
    amax = jaxreg.alpha_max(X, y, penalty=pen)
    r = y - y.mean()
    grad = -(X.T @ r) / N  # the gradient at w = 0 with the optimal intercept
    # w = 0 satisfies the conditions at alpha_max and fails them just below it
    weights = None if pen.weights is None else pen.weights
    ratio = 0.0 if isinstance(pen, GroupLasso) else 0.3
    assert _kkt(X, y, np.zeros(P), y.mean(), amax, SIZE, weights, ratio) < 1e-12
    assert _kkt(X, y, np.zeros(P), y.mean(), amax * (1 - 1e-6), SIZE, weights, ratio) > 0
    if isinstance(pen, GroupLasso):  # the closed form max_g ||grad_g|| / w_g
        want = max(np.linalg.norm(grad[g]) / wt for g, wt in zip(_blocks(SIZE, P), pen.weights, strict=True))
        np.testing.assert_allclose(amax, want, rtol=1e-14)
    assert not np.any(jaxreg.fit(X, y, penalty=pen.with_alpha(amax), tol=1e-10).coef)
    assert np.any(jaxreg.fit(X, y, penalty=pen.with_alpha(0.99 * amax), tol=1e-10).coef)


def test_fista_takes_the_group_penalties(data):
    X, y = data
    pen = SparseGroupLasso(0.1, 0.5, SIZE)
    ours = jaxreg.fit(X, y, penalty=pen, tol=1e-10)
    fista = jaxreg.fit(X, y, penalty=pen, solver="fista", tol=1e-9, max_iter=50_000)
    assert fista.converged and fista.solver == "fista"
    np.testing.assert_allclose(fista.coef, ours.coef, atol=1e-7)


def test_logistic_group_lasso_kkt(data):
    X, y = data
    labels = (y > np.median(y)).astype(float)
    res = jaxreg.fit(X, labels, loss="logistic", penalty=GroupLasso(0.02, SIZE), tol=1e-10)
    assert res.solver == "group_bcd" and res.converged and np.any(res.coef)
    assert _kkt(X, labels, res.coef, res.intercept, 0.02, SIZE, loss="logistic") < 1e-9


def test_new_alpha_does_not_compile(data, compiles):
    X, y = data
    pen = GroupLasso(0.1, SIZE)
    jaxreg.fit(X, y, penalty=pen, tol=1e-8)
    jaxreg.fit(X, y, penalty=GroupLasso(0.1, SIZE, np.ones(5)), tol=1e-8)  # weights given: a structure of its own
    with compiles() as c:
        for alpha, tol in [(0.05, 1e-10), (0.3, 1e-6), (0.01, 1e-9)]:
            jaxreg.fit(X, y, penalty=pen.with_alpha(alpha), tol=tol)
        jaxreg.fit(X, y, penalty=GroupLasso(0.07, SIZE, np.arange(1.0, 6.0)), tol=1e-8)  # new weights
    assert c.count == 0
    labels = y > np.median(y)  # the proximal Newton of the other losses: the same promise
    jaxreg.fit(X, labels, loss="logistic", penalty=pen.with_alpha(0.02), tol=1e-8)
    with compiles() as c:
        for alpha in (0.01, 0.05):
            jaxreg.fit(X, labels, loss="logistic", penalty=pen.with_alpha(alpha), tol=1e-9)
    assert c.count == 0


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "groups, match",
    [
        ([[0, 1], [1, 2]], "feature 1 is in more than one group"),
        ([[0, 1], []], "group 1 is not a non-empty"),
        ([[0, -1]], "negative index"),
        ([[0, 1.5]], "non-integer"),
        (0, "a group size must be >= 1"),
        ("abc", "a str is none of these"),
        ([], "it is empty"),
        ([[0, 1], 2], "mixes scalars"),
    ],
)
def test_bad_groups_are_named(groups, match):
    with pytest.raises(ValueError, match=match) as e:
        GroupLasso(1.0, groups)
    assert "groups=" in str(e.value)


def test_groups_that_do_not_fit_x_are_named(data):
    X, y = data
    with pytest.raises(ValueError, match="groups=3 .* does not divide n_features=20"):
        jaxreg.fit(X, y, penalty=GroupLasso(0.1, 3))
    with pytest.raises(ValueError, match="groups names feature 25; X has 20 features"):
        jaxreg.fit(X, y, penalty=GroupLasso(0.1, [[0, 25]]))
    with pytest.raises(ValueError, match="a label for 10 features; X has 20"):
        jaxreg.fit(X, y, penalty=GroupLasso(0.1, [0] * 5 + [1] * 5))
    with pytest.raises(ValueError, match=r"weights has shape \(3,\); it must have one entry per group \(5,\)"):
        jaxreg.fit(X, y, penalty=GroupLasso(0.1, SIZE, [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="weights has 1 entries; it must have one per group"):
        GroupLasso(0.1, [[0], [1]], [1.0])
    with pytest.raises(ValueError, match="l1_ratio=1.5 is not allowed"):
        SparseGroupLasso(0.1, 1.5, SIZE)
    with pytest.raises(ValueError, match="solver='working_set' cannot handle"):
        jaxreg.fit(X, y, penalty=GroupLasso(0.1, SIZE), solver="working_set")


# ----------------------------------------------------------------------------- path, estimators


def test_path_warm_starts_down_from_alpha_max(data):
    X, y = data
    pen = GroupLasso(1.0, SIZE, [1.0, 0.5, 2.0, 1.0, 1.5])
    res = jaxreg.path(X, y, penalty=pen, n_alphas=6, eps=1e-2, tol=1e-10)
    np.testing.assert_allclose(res.alphas[0], jaxreg.alpha_max(X, y, penalty=pen), rtol=1e-12)
    assert res.converged.all() and res.nonzeros[0] == 0 and res.nonzeros[-1] > 0
    for k, a in enumerate(res.alphas):
        assert _kkt(X, y, res.coefs[:, k], res.intercepts[k], a, SIZE, pen.weights) < 1e-9
    with pytest.raises(ValueError, match="path with a group penalty needs a dense X"):
        import scipy.sparse as sp

        jaxreg.path(sp.csr_matrix(X), y, penalty=pen)


def test_estimators_fit_the_penalised_objective(data):
    from sklearn.base import clone

    X, y = data
    labels = np.repeat(np.arange(5), SIZE)
    est = jaxreg.GroupLasso(alpha=0.2, groups=labels, tol=1e-10).fit(X, y)
    res = jaxreg.fit(X, y, penalty=GroupLasso(0.2, SIZE), tol=1e-10)
    np.testing.assert_allclose(est.coef_, res.coef, atol=1e-10)
    np.testing.assert_allclose(est.predict(X), X @ res.coef + res.intercept, atol=1e-9)
    assert est.get_params()["groups"] is labels  # fit leaves the parameters as given
    np.testing.assert_array_equal(clone(est).fit(X, y).coef_, est.coef_)
    sgl = jaxreg.SparseGroupLasso(alpha=0.1, l1_ratio=0.4, groups=SIZE, tol=1e-10).fit(X, y)
    assert _kkt(X, y, sgl.coef_, sgl.intercept_, 0.1, SIZE, l1_ratio=0.4) < 1e-9
    with pytest.raises(ValueError, match="l1_ratio=2 is not allowed"):
        jaxreg.SparseGroupLasso(l1_ratio=2, groups=SIZE).fit(X, y)
    with pytest.raises(ValueError, match="alpha=-1 is not allowed"):
        jaxreg.GroupLasso(alpha=-1, groups=SIZE).fit(X, y)


def test_sample_weights_are_repeated_rows_and_zero_weights_unpenalize(data):
    X, y = data
    counts = np.random.default_rng(5).integers(1, 4, N)
    pen = GroupLasso(0.1, SIZE, [1.0, 0.0, 2.0, 1.0, 1.5])  # group 1 unpenalized
    weighted = jaxreg.fit(X, y, penalty=pen, sample_weight=counts, tol=1e-10)
    repeated = jaxreg.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts), penalty=pen, tol=1e-10)
    np.testing.assert_allclose(weighted.coef, repeated.coef, atol=1e-9)
    assert np.all(weighted.coef[SIZE : 2 * SIZE] != 0)
    Xr, yr = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    assert _kkt(Xr, yr, weighted.coef, weighted.intercept, 0.1, SIZE, pen.weights) < 1e-9
    warm = jaxreg.fit(X, y, penalty=pen, sample_weight=counts, tol=1e-10, coef_init=weighted.coef,
                      intercept_init=weighted.intercept)  # fmt: skip
    assert warm.n_iter == 0 and warm.converged


def test_configs_take_the_group_penalties_and_skglm_is_their_sweep_peer():
    spec = PenaltySpec(kind="sparse_group_lasso", groups=SIZE, l1_ratio=0.3, alpha_ratio=0.1)
    pen = spec.build(0.2)
    assert isinstance(pen, SparseGroupLasso) and (pen.alpha, pen.l1_ratio, pen.groups) == (0.2, 0.3, SIZE)
    assert spec.label() == "sparse_group_lasso(groups=4, l1_ratio=0.3) alpha_max/10"
    with pytest.raises(ValueError, match="groups applies to kind 'group_lasso' or 'sparse_group_lasso' only"):
        PenaltySpec(kind="l1", groups=SIZE, alpha=0.1)
    assert resolve("skglm", "squared", "group_lasso", True)[0] == "GroupLasso"
    assert resolve("skglm", "squared", "sparse_group_lasso", True)[0] is None  # skglm 0.5 has no estimator
    with pytest.raises(ValueError, match="penalty='group_lasso' is not allowed"):
        jaxreg.LogisticRegression(penalty="group_lasso").fit(np.eye(4), [0, 1, 0, 1])
