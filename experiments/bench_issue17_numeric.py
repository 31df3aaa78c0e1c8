"""Issue 17, items 6 and 17: BayesianLinearRegression with p >> n, and LogisticRegression's
defaults on raw digits, against scikit-learn in the same run.

    python3 experiments/bench_issue17_numeric.py [--reps 5] [--sk-blr-p 2000]

Medians of ``--reps`` runs after one warm-up (compile time is in the warm-up only; jaxreg
reports it apart as ``fit_result_.compile_time``). scikit-learn's BayesianRidge builds a
p x p matrix, so it is timed at ``--sk-blr-p`` features only (30 x 10000 took 91 s once on
the shared machine). Prints ``uptime`` first: the machine is shared, times are indicative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np


def median_time(fn, reps):
    fn()  # warm-up (compilation, imports)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sk-blr-p", type=int, default=2000)
    args = ap.parse_args()
    print("uptime:", os.popen("uptime").read().strip())
    import sklearn.linear_model as skl
    from sklearn.datasets import load_digits

    import jaxreg

    rng = np.random.default_rng(0)
    print("\n## BayesianLinearRegression, p >> n (n x n form)")
    print("| n x p | jaxreg s | scikit-learn s | ratio |")
    print("|---|---|---|---|")
    for n, p in [(30, args.sk_blr_p), (30, 10_000), (20, 50_000)]:
        X = rng.standard_normal((n, p))
        y = X[:, :3] @ np.array([1.0, -1.0, 2.0]) + 0.5 * rng.standard_normal(n)
        ours, _ = median_time(lambda: jaxreg.BayesianLinearRegression().fit(X, y), args.reps)
        sk = None
        if p <= args.sk_blr_p:
            sk, _ = median_time(lambda: skl.BayesianRidge().fit(X, y), max(1, args.reps // 2))
        ratio = f"{ours / sk:.3f}" if sk else "-"
        print(f"| {n} x {p} | {ours:.4f} | {'-' if sk is None else f'{sk:.3f}'} | {ratio} |")

    print("\n## LogisticRegression on raw digits (1797 x 64, 10 classes), tol 1e-4 and 1e-6")
    print("| settings | jaxreg s | iters | scikit-learn s | iters | ratio |")
    print("|---|---|---|---|---|---|")
    X, y = load_digits(return_X_y=True)
    for tol in (1e-4, 1e-6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours, m = median_time(lambda: jaxreg.LogisticRegression(tol=tol).fit(X, y), args.reps)
            sk, s = median_time(lambda: skl.LogisticRegression(tol=tol, max_iter=10_000).fit(X, y), 1)
        print(f"| C=1, tol={tol:g} | {ours:.3f} | {m.n_iter_} | {sk:.3f} | {int(np.max(s.n_iter_))} | {ours / sk:.3f} |")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, m = median_time(lambda: jaxreg.LogisticRegression(penalty="l1", C=0.1).fit(X, y), args.reps)
        sk, s = median_time(lambda: skl.LogisticRegression(l1_ratio=1.0, C=0.1, solver="saga", max_iter=10_000).fit(X, y), 1)
    print(f"| l1, C=0.1 | {ours:.3f} | {m.n_iter_} | {sk:.3f} (saga) | {int(np.max(s.n_iter_))} | {ours / sk:.3f} |")


if __name__ == "__main__":
    main()
