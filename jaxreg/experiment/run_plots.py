"""The figures a ``jaxreg run`` config asks for (its ``plots:`` list), drawn from the fits'
records with :mod:`jaxreg.experiment.plots`. A figure that cannot be drawn for this data
(a curve plot of 10-D inputs, say) is skipped with a note; it never fails the run."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from jaxreg.experiment import cv_plots as CV
from jaxreg.experiment import plots as P
from jaxreg.experiment.features import featurize
from jaxreg.experiment.files import replace_text
from jaxreg.experiment.run_output import coef_columns


def _feature_names(r) -> tuple:
    """The names of a fit's coefficients (``x0, x1, ...`` where the data named none)."""
    from jaxreg.experiment.features import default_names

    n = np.shape(r.coef)[0]
    return tuple(r.names) if r.names is not None and len(r.names) == n else default_names(n)


__all__ = ["draw"]


class Skip(Exception):
    """This figure does not apply to this run (the message says why)."""


def _chosen(records, spec, need=lambda r: r.coef is not None):
    names = spec.models
    out = [r for r in records if (names is None or r.fit.model.name in names) and need(r)]
    if not out:
        raise Skip("no fit to show")
    return out


def _by_model(records):
    groups = defaultdict(list)
    for r in records:
        groups[r.fit.model.name].append(r)
    return groups


METRIC_LABELS = {"rmse": "RMS error", "mse": "mean squared error", "deviance": "mean deviance",
                 "accuracy": "accuracy", "log_loss": "log-loss"}  # fmt: skip


def _error_keys(records, metric=None):
    """The train and test keys of ``metric`` in the records' info, and its axis label
    (default: log_loss for classifiers, rmse otherwise)."""
    if metric is None:
        metric = "log_loss" if any("train_accuracy" in r.info for r in records) else "rmse"
    if not any(f"train_{metric}" in r.info for r in records):
        recorded = sorted(k[len("train_") :] for r in records for k in r.info if k.startswith("train_"))
        raise Skip(f"metric {metric!r} is not recorded for these fits; recorded: {', '.join(dict.fromkeys(recorded))}")
    return f"train_{metric}", f"test_{metric}", METRIC_LABELS[metric]


def _truth(config):
    kind = config.data.kind
    if kind == "sinusoidal":
        return lambda x: np.sin(2 * np.pi * x)
    if kind == "line":
        return lambda x: config.data.intercept + config.data.slope * x
    return None


def _fits(config, records, split, spec, out):
    if split.task != "regression" or split.streamed or np.ndim(split.X_train) != 2 or split.X_train.shape[1] != 1:
        raise Skip("fits needs regression data with one input column")
    chosen = _chosen(records, spec, lambda r: r.predict is not None and r.ok)
    xs = [np.ravel(split.X_train)] + ([np.ravel(split.X_test)] if split.X_test is not None else [])
    lo, hi = min(x.min() for x in xs), max(x.max() for x in xs)
    grid = np.linspace(lo, hi, 200)
    curves = {r.info["label"]: (grid, r.predict(grid[:, None].astype(split.X_train.dtype))) for r in chosen}
    truth = _truth(config)
    fig = P.fits_figure(
        split.X_train,
        split.y_train,
        curves,
        split.X_test,
        split.y_test,
        truth=None if truth is None else (grid, truth(grid)),
        title=config.name,
    )
    return {"fits.png": fig}


def _swept(r, param) -> bool:
    """Whether ``param`` is a grid axis of this fit (alpha also when given as alpha_ratio)."""
    return param in r.fit.params or (param == "alpha" and "alpha_ratio" in r.fit.params)


def _value(r, param):
    return r.info["alpha"] if param == "alpha" else r.fit.params[param]


def _n_train(split) -> int:
    X = split.X_train
    return int(X.n_samples) if hasattr(X, "n_samples") else int(np.shape(X)[0])


def _alpha_axis(spec, alphas, n, what="alpha"):
    """Alpha on the plot's ``alpha_axis``: ``(keep, x, xlabel, logx)`` where ``keep`` marks
    the alphas that can be drawn (``> 0`` on every axis but ``linear``). ``n`` turns alpha into
    PRML's lambda (``n * alpha``; 1 for alphas that are lambdas already); ``what`` names alpha."""
    kind = spec.alpha_axis or "log"
    a = np.asarray(alphas, dtype=float)
    if kind == "linear":
        return np.ones(a.shape, bool), a, what, False
    keep = a > 0
    with np.errstate(divide="ignore"):
        if kind == "log10":
            return keep, np.log10(a), f"log10 {what}", False
        if kind == "ln_lambda":
            return keep, np.log(n * a), f"ln lambda (lambda = {what if n == 1 else f'{n} * {what}'})", False
    return keep, a, what, True


def _other_params(r, param) -> list:
    """The fit's grid values other than ``param`` (alpha_ratio counts as alpha): ``(k, v)``."""
    skip = {param, "alpha_ratio"} if param == "alpha" else {param}
    return [(k, v) for k, v in r.fit.params.items() if k not in skip]


def _others(r, param) -> str:
    """The name of the line of a fit: its other grid values (``degree=3``)."""
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in _other_params(r, param))


def _order(r, param):
    """A sort key of the fit's other grid values (numbers before text)."""
    return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for _, v in _other_params(r, param))


def _error_vs(param, xlabel):
    def draw(config, records, split, spec, out):
        figs = {}
        groups = _by_model(_chosen(records, spec, lambda r: _swept(r, param) and r.ok))
        for name, rs in groups.items():
            tr, te, ylabel = _error_keys(rs, spec.metric)
            label, logx = xlabel, False
            if param == "alpha":
                keep, x, label, logx = _alpha_axis(spec, [r.info["alpha"] for r in rs], _n_train(split))
                rs = [r for r, k in zip(rs, keep, strict=True) if k]
                values = dict(zip(map(id, rs), x[keep], strict=True))
            else:
                values = {id(r): _value(r, param) for r in rs}
            lines = defaultdict(list)  # in the order of the other axes' values (degree 1, 3, 5)
            for r in sorted(rs, key=lambda r: _order(r, param)):
                lines[_others(r, param)].append(r)
            series = {
                key: (
                    [values[id(r)] for r in line],
                    [r.info.get(tr) for r in line],
                    [np.nan if r.info.get(te) is None else r.info[te] for r in line],
                )
                for key, line in lines.items()
                if len(line) >= 2
            }
            if not series:
                continue
            fig = P.error_figure(series, label, ylabel=ylabel, logx=logx, title=name)
            stem = f"error_vs_{param}" + (f"_{spec.metric}" if spec.metric else "")
            figs[f"{stem}_{name}.png" if len(groups) > 1 else f"{stem}.png"] = fig
        if not figs:
            raise Skip(f"no model has two or more values of {param}")
        return figs

    return draw


def _problem(r):
    """What a fit minimises (loss, penalty with its alpha, intercept, features): fits that
    share it share an optimum, and only between them is ``F - best`` a suboptimality."""
    m = r.fit.model
    if getattr(m, "kind", "fit") != "fit":
        return None
    return (m.loss, m.penalty.model_dump_json(), m.fit_intercept, r.fit.features.model_dump_json())


def _objective(config, records, split, spec, out):
    chosen = _chosen(records, spec, lambda r: r.history is not None and r.history.size > 1)
    # each problem's best objective; the reference model's, where it solved that problem
    done = [r for r in records if r.ok and _problem(r) is not None and r.info.get("objective") is not None]
    best = {}
    for r in done:
        best[_problem(r)] = min(r.info["objective"], best.get(_problem(r), np.inf))
    for r in done:
        if config.reference and r.fit.model.name == config.reference:
            best[_problem(r)] = r.info["objective"]
    f_star = {r.info["label"]: best[_problem(r)] for r in chosen if _problem(r) in best}
    runs = {r.info["label"]: (r.history, r.info["fit_time"]) for r in chosen}
    return {"objective.png": P.objective_figure(runs, f_star=f_star or None, title=config.name)}


def _coef_path(config, records, split, spec, out):
    """A figure per model and value of its other grid axes (a path per degree, say)."""
    figs = {}
    groups = _by_model(_chosen(records, spec, lambda r: _swept(r, "alpha") and r.coef is not None))
    for name, rs in groups.items():
        paths = defaultdict(list)
        for r in rs:
            if r.info["alpha"] > 0 and np.ndim(r.coef) == 1:
                paths[_others(r, "alpha")].append(r)
        for others, path in paths.items():
            path = sorted(path, key=lambda r: -r.info["alpha"])
            if len(path) < 2:
                continue
            _, x, xlabel, logx = _alpha_axis(spec, [r.info["alpha"] for r in path], _n_train(split))
            fig = P.coef_path_figure(
                x,
                np.stack([r.coef for r in path]),
                title=f"{name} {others}".strip(),
                feature_names=_feature_names(path[0]),
                xlabel=xlabel,
                logx=logx,
            )
            figs[f"coef_path_{name}{'_' + others.replace(' ', '_') if len(paths) > 1 else ''}.png"] = fig
    if not figs:
        raise Skip("no model has two or more positive values of alpha")
    return figs


def _file_name(kind, r, chosen) -> str:
    """``kind.png`` for one fit, else ``kind_MODEL.png`` (with the fit's index where the
    model has several fits, a grid)."""
    if len(chosen) == 1:
        return f"{kind}.png"
    name = r.fit.model.name
    several = sum(q.fit.model.name == name for q in chosen) > 1
    return f"{kind}_{name}_{r.fit.index}.png" if several else f"{kind}_{name}.png"


def _cv_curve(config, records, split, spec, out):
    """Each ridge_cv fit's cross-validation curve (RidgeCV's alphas are PRML's lambda)."""
    figs = {}
    chosen = _chosen(records, spec, lambda r: r.ok and "cv_curve" in r.info)
    for r in chosen:
        c = r.info["cv_curve"]
        keep, x, xlabel, logx = _alpha_axis(spec, c["alphas"], 1, "RidgeCV's alpha")
        _, (xc,), _, _ = _alpha_axis(spec, [r.info["ridge_alpha"]], 1)
        loo = c["criterion"] == "neg_mean_squared_error"
        cv = np.asarray(c["loo_rmse"] if loo else c["score"], dtype=float)[keep]
        test = c.get("test_rmse")
        fig = CV.cv_curve_figure(
            x[keep],
            cv,
            np.asarray(c["train_rmse"], dtype=float)[keep],
            None if test is None else np.asarray(test, dtype=float)[keep],
            xc,
            xlabel,
            "LOO RMS error" if loo else f"{r.info['cv']} mean R^2",
            logx=logx,
            higher_is_better=not loo,
            title=r.info["label"],
        )
        figs[_file_name("cv_curve", r, chosen)] = fig
    return figs


def _validation_path(config, records, split, spec, out):
    """Each tuning fit's path (its validation error at every point evaluated) over the grid
    search's curve."""
    figs = {}
    chosen = _chosen(records, spec, lambda r: r.ok and "tuning_path" in r.info)
    n = _n_train(split)
    for r in chosen:
        path, grid = r.info["tuning_path"], r.info.get("grid_search")
        _, x, xlabel, logx = _alpha_axis(spec, path["alphas"], n)  # tuned alphas are > 0
        shown = None
        if grid is not None:
            gkeep, gx, _, _ = _alpha_axis(spec, grid["alphas"], n)
            _, (gbest,), _, _ = _alpha_axis(spec, [grid["alpha"]], n)
            shown = (gx[gkeep], np.asarray(grid["cv_mse"])[gkeep], gbest, grid["n_fits"])
        fig = CV.validation_path_figure(
            x,
            path["cv_mse"],
            path["n_start"],
            path["best_step"],
            grid=shown,
            xlabel=xlabel,
            logx=logx,
            title=f"{r.info['label']}: {r.info['n_fits']} fits{' (alpha and weights)' * ('weights' in r.info)}",
        )
        figs[_file_name("validation_path", r, chosen)] = fig
    return figs


def _coef_bars(config, records, split, spec, out):
    chosen = [r for r in _chosen(records, spec) if np.ndim(r.coef) == 1]
    if not chosen:
        raise Skip("coef_bars draws one-output models only")
    truth = split.coef_true
    same = truth is not None and all(np.shape(r.coef) == np.shape(truth) for r in chosen)
    names = _feature_names(chosen[0]) if all(_feature_names(r) == _feature_names(chosen[0]) for r in chosen) else None
    fig = P.coef_bar_figure(
        {r.info["label"]: r.coef for r in chosen}, truth=truth if same else None, title=config.name, feature_names=names
    )
    return {"coef_bars.png": fig}


def _coef_table(config, records, split, spec, out):
    chosen = [r for r in _chosen(records, spec) if np.ndim(r.coef) == 1]
    # one row per feature name (the columns of coefficients.csv), the intercept first
    head = "| | " + " | ".join(r.info["label"] for r in chosen) + " |"
    lines = [head, "|---" * (len(chosen) + 1) + "|"]
    values = [dict(zip(_feature_names(r), r.coef, strict=True)) for r in chosen]
    lines.append("| intercept | " + " | ".join(f"{float(r.intercept):.2f}" for r in chosen) + " |")
    for name, column in zip(
        dict.fromkeys(n for r in chosen for n in _feature_names(r)), coef_columns(chosen), strict=True
    ):
        row = [f"{v[name]:.2f}" if name in v else "" for v in values]
        lines.append(f"| {column} | " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    replace_text(out / "coef_table.md", text)
    return {"coef_table.md": text}


def _constraint(config, records, split, spec, out):
    if split.task != "regression" or split.streamed:
        raise Skip("the constraint picture needs regression data in memory")
    F = featurize(records[0].fit.features, split.X_train, None).train
    F = np.asarray(F.toarray() if hasattr(F, "toarray") else F)
    if max(spec.features) >= F.shape[1]:
        raise Skip(f"features {spec.features} are not columns of the {F.shape[1]} features")
    fig, _ = P.constraint_picture(F[:, spec.features], split.y_train, alphas=spec.alphas, title=config.name)
    return {"constraint.png": fig}


def _posterior(config, records, split, spec, out):
    figs = {}
    for r in _chosen(records, spec, lambda r: r.panels is not None):
        if r.panels[0][1].size != 2:
            raise Skip("the posterior picture needs exactly one input (weights w0, w1)")
        panels = [(f"{n} point{'s' if n != 1 else ''}", m, c, x, y) for n, m, c, x, y in r.panels]
        truth = split.coef_true if split.coef_true is not None and np.size(split.coef_true) == 2 else None
        d = config.data
        lo, hi = (d.low, d.high) if d.kind == "line" else (float(np.min(split.X_train)), float(np.max(split.X_train)))
        figs["posterior.png"] = P.posterior_figure(panels, truth=truth, x_range=(lo, hi), title=config.name)
    return figs


DRAW = {
    "fits": _fits,
    "error_vs_degree": _error_vs("degree", "polynomial degree"),
    "error_vs_alpha": _error_vs("alpha", "alpha"),
    "objective": _objective,
    "coef_path": _coef_path,
    "coef_bars": _coef_bars,
    "coef_table": _coef_table,
    "constraint": _constraint,
    "posterior": _posterior,
    "cv_curve": _cv_curve,
    "validation_path": _validation_path,
}


def draw(config, records, split, out, stream=None):
    """Draw and save every figure in ``config.plots`` (tables are printed to ``stream``);
    returns (file names, notes)."""
    written, notes = [], []
    for spec in config.plots:
        try:
            figs = DRAW[spec.kind](config, records, split, spec, out)
        except Skip as why:
            notes.append(f"plot {spec.kind} skipped: {why}")
            continue
        except Exception as exc:  # a figure must never lose the results already written
            notes.append(f"plot {spec.kind} failed: {type(exc).__name__}: {' '.join(str(exc).split())}")
            continue
        for name, fig in figs.items():
            if isinstance(fig, str):  # a table, already written
                print(fig, end="", file=stream)
            else:
                P.save(fig, out / name)
            written.append(name)
    return written, notes
