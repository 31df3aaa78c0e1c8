"""``jaxreg run CONFIG.yaml``: fit the models a config names on its data, and write a run
folder.

The folder (``--out``, default ``runs/NAME``) holds ``config.yaml`` (the resolved config),
``env.json``, ``metrics.json`` (one entry per fit: train/test error, objective, iterations,
status, nonzeros; solver, compile and whole-call time apart), ``coefficients.csv`` and
``coefficients.npz``, and the PNG plots the config asks for; ``run.json`` says whether the
run finished and ``metrics.jsonl`` has a line per fit as it ended
(:mod:`jaxreg.experiment.run_folder`: one writer at a time, one run per folder). Every
file is written to a unique temporary name and renamed, so an interrupted run never leaves
half a file. A fit that fails or diverges is recorded with its status and the others still
run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from jaxreg.errors import UsageError
from jaxreg.experiment.config import add_config_arguments
from jaxreg.experiment.features import Features, default_names, featurize
from jaxreg.experiment.run_config import BayesModel, PlannedFit, RunConfig, load_run
from jaxreg.losses import get_loss, mean_of

__all__ = [
    "Split",
    "Record",
    "prepare",
    "split_rows",
    "featurize",
    "run_fit",
    "run_experiment",
    "add_parser",
    "FAST_MAX_ITER",
]

# --fast (the test suite): iterative solvers stop after at most this many iterations
FAST_MAX_ITER = 500


@dataclasses.dataclass
class Split:
    """The data of a run: train and test inputs (before features), targets, and the task."""

    X_train: object
    y_train: np.ndarray | None
    X_test: object | None
    y_test: np.ndarray | None
    task: str
    coef_true: np.ndarray | None = None
    raw: object = None  # the whole Dataset, or a streamed NpyDataset (no split)
    feature_names: tuple | None = None  # the input columns' names, where the data has them
    offset_train: np.ndarray | None = None  # the data's offset (Dataset.offset), split as the rows
    offset_test: np.ndarray | None = None

    @property
    def streamed(self) -> bool:
        return self.y_train is None


@dataclasses.dataclass
class Record:
    """One fit's outcome: ``info`` goes to metrics.json, the arrays to the coefficient
    files and the plots."""

    fit: PlannedFit
    info: dict
    coef: np.ndarray | None = None
    intercept: object = None
    history: np.ndarray | None = None
    predict: object = None  # raw inputs -> predictions (regression) or scores
    panels: list | None = None  # Bayesian posteriors after each step
    names: tuple | None = None  # one per coefficient (row of a multi-output coef)

    @property
    def ok(self) -> bool:
        return self.info["status"] not in ("failed", "diverged")


# ----------------------------------------------------------------------------- data


def split_rows(n: int, sp, seed: int):
    """The (train, test) row indices scikit-learn's ``train_test_split`` draws for
    ``random_state=seed`` without stratification, or None where it is not that simple case
    (stratified, or sizes it would refuse: it is then called itself, for its message).
    Importing ``sklearn.model_selection`` costs ~1 s of a process start, more than a
    1000-fit grid's fitting; tests/test_run_split.py checks the rows against it."""
    test, train = sp.test_size or None, sp.train_size
    if test is None and train is None:
        test = 0.25
    n_test = None if test is None else (math.ceil(test * n) if isinstance(test, float) else test)
    n_train = None if train is None else (math.floor(train * n) if isinstance(train, float) else train)
    n_train = n - n_test if n_train is None else n_train
    n_test = n - n_train if n_test is None else n_test
    if not (0 < n_test < n and 0 < n_train < n and n_train + n_test <= n):
        return None
    if not sp.shuffle:
        return np.arange(n_train), np.arange(n_train, n_train + n_test)
    order = np.random.RandomState(seed).permutation(n)
    return order[n_test : n_test + n_train], order[:n_test]


def prepare(config: RunConfig) -> Split:
    """Load the data and split it (``config.seed`` shuffles)."""
    from jaxreg.experiment.run_data import load_data

    ds = load_data(config.data, np.dtype(config.dtype))
    if not hasattr(ds, "task"):  # a streamed NpyDataset: fitted as it is
        return Split(ds, None, None, None, "regression", raw=ds)
    sp = config.split
    if sp.test_data is not None:
        test = load_data(sp.test_data, np.dtype(config.dtype))
        if not hasattr(test, "task") or test.task != ds.task or np.shape(test.X)[1:] != np.shape(ds.X)[1:]:
            raise UsageError(
                f"split.test_data: the test set must be in-memory {ds.task} data with {np.shape(ds.X)[1]} columns "
                "like data"
            )
        if (ds.offset is None) != (test.offset is None):
            raise UsageError("split.test_data: data and test_data must both have an offset or neither")
        return Split(ds.X, ds.y, test.X, test.y, ds.task, ds.coef_true, ds, ds.feature_names, ds.offset, test.offset)
    if not sp.holds_out:
        return Split(ds.X, ds.y, None, None, ds.task, ds.coef_true, ds, ds.feature_names, ds.offset)
    stratify = ds.y if sp.stratify and ds.task == "classification" else None
    rows = None if stratify is not None else split_rows(ds.X.shape[0], sp, config.seed)
    if rows is None:
        from sklearn.model_selection import train_test_split

        try:  # split the row numbers, so that X, y and the offset follow them
            rows = train_test_split(
                np.arange(ds.X.shape[0]),
                test_size=sp.test_size or None,
                train_size=sp.train_size,
                shuffle=sp.shuffle,
                stratify=stratify,
                random_state=config.seed,
            )
        except ValueError as exc:
            raise UsageError(f"split: {exc} (the data has {ds.X.shape[0]} samples)") from None
    itr, ite = rows
    off = (None, None) if ds.offset is None else (ds.offset[itr], ds.offset[ite])
    return Split(ds.X[itr], ds.y[itr], ds.X[ite], ds.y[ite], ds.task, ds.coef_true, ds, ds.feature_names, *off)


# ----------------------------------------------------------------------------- metrics


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


# The power of each log-link loss's Tweedie deviance (a Tweedie loss: its own power)
_DEVIANCE_POWER = {"poisson": 1.0, "gamma": 2.0}


def _scores(loss, coef, intercept, X, classes, offset=None):
    """Predictions: the mean for regression losses (``exp(z)`` with a log link), class
    probabilities for logistic and multinomial, at ``z = X coef + intercept (+ offset)``
    (:func:`jaxreg.losses.mean_of`). ``loss`` is a name or a Loss."""
    z = np.asarray(X @ coef + intercept, dtype=np.float64)
    if offset is not None:
        z = z + (offset if z.ndim == 1 else offset[:, None])
    loss = get_loss(loss)
    mean = mean_of(loss, z)
    return np.column_stack([1.0 - mean, mean]) if loss.link == "logit" else mean


def error_metrics(loss, coef, intercept, X, y, classes, prefix, offset=None) -> dict:
    """``{prefix}_mse`` and ``_rmse`` of the predicted mean (regression; with a log link also
    ``_deviance``, scikit-learn's mean Tweedie deviance of the loss's power), or
    ``_accuracy`` and ``_log_loss``. ``loss`` is a name or a Loss."""
    if X is None:
        return {}
    loss = get_loss(loss)
    out = _scores(loss, coef, intercept, X, classes, offset)
    if not loss.is_classifier:
        y = np.asarray(y, np.float64)
        mse = float(np.mean((y - out) ** 2))
        metrics = {f"{prefix}_mse": _finite(mse), f"{prefix}_rmse": _finite(math.sqrt(mse))}
        if loss.link == "log":
            from sklearn.metrics import mean_tweedie_deviance

            power = _DEVIANCE_POWER.get(loss.name) or float(loss.power)
            metrics[f"{prefix}_deviance"] = _finite(mean_tweedie_deviance(y, out, power=power))
        return metrics
    from sklearn.metrics import log_loss

    pred = np.asarray(classes)[np.argmax(out, axis=1)]
    eps = np.finfo(np.float64).eps
    return {
        f"{prefix}_accuracy": float(np.mean(pred == np.asarray(y))),
        f"{prefix}_log_loss": _finite(log_loss(y, np.clip(out, eps, 1.0), labels=classes)),
    }


# ----------------------------------------------------------------------------- one fit


def _loss(model, split):
    """The model's jaxreg loss (``auto``: squared, logistic or multinomial by the data)."""
    kind = model.loss.kind
    if kind == "auto":
        if split.task == "regression":
            kind = "squared"
        else:
            kind = "logistic" if len(np.unique(split.y_train)) == 2 else "multinomial"
    return model.loss.build(kind)


def run_fit(pf: PlannedFit, split: Split, feats, config: RunConfig, fast=False) -> Record:
    """Fit one planned model; any exception is recorded as ``status: failed``."""
    info = {"id": pf.index, "model": pf.model.name, "label": pf.label, "kind": pf.model.kind, "params": pf.params}
    try:
        if split.offset_train is not None and (isinstance(pf.model, BayesModel) or pf.model.kind == "ridge_cv"):
            raise ValueError(f"model kind {pf.model.kind!r} takes no offset, and the data has one (exposure: offset)")
        if isinstance(pf.model, BayesModel):
            return _run_bayes(pf, split, feats, info)
        if pf.model.kind != "fit":  # ridge_cv, tuning
            from jaxreg.experiment.run_kinds import RUNNERS

            return Record(pf, info, **RUNNERS[pf.model.kind](pf, split, feats, info))
        return _run_jaxreg(pf, split, feats, config, fast, info)
    except Exception as exc:  # one model's failure must not lose the others
        info.update(status="failed", converged=False, error=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        return Record(pf, info)


def _run_jaxreg(pf, split, feats, config, fast, info) -> Record:
    import jaxreg

    m = pf.model
    transform, Ftr, Fte, names = feats
    loss = _loss(m, split)
    kwargs = {k: v for k, v in m.fit_kwargs().items() if v is not None}
    kwargs.setdefault("seed", config.seed)
    if config.device != "auto":
        kwargs["device"] = config.device
    if fast and m.solver != "closed_form":
        kwargs["max_iter"] = min(kwargs.get("max_iter") or FAST_MAX_ITER, FAST_MAX_ITER)
    y = None if split.streamed else split.y_train
    if split.streamed and m.penalty.alpha_ratio is not None:
        raise ValueError("alpha_ratio needs the data in memory (alpha_max is computed from it); give alpha")
    if split.offset_train is not None:
        kwargs["offset"] = split.offset_train
    alpha = (
        m.penalty.resolve_alpha(Ftr, y, loss, m.fit_intercept, offset=split.offset_train)
        if not split.streamed
        else m.penalty.alpha or 0.0
    )
    penalty = m.penalty.build(alpha)
    t0 = time.perf_counter()
    res = jaxreg.fit(Ftr, y, loss=loss, penalty=penalty, fit_intercept=m.fit_intercept, **kwargs)
    call_time = time.perf_counter() - t0  # the whole call: validation and transfers too
    info.update(
        loss=loss.name if m.loss.kind == "auto" else m.loss.label(),
        penalty=m.penalty.kind,
        alpha=alpha,
        solver=res.solver,
        status=res.status,
        converged=bool(res.converged),
        n_iter=int(res.n_iter),
        objective=_finite(res.objective),
        stop_crit=_finite(res.stop_crit),
        criterion=res.criterion,
        nonzeros=res.nonzeros,
        n_features=int(np.shape(res.coef)[0]),
        fit_time=float(res.fit_time),
        compile_time=float(res.compile_time),
        call_time=call_time,
        dtype=res.dtype,
        device=res.device,
    )
    if res.status == "diverged":
        info["error"] = f"diverged after {res.n_iter} iterations (last finite iterate kept)"
    classes = None if res.classes is None else [c.item() if hasattr(c, "item") else c for c in res.classes]
    if split.streamed:
        # squared loss with unit weights: objective = mse/2 + penalty(w), so mse is exact
        pen = float(penalty.value(res.coef)) if loss.name == "squared" else None
        info["train_mse"] = None if pen is None else _finite(2.0 * (res.objective - pen))
    else:
        parts = (("train", Ftr, split.y_train, split.offset_train), ("test", Fte, split.y_test, split.offset_test))
        for prefix, F, y_, off in parts:
            info.update(error_metrics(loss, res.coef, res.intercept, F, y_, classes, prefix, off))
    if classes is not None:
        info["classes"] = classes
    info.update(_recovery(res.coef, split.coef_true, pf.features))

    def predict(X):
        return _scores(loss, res.coef, res.intercept, transform(X), classes)

    return Record(pf, info, np.asarray(res.coef), res.intercept, np.asarray(res.history), predict, names=names)


def _restore(pf, line, split, feats) -> Record:
    """The record of a fit done by the run being resumed, from its line of metrics.jsonl
    (no history; a Bayesian fit is never restored, it runs again for its posteriors)."""
    info = {k: v for k, v in line.items() if k != "arrays"}
    arrays = line["arrays"]
    if arrays["coef"] is None:
        return Record(pf, info)
    coef = np.array(arrays["coef"], dtype=float)  # a null (non-finite) entry reads as NaN
    intercept = np.array(arrays["intercept"], dtype=float)
    loss, classes = _loss(pf.model, split), info.get("classes")

    def predict(X):
        return _scores(loss, coef, intercept, feats.transform(X), classes)

    return Record(pf, info, coef, intercept, None, predict, names=feats.names)


def _recovery(coef, truth, features) -> dict:
    """Against a known truth (generated data, no basis expansion): the support's false
    positives and negatives and, on unscaled features, ``coef_error = ||w - w_true||_2``."""
    coef = np.asarray(coef)
    if truth is None or features.basis != "none" or np.shape(truth) != coef.shape:
        return {}
    found, true = coef != 0, np.asarray(truth) != 0
    out = {"false_positives": int(np.sum(found & ~true)), "false_negatives": int(np.sum(~found & true))}
    if not features.standardize:
        out["coef_error"] = _finite(np.linalg.norm(coef - truth))
    return out


def _run_bayes(pf, split, feats, info) -> Record:
    import jaxreg

    m = pf.model
    if split.streamed:
        raise ValueError("a bayesian model needs data in memory, not a streamed npy data set")
    transform, Ftr, Fte, names = feats

    def design(F):  # the constant feature whose weight w0 carries the intercept (with the prior)
        return np.column_stack([np.ones(F.shape[0]), np.asarray(F, np.float64)])

    Phi = design(Ftr)
    if m.steps[-1] > Phi.shape[0]:
        raise ValueError(f"steps go up to {m.steps[-1]} points but the training data has {Phi.shape[0]}")
    blr = jaxreg.BayesianLinearRegression(
        alpha=m.alpha, beta=m.beta, fit_hyperparameters=m.fit_hyperparameters, fit_intercept=False
    )
    panels, seen = [], 0
    t0 = time.perf_counter()
    for step in m.steps:
        if step > seen:
            blr.partial_fit(Phi[seen:step], split.y_train[seen:step])
            seen = step
        if seen == 0:  # the prior: N(0, I / alpha)
            mean, cov = np.zeros(Phi.shape[1]), np.eye(Phi.shape[1]) / m.alpha
        else:
            mean, cov = blr.coef_.copy(), blr.sigma_.copy()
        panels.append((step, mean, cov, split.X_train[:seen], split.y_train[:seen]))
    fit_time = time.perf_counter() - t0
    coef = panels[-1][1]

    def predict(X):
        return design(transform(X)) @ coef

    info.update(
        loss="squared",
        penalty="gaussian prior",
        alpha=m.alpha,
        beta=m.beta,
        solver="bayesian (partial_fit)",
        status="converged",
        converged=True,
        n_iter=seen,
        nonzeros=int(np.count_nonzero(coef)),
        n_features=int(coef.size),
        fit_time=fit_time,
        compile_time=0.0,
        objective=None,  # no penalized objective: the posterior is exact
        log_evidence=_finite(blr.log_marginal_likelihood_) if seen else None,
        posterior_mean=coef.tolist(),
        posterior_std=np.sqrt(np.diag(panels[-1][2])).tolist(),
    )
    for prefix, F, y in (("train", Phi, split.y_train), ("test", None if Fte is None else design(Fte), split.y_test)):
        info.update(error_metrics("squared", coef, 0.0, F, y, None, prefix))
    return Record(pf, info, coef, 0.0, None, predict, panels, names=("const", *names))


# ----------------------------------------------------------------------------- the run


def _compare(records, reference):
    """Each fit's largest coefficient difference and objective difference from the first
    fit of the reference model (fits of the same shape only)."""
    ref = next((r for r in records if r.fit.model.name == reference and r.coef is not None), None)
    if ref is None:
        return
    for r in records:
        if r.coef is not None and r.coef.shape == ref.coef.shape:
            r.info["coef_max_abs_diff"] = _finite(np.max(np.abs(r.coef - ref.coef), initial=0.0))
            if r.info.get("objective") is not None and ref.info.get("objective") is not None:
                r.info["objective_diff"] = r.info["objective"] - ref.info["objective"]


def _check_device(device):
    if device == "auto":
        return
    from jaxreg.fit import resolve_device

    try:
        resolve_device(device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"device = {device!r}: {exc}") from None


def run_experiment(
    config: RunConfig, fits, out, *, progress=True, fast=False, stream=None, overwrite=False, resume=False
) -> list[Record]:
    """Run every planned fit, write the run folder, print a table; return the records.

    Parameters
    ----------
    config : RunConfig
    fits : list of PlannedFit
        From :func:`jaxreg.experiment.run_config.plan`.
    out : str or Path
        The run folder (created; see :class:`~jaxreg.experiment.run_folder.RunFolder`).
    progress : bool
        A tqdm bar over the fits on stderr.
    fast : bool
        Cap iterative solvers at :data:`FAST_MAX_ITER` iterations (for tests).
    stream : file, optional
        Where the table goes (default stdout).
    overwrite : bool
        Replace an earlier run's files in ``out`` (else a non-empty ``out`` is refused).
    resume : bool
        Continue the unfinished run of this same config in ``out``: fits already done
        (in its ``metrics.jsonl``) are kept, not run again.

    Raises
    ------
    UsageError
        ``out`` is being written by another process, or holds another run (without
        ``overwrite``) or files no run writes.
    """
    from jaxreg.experiment.run_folder import RunFolder

    stream = stream or sys.stdout
    _check_device(config.device)
    from jaxreg.experiment.run_output import resolved_yaml

    folder = RunFolder(out, overwrite=overwrite, resume=resume).open(config.name, len(fits), resolved_yaml(config))
    records: list[Record] = []
    try:
        written = _run_in(folder.path, config, fits, records, progress, fast, stream, folder)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        try:
            from jaxreg.experiment import run_output

            run_output.write_metrics(config, records, folder.path, complete=False)
        finally:
            folder.close(status, len(records), error=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        raise
    folder.close("complete", len(records), files=written)
    return records


def _run_in(out, config, fits, records, progress, fast, stream, folder):
    from tqdm import tqdm

    from jaxreg.experiment import run_output

    run_output.write_start(config, out)
    split = prepare(config)
    features = {}
    bar = tqdm(fits, unit="fit", disable=not progress, file=sys.stderr)
    for pf in bar:
        bar.set_description(pf.label[:40])
        if pf.features not in features:
            if split.streamed:
                X = split.X_train
                features[pf.features] = Features(lambda X: X, X, None, default_names(X.n_features))
            else:
                features[pf.features] = featurize(pf.features, split.X_train, split.X_test, split.feature_names)
        kept = folder.done.get(pf.index)
        if kept is not None and kept.get("label") == pf.label and "arrays" in kept and pf.model.kind == "fit":
            records.append(_restore(pf, kept, split, features[pf.features]))
            continue
        r = run_fit(pf, split, features[pf.features], config, fast)
        records.append(r)
        folder.log_fit(r.info, r.coef, r.intercept)  # one line per fit: O(1), nothing lost on a crash
    bar.close()
    if config.reference:
        _compare(records, config.reference)
    run_output.write_metrics(config, records, out)
    run_output.write_coefficients(records, out)
    written, notes = [], []
    if config.plots:  # matplotlib's import is ~0.6 s of a run's start
        from jaxreg.experiment.run_plots import draw

        written, notes = draw(config, records, split, out, stream)
    run_output.print_table(config, records, stream)
    for note in notes:
        print(f"note: {note}", file=stream)
    print(
        f"wrote {out}/: config.yaml, env.json, metrics.json, coefficients.csv/.npz, {', '.join(written) or 'no plots'}",
        file=stream,
    )
    from jaxreg.experiment.run_folder import RUN_FILES, STATUS

    present = {p.name for p in out.iterdir()}
    return [n for n in (*RUN_FILES, *written) if n in present or n == STATUS]


# ----------------------------------------------------------------------------- CLI


def add_parser(subparsers):
    """Register ``jaxreg run``."""
    p = subparsers.add_parser(
        "run",
        help="run an experiment (models compared on one data set) from a YAML config",
        description="Fit the models a YAML config names on its data; write a run folder with the resolved "
        "config, env.json, metrics.json, coefficients and plots.",
    )
    add_config_arguments(
        p,
        "CONFIG.yaml",
        "experiment config",
        "runs/NAME",
        "--set data.n_samples=50 --set models.0.penalty.alpha=[0.1,1]",
    )
    p.add_argument("--fast", action="store_true", help=f"cap iterative solvers at {FAST_MAX_ITER} iterations (CI)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in the --out folder (without it a non-empty folder is refused)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an unfinished run of the same config in the --out folder: its finished fits are kept",
    )
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    config, fits = load_run(args.config, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / config.name
    fast = args.fast or os.environ.get("JAXREG_FAST", "") not in ("", "0")
    records = run_experiment(
        config, fits, out, progress=not args.no_progress, fast=fast, overwrite=args.overwrite, resume=args.resume
    )
    return 0 if any(r.ok for r in records) else 1
