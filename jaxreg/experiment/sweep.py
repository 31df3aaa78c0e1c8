"""``jaxreg sweep SWEEP.yaml``: a grid of benchmark cells, run with warm-up and repetitions,
rows appended as cells finish, resumable, summarized and plotted at the end.

A sweep config (see ``configs/sweeps/``) lists ``problems``, ``penalties``, jaxreg
``solvers`` and peer ``baselines``; inside each entry every list is a grid axis (the
entry expands to the cartesian product of its lists), and the cells are the product of
problems x penalties x dtype x (solvers x device + baselines). A problem entry may carry
its own ``penalties`` (a list like the top-level one, which it replaces for that entry).
Pairs a method cannot handle, peers that are not installed and devices that are not present
are left out with a note.

``loss: auto`` fits each problem with the loss its data was drawn for (squared, logistic or
multinomial, poisson for ``counts``, gamma or tweedie for ``amounts``); a named loss
(``poisson``, ``{kind: tweedie, power: 1.5}``, ``{kind: huber, epsilon: 1.0}``) must fit
every problem's targets (gamma needs ``y > 0``: not counts), else the config is refused.

Output folder (``--out``, default ``runs/sweeps/NAME``): ``config.yaml`` (resolved),
``env.json``, ``cells.csv`` (appended), ``traces.jsonl``, ``results.csv`` (with
suboptimality), ``summary.csv``/``summary.md`` and two PNG plots.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from jaxreg.errors import UsageError
from jaxreg.experiment.baselines import BaselineRun, resolve
from jaxreg.experiment.config import (
    MAX_COUNT,
    StrictModel,
    add_config_arguments,
    apply_overrides,
    expand_grid,
    load_yaml,
    validate,
)
from jaxreg.experiment.data import ClassificationData
from jaxreg.experiment.specs import LossSpec, PenaltySpec, SolverRun
from jaxreg.experiment.sweep_data import SweepDataSpec, build_loss, loss_fits, loss_params, natural_loss

__all__ = ["SweepConfig", "Cell", "load_sweep", "expand", "run_sweep", "add_parser"]


class SweepConfig(StrictModel):
    """A sweep file. ``problems``, ``penalties``, ``solvers`` and ``baselines`` are lists of
    entries whose list values are grid axes; each expanded point is validated as a
    :data:`~jaxreg.experiment.sweep_data.SweepDataSpec`, :class:`PenaltySpec`,
    :class:`SolverRun` or :class:`BaselineRun`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    repetitions: int = Field(3, ge=1, le=MAX_COUNT, description="timed fits per cell (median and spread)")
    warmup: int = Field(1, ge=0, le=MAX_COUNT, description="untimed fits first (the first compiles)")
    timeout: float | None = Field(600.0, gt=0, description="seconds per cell; the worker is killed past it")
    isolate: bool = Field(True, description="run cells in a worker process (needed for the timeout)")
    measure_memory: bool = True
    reference: str | None = Field(None, description="family (or library) the summary's ratios divide by")
    target: float = Field(1e-6, gt=0, lt=1, description="relative suboptimality for time-to-target")
    loss: LossSpec = Field(
        default_factory=lambda: LossSpec(kind="auto"),
        description="auto (each problem's own) or a loss name or {kind, power | epsilon}",
    )
    fit_intercept: bool = True
    dtype: list[Literal["float32", "float64"]] = Field(default_factory=lambda: ["float64"], min_length=1)
    device: list[Literal["cpu", "gpu"]] = Field(default_factory=lambda: ["cpu"], min_length=1)
    problems: list[dict[str, Any]] = Field(min_length=1)
    penalties: list[dict[str, Any]] = Field(default_factory=lambda: [{"kind": "none"}], min_length=1)
    solvers: list[dict[str, Any]] = Field(default_factory=list)
    baselines: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("dtype", "device", mode="before")
    @classmethod
    def _one_or_list(cls, value):
        return value if isinstance(value, list) else [value]


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid point: ``payload`` is what the worker needs, ``info`` the CSV's columns."""

    cell_id: str
    problem_id: str
    payload: dict
    info: dict

    @property
    def label(self) -> str:
        i = self.info
        return f"{i['problem']} | {i['penalty']} | {i['method']} | {i['dtype']} {i['device']}"


def measure_settings(config) -> dict:
    """The settings of a cell's measurement, part of its identity (``cell_id``)."""
    return {
        "repetitions": config.repetitions,
        "warmup": config.warmup,
        "timeout": config.timeout,
        "measure_memory": config.measure_memory,
    }


def _digest(obj, n) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def load_sweep(path, overrides=()):
    """The validated config of a sweep file.

    Parameters
    ----------
    path : str or Path
    overrides : iterable of str
        ``key.path=value`` items (``--set``), applied before validation.

    Returns
    -------
    SweepConfig

    Raises
    ------
    UsageError
        One line naming the key, the value and what is allowed.
    """
    raw = apply_overrides(load_yaml(path), overrides)
    return validate(SweepConfig, raw, source=str(path))


def _expand_section(entries, schema, section, source, prefix=()):
    """``(entry index, validated point)`` for every grid point of every entry (errors name
    ``prefix`` + ``section`` + the entry's index)."""
    out = []
    for i, entry in enumerate(entries):
        where = (*prefix, section, i)
        for point, axes in expand_grid(entry, source, where):
            out.append((i, validate(schema, point, source=source, prefix=where, axes=axes)))
    return out


def _expand_problems(config, source):
    """``(entry index, data spec, penalty specs)`` for every problem: an entry's own
    ``penalties`` (a list of penalty entries) replace the top-level ones for it."""
    top = [p for _, p in _expand_section(config.penalties, PenaltySpec, "penalties", source)]
    out = []
    for i, entry in enumerate(config.problems):
        entry = dict(entry)
        own = entry.pop("penalties", None)
        if own is not None and not (isinstance(own, list) and own):
            raise UsageError(f"{source}: problems[{i}].penalties = {own!r}: give a non-empty list of penalty entries")
        where = ("problems", i)
        pens = top if own is None else [p for _, p in _expand_section(own, PenaltySpec, "penalties", source, where)]
        for point, axes in expand_grid(entry, source, where):
            out.append((i, validate(SweepDataSpec, point, source=source, prefix=where, axes=axes), pens))
    return out


def describe_problem(spec) -> str:
    """``linear n=1000 p=5000 rho=0.5`` (other fields only when not at their default)."""
    d = spec.model_dump()
    defaults = type(spec)().model_dump()
    parts = [spec.kind, f"n={d.pop('n_samples')}"]
    if "n_features" in d:
        parts.append(f"p={d.pop('n_features')} rho={d.pop('rho'):g}")
    extra = {k: v for k, v in d.items() if k != "kind" and v != defaults[k]}
    parts += [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items()]
    return " ".join(parts)


def _loss_for(config, spec, i, source):
    """The jaxreg loss of problem ``i``: its natural one (``auto``) or the config's, refused
    (naming the key, the value and what is allowed) when it does not fit the targets."""
    from jaxreg.losses import LOSSES

    if config.loss.kind == "auto":
        return natural_loss(spec)
    loss = config.loss.build()
    if isinstance(spec, ClassificationData):
        allowed = ("logistic", "multinomial") if spec.n_classes > 2 else ("logistic",)
        why = None if loss.name in allowed else "it is not a classification loss of this many classes"
    else:
        allowed = tuple(k for k in LOSSES if not build_loss(k).is_classifier and loss_fits(build_loss(k), spec) is None)
        why = loss_fits(loss, spec)
    if why:
        raise UsageError(
            f"{source}: loss = {config.loss.label()!r} does not fit problems[{i}] (kind {spec.kind!r}): {why}; "
            f"allowed: {', '.join(('auto', *allowed))}"
        )
    return loss


def _check_no_offset(spec, i, source):
    if getattr(spec, "exposure", None) == "offset" and spec.log_exposure_spread > 0:
        raise UsageError(
            f"{source}: problems[{i}].exposure = 'offset' is not allowed in sweeps (no method is given an offset); "
            "allowed: feature (log(exposure) as the last column)"
        )


def _loss_label(loss) -> str:
    """``poisson``, ``tweedie(power=1.5)``, ``huber(epsilon=1.35)``."""
    params = loss_params(loss)
    return loss.name + (f"({', '.join(f'{k}={v:g}' for k, v in params.items())})" if params else "")


def _available_devices():
    import jax

    found = set()
    for kind in ("cpu", "gpu"):
        try:
            if jax.devices(kind):
                found.add(kind)
        except RuntimeError:
            pass
    return found


def _method_label(family, run) -> str:
    label = family + (f" tol={run.tol:g}" if run.tol is not None else "")
    return label + (f" max_iter={run.max_iter}" if run.max_iter is not None else "")


def expand(config: SweepConfig, source="sweep", devices=None):
    """The sweep's cells, in run order (grouped by problem), and notes on what was left out.

    Parameters
    ----------
    config : SweepConfig
    source : str
        Named in error messages (the file).
    devices : set of str, optional
        Device kinds present ("cpu", "gpu"); found from JAX when None.

    Returns
    -------
    cells : list of Cell
    notes : list of str
        One line per reason cells were left out, with the count.
    """
    from jaxreg.solvers import get_solver

    devices = _available_devices() if devices is None else set(devices)
    problems = _expand_problems(config, source)
    solvers = [s for _, s in _expand_section(config.solvers, SolverRun, "solvers", source)]
    baselines = [b for _, b in _expand_section(config.baselines, BaselineRun, "baselines", source)]
    if not solvers and not baselines:
        raise UsageError(f"{source}: no solvers and no baselines; give at least one method to run")

    cells, notes, seen = [], Counter(), set()
    for i, spec, penalties in problems:
        _check_no_offset(spec, i, source)
        loss_obj = _loss_for(config, spec, i, source)
        loss, params = loss_obj.name, loss_params(loss_obj)
        problem = spec.model_dump(mode="json")
        n_classes = getattr(spec, "n_classes", 0)
        text = describe_problem(spec)
        if loss not in ("squared", "logistic", "multinomial"):
            text += f" {_loss_label(loss_obj)}"
        for pen in penalties:
            penalty = pen.model_dump(mode="json")
            base = {"problem": problem, "loss": loss, "penalty": penalty, "fit_intercept": config.fit_intercept}
            if params:  # only where there are any: the cells of earlier sweeps keep their ids
                base["loss_params"] = params
            problem_id = _digest(base, 12)
            info = {
                "sweep": config.name,
                "problem": text,
                "n_samples": spec.n_samples,
                "n_features": getattr(spec, "n_features", 1),
                "loss": _loss_label(loss_obj),
                "penalty": pen.label(),
                "fit_intercept": config.fit_intercept,
            }
            for dtype in config.dtype:
                methods, ran_jaxreg = [], False
                for run in solvers:
                    if run.solver != "auto":
                        why = get_solver(run.solver).unsupported_reason(loss_obj, pen.build(1.0))
                        if why:
                            notes[f"jaxreg:{run.solver} cannot fit loss {loss!r} with penalty {pen.kind!r}"] += len(
                                config.device
                            )
                            continue
                    for device in config.device:
                        if device not in devices:
                            notes[f"device {device!r} is not available here (available: {sorted(devices)})"] += 1
                            continue
                        ran_jaxreg = True
                        family = run.family()
                        methods.append((device, family, {"library": "jaxreg", "run": run.model_dump(mode="json")}, run))
                skip_peers = solvers and not ran_jaxreg and any(d not in devices for d in config.device)
                for run in baselines:
                    if skip_peers:
                        notes["peers left out where no jaxreg cell of the problem can run here"] += 1
                        continue
                    estimator, why = resolve(run.peer, loss, pen.kind, config.fit_intercept, n_classes)
                    if why:
                        notes[why] += 1
                        continue
                    method = {"library": run.peer, "estimator": estimator, "run": run.model_dump(mode="json")}
                    methods.append(("cpu", run.family(estimator), method, run))
                for device, family, method, run in methods:
                    payload = {**base, "method": method, "dtype": dtype, "device": device}
                    # how it is measured is part of what a row means: a cell timed out at
                    # 0.5 s is run again under a longer timeout, 1 repetition is not 5
                    cell_id = _digest({**payload, "measure": measure_settings(config)}, 16)
                    if cell_id in seen:
                        continue
                    seen.add(cell_id)
                    row = dict(info, family=family, method=_method_label(family, run), library=method["library"])
                    row.update(tol=run.tol, dtype=dtype, device=device)
                    cells.append(Cell(cell_id, problem_id, payload, row))
    return cells, [f"{text} ({n} cell{'s' if n > 1 else ''} left out)" for text, n in notes.items()]


def run_sweep(config: SweepConfig, out_dir, source="sweep", executor=None, progress=True, stream=None):
    """Run the cells not yet in ``out_dir/cells.csv``, then score, summarize and plot.

    Parameters
    ----------
    config : SweepConfig
    out_dir : str or Path
        Created if needed; rows already there are kept and their cells skipped.
    source : str
        Named in error messages.
    executor : optional
        Has ``run(cell_payload, settings, timeout) -> dict`` and ``close()``; default a
        :class:`~jaxreg.experiment.worker.WorkerProcess` (``isolate: true``) or
        :class:`~jaxreg.experiment.worker.InProcess`.
    progress : bool
        Show a tqdm progress bar (cells done, time left) on stderr.
    stream : file, optional
        Where the summary table and notes are printed (stdout).

    Returns
    -------
    list of dict
        The summary lines (as in ``summary.csv``).

    Raises
    ------
    UsageError
        Another sweep holds ``out_dir`` (an advisory lock on ``.sweep.lock``).
    """
    stream = stream or sys.stdout
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)  # held until this process ends or returns; a killed sweep leaves none
    try:
        return _run_locked(config, out, source, executor, progress, stream)
    finally:
        lock.close()


def _lock(out):
    from jaxreg.experiment.files import lock_folder

    return lock_folder(out, ".sweep.lock", "sweep")


def _run_locked(config, out, source, executor, progress, stream):
    from tqdm import tqdm

    from jaxreg.experiment.results import RowLog
    from jaxreg.experiment.worker import CellFailed, InProcess, WorkerProcess

    cells, notes = expand(config, source)
    log = RowLog(out)
    done = {r["cell_id"] for r in log.load()}
    if log.skipped:
        notes.append(f"{log.skipped} damaged line(s) of cells.csv skipped (their cells run again)")
    pending = [c for c in cells if c.cell_id not in done]
    _write_meta(config, out)
    if not config.isolate and config.timeout is not None:
        notes.append("timeout is not enforced with isolate: false (cells run in this process)")
    print(
        f"sweep {config.name}: {len(cells)} cells, {len(cells) - len(pending)} already done, "
        f"{len(pending)} to run -> {out}",
        file=stream,
    )
    settings = {"repetitions": config.repetitions, "warmup": config.warmup, "measure_memory": config.measure_memory}
    executor = executor or (WorkerProcess() if config.isolate else InProcess())
    bar = tqdm(total=len(cells), initial=len(cells) - len(pending), unit="cell", disable=not progress, file=sys.stderr)
    try:
        for cell in pending:
            bar.set_postfix_str(cell.label[:60], refresh=False)
            row = {**cell.info, "cell_id": cell.cell_id, "problem_id": cell.problem_id}
            row.update(repetitions=config.repetitions, warmup=config.warmup)
            trace = None
            try:
                result = executor.run(cell.payload, settings, timeout=config.timeout)
                trace = result.pop("trace", None)
                row.update(result)
            except CellFailed as failure:
                row.update(outcome=failure.outcome, error=str(failure))
            row["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            log.append(row, trace)
            bar.update()
    finally:
        bar.close()
        executor.close()
    return finalize(config, out, cells, notes, stream)


def _write_meta(config, out):
    import yaml

    from jaxreg.experiment.env import environment
    from jaxreg.experiment.files import replace_text

    replace_text(out / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    replace_text(out / "env.json", json.dumps(environment(), indent=2) + "\n")


def _text_columns(info):
    return {k: info[k] for k in ("problem", "penalty", "family", "method")}


def finalize(config, out, cells, notes, stream):
    """Score the rows of the current grid, write results/summary files and plots."""
    from jaxreg.experiment import results as R
    from jaxreg.experiment.sweep_plots import subopt_vs_time, time_vs_features

    log = R.RowLog(out)
    by_id = {r["cell_id"]: r for r in log.load()}
    # labels come from the current grid (they are a function of the cell's key)
    rows = [{**by_id[c.cell_id], **_text_columns(c.info)} for c in cells if c.cell_id in by_id]
    traces = log.load_traces()
    scored = R.score(rows, traces, config.target)
    summary = R.summarize(scored, config.reference)
    R.write_csv(out / "results.csv", scored, R.SCORE_COLUMNS)
    R.write_csv(out / "summary.csv", summary, R.SUMMARY_COLUMNS)
    table = R.markdown(summary, config.reference, config.target) if summary else "(no cells ran here)\n"
    failed = Counter(r["outcome"] for r in rows if r["outcome"] != "ok")
    lines = [f"# sweep {config.name}", "", config.description.strip(), "", table]
    lines += [f"- {n} cell(s) ended with outcome '{k}' (see cells.csv, column error)" for k, n in failed.items()]
    lines += [f"- note: {n}" for n in notes]
    plots = []
    if time_vs_features(summary, out / "time_vs_features.png"):
        plots.append("time_vs_features.png")
    if subopt_vs_time(scored, traces, out / "subopt_vs_time.png", config.target):
        plots.append("subopt_vs_time.png")
    lines += ["", *[f"![{p}]({p})" for p in plots]]
    R.replace_text(out / "summary.md", "\n".join(lines).strip() + "\n")
    print(table, file=stream)
    for line in lines[5:]:
        if line.startswith("- "):
            print(line[2:], file=stream)
    print(f"wrote {out}/results.csv, summary.md, {', '.join(plots) or 'no plots'}", file=stream)
    return summary


# ----------------------------------------------------------------------------- CLI


def add_parser(subparsers):
    """Register ``jaxreg sweep``."""
    p = subparsers.add_parser(
        "sweep",
        help="run a benchmark sweep (a grid of solvers and peers) from a YAML file",
        description="Run a benchmark sweep: a grid of problems, penalties, jaxreg solvers and peers "
        "(scikit-learn, skglm, celer). Rows are appended as cells finish; running again resumes.",
    )
    add_config_arguments(
        p,
        "SWEEP.yaml",
        "sweep file",
        "runs/sweeps/NAME",
        "--set repetitions=1 --set problems.0.n_features=[500,1000]",
    )
    p.add_argument("--dry-run", action="store_true", help="list the cells (done or to run) and exit")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    config = load_sweep(args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / config.name
    if args.dry_run:
        return _dry_run(config, out, str(args.config))
    run_sweep(config, out, source=str(args.config), progress=not args.no_progress)
    return 0


def _dry_run(config, out, source):
    from jaxreg.experiment.results import RowLog

    cells, notes = expand(config, source)
    done = {r["cell_id"] for r in RowLog(out).load()} if (out / "cells.csv").exists() else set()
    for c in cells:
        print(f"{c.cell_id}  {'done   ' if c.cell_id in done else 'pending'}  {c.label}")
    print(f"{len(cells)} cells ({len(done & {c.cell_id for c in cells})} done) -> {out}")
    for n in notes:
        print(f"note: {n}")
    return 0
