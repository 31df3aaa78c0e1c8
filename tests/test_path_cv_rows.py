"""LassoCV / ElasticNetCV on the batched working-set path (more features than the Gram
solver takes): each fold's coordinate descent and Newton step on a copy of the design with
its own training rows only (:meth:`working_set_layout.Design.row_subsets`), and working-set
capacities 256 * 4^k (:meth:`Design.cap`). Compared with scikit-learn's LassoCV and
ElasticNetCV, whose folds are fitted on their training rows."""

import warnings

import jax
import numpy as np
import pytest
from sklearn.linear_model import ElasticNetCV as SkElasticNetCV
from sklearn.linear_model import LassoCV as SkLassoCV
from sklearn.model_selection import KFold

import jaxreg
from jaxreg.solvers import gram
from jaxreg.solvers import working_set_layout as layout
from jaxreg.solvers.working_set_kernels import capacity

from conftest import make_regression

N, P = 60, 300


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_regression(N, P, rho=0.5, n_informative=10, noise=0.5, seed=51)
    assert P > gram.MAX_FEATURES  # the working-set path, not the Gram solver
    return X, y


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _same_as_sklearn(ours, sk):
    np.testing.assert_allclose(ours.alphas_, sk.alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.mse_path_, sk.mse_path_, rtol=1e-6)
    assert ours.alpha_ == pytest.approx(sk.alpha_, rel=1e-12)  # the grid's same point
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-7)


@pytest.mark.parametrize("cv", [5, KFold(4, shuffle=True, random_state=0)], ids=["kfold5", "shuffled4"])
def test_lassocv_folds_on_their_own_rows_match_sklearn(data, cv, monkeypatch):
    if cv == 5:  # a small ONE_CAP and SMALL_CAP make this design wide: capacities 64, 256, p
        monkeypatch.setattr(layout, "ONE_CAP", 64)
        monkeypatch.setattr(layout, "SMALL_CAP", 64)
    X, y = data
    ours = jaxreg.LassoCV(alphas=15, eps=1e-2, tol=1e-10, cv=cv).fit(X, y)
    sk = quiet(SkLassoCV(alphas=15, eps=1e-2, tol=1e-10, max_iter=10**6, cv=cv).fit, X, y)
    _same_as_sklearn(ours, sk)


def test_elasticnetcv_with_zero_weights_matches_sklearn(data):
    # training rows of weight zero are left out of the copies too; two l1_ratios share them
    X, y = data
    sw = np.random.default_rng(0).uniform(0.5, 2.0, N)
    sw[::7] = 0.0
    kw = dict(l1_ratio=[0.5, 1.0], alphas=12, eps=1e-2, tol=1e-10, cv=3)
    ours = jaxreg.ElasticNetCV(**kw).fit(X, y, sample_weight=sw)
    sk = quiet(SkElasticNetCV(**kw, max_iter=10**6).fit, X, y, sample_weight=sw)
    _same_as_sklearn(ours, sk)
    assert ours.l1_ratio_ == sk.l1_ratio_


def test_capacity_is_the_power_of_four_times_256_above_the_working_set():
    wide = layout.Design(np.zeros((9000, 3)))
    assert [wide.cap(s) for s in (1, 16, 256, 257, 1024, 1025, 1536, 4096, 4097, 9999)] == [
        256, 256, 256, 1024, 1024, 4096, 4096, 4096, 9000, 9000,
    ]  # fmt: skip
    narrow = layout.Design(np.zeros((1001, 3)))
    assert {narrow.cap(s) for s in (1, 300, 1001)} == {capacity(1001)} == {1008}


def test_row_subsets_hold_each_problems_positive_rows(data):
    X, _ = data
    W = np.ones((4, N))
    W[0, :20] = W[1, 20:40] = W[3, :20] = 0.0  # problems 0 and 3 share their rows
    W[2, 40:] = 0.0
    W[2, 3] = 0.0  # 39 rows
    with jax.enable_x64(True):
        design = layout.Design.put(X, jaxreg._compile.Compiler())
        subsets = design.row_subsets(W)
    assert subsets is design.row_subsets(W)  # once per weights
    for b, (sub, rows) in enumerate(subsets):
        rows = np.asarray(rows)
        idx = np.flatnonzero(W[b] > 0)
        n_c = len(rows)
        assert n_c == jaxreg._buckets.bucket(40) and np.all(rows[: len(idx)] == idx) and np.all(rows[len(idx) :] == N)
        np.testing.assert_array_equal(np.asarray(sub.XT)[:, : len(idx)], X[idx].T)
        assert not np.any(np.asarray(sub.XT)[:, len(idx) :])
    assert subsets[0][0] is subsets[3][0]
    # rows that are nearly all of them: no copies
    assert design.row_subsets(np.ones((2, N))) is None


@pytest.mark.parametrize("cv", [3, 10], ids=["row_copies", "shared_design"])
def test_folds_solved_on_two_threads_equal_one_thread_and_sklearn(data, cv, monkeypatch):
    # the folds' inner solves run on two host threads (working_set_loop.THREADS); each fold's
    # calls are the same as on one thread, so the answers are equal to the bit. cv=10 leaves
    # 90% of the rows in each fold: no row copies, every fold on the shared design (and two
    # l1_ratios share each cv=3 copy: the threads must not share the Newton step's constants)
    from jaxreg.solvers import working_set_loop as loop

    X, y = data
    kw = dict(l1_ratio=[0.5, 1.0], alphas=10, eps=1e-2, tol=1e-10, cv=cv)
    fits = {}
    for threads in (1, 2):
        monkeypatch.setattr(loop, "THREADS", threads)
        fits[threads] = jaxreg.ElasticNetCV(**kw).fit(X, y)
    np.testing.assert_array_equal(fits[1].mse_path_, fits[2].mse_path_)
    np.testing.assert_array_equal(fits[1].coef_, fits[2].coef_)
    sk = quiet(SkElasticNetCV(**kw, max_iter=10**6).fit, X, y)
    _same_as_sklearn(fits[2], sk)
