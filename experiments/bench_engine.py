"""The working-set engine against skglm, celer and scikit-learn: sparse lasso at several
shapes and densities (random and one-hot), elastic net, n >> p lasso, and a user's loss
against FISTA.

Every case runs in a fresh process with an empty JAX compilation cache, so the first
jaxreg fit is the cold figure users pay; the warm figure is the median of ``--reps`` fits
after it (the peers get one warm-up fit too). Each library solves to its tightest
practical tolerance; the table reports each objective's gap to the best one found, so a
time is only compared where the objectives agree (to 1e-8 relative).

    python3 experiments/bench_engine.py                 # every case, 5 reps
    python3 experiments/bench_engine.py --only sparse_5000x50000 --reps 7
    python3 experiments/bench_engine.py --json out.json

Reports go to experiments/REPORT.md (section "The engine", issue 14).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    # name: (kind, n, p, density or None, alpha / alpha_max, l1_ratio)
    "sparse_5000x50000": ("sparse", 5000, 50000, 0.002, 1 / 20, 1.0),
    "sparse_10000x20000": ("sparse", 10000, 20000, 0.005, 1 / 50, 1.0),
    "sparse_2000x100000": ("sparse", 2000, 100000, 0.001, 1 / 10, 1.0),
    "onehot_20000x5000": ("onehot", 20000, 5000, None, 1 / 50, 1.0),
    "sparse_enet_5000x50000": ("sparse", 5000, 50000, 0.002, 1 / 20, 0.5),
    "enet_1000x5000": ("dense", 1000, 5000, None, 1 / 20, 0.5),
    "lasso_10000x1000": ("dense", 10000, 1000, None, 1 / 100, 1.0),
    "pseudo_huber_l1_1000x2000": ("huber", 1000, 2000, None, 1 / 20, 1.0),
}
PEERS = ("jaxreg", "skglm", "celer", "sklearn", "jaxreg_fista")


def make(kind, n, p, density, seed=0):
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    if kind == "sparse":
        X = sp.random(n, p, density=density, random_state=seed, format="csc", data_rvs=rng.standard_normal)
    elif kind == "onehot":
        # 20 categorical columns, level frequencies Zipf-like (a few very common levels)
        blocks = []
        for _ in range(20):
            levels = p // 20
            prob = 1.0 / np.arange(1, levels + 1)
            codes = rng.choice(levels, n, p=prob / prob.sum())
            blocks.append(sp.csc_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, levels)))
        X = sp.hstack(blocks, format="csc")
    else:
        X = rng.standard_normal((n, p))
    w = np.zeros(p)
    k = max(10, p // 500)
    w[rng.choice(p, k, replace=False)] = rng.standard_normal(k)
    y = X @ w + 0.1 * rng.standard_normal(n)
    return X, y


def worker(case, reps):
    import numpy as np

    kind, n, p, density, frac, l1_ratio = CASES[case]
    X, y = make(kind, n, p, density)
    amax = float(np.max(np.abs(X.T @ (y - y.mean())))) / n / l1_ratio
    alpha = frac * amax
    huber = kind == "huber"

    def objective(coef, b):
        r = y - X @ coef - b
        data = np.mean(np.sqrt(1 + r**2) - 1) if huber else 0.5 * r @ r / n
        return data + alpha * (l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * coef @ coef)

    def run_jaxreg(solver):
        import jax.numpy as jnp

        import jaxreg
        from jaxreg.penalties import ElasticNet

        loss = jaxreg.losses.custom_loss(lambda y, z: jnp.sqrt(1 + (y - z) ** 2) - 1) if huber else "squared"
        pen = ElasticNet(alpha, l1_ratio)
        kw = dict(
            solver=solver, tol=1e-10 if solver == "fista" else 1e-8, max_iter=100_000 if solver == "fista" else 100
        )

        def fit():
            r = jaxreg.fit(X, y, loss=loss, penalty=pen, **kw)
            return r.coef, float(r.intercept), r.solver, r.compile_time

        return fit

    def run_peer(name):
        if name == "skglm":
            from skglm import ElasticNet as E
            from skglm import Lasso as L

            m = L(alpha=alpha, tol=1e-10) if l1_ratio == 1 else E(alpha=alpha, l1_ratio=l1_ratio, tol=1e-10)
        elif name == "celer":
            from celer import ElasticNet as E
            from celer import Lasso as L

            m = L(alpha=alpha, tol=1e-10) if l1_ratio == 1 else E(alpha=alpha, l1_ratio=l1_ratio, tol=1e-10)
        else:
            from sklearn.linear_model import ElasticNet as E

            m = E(alpha=alpha, l1_ratio=l1_ratio, tol=1e-10, max_iter=100_000)

        def fit():
            m.fit(X, y)
            return m.coef_, float(m.intercept_), name, 0.0

        return fit

    rows = []
    for lib in PEERS:
        if huber and lib not in ("jaxreg", "jaxreg_fista"):
            continue
        if not huber and lib == "jaxreg_fista":
            continue
        try:
            fit = (
                run_jaxreg("fista" if lib == "jaxreg_fista" else "auto") if lib.startswith("jaxreg") else run_peer(lib)
            )
        except ImportError:
            continue
        t0 = time.perf_counter()
        coef, b, solver, ct = fit()
        cold = time.perf_counter() - t0
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            coef, b, solver, _ = fit()
            times.append(time.perf_counter() - t0)
        rows.append(
            dict(
                case=case,
                lib=lib,
                solver=solver,
                cold=cold,
                compile=ct,
                warm=statistics.median(times),
                obj=objective(np.asarray(coef), b),
                nnz=int(np.sum(np.asarray(coef) != 0)),
            )  # fmt: skip
        )
    best = min(r["obj"] for r in rows)
    for r in rows:
        r["obj_gap"] = (r["obj"] - best) / abs(best)
    print(json.dumps(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=list(CASES))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--worker")
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.reps)
    all_rows = []
    print(f"load: {os.getloadavg()}")
    for case in a.only:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, JAXREG_CACHE_DIR=cache)
            out = subprocess.run([sys.executable, __file__, "--worker", case, "--reps", str(a.reps)],
                                 env=env, capture_output=True, text=True, check=False)  # fmt: skip
        if out.returncode != 0:
            print(case, "failed:", out.stderr[-2000:])
            continue
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        all_rows += rows
        ref = min((r["warm"] for r in rows if not r["lib"].startswith("jaxreg")), default=None)
        for r in rows:
            ratio = f"{r['warm'] / ref:5.2f}x best peer" if ref and r["lib"] == "jaxreg" else ""
            line = f"{case:28s} {r['lib']:13s} {r['solver']:12s} warm {r['warm']:8.4f} s  cold {r['cold']:7.2f} s"
            line += f" (compile {r['compile']:5.2f})  nnz {r['nnz']:5d}  obj gap {r['obj_gap']:8.1e}  {ratio}"
            print(line, flush=True)
    print(f"load: {os.getloadavg()}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(all_rows, f, indent=1)


if __name__ == "__main__":
    main()
