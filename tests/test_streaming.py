"""Streaming .npy data from disk: the reader's blocks against the arrays, and streamed
fits against the in-memory fits that see the same batches."""

import jax
import numpy as np
import pydantic
import pytest
from sklearn.linear_model import Lasso

import jaxreg
from jaxreg.experiment.npy_data import NpyDataSpec
from jaxreg.penalties import L1, L2
from jaxreg.streaming import NpyDataset

N, P = 103, 6
BS, BLOCK = 16, 40  # 2 batches per block; 7 batches, the last one ragged (7 rows)
NO_EARLY_STOP = dict(tol=0.0, n_iter_no_change=10**6)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N, P))
    y = X @ np.array([1.0, -2.0, 0.0, 0.5, 0.0, 0.0]) + 0.7 + 0.3 * rng.standard_normal(N)
    sw = rng.uniform(0.5, 2.0, N)
    labels = np.array(["cat", "dog", "eel"])[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    for name, a in dict(X=X, y=y, w=sw, labels=labels).items():
        np.save(d / f"{name}.npy", a)
    # the same X and y as shards whose boundaries fall inside batches and blocks
    (d / "xs").mkdir()
    (d / "ys").mkdir()
    for i, (a, b) in enumerate([(0, 30), (30, 31), (31, 103)]):
        np.save(d / "xs" / f"part{i:02d}.npy", X[a:b])
    for i, (a, b) in enumerate([(0, 64), (64, 103)]):
        np.save(d / "ys" / f"part{i:02d}.npy", y[a:b])
    return d, X, y, sw, labels


def _ds(d, x="X.npy", y="y.npy", w=None):
    return NpyDataset(d / x, d / y, None if w is None else d / w, block_rows=BLOCK)


def test_blocks_are_the_rows_in_batch_order(files):
    d, X, y, sw, _ = files
    ds = _ds(d, "xs", "ys", "w.npy")
    order = np.array([6, 0, 3, 1, 5, 2, 4])
    blocks = list(ds.blocks(BS, order, lambda raw, w: raw))
    assert [b.n_active for b in blocks] == [2, 2, 2, 1]
    for i, b in enumerate(blocks):
        assert b.X.shape == (2, BS, P) and b.y.shape == (2, BS) and b.weights.shape == (2, BS)
        for k, j in enumerate(order[2 * i : 2 * i + b.n_active]):
            rows = slice(j * BS, min((j + 1) * BS, N))
            m = rows.stop - rows.start
            np.testing.assert_array_equal(b.X[k, :m], X[rows])
            np.testing.assert_array_equal(b.y[k, :m], y[rows])
            np.testing.assert_array_equal(b.weights[k, :m], sw[rows])
            assert not b.weights[k, m:].any() and not b.X[k, m:].any()  # padding: zero weight
    assert not blocks[-1].weights[1].any()  # the batch past the end is all padding


@pytest.mark.parametrize("source", ["file", "shards"])
@pytest.mark.parametrize("solver, options", [("minibatch", dict(batch_size=BS)), ("gd", {})])
def test_streamed_fit_equals_in_memory_fit(files, source, solver, options):
    d, X, y, sw, _ = files
    ds = _ds(d, "xs", "ys", "w.npy") if source == "shards" else _ds(d, w="w.npy")
    kw = dict(
        penalty=L1(0.03), solver=solver, shuffle=False, learning_rate=0.05, max_iter=25, **NO_EARLY_STOP, **options
    )
    streamed = jaxreg.fit(ds, **kw)
    in_memory = jaxreg.fit(X, y, sample_weight=sw, **kw)
    assert streamed.n_iter == in_memory.n_iter == 25
    np.testing.assert_allclose(streamed.coef, in_memory.coef, rtol=0, atol=1e-10)
    assert streamed.intercept == pytest.approx(in_memory.intercept, abs=1e-10)
    np.testing.assert_allclose(streamed.history, in_memory.history, rtol=1e-12)


def test_streamed_default_learning_rate_matches_in_memory(files):
    # the default step comes from power iteration over the files (to rtol 1e-6) and the
    # largest row norm, as the in-memory one comes from the arrays
    d, X, y, _, _ = files
    kw = dict(penalty=L2(0.1), solver="minibatch", batch_size=BS, shuffle=False, max_iter=10, **NO_EARLY_STOP)
    streamed = jaxreg.fit(_ds(d), **kw)
    in_memory = jaxreg.fit(X, y, **kw)
    np.testing.assert_allclose(streamed.coef, in_memory.coef, rtol=0, atol=1e-6)
    np.testing.assert_allclose(streamed.history, in_memory.history, rtol=1e-6)


def test_streamed_classifier_with_string_labels(files):
    d, X, _, _, labels = files
    kw = dict(
        loss="multinomial",
        penalty=L2(0.01),
        solver="minibatch",
        batch_size=BS,
        shuffle=False,
        learning_rate=0.5,
        max_iter=10,
        **NO_EARLY_STOP,
    )
    streamed = jaxreg.fit(_ds(d, y="labels.npy"), **kw)
    in_memory = jaxreg.fit(X, labels, **kw)
    assert list(streamed.classes) == ["cat", "dog", "eel"]
    np.testing.assert_allclose(streamed.coef, in_memory.coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(streamed.intercept, in_memory.intercept, rtol=0, atol=1e-10)


def test_shuffled_streamed_svrg_reaches_the_lasso(files):
    # batches in a fresh random order each epoch; SVRG with a constant step converges to
    # the exact optimum, which scikit-learn gives independently
    d, X, y, _, _ = files
    alpha = 0.03
    res = jaxreg.fit(
        _ds(d),
        penalty=L1(alpha),
        solver="minibatch",
        batch_size=BS,
        variance_reduction="svrg",
        tol=1e-9,
        n_iter_no_change=10**6,
        max_iter=500,
        seed=1,
    )
    assert res.converged and res.criterion == "subdiff_distance"
    sk = Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-7)
    np.testing.assert_array_equal(res.coef == 0, sk.coef_ == 0)


def test_bad_files_and_arguments_are_named(files, tmp_path):
    d, X, y, _, _ = files
    np.save(tmp_path / "short.npy", y[:-1])
    with pytest.raises(ValueError, match="x has 103 rows but y has 102"):
        NpyDataset(d / "X.npy", tmp_path / "short.npy")
    np.save(tmp_path / "F.npy", np.asfortranarray(X))
    with pytest.raises(ValueError, match="Fortran order"):
        NpyDataset(tmp_path / "F.npy", d / "y.npy")
    with pytest.raises(FileNotFoundError, match="x='.*missing.npy' does not exist"):
        NpyDataset(tmp_path / "missing.npy", d / "y.npy")
    with pytest.raises(ValueError, match="block_rows=0 is not allowed"):
        NpyDataset(d / "X.npy", d / "y.npy", block_rows=0)
    with pytest.raises(ValueError, match="solver='fista' cannot stream.*'gd', 'minibatch', 'sgd'"):
        jaxreg.fit(_ds(d), penalty=L1(0.1), solver="fista")
    with pytest.raises(ValueError, match="y and sample_weight must be None"):
        jaxreg.fit(_ds(d), y, solver="minibatch")
    bad = X.copy()
    bad[90, 2] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    # found by the prefetch thread while training, raised in the caller
    with pytest.raises(ValueError, match="x contains non-finite values in rows 80..95"):
        jaxreg.fit(_ds(tmp_path, "bad.npy", d / "y.npy"), solver="minibatch", batch_size=BS, learning_rate=0.01)


def test_data_spec_streams_or_loads(files):
    d, X, y, _, _ = files
    spec = NpyDataSpec.model_validate({"kind": "npy", "x": str(d / "xs"), "y": str(d / "ys"), "stream": True})
    ds = spec.load()
    assert isinstance(ds, NpyDataset) and (ds.n_samples, ds.n_features) == (N, P)
    X2, y2, w2 = NpyDataSpec(x=str(d / "xs"), y=str(d / "ys")).load()
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert w2 is None
    with pytest.raises(pydantic.ValidationError, match="strem"):
        NpyDataSpec.model_validate({"kind": "npy", "x": "a.npy", "y": "b.npy", "strem": True})


@pytest.mark.parametrize("gram_limit", [2**22, 0], ids=["gram", "power-iteration"])
def test_streamed_lipschitz_is_the_top_eigenvalue(files, monkeypatch, gram_limit):
    from jaxreg._fitparts import compiled_solver
    from jaxreg.solvers import streamed

    d, X, _, sw, _ = files
    monkeypatch.setattr(streamed, "GRAM_LIMIT", gram_limit)
    A = np.hstack([X, np.ones((N, 1))])
    top = np.linalg.eigvalsh(A.T @ (A * (sw / sw.sum())[:, None]))[-1]
    runner = streamed.Runner(_ds(d, w="w.npy"), lambda raw, w: raw, compiled_solver)
    with jax.enable_x64(True):
        lam, row_sq = runner.lipschitz(sw.sum(), True, BS, max_passes=300, rtol=1e-12)
    assert lam == pytest.approx(top, rel=1e-9)
    assert row_sq == pytest.approx(np.max(np.sum(A * A, axis=1)), rel=1e-12)
