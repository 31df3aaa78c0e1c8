"""One lasso fit on a device: jaxreg's working set (coordinate descent, ``auto``'s pick for
a dense lasso) against its FISTA, float32, same problem and stopping tolerance.

The question it answers: should ``solver="auto"`` keep the working set on a GPU, where a
coordinate update is a few tiny kernels, or switch to FISTA, whose iteration is two large
matrix products? Run where the GPU is::

    python3 experiments/bench_gpu_fit.py --device gpu --p 10000 50000 --out fit_gpu.json

Each fit: the first call (compilation included) and then the median of ``--reps`` warm
calls; the relative duality gap each reaches is recomputed in numpy (float64 after the
float32 products) so the two are compared at the accuracy they reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_gpu_path import problem, record, relative_gaps  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--p", type=int, nargs="+", default=[10000, 50000])
    ap.add_argument("--rho", type=float, default=0.5)
    ap.add_argument("--ratio", type=float, nargs="+", default=[0.1, 0.01], help="alpha / alpha_max")
    ap.add_argument("--solver", nargs="+", default=["working_set", "fista"])
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fista-max-iter", type=int, default=5000)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    import jax

    import jaxreg

    rows = []
    for p in args.p:
        X, y = problem(args.n, p, args.rho, device=args.device)
        amax = np.max(np.abs(X.T @ (y.astype(np.float64) - y.mean()))) / len(y)
        for ratio in args.ratio:
            alpha = amax * ratio
            for solver in args.solver:
                opts = dict(penalty=jaxreg.L1(alpha), solver=solver, tol=args.tol, device=args.device)
                if solver == "fista":
                    opts["max_iter"] = args.fista_max_iter
                t0 = time.perf_counter()
                res = jaxreg.fit(X, y, **opts)
                first = time.perf_counter() - t0
                times = []
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    res = jaxreg.fit(X, y, **opts)
                    times.append(time.perf_counter() - t0)
                gap = relative_gaps(X, y, res.coef[:, None], np.array([res.intercept]), np.array([alpha]))[0]
                row = dict(
                    n=args.n,
                    p=p,
                    ratio=ratio,
                    solver=solver,
                    device=str(jax.devices(args.device)[0]),
                    first_s=first,
                    time_s=float(np.median(times)),
                    times=times,
                    n_iter=int(res.n_iter),
                    converged=bool(res.converged),
                    nnz=int(np.count_nonzero(res.coef)),
                    rel_gap=gap,
                    tol=args.tol,
                )
                record(rows, row, args.out)


if __name__ == "__main__":
    main()
