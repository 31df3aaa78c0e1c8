"""RidgeCV (issue 18): jaxreg.RidgeCV against scikit-learn's RidgeCV and against separate fits.

* Leave-one-out (cv=None), 50 alphas, on 5000 x 500 and 500 x 5000 (float64): jaxreg.RidgeCV vs
  sklearn.linear_model.RidgeCV, same alphas; the chosen alpha and the largest coefficient
  difference (absolute, and relative to the largest coefficient).
* 5-fold (cv=5), 50 alphas: jaxreg.RidgeCV(cv=5) vs the 50 x 5 separate jaxreg.Ridge fits it
  replaces (each fold's training rows, every alpha), and scikit-learn's RidgeCV(cv=5) (a
  GridSearchCV over Ridge) for reference.

Leave-one-out and jaxreg's cv=5: median of ``--reps`` timed runs (default 3) after one warm-up
each, the contenders alternating, so load from other processes hits them alike. The 250-fit
contenders of the 5-fold section (scikit-learn's cv=5, the separate fits) run once each, after
a warm-up on a small slice: nothing in them is compiled (jaxreg.Ridge on numpy data on the CPU
is the host closed form), so their first run is a warm one. BLAS runs on ``--threads`` threads
(default 1) for every contender: on a loaded shared machine OpenBLAS's threads spin-wait (a
4000 x 500 Ridge fit took 1-3 s at load 12 with two threads).
Usage: python3 experiments/bench_ridge_cv.py [--reps N] [--threads T] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import warnings

import numpy as np

# the same medians as the closed-form benchmark (this script's folder is on sys.path when run)
from bench_closed_form_host import _median_times  # noqa: E402
from sklearn.linear_model import RidgeCV as SkRidgeCV
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

import jaxreg


def _problem(n, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:20] = rng.standard_normal(20)
    return X, X @ w + rng.standard_normal(n)


def _separate_fits(X, y, alphas, folds):
    """What cv=5 replaces: one jaxreg.Ridge fit per (fold, alpha), held-out R^2 each."""
    scores = np.empty((len(folds), len(alphas)))
    for f, (train, test) in enumerate(folds):
        for a, alpha in enumerate(alphas):
            scores[f, a] = jaxreg.Ridge(alpha=alpha).fit(X[train], y[train]).score(X[test], y[test])
    return scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for every contender")
    ap.add_argument("--quick", action="store_true", help="500 x 50 and 50 x 500 (a smoke run)")
    args = ap.parse_args()
    with threadpool_limits(args.threads, user_api="blas"):
        run(args)


def run(args):
    print("load average (1, 5, 15 min):", os.getloadavg(), "cpus:", os.cpu_count(), "(shared machine);",
          "BLAS threads:", args.threads)  # fmt: skip
    alphas = np.logspace(-2, 4, 50)
    shapes = [(500, 50), (50, 500)] if args.quick else [(5000, 500), (500, 5000)]
    print(f"\nleave-one-out, {len(alphas)} alphas; median of {args.reps}")
    for n, p in shapes:
        X, y = _problem(n, p)
        ours = functools.partial(jaxreg.RidgeCV(alphas=alphas).fit, X, y)
        theirs = functools.partial(SkRidgeCV(alphas=alphas).fit, X, y)
        t_ours, t_sk = _median_times([ours, theirs], args.reps)
        a, b = ours(), theirs()
        diff = np.abs(a.coef_ - b.coef_).max()
        print(
            f"  {n:5d} x {p:<5d} jaxreg {t_ours:7.3f} s  sklearn {t_sk:7.3f} s  ratio {t_ours / t_sk:5.2f}  "
            f"alpha_ {a.alpha_:.4g} vs {b.alpha_:.4g}  max|coef diff| {diff:.1e} "
            f"(relative {diff / np.abs(b.coef_).max():.1e}, intercept {abs(a.intercept_ - b.intercept_):.1e})"
        )
    print(f"\n5-fold, {len(alphas)} alphas; jaxreg: median of {args.reps}; 250-fit contenders: 1 run")
    for n, p in shapes:
        X, y = _problem(n, p)
        folds = list(KFold(5).split(X))
        ours = functools.partial(jaxreg.RidgeCV(alphas=alphas, cv=5).fit, X, y)
        theirs = functools.partial(SkRidgeCV(alphas=alphas, cv=5).fit, X, y)
        (t_ours,) = _median_times([ours], args.reps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            small = list(KFold(5).split(X[:100]))
            _separate_fits(X[:100], y[:100], alphas[:2], small)  # warm-up (imports, first calls)
            SkRidgeCV(alphas=alphas[:2], cv=5).fit(X[:100], y[:100])
            t = time.perf_counter()
            b = theirs()
            t_sk = time.perf_counter() - t
            t = time.perf_counter()
            sep = _separate_fits(X, y, alphas, folds).mean(axis=0)
            t_sep = time.perf_counter() - t
        a = ours()
        print(
            f"  {n:5d} x {p:<5d} jaxreg cv=5 {t_ours:7.3f} s  {len(alphas)}x5 jaxreg.Ridge fits {t_sep:7.3f} s "
            f"(ratio {t_ours / t_sep:5.3f})  sklearn cv=5 {t_sk:7.3f} s (ratio {t_ours / t_sk:5.2f})  "
            f"alpha_ {a.alpha_:.4g} vs sklearn {b.alpha_:.4g} vs separate fits {alphas[np.argmax(sep)]:.4g}  "
            f"max|coef diff| vs sklearn {np.abs(a.coef_ - b.coef_).max():.1e}"
        )


if __name__ == "__main__":
    main()
