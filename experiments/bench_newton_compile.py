"""Compile time of the newton and lbfgs solvers on a small logistic fit, each in a fresh
process with every compilation cache off.

    python experiments/bench_newton_compile.py [--repeats 5]

Per solver: ``lower()`` (trace + lowering) and ``compile()`` (XLA) of the solver's program
on breast_cancer (569 x 30, standardized), logistic loss, ``L2(1 / (0.5 n))``, float64,
after one trivial compilation (so XLA's own start-up is not counted); then, in another
fresh process, the whole of ``cross_val_score(make_pipeline(StandardScaler(),
LogisticRegression(C=0.5, solver=...)), cv=5)``. Prints medians over the repeats (wall seconds and, for compile,
process CPU seconds: XLA's CPU backend compiles on several threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
import jax, jax.numpy as jnp, numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import jaxreg
from jaxreg.losses import Logistic
from jaxreg.penalties import L2
from jaxreg.solvers import SOLVERS, Data, Hyper

name = sys.argv[1]
X, y = load_breast_cancer(return_X_y=True)
if sys.argv[2] == "cv":  # the whole cross-validation in a fresh process
    t0 = time.perf_counter()
    cross_val_score(make_pipeline(StandardScaler(), jaxreg.LogisticRegression(C=0.5, solver=name)), X, y, cv=5)
    print(json.dumps({"cv": time.perf_counter() - t0}))
    sys.exit()
with jax.enable_x64(True):
    jax.jit(lambda a: a @ a + 1).lower(jnp.ones((3, 3))).compile()
    n, p = X.shape
    Xs = (X - X.mean(0)) / X.std(0)
    data = Data(jnp.asarray(Xs), jnp.asarray(np.where(y > 0, 1.0, -1.0)), jnp.ones(n))
    one = jnp.ones(())
    hyper = Hyper(one * 1e-6, one, one, one, jax.random.PRNGKey(0))
    args = (data, Logistic(), L2(one / (0.5 * n)), jnp.zeros(p), jnp.zeros(()), hyper)
    spec = SOLVERS[name]
    static = {"fit_intercept": True, "max_iter": spec.default_max_iter, **spec.static_options}
    t0 = time.perf_counter()
    lowered = spec.run.lower(*args, **static)
    t1, c1 = time.perf_counter(), time.process_time()
    exe = lowered.compile()
    t2, c2 = time.perf_counter(), time.process_time()
    out = exe(*args)
print(json.dumps({"lower": t1 - t0, "compile": t2 - t1, "compile_cpu": c2 - c1,
                  "n_iter": int(out.n_iter), "status": int(out.status)}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--solvers", default="newton,lbfgs")
    args = parser.parse_args()
    env = {**os.environ, "JAXREG_COMPILATION_CACHE": "off", "JAX_ENABLE_COMPILATION_CACHE": "false"}
    runs = {s: [] for s in args.solvers.split(",")}
    for _ in range(args.repeats):
        for name in runs:  # interleaved, so machine load hits both alike
            row = {}
            for mode in ("compile", "cv"):
                res = subprocess.run([sys.executable, "-c", CHILD, name, mode], env=env, capture_output=True, text=True)
                if res.returncode:
                    sys.exit(res.stderr)
                row.update(json.loads(res.stdout.strip().splitlines()[-1]))
            runs[name].append(row)
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("lower", "compile", "compile_cpu", "cv")}
        print(
            f"{name:8s} lower {med['lower']:.3f} s  compile {med['compile']:.3f} s "
            f"(cpu {med['compile_cpu']:.3f} s)  cross_val_score {med['cv']:.2f} s  "
            f"[{rs[0]['n_iter']} iterations, status {rs[0]['status']}]"
        )


if __name__ == "__main__":
    main()
