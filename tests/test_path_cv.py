"""Regularization paths and cross-validated estimators against scikit-learn."""

import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import ElasticNetCV as SkElasticNetCV
from sklearn.linear_model import LassoCV as SkLassoCV
from sklearn.linear_model import enet_path, lasso_path
from sklearn.model_selection import KFold

import jaxreg
from jaxreg.cv import ElasticNetCV, LassoCV
from jaxreg.fit import compute_context
from jaxreg.path import auto_path_solver
from jaxreg.penalties import ElasticNet

from conftest import make_regression

N, P = 50, 40  # the shape test_working_set uses too (compiled pieces are shared)


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_regression(N, P, rho=0.5, n_informative=8, noise=0.5, seed=41)
    return X, y


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_path_matches_sklearn_lasso_path(data):
    X, y = data
    res = jaxreg.path(X, y, n_alphas=30, eps=1e-2, tol=1e-12)
    sk_alphas = SkLassoCV(alphas=30, eps=1e-2).fit(X, y).alphas_  # scikit-learn's own grid
    np.testing.assert_allclose(res.alphas, sk_alphas, rtol=1e-12)
    _, coefs, _ = quiet(lasso_path, X - X.mean(0), y - y.mean(), alphas=res.alphas, tol=1e-14, max_iter=1_000_000)
    np.testing.assert_allclose(res.coefs, coefs, atol=1e-8)
    assert res.converged.all() and res.coefs.shape == (P, 30)
    np.testing.assert_allclose(res.intercepts, y.mean() - X.mean(0) @ res.coefs, atol=1e-10)
    assert res.nonzeros[0] == 0 and res.nonzeros[-1] > 0


def test_path_elasticnet_matches_enet_path(data):
    X, y = data
    res = jaxreg.path(X, y, penalty=ElasticNet(l1_ratio=0.7), n_alphas=20, eps=1e-2, tol=1e-12)
    _, coefs, _ = quiet(
        enet_path, X - X.mean(0), y - y.mean(), l1_ratio=0.7, alphas=res.alphas, tol=1e-14, max_iter=10**6
    )
    np.testing.assert_allclose(res.coefs, coefs, atol=1e-8)


@pytest.mark.parametrize("l1_ratio, weighted", [(1.0, False), (0.6, True)])
def test_batched_fista_path_matches_sklearn(data, l1_ratio, weighted):
    # every alpha at once (the GPU-shaped path): scikit-learn's coordinate descent at a
    # tight tol is the reference, and the duality gap it reports is recomputed here
    X, y = data
    sw = np.random.default_rng(5).uniform(0.5, 2.0, len(y)) if weighted else None
    pen = ElasticNet(l1_ratio=l1_ratio)
    res = jaxreg.path(X, y, penalty=pen, n_alphas=8, eps=0.05, tol=1e-11, solver="fista", sample_weight=sw)
    assert res.converged.all() and res.criterion == "duality_gap" and np.all(res.stop_crit <= 1e-11)
    for k, a in enumerate(res.alphas):
        sk = quiet(SkElasticNet(alpha=a, l1_ratio=l1_ratio, tol=1e-14, max_iter=10**6).fit, X, y, sample_weight=sw)
        np.testing.assert_allclose(res.coefs[:, k], sk.coef_, atol=1e-7)
        assert res.intercepts[k] == pytest.approx(sk.intercept_, abs=1e-7)
    ws_path = jaxreg.path(X, y, penalty=pen, alphas=res.alphas, tol=1e-12, sample_weight=sw)
    np.testing.assert_allclose(res.coefs, ws_path.coefs, atol=1e-7)


def test_batched_fista_path_refuses_what_it_cannot_do(data, clf_data):
    X, y = data
    with pytest.raises(ValueError, match=r"solver='fista' solves the squared loss from zero \(loss='logistic'"):
        jaxreg.path(*clf_data, loss="logistic", solver="fista")
    with pytest.raises(ValueError, match=r"coef_init given: True"):
        jaxreg.path(X, y, solver="fista", coef_init=np.zeros(X.shape[1]))
    with pytest.raises(ValueError, match=r"solver='cd' is not allowed; allowed: \['auto', 'working_set', 'fista'\]"):
        jaxreg.path(X, y, solver="cd")


def test_path_auto_solver_is_batched_fista_only_for_the_squared_loss_from_zero_on_a_gpu():
    gpu, cpu = SimpleNamespace(platform="gpu"), SimpleNamespace(platform="cpu")
    squared, logistic = jaxreg.losses.get_loss("squared"), jaxreg.losses.get_loss("logistic")
    assert auto_path_solver(squared, gpu, warm_start=False) == "fista"
    assert auto_path_solver(squared, gpu, warm_start=True) == "working_set"
    assert auto_path_solver(logistic, gpu, warm_start=False) == "working_set"
    assert auto_path_solver(squared, cpu, warm_start=False) == "working_set"


def test_fits_run_with_full_precision_matmuls_and_x64_only_for_float64():
    # JAX's default float32 product on an NVIDIA GPU rounds to TF32; every fit, path and CV
    # runs inside compute_context, which must ask for "highest" and leave the global state alone.
    before = (jax.config.jax_default_matmul_precision, jax.config.jax_enable_x64)
    for dtype, x64 in [(np.float64, True), (np.float32, False)]:
        with compute_context(dtype, "cpu"):
            assert jax.config.jax_default_matmul_precision == "highest"
            assert jax.config.jax_enable_x64 == x64
            assert jnp.ones(2, dtype).dtype == dtype
    assert (jax.config.jax_default_matmul_precision, jax.config.jax_enable_x64) == before


def test_path_logistic_meets_kkt_at_every_alpha(clf_data):
    X, y = clf_data
    res = jaxreg.path(X, y, loss="logistic", n_alphas=8, eps=0.05, tol=1e-10)
    assert res.converged.all() and res.nonzeros[0] == 0
    s = np.where(y == res.classes[1], 1.0, -1.0)
    for k, a in enumerate(res.alphas):
        z = X @ res.coefs[:, k] + res.intercepts[k]
        gz = -s / (1 + np.exp(s * z)) / len(y)
        g, on = X.T @ gz, res.coefs[:, k] != 0
        np.testing.assert_allclose(g[on], -a * np.sign(res.coefs[on, k]), atol=1e-9)
        assert np.all(np.abs(g[~on]) <= a + 1e-9) and abs(gz.sum()) < 1e-9


def test_path_rejects_bad_input(data):
    X, y = data
    with pytest.raises(ValueError, match=r"alphas=.* must be finite numbers >= 0"):
        jaxreg.path(X, y, alphas=[0.1, -1.0])
    with pytest.raises(ValueError, match=r"path with penalty L2\(alpha=1.0\) needs alphas="):
        jaxreg.path(X, y, penalty=jaxreg.L2(1.0))
    with pytest.raises(ValueError, match=r"path cannot handle .*LInf"):
        jaxreg.path(X, y, penalty=jaxreg.penalties.LInf(1.0))
    with pytest.raises(ValueError, match=r"n_alphas=0 is not allowed"):
        jaxreg.path(X, y, n_alphas=0)


def test_lassocv_matches_sklearn(data):
    X, y = data
    ours = LassoCV(alphas=30, eps=1e-2, tol=1e-10).fit(X, y)
    sk = quiet(SkLassoCV(alphas=30, eps=1e-2, tol=1e-10, max_iter=10**6).fit, X, y)
    np.testing.assert_allclose(ours.alphas_, sk.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, sk.mse_path_, rtol=1e-6)
    assert ours.alpha_ == sk.alpha_
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-7)
    assert ours.intercept_ == pytest.approx(sk.intercept_, abs=1e-7)
    np.testing.assert_allclose(ours.predict(X[:5]), sk.predict(X[:5]), atol=1e-6)
    assert not hasattr(ours, "l1_ratio_")


def test_lassocv_with_given_alphas_and_shuffled_folds(data):
    X, y = data
    cv = KFold(5, shuffle=True, random_state=0)
    grid = np.geomspace(0.5, 0.005, 12)
    ours = LassoCV(alphas=grid, cv=cv, tol=1e-10).fit(X, y)
    sk = quiet(SkLassoCV(alphas=grid, cv=cv, tol=1e-10, max_iter=10**6).fit, X, y)
    np.testing.assert_allclose(ours.mse_path_, sk.mse_path_, rtol=1e-6)
    assert ours.alpha_ == sk.alpha_


def test_elasticnetcv_chooses_l1_ratio_like_sklearn(data):
    X, y = data
    ours = ElasticNetCV(l1_ratio=[0.3, 1.0], alphas=15, eps=1e-2, tol=1e-10).fit(X, y)
    sk = quiet(SkElasticNetCV(l1_ratio=[0.3, 1.0], alphas=15, eps=1e-2, tol=1e-10, max_iter=10**6).fit, X, y)
    np.testing.assert_allclose(ours.alphas_, sk.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, sk.mse_path_, rtol=1e-6)
    assert (ours.alpha_, ours.l1_ratio_) == (sk.alpha_, sk.l1_ratio_)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-7)


def test_cv_estimators_are_sklearn_estimators():
    est = clone(ElasticNetCV(l1_ratio=0.3, alphas=7, cv=3))
    assert est.get_params()["l1_ratio"] == 0.3 and est.get_params()["alphas"] == 7
    with pytest.raises(ValueError, match=r"positive=0 is not allowed; it must be True or False"):
        LassoCV(positive=0).fit(np.ones((10, 2)), np.arange(10.0))
    with pytest.raises(ValueError, match=r"l1_ratio=1.5 is not allowed"):
        ElasticNetCV(l1_ratio=1.5).fit(np.random.default_rng(0).standard_normal((10, 2)), np.arange(10.0))


def test_logistic_regression_cv_matches_sklearn(clf_data):
    from sklearn.linear_model import LogisticRegressionCV as SkLogisticRegressionCV

    from jaxreg.cv import LogisticRegressionCV

    X, y = clf_data
    Cs = np.logspace(-2, 2, 6)  # C = 1e-2: all-zero coefficients; the rest saga solves tightly
    ours = LogisticRegressionCV(Cs=Cs, l1_ratios=(1.0,), tol=1e-10).fit(X, y)
    sk = quiet(
        SkLogisticRegressionCV(
            Cs=Cs, l1_ratios=(1.0,), solver="saga", tol=1e-12, max_iter=100_000, use_legacy_attributes=True
        ).fit,
        X,
        y,
    )
    assert ours.scores_[1].shape == sk.scores_[1].shape == (5, 6, 1)
    # at C = 1e-2 saga leaves the intercept unconverged (its steps scale with C), so the
    # constant prediction there is compared with the exact one below instead
    np.testing.assert_array_equal(ours.scores_[1][:, 1:], sk.scores_[1][:, 1:])
    assert ours.C_ == sk.C_ and ours.l1_ratio_ == sk.l1_ratio_
    np.testing.assert_allclose(ours.coefs_paths_[1][:, 1:], sk.coefs_paths_[1][:, 1:], atol=1e-5)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-5)
    assert ours.n_iter_.shape == sk.n_iter_.shape
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    # all-zero coefficients at the smallest C: the intercept is the training fold's log-odds
    from sklearn.model_selection import StratifiedKFold

    for f, (train, test) in enumerate(StratifiedKFold(5).split(X, y)):
        q = y[train].mean()
        assert np.all(ours.coefs_paths_[1][f, 0, 0, :-1] == 0)
        assert ours.coefs_paths_[1][f, 0, 0, -1] == pytest.approx(np.log(q / (1 - q)), abs=1e-9)
        assert ours.scores_[1][f, 0, 0] == np.mean(y[test] == (q > 0.5))


def test_logistic_regression_cv_rejects_what_it_cannot_do(clf_data):
    from jaxreg.cv import LogisticRegressionCV

    X, y = clf_data
    with pytest.raises(ValueError, match=r"l1_ratios=\(-0.5,\) is not allowed; give numbers in \[0, 1\]"):
        LogisticRegressionCV(l1_ratios=(-0.5,)).fit(X, y)
    with pytest.raises(ValueError, match=r"no_such_score"):  # scikit-learn's check_scoring error
        LogisticRegressionCV(scoring="no_such_score").fit(X, y)
    with pytest.raises(ValueError, match=r"Unknown label type"):
        LogisticRegressionCV().fit(X, np.linspace(0, 1, len(y)))


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_multiclass_logistic_cv_matches_sklearn(l1_ratio):
    """Three classes: the multinomial loss on the same folds and grid as scikit-learn's
    LogisticRegressionCV (saga at a tight tol), same scores, chosen C, coefficients."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegressionCV as Ref
    from sklearn.preprocessing import StandardScaler

    from jaxreg.cv import LogisticRegressionCV

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    kw = dict(Cs=[0.05, 0.5, 5.0], cv=3, l1_ratios=(l1_ratio,), scoring="neg_log_loss")
    # multinomial + L1 runs on FISTA (the working set is binary): it reaches 1e-8, slowly
    ours = LogisticRegressionCV(tol=1e-8 if l1_ratio else 1e-10, max_iter=100000, **kw).fit(X, y)
    # (on the weakly penalised, nearly separable folds the optimum is flat: 1e-8 on FISTA's
    # criterion leaves the coefficients ~3e-4 from saga's; the refit is checked by KKT below)
    atol = 1e-3 if l1_ratio else 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Ref(solver="saga", tol=1e-10, max_iter=100000, use_legacy_attributes=True, **kw).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape == (3, 4) and ours.intercept_.shape == (3,)
    assert ours.C_.shape == ref.C_.shape and ours.C_[0] == ref.C_[0]
    np.testing.assert_allclose(ours.scores_[2], ref.scores_[2].reshape(ours.scores_[2].shape), atol=1e-6)
    for c in (0, 1, 2):
        np.testing.assert_allclose(
            ours.coefs_paths_[c], ref.coefs_paths_[c].reshape(ours.coefs_paths_[c].shape), atol=atol
        )
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=atol)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=atol)
    assert np.array_equal(ours.predict(X), ref.predict(X))
    # the refit is optimal for its C: softmax gradient within the L1 (or L2) subdifferential
    a = 1.0 / (ours.C_[0] * len(y))
    G = X.T @ (ours.predict_proba(X) - np.eye(3)[y]) / len(y) + a * (1 - l1_ratio) * ours.coef_.T
    W = ours.coef_.T
    l1 = a * l1_ratio
    dist = np.where(W != 0, np.abs(G + l1 * np.sign(W)), np.maximum(np.abs(G) - l1, 0.0))
    assert dist.max() < 1e-6


def test_logistic_cv_with_an_l2_ratio_matches_sklearn():
    import warnings

    from sklearn.linear_model import LogisticRegressionCV as SkLRCV

    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 8))
    y = (X @ rng.standard_normal(8) + rng.logistic(size=150) > 0).astype(int)
    kw = dict(Cs=5, cv=3, l1_ratios=(0.0, 1.0), scoring="neg_log_loss")  # continuous: no accuracy ties
    ours = jaxreg.LogisticRegressionCV(tol=1e-10, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkLRCV(tol=1e-12, max_iter=10_000, solver="saga", **kw).fit(X, y)
    assert ours.C_ == ref.C_ and ours.l1_ratio_ == ref.l1_ratio_
    # the L2 column (saga's L1 at C = 1e-4 leaves its intercept short of the log-odds, which
    # ours reaches: tested above)
    np.testing.assert_allclose(ours.scores_[1][..., 0], ref.scores_[1][..., 0], atol=1e-8)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)


def test_logistic_cv_defaults_and_any_scorer_match_sklearn(clf_data):
    """No l1_ratios: scikit-learn's default (L2, attributes without the l1_ratio axis); a
    scorer that is not one of the two computed in bulk (balanced accuracy) is called per
    grid point, as scikit-learn calls it."""
    import warnings

    from sklearn.linear_model import LogisticRegressionCV as Ref

    from jaxreg.cv import LogisticRegressionCV

    X, y = clf_data
    kw = dict(Cs=[0.01, 0.1, 1.0], cv=3, scoring="balanced_accuracy")
    ours = LogisticRegressionCV(tol=1e-10, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Ref(tol=1e-10, max_iter=10_000, **kw).fit(X, y)
    assert ours.scores_[1].shape == ref.scores_[1].shape == (3, 3)
    assert ours.coefs_paths_[1].shape == ref.coefs_paths_[1].shape
    assert ours.n_iter_.shape == ref.n_iter_.shape == (1, 3, 3)
    np.testing.assert_allclose(ours.scores_[1], ref.scores_[1], atol=1e-12)
    np.testing.assert_allclose(ours.coefs_paths_[1], ref.coefs_paths_[1], atol=1e-5)
    assert ours.C_ == ref.C_ and ours.l1_ratio_[0] is None and ref.l1_ratio_[0] is None
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)


def test_cv_groups_reach_the_splitter_with_routing_on(reg_data):
    """scikit-learn's rule: groups= only with metadata routing on; then GroupKFold gets them
    (the folds equal scikit-learn's LassoCV's: same mse_path_)."""
    import sklearn
    from sklearn.linear_model import LassoCV as Ref
    from sklearn.model_selection import GroupKFold

    X, y = reg_data[:2]
    groups = np.arange(len(y)) % 7
    with pytest.raises(ValueError, match="only supported if enable_metadata_routing=True"):
        jaxreg.LassoCV(cv=GroupKFold(3)).fit(X, y, groups=groups)
    with sklearn.config_context(enable_metadata_routing=True):
        ours = jaxreg.LassoCV(cv=GroupKFold(3), alphas=5, tol=1e-12).fit(X, y, groups=groups)
        ref = Ref(cv=GroupKFold(3), alphas=5, tol=1e-14, max_iter=100_000).fit(X, y, groups=groups)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    assert ours.alpha_ == pytest.approx(ref.alpha_)


def test_cv_alphas_errors_name_the_entry(reg_data):
    X, y = reg_data[:2]
    with pytest.raises(ValueError, match=r"alphas\[1\] == -1, must be >= 0.0"):
        jaxreg.LassoCV(alphas=(1, -1, -100)).fit(X, y)
    with pytest.raises(TypeError, match=r"alphas\[2\] must be an instance of float, not str"):
        jaxreg.LassoCV(alphas=(1, 1.0, "1")).fit(X, y)
    with pytest.raises(ValueError, match="Automatic alpha grid generation is not supported for l1_ratio=0"):
        jaxreg.ElasticNetCV(l1_ratio=0).fit(X, y)
    est = jaxreg.ElasticNetCV(l1_ratio=[0.5, 0.9], alphas=[0.1, 0.01]).fit(X, y)
    assert est.alphas_.shape == (2,)  # given alphas: one row, as scikit-learn


def test_elastic_net_cv_with_a_ridge_ratio_matches_sklearn(reg_data):
    import warnings

    from sklearn.linear_model import ElasticNetCV as Ref

    X, y = reg_data[:2]
    kw = dict(l1_ratio=[0.0, 0.5], alphas=[1.0, 0.1, 0.01], cv=4)
    ours = jaxreg.ElasticNetCV(tol=1e-12, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Ref(tol=1e-14, max_iter=100_000, **kw).fit(X, y)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-7)
    assert (ours.alpha_, ours.l1_ratio_) == (ref.alpha_, ref.l1_ratio_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-8)


@pytest.mark.parametrize("three", [False, True], ids=["binary", "multiclass"])
def test_logistic_cv_new_attribute_layout_is_sklearns(clf_data, three):
    import warnings

    from sklearn.linear_model import LogisticRegressionCV as Ref

    X, y = clf_data
    if three:
        y = np.digitize(X[:, 0], np.quantile(X[:, 0], [1 / 3, 2 / 3]))
    kw = dict(Cs=3, cv=2, l1_ratios=(0.0,), use_legacy_attributes=False, scoring="neg_log_loss")
    ours = jaxreg.LogisticRegressionCV(tol=1e-10, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Ref(tol=1e-10, max_iter=10_000, **kw).fit(X, y)
    for name in ("scores_", "coefs_paths_", "n_iter_"):
        assert getattr(ours, name).shape == getattr(ref, name).shape, name
    assert isinstance(ours.C_, float) and ours.C_ == ref.C_
    np.testing.assert_allclose(ours.scores_, ref.scores_, rtol=1e-4)  # C = 1e4: nearly unpenalised, flat
    np.testing.assert_allclose(ours.coefs_paths_, ref.coefs_paths_, atol=1e-4)


def test_cv_regressors_predict_on_sparse_x(reg_data):
    import scipy.sparse as sp

    X, y = reg_data[:2]
    est = jaxreg.LassoCV(cv=3).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(est.predict(sp.csr_matrix(X)), X @ est.coef_ + est.intercept_, rtol=1e-12)
