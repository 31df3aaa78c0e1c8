"""Issue 6's GPU target: a lasso path of 50 alphas on n = 20000, p = 50000 float32, jaxreg on
a GPU against skglm's path on this project's 2-core CPU.

The two halves run on different machines, so each writes its figures to a JSON file and
``--combine`` prints the table::

    # on the machine with the GPU (float32; jaxreg's all-alphas-at-once FISTA path, then the
    # working-set (coordinate-descent) path on the same device and data):
    python3 experiments/bench_gpu_path.py --only jaxreg --device gpu --solver fista working_set --out gpu.json
    # on the project's CPU machine (skglm's working-set path, the reference):
    python3 experiments/bench_gpu_path.py --only skglm --out cpu.json
    python3 experiments/bench_gpu_path.py --combine gpu.json cpu.json

Both solve the same problem (same seed) to the same stopping rule: jaxreg to a relative
duality gap ``tol`` at every alpha; skglm with ``tol`` on its own criterion. The gap each
reaches is recomputed here in float64 numpy on a subsample of the alphas and reported, so
the comparison is at equal accuracy or says it is not. jaxreg's time is the second
(warm) path; its first call's compile time is reported apart. ``--n/--p`` shrink the
problem for a trial run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def problem(n, p, rho, seed=0, device=None):
    """The correlated design of ``make_correlated_regression`` (columns with corr rho^|i-j|,
    100 informative features, SNR 3), drawn with jax.random on ``device`` instead of numpy:
    numpy's column recursion takes over a minute at 20000 x 50000, paid from the GPU
    machine's lease. JAX's threefry bits are the same on every backend, so the GPU and the
    CPU halves draw the same problem (the normals agree to float32 rounding).

    Returns X (n, p) as the transpose of a C-ordered (p, n) array: jaxreg puts X.T on the
    device without a transposing copy, and column passes are contiguous for skglm."""
    import jax
    import jax.numpy as jnp

    from jaxreg.fit import resolve_device

    kx, kw, ke = jax.random.split(jax.random.key(seed), 3)
    c = np.float32(np.sqrt(1.0 - rho**2))

    @jax.jit
    def design(key):
        Z = jax.random.normal(key, (p, n), jnp.float32)  # row j is feature j

        def step(prev, z):
            x = rho * prev + c * z
            return x, x

        _, rest = jax.lax.scan(step, Z[0], Z[1:])
        return jnp.concatenate([Z[:1], rest])

    with jax.default_device(resolve_device(device)):
        XT = np.asarray(design(kx))
    X = XT.T
    w = np.zeros(p, np.float32)
    support = np.round(np.linspace(0, p - 1, 100)).astype(int)
    w[support] = np.asarray(jax.random.normal(kw, (100,), jnp.float32))
    signal = X @ w
    eps = np.asarray(jax.random.normal(ke, (n,), jnp.float32))
    y = signal + np.linalg.norm(signal) / (3.0 * np.linalg.norm(eps)) * eps
    return X, y.astype(np.float32)


def alpha_grid(X, y, n_alphas, eps):
    yc = y.astype(np.float64) - y.mean()
    amax = np.max(np.abs(X.T @ yc)) / len(y)  # X.T @ yc = Xc.T @ yc since sum(yc) = 0
    return np.geomspace(amax, amax * eps, n_alphas)


def relative_gaps(X, y, coefs, intercepts, alphas, every=10):
    """Lasso duality gap relative to ||y - ybar||^2 / n (scikit-learn's rule): the products
    with X in X's float32 (a float64 copy of X would need another 8 GB), the rest in float64;
    accurate to about 1e-6, well below the tolerances compared."""
    n = len(y)
    xbar = X.mean(axis=0, dtype=np.float64)
    yc = y.astype(np.float64) - y.mean(dtype=np.float64)
    out = {}
    for k in range(0, len(alphas), every):
        w = coefs[:, k].astype(np.float64)
        r = yc - ((X @ w.astype(X.dtype)).astype(np.float64) - xbar @ w)
        corr = (r.astype(X.dtype) @ X).astype(np.float64) / n - xbar * r.sum() / n
        c = min(1.0, alphas[k] / max(np.max(np.abs(corr)), 1e-300))
        gap = 0.5 * (1 + c**2) * (r @ r) / n + alphas[k] * np.abs(w).sum() - c * (r @ yc) / n
        out[int(k)] = float(gap / (yc @ yc / n))
    return out


def run_jaxreg(X, y, alphas, tol, device, solver):
    import jax

    import jaxreg

    t0 = time.perf_counter()
    first = jaxreg.path(X, y, alphas=alphas, tol=tol, solver=solver, device=device)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = jaxreg.path(X, y, alphas=alphas, tol=tol, solver=solver, device=device)
    t_warm = time.perf_counter() - t0
    return {
        "method": f"jaxreg path(solver={solver!r})",
        "device": str(jax.devices(device)[0]),
        "time_s": t_warm,
        "first_s": t_first,
        "compile_s": first.compile_time,
        "iterations": int(res.n_iter.max() if solver == "fista" else res.n_iter.sum()),
        "converged": bool(res.converged.all()),
        "gaps": relative_gaps(X, y, res.coefs, res.intercepts, alphas),
    }


def run_skglm(X, y, alphas, tol):
    from skglm import Lasso

    Xc = X - X.mean(axis=0)  # skglm's path has no intercept: centre once, outside the timing
    yc = y - y.mean()
    Lasso(tol=tol, fit_intercept=False).path(Xc[:200, :300], yc[:200], alphas[:3])  # numba's compilation
    t0 = time.perf_counter()
    _, coefs, _, n_iter = Lasso(tol=tol, fit_intercept=False).path(Xc, yc, alphas)
    t = time.perf_counter() - t0
    coefs = np.asarray(coefs)
    intercepts = y.mean() - X.mean(axis=0) @ coefs
    return {
        "method": "skglm Lasso.path",
        "device": f"cpu ({os.cpu_count()} cores)",
        "time_s": t,
        "iterations": int(np.sum(n_iter)),
        "gaps": relative_gaps(X, y, coefs, intercepts, alphas),
    }


def record(rows, row, out=None):
    """Print ``row``, add it to ``rows`` and rewrite ``out`` (JSON) with all of them: a
    stage cut off by a lease's time limit keeps what it had."""
    print(json.dumps(row), flush=True)
    rows.append(row)
    if out:
        with open(out, "w") as fh:
            json.dump(rows, fh, indent=1)


def combine(paths):
    rows = []
    for path in paths:
        with open(path) as fh:
            got = json.load(fh)
        rows += got if isinstance(got, list) else [got]
    ref = next((r for r in rows if r["method"].startswith("skglm")), None)
    print(
        "| method | device | n x p | alphas | time s | compile s | skglm's time / time "
        "| max rel. gap (every 10th alpha) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{ref['time_s'] / r['time_s']:.2f}" if ref else "-"
        compile_s = f"{r['compile_s']:.1f}" if "compile_s" in r else "-"
        print(
            f"| {r['method']} | {r['device']} | {r['n']} x {r['p']} | {r['n_alphas']} | {r['time_s']:.1f} "
            f"| {compile_s} | {ratio} | {max(r['gaps'].values()):.1e} |"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["jaxreg", "skglm"])
    ap.add_argument("--device", default="gpu")
    ap.add_argument(
        "--solver", nargs="+", default=["fista"], choices=["fista", "working_set"], help="jaxreg's path solver(s)"
    )
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--p", type=int, default=50000)
    ap.add_argument("--rho", type=float, default=0.5)
    ap.add_argument("--n-alphas", type=int, default=50)
    ap.add_argument("--eps", type=float, default=1e-3, help="alpha_min / alpha_max (scikit-learn's default)")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--out", help="JSON file of the rows; rewritten after each solver, so a timeout keeps the rest")
    ap.add_argument("--combine", nargs="+", metavar="JSON")
    args = ap.parse_args(argv)
    if args.combine:
        return combine(args.combine)
    t0 = time.perf_counter()
    X, y = problem(args.n, args.p, args.rho, device="cpu" if args.only == "skglm" else args.device)
    alphas = alpha_grid(X, y, args.n_alphas, args.eps)
    print(f"problem {args.n} x {args.p} drawn in {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for solver in ["skglm"] if args.only == "skglm" else args.solver:
        if solver == "skglm":
            row = run_skglm(X, y, alphas, args.tol)
        else:
            row = run_jaxreg(X, y, alphas, args.tol, args.device, solver)
        row.update(n=args.n, p=args.p, n_alphas=args.n_alphas, eps=args.eps, tol=args.tol, rho=args.rho)
        record(rows, row, args.out)


if __name__ == "__main__":
    main()
