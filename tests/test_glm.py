"""GLM losses (Poisson, Gamma, Tweedie, log link; Huber at a fixed threshold) and the GLM
estimators, against references that share no code with them: scikit-learn's deviances and
its PoissonRegressor/GammaRegressor/TweedieRegressor/HuberRegressor at L2, glum at L1 and
elastic net, JAX autodiff of ``per_sample`` for the closed-form derivatives, and the
optimality (KKT) conditions written out here in numpy with each derivative by hand.

One design shape throughout, so each (solver, loss, penalty type) compiles once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import linear_model as sklm
from sklearn.metrics import d2_tweedie_score, mean_tweedie_deviance

import jaxreg
from jaxreg.losses import LOSSES, Gamma, Huber, Loss, Poisson, Tweedie, get_loss
from jaxreg.penalties import L2, ElasticNet

N, P = 120, 8


def design(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, P)) / 2
    beta = np.array([0.6, -0.4, 0.0, 0.3, 0.0, 0.0, -0.2, 0.1])
    mu = np.exp(X @ beta + 0.4)
    return X, mu, rng


def target(family, seed=0):
    X, mu, rng = design(seed)
    if family == "gamma":
        return X, rng.gamma(2.0, mu / 2.0)
    if family == "tweedie":  # compound Poisson-Gamma: zeros and positive amounts
        counts = rng.poisson(mu)
        return X, np.array([rng.gamma(2.0, 0.5, k).sum() for k in counts])
    return X, rng.poisson(mu).astype(float)


FAMILIES = {
    "poisson": (Poisson(), 1.0, lambda: sklm.PoissonRegressor),
    "gamma": (Gamma(), 2.0, lambda: sklm.GammaRegressor),
    "tweedie": (Tweedie(1.5), 1.5, lambda: lambda **k: sklm.TweedieRegressor(power=1.5, link="log", **k)),
}


def derivative(loss, y, z):
    """The first derivative in z, by hand."""
    if isinstance(loss, Huber):
        return np.clip(z - y, -loss.epsilon, loss.epsilon)
    p = {"poisson": 1.0, "gamma": 2.0}.get(loss.name) or loss.power
    return np.exp((2 - p) * z) - y * np.exp((1 - p) * z)


def kkt(loss, X, y, coef, intercept, l1, l2, sw=None):
    """The largest violation of the optimality conditions of
    ``mean_sw loss + l1 ||w||_1 + l2/2 ||w||^2`` (intercept unpenalized)."""
    d = np.ones(len(y)) if sw is None else np.asarray(sw, float)
    d = d / d.sum()
    g = d * derivative(loss, y, np.asarray(X @ coef).ravel() + intercept)
    grad = np.asarray(X.T @ g).ravel() + l2 * coef
    dist = np.where(coef == 0, np.maximum(np.abs(grad) - l1, 0), np.abs(grad + l1 * np.sign(coef)))
    return max(np.max(dist), abs(g.sum()))


# ----------------------------------------------------------------------------- the losses

ALL = [Poisson(), Gamma(), Tweedie(1.0), Tweedie(1.3), Tweedie(1.5), Tweedie(2.0), Huber(0.7)]


@jax.jit
def _derivatives_and_intercepts(loss, y, z, w):
    g, h = loss.derivatives(y, z)
    g0, h0 = Loss.derivatives(loss, y, z)  # the base class: JAX autodiff of per_sample
    b = loss.init_intercept(y, w)
    return g, h, g0, h0, loss.derivatives(y, jnp.full_like(y, b))[0]


@pytest.mark.parametrize("loss", ALL, ids=repr)
def test_closed_forms_match_autodiff_and_the_intercept_is_optimal(loss):
    rng = np.random.default_rng(1)
    y = rng.gamma(1.5, 1.0, 50)
    if not isinstance(loss, (Gamma, Huber)) and not (isinstance(loss, Tweedie) and loss.power == 2):
        y[::5] = 0.0
    z = rng.normal(0.0, 1.5, 50)
    w = rng.uniform(0.5, 2.0, 50)
    with jax.enable_x64(True):
        g, h, g0, h0, gb = _derivatives_and_intercepts(loss, y, z, w)
    np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, derivative(loss, y, z), rtol=1e-12, atol=1e-12)
    assert np.all(np.asarray(h) >= 0)
    # the intercept alone is optimal: the weighted mean derivative is zero there (a convex loss)
    assert abs(np.sum(w * np.asarray(gb))) < 1e-9


@jax.jit
def _values(loss, tweedie, y, z, w, y1, z1):
    return loss.value(y, z, w), loss.value(y1, z1), tweedie.value(y, z, w)


@pytest.mark.parametrize("power", [1.0, 1.2, 1.5, 1.8, 2.0])
def test_value_is_sklearns_half_deviance(power):
    rng = np.random.default_rng(2)
    y = rng.gamma(1.5, 1.0, 40)
    if power < 2:
        y[::4] = 0.0
    mu = rng.gamma(2.0, 1.0, 40)
    w = rng.uniform(0.5, 2.0, 40)
    loss = {1.0: Poisson(), 2.0: Gamma()}.get(power, Tweedie(power))
    y1 = np.maximum(y, 0.1)
    with jax.enable_x64(True):
        ours, zero, tweedie = _values(loss, Tweedie(power), y, np.log(mu), w, y1, np.log(y1))
    ref = mean_tweedie_deviance(y, mu, sample_weight=w, power=power) / 2
    assert float(ours) == pytest.approx(ref, rel=1e-12)
    assert float(tweedie) == pytest.approx(ref, rel=1e-12)  # Tweedie(1) is Poisson, Tweedie(2) Gamma
    assert float(zero) == pytest.approx(0.0, abs=1e-14)  # a deviance: zero at mu = y


def test_names_and_argument_checks():
    assert {"poisson", "gamma", "tweedie", "huber"} <= set(LOSSES)
    assert isinstance(get_loss("tweedie"), Tweedie) and get_loss("huber").epsilon == 1.35
    for bad in [0.5, 2.5, "1.5", True, np.nan]:
        with pytest.raises(ValueError, match=r"power=.* is not allowed; power must be a number in \[1, 2\]"):
            Tweedie(bad)
    for bad in [0.0, -1.0, np.inf]:
        with pytest.raises(ValueError, match=r"epsilon=.* is not allowed; epsilon must be a finite number > 0"):
            Huber(bad)


@pytest.mark.parametrize(
    "loss, y_bad, message",
    [
        (Poisson(), -1.0, r"y\[3\]=-1\.0 is not allowed .*loss='poisson' needs every y >= 0"),
        (Gamma(), 0.0, r"y\[3\]=0\.0 is not allowed .*loss='gamma' needs every y > 0"),
        (Tweedie(2.0), 0.0, r"y\[3\]=0\.0 .*power=2\)' needs every y > 0"),
        (Tweedie(1.5), -0.5, r"y\[3\]=-0\.5 .*power=1\.5\)' needs every y >= 0"),
    ],
)
def test_targets_outside_the_domain_fail_at_the_edge(loss, y_bad, message):
    X, y = target("gamma")
    y = y.copy()
    y[3] = y_bad
    with pytest.raises(ValueError, match=message):
        jaxreg.fit(X, y, loss=loss, penalty=L2(0.1))
    with pytest.raises(ValueError, match=message):
        jaxreg.alpha_max(X, y, loss=loss)
    if not isinstance(loss, Gamma):
        y[3] = 0.0  # zero is allowed below power 2
        if not (isinstance(loss, Tweedie) and loss.power == 2.0):
            loss.check_target(y)


# ----------------------------------------------------------------------------- fits


@pytest.mark.parametrize("family", list(FAMILIES))
def test_l2_matches_scikit_learn(family):
    loss, _, sk = FAMILIES[family]
    X, y = target(family)
    sw = np.random.default_rng(4).uniform(0.5, 2.0, N)
    a = 0.05
    ref = sk()(alpha=a, tol=1e-12, max_iter=1000, solver="newton-cholesky").fit(X, y, sample_weight=sw)
    res = jaxreg.fit(X, y, loss=loss, penalty=L2(a), sample_weight=sw, tol=1e-9)
    assert res.solver == "newton" and res.status == "converged"
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-8)
    assert res.intercept == pytest.approx(ref.intercept_, abs=1e-8)
    assert kkt(loss, X, y, res.coef, res.intercept, 0.0, a, sw) < 1e-9


@pytest.mark.parametrize(
    "family, l1_ratio",
    # one worker per family: its compiled working set serves both ratios
    [pytest.param(f, r, marks=pytest.mark.xdist_group(f"glm_{f}")) for f in FAMILIES for r in (1.0, 0.5)],
)
def test_elastic_net_meets_kkt_and_matches_glum(family, l1_ratio):
    loss, power, _ = FAMILIES[family]
    X, y = target(family)
    a = jaxreg.alpha_max(X, y, loss=loss, penalty=ElasticNet(1.0, l1_ratio)) / 4  # some zeros, some not
    res = jaxreg.fit(X, y, loss=loss, penalty=ElasticNet(a, l1_ratio), tol=1e-10)
    assert res.solver == "working_set" and res.status == "converged"
    assert 0 < res.nonzeros < P  # the penalty is active: some coefficients are exactly zero
    assert kkt(loss, X, y, res.coef, res.intercept, a * l1_ratio, a * (1 - l1_ratio)) < 1e-9
    glum = pytest.importorskip("glum")
    fam = {1.0: "poisson", 2.0: "gamma"}.get(power) or glum.TweedieDistribution(power)
    ref = glum.GeneralizedLinearRegressor(
        family=fam, link="log", alpha=a, l1_ratio=l1_ratio, gradient_tol=1e-12, max_iter=1000
    ).fit(X, y)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-8)
    assert res.intercept == pytest.approx(ref.intercept_, abs=1e-8)


def huber_data():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((N, P))
    y = X @ np.array([1.0, -2.0, 0, 0, 0.5, 0, 0, 0]) + 1.0 + 0.3 * rng.standard_normal(N)
    y[:12] += rng.choice([-1, 1], 12) * rng.uniform(5, 15, 12)  # outliers
    return X, y


@pytest.mark.xdist_group("glm_huber")
@pytest.mark.parametrize("penalty", [ElasticNet(0.05, 1.0), ElasticNet(0.05, 0.5), L2(0.05)], ids=repr)
def test_huber_meets_kkt(penalty):
    X, y = huber_data()
    loss = Huber(0.8)
    l1 = getattr(penalty, "l1_ratio", 0.0) * penalty.alpha
    l2 = penalty.alpha - l1
    res = jaxreg.fit(X, y, loss=loss, penalty=penalty, tol=1e-10)
    assert res.solver == ("newton" if isinstance(penalty, L2) else "working_set") and res.status == "converged"
    assert kkt(loss, X, y, res.coef, res.intercept, l1, l2) < 1e-9


def test_huber_at_sklearns_scale_gives_sklearns_coefficients():
    """scikit-learn's HuberRegressor minimises over (w, b, sigma)
    ``sum_i (sigma + H_eps(r_i / sigma) sigma) + alpha ||w||^2``; at its fitted sigma the
    coefficients minimise ``mean huber_{eps sigma}(r) + alpha sigma / (2n) ||w||^2``."""
    X, y = huber_data()
    eps, a = 1.35, 0.5
    ref = sklm.HuberRegressor(epsilon=eps, alpha=a, tol=1e-12, max_iter=10000).fit(X, y)
    s = ref.scale_
    res = jaxreg.fit(X, y, loss=Huber(eps * s), penalty=L2(a * s / N), tol=1e-10)
    assert kkt(Huber(eps * s), X, y, res.coef, res.intercept, 0.0, a * s / N) < 1e-9
    # scikit-learn's L-BFGS-B on the joint problem ends about 1e-6 from its optimum
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-4)
    assert res.intercept == pytest.approx(ref.intercept_, abs=1e-4)


# ----------------------------------------------------------------------------- estimators


@pytest.mark.parametrize("family", list(FAMILIES))
def test_estimators_match_scikit_learn(family):
    X, y = target(family)
    sw = np.random.default_rng(4).uniform(0.5, 2.0, N)
    ours_cls = {"poisson": jaxreg.PoissonRegressor, "gamma": jaxreg.GammaRegressor}.get(family)
    ours = (ours_cls or (lambda **k: jaxreg.TweedieRegressor(power=1.5, **k)))(alpha=0.05, tol=1e-9)
    ref = FAMILIES[family][2]()(alpha=0.05, tol=1e-12, max_iter=1000, solver="newton-cholesky")
    ours.fit(X, y, sample_weight=sw)
    ref.fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8)
    power = FAMILIES[family][1]
    assert ours.score(X, y, sw) == pytest.approx(ref.score(X, y, sw), abs=1e-10)
    assert ours.score(X, y) == pytest.approx(d2_tweedie_score(y, ours.predict(X), power=power), abs=1e-10)


def test_estimator_elastic_net_warm_start_and_parameter_errors():
    X, y = target("poisson")
    est = jaxreg.PoissonRegressor(alpha=0.02, l1_ratio=0.5, tol=1e-10).fit(X, y)
    res = jaxreg.fit(X, y, loss=Poisson(), penalty=ElasticNet(0.02, 0.5), tol=1e-10)
    np.testing.assert_allclose(est.coef_, res.coef, atol=1e-12)
    assert est.fit_result_.solver == "working_set"
    est.set_params(warm_start=True).fit(X, y)
    assert est.n_iter_ <= 1  # started at the optimum
    with pytest.raises(ValueError, match=r"l1_ratio=1\.5 is not allowed; l1_ratio must be a finite number in \[0, 1\]"):
        jaxreg.PoissonRegressor(l1_ratio=1.5).fit(X, y)
    with pytest.raises(ValueError, match=r"alpha=-1 is not allowed"):
        jaxreg.GammaRegressor(alpha=-1).fit(X, y + 1)
    with pytest.raises(ValueError, match=r"link='identity' is not allowed"):
        jaxreg.TweedieRegressor(link="identity").fit(X, y)
    with pytest.raises(ValueError, match=r"loss='gamma' needs every y > 0"):
        jaxreg.GammaRegressor().fit(X, y)  # Poisson counts have zeros
    with pytest.raises(ValueError, match=r"solver='lbfgs' cannot handle"):
        jaxreg.PoissonRegressor(l1_ratio=0.5, solver="lbfgs").fit(X, y)
