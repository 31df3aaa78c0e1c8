"""Host closed-form ridge (jaxreg.solvers.closed_form_host.solve) vs scikit-learn's Ridge(solver='cholesky').

Median of 3 timed fits after one warm-up each (small problem: blocks of 200 fits); the two
solvers alternate, so load from other processes on a shared machine hits both alike.
Usage: python3 experiments/bench_closed_form_host.py [--small-only]
"""

import functools
import os
import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from jaxreg.solvers.closed_form_host import solve


def _median_times(fs, reps=3, inner=1):
    for f in fs:
        f()  # warm-up
    times = [[] for _ in fs]
    for _ in range(reps):
        for f, ts in zip(fs, times, strict=True):
            t = time.perf_counter()
            for _ in range(inner):
                f()
            ts.append((time.perf_counter() - t) / inner)
    return [statistics.median(ts) for ts in times]


def main():
    print("load average:", os.getloadavg(), "cpus:", os.cpu_count())
    X, y = load_diabetes(return_X_y=True)
    problems = [("diabetes 442 x 10", X, y, 200)]
    if "--small-only" not in sys.argv:
        rng = np.random.default_rng(0)
        for n, p in [(20000, 2000), (2000, 20000)]:
            Xr = rng.standard_normal((n, p))
            problems.append((f"random {n} x {p}", Xr, Xr[:, :5].sum(1) + rng.standard_normal(n), 1))
    a = 1.0
    for name, X, y, inner in problems:
        ones = np.ones(len(y))
        host = functools.partial(solve, X, y, ones, a / len(y), True)
        peer = functools.partial(Ridge(alpha=a, solver="cholesky").fit, X, y)
        t_host, t_sk = _median_times([host, peer], inner=inner)
        coef, _ = solve(X, y, ones, a / len(y), True)
        diff = np.abs(coef - Ridge(alpha=a, solver="cholesky").fit(X, y).coef_).max()
        print(f"{name:22s} host {t_host * 1e3:9.2f} ms   sklearn cholesky {t_sk * 1e3:9.2f} ms", end="")
        print(f"   max|coef diff| {diff:.1e}")


if __name__ == "__main__":
    main()
