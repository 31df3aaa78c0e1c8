"""Issue 17, numerical edge cases: designs near the ends of the floating-point range (item 3),
scale-free sample weights (5), the Bayesian model on one sample and with p >> n (6), warm
starts checked (7), the path's advice (16) and logistic regression on raw digits (17).

Every reference is independent of the code under test: scikit-learn on the unscaled
problem (the same minimiser, written in other units), numpy closed forms, or the
optimality conditions."""

import warnings

import numpy as np
import pytest
import sklearn.linear_model as skl

import jaxreg
from jaxreg.penalties import L1, L2, ElasticNet, Lp

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 6))
Y = X @ np.array([1.0, 0, -2, 0, 0.5, 0]) + 0.3 * RNG.standard_normal(40)
# noisy labels: not separable, so the unpenalized logistic fit has a finite minimiser
YC = (X @ np.array([1.0, 0, -1, 0, 0.5, 0]) + 1.0 * RNG.standard_normal(40) > 0).astype(float)

# ----------------------------------------------------------------------------- item 3


def _lasso_reference(alpha, scale):
    """Lasso(alpha) on X * scale is Lasso(alpha / scale) on X with coefficients times scale:
    scikit-learn on the unscaled X gives the minimiser without any overflow."""
    sk = skl.Lasso(alpha / scale, tol=1e-12, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpha ~ 0: scikit-learn's gap criterion never closes
        sk.fit(X, Y)
    return sk.coef_ / scale, sk.intercept_


OLS = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)[0]
LOGIT = skl.LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, YC)

# (solver, loss, penalty): every solver family, and the generic engine (Lp, p = 1.5)
ITEM3_SOLVERS = [
    ("auto", "squared", L1(0.1)),
    ("working_set", "squared", L1(0.1)),
    ("gram_cd", "squared", L1(0.1)),
    ("fista", "squared", L1(0.1)),
    ("ista", "squared", L1(0.1)),
    ("gd", "squared", None),
    ("lbfgs", "logistic", None),
    ("newton", "logistic", None),
    ("working_set", "squared", Lp(0.1, 1.5)),  # the engine: beyond the L1-type kernels
]
ITEM3_SCALES = [(1e200, np.float64), (1e-160, np.float64), (1e20, np.float32)]


def _item3_reference(loss, penalty, scale):
    """The minimiser on X * scale, in the units of X * scale."""
    if loss == "logistic":
        return LOGIT.coef_[0] / scale, LOGIT.intercept_[0]
    if penalty is None:
        return OLS[:-1] / scale, OLS[-1]
    if isinstance(penalty, L1):
        return _lasso_reference(penalty.alpha, scale)
    # Lp(alpha, 1.5) on X * scale is Lp(alpha / scale^1.5) on X: ~0 at 1e200 and 1e20
    # (least squares), and at 1e-160 a penalty 1e240 strong: every coefficient 0
    return (OLS[:-1] / scale, OLS[-1]) if scale > 1 else (np.zeros(6), Y.mean())


@pytest.mark.parametrize("scale, dtype", ITEM3_SCALES, ids=["1e200", "1e-160", "f32-1e20"])
@pytest.mark.parametrize("solver, loss, penalty", ITEM3_SOLVERS, ids=[f"{s}-{p}" for s, _, p in ITEM3_SOLVERS])
def test_item03_extreme_designs_give_the_minimiser_or_say_they_did_not(solver, loss, penalty, scale, dtype):
    # before: NaN coefficients (working set), 'diverged' at 0 iterations (fista, ista, gd,
    # newton), 1000 iterations to nothing (lbfgs), or an error (gram_cd)
    target = YC if loss == "logistic" else Y
    tol = 1e-9 if dtype == np.float64 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = jaxreg.fit(
            (X * scale).astype(dtype), target.astype(dtype), loss=loss, penalty=penalty, solver=solver, tol=tol
        )
    assert np.all(np.isfinite(res.coef)) and np.isfinite(res.intercept)
    coef, intercept = _item3_reference(loss, penalty, scale)
    rtol = 2e-3 if dtype == np.float32 else 1e-5
    close = np.allclose(res.coef * scale, coef * scale, rtol=rtol, atol=rtol) and np.isclose(
        res.intercept, intercept, rtol=rtol, atol=rtol
    )
    if res.converged:
        assert close, (res.status, res.coef * scale, coef * scale)
    # the lasso near alpha = 0 never closes its duality gap (scikit-learn's does not either),
    # and Lp's minimiser at 1e-160 (|w| ~ (gradient / alpha)^2 ~ 1e-320) is below the
    # precision of w: those may stop at max_iter, but on the minimiser; the rest converge
    near_ols_lasso = isinstance(penalty, L1) and scale > 1 and solver in ("auto", "working_set", "gram_cd")
    assert close and (res.converged or near_ols_lasso or isinstance(penalty, Lp)), (res.status, res.coef * scale)


def test_item03_penalties_follow_the_rescaling_exactly():
    # an elastic net and a positive lasso on X * 2^600 against scikit-learn on X with the
    # penalty rescaled by hand: alpha * l1_ratio / s for the L1 part, alpha (1 - l1_ratio) / s^2
    s = 2.0**600
    res = jaxreg.fit(X * s, Y, penalty=ElasticNet(0.1 * s, 0.5), solver="fista", tol=1e-10)
    a1, a2 = 0.1 * 0.5, 0.1 * 0.5 / s
    ref = skl.ElasticNet(a1 + a2, l1_ratio=a1 / (a1 + a2), tol=1e-12, max_iter=100_000).fit(X, Y)
    np.testing.assert_allclose(res.coef * s, ref.coef_, atol=1e-6)
    res = jaxreg.fit(X * s, Y, penalty=jaxreg.penalties.Bounded(L1(0.1 * s), lower=0.0), tol=1e-10)
    ref = skl.Lasso(0.1, positive=True, tol=1e-12, max_iter=100_000).fit(X, Y)
    np.testing.assert_allclose(res.coef * s, ref.coef_, atol=1e-6)
    assert res.converged


def test_item03_non_finite_coefficients_are_never_handed_back():
    # a solver output with NaN (simulated: the guard sits where every solver's output passes)
    from jaxreg._fitparts import make_result
    from jaxreg.solvers import SOLVERS
    from jaxreg.solvers._common import SolverOutput

    out = SolverOutput(np.array([np.nan, 1.0]), np.array(0.5), np.array(3), np.array(1), np.array(1.0),
                       np.ones(5), np.array(0))  # fmt: skip
    res = make_result(out, SOLVERS["fista"], None, None, classes=None, dtype="float64", device="cpu",
                      fit_time=0.0, compile_time=0.0, score=lambda c, b: 0.0, start=(np.array([2.0, 3.0]), None))  # fmt: skip
    assert res.status == "diverged" and not res.converged
    np.testing.assert_array_equal(res.coef, [2.0, 3.0])
    assert res.intercept == 0.0


# ----------------------------------------------------------------------------- item 5


@pytest.mark.parametrize("solver", ["auto", "working_set", "fista", "closed_form"])
def test_item05_sample_weight_is_scale_free(solver):
    # before: weights * 1e306 overflowed their sum: coef 0, intercept 0, 'converged'
    w = RNG.uniform(0.5, 2.0, len(Y))
    penalty = L2(0.1) if solver == "closed_form" else L1(0.1)
    base = jaxreg.fit(X, Y, penalty=penalty, solver=solver, sample_weight=w, tol=1e-10)
    huge = jaxreg.fit(X, Y, penalty=penalty, solver=solver, sample_weight=w * 1e306, tol=1e-10)
    tiny = jaxreg.fit(X, Y, penalty=penalty, solver=solver, sample_weight=w * 1e-300, tol=1e-10)
    assert huge.converged and tiny.converged and np.isfinite(huge.objective)
    np.testing.assert_allclose(huge.coef, base.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tiny.coef, base.coef, rtol=1e-10, atol=1e-12)
    assert huge.objective == pytest.approx(base.objective, rel=1e-10)
    # scikit-learn: Lasso's alpha with weights normalised to sum to n is ours with weights
    # normalised to sum to 1; Ridge's alpha is ours times the weights' sum
    if solver == "closed_form":
        ref = skl.Ridge(0.1 * (w / w.mean()).sum()).fit(X, Y, sample_weight=w / w.mean())
    else:
        ref = skl.Lasso(0.1, tol=1e-12, max_iter=100_000).fit(X, Y, sample_weight=w * len(w) / w.sum())
    np.testing.assert_allclose(huge.coef, ref.coef_, atol=1e-7)


def test_item05_float32_fit_with_weights_beyond_float32():
    w = RNG.uniform(0.5, 2.0, len(Y))
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    base = jaxreg.fit(X32, Y32, penalty=L1(0.1), sample_weight=w)
    huge = jaxreg.fit(X32, Y32, penalty=L1(0.1), sample_weight=w * 1e300)  # inf in float32 before
    np.testing.assert_allclose(huge.coef, base.coef, rtol=1e-6, atol=1e-6)


def test_item05_alpha_max_is_scale_free():
    # the smallest alpha with w = 0, by hand: max |X^T D (y - ybar_D)| with D the normalised weights
    w = RNG.uniform(0.5, 2.0, len(Y))
    d = w / w.sum()
    expected = np.abs(X.T @ (d * (Y - d @ Y))).max()
    for scale in (1.0, 1e306, 1e-300):
        assert jaxreg.alpha_max(X, Y, sample_weight=w * scale) == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- item 7


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(coef_init=np.r_[np.nan, np.zeros(5)]), r"coef_init holds non-finite values"),
        (dict(coef_init=np.r_[np.inf, np.zeros(5)]), r"coef_init holds non-finite values"),
        (dict(coef_init=np.zeros(5)), r"coef_init has shape \(5,\); it must have shape \(6,\)"),
        (dict(coef_init="abc"), r"coef_init='abc' is not allowed"),
        (dict(intercept_init=np.nan), r"intercept_init holds non-finite values"),
        (dict(intercept_init=np.zeros(3)), r"intercept_init has shape \(3,\); it must be a number"),
        (dict(coef_init=np.full(6, 1e300)), None),  # finite: fine in float64
    ],
)
@pytest.mark.parametrize("solver", ["auto", "fista", "lbfgs"])
def test_item07_warm_start_is_checked(kw, match, solver):
    # before: NaN in -> NaN coefficients out (and a wrong-shaped intercept broadcast silently)
    penalty = L2(0.1) if solver == "lbfgs" else L1(0.1)
    if match is None:
        res = jaxreg.fit(X, Y, penalty=penalty, solver=solver, **kw)
        assert np.all(np.isfinite(res.coef))
        return
    with pytest.raises(ValueError, match=match):
        jaxreg.fit(X, Y, penalty=penalty, solver=solver, **kw)


def test_item07_float32_warm_start_beyond_float32_is_refused():
    with pytest.raises(ValueError, match=r"coef_init holds .*too large for float32"):
        jaxreg.fit(X.astype(np.float32), Y.astype(np.float32), penalty=L1(0.1), coef_init=np.full(6, 1e300))


def test_item07_estimator_warm_start_is_checked():
    # the estimators pass coef_init through to fit: the same error reaches their users
    est = jaxreg.Lasso(0.1, warm_start=True).fit(X, Y)
    est.coef_ = np.full(6, np.nan)
    with pytest.raises(ValueError, match="coef_init holds non-finite values"):
        est.fit(X, Y)


# ----------------------------------------------------------------------------- item 16

LABELS3 = np.digitize(X[:, 0] + 0.5 * RNG.standard_normal(40), [-0.5, 0.5])


@pytest.mark.parametrize(
    "loss, penalty, solver",
    [("multinomial", None, "fista"), ("multinomial", L2(0.1), "auto"), ("squared", jaxreg.penalties.LInf(0.1), "auto")],
)
def test_item16_path_advice_names_a_solver_that_takes_the_pair(loss, penalty, solver):
    # before: "use fista" for a multinomial path asked with solver='fista'; now the advice is
    # a fit call whose solver does take the pair: following it must work
    import re

    target = LABELS3 if loss == "multinomial" else Y
    with pytest.raises(ValueError, match=r"path cannot handle") as err:
        jaxreg.path(X, target, loss=loss, penalty=penalty, solver=solver, alphas=[0.1, 0.01])
    advised = re.search(r"solver='(\w+)'\)", str(err.value)).group(1)
    res = jaxreg.fit(X, target, loss=loss, penalty=penalty or L1(0.1), solver=advised, tol=1e-8)
    assert res.converged


def test_item16_l2_logistic_path_is_not_sent_to_fista():
    # fista's path is the squared loss only: an L2 logistic path is advised the working set,
    # and that advice works
    with pytest.raises(ValueError, match=r"use solver='working_set'") as err:
        jaxreg.path(X, YC, loss="logistic", penalty=L2(1.0), alphas=[1.0, 0.1], solver="fista")
    assert "use fista" not in str(err.value)
    res = jaxreg.path(X, YC, loss="logistic", penalty=L2(1.0), alphas=[1.0, 0.1], solver="working_set")
    # each point against scikit-learn's L2 logistic regression (C = 1 / (alpha n))
    for a, coef in zip(res.alphas, res.coefs.T):
        ref = skl.LogisticRegression(C=1 / (a * len(YC)), tol=1e-12).fit(X, YC)
        np.testing.assert_allclose(coef, ref.coef_[0], atol=1e-5)


# ----------------------------------------------------------------------------- item 6


def test_item06_one_sample_keeps_the_prior_spread_and_warns():
    # before: alpha_ and beta_ ran to 1e200 and the predictive std was 2e-100, silently
    X1, y1, x_new = np.array([[1.0, 2.0, 3.0]]), np.array([2.5]), np.array([[0.5, 0.5, 0.5]])
    with pytest.warns(UserWarning, match="nothing determines alpha or beta"):
        blr = jaxreg.BayesianLinearRegression().fit(X1, y1)
    assert blr.alpha_ == 1.0  # its start: no data direction informs it
    assert blr.beta_ <= 1.0 / (np.finfo(float).eps * 2.5**2)  # the ceiling
    mean, std = blr.predict(x_new, return_std=True)
    # scikit-learn's BayesianRidge (its Gamma hyperpriors keep lambda_ = 1 here as well): the
    # prior's spread along x - xbar; ours adds the noise and intercept terms (~1e-15)
    sk_mean, sk_std = skl.BayesianRidge().fit(X1, y1).predict(x_new, return_std=True)
    np.testing.assert_allclose(mean, sk_mean)
    np.testing.assert_allclose(std, sk_std, rtol=1e-6)
    np.testing.assert_allclose(std, np.linalg.norm(x_new - X1), rtol=1e-6)  # sqrt((x-xbar)^T I (x-xbar) / 1)


def _dual_posterior(X, y, alpha, beta, x_new):
    """Posterior mean and predictive std by the n x n (Woodbury) identities, in numpy:
    m = X_c^T (X_c X_c^T + alpha/beta I)^-1 y_c, sigma = (I - X_c^T (alpha/beta I + X_c X_c^T)^-1 X_c) / alpha."""
    xm, ym = X.mean(0), y.mean()
    Xc, yc = X - xm, y - ym
    A = Xc @ Xc.T + (alpha / beta) * np.eye(len(y))
    m = Xc.T @ np.linalg.solve(A, yc)
    Z = x_new - xm
    quad = (np.sum(Z**2, 1) - np.einsum("ij,ij->i", Z @ Xc.T, np.linalg.solve(A, Xc @ Z.T).T)) / alpha
    return m, ym - xm @ m, np.sqrt(1 / beta + quad + 1 / (beta * len(y)))


@pytest.mark.parametrize("n, p", [(30, 10_000), (20, 50_000)])
def test_item06_p_much_larger_than_n_uses_the_n_by_n_form(n, p):
    # before: a p x p matrix (30 x 10000: 110 s; 20 x 50000: MemoryError)
    rng = np.random.default_rng(4)
    Xp = rng.standard_normal((n, p))
    yp = Xp[:, :3] @ np.array([1.0, -1.0, 2.0]) + 0.5 * rng.standard_normal(n)
    blr = jaxreg.BayesianLinearRegression().fit(Xp, yp)
    x_new = rng.standard_normal((3, p))
    m, b, std = _dual_posterior(Xp, yp, blr.alpha_, blr.beta_, x_new)
    np.testing.assert_allclose(blr.coef_, m, atol=1e-8 * np.abs(m).max())
    assert blr.intercept_ == pytest.approx(b, rel=1e-8)
    mean, ours = blr.predict(x_new, return_std=True)
    np.testing.assert_allclose(ours, std, rtol=1e-8)
    # the evidence's fixed point in alpha (MacKay): alpha = gamma / ||m||^2
    assert blr.alpha_ == pytest.approx(blr.gamma_ / (blr.coef_ @ blr.coef_), rel=1e-6)


def test_item06_p_above_n_matches_bayesian_ridge_and_sequential_updates():
    # where scikit-learn can still run (p = 300): its evidence maximisation, hyperpriors off
    rng = np.random.default_rng(5)
    Xp = rng.standard_normal((30, 300))
    yp = Xp[:, :3] @ np.array([1.0, -1.0, 2.0]) + 0.5 * rng.standard_normal(30)
    ours = jaxreg.BayesianLinearRegression(tol=1e-12, max_iter=10_000).fit(Xp, yp)
    sk = skl.BayesianRidge(alpha_1=0, alpha_2=0, lambda_1=0, lambda_2=0, tol=1e-12, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its beta drifts to infinity (n < p: y is fitted exactly)
        sk.fit(Xp, yp)
    assert ours.alpha_ == pytest.approx(sk.lambda_, rel=1e-6)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-5 * np.abs(sk.coef_).max())
    np.testing.assert_allclose(ours.sigma_, sk.sigma_, atol=1e-6 * np.abs(sk.sigma_).max())
    # partial_fit across the switch from the rows (n < p) to the moments (n >= p) form
    seq = jaxreg.BayesianLinearRegression(alpha=2.0, beta=3.0, fit_hyperparameters=False)
    Xs, ys = rng.standard_normal((12, 8)), rng.standard_normal(12)
    for chunk in np.split(np.arange(12), [3, 7]):
        seq.partial_fit(Xs[chunk], ys[chunk])
    batch = jaxreg.BayesianLinearRegression(alpha=2.0, beta=3.0, fit_hyperparameters=False).fit(Xs, ys)
    np.testing.assert_allclose(seq.coef_, batch.coef_, rtol=1e-10)
    np.testing.assert_allclose(seq.sigma_, batch.sigma_, rtol=1e-10)


# ----------------------------------------------------------------------------- item 17


def _multinomial_kkt(X, y, coef, intercept, alpha, l1=False):
    """The optimality residual (inf norm) of mean softmax cross-entropy + penalty, in numpy:
    the gradient for L2 (alpha/2 ||W||^2), the subdifferential distance for L1."""
    Yh = np.eye(coef.shape[0])[np.searchsorted(np.unique(y), y)]
    Z = X @ coef.T + intercept
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    G = (P - Yh).T @ X / len(y)  # (K, p)
    gb = np.abs((P - Yh).mean(0)).max()
    if not l1:
        return max(np.abs(G + alpha * coef).max(), gb)
    dist = np.where(coef == 0, np.maximum(np.abs(G) - alpha, 0), np.abs(G + alpha * np.sign(coef)))
    return max(dist.max(), gb)


@pytest.mark.parametrize("kw, l1", [(dict(), False), (dict(penalty="l1", C=0.1), True)], ids=["default", "l1-C0.1"])
def test_item17_logistic_regression_converges_on_raw_digits(kw, l1):
    # before: the defaults stopped at 1000 L-BFGS iterations with a ConvergenceWarning, and
    # penalty='l1', C=0.1 at 10000 FISTA iterations: the raw pixels' means (up to 14) made
    # one direction ~1000x stiffer than the rest, and FISTA's step stayed at the global
    # curvature bound. Both now run on the centred design (FISTA as an operator, so sparse
    # X too), and FISTA's step follows the local curvature (760 iterations).
    from sklearn.datasets import load_digits

    Xd, yd = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = jaxreg.LogisticRegression(**kw).fit(Xd, yd)
    alpha = 1.0 / (kw.get("C", 1.0) * len(yd))
    # the tolerance (1e-6) is on the centred problem's gradient, (g_w - mu g_b, g_b): at most
    # (1 + max |mu|) times it on the raw one's
    assert _multinomial_kkt(Xd, yd, clf.coef_, clf.intercept_, alpha, l1) <= 1e-6 * (1 + Xd.mean(0).max())
    assert clf.fit_result_.converged
    assert clf.fit_result_.n_iter <= 2000  # a count, not a time: the 10000 it took before

