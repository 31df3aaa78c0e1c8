"""Where LassoCV's time goes (issue 18): LassoCV() (100 alphas, 5 folds) on
make_correlated_regression(n, p, rho, seed=0), against scikit-learn's LassoCV(), then one warm
fit with every compiled call synchronised and timed (jaxreg._compile.Compiler.__call__
wrapped), grouped by program and, for coordinate descent, by working-set capacity.

Synchronising after each call adds a little to the total; the split is what it is for.
Usage: python3 experiments/profile_lassocv.py [--shape N P] [--rho R] [--no-sklearn]
"""

from __future__ import annotations

import argparse
import collections
import os
import time

import jax
from sklearn.linear_model import LassoCV as SkLassoCV

import jaxreg
import jaxreg._compile as C
from jaxreg.datasets import make_correlated_regression


def _timed(stats, caps):
    orig = C.Compiler.__call__

    def call(self, fn, *args, **static):
        t = time.perf_counter()
        out = jax.block_until_ready(orig(self, fn, *args, **static))
        dt = time.perf_counter() - t
        name = getattr(fn, "__name__", None) or getattr(getattr(fn, "__wrapped__", None), "__name__", repr(fn)[:40])
        stats[name][0] += 1
        stats[name][1] += dt
        if "cap" in static:  # coordinate descent: (calls, seconds, epochs, largest working set)
            c = caps[static["cap"]]
            c[:] = [c[0] + 1, c[1] + dt, c[2] + int(out[3]), max(c[3], int(args[-1]))]
        return out

    return orig, call


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", type=int, nargs=2, default=(1000, 5000), metavar=("N", "P"))
    ap.add_argument("--rho", type=float, default=0.5)
    ap.add_argument("--no-sklearn", action="store_true")
    args = ap.parse_args()
    print("load average (1, 5, 15 min):", os.getloadavg(), "cpus:", os.cpu_count(), "(shared machine)")
    X, y, _ = make_correlated_regression(*args.shape, rho=args.rho, seed=0)
    t = time.perf_counter()
    jaxreg.LassoCV().fit(X, y)
    print(f"jaxreg first call {time.perf_counter() - t:.2f} s (compilation and the persistent cache's state included)")
    for _ in range(2):
        t = time.perf_counter()
        ours = jaxreg.LassoCV().fit(X, y)
        print(f"jaxreg warm {time.perf_counter() - t:.2f} s  alpha_ {ours.alpha_:.7g}")
    if not args.no_sklearn:
        for _ in range(2):
            t = time.perf_counter()
            sk = SkLassoCV().fit(X, y)
            print(f"sklearn {time.perf_counter() - t:.2f} s  alpha_ {sk.alpha_:.7g}")
    stats, caps = collections.defaultdict(lambda: [0, 0.0]), collections.defaultdict(lambda: [0, 0.0, 0, 0])
    orig, call = _timed(stats, caps)
    C.Compiler.__call__ = call
    try:
        t = time.perf_counter()
        jaxreg.LassoCV().fit(X, y)
        total = time.perf_counter() - t
    finally:
        C.Compiler.__call__ = orig
    print(f"\none warm fit, every compiled call synchronised: {total:.2f} s")
    for name, (n, s) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:24s} calls {n:5d}  {s:7.3f} s")
    for cap, (n, s, epochs, largest) in sorted(caps.items()):
        print(f"  coordinate descent at capacity {cap}: {n} calls, {s:.3f} s, {epochs} epochs, ", end="")
        print(f"working sets up to {largest}")


if __name__ == "__main__":
    main()
