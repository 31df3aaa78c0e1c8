"""What the README promises about compiling, counted: once a fit of a shape bucket has run,
a new alpha, tol, learning rate or row count in the bucket, the folds of a
cross-validation, the clones of a grid search, a growing working set and a cloned
estimator build no new program (``compiles`` counts XLA compilations and loads from
jaxreg's executable store; see conftest)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score, learning_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import jaxreg
from jaxreg.penalties import L1, L2, ElasticNet, LInf

from conftest import make_regression


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_regression(330, 12, rho=0.5, seed=41)
    return X, y


FITS = {
    "gram_cd lasso": dict(penalty=L1(0.1)),
    "working_set lasso": dict(penalty=L1(0.1), solver="working_set"),
    "fista elastic net": dict(penalty=ElasticNet(0.1, 0.5), solver="fista"),
    "fista linf": dict(penalty=LInf(0.1), solver="fista"),
    "closed_form ridge": dict(penalty=L2(0.1)),
    "lbfgs ridge": dict(penalty=L2(0.1), solver="lbfgs"),
    "gd ridge": dict(penalty=L2(0.1), solver="gd", max_iter=50),
    "logistic l1": dict(penalty=L1(0.01), loss="logistic"),
    "logistic l2": dict(penalty=L2(0.01), loss="logistic"),
}


def _target(X, y, kw):
    return y > np.median(y) if kw.get("loss") == "logistic" else y


@pytest.mark.parametrize("name", list(FITS))
def test_new_alpha_tol_and_row_count_in_the_bucket_do_not_compile(name, data, compiles):
    X, y = data
    kw = FITS[name]
    t = _target(X, y, kw)
    jaxreg.fit(X[:300], t[:300], **kw)  # 300 rows: the bucket of 289..320
    pen = kw["penalty"]
    with warnings.catch_warnings(), compiles() as c:
        warnings.simplefilter("ignore")
        for n, scale, tol in [(300, 0.5, 1e-4), (301, 2.0, 1e-8), (320, 0.3, 1e-6), (290, 1.0, 1e-5)]:
            jaxreg.fit(X[:n], t[:n], **{**kw, "penalty": pen.with_alpha(float(pen.alpha) * scale)}, tol=tol)
        if kw.get("solver") == "gd":
            jaxreg.fit(X[:300], t[:300], **kw, learning_rate=0.01)
    assert c.count == 0


def test_rows_are_padded_to_their_bucket():
    from jaxreg._buckets import bucket

    assert [bucket(n) for n in (1, 16, 17, 300, 320, 321, 353, 442, 1000)] == [16, 16, 18, 320, 320, 352, 384, 448, 1024]
    assert all((bucket(n) - n) / n < 1 / 8 for n in range(17, 20000))


def test_cross_validation_grid_search_and_clones_do_not_compile(data, compiles):
    X, y = data
    jaxreg.Lasso(alpha=0.1).fit(X, y)
    jaxreg.ElasticNet(alpha=0.1, l1_ratio=0.5).fit(StandardScaler().fit_transform(X), y)
    with compiles() as c:
        cross_val_score(jaxreg.Lasso(alpha=0.05), X, y, cv=5)  # folds of 264 rows
        grid = {"elasticnet__alpha": [0.01, 0.1, 1.0], "elasticnet__l1_ratio": [0.2, 0.8]}
        GridSearchCV(make_pipeline(StandardScaler(), jaxreg.ElasticNet()), grid, cv=3).fit(X, y)
        learning_curve(jaxreg.Lasso(alpha=0.1), X, y, train_sizes=[0.3, 0.6, 1.0], cv=3)
        clone(jaxreg.Lasso(alpha=0.3)).fit(X[:100], y[:100])
    assert c.count == 0


def test_lassocv_folds_share_their_programs(compiles):
    X, y, _ = make_regression(120, 30, rho=0.5, seed=42)
    first = jaxreg.LassoCV(alphas=8, cv=4).fit(X, y)
    X2, y2, _ = make_regression(120, 30, rho=0.2, seed=43)
    with compiles() as c:
        second = jaxreg.LassoCV(alphas=8, cv=4).fit(X2, y2)
    assert c.count == 0 and first.alpha_ != second.alpha_


def test_a_growing_working_set_does_not_compile(compiles):
    # supports from 0 to over 100 features on 300 x 400: every Newton size and capacity
    X, y, _ = make_regression(300, 400, rho=0.5, seed=44, n_informative=60)
    amax = jaxreg.alpha_max(X, y)
    first = jaxreg.fit(X, y, penalty=L1(0.5 * amax), solver="working_set")
    with compiles() as c:
        supports = [jaxreg.fit(X, y, penalty=L1(f * amax), tol=1e-8).nonzeros for f in np.geomspace(0.3, 1e-3, 8)]
    assert c.count == 0 and first.nonzeros < 20 and max(supports) > 100


def test_the_counter_sees_a_new_shape(compiles):
    # the fixture itself: a shape no other test uses must count (built, or loaded from disk)
    X, y, _ = make_regression(999, 29, seed=45)
    with compiles() as c:
        jaxreg.fit(X, y, penalty=LInf(0.1), solver="fista", max_iter=10)
    assert c.count >= 1
