"""FISTA's backtracking: a step that may grow back (each step first tries SHRINK times the
last Lipschitz estimate) against one that only grows L (SHRINK = 1, the earlier rule), on
the problems of issue 17 item 17 (raw digits, multinomial, L1 C=0.1 and L2 C=1) and three
small well-conditioned ones, every problem on the centred design (jaxreg.fit's default).

    python3 experiments/bench_fista_step.py [--reps 3] [--shrink 1.0 0.9 0.7 0.5]

Iterations are exact counts; times are medians of ``--reps`` runs after a warm-up that
compiles (compile time excluded), the settings alternated within each repetition so load
drifts hit both alike. The compilation caches are off (SHRINK is a constant of the traced
program). Prints ``uptime`` first: the machine is shared, times are indicative.
"""

from __future__ import annotations

import argparse
import os
import statistics


def problems():
    from sklearn.datasets import load_digits, make_classification, make_regression

    from jaxreg.penalties import L1, L2

    X, y = load_digits(return_X_y=True)
    n = len(y)
    Xr, yr = make_regression(500, 200, n_informative=20, noise=1.0, random_state=0)
    Xc, yc = make_classification(500, 100, random_state=0)
    return [
        ("digits multinomial L1 C=0.1", X, y, dict(loss="multinomial", penalty=L1(1 / (0.1 * n)))),
        ("digits multinomial L2 C=1", X, y, dict(loss="multinomial", penalty=L2(1 / n))),
        ("lasso 500x200", Xr, yr, dict(penalty=L1(1.0))),
        ("lasso 500x200, X+5", Xr + 5, yr, dict(penalty=L1(1.0))),
        ("logistic L1 500x100", Xc, yc, dict(loss="logistic", penalty=L1(0.01))),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shrink", type=float, nargs="+", default=[1.0, 0.9, 0.7, 0.5])
    args = ap.parse_args()
    print("uptime:", os.popen("uptime").read().strip())
    import jaxreg
    from jaxreg import _compile
    from jaxreg.solvers import proximal

    jaxreg.disable_compilation_cache()

    def run(shrink, X, y, kw):
        proximal.SHRINK = shrink
        _compile.CACHE.clear()  # SHRINK is traced into the program: compile it for this value
        proximal.proximal_gradient.clear_cache()
        return jaxreg.fit(X, y, solver="fista", **kw)

    print("| problem | SHRINK | status | iterations | objective | fit s (median) |")
    print("|---|---|---|---|---|---|")
    for name, X, y, kw in problems():
        times = {s: [] for s in args.shrink}
        last = {}
        for _ in range(args.reps):
            for s in args.shrink:
                r = run(s, X, y, kw)
                times[s].append(r.fit_time)
                last[s] = r
        for s in args.shrink:
            r = last[s]
            t = statistics.median(times[s])
            print(f"| {name} | {s} | {r.status} | {r.n_iter} | {r.objective:.10g} | {t:.3f} |")


if __name__ == "__main__":
    main()
