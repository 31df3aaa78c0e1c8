"""``offset=`` (added to the linear predictor) in ``fit``, ``path``, ``alpha_max`` and the GLM
estimators, against references that share no code with it: glum's
``GeneralizedLinearRegressor(...).fit(offset=...)``, scikit-learn's ``PoissonRegressor`` on the
rate ``y / e`` with sample weights ``e`` (the exposure identity: Poisson with offset ``log e``
has the same deviance), scikit-learn's ``Lasso``/numpy on ``y - offset`` for the squared loss,
and the optimality (KKT) conditions written out here in numpy."""

from pathlib import Path

import numpy as np
import pytest
from sklearn import linear_model as sklm
from sklearn.metrics import d2_tweedie_score

import jaxreg
from jaxreg.losses import Gamma, Poisson
from jaxreg.penalties import L1, L2, ElasticNet

N, P = 120, 8
BETA = np.array([0.5, -0.4, 0.0, 0.3, 0.0, 0.0, -0.2, 0.1])


def data(family="poisson", seed=0):
    """X, y and the offset log(exposure), exposures spread over a factor 20."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, P)) / 2
    e = rng.uniform(0.2, 4.0, N)
    mu = e * np.exp(X @ BETA + 0.3)
    y = rng.gamma(2.0, mu / 2.0) if family == "gamma" else rng.poisson(mu).astype(float)
    return X, y, np.log(e)


def kkt(family, X, y, off, coef, b, l1, l2, sw=None):
    """The largest violation of the optimality conditions of
    ``weighted mean half deviance(y, exp(X w + b + off)) + l1 ||w||_1 + l2/2 ||w||^2`` (numpy;
    the derivative in z by hand: Poisson mu - y, Gamma 1 - y / mu)."""
    d = np.ones(len(y)) if sw is None else sw
    d = d / d.sum()
    mu = np.exp(X @ coef + b + off)
    g = d * ((mu - y) if family == "poisson" else (1.0 - y / mu))
    gw = X.T @ g + l2 * coef
    on = coef != 0
    viol = np.where(on, np.abs(gw + l1 * np.sign(coef)), np.maximum(np.abs(gw) - l1, 0.0))
    return max(np.max(viol), abs(g.sum()))


# ----------------------------------------------------------------------------- references


@pytest.mark.xdist_group("offset_glm")
@pytest.mark.parametrize(
    "family, l1_ratio",
    [("poisson", 1.0), ("poisson", 0.5), ("gamma", 0.5)],
    ids=["poisson-l1", "poisson-en", "gamma-en"],
)
def test_matches_glum_with_offset(family, l1_ratio):
    """With sample weights too (glum normalises them as we do)."""
    glum = pytest.importorskip("glum")
    X, y, off = data(family)
    sw = np.random.default_rng(7).uniform(0.5, 2.0, N)
    loss = Poisson() if family == "poisson" else Gamma()
    a = jaxreg.alpha_max(X, y, loss=loss, penalty=ElasticNet(1.0, l1_ratio), sample_weight=sw, offset=off) / 4
    res = jaxreg.fit(X, y, loss=loss, penalty=ElasticNet(a, l1_ratio), sample_weight=sw, offset=off, tol=1e-10)
    assert res.status == "converged" and 0 < res.nonzeros < P
    ref = glum.GeneralizedLinearRegressor(
        family=family, link="log", alpha=a, l1_ratio=l1_ratio, gradient_tol=1e-12, max_iter=1000
    ).fit(X, y, sample_weight=sw, offset=off)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-8)
    assert res.intercept == pytest.approx(ref.intercept_, abs=1e-8)
    assert kkt(family, X, y, off, res.coef, res.intercept, a * l1_ratio, a * (1 - l1_ratio), sw) < 1e-9
    # the estimator: same fit, and glum's predictions with the offset
    est = (jaxreg.PoissonRegressor if family == "poisson" else jaxreg.GammaRegressor)(
        alpha=a, l1_ratio=l1_ratio, tol=1e-10
    ).fit(X, y, sample_weight=sw, offset=off)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(est.predict(X, offset=off), ref.predict(X, offset=off), rtol=1e-7)


@pytest.mark.xdist_group("offset_glm")
@pytest.mark.parametrize("solver", ["newton", "lbfgs", "fista", "working_set"])
def test_poisson_offset_is_sklearns_exposure_trick(solver):
    """``sum_i [y_i log(y_i / (e_i mu_i)) - y_i + e_i mu_i] = sum_i e_i [r_i log(r_i / mu_i) - r_i
    + mu_i]`` with ``r = y / e``: scikit-learn's fit of the rate with weights ``e`` (whose mean
    divides by ``sum e``, so its alpha is ours times ``n / sum e``)."""
    X, y, off = data()
    e = np.exp(off)
    a = 0.02
    ref = sklm.PoissonRegressor(alpha=a * N / e.sum(), tol=1e-12, max_iter=1000, solver="newton-cholesky")
    ref.fit(X, y / e, sample_weight=e)
    # the working set takes L2 as ElasticNet(a, 0): the program the elastic-net tests compiled
    pen = ElasticNet(a, 0.0) if solver == "working_set" else L2(a)
    res = jaxreg.fit(X, y, loss=Poisson(), penalty=pen, solver=solver, offset=off, tol=1e-10)
    assert res.solver == solver and res.status == "converged"
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-7)
    assert res.intercept == pytest.approx(ref.intercept_, abs=1e-7)
    if solver == "newton":  # the estimator, its predictions and D^2 with the offset
        est = jaxreg.PoissonRegressor(alpha=a, tol=1e-10).fit(X, y, offset=off)
        np.testing.assert_allclose(est.predict(X, offset=off), e * ref.predict(X), rtol=1e-7)
        np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-7)
        d2 = d2_tweedie_score(y, e * ref.predict(X), power=1)
        assert est.score(X, y, offset=off) == pytest.approx(d2, rel=1e-7)


def test_squared_offset_is_the_fit_on_y_minus_offset():
    X, y, off = data()
    y = y + X @ BETA
    ref = sklm.Lasso(alpha=0.05, tol=1e-12, max_iter=100000).fit(X, y - off)
    for solver in ("gram_cd",):  # y - offset serves every solver of the squared loss
        res = jaxreg.fit(X, y, penalty=L1(0.05), solver=solver, offset=off, tol=1e-12)
        np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-7)
        assert res.intercept == pytest.approx(ref.intercept_, abs=1e-7)
    # ridge in closed form: the normal equations of the centred problem, in numpy
    a = 0.3
    Xc, t = X - X.mean(0), (y - off) - (y - off).mean()
    w = np.linalg.solve(Xc.T @ Xc / N + a * np.eye(P), Xc.T @ t / N)
    res = jaxreg.fit(X, y, penalty=L2(a), offset=off)
    assert res.solver == "closed_form"
    np.testing.assert_allclose(res.coef, w, atol=1e-10)


def test_logistic_offset_meets_kkt():
    """The engine with a shifted classifier loss: the KKT conditions of
    ``mean softplus(-s (X w + b + off)) + l1 ||w||_1`` in numpy."""
    X, _, off = data()
    rng = np.random.default_rng(5)
    z = X @ BETA * 3 + off - off.mean()
    labels = (rng.uniform(size=N) < 1 / (1 + np.exp(-z))).astype(int)
    l1 = 0.01
    res = jaxreg.fit(X, labels, loss="logistic", penalty=L1(l1), offset=off, tol=1e-10)
    assert res.solver == "working_set" and res.status == "converged"
    s = 2.0 * labels - 1
    g = -s / (1 + np.exp(s * (X @ res.coef + res.intercept + off)))
    gw = X.T @ g / N
    on = res.coef != 0
    viol = np.where(on, np.abs(gw + l1 * np.sign(res.coef)), np.maximum(np.abs(gw) - l1, 0.0))
    assert max(viol.max(), abs(g.mean())) < 1e-9


@pytest.mark.xdist_group("offset_glm")
def test_alpha_max_and_path_with_offset():
    X, y, off = data()
    e = np.exp(off)
    # numpy: the optimal intercept alone is log(sum y / sum e); the gradient at w = 0 there
    b = np.log(y.sum() / e.sum())
    amax = np.max(np.abs(X.T @ (e * np.exp(b) - y))) / N
    assert jaxreg.alpha_max(X, y, loss=Poisson(), offset=off) == pytest.approx(amax, rel=1e-10)
    res = jaxreg.path(X, y, loss=Poisson(), penalty=ElasticNet(1.0, 1.0), offset=off, n_alphas=4, eps=0.05, tol=1e-10)
    assert res.alphas[0] == pytest.approx(amax, rel=1e-10)
    assert res.nonzeros[0] == 0 and res.nonzeros[-1] > 0
    for k, a in enumerate(res.alphas):
        assert kkt("poisson", X, y, off, res.coefs[:, k], res.intercepts[k], a, 0.0) < 1e-9


@pytest.mark.xdist_group("offset_glm")
def test_zero_offset_is_no_offset():
    X, y, _ = data()
    a = jaxreg.fit(X, y, loss=Poisson(), penalty=ElasticNet(0.02, 1.0), tol=1e-10)
    b = jaxreg.fit(X, y, loss=Poisson(), penalty=ElasticNet(0.02, 1.0), tol=1e-10, offset=np.zeros(N))
    np.testing.assert_allclose(b.coef, a.coef, atol=1e-12)
    assert b.intercept == pytest.approx(a.intercept, abs=1e-12)


# ----------------------------------------------------------------------------- errors, compiling


@pytest.mark.parametrize(
    "offset, match",
    [
        (np.zeros(N - 1), r"offset has shape \(119,\)"),
        (np.zeros((N, 1)), r"offset has shape \(120, 1\)"),
        (np.r_[np.zeros(N - 1), np.nan], r"offset\[119\]=nan is not allowed"),
        (np.r_[np.inf, np.zeros(N - 1)], r"offset\[0\]=inf is not allowed"),
        ("log", "offset='log' is not allowed"),
    ],
)
def test_bad_offset_is_refused_by_name(offset, match):
    X, y, _ = data()
    with pytest.raises(ValueError, match=match):
        jaxreg.fit(X, y, loss=Poisson(), penalty=L1(0.1), offset=offset)
    with pytest.raises(ValueError, match=match):
        jaxreg.alpha_max(X, y, loss=Poisson(), offset=offset)
    with pytest.raises(ValueError, match=match):
        jaxreg.PoissonRegressor().fit(X, y, offset=offset)


def test_solvers_and_losses_that_cannot_take_an_offset_say_so():
    X, y, off = data()
    with pytest.raises(ValueError, match="solver='minibatch' with batch_size=32 cannot take offset="):
        jaxreg.fit(X, y, loss=Poisson(), penalty=L2(0.1), solver="minibatch", offset=off)
    with pytest.raises(ValueError, match="solver='gd' with batch_size=10 cannot take offset="):
        jaxreg.fit(X, y, loss=Poisson(), penalty=L2(0.1), solver="gd", batch_size=10, offset=off)
    with pytest.raises(ValueError, match="offset= is not supported with devices=1"):
        jaxreg.fit(X, y, loss=Poisson(), penalty=L2(0.1), solver="fista", devices=1, offset=off)
    with pytest.raises(ValueError, match="solver='gram_cd' cannot handle loss='poisson'"):
        jaxreg.fit(X, y, loss=Poisson(), penalty=L1(0.1), solver="gram_cd", offset=off)
    with pytest.raises(ValueError, match="offset= is not supported with loss='multinomial'"):
        jaxreg.fit(X, (y > 1).astype(int) + (y > 3), loss="multinomial", penalty=L2(0.1), offset=off)
    est = jaxreg.PoissonRegressor(alpha=0.1).fit(X, y, offset=off)
    with pytest.raises(ValueError, match=r"offset has shape \(3,\)"):
        est.predict(X, offset=off[:3])


@pytest.mark.xdist_group("offset_glm")
@pytest.mark.parametrize("penalty", [ElasticNet(0.02, 1.0), L2(0.02)], ids=repr)  # working set; newton
def test_a_new_offset_does_not_compile(penalty, compiles):
    X, y, off = data()
    jaxreg.fit(X, y, loss=Poisson(), penalty=penalty, offset=off)
    rng = np.random.default_rng(9)
    with compiles() as c:
        for scale in (0.5, 2.0):
            o = scale * off + rng.normal(0, 0.1, N)
            jaxreg.fit(X, y, loss=Poisson(), penalty=penalty.with_alpha(0.03), offset=o)
            jaxreg.fit(X[:115], y[:115], loss=Poisson(), penalty=penalty, offset=o[:115])  # same row bucket
    assert c.count == 0


def test_run_data_offset_follows_its_rows():
    """``jaxreg run``: counts data with ``exposure: offset`` carries log(exposure) as the
    offset (not a column), and the train/test split keeps each row's offset with it."""
    from jaxreg.experiment.run import prepare
    from jaxreg.experiment.run_config import load_run

    config, _ = load_run(Path(__file__).resolve().parents[1] / "configs" / "poisson_counts.yaml")
    split = prepare(config)
    ds = split.raw
    assert ds.X.shape[1] == 20 and ds.offset.shape == (600,)
    for X, off in ((split.X_train, split.offset_train), (split.X_test, split.offset_test)):
        rows = [int(np.flatnonzero((ds.X == x).all(axis=1))[0]) for x in X]
        np.testing.assert_array_equal(off, ds.offset[rows])
    # exposure: feature puts the same log(exposure) in as the last column (true coefficient 1)
    feat = config.data.model_copy(update={"exposure": "feature"}).make()
    assert feat.offset is None and feat.X.shape[1] == 21 and feat.coef_true[-1] == 1.0
    np.testing.assert_array_equal(feat.X[:, -1], ds.offset)
    np.testing.assert_array_equal(feat.y, ds.y)
