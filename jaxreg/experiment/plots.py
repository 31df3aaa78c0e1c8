"""Matplotlib figures for experiments. Each function takes plain arrays and returns a
``Figure`` (the caller saves it); nothing here fits a model except :func:`constraint_picture`,
which asks ``jaxreg.fit`` for the penalized solutions it draws.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display is assumed anywhere jaxreg runs

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "fits_figure",
    "error_figure",
    "objective_figure",
    "coef_path_figure",
    "coef_bar_figure",
    "constraint_picture",
    "posterior_figure",
    "save",
]


def save(fig, path):
    """Write ``fig`` as PNG (via a temporary file, so a crash never leaves half a file)."""
    from jaxreg.experiment.files import replace_with

    try:
        return replace_with(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def fits_figure(x_train, y_train, curves, x_test=None, y_test=None, truth=None, title=None, ncols=None):
    """Data and fitted curves for 1-D inputs, one panel per curve.

    ``curves`` maps a label to ``(x_grid, y_grid)``; ``truth`` is an optional
    ``(x_grid, y_grid)`` drawn in every panel.
    """
    k = max(len(curves), 1)
    ncols = ncols or min(k, 4)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.8 * nrows), squeeze=False, sharey=True)
    lo = np.min(y_train) - 0.75 * np.ptp(y_train)
    hi = np.max(y_train) + 0.75 * np.ptp(y_train)
    for ax, (label, (xg, yg)) in zip(axes.flat, curves.items(), strict=False):
        if truth is not None:
            ax.plot(*truth, color="tab:green", lw=1.5, label="truth")
        ax.plot(xg, yg, color="tab:red", lw=1.5, label="fit")
        ax.scatter(np.ravel(x_train), y_train, s=22, facecolors="none", edgecolors="tab:blue", label="train")
        if x_test is not None:
            ax.scatter(np.ravel(x_test), y_test, s=8, color="tab:orange", alpha=0.6, label="test")
        ax.set_title(label, fontsize=9)
        ax.set_ylim(lo, hi)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _colors(k):
    """``k`` distinct colours: tab10's but its grey (grey marks unnamed lines), or evenly
    spaced on viridis beyond nine."""
    if k <= 9:
        return [plt.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)[:k]]
    return [plt.get_cmap("viridis")(t) for t in np.linspace(0, 0.9, k)]


def error_figure(series, xlabel, ylabel="RMS error", logx=False, title=None):
    """Train and test error against model complexity (degree) or regularization (alpha).

    ``series`` maps a label to ``(x, train, test)``: one pair of lines per series (the other
    grid values of a model: ``degree=3``), each sorted along x. One series: train blue, test
    red; several: a colour per series (legend), test solid, train dashed.
    """
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    several = len(series) > 1
    for color, (label, (x, train, test)) in zip(_colors(len(series)), series.items(), strict=True):
        order = np.argsort(np.asarray(x, dtype=float), kind="stable")
        x, train, test = (np.asarray(v, dtype=float)[order] for v in (x, train, test))
        if several:
            ax.plot(x, test, "o-", color=color, ms=4, label=label)
            ax.plot(x, train, "s--", color=color, ms=3, lw=1, alpha=0.8)
        else:
            ax.plot(x, train, "o-", color="tab:blue", label="train")
            ax.plot(x, test, "o-", color="tab:red", label="test")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if several:
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color="k", ls="-", label="test (solid)"),
            Line2D([], [], color="k", ls="--", lw=1, label="train (dashed)"),
        ]
        ax.legend(handles=handles, fontsize=7, ncol=2 if len(handles) > 8 else 1)
    else:
        ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def objective_figure(runs, f_star=None, title=None):
    """Objective against iteration (epoch) and against wall time, log scale, several solvers.

    ``runs`` maps a label to ``(history, seconds)``: the objective per iteration and the
    total fit time (iterations are taken as evenly spaced in time). With ``f_star`` (a number,
    or a dict from label to number when the runs minimise different objectives) the
    suboptimality ``F - f_star`` is drawn.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, (hist, seconds) in runs.items():
        hist = np.asarray(hist, dtype=float)
        if hist.size == 0:
            continue
        fs = f_star.get(label) if isinstance(f_star, dict) else f_star
        y = hist - fs if fs is not None else hist
        y = np.where(np.isfinite(y), y, np.nan)
        if fs is not None:
            y = np.maximum(y, np.finfo(float).eps * max(abs(fs), 1.0))
        it = np.arange(1, hist.size + 1)
        t = it * (seconds / hist.size) if seconds else it * np.nan
        ax1.plot(it, y, label=label)
        ax2.plot(t, y, label=label)
    for ax in (ax1, ax2):
        ax.set_yscale("log")
        ax.set_ylabel("objective - best" if f_star is not None else "objective")
    ax1.set_xlabel("iteration (epoch for minibatch/sgd)")
    ax2.set_xlabel("seconds")
    ax2.set_xscale("log")
    ax1.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# a coefficient path names at most this many lines; with more features only the largest are named
PATH_LEGEND = 12
PATH_NAMED = 8


def coef_path_figure(alphas, coefs, title=None, feature_names=None, xlabel="alpha", logx=True):
    """Coefficient paths: each coefficient against alpha (``alphas``: the x values, drawn on a
    log scale when ``logx``), alpha decreasing to the right.

    ``coefs`` has shape (n_alphas, n_features). Up to :data:`PATH_LEGEND` features every line
    is in the legend; beyond, the :data:`PATH_NAMED` with the largest ``max |coef|`` along the
    path are coloured and named, the others thin grey, and the title says so.
    """
    coefs = np.asarray(coefs)
    p = coefs.shape[1]
    names = (
        list(feature_names) if feature_names is not None and len(feature_names) == p else [f"x{j}" for j in range(p)]
    )
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    if p <= PATH_LEGEND:
        named = list(range(p))
    else:
        size = np.max(np.abs(coefs), axis=0)
        named = [int(j) for j in np.argsort(-size, kind="stable")[:PATH_NAMED]]
        for j in sorted(set(range(p)) - set(named)):
            ax.plot(alphas, coefs[:, j], lw=0.6, color="0.7")
    for color, j in zip(_colors(len(named)), named, strict=True):
        ax.plot(alphas, coefs[:, j], lw=1.4, color=color, label=names[j])
    if logx:
        ax.set_xscale("log")
    ax.invert_xaxis()
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("coefficient")
    ax.legend(fontsize=7, ncol=2)
    text = title or ""
    if p > PATH_LEGEND:
        text += f"{chr(10) if text else ''}the {PATH_NAMED} largest of {p} coefficients named, the others grey"
    if text:
        ax.set_title(text, fontsize=10)
    fig.tight_layout()
    return fig


def coef_bar_figure(coefs, truth=None, title=None, feature_names=None):
    """Coefficients of several models side by side (``coefs`` maps a label to a vector):
    blue bars, grey where exactly zero, behind them the true coefficients (light grey, in
    the legend) when ``truth`` is given. The x axis names the features (``feature_names``,
    up to 30 of them) or counts them in whole numbers from 0."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    k = len(coefs)
    fig, axes = plt.subplots(k, 1, figsize=(7, 1.6 * k + 0.6), sharex=True, squeeze=False)
    for ax, (label, c) in zip(axes[:, 0], coefs.items(), strict=True):
        c = np.ravel(c)
        idx = np.arange(c.size)
        if truth is not None:
            ax.bar(idx, np.ravel(truth), color="lightgray", width=0.9)
        ax.bar(idx, c, color="tab:blue", width=0.5)
        zero = c == 0
        ax.plot(idx[zero], c[zero], "x", color="tab:gray", ms=5)  # a zero bar would not show
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
        ax.text(0.99, 0.85, f"nonzeros: {np.count_nonzero(c)}", transform=ax.transAxes, ha="right", fontsize=8)
    legend = [
        Patch(color="tab:blue", label="coefficient"),
        Line2D([], [], marker="x", color="tab:gray", ls="", label="exactly zero"),
    ]
    if truth is not None:
        legend.append(Patch(color="lightgray", label="true coefficient"))
    bottom = axes[-1, 0]
    n = max(np.size(c) for c in coefs.values())
    if feature_names is not None and len(feature_names) == n and n <= 30:
        bottom.set_xticks(np.arange(n))
        crowded = sum(len(str(f)) + 2 for f in feature_names) > 70  # ~ characters across the axis
        bottom.set_xticklabels(feature_names, rotation=90 if crowded else 0, fontsize=7)
    else:
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_xlabel("feature")
    top = 1 - 0.45 / fig.get_figheight()  # a strip for the title and the legend
    fig.legend(handles=legend, loc="upper right", ncol=len(legend), fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def _norm(w, kind):
    if kind == "l1":
        return np.abs(w).sum(-1)
    if kind == "l2":
        return np.sqrt((w**2).sum(-1))
    return np.abs(w).max(-1)


def _ball(kind, r, n=400):
    """Boundary of the radius-r ball of the given norm in 2-D."""
    t = np.linspace(0, 2 * np.pi, n)
    u = np.stack([np.cos(t), np.sin(t)], axis=1)
    return r * u / _norm(u, kind)[:, None]


def constraint_picture(X, y, alphas=None, fit_intercept=False, title=None):
    """Least-squares loss contours in the plane of two coefficients, with the L1 diamond, the
    L2 circle and the L-infinity square through the penalized solutions.

    A penalized solution ``w(alpha)`` also solves the constrained problem
    ``min loss s.t. ||w|| <= ||w(alpha)||``, so the loss contour through ``w(alpha)`` touches
    the norm ball of that radius exactly there: the L1 solution sits on a corner (a zero
    coefficient), the L-infinity one on a corner of the square (tied magnitudes).
    """
    import jaxreg
    from jaxreg.penalties import L1, L2, LInf

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X has shape {X.shape}; the constraint picture needs exactly 2 features")
    a = {"l1": 0.6, "l2": 0.6, "linf": 0.6} if alphas is None else alphas
    pens = {"l1": L1(a["l1"]), "l2": L2(a["l2"]), "linf": LInf(a["linf"])}
    ols = jaxreg.fit(X, y, fit_intercept=fit_intercept, solver="closed_form")
    sols = {k: jaxreg.fit(X, y, penalty=p, fit_intercept=fit_intercept, tol=1e-10) for k, p in pens.items()}

    def loss(W, b):
        r = y[None, :] - W @ X.T - b
        return 0.5 * np.mean(r**2, axis=1)

    span = 1.3 * max(np.abs(ols.coef).max(), 1e-3)
    g = np.linspace(-span, span, 300)
    G1, G2 = np.meshgrid(g, g)
    W = np.stack([G1.ravel(), G2.ravel()], axis=1)
    Z = loss(W, ols.intercept).reshape(G1.shape)

    colors = {"l1": "tab:red", "l2": "tab:blue", "linf": "tab:green"}
    names = {"l1": "L1 diamond", "l2": "L2 circle", "linf": "L∞ square"}
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharey=True)
    for ax, (k, res) in zip(axes, sols.items(), strict=True):
        w = res.coef
        levels = np.quantile(Z, [0.002, 0.01, 0.03, 0.08, 0.2, 0.4])
        ax.contour(G1, G2, Z, levels=np.unique(levels), colors="0.6", linewidths=0.7)
        level_w = loss(w[None, :], res.intercept)[0]
        Zk = loss(W, res.intercept).reshape(G1.shape)
        ax.contour(G1, G2, Zk, levels=[level_w], colors=colors[k], linewidths=1.2, linestyles="--")
        ball = _ball(k, _norm(w, k))
        ax.fill(ball[:, 0], ball[:, 1], color=colors[k], alpha=0.15)
        ax.plot(ball[:, 0], ball[:, 1], color=colors[k], lw=1.5)
        ax.plot(*ols.coef, "k+", ms=10, label="least squares")
        ax.plot(*w, "o", color=colors[k], ms=7, label=f"{k} solution ({w[0]:.2f}, {w[1]:.2f})")
        ax.axhline(0, color="k", lw=0.4)
        ax.axvline(0, color="k", lw=0.4)
        ax.set_aspect("equal")
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_title(f"{names[k]}, alpha={a[k]}", fontsize=10)
        ax.set_xlabel("w1")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("w2")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, sols


def posterior_figure(panels, truth=None, x_range=(-1.0, 1.0), title=None):
    """Bayesian sequential learning: per panel, the posterior density over (w0, w1) and lines
    drawn from it with the data seen so far.

    ``panels`` is a list of ``(label, mean, cov, x_seen, y_seen)`` with a 2-D mean.
    """
    k = len(panels)
    fig, axes = plt.subplots(2, k, figsize=(3.1 * k, 6.0), squeeze=False)
    g = np.linspace(-1, 1, 200)
    G0, G1 = np.meshgrid(g, g)
    pts = np.stack([G0.ravel(), G1.ravel()], axis=1)
    xs = np.linspace(*x_range, 50)
    rng = np.random.default_rng(0)
    for i, (label, mean, cov, x_seen, y_seen) in enumerate(panels):
        mean = np.asarray(mean)
        cov = np.asarray(cov)
        d = pts - mean
        inv = np.linalg.inv(cov)
        dens = np.exp(-0.5 * np.einsum("ij,jk,ik->i", d, inv, d)).reshape(G0.shape)
        ax = axes[0, i]
        ax.contourf(G0, G1, dens, levels=20, cmap="viridis")
        if truth is not None:
            ax.plot(*truth, "w+", ms=12, mew=2)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("w0")
        ax.set_ylabel("w1")
        ax.set_aspect("equal")
        ax = axes[1, i]
        for w in rng.multivariate_normal(mean, cov, size=6):
            ax.plot(xs, w[0] + w[1] * xs, color="tab:red", lw=1)
        if len(x_seen):
            ax.scatter(np.ravel(x_seen), y_seen, s=25, facecolors="none", edgecolors="tab:blue")
        ax.set_xlim(*x_range)
        ax.set_ylim(-1, 1)
        ax.set_xlabel("x")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
