"""Where LassoCV's time goes (issue 18): LassoCV() (100 alphas, 5 folds) on
make_correlated_regression(n, p, rho, seed=0), against scikit-learn's LassoCV() in the same
process, then one warm fit with every compiled call synchronised and timed
(jaxreg._compile.Compiler.__call__ wrapped), grouped by program and, for coordinate descent,
by working-set capacity and design width (the folds' own rows, or all of them).

Times: wall-clock seconds and the process's CPU seconds (the machine is shared: under load
the CPU time is the steadier figure). The first call compiles (or loads from the persistent
cache: run with JAXREG_COMPILATION_CACHE=off for a cold start); its programs are counted.
The warm fits of jaxreg and scikit-learn alternate, ``--repeats`` of each; medians.

Synchronising after each call adds a little to the total; the split is what it is for.
Usage: python3 experiments/profile_lassocv.py [--shape N P] [--rho R] [--repeats K] [--no-sklearn]
"""

from __future__ import annotations

import argparse
import collections
import os
import time

import jax
import numpy as np
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
            c = caps[(static["cap"], args[0].shape[1])]
            c[:] = [c[0] + 1, c[1] + dt, c[2] + int(out[3]), max(c[3], int(args[-1]))]
        return out

    return orig, call


def _clock(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", type=int, nargs=2, default=(1000, 5000), metavar=("N", "P"))
    ap.add_argument("--rho", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    print("load average (1, 5, 15 min):", os.getloadavg(), "cpus:", os.cpu_count(), "(shared machine)")
    print("compilation cache:", os.environ.get("JAXREG_COMPILATION_CACHE", "default (on)"))
    X, y, _ = make_correlated_regression(*args.shape, rho=args.rho, seed=0)
    before = dict(C.stats)
    ours, wall, cpu = _clock(lambda: jaxreg.LassoCV().fit(X, y))
    built = {k: C.stats[k] - before[k] for k in ("compiled", "disk_loads")}
    print(f"jaxreg first call {wall:.2f} s (cpu {cpu:.2f} s); programs compiled {built['compiled']}, "
          f"loaded from disk {built['disk_loads']}")  # fmt: skip
    times = {"jaxreg": [], "sklearn": []}
    for _ in range(args.repeats):
        ours, wall, cpu = _clock(lambda: jaxreg.LassoCV().fit(X, y))
        times["jaxreg"].append((wall, cpu))
        print(f"jaxreg warm {wall:.2f} s (cpu {cpu:.2f})  alpha_ {ours.alpha_:.7g}  load {os.getloadavg()[0]:.1f}")
        if not args.no_sklearn:
            sk, wall, cpu = _clock(lambda: SkLassoCV().fit(X, y))
            times["sklearn"].append((wall, cpu))
            print(f"sklearn     {wall:.2f} s (cpu {cpu:.2f})  alpha_ {sk.alpha_:.7g}  load {os.getloadavg()[0]:.1f}")
    med = {k: np.median(np.array(v), axis=0) for k, v in times.items() if v}
    print(f"median warm jaxreg {med['jaxreg'][0]:.2f} s (cpu {med['jaxreg'][1]:.2f})", end="")
    if "sklearn" in med:
        ratio = med["sklearn"] / med["jaxreg"]
        print(f", sklearn {med['sklearn'][0]:.2f} s (cpu {med['sklearn'][1]:.2f}): sklearn / jaxreg "
              f"{ratio[0]:.2f}x wall, {ratio[1]:.2f}x cpu")  # fmt: skip
        scale = np.max(np.abs(sk.coef_))
        print(f"same alpha_: {ours.alpha_ == sk.alpha_} (rel. diff {abs(ours.alpha_ / sk.alpha_ - 1):.1e}); "
              f"coef max abs diff {np.max(np.abs(ours.coef_ - sk.coef_)):.2e} (largest |coef| {scale:.2e}); "
              f"mse_path_ max rel diff {np.max(np.abs(ours.mse_path_ / sk.mse_path_ - 1)):.1e}")  # fmt: skip
    else:
        print()
    if args.no_profile:
        return
    stats, caps = collections.defaultdict(lambda: [0, 0.0]), collections.defaultdict(lambda: [0, 0.0, 0, 0])
    orig, call = _timed(stats, caps)
    C.Compiler.__call__ = call
    try:
        _, total, cpu = _clock(lambda: jaxreg.LassoCV().fit(X, y))
    finally:
        C.Compiler.__call__ = orig
    print(f"\none warm fit, every compiled call synchronised: {total:.2f} s (cpu {cpu:.2f})")
    for name, (n, s) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:24s} calls {n:5d}  {s:7.3f} s")
    for (cap, rows), (n, s, epochs, largest) in sorted(caps.items()):
        print(f"  coordinate descent at capacity {cap} on {rows} rows: {n} calls, {s:.3f} s, {epochs} epochs, ", end="")
        print(f"working sets up to {largest}")


if __name__ == "__main__":
    main()
