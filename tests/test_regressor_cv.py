"""jaxreg.Regressor with any regression loss (and an offset), and RegressorCV (any loss and
path penalty, alpha by cross-validation on the held-out mean loss), against scikit-learn's
PoissonRegressor / TweedieRegressor / LassoCV and glum's fits fold by fold (issue 15:
"the generic Regressor(loss=..., penalty=...); paths and CV for every new pair")."""

import numpy as np
import pytest
from sklearn.linear_model import LassoCV, PoissonRegressor, TweedieRegressor
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import GroupKFold, KFold

import jaxreg
from jaxreg.losses import Tweedie
from jaxreg.penalties import L1, L2, ElasticNet


def _counts(n=120, p=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    exposure = rng.uniform(0.5, 2.0, n)
    y = rng.poisson(exposure * np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.2)).astype(float)
    return X, y, exposure


def test_regressor_poisson_with_offset_is_sklearn_rate_model():
    # Poisson with offset log(e) on counts y is scikit-learn's Poisson on the rate y/e with
    # weights e, at alpha * n / sum(e) (its weighted mean divides by sum(e), ours by n)
    X, y, e = _counts()
    est = jaxreg.Regressor(penalty=L2(0.01), loss="poisson", tol=1e-10).fit(X, y, offset=np.log(e))
    sk = PoissonRegressor(alpha=0.01 * len(y) / e.sum(), tol=1e-12, max_iter=1000).fit(X, y / e, sample_weight=e)
    np.testing.assert_allclose(est.coef_, sk.coef_, atol=1e-8)
    np.testing.assert_allclose(est.intercept_, sk.intercept_, atol=1e-8)
    np.testing.assert_allclose(est.predict(X, offset=np.log(e)), e * sk.predict(X), rtol=1e-7)
    np.testing.assert_allclose(est.predict(X), sk.predict(X), rtol=1e-7)  # no offset: the rate


def test_regressor_tweedie_is_sklearn_tweedie():
    X, y, _ = _counts(seed=1)
    est = jaxreg.Regressor(penalty=L2(0.05), loss=Tweedie(1.5), tol=1e-10).fit(X, y)
    sk = TweedieRegressor(power=1.5, link="log", alpha=0.05, tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(est.coef_, sk.coef_, atol=1e-7)
    np.testing.assert_allclose(est.predict(X), sk.predict(X), rtol=1e-7)


def test_regressor_refuses_classification_loss():
    X, y, _ = _counts()
    with pytest.raises(ValueError, match=r"loss='logistic' is a classification loss.*Classifier"):
        jaxreg.Regressor(loss="logistic").fit(X, (y > 1).astype(float))


def test_regressor_cv_squared_l1_is_lasso_cv():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, 12))
    y = X[:, 0] - 2 * X[:, 3] + 0.5 * rng.standard_normal(90)
    alphas = np.geomspace(0.5, 0.005, 8)
    cv = KFold(3, shuffle=True, random_state=0)
    ours = jaxreg.RegressorCV(alphas=alphas, cv=cv, tol=1e-12).fit(X, y)
    sk = LassoCV(alphas=alphas, cv=cv, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(2 * ours.loss_path_, sk.mse_path_, rtol=1e-7)  # squared loss = mse / 2
    assert ours.alpha_ == sk.alpha_
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-8)


def test_regressor_cv_poisson_en_with_offset_is_glum_fold_by_fold():
    glum = pytest.importorskip("glum")
    X, y, e = _counts(150, 5, seed=3)
    off = np.log(e)
    alphas = np.geomspace(0.3, 0.003, 6)
    folds = list(KFold(3, shuffle=True, random_state=1).split(X))
    ours = jaxreg.RegressorCV(ElasticNet(1.0, 0.5), loss="poisson", alphas=alphas, cv=folds, tol=1e-10)
    ours.fit(X, y, offset=off)
    want = np.empty((len(alphas), len(folds)))
    for f, (tr, te) in enumerate(folds):
        for j, a in enumerate(alphas):
            g = glum.GeneralizedLinearRegressor(family="poisson", alpha=a, l1_ratio=0.5, gradient_tol=1e-12)
            g.fit(X[tr], y[tr], offset=off[tr])
            mu = np.exp(X[te] @ g.coef_ + g.intercept_ + off[te])
            want[j, f] = mean_poisson_deviance(y[te], mu) / 2  # our Poisson loss: the half deviance
    np.testing.assert_allclose(ours.loss_path_, want, rtol=1e-6)
    assert ours.alpha_ == alphas[np.argmin(want.mean(axis=1))]
    g = glum.GeneralizedLinearRegressor(family="poisson", alpha=ours.alpha_, l1_ratio=0.5, gradient_tol=1e-12)
    g.fit(X, y, offset=off)
    np.testing.assert_allclose(ours.coef_, g.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X, offset=off), g.predict(X, offset=off), rtol=1e-6)


def test_regressor_cv_default_grid_and_group_splitter():
    X, y, _ = _counts(seed=4)
    groups = np.arange(len(y)) % 4
    m = jaxreg.RegressorCV(loss="poisson", alphas=7, cv=GroupKFold(4), tol=1e-8).fit(X, y, groups=groups)
    # the grid starts at alpha_max of all rows, where every coefficient is zero
    top = jaxreg.alpha_max(X, y, "poisson", L1(1.0))
    np.testing.assert_allclose(m.alphas_, np.geomspace(top, top * 1e-3, 7), rtol=1e-12)
    assert m.loss_path_.shape == (7, 4)
    assert m.alpha_ == m.alphas_[np.argmin(m.loss_path_.mean(axis=1))]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"penalty": L2(1.0)}, r"alphas=100: penalty L2.* has no alpha_max.*alphas=\[\.\.\.\]"),
        ({"alphas": [0.1, -1.0]}, r"alphas=\[0\.1, -1\.0\] is not allowed"),
        ({"loss": "logistic"}, r"loss='logistic' is a classification loss"),
    ],
)
def test_regressor_cv_errors_name_the_argument(kwargs, match):
    X, y, _ = _counts()
    with pytest.raises(ValueError, match=match):
        jaxreg.RegressorCV(**kwargs).fit(X, y)


def test_regressor_cv_refuses_targets_outside_the_loss_domain():
    X, y, _ = _counts()
    with pytest.raises(ValueError, match="y"):
        jaxreg.RegressorCV(loss="gamma", alphas=3).fit(X, y)  # counts hold zeros; Gamma needs y > 0
