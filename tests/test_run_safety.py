"""Issue 17: nothing lost, nothing mixed, nothing raw. Each test is named after the item of
the issue it checks: run folders (1, 2), metrics written once (8), bounded reads (9),
sweep identity and corrupt rows (10), clear errors (11), feature names (14), sweep
summaries (15)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from jaxreg.cli import main
from jaxreg.errors import UsageError
from jaxreg.experiment import run_output
from jaxreg.experiment.files import replace_text
from jaxreg.experiment.run import run_experiment
from jaxreg.experiment.run_config import load_run
from jaxreg.experiment.run_folder import RunFolder


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
    target = tmp_path / "metrics.json"
    from jaxreg.experiment.files import replace_with

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
