"""Sweep results on disk, and the summary made from them.

``cells.csv`` gets one row per finished cell, appended the moment the cell finishes. Each
row is one physical line written by a single ``write`` on an ``O_APPEND`` descriptor and
``fsync``-ed, so a crash leaves either the whole row or (at worst, on a power cut in the
middle of the write) a torn last line without its newline, which :meth:`RowLog.load` cuts
off before anything else is appended. Traces (objective against time) go to
``traces.jsonl`` the same way, before their row.

At the end, :func:`score` adds each cell's suboptimality against the best objective any
method reached on the same problem, and :func:`summarize` makes one line per method
family and problem with the time ratio to a reference.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from jaxreg.errors import UsageError
from jaxreg.experiment.files import append_line as _append_line
from jaxreg.experiment.files import replace_text

__all__ = [
    "COLUMNS",
    "SCORE_COLUMNS",
    "SUMMARY_COLUMNS",
    "RowLog",
    "score",
    "summarize",
    "write_csv",
    "replace_text",
    "markdown",
]

COLUMNS = [
    "cell_id",
    "problem_id",
    "sweep",
    "problem",
    "n_samples",
    "n_features",
    "loss",
    "penalty",
    "alpha",
    "family",
    "method",
    "library",
    "tol",
    "dtype",
    "device",
    "fit_intercept",
    "outcome",
    "error",
    "status",
    "converged",
    "n_iter",
    "time_median",
    "time_min",
    "time_max",
    "time_iqr",
    "solver_time_median",
    "compile_time",
    "first_call_time",
    "repetitions",
    "warmup",
    "objective",
    "nonzeros",
    "peak_rss_mb",
    "rss_growth_mb",
    "peak_device_mb",
    "finished_at",
]
SCORE_COLUMNS = [*COLUMNS, "best_objective", "subopt", "rel_subopt", "time_to_target"]
SUMMARY_COLUMNS = [
    "problem",
    "penalty",
    "dtype",
    "device",
    "family",
    "tol",
    "cells",
    "time",
    "time_min",
    "time_max",
    "solver_time",
    "compile_time",
    "ratio",
    "rel_subopt",
    "time_to_target",
    "target_ratio",
    "nonzeros",
    "status",
]


def _complete_lines(path: Path) -> str:
    """The file's text up to its last newline; a torn last line is cut off on disk."""
    if not path.exists():
        return ""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        replace_text(path, data.decode())
    return data.decode()


class RowLog:
    """``cells.csv`` and ``traces.jsonl`` of a sweep folder."""

    def __init__(self, folder):
        self.skipped = 0  # damaged lines met by the last load
        self.folder = Path(folder)
        self.csv = self.folder / "cells.csv"
        self.traces = self.folder / "traces.jsonl"

    def load(self) -> list[dict]:
        """Rows already written, one per cell (the last row of a cell written twice); a torn
        last line is dropped and the header checked.

        Every row is one physical line (:func:`_cell_text`), so each line is parsed on its
        own: a damaged line (an unbalanced quote, a wrong number of fields) is skipped and
        counted in :attr:`skipped`, and never swallows the lines after it.
        """
        text = _complete_lines(self.csv)
        _complete_lines(self.traces)
        self.skipped = 0
        if not text:
            return []
        lines = text.splitlines()
        header = next(csv.reader(lines[:1]))
        if header != COLUMNS:
            raise UsageError(
                f"{self.csv} has columns {header}, not the ones this version writes; use another --out folder"
            )
        rows = {}
        for line in lines[1:]:
            try:
                fields = next(csv.reader([line], strict=True))
            except (csv.Error, StopIteration):
                fields = None
            if fields is None or len(fields) != len(COLUMNS) or not fields[0]:
                self.skipped += 1
                continue
            row = dict(zip(COLUMNS, fields, strict=True))
            rows.pop(row["cell_id"], None)  # a rerun cell: its latest row, in its latest place
            rows[row["cell_id"]] = row
        return list(rows.values())

    def load_traces(self) -> dict:
        text = _complete_lines(self.traces)
        out = {}
        for line in text.splitlines():
            rec = json.loads(line)
            out[rec["cell_id"]] = (rec["times"], rec["values"])
        return out

    def append(self, row: dict, trace=None):
        if trace is not None:
            record = {"cell_id": row["cell_id"], "times": trace[0], "values": trace[1]}
            _append_line(self.traces, json.dumps(record) + "\n")
        if not self.csv.exists() or self.csv.stat().st_size == 0:
            _append_line(self.csv, _csv_line(COLUMNS))
        _append_line(self.csv, _csv_line([_cell_text(row.get(c)) for c in COLUMNS]))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return " ".join(str(value).split())  # one physical line per row, always


def _csv_line(values) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def write_csv(path, rows, columns):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell_text(row.get(c)) for c in columns})
    replace_text(Path(path), buf.getvalue())


# ----------------------------------------------------------------------------- scoring


def num(value):
    """A CSV field as a float (None when empty or not a number)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def score(rows, traces, target):
    """Rows with ``best_objective``, ``subopt = objective - best``, ``rel_subopt =
    subopt / |best|`` and ``time_to_target``: when the objective first came within a
    relative ``target`` of the best (from the cell's trace when it has one, else the
    cell's median time if its final objective made it; empty when it never did)."""
    best = {}
    for r in rows:
        f = num(r.get("objective"))
        if r["outcome"] == "ok" and f is not None and math.isfinite(f):
            best[r["problem_id"]] = min(best.get(r["problem_id"], math.inf), f)
    out = []
    for r in rows:
        r = dict(r)
        f, b = num(r.get("objective")), best.get(r["problem_id"])
        if r["outcome"] == "ok" and f is not None and b is not None:
            scale = max(abs(b), 1e-300)
            r.update(best_objective=b, subopt=f - b, rel_subopt=(f - b) / scale)
            r["time_to_target"] = _time_to(b + target * scale, r, traces.get(r["cell_id"]))
        out.append(r)
    return out


def _time_to(level, row, trace):
    if trace is not None and len(trace[0]):
        for t, v in zip(*trace, strict=True):
            if v is not None and v <= level:
                return t
        return None
    f = num(row.get("objective"))
    return num(row.get("time_median")) if f is not None and f <= level else None


# ----------------------------------------------------------------------------- summary


def matches(family: str, reference: str | None) -> bool:
    """``reference`` names a family exactly, or its library (``skglm``) or solver without
    options (``jaxreg:fista``)."""
    if not reference:
        return False
    return family == reference or family.startswith(reference + ":") or family.startswith(reference + "(")


def summarize(scored, reference=None):
    """One line per (problem, dtype, device, family).

    ``time`` is the median time of the family's most accurate cell (lowest objective;
    the fastest of ties), ``tol`` that cell's tolerance, ``ratio`` that time over the reference family's on the same
    problem and dtype; ``time_to_target`` is the least time any of the family's cells took
    to come within the target, ``target_ratio`` its ratio to the reference's.
    """
    groups: dict = {}
    for r in scored:
        groups.setdefault((r["problem_id"], r["dtype"], r["device"], r["family"]), []).append(r)
    lines = []
    for (pid, dtype, device, family), members in groups.items():
        ok = [r for r in members if r["outcome"] == "ok" and num(r.get("objective")) is not None]
        line = {
            "problem_id": pid,
            "problem": members[0]["problem"],
            "n_samples": members[0]["n_samples"],
            "n_features": members[0]["n_features"],
            "penalty": members[0]["penalty"],
            "dtype": dtype,
            "device": device,
            "family": family,
            "cells": f"{len(ok)}/{len(members)}",
        }
        if ok:
            top = min(ok, key=lambda r: (num(r["objective"]), num(r["time_median"])))
            ttt = [num(r.get("time_to_target")) for r in ok if num(r.get("time_to_target")) is not None]
            compile_times = [num(r.get("compile_time")) for r in ok if num(r.get("compile_time")) is not None]
            line.update(
                time=num(top["time_median"]),
                time_min=num(top["time_min"]),
                time_max=num(top["time_max"]),
                solver_time=num(top.get("solver_time_median")),
                compile_time=max(compile_times) if compile_times else None,
                rel_subopt=num(top.get("rel_subopt")),
                time_to_target=min(ttt) if ttt else None,
                nonzeros=top["nonzeros"],
                status=top["status"],
                tol=top.get("tol") or None,
            )
        else:
            line["status"] = ", ".join(sorted({r["outcome"] for r in members}))
        lines.append(line)
    for line in lines:
        ref = _reference_line(lines, line, reference)
        if ref is not None:
            line["ratio"] = _ratio(line.get("time"), ref.get("time"))
            line["target_ratio"] = _ratio(line.get("time_to_target"), ref.get("time_to_target"))
    return lines


def _reference_line(lines, line, reference):
    same = [
        o
        for o in lines
        if o["problem_id"] == line["problem_id"] and o["dtype"] == line["dtype"] and matches(o["family"], reference)
    ]
    same.sort(key=lambda o: o["device"] != line["device"])
    return same[0] if same else None


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0.0) else None


def _fmt(value, digits=3):
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown(lines, reference=None, target=None) -> str:
    """The summary as a markdown table (also what is printed).

    ``tol``: the tolerance of the family's cell shown (its most accurate; ``-`` for the
    method's default); ``time s``: median wall time of the whole fit call; ``solver s``:
    jaxreg's compiled solver alone (the rest is validation, transfers and the step-size
    estimate).
    """
    ref = f"vs {reference}" if reference else "ratio"
    tgt = f"t({target:g})" if target else "t(target)"
    head = ["problem", "penalty", "dtype", "device", "method", "tol", "time s", "min-max", "solver s", "compile s", ref]
    head += ["rel subopt", tgt, f"{tgt} {ref}", "nnz", "status"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in lines:
        spread = f"{_fmt(s.get('time_min'))}-{_fmt(s.get('time_max'))}" if s.get("time") is not None else "-"
        cells = [s["problem"], s["penalty"], s["dtype"], s["device"], s["family"], _fmt(num(s.get("tol")))]
        cells += [_fmt(s.get("time")), spread]
        cells += [_fmt(s.get("solver_time")), _fmt(s.get("compile_time"), 2), _fmt(s.get("ratio"), 2)]
        cells += [_fmt(s.get("rel_subopt"), 2)]
        cells += [_fmt(s.get("time_to_target")), _fmt(s.get("target_ratio"), 2), _fmt(s.get("nonzeros"))]
        cells += [_fmt(s.get("status"))]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
