"""Coordinate descent's cost against its static capacity (issue 18): record the working-set
calls (``working_set_kernels.CD``) of one ``LassoCV()`` on make_correlated_regression(n, p,
rho=0.5, seed=0) whose working sets pass 256 features (every ``--every``-th), then replay each
call warm with the capacity all p features, the power of two above the working set, and
256 * 4^k above it, alternating, and add up the process's CPU seconds (the machine is
shared: CPU time is steadier than wall time under load). Every replay runs the same epochs.

Usage: python3 experiments/bench_cd_capacity.py [--shape N P] [--every K] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

import jaxreg
import jaxreg._compile as C
from jaxreg.datasets import make_correlated_regression
from jaxreg.solvers import working_set_kernels as K
from jaxreg.solvers.working_set_layout import single_threaded_blas


def record(X, y):
    calls, orig = [], C.Compiler.__call__

    def call(self, fn, *args, **static):
        out = orig(self, fn, *args, **static)
        if "cap" in static and int(args[-1]) > 256:
            calls.append((jax.device_get(args[1:]), args[0], int(args[-1])))
        return out

    C.Compiler.__call__ = call
    try:
        jaxreg.LassoCV().fit(X, y)
    finally:
        C.Compiler.__call__ = orig
    return calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", type=int, nargs=2, default=(1000, 5000), metavar=("N", "P"))
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print("load average:", os.getloadavg(), "cpus:", os.cpu_count(), "(shared machine)")
    X, y, _ = make_correlated_regression(*args.shape, rho=0.5, seed=0)
    calls = record(X, y)[:: args.every]
    p = args.shape[1]

    def pow_cap(base):
        def cap(size):
            c = 256
            while c < size:
                c *= base
            return min(K.capacity(c), K.capacity(p))

        return cap

    rules = {"all p": lambda size: K.capacity(p), "2^k": pow_cap(2), "256 * 4^k": pow_cap(4)}
    sizes = [size for _, _, size in calls]
    print(f"{len(calls)} calls, working sets {min(sizes)}-{max(sizes)}, rows {calls[0][1].shape[1]}")
    totals = {name: [] for name in rules}
    with jax.enable_x64(True), single_threaded_blas():
        for _ in range(args.rounds):
            for name, rule in rules.items():
                cpu, epochs = 0.0, 0
                for rest, XT, size in calls:
                    a = (XT, *jax.device_put(rest))
                    jax.block_until_ready(K.CD(*a, cap=rule(size)))  # compiled, warm
                    t = time.process_time()
                    out = jax.block_until_ready(K.CD(*a, cap=rule(size)))
                    cpu += time.process_time() - t
                    epochs += int(out[3])
                totals[name].append(cpu)
                print(f"  {name:10s} cpu {cpu:.3f} s  epochs {epochs}", flush=True)
    base = np.median(totals["all p"])
    for name, t in totals.items():
        print(f"median {name:10s} {np.median(t):.3f} s ({np.median(t) / base:.2f} of all p)")


if __name__ == "__main__":
    main()
