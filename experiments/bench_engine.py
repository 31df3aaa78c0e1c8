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
    # issue 15: GLM and penalty families on the same engine
    "poisson_lasso_10000x1000": ("poisson", 10000, 1000, None, 1 / 20, 1.0),
    "poisson_lasso_1000x5000": ("poisson", 1000, 5000, None, 1 / 20, 1.0),
    "poisson_lasso_1000x5000_amax10": ("poisson", 1000, 5000, None, 1 / 10, 1.0),  # glm_cpu's alpha
    "mcp_1000x5000": ("mcp", 1000, 5000, None, 1 / 10, 1.0),
    "positive_lasso_1000x5000": ("positive", 1000, 5000, None, 1 / 20, 1.0),
}
PEERS = ("jaxreg", "skglm", "celer", "sklearn", "glum", "jaxreg_fista")
# which peers solve which problem (the others are left out of that case)
SUPPORTS = {
    "lasso": ("skglm", "celer", "sklearn"),
    "huber": ("jaxreg_fista",),
    "poisson": ("skglm", "glum"),
    "mcp": ("skglm",),
    "positive": ("skglm", "sklearn"),
}


def make(kind, n, p, density, seed=0):
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    if kind in ("poisson", "mcp", "positive"):
        X = rng.standard_normal((n, p))
        X /= np.sqrt((X**2).mean(axis=0))
        w = np.zeros(p)
        k = max(10, p // 500)
        w[rng.choice(p, k, replace=False)] = (0.1 if kind == "poisson" else 1.0) * rng.standard_normal(k)
        if kind == "poisson":
            return X, rng.poisson(np.exp(X @ w + 0.5)).astype(float)
        if kind == "positive":
            w = np.abs(w) * np.where(rng.random(p) < 0.5, 1, -1) * (w != 0)  # some negative truth
        return X, X @ w + 0.1 * rng.standard_normal(n)
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
    corr = X.T @ (y - y.mean())
    amax = float(np.max(corr if kind == "positive" else np.abs(corr))) / n / l1_ratio
    alpha = frac * amax
    huber = kind == "huber"
    model = kind if kind in SUPPORTS else "lasso"
    gamma = 3.0

    def objective(coef, b):
        z = X @ coef + b
        r = y - z
        if kind == "poisson":
            data = np.mean(np.exp(z) - y * z)
        else:
            data = np.mean(np.sqrt(1 + r**2) - 1) if huber else 0.5 * r @ r / n
        if kind == "mcp":
            aw = np.abs(coef)
            return data + np.sum(np.where(aw <= gamma * alpha, alpha * aw - aw**2 / (2 * gamma), gamma * alpha**2 / 2))
        if kind == "positive" and np.any(coef < 0):
            return np.inf
        return data + alpha * (l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * coef @ coef)

    def run_jaxreg(solver):
        import jax.numpy as jnp

        import jaxreg
        from jaxreg.penalties import MCP, ElasticNet, keep_positive

        loss = jaxreg.losses.custom_loss(lambda y, z: jnp.sqrt(1 + (y - z) ** 2) - 1) if huber else "squared"
        loss = "poisson" if kind == "poisson" else loss
        pen = ElasticNet(alpha, l1_ratio)
        pen = MCP(alpha, gamma) if kind == "mcp" else keep_positive(pen, kind == "positive")
        kw = dict(
            solver=solver, tol=1e-10 if solver == "fista" else 1e-8, max_iter=100_000 if solver == "fista" else 100
        )

        def fit():
            r = jaxreg.fit(X, y, loss=loss, penalty=pen, **kw)
            return r.coef, float(r.intercept), r.solver, r.compile_time

        return fit

    def run_peer(name):
        if model == "poisson" and name == "skglm":
            from skglm import GeneralizedLinearEstimator
            from skglm.datafits import Poisson
            from skglm.penalties import L1
            from skglm.solvers import ProxNewton

            m = GeneralizedLinearEstimator(Poisson(), L1(alpha), ProxNewton(tol=1e-10, fit_intercept=True))
        elif model == "poisson":  # glum
            from glum import GeneralizedLinearRegressor

            m = GeneralizedLinearRegressor(family="poisson", alpha=alpha, l1_ratio=1.0, gradient_tol=1e-10)
        elif model == "mcp":
            from skglm import MCPRegression

            m = MCPRegression(alpha=alpha, gamma=gamma, tol=1e-10)
        elif model == "positive":
            from skglm import Lasso as L
            from sklearn.linear_model import Lasso as SL

            m = (
                L(alpha=alpha, positive=True, tol=1e-10)
                if name == "skglm"
                else SL(alpha=alpha, positive=True, tol=1e-10, max_iter=100_000)
            )
        elif name == "skglm":
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
            return np.ravel(m.coef_), float(np.ravel(m.intercept_)[0]), name, 0.0

        return fit

    rows = []
    for lib in PEERS:
        if lib != "jaxreg" and lib not in SUPPORTS[model]:
            continue
        if lib.startswith("jaxreg"):  # an ImportError here is a broken jaxreg, not a missing peer: raised
            fit = run_jaxreg("fista" if lib == "jaxreg_fista" else "auto")
        else:
            try:
                fit = run_peer(lib)
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
        b = float(np.ravel(b)[0]) if np.size(b) else 0.0
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


def run_fresh(script, case, reps, extra=()):
    """``script --worker case --reps reps`` in a new process with an empty JAX cache (with it
    set jaxreg keeps the user's choice and its own store of executables stays off: see
    jaxreg._cache), so its first fit compiles everything; the rows the worker printed as
    its last line of JSON, or None (the error printed) when it failed. ``extra``: more
    arguments for the worker."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, XDG_CACHE_HOME=cache)
        out = subprocess.run([sys.executable, script, "--worker", case, "--reps", str(reps), *extra],
                             env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if out.returncode != 0:
        print(case, "failed:", out.stderr[-2000:], flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


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
        rows = run_fresh(__file__, case, a.reps)
        if rows is None:
            continue
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
