"""Figures of hyperparameter choice: a cross-validation curve with the alpha it chose
(``cv_curve``, :class:`jaxreg.RidgeCV`) and the path of a tuning by gradient over a grid
search's curve (``validation_path``, :class:`jaxreg.LassoHO`). Plain arrays in, a matplotlib
``Figure`` out, as :mod:`jaxreg.experiment.plots`."""

from __future__ import annotations

import numpy as np

from jaxreg.experiment.plots import plt

__all__ = ["cv_curve_figure", "validation_path_figure"]


def cv_curve_figure(x, cv, train, test, chosen, xlabel, cv_label, logx=True, higher_is_better=False, title=None):
    """Cross-validation error against the regularization strength, with the alpha chosen
    marked, beside the train and test error of each alpha (log y: a degree-9 polynomial's
    leave-one-out error spans two orders of magnitude). ``cv`` is an error (same axis as
    ``train`` and ``test``) or, with ``higher_is_better`` (a mean R^2), a score on its own
    axis at the right; ``chosen`` is the x of the alpha chosen; ``test`` may be None."""
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.asarray(x, dtype=float)
    ax.plot(x, train, "--", color="tab:blue", lw=1.2, label="train")
    if test is not None:
        test = np.asarray(test, dtype=float)
        ax.plot(x, test, "-", color="tab:red", lw=1.2, label="test (held out)")
        best = int(np.argmin(test))
        ax.plot(x[best], test[best], "v", color="tab:red", ms=8, label=f"lowest test error ({test[best]:.3g})")
    cv_ax = ax.twinx() if higher_is_better else ax
    cv_ax.plot(x, cv, "o-", color="k", ms=3, lw=1.5, label=cv_label)
    if higher_is_better:
        cv_ax.set_ylabel(cv_label)
    else:
        ax.set_yscale("log")
    ax.axvline(chosen, color="tab:green", lw=1.5, label=f"chosen by {cv_label.split()[0]} ({chosen:.3g})")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("RMS error")
    handles = ax.get_legend_handles_labels()[0] + (cv_ax.get_legend_handles_labels()[0] if higher_is_better else [])
    ax.legend(handles=handles, fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def validation_path_figure(path_x, path_loss, n_start, best, grid=None, xlabel="alpha", logx=True, title=None):
    """The path of a tuning by gradient: the validation error at each point it evaluated
    (``path_x``, ``path_loss``; the first ``n_start`` are its starting grid, the others its
    steps from the grid's best, numbered and joined in order), the best (index ``best``) starred; ``grid`` =
    ``(x, loss, chosen_x, n_fits)`` draws the grid search's curve and its choice behind it."""
    fig, ax = plt.subplots(figsize=(6, 4))
    x, loss = np.asarray(path_x, dtype=float), np.asarray(path_loss, dtype=float)
    if grid is not None:
        gx, gloss, gbest, gfits = grid
        ax.plot(gx, gloss, "-", color="0.6", lw=1.5, label=f"grid search ({len(gx)} alphas, {gfits} fits)")
        ax.axvline(gbest, color="0.6", ls=":", lw=1.2, label="grid search's choice")
    ax.plot(x[:n_start], loss[:n_start], "s", color="tab:blue", ms=6, label="starting grid")
    # the steps start from the best starting point
    steps = np.r_[int(np.argmin(loss[:n_start])), np.arange(n_start, len(x))] if n_start > 0 else np.arange(len(x))
    ax.plot(x[steps], loss[steps], "o-", color="tab:red", ms=4, lw=1, label="gradient steps")
    for k, i in enumerate(steps[1:], start=1):
        ax.annotate(str(k), (x[i], loss[i]), textcoords="offset points", xytext=(3, 3), fontsize=6, color="tab:red")
    ax.plot(x[best], loss[best], "*", color="k", ms=12, label=f"best ({loss[best]:.4g})")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation mean squared error")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
