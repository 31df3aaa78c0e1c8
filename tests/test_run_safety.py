"""Issue 17: nothing lost, nothing mixed, nothing raw. Each test is named after the item of
the issue it checks: run folders (1, 2), metrics written once (8), bounded reads (9),
sweep identity and corrupt rows (10), clear errors (11), feature names (14), sweep
summaries (15)."""

import csv
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from jaxreg.cli import main
from jaxreg.errors import UsageError
from jaxreg.experiment import run_output
from jaxreg.experiment.run import run_experiment
from jaxreg.experiment.run_config import load_run


def _config(folder: Path, name="tiny", alphas=(0.1, 1.0), plots=("coef_bars",), data=None) -> Path:
    cfg = {
        "name": name,
        "data": data or {"kind": "linear", "n_samples": 30, "n_features": 3, "n_informative": 2},
        "models": [{"name": "ridge", "penalty": {"kind": "l2", "alpha": list(alphas)}, "solver": "closed_form"}],
        "plots": list(plots),
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(config_path, out, *extra):
    return main(["run", str(config_path), "--out", str(out), "--no-progress", *extra])


# ----------------------------------------------------------------------------- item 1


def test_item01_two_runs_same_out_the_second_is_refused_while_the_first_holds_it(tmp_path, capsys):
    from jaxreg.experiment.run_folder import RunFolder

    out = tmp_path / "out"
    held = RunFolder(out).open("first", 2)  # the first run, still writing
    try:
        assert _run(_config(tmp_path), out) == 2
        assert "another jaxreg run is writing to" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [".run.lock", "run.json"]  # nothing of the second
    finally:
        held.close("complete", 0)


def test_item01_temporary_files_have_unique_names(tmp_path):
    # a writer that is overtaken by another writer of the same file (what two runs did):
    # with one fixed temporary name the inner rename took the outer's file away
    from jaxreg.experiment.files import replace_text, replace_with

    target = tmp_path / "metrics.json"

    def outer(tmp):
        Path(tmp).write_text("outer")
        replace_text(target, "inner")

    replace_with(target, outer)
    assert target.read_text() == "outer"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left


# ----------------------------------------------------------------------------- item 2


def test_item02_reused_out_is_refused_and_overwrite_leaves_no_file_of_the_old_run(tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(_config(tmp_path, "first", alphas=(0.1, 1.0, 10.0), plots=("coef_bars", "coef_path")), out) == 0
    assert (out / "coef_path_ridge.png").exists()
    second = _config(tmp_path, "second", alphas=(1.0,), plots=())
    assert _run(second, out) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "'first'" in err and "--overwrite" in err
    assert json.loads((out / "metrics.json").read_text())["name"] == "first"  # untouched
    assert _run(second, out, "--overwrite") == 0
    names = {p.name for p in out.iterdir()}
    assert not any(n.endswith(".png") for n in names)  # the first run's figures are gone
    status = json.loads((out / "run.json").read_text())
    assert status["complete"] and status["name"] == "second" and set(status["files"]) <= names
    assert len(json.loads((out / "metrics.json").read_text())["fits"]) == 1


def test_item02_overwrite_never_deletes_files_a_run_did_not_write(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _run(_config(tmp_path), out, "--overwrite") == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"


def test_item02_an_interrupted_run_says_so_in_its_files(tmp_path, monkeypatch):
    import jaxreg.experiment.run as run_module

    config, fits = load_run(_config(tmp_path, alphas=(0.1, 1.0, 10.0)))
    real = run_module.run_fit

    def stopped_at_the_second(pf, *args, **kwargs):
        if pf.index == 1:
            raise KeyboardInterrupt
        return real(pf, *args, **kwargs)

    monkeypatch.setattr(run_module, "run_fit", stopped_at_the_second)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, fits, out, progress=False)
    status = json.loads((out / "run.json").read_text())
    assert status["complete"] is False and status["status"] == "interrupted" and status["fits_done"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] is False and len(metrics["fits"]) == 1
    assert not (out / "coefficients.csv").exists()
    # the lock went with the run: the folder can be taken over
    monkeypatch.setattr(run_module, "run_fit", real)
    run_experiment(config, fits, out, progress=False, overwrite=True)
    assert json.loads((out / "run.json").read_text())["complete"] is True


# ----------------------------------------------------------------------------- item 8


def test_item08_metrics_json_written_once_and_one_line_per_fit(tmp_path, monkeypatch):
    calls = []
    real = run_output.write_metrics
    monkeypatch.setattr(run_output, "write_metrics", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    alphas = tuple(float(a) for a in np.logspace(-2, 2, 7))
    config, fits = load_run(_config(tmp_path, alphas=alphas, plots=()))
    out = tmp_path / "out"
    run_experiment(config, fits, out, progress=False)
    assert len(calls) == 1  # not once per fit: that rewrote a growing file, O(n^2) in all
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    final = json.loads((out / "metrics.json").read_text())
    assert final["complete"] is True
    assert [f["alpha"] for f in lines] == pytest.approx(list(alphas))
    assert [f["objective"] for f in lines] == [f["objective"] for f in final["fits"]]


# ----------------------------------------------------------------------------- item 9


@pytest.fixture
def alarm():
    """Fail (not hang) a test whose code would read without end."""
    import signal

    def boom(*_):
        raise TimeoutError("read without end")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("kind", ["csv", "npz", "svmlight"])
def test_item09_a_device_as_data_path_is_refused_before_reading(tmp_path, capsys, alarm, kind):
    data = {"kind": kind, "path": "/dev/zero"} | ({"target": "y"} if kind == "csv" else {})
    assert _run(_config(tmp_path, data=data), tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "/dev/zero" in err and "not a regular file" in err


def test_item09_a_fifo_as_data_path_is_refused(tmp_path, capsys, alarm):
    import os

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert _run(_config(tmp_path, data={"kind": "csv", "path": str(fifo), "target": "y"}), tmp_path / "out") == 2
    assert "pipe.csv" in capsys.readouterr().err


def test_item09_csv_read_row_by_row_matches_numpy_and_a_runaway_cell_is_named(tmp_path, capsys):
    from jaxreg.experiment.run_data import CsvData, load_data

    rng = np.random.default_rng(0)
    M = rng.standard_normal((50, 4))
    path = tmp_path / "d.csv"
    np.savetxt(path, M, delimiter=",", header="a,b,y,c", comments="")
    ds = load_data(CsvData(path=str(path), target="y"))
    ref = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(ds.X, ref[:, [0, 1, 3]])
    np.testing.assert_array_equal(ds.y, ref[:, 2])
    # one cell that never ends (an unclosed quote over a huge file) stops at the csv field limit
    bad = tmp_path / "bad.csv"
    bad.write_text('a,y\n1,2\n"' + "9" * 200_000 + "\n")
    assert _run(_config(tmp_path, data={"kind": "csv", "path": str(bad), "target": "y"}), tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "field larger than field limit" in err


# ----------------------------------------------------------------------------- item 11


@pytest.mark.parametrize("max_iter", [10**20, 2**31])
def test_item11_huge_max_iter_is_a_clear_error_in_the_api_and_at_config_validation(tmp_path, max_iter):
    import jaxreg

    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=rf"max_iter={max_iter} is not allowed.*<= {2**31 - 1}"):
        jaxreg.fit(X, X[:, 0], max_iter=max_iter)
    cfg = yaml.safe_load(_config(tmp_path).read_text())
    cfg["models"][0].update(solver="fista", max_iter=max_iter)
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UsageError, match=r"models\[0\]\.max_iter = \d+: Input should be less than or equal to"):
        load_run(path)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("split", {"test_size": 1.0}, r"split\.test_size = 1\.0: .*fraction must be < 1"),
        ("tol", float("inf"), r"models\[0\]\.tol = inf: Input should be a finite number"),
    ],
)
def test_item11_out_of_range_numbers_in_configs_are_refused_at_validation(tmp_path, key, value, expected):
    cfg = yaml.safe_load(_config(tmp_path).read_text())
    if key == "split":
        cfg["split"] = value
    else:
        cfg["models"][0][key] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.dump(cfg))
    with pytest.raises(UsageError, match=expected):
        load_run(path)


def _npz_garbage(path):
    path.write_bytes(b"PK\x03\x04 this is no zip archive")


def _npz_objects(path):
    np.savez(path, X=np.array([[1.0, 2.0]]), y=np.array([{"a": 1}], dtype=object))


def _npy_empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "name, make, data",
    [
        ("garbage.npz", _npz_garbage, {"kind": "npz"}),
        ("objects.npz", _npz_objects, {"kind": "npz"}),
        ("empty.npy", _npy_empty, {"kind": "npy"}),
        ("folder", lambda p: p.mkdir(), {"kind": "csv", "target": "y"}),
    ],
)
def test_item11_unreadable_data_files_are_exit_2_naming_the_file(tmp_path, capsys, name, make, data):
    make(tmp_path / name)
    if data["kind"] == "npy":
        np.save(tmp_path / "y.npy", np.zeros(3))
        data = {**data, "x": str(tmp_path / name), "y": str(tmp_path / "y.npy")}
    else:
        data = {**data, "path": str(tmp_path / name)}
    assert _run(_config(tmp_path, data=data), tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_item11_binary_config_is_exit_2_naming_the_file(tmp_path, capsys):
    path = tmp_path / "model.yaml"
    path.write_bytes(b"name: x\n\xff\xfe\x00\x01")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "model.yaml" in err and "not UTF-8" in err


def test_item11_none_labels_are_a_clear_error():
    import jaxreg

    X = np.random.default_rng(0).standard_normal((6, 2))
    y = np.array(["a", None, "b", "a", "b", "a"], dtype=object)
    with pytest.raises(ValueError, match="y contains None"):
        jaxreg.LogisticRegression().fit(X, y)


def test_item11_streamed_data_with_fista_is_refused_at_validation(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((8, 2)))
    np.save(tmp_path / "y.npy", np.zeros(8))
    data = {"kind": "npy", "x": str(tmp_path / "X.npy"), "y": str(tmp_path / "y.npy"), "stream": True}
    cfg = yaml.safe_load(_config(tmp_path, data=data, plots=()).read_text())
    cfg["models"][0].update(solver="fista", penalty={"kind": "l1", "alpha": 0.1})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UsageError, match=r"solver = 'fista' cannot fit streamed npy data.*allowed: auto, gd"):
        load_run(path)


# ----------------------------------------------------------------------------- item 14


def test_item14_csv_column_names_name_the_coefficients_in_every_output(tmp_path):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    M = rng.standard_normal((40, 4))
    M[:, 3] = M[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(40)
    path = tmp_path / "houses.csv"
    np.savetxt(path, M, delimiter=",", header="rooms,age,label,price", comments="")
    cfg = {
        "name": "named",
        "data": {"kind": "csv", "path": str(path), "target": "price"},
        "split": {"test_size": 0},
        "features": {"standardize": False},
        "models": [{"name": "ridge", "penalty": {"kind": "l2", "alpha": 0.5}, "solver": "closed_form"}],
        "plots": ["coef_table"],
    }
    cpath = tmp_path / "named.yaml"
    cpath.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    assert _run(cpath, out) == 0
    with open(out / "coefficients.csv") as f:
        row = next(csv.DictReader(f))
    # 'label' is a fixed column of the file: the feature keeps its name with a prefix
    assert list(row)[4:] == ["rooms", "age", "feature:label"]
    ref = Ridge(alpha=0.5 * 40).fit(M[:, :3], M[:, 3])  # jaxreg's alpha/2 |w|^2 next to 1/(2n) |r|^2
    got = [float(row[k]) for k in ("rooms", "age", "feature:label")]
    np.testing.assert_allclose(got, ref.coef_, rtol=1e-8)
    table = (out / "coef_table.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["intercept", "rooms", "age", "feature:label"]


def test_item14_coef_bars_legend_names_and_whole_number_ticks():
    from jaxreg.experiment.plots import coef_bar_figure

    fig = coef_bar_figure(
        {"a": np.array([1.0, 0.0, 2.0])}, truth=np.array([1.0, 0.0, 1.5]), feature_names=["u", "v", "w"]
    )
    ax = fig.axes[-1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["u", "v", "w"]
    assert "true coefficient" in [t.get_text() for t in fig.legends[0].get_texts()]
    fig = coef_bar_figure({"a": np.arange(20.0)})  # matplotlib's own ticks: 2.5, 7.5, ...
    fig.canvas.draw()
    ticks = [t for t in fig.axes[-1].get_xticks() if -0.5 <= t <= 19.5]
    assert ticks and all(float(t).is_integer() for t in ticks)


# ----------------------------------------------------------------------------- item 10


def _sweep(**settings):
    from jaxreg.experiment.sweep import SweepConfig

    return SweepConfig.model_validate(
        {
            "name": "ids",
            "repetitions": 1,
            "isolate": False,
            "timeout": None,
            "problems": [{"kind": "linear", "n_samples": 30, "n_features": [3, 4], "n_informative": 2}],
            "penalties": [{"kind": "l1", "alpha_ratio": 0.1}],
            "baselines": [{"peer": "sklearn", "tol": 1e-6}],
            **settings,
        }
    )


def test_item10_a_cells_identity_includes_repetitions_warmup_and_timeout():
    from jaxreg.experiment.sweep import expand

    def ids(config):
        cells = expand(config, devices={"cpu"})[0]
        return [c.cell_id for c in cells], [c.problem_id for c in cells]

    base, problems = ids(_sweep())
    for change in ({"repetitions": 2}, {"warmup": 0}, {"timeout": 0.5}):
        other, other_problems = ids(_sweep(**change))
        assert set(other).isdisjoint(base), change  # measured differently: run again
        assert other_problems == problems  # the same problems all the same
    assert ids(_sweep())[0] == base


def test_item10_a_corrupt_row_hides_nothing_and_reruns_append_no_duplicates(tmp_path):
    from jaxreg.experiment.results import RowLog
    from jaxreg.experiment.sweep import run_sweep

    config = _sweep()
    out = tmp_path / "sweep"
    run_sweep(config, out, progress=False, stream=io.StringIO())
    text = (out / "cells.csv").read_text().splitlines()
    assert len(text) == 3  # header + 2 cells
    # an unbalanced quote in the first row (a hand edit, a damaged disk)
    (out / "cells.csv").write_text("\n".join([text[0], text[1].replace(",", ',"', 1) + ',"x', text[2]]) + "\n")
    log = RowLog(out)
    rows = log.load()
    assert [r["cell_id"] for r in rows] == [text[2].split(",")[0]] and log.skipped == 1
    for _ in range(2):  # the damaged cell runs once more; nothing else is appended, twice over
        run_sweep(config, out, progress=False, stream=io.StringIO())
    assert len((out / "cells.csv").read_text().splitlines()) == 4
    assert sorted(r["cell_id"] for r in RowLog(out).load()) == sorted(line.split(",")[0] for line in text[1:])


# ----------------------------------------------------------------------------- item 15


def test_item15_summary_has_a_tol_column():
    from jaxreg.experiment.results import COLUMNS, markdown, score, summarize

    def row(tol, objective):
        r = dict.fromkeys(COLUMNS, "")
        r.update(cell_id=f"c{tol}", problem_id="p", problem="linear", penalty="l1", family="jaxreg:fista")
        r.update(tol=repr(tol), outcome="ok", objective=repr(objective), time_median="0.1", dtype="float64")
        r.update(device="cpu", time_min="0.1", time_max="0.1", nonzeros="3", status="converged")
        return r

    summary = summarize(score([row(1e-4, 1.5), row(1e-8, 1.0)], {}, 1e-6))
    assert summary[0]["tol"] == "1e-08"  # the most accurate cell's
    table = markdown(summary).splitlines()
    head = [c.strip() for c in table[0].split("|")]
    assert [c.strip() for c in table[2].split("|")][head.index("tol")] == "1e-08"


def test_item15_peak_rss_is_the_processes_peak_in_mb():
    from jaxreg.experiment.measure import PeakMemory

    def vm_rss_mb():  # the kernel's own count, in KiB
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6

    with PeakMemory() as mem:
        block = np.ones(40_000_000 // 8)  # 40 MB, touched
        inside = vm_rss_mb()
        time.sleep(0.3)  # held while the sampling thread (every 2 ms) looks, even on a busy machine
        del block
    assert mem.rss_mb >= 0.95 * inside > 40  # the whole process, not the 0.1 MB a call adds
    assert 30 < mem.rss_growth_mb < 60  # MB, not MiB counted twice or KB


def test_item15_subopt_lines_only_go_right_and_down():
    from jaxreg.experiment.sweep_plots import _front

    xs = [0.1, 0.2, 0.3, 0.4, 0.5]
    ys = [1e-2, 1e-3, 5e-3, 1e-6, 1e-4]  # the third and fifth are beaten by a faster cell
    front = _front(xs, ys)
    brute = [i for i in range(5) if all(ys[i] < ys[j] for j in range(i))]
    assert front == brute == [0, 1, 3]


def test_item02_resume_keeps_the_finished_fits_and_runs_the_rest(tmp_path, monkeypatch):
    import jaxreg.experiment.run as run_module

    path = _config(tmp_path, alphas=(0.1, 1.0, 10.0), plots=("coef_bars", "coef_path"))
    config, fits = load_run(path)
    out = tmp_path / "out"
    real = run_module.run_fit
    ran = []

    def counted(pf, *args, **kwargs):
        ran.append(pf.index)
        if pf.index == 2 and len(ran) == 3:
            raise KeyboardInterrupt  # the first run stops at its third fit
        return real(pf, *args, **kwargs)

    monkeypatch.setattr(run_module, "run_fit", counted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, fits, out, progress=False)
    assert _run(path, out, "--resume") == 0
    assert ran == [0, 1, 2, 2]  # the two finished fits were not run again
    status = json.loads((out / "run.json").read_text())
    assert status["complete"] and status["fits_resumed"] == 2
    # the kept coefficients are the fits' (closed form: (X'X/n + alpha I) w = X'y/n on centred data)
    from jaxreg.experiment.run import prepare

    split = prepare(config)
    from sklearn.preprocessing import StandardScaler

    F = StandardScaler().fit_transform(split.X_train)
    Fc, yc = F - F.mean(0), split.y_train - split.y_train.mean()
    n = F.shape[0]
    with open(out / "coefficients.csv") as f:
        rows = list(csv.DictReader(f))
    for row, alpha in zip(rows, (0.1, 1.0, 10.0), strict=True):
        w = np.linalg.solve(Fc.T @ Fc / n + alpha * np.eye(3), Fc.T @ yc / n)
        np.testing.assert_allclose([float(row[k]) for k in ("x0", "x1", "x2")], w, rtol=1e-8)
    assert (out / "coef_path_ridge.png").exists()
    # a complete run is not resumed, and another config never is
    assert _run(path, out, "--resume") == 2
    other = _config(tmp_path, "tiny", alphas=(5.0,))
    (out / "run.json").write_text(json.dumps({**status, "complete": False, "status": "interrupted"}))
    assert _run(other, out, "--resume") == 2
