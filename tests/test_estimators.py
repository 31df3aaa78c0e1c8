"""The estimators against scikit-learn's own models and scipy, plus their warnings and errors.

Shapes are shared with the rest of the suite (reg_data 80x12, clf_data 120x8) so that the
compiled solvers are reused.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.linear_model as sklm
from scipy import optimize, sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import jaxreg
from jaxreg.datasets import make_sinusoidal
from jaxreg.penalties import L1, L2, ElasticNet, LInf, Lp, NoPenalty, WeightedL1


@pytest.fixture(scope="module")
def weights(reg_data):
    return np.random.default_rng(5).uniform(0.2, 3.0, reg_data[0].shape[0])


@pytest.fixture(scope="module")
def clf3_data(clf_data):
    X, _ = clf_data
    score = X[:, 0] - X[:, 1] + 0.5 * np.random.default_rng(4).standard_normal(X.shape[0])
    return X, np.array(["a", "b", "c"])[np.digitize(score, [-0.7, 0.7])]


def _squared_objective(X, y, coef, intercept, penalty_value):
    return 0.5 * np.mean((y - X @ coef - intercept) ** 2) + penalty_value(coef)


# ----------------------------------------------------------------------------- regressors


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "ours, theirs",
    [
        (jaxreg.LinearRegression(), sklm.LinearRegression()),
        (jaxreg.Ridge(alpha=3.0), sklm.Ridge(alpha=3.0, solver="svd")),
        (jaxreg.Lasso(alpha=0.05, tol=1e-10), sklm.Lasso(alpha=0.05, tol=1e-14, max_iter=100000)),
        (
            jaxreg.ElasticNet(alpha=0.05, l1_ratio=0.3, tol=1e-10),
            sklm.ElasticNet(alpha=0.05, l1_ratio=0.3, tol=1e-14, max_iter=100000),
        ),
    ],
    ids=["ols", "ridge", "lasso", "elasticnet"],
)
def test_regressors_match_sklearn(ours, theirs, weighted, reg_data, weights):
    X, y, _ = reg_data
    sw = weights if weighted else None
    ours.fit(X, y, sample_weight=sw)
    theirs.fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-7, atol=1e-9)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, abs=1e-8)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-8, atol=1e-8)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-9)
    assert ours.n_features_in_ == 12 and ours.n_iter_ >= 1
    assert len(ours.objective_history_) == ours.n_iter_ and ours.fit_result_.converged


def test_no_intercept_and_float32(reg_data):
    X, y, _ = reg_data
    ours = jaxreg.Ridge(alpha=3.0, fit_intercept=False).fit(X, y)
    theirs = sklm.Ridge(alpha=3.0, fit_intercept=False, solver="svd").fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-9)
    assert ours.intercept_ == 0.0
    r32 = jaxreg.Ridge(alpha=3.0).fit(X.astype(np.float32), y.astype(np.float32))
    assert r32.coef_.dtype == np.float32 and r32.predict(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(r32.coef_, sklm.Ridge(alpha=3.0).fit(X, y).coef_, rtol=1e-4, atol=1e-5)


def test_sparse_input_gives_the_dense_answer(reg_data):
    X, y, _ = reg_data
    Xs = X * (np.abs(X) > 0.8)  # about 40% nonzeros
    ours = jaxreg.Lasso(alpha=0.05, tol=1e-10).fit(sparse.csr_matrix(Xs), y)
    theirs = sklm.Lasso(alpha=0.05, tol=1e-14, max_iter=100000).fit(Xs, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.predict(sparse.csc_matrix(Xs)), theirs.predict(Xs), rtol=1e-8, atol=1e-8)


def test_lasso_sgd_reaches_the_lasso_objective(reg_data):
    X, y, _ = reg_data
    ref = sklm.Lasso(alpha=0.05, tol=1e-14, max_iter=100000).fit(X, y)
    l1 = lambda w: 0.05 * np.abs(w).sum()
    f_ref = _squared_objective(X, y, ref.coef_, ref.intercept_, l1)
    plain = jaxreg.Lasso(alpha=0.05, solver="sgd").fit(X, y)
    svrg = jaxreg.Lasso(alpha=0.05, solver="sgd", solver_options={"variance_reduction": "svrg"}).fit(X, y)
    for est in (plain, svrg):
        assert est.fit_result_.solver == "sgd"
        assert _squared_objective(X, y, est.coef_, est.intercept_, l1) == pytest.approx(f_ref, rel=2e-2)
    # Proximal steps give exact zeros; with variance reduction, on the lasso's support.
    np.testing.assert_array_equal(svrg.coef_ == 0, np.abs(ref.coef_) < 1e-12)


def test_regressor_weighted_l1_is_lasso_on_rescaled_columns(reg_data):
    """alpha sum v_j |w_j| with w_j = u_j / v_j is the lasso in u on the columns X_j / v_j."""
    X, y, _ = reg_data
    v = np.linspace(0.5, 2.0, X.shape[1])
    ours = jaxreg.Regressor(penalty=WeightedL1(0.05, v), tol=1e-10).fit(X, y)
    ref = sklm.Lasso(alpha=0.05, tol=1e-14, max_iter=100000).fit(X / v, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_ / v, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "penalty, value",
    [
        (LInf(0.3), lambda w: 0.3 * np.max(np.abs(w))),
        (Lp(0.2, p=1.5), lambda w: 0.2 / 1.5 * np.sum(np.abs(w) ** 1.5)),
    ],
    ids=["linf", "lp1.5"],
)
def test_regressor_any_penalty_minimises_its_objective(penalty, value, reg_data):
    X, y, _ = reg_data
    est = jaxreg.Regressor(penalty=penalty, tol=1e-10).fit(X, y)
    obj = lambda t: _squared_objective(X, y, t[:-1], t[-1], value)
    # scipy's Powell on the (non-smooth) objective, started at our answer and elsewhere.
    ours = obj(np.r_[est.coef_, est.intercept_])
    for start in (np.r_[est.coef_, est.intercept_], np.zeros(X.shape[1] + 1)):
        ref = optimize.minimize(obj, start, method="Powell", options={"xtol": 1e-10, "ftol": 1e-14, "maxfev": 200000})
        assert ours <= ref.fun + 1e-9


# ----------------------------------------------------------------------------- classifiers


def _sk_logistic(C, l1_ratio=0.0, **kw):
    # scikit-learn 1.8+ spells the penalty through l1_ratio; saga handles every l1_ratio.
    solver = "lbfgs" if l1_ratio == 0.0 else "saga"
    return sklm.LogisticRegression(C=C, l1_ratio=l1_ratio, solver=solver, tol=1e-12, max_iter=100000, **kw)


@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_l2_matches_sklearn(weighted, clf_data):
    X, y = clf_data
    sw = np.random.default_rng(6).uniform(0.2, 3.0, len(y)) if weighted else None
    ours = jaxreg.LogisticRegression(C=0.5, tol=1e-10).fit(X, y, sample_weight=sw)
    theirs = _sk_logistic(0.5).fit(X, y, sample_weight=sw)
    assert ours.coef_.shape == (1, 8) and ours.intercept_.shape == (1,)
    # scikit-learn's L-BFGS-B also stops on a relative objective change (~1e-14): agreement to ~1e-8.
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 1.0), ("elasticnet", 0.4)])
def test_logistic_l1_and_elasticnet_match_sklearn(penalty, l1_ratio, clf_data):
    X, y = clf_data
    kw = {"l1_ratio": l1_ratio} if penalty == "elasticnet" else {}
    ours = jaxreg.LogisticRegression(penalty, C=0.1, tol=1e-10, **kw).fit(X, y)
    theirs = _sk_logistic(0.1, l1_ratio).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    if penalty == "l1":
        assert np.sum(ours.coef_ == 0) == np.sum(np.abs(theirs.coef_) < 1e-8) > 0  # exact zeros


def test_multinomial_matches_sklearn(clf3_data):
    X, y = clf3_data
    ours = jaxreg.LogisticRegression(C=0.5, tol=1e-10).fit(X, y)
    theirs = _sk_logistic(0.5).fit(X, y)
    assert ours.classes_.tolist() == ["a", "b", "c"]
    assert ours.coef_.shape == (3, 8) and ours.intercept_.shape == (3,)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # Scores are the intercept differences up to a common shift; the probabilities are not.
    d = ours.decision_function(X) - theirs.decision_function(X)
    np.testing.assert_allclose(d - d[:, :1], 0.0, atol=1e-5)


def test_classifier_linf_multinomial_minimises_its_objective(clf3_data):
    X, y = clf3_data
    est = jaxreg.Classifier(penalty=LInf(0.02), tol=1e-10).fit(X, y)
    onehot = (y[:, None] == est.classes_).astype(float)

    def obj(t):
        W, b = t[:-3].reshape(3, 8), t[-3:]
        z = X @ W.T + b
        zmax = z.max(1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(1))
        return np.mean(lse - (onehot * z).sum(1)) + 0.02 * np.abs(W).max()

    ours = obj(np.r_[est.coef_.ravel(), est.intercept_])
    ref = optimize.minimize(
        obj,
        np.r_[est.coef_.ravel(), est.intercept_],
        method="Powell",
        options={"xtol": 1e-10, "ftol": 1e-14, "maxfev": 200000},
    )
    assert ours <= ref.fun + 1e-9
    np.testing.assert_allclose(est.predict_proba(X).sum(1), 1.0)


@pytest.mark.parametrize(
    "est, penalty",
    [
        (jaxreg.LogisticRegression("lp", C=0.3, p=1.5), Lp(1 / 36, p=1.5)),
        (jaxreg.LogisticRegression("linf", C=0.3), LInf(1 / 36)),
        (jaxreg.LogisticRegression("l1", C=2.0), ElasticNet(1 / 240, l1_ratio=1.0)),
        (jaxreg.LogisticRegression(None), L2(0.0)),
        (jaxreg.Ridge(alpha=6.0), L2(6.0 / 120)),
        (jaxreg.LinearRegression(), L2(0.0)),
        (jaxreg.Lasso(alpha=0.1), ElasticNet(0.1, l1_ratio=1.0)),
    ],
)
def test_penalty_scaling(est, penalty):
    """C = 1/(alpha n) and Ridge(a) = L2(a/n), here with n = sum(sample_weight) = 120. No
    penalty is L2(0) and L1 is ElasticNet(l1_ratio=1) (shared compilations)."""
    got = est._penalty(120.0)
    assert type(got) is type(penalty) and vars(got) == pytest.approx(vars(penalty), rel=1e-15)


def test_stand_in_penalties_are_bitwise_the_same():
    """ElasticNet(a, 1) for L1(a) and L2(0) for no penalty: value, prox and optimality measure
    agree exactly, exact zeros included."""
    rng = np.random.default_rng(7)
    w = np.r_[rng.standard_normal(6), 0.0, 0.0]
    g = rng.standard_normal(8) * 0.3
    with jax.enable_x64(True):
        w, g = jnp.asarray(w), jnp.asarray(g)
        for stand_in, original in [(ElasticNet(0.2, 1.0), L1(0.2)), (L2(0.0), NoPenalty())]:
            assert float(stand_in.value(w)) == float(original.value(w))
            np.testing.assert_array_equal(stand_in.prox(w, 0.7), original.prox(w, 0.7))
            np.testing.assert_array_equal(stand_in.subdiff_distance(w, g), original.subdiff_distance(w, g))
        assert float(ElasticNet(0.2, 1.0).alpha_max(g)) == float(L1(0.2).alpha_max(g))


# ----------------------------------------------------------------------------- warnings and errors


def test_not_converged_warns_and_diverged_raises(reg_data):
    X, y, _ = reg_data
    # One compiled program (gd, max_iter=50): the learning rate is traced.
    with pytest.warns(ConvergenceWarning, match="did not converge in 50 iterations"):
        jaxreg.Lasso(alpha=0.01, solver="gd", learning_rate=1e-4, max_iter=50).fit(X, y)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        jaxreg.Lasso(alpha=0.01, solver="gd", learning_rate=1e3, max_iter=50).fit(X, y)


@pytest.mark.parametrize(
    "est, match",
    [
        (jaxreg.Ridge(alpha=-1.0), r"alpha=-1.0 is not allowed"),
        (jaxreg.Lasso(alpha="big"), r"alpha='big' is not allowed"),
        (jaxreg.ElasticNet(l1_ratio=2.0), r"l1_ratio=2.0 is not allowed"),
        (jaxreg.LogisticRegression(penalty="l3"), r"penalty='l3' is not allowed; allowed: \['auto', 'l2'"),
        (jaxreg.LogisticRegression(C=0.0), r"C=0.0 is not allowed"),
        (jaxreg.LogisticRegression(penalty="elasticnet"), r"l1_ratio=None is not allowed with penalty='elasticnet'"),
        (jaxreg.LogisticRegression(penalty="lp"), r"p=None is not allowed with penalty='lp'"),
        (jaxreg.Regressor(penalty="l7"), r"penalty='l7' is not a known penalty"),
        (jaxreg.Ridge(solver="nope"), r"solver='nope' is not a known solver"),
        (jaxreg.Ridge(solver="closed_form", learning_rate=0.1), r"learning_rate=0.1 does not apply"),
        (jaxreg.Lasso(solver="closed_form"), r"solver='closed_form' cannot handle"),
        (jaxreg.Lasso(solver_options={"seed": 1}), r"solver_options sets \['seed'\]"),
        (jaxreg.Lasso(solver_options=3), r"solver_options=3 is not allowed"),
    ],
)
def test_bad_parameters_raise_naming_them(est, match, clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_ignored_parameters_warn(clf_data):
    X, y = clf_data
    with pytest.warns(UserWarning) as caught:  # scikit-learn's two UserWarnings for this
        jaxreg.LogisticRegression(penalty="l2", l1_ratio=0.5).fit(X, y)
    messages = [str(w.message) for w in caught]
    assert any("l1_ratio=0.5: l1_ratio is ignored" in m for m in messages), messages
    assert any("l1_ratio parameter is only used when penalty is 'elasticnet'" in m for m in messages), messages


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_l1_ratio_alone_chooses_the_penalty_as_in_sklearn(l1_ratio, clf_data):
    # scikit-learn >= 1.8 (penalty deprecated): l1_ratio=0.5 is the elastic net, 1 the lasso;
    # before, ours fitted plain L2 for every l1_ratio (a silent wrong model)
    X, y = clf_data
    ours = jaxreg.LogisticRegression(C=0.1, l1_ratio=l1_ratio, tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklm.LogisticRegression(C=0.1, l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=200_000)
        ref.fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=2e-5)
    np.testing.assert_array_equal(ours.coef_ == 0, np.abs(ref.coef_) < 1e-8)


def test_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    X, y = make_sinusoidal(40, seed=1)
    df = pd.DataFrame({"x": X[:, 0]})
    pipe = Pipeline([("basis", jaxreg.GaussianBasis(4)), ("ridge", jaxreg.Ridge(1e-3))]).fit(df, y)
    assert pipe["basis"].feature_names_in_.tolist() == ["x"]
    assert pipe[:-1].get_feature_names_out().tolist() == ["x_gauss0", "x_gauss1", "x_gauss2", "x_gauss3"]
    assert pipe["ridge"].n_features_in_ == 4


# ----------------------------------------------------------------------------- pipelines


def test_grid_search_over_basis_scaler_estimator_matches_sklearn_ridge():
    """A basis + StandardScaler + Ridge pipeline in GridSearchCV: the same scores as with
    scikit-learn's Ridge in the same place, and a sensible choice on sin(2 pi x) data."""
    X, y = make_sinusoidal(50, noise=0.2, seed=3)
    grid = {
        "basis": [
            jaxreg.PolynomialBasis(1),
            jaxreg.PolynomialBasis(5),
            jaxreg.GaussianBasis(8),
            jaxreg.FourierBasis(2, period=1.0),
        ],
        "model__alpha": [1e-3, 1.0],
    }
    cv = KFold(5, shuffle=True, random_state=0)
    results = []
    for model in (jaxreg.Ridge(), sklm.Ridge(solver="svd")):
        pipe = Pipeline([("basis", jaxreg.PolynomialBasis()), ("scale", StandardScaler()), ("model", model)])
        results.append(GridSearchCV(pipe, grid, cv=cv, scoring="neg_mean_squared_error").fit(X, y))
    ours, theirs = results
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], rtol=1e-8)
    assert ours.best_params_["basis"].__class__ is not jaxreg.PolynomialBasis or ours.best_params_["basis"].degree > 1
    assert -ours.best_score_ < 0.1  # noise variance 0.04; a straight line scores ~0.2


def test_sklearn_parameters_are_accepted_with_sklearns_meaning(reg_data, clf_data):
    X, y, _ = reg_data
    kw = dict(random_state=0, selection="random", precompute=True, copy_X=False, tol=1e-10)
    ours = jaxreg.Lasso(alpha=0.1, **kw).fit(X, y, check_input=False)
    ref = sklm.Lasso(alpha=0.1, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)
    for solver in ("svd", "cholesky", "lsqr", "sag"):  # scikit-learn's names, mapped to ours
        ridge = jaxreg.Ridge(alpha=3.0, solver=solver, random_state=0, positive=False).fit(X, y)
        np.testing.assert_allclose(ridge.coef_, sklm.Ridge(alpha=3.0, solver="svd").fit(X, y).coef_, atol=1e-8)
    Xc, yc = clf_data
    ours = jaxreg.LogisticRegression(C=0.5, class_weight="balanced", solver="liblinear", tol=1e-10).fit(Xc, yc)
    ref = sklm.LogisticRegression(C=0.5, class_weight="balanced", tol=1e-12, max_iter=10_000).fit(Xc, yc)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)


def test_warm_start_continues_from_the_previous_fit(reg_data):
    X, y, _ = reg_data
    est = jaxreg.ElasticNet(alpha=0.05, l1_ratio=0.7, warm_start=True, tol=1e-12).fit(X, y)
    cold_iters = est.n_iter_
    est.fit(X, y)  # already at the solution: at most one pass
    assert est.n_iter_ <= 1 < cold_iters
    ref = sklm.ElasticNet(alpha=0.05, l1_ratio=0.7, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-8)


@pytest.mark.parametrize(
    "est, match",
    [
        (jaxreg.Lasso(positive=1.0), r"positive=1.0 is not allowed; it must be True or False"),
        (jaxreg.LinearRegression(positive="yes"), r"positive='yes' is not allowed"),
        (jaxreg.ElasticNet(selection="shuffled"), r"selection='shuffled' is not allowed; allowed: 'cyclic', 'random'"),
    ],
)
def test_sklearn_parameters_jaxreg_cannot_honour_raise(est, match, reg_data):
    X, y, _ = reg_data
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_dual_gives_the_l2_optimum_and_is_refused_with_an_l1_part(clf_data):
    from sklearn.linear_model import LogisticRegression as Ref

    X, y = clf_data
    ours = jaxreg.LogisticRegression(dual=True, C=0.3, tol=1e-10).fit(X, y)
    ref = Ref(C=0.3, tol=1e-12, max_iter=10_000).fit(X, y)  # the primal optimum (L-BFGS)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    with pytest.raises(ValueError, match=r"dual=True is not allowed with ElasticNet"):
        jaxreg.LogisticRegression(dual=True, l1_ratio=1.0).fit(X, y)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_dual_gap_is_sklearns(l1_ratio, weighted, reg_data):
    # at scikit-learn's own (unconverged) iterates our formula gives its dual_gap_; our fits
    # end with a gap below the tolerance
    from jaxreg.fit import elastic_net_gap as _dual_gap

    X, y, _ = reg_data
    sw = np.random.default_rng(5).uniform(0.5, 2.0, len(y)) if weighted else np.ones(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for max_iter in (1, 3):
            ref = sklm.ElasticNet(alpha=0.05, l1_ratio=l1_ratio, max_iter=max_iter, tol=1e-15)
            ref.fit(X, y, sample_weight=sw)
            gap = _dual_gap(X, y, sw, ref.coef_, ref.intercept_, 0.05 * l1_ratio, 0.05 * (1 - l1_ratio), True)
            assert gap == pytest.approx(ref.dual_gap_, rel=1e-9)
    d = sw / sw.sum()
    for solver in ("auto", "fista"):  # the solver's own gap (gram_cd), or computed (fista)
        est = jaxreg.ElasticNet(alpha=0.05, l1_ratio=l1_ratio, tol=1e-10, solver=solver).fit(X, y, sample_weight=sw)
        recomputed = _dual_gap(X, y, sw, est.coef_, est.intercept_, 0.05 * l1_ratio, 0.05 * (1 - l1_ratio), True)
        assert est.dual_gap_ == pytest.approx(recomputed, rel=1e-3, abs=1e-13)
    assert 0 <= est.dual_gap_ <= 1e-8 * d @ (y - d @ y) ** 2


def test_ridge_reports_the_solver_it_used(reg_data):
    X, y, _ = reg_data
    assert jaxreg.Ridge(solver="svd").fit(X, y).solver_ == "svd"  # scikit-learn's name, as given
    auto = jaxreg.Ridge().fit(X, y)
    assert auto.solver_ == auto.fit_result_.solver == "closed_form"
    assert jaxreg.Ridge(solver="fista", tol=1e-10).fit(X, y).solver_ == "fista"


def test_logistic_c_inf_is_unpenalized_as_in_sklearn(clf_data):
    import sklearn.linear_model as sklm

    X, y = clf_data
    ours = jaxreg.LogisticRegression(C=np.inf, l1_ratio=1.0, tol=1e-10).fit(X, y)
    ref = sklm.LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    with pytest.raises(ValueError, match="C=-inf"):
        jaxreg.LogisticRegression(C=-np.inf).fit(X, y)


def test_classifier_n_iter_has_sklearns_shape(clf_data):
    import sklearn.linear_model as sklm

    X, y = clf_data
    ours = jaxreg.LogisticRegression().fit(X, y)
    assert ours.n_iter_.shape == sklm.LogisticRegression().fit(X, y).n_iter_.shape == (1,)
    assert ours.n_iter_[0] == ours.fit_result_.n_iter >= 1


@pytest.mark.parametrize("cls", [jaxreg.Lasso, jaxreg.ElasticNet])
def test_alpha_zero_warns_as_sklearn(cls, reg_data):
    X, y, _ = reg_data
    with pytest.warns(UserWarning, match="With alpha=0, this algorithm does not converge well"):
        est = cls(alpha=0.0, tol=1e-10).fit(X, y)
    ols = np.linalg.lstsq(np.c_[X, np.ones(len(y))], y, rcond=None)[0]
    np.testing.assert_allclose(est.coef_, ols[:-1], atol=1e-6)


def test_ridge_positive_matches_sklearn(reg_data):
    import sklearn.linear_model as sklm

    X, y, _ = reg_data
    y = y - 3.0 * X[:, 2]  # a negative truth the constraint must cut
    ours = jaxreg.Ridge(alpha=2.0, positive=True, tol=1e-12).fit(X, y)
    ref = sklm.Ridge(alpha=2.0, positive=True, tol=1e-12).fit(X, y)  # L-BFGS-B
    assert jaxreg.Ridge(alpha=2.0, positive=True, solver="lbfgs").fit(X, y).fit_result_.solver == "working_set"
    assert np.all(ours.coef_ >= 0) and ours.coef_[2] == 0
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)


def test_sparsify_and_densify_keep_predictions_as_sklearn_does():
    import scipy.sparse as sp
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    est = jaxreg.LogisticRegression(C=0.5, l1_ratio=1.0, tol=1e-10).fit(X, y)
    dense_proba = est.predict_proba(X)
    est.sparsify()
    assert sp.issparse(est.coef_) and est.coef_.nnz == np.count_nonzero(est.coef_.toarray())
    np.testing.assert_allclose(est.predict_proba(X), dense_proba, rtol=1e-12)
    np.testing.assert_allclose(est.predict_proba(sp.csr_matrix(X)), dense_proba, rtol=1e-12)
    assert isinstance(est.densify().coef_, np.ndarray)
    np.testing.assert_allclose(est.predict_proba(X), dense_proba, rtol=1e-12)


@pytest.mark.parametrize(
    "name", ["LogisticRegression", "Lasso", "Ridge", "LassoCV", "LogisticRegressionCV", "PoissonRegressor"]
)
def test_fitted_coefficients_are_writable_arrays(name, clf_data):
    """scikit-learn users assign into coef_ (its test_write_parameters): a read-only view of a
    device buffer raised 'assignment destination is read-only'."""
    X, y = clf_data
    est = getattr(jaxreg, name)().fit(X, y)
    est.coef_[...] = 0.0
    if np.ndim(est.intercept_):
        est.intercept_[...] = 0.0
    else:
        est.intercept_ = 0.0
    scores = est.decision_function(X) if hasattr(est, "decision_function") else est.predict(X)
    expected = 1.0 if name == "PoissonRegressor" else 0.0  # exp(0) for the log link
    np.testing.assert_allclose(scores, expected)


def test_moot_l1_ratio_and_c_warn_as_in_sklearn(clf_data):
    import warnings

    from sklearn.linear_model import LogisticRegression as Ref

    X, y = clf_data
    cases = [dict(penalty="l1", l1_ratio=0.5), dict(penalty="l2", l1_ratio=1.0), dict(penalty=None, C=4.0)]
    for kw in cases:
        with warnings.catch_warnings(record=True) as ours_w:
            warnings.simplefilter("always")
            jaxreg.LogisticRegression(**kw).fit(X, y)
        with warnings.catch_warnings(record=True) as ref_w:
            warnings.simplefilter("always")
            Ref(solver="saga", max_iter=5, **kw).fit(X, y)
        ref_msgs = {str(w.message).split(".")[0].split(":")[0] for w in ref_w if w.category is UserWarning}
        ours_msgs = {str(w.message).split(".")[0].split(":")[0] for w in ours_w if w.category is UserWarning}
        assert ref_msgs and ref_msgs <= ours_msgs, (kw, ref_msgs, ours_msgs)


@pytest.mark.parametrize("name, l1_ratio", [("Lasso", 1.0), ("ElasticNet", 0.4)])
def test_path_static_methods_match_sklearns(name, l1_ratio, reg_data):
    X, y = reg_data[:2]
    kw = {"l1_ratio": l1_ratio}  # (scikit-learn's Lasso.path is enet_path: l1_ratio 0.5 unless given)
    ours = getattr(jaxreg, name).path(X, y, n_alphas=8, eps=1e-2, tol=1e-12, return_n_iter=True, **kw)
    ref = getattr(sklm, name).path(X, y, alphas=ours[0], tol=1e-14, max_iter=100_000, return_n_iter=True, **kw)
    np.testing.assert_allclose(ours[0], ref[0])
    np.testing.assert_allclose(ours[1], ref[1], atol=1e-8)
    assert ours[1].shape == ref[1].shape and ours[2].shape == ref[2].shape
    assert np.all(ours[2] < 1e-10) and np.all(np.asarray(ours[3]) >= 0)
    Y = np.column_stack([y, -y])
    multi = getattr(jaxreg, name).path(X, Y, alphas=ours[0], tol=1e-12, **kw)
    assert multi[1].shape == (2,) + ours[1].shape
    np.testing.assert_allclose(multi[1][1], -ours[1], atol=1e-8)


def test_path_static_method_takes_sample_weight_and_refuses_unknown_keywords(reg_data):
    X, y = reg_data[:2]
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    ours = jaxreg.ElasticNet.path(X, y, l1_ratio=0.7, alphas=[0.3, 0.03], sample_weight=w, tol=1e-12)
    for k, a in enumerate(ours[0]):  # each alpha's weighted fit, by scikit-learn
        ref = sklm.ElasticNet(alpha=a, l1_ratio=0.7, fit_intercept=False, tol=1e-14, max_iter=100_000)
        np.testing.assert_allclose(ours[1][:, k], ref.fit(X, y, sample_weight=w).coef_, atol=1e-8)
    with pytest.raises(TypeError, match="sample_weights"):
        jaxreg.Lasso.path(X, y, sample_weights=w)
