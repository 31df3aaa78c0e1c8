"""The two sweep plots: time against n_features per method (log-log), and relative
suboptimality against time per problem."""

from __future__ import annotations

import math
import statistics

from jaxreg.experiment.results import num

__all__ = ["time_vs_features", "subopt_vs_time"]

FLOOR = 1e-16  # rel. suboptimality below float64 resolution is drawn here (the best is 0)
MAX_PANELS = 12


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(plt, n, size=(4.2, 3.3)):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    width = max(size[0] * cols, 6.5)  # room for the title and legend of a single panel
    fig, axes = plt.subplots(rows, cols, figsize=(width, size[1] * rows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _colors(labels):
    """One colour per series label, the same in every panel."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _series_label(s, by_n=False):
    label = s["family"] + ("" if s["device"] == "cpu" else f" [{s['device']}]") + f" {s['dtype']}"
    return label + (f" n={s['n_samples']}" if by_n else "")


def _split_by_n(rows):
    """Lines per n_samples when every n_samples value comes with several n_features."""
    per_n: dict = {}
    for s in rows:
        per_n.setdefault(s.get("n_samples"), set()).add(s["n_features"])
    return len(per_n) > 1 and all(len(p) > 1 for p in per_n.values())


def time_vs_features(summary, path) -> bool:
    """Median time of each family's most accurate cell against n_features, one panel per
    penalty (log-log); one line per family, or per family and n_samples when the grid
    crosses them. Returns False (and draws nothing) when there is nothing to draw."""
    rows = [s for s in summary if s.get("time") is not None and num(s.get("n_features"))]
    if not rows:
        return False
    plt = _pyplot()
    panels = list(dict.fromkeys(s["penalty"] for s in rows))[:MAX_PANELS]
    by_n = _split_by_n(rows)
    colors = _colors(list(dict.fromkeys(_series_label(s, by_n) for s in rows)))
    fig, axes = _grid(plt, len(panels))
    for ax, panel in zip(axes, panels, strict=True):
        series: dict = {}
        for s in rows:
            if s["penalty"] == panel:
                series.setdefault(_series_label(s, by_n), []).append((num(s["n_features"]), s["time"]))
        for label, pts in series.items():
            pts.sort()
            xs = sorted({x for x, _ in pts})
            med = [statistics.median([t for x, t in pts if x == v]) for v in xs]
            ax.plot(xs, med, "-", alpha=0.7, label=label, color=colors[label])
            ax.plot([x for x, _ in pts], [t for _, t in pts], "o", ms=4, color=colors[label])
        ax.set(xlabel="n_features", ylabel="time (s, median)", title=panel, xscale="log", yscale="log")
        ticks = sorted({x for pts in series.values() for x, _ in pts})
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])  # the sizes swept, not powers of ten
        ax.xaxis.set_minor_formatter(_null_formatter())
    title = "fit time against n_features (points: problems; lines: median per n_features)"
    return _finish(plt, fig, axes, title, path)


def _null_formatter():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _finish(plt, fig, axes, title, path):
    """Log-log axes with grids, one legend under the panels, a title, saved as a PNG."""
    handles: dict = {}
    for ax in axes:
        if ax.get_xscale() != "log":  # (setting the scale resets the ticks)
            ax.set(xscale="log", yscale="log")
            ax.xaxis.set_minor_formatter(_null_formatter())  # labelled minor ticks overlap on short ranges
        ax.grid(True, which="both", alpha=0.3)
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    longest = max(map(len, handles), default=0)
    ncol = min(len(handles), max(1, int(fig.get_figwidth() * 13 // max(longest, 1))), 4)  # ~13 chars an inch
    rows = math.ceil(len(handles) / max(ncol, 1))
    legend_in = 0.18 * rows + 0.15
    fig.set_figheight(fig.get_figheight() + legend_in)  # the legend gets its own strip
    bottom = legend_in / fig.get_figheight()
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _family_label(r):
    return r["family"] + ("" if r["device"] == "cpu" else f" [{r['device']}]")


def subopt_vs_time(scored, traces, path, target=None) -> bool:
    """Relative suboptimality against time, one panel per problem: a marker per cell, a bold
    line through each family's front (cells more accurate than every faster one of the
    family: a tol grid traces it) and, where a cell recorded one, a thin line for the trace
    of each family's most accurate cell."""
    ok = [r for r in scored if r["outcome"] == "ok" and num(r.get("rel_subopt")) is not None]
    if not ok:
        return False
    plt = _pyplot()
    problems = list(dict.fromkeys((r["problem_id"], r["dtype"]) for r in ok))[:MAX_PANELS]
    colors = _colors(list(dict.fromkeys(_family_label(r) for r in ok)))
    fig, axes = _grid(plt, len(problems), size=(4.6, 3.5))
    for ax, (pid, dtype) in zip(axes, problems, strict=True):
        fams: dict = {}
        for r in ok:
            if (r["problem_id"], r["dtype"]) == (pid, dtype):
                fams.setdefault(_family_label(r), []).append(r)
        for label, cells in fams.items():
            cells.sort(key=lambda r: num(r["time_median"]))
            xs = [num(r["time_median"]) for r in cells]
            ys = [max(num(r["rel_subopt"]), FLOOR) for r in cells]
            ax.plot(xs, ys, "o", ms=4, label=label, color=colors[label])
            front = _front(xs, ys)  # the line joins only the cells no faster cell beats
            ax.plot([xs[i] for i in front], [ys[i] for i in front], "-", lw=1.5, color=colors[label])
            top = min(cells, key=lambda r: num(r["objective"]))
            trace = traces.get(top["cell_id"])
            best = num(top["best_objective"])
            if trace and len(trace[0]) > 1:
                scale = max(abs(best), 1e-300)
                ty = [max((v - best) / scale, FLOOR) if v is not None and math.isfinite(v) else None for v in trace[1]]
                ax.plot(trace[0], ty, "-", lw=0.8, alpha=0.6, color=colors[label])
        if target:
            ax.axhline(target, color="k", ls=":", lw=0.8)
        first = next(r for r in ok if r["problem_id"] == pid)
        ax.set(xlabel="time (s)", ylabel="(F - F*) / |F*|")
        ax.set_title(f"{first['problem']}\n{first['penalty']} {dtype}", fontsize=8)
    title = (
        "relative suboptimality against time (F*: best objective any method reached)\ndots: cells; "
        "bold: each family's front (no faster cell more accurate); thin: trace of its most accurate cell"
        + (f", dotted: target {target:g}" if target else "")
    )
    return _finish(plt, fig, axes, title, path)


def _front(xs, ys) -> list[int]:
    """Indices (in time order) of the points more accurate than every faster one: a line
    through them only goes right and down."""
    out, best = [], math.inf
    for i, y in enumerate(ys):
        if y < best:
            out.append(i)
            best = y
    return out
