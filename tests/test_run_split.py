"""The pieces of ``jaxreg run`` that stand in for scikit-learn so that a run needs no import
of it (issue 17, item 8: ~1 s of a run's start): the train/test rows of
``train_test_split`` and the ``StandardScaler`` transform, each checked against scikit-learn
itself; and a run without a basis or plots imports neither scikit-learn nor matplotlib."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sps
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from jaxreg.experiment.features import standardizer
from jaxreg.experiment.run import split_rows
from jaxreg.experiment.run_config import SplitSpec

CASES = [
    (100, 0.25, None, True, 0),
    (101, 0.3, None, True, 7),
    (10, 0.5, 0.3, True, 3),
    (57, 13, None, True, 1),
    (57, 0, 20, True, 2),
    (57, 0.2, 40, False, 0),
    (20, None, 0.7, False, 5),
    (3, 0.1, None, True, 0),
    (5, 4, 2, True, 0),  # too many rows: scikit-learn refuses
    (5, 5, None, True, 0),  # the whole data as test set: refused
    (1, 0.5, None, True, 0),  # an empty train set: refused
]


@pytest.mark.parametrize("n, test_size, train_size, shuffle, seed", CASES)
def test_item_8_split_rows_are_train_test_split_rows(n, test_size, train_size, shuffle, seed):
    kwargs = {"shuffle": shuffle} | ({"test_size": test_size} if test_size is not None else {})
    sp = SplitSpec(**kwargs, train_size=train_size)
    rows = split_rows(n, sp, seed)
    try:
        want = train_test_split(
            np.arange(n), test_size=sp.test_size or None, train_size=sp.train_size, shuffle=shuffle, random_state=seed
        )
    except ValueError:
        assert rows is None  # left to scikit-learn, whose message the run reports
        return
    assert rows is not None
    np.testing.assert_array_equal(rows[0], want[0])
    np.testing.assert_array_equal(rows[1], want[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_item_8_standardizer_is_standard_scaler(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, (40, 5)).astype(dtype)
    X[:, 1] = 7.5  # constant: scale 1
    X[:, 2] = 1e8 + rng.normal(0, 1e-9, 40)  # constant up to rounding
    X[:, 3] *= 1e-6
    Xt = rng.normal(size=(9, 5)).astype(dtype)
    want = StandardScaler().fit(X)
    got = standardizer(X)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got(X), want.transform(X), rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(got(Xt), want.transform(Xt), rtol=tol, atol=tol * 10)


def test_item_8_standardizer_sparse_scales_only():
    X = sps.random(30, 6, density=0.3, random_state=1, format="csr") * 5.0
    X = sps.hstack([X, sps.csr_matrix(np.zeros((30, 1)))]).tocsr()  # an all-zero column
    got = standardizer(X)(X)
    want = StandardScaler(with_mean=False).fit(X).transform(X)
    assert sps.issparse(got)
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=1e-12, atol=1e-14)


def test_item_8_plain_run_imports_neither_sklearn_nor_matplotlib(tmp_path):
    cfg = tmp_path / "ridge.yaml"
    cfg.write_text(
        "name: plain\ndata: {kind: linear, n_samples: 60, n_features: 12, seed: 0}\n"
        "models:\n  - {name: ridge, penalty: {kind: l2, alpha: [0.1, 1.0]}}\n"
    )
    code = textwrap.dedent(
        f"""
        import sys
        from jaxreg.cli import main
        rc = main(["run", {str(cfg)!r}, "--out", {str(tmp_path / "out")!r}, "--no-progress"])
        print([m for m in ("sklearn", "matplotlib") if m in sys.modules], rc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[] 0"
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())  # one line per fit, still one JSON document
    assert doc["complete"] is True and [f["alpha"] for f in doc["fits"]] == [0.1, 1.0]
    assert all(f["status"] == "converged" for f in doc["fits"])


def test_item_8_prepare_splits_like_train_test_split(tmp_path):
    from jaxreg.experiment.run import prepare
    from jaxreg.experiment.run_config import load_run
    from jaxreg.experiment.run_data import load_data

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: s\ndata: {kind: linear, n_samples: 50, n_features: 12, seed: 3}\nsplit: {test_size: 0.3}\nseed: 4\n"
        "models:\n  - {name: ridge, penalty: {kind: l2, alpha: 1.0}}\n"
    )
    config, _ = load_run(cfg)
    split = prepare(config)
    ds = load_data(config.data, np.dtype(config.dtype))
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_size=0.3, random_state=4)
    for got, want in ((split.X_train, Xtr), (split.X_test, Xte), (split.y_train, ytr), (split.y_test, yte)):
        np.testing.assert_array_equal(got, want)
