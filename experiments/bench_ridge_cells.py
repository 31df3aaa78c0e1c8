"""jaxreg.fit(solver="closed_form") against scikit-learn's Ridge on the cells of
configs/sweeps/ridge_closed_form.yaml, in one process, the two alternating (load from other
processes hits both alike).

Median of ``--reps`` timed fits after one warm-up each. ``--threads N`` limits BLAS to N
threads for both contenders (threadpoolctl); the default leaves them as they are.
Usage: python3 experiments/bench_ridge_cells.py [--reps 5] [--threads 1] [--cells 20000x2000 ...]
"""

import argparse
import contextlib
import functools
import os

import numpy as np

# the same medians as the closed-form benchmark (this script's folder is on sys.path when run)
from bench_closed_form_host import _median_times
from sklearn.linear_model import Ridge

import jaxreg
from jaxreg.datasets import make_correlated_regression

CELLS = [(n, p) for n in (1000, 5000, 20000) for p in (200, 2000)]
ALPHA = 0.1  # our L2(alpha) is Ridge(alpha * n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cells", nargs="*", default=None, help="NxP, e.g. 20000x2000")
    args = ap.parse_args()
    cells = [tuple(map(int, c.split("x"))) for c in args.cells] if args.cells else CELLS
    limit = contextlib.nullcontext()
    if args.threads:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads, user_api="blas")
    print("load average:", os.getloadavg(), "BLAS threads:", args.threads or "default")
    with limit:
        for n, p in cells:
            X, y, _ = make_correlated_regression(n, p, rho=0.5, n_informative=20, seed=0)
            ours = functools.partial(jaxreg.fit, X, y, penalty=jaxreg.L2(ALPHA), solver="closed_form")
            peer = functools.partial(Ridge(alpha=ALPHA * n).fit, X, y)
            t_ours, t_peer = _median_times([ours, peer], reps=args.reps)
            diff = np.abs(ours().coef - peer().coef_).max()
            print(
                f"{n:6d} x {p:5d}  jaxreg {t_ours * 1e3:9.2f} ms  sklearn {t_peer * 1e3:9.2f} ms  "
                f"ratio {t_ours / t_peer:5.2f}  max|coef diff| {diff:.1e}",
                flush=True,
            )
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
