"""Running sweeps: the shipped smoke sweep end to end (CI runs it here), a sweep killed
mid-way and restarted ends with every cell exactly once, an injected crash and a torn last
row are recovered from, and a cell past its timeout is recorded while the sweep goes on."""

import csv
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxreg.cli import main
from jaxreg.experiment import baselines as B
from jaxreg.experiment.results import num
from jaxreg.experiment.sweep import SweepConfig, expand, load_sweep, run_sweep
from jaxreg.experiment.worker import InProcess

ROOT = Path(__file__).resolve().parents[1]


def _rows(folder, name="cells.csv"):
    with open(Path(folder) / name, newline="") as f:
        return list(csv.DictReader(f))


def _ids(config):
    return sorted(c.cell_id for c in expand(config, devices={"cpu"})[0])


def test_smoke_sweep_runs_scores_and_resumes(tmp_path, capsys):
    cfg = ROOT / "configs" / "sweeps" / "smoke.yaml"
    out = tmp_path / "smoke"
    assert main(["sweep", str(cfg), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| problem | penalty |" in printed and "vs sklearn" in printed
    rows = _rows(out)
    assert sorted(r["cell_id"] for r in rows) == _ids(load_sweep(cfg))
    assert all(r["outcome"] == "ok" for r in rows), [r["error"] for r in rows]
    scored = _rows(out, "results.csv")
    tight = [r for r in scored if r["tol"] == "1e-10"]
    celer = {"celer:Lasso"} if importlib.util.find_spec("celer") is not None else set()  # optional peer
    assert {r["family"] for r in tight} == {"jaxreg:fista", "jaxreg:working_set", "sklearn:Lasso"} | celer
    # four independent solvers reach the same optimum, so each is within 1e-9 of the best
    assert all(num(r["rel_subopt"]) < 1e-9 and r["converged"] == "True" for r in tight)
    assert all(num(r["time_min"]) <= num(r["time_median"]) <= num(r["time_max"]) for r in scored)
    assert all(num(r["compile_time"]) > 0 for r in scored if r["library"] == "jaxreg" and r["tol"] == "0.0001")
    summary = _rows(out, "summary.csv")
    for s in summary:
        ref = next(o for o in summary if o["problem"] == s["problem"] and o["family"] == "sklearn:Lasso")
        assert num(s["ratio"]) == pytest.approx(num(s["time"]) / num(ref["time"]))
    for name in ("results.csv", "summary.md", "time_vs_features.png", "subopt_vs_time.png", "env.json", "config.yaml"):
        assert (out / name).stat().st_size > 0
    assert main(["sweep", str(cfg), "--out", str(out), "--no-progress"]) == 0  # resume: nothing left to run
    assert f"{len(rows)} already done, 0 to run" in capsys.readouterr().out
    assert len(_rows(out)) == len(rows)


SLOW_PEERS = """
name: killme
repetitions: 1
warmup: 0
measure_memory: false
problems:
  - {kind: linear, n_samples: 200, n_features: [5, 6, 7, 8, 9, 10, 11, 12], n_informative: 3}
baselines:
  - {peer: sklearn_sgd, max_iter: 150, options: {random_state: 0}}
"""


def _children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_killed_sweep_restarted_ends_with_every_cell_exactly_once(tmp_path):
    cfg = tmp_path / "kill.yaml"
    cfg.write_text(SLOW_PEERS)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "jaxreg", "sweep", str(cfg), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "cells.csv").exists() and len(_rows(out)) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(_rows(out))
    assert 2 <= done_before < 8
    for pid in workers:  # the worker notices its parent is gone and exits
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"worker {pid} outlived its killed parent")
    with open(out / "cells.csv", "a") as f:  # what a crash in the middle of a write leaves
        f.write("deadbeef,half a row")
    assert main(["sweep", str(cfg), "--out", str(out), "--no-progress"]) == 0
    rows = _rows(out)
    assert sorted(r["cell_id"] for r in rows) == _ids(load_sweep(cfg))  # each cell exactly once
    assert all(r["outcome"] == "ok" for r in rows)
    assert "half a row" not in (out / "cells.csv").read_text()


class CrashAfter(InProcess):
    """Runs cells in-process and crashes the whole sweep at the n-th cell."""

    def __init__(self, n):
        super().__init__()
        self.left = n

    def run(self, cell, settings, timeout=None):
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("injected crash")
        return super().run(cell, settings, timeout)


def test_injected_crash_then_resume_and_a_missing_peer_is_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(B.PEERS, "celer", B.Peer("celer", "jaxreg_no_such_module", "celer", "pip install celer"))
    config = SweepConfig.model_validate(
        {
            "name": "crash",
            "repetitions": 1,
            "isolate": False,
            "timeout": None,
            "problems": [{"kind": "linear", "n_samples": 40, "n_features": [4, 5, 6], "n_informative": 2}],
            "penalties": [{"kind": "l1", "alpha_ratio": 0.1}],
            "baselines": [{"peer": ["sklearn", "celer"], "tol": [1e-4, 1e-8]}],
        }
    )
    out = tmp_path / "crash"
    with pytest.raises(RuntimeError, match="injected crash"):
        run_sweep(config, out, executor=CrashAfter(2), progress=False)
    assert len(_rows(out)) == 2
    run_sweep(config, out, progress=False)
    rows = _rows(out)
    assert sorted(r["cell_id"] for r in rows) == _ids(config) and len(rows) == 6  # sklearn only
    printed = capsys.readouterr().out
    assert "celer is not installed (pip install celer) (6 cells left out)" in printed
    assert "celer is not installed" in (out / "summary.md").read_text()


def test_cell_past_its_timeout_is_recorded_and_the_sweep_goes_on(tmp_path):
    config = SweepConfig.model_validate(
        {
            "name": "timeout",
            "repetitions": 1,
            "warmup": 0,
            "timeout": 3,
            "problems": [{"kind": "linear", "n_samples": 100, "n_features": 5, "n_informative": 2}],
            "baselines": [
                {"peer": "sklearn_sgd", "max_iter": 10**7},  # no tol: every epoch, for hours
                {"peer": "sklearn"},
            ],
        }
    )
    run_sweep(config, tmp_path, progress=False)
    rows = {r["library"]: r for r in _rows(tmp_path)}
    assert rows["sklearn_sgd"]["outcome"] == "timeout" and "timeout of 3 s" in rows["sklearn_sgd"]["error"]
    assert rows["sklearn"]["outcome"] == "ok" and num(rows["sklearn"]["objective"]) > 0


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path):
    from jaxreg.cli import UsageError
    from jaxreg.experiment.sweep import _lock

    config = SweepConfig.model_validate(
        {"name": "x", "problems": [{"kind": "linear"}], "baselines": [{"peer": "sklearn"}]}
    )
    held = _lock(tmp_path)
    try:
        with pytest.raises(UsageError, match="another sweep is writing to"):
            run_sweep(config, tmp_path, progress=False)
    finally:
        held.close()
