"""Sparse products: jaxreg's segment-sum formats against jax.experimental.sparse (BCOO)
and scipy, on a bag-of-words-like random sparse matrix.

The solvers use ``X @ w`` and ``X.T @ u`` once each per iteration, so the pair is timed
together (jit-compiled, float64, warm: the first call, which compiles, is excluded;
median of repetitions; ratios against BCOO measured in the same run).

    python3 experiments/sparse_matvec.py --rows 20000 --features 50000 --density 0.001
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from jaxreg import _sparse


def median_time(f, reps):
    jax.block_until_ready(f())  # warm-up (compiles)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--features", type=int, default=50_000)
    ap.add_argument("--density", type=float, default=0.001)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    with jax.enable_x64(True):
        run(args)


def run(args):
    rng = np.random.default_rng(0)
    X = sp.random(args.rows, args.features, density=args.density, format="csr", random_state=0)
    w = rng.standard_normal(args.features)
    u = rng.standard_normal(args.rows)
    dev = jax.devices()[0]
    rows = _sparse.to_jax(X, dev, row_batches=False)
    padded = _sparse.to_jax(X, dev, row_batches=True)
    bcoo = jsparse.BCOO.from_scipy_sparse(X)
    wj, uj = jnp.asarray(w), jnp.asarray(u)
    pair = jax.jit(lambda A, w, u: (A @ w, A.T @ u))
    candidates = {
        "BCOO (jax.experimental.sparse)": lambda: pair(bcoo, wj, uj),
        "SparseRows (segment sums, full batch)": lambda: pair(rows, wj, uj),
        "PaddedRows (ELL, mini-batch format)": lambda: pair(padded, wj, uj),
        "scipy CSR (1 thread, not jit)": lambda: (X @ w, X.T @ u),
    }
    ref = (X @ w, X.T @ u)
    for name, f in candidates.items():
        z, g = f()
        assert np.allclose(z, ref[0]) and np.allclose(g, ref[1]), name
    times = {name: median_time(f, args.reps) for name, f in candidates.items()}
    base = times["BCOO (jax.experimental.sparse)"]
    print(f"X: {args.rows} x {args.features}, {X.nnz} nonzeros, longest row {np.diff(X.indptr).max()}")
    print("\n| format | X @ w and X.T @ u (median) | time / BCOO |")
    print("| --- | --- | --- |")
    for name, t in times.items():
        print(f"| {name} | {t * 1e3:.2f} ms | {t / base:.2f} |")


if __name__ == "__main__":
    main()
