"""The files of a ``jaxreg run`` folder (each written to a temporary name and renamed) and
the table printed at the end."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import yaml

from jaxreg.experiment.files import replace_text, replace_with
from jaxreg.experiment.results import write_csv

__all__ = [
    "write_start",
    "write_metrics",
    "write_coefficients",
    "print_table",
    "to_json",
    "dumps",
    "clean",
    "coef_columns",
    "FIXED_COLUMNS",
]


def clean(obj):
    """JSON-able: numpy scalars and arrays as Python, non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.generic):
        return clean(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _plain(obj):
    """``json.dumps``'s ``default``: numpy scalars and arrays as Python values."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj, indent=None) -> str:
    """JSON text of ``obj`` with non-finite floats as null. The walk of :func:`clean` is
    done only when a direct encoding meets one (a record is almost always clean already)."""
    try:
        return json.dumps(obj, indent=indent, allow_nan=False, default=_plain)
    except ValueError:
        return json.dumps(clean(obj), indent=indent, allow_nan=False)


def to_json(obj) -> str:
    return dumps(obj, indent=2) + "\n"


def resolved_yaml(config) -> str:
    """The text of ``config.yaml``: the config with every default filled in."""
    # libyaml's emitter where PyYAML has it (same representers; 0.7 s -> ~0.1 s for a
    # 10000-point grid's config), the pure-Python one otherwise
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(config.model_dump(mode="json"), Dumper=dumper, sort_keys=False)


def write_start(config, out: Path):
    """``config.yaml`` (every default filled in) and ``env.json``."""
    from jaxreg.experiment.env import environment

    replace_text(out / "config.yaml", resolved_yaml(config))
    env = environment()
    env["dtype"] = config.dtype
    env["device"] = config.device
    replace_text(out / "env.json", to_json(env))


def write_metrics(config, records, out: Path, complete=True):
    """``metrics.json``, written once per run (``complete: false`` when the run stopped
    early; the lines of ``metrics.jsonl`` are the fits as they ended)."""
    # one fit a line: json's C encoder writes compact text only (indent= runs the pure-Python
    # one, ~1 s for a 10000-fit grid), and a line per fit still reads and diffs well
    head = dumps({"name": config.name, "complete": complete})[:-1]
    fits = ",\n    ".join(dumps(r.info) for r in records)
    replace_text(out / "metrics.json", f'{head}, "fits": [\n    {fits}\n]}}\n')


FIXED_COLUMNS = ("id", "label", "status", "intercept")


def coef_columns(records) -> list[str]:
    """The coefficient columns of one-output fits: their features' names, in order of first
    appearance (fits on different features share the columns of the names they share); a
    name that is also a fixed column gets the prefix ``feature:``."""
    seen = {}
    for r in records:
        if r.coef is not None and np.ndim(r.coef) == 1:
            for name in _names(r):
                seen.setdefault(name, None)
    return [f"feature:{n}" if n in FIXED_COLUMNS else n for n in seen]


def _names(r) -> tuple:
    from jaxreg.experiment.features import default_names

    size = np.shape(r.coef)[0]
    names = r.names if r.names is not None and len(r.names) == size else default_names(size)
    return tuple(names)


def write_coefficients(records, out: Path):
    """``coefficients.npz`` (``coef_<id>``, ``intercept_<id>``, ``history_<id>`` per fit)
    and ``coefficients.csv`` (one row per fit: id, label, status, intercept, then one column
    per feature, named after it) for one-output models."""
    arrays = {}
    rows = []
    for r in records:
        if r.coef is None:
            continue
        i = r.info["id"]
        arrays[f"coef_{i}"] = np.asarray(r.coef)
        arrays[f"intercept_{i}"] = np.asarray(r.intercept)
        if r.history is not None:
            arrays[f"history_{i}"] = np.asarray(r.history)
        if np.ndim(r.coef) == 1:
            row = {"id": i, "label": r.info["label"], "status": r.info["status"], "intercept": float(r.intercept)}
            names = [f"feature:{n}" if n in FIXED_COLUMNS else n for n in _names(r)]
            row.update({n: float(c) for n, c in zip(names, r.coef, strict=True)})
            rows.append(row)

    def save(tmp):
        # built in memory, written once: np.savez straight into the file seeks back to each
        # of the (3 per fit) entries' headers, 1.5 s for a 10000-fit grid against 0.4 s
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())

    replace_with(out / "coefficients.npz", save)
    write_csv(out / "coefficients.csv", rows, [*FIXED_COLUMNS, *coef_columns(records)])


def _num(v, fmt="{:.4g}"):
    return "" if v is None else fmt.format(v)


def table(records) -> str:
    """The short metrics table (one line per fit)."""
    classification = any("train_accuracy" in r.info for r in records)
    err = ("train acc", "test acc") if classification else ("train rmse", "test rmse")
    keys = ("train_accuracy", "test_accuracy") if classification else ("train_rmse", "test_rmse")
    deviance = any("test_deviance" in r.info for r in records)  # a log-link loss: its held-out deviance
    head = ["fit", "solver", "status", "iters", "objective", err[0], err[1]]
    head += ["test deviance"] * deviance + ["nonzeros", "compile s", "fit s"]
    rows = []
    for r in records:
        i = r.info
        rows.append(
            [
                i["label"],
                str(i.get("solver", "")),
                i["status"],
                str(i.get("n_iter", "")),
                _num(i.get("objective"), "{:.6g}"),
                _num(i.get(keys[0])),
                _num(i.get(keys[1])),
                *([_num(i.get("test_deviance"))] * deviance),
                str(i.get("nonzeros", "")),
                _num(i.get("compile_time"), "{:.2f}"),
                _num(i.get("fit_time"), "{:.4f}"),
            ]
        )
    widths = [max(len(h), *(len(row[k]) for row in rows)) for k, h in enumerate(head)]
    buf = io.StringIO()
    for line in [head, *rows]:
        cells = [c.ljust(w) if k < 3 else c.rjust(w) for k, (c, w) in enumerate(zip(line, widths, strict=True))]
        buf.write("  ".join(cells).rstrip() + "\n")
    return buf.getvalue()


def print_table(config, records, stream):
    print(f"{config.name}: {len(records)} fits", file=stream)
    stream.write(table(records))
    for r in records:
        if r.info.get("error"):
            print(f"{r.info['label']}: {r.info['status']}: {r.info['error']}", file=stream)
