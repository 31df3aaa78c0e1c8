"""Peak memory of a streamed fit over a .npy file many times larger than its block budget.

Writes X.npy (rows x features, float64) and y.npy in chunks, then measures in fresh
child processes (so each peak is its own):

* ``stream``: import jaxreg, fit a small file with the same shapes (compilation and
  runtime warm-up), reset the peak-RSS counter, then the streamed minibatch fit of the
  big file; reports the RSS before it and the peak during it (``VmRSS``/``VmHWM``),
  wall time, fit and compile time.
* ``memory`` (with --in-memory): ``np.load`` the file and run the same fit in memory.

Both fits use shuffle=False, the same learning rate and a fixed number of epochs, so
they see the same batches and must end with the same coefficients (checked).

    python3 experiments/streaming_memory.py --rows 2500000 --features 100 --epochs 2 --in-memory

Results are printed as JSON and as the Markdown table in experiments/reports/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_data(d: Path, rows: int, features: int, seed=0, chunk=100_000):
    rng = np.random.default_rng(seed)
    w = np.zeros(features)
    w[:: max(1, features // 10)] = rng.standard_normal(len(w[:: max(1, features // 10)]))
    X = np.lib.format.open_memmap(d / "X.npy", mode="w+", dtype=np.float64, shape=(rows, features))
    y = np.lib.format.open_memmap(d / "y.npy", mode="w+", dtype=np.float64, shape=(rows,))
    for a in range(0, rows, chunk):
        b = min(a + chunk, rows)
        Xc = rng.standard_normal((b - a, features))
        X[a:b] = Xc
        y[a:b] = Xc @ w + 0.5 + 0.1 * rng.standard_normal(b - a)
    X.flush()
    y.flush()
    del X, y


def _status_mib(field: str) -> float:
    # /proc/self/status, not getrusage: ru_maxrss survives exec, so a child started by a
    # parent that had the file mapped would report the parent's peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the fit's own."""
    Path("/proc/self/clear_refs").write_text("5")


def fit_kwargs(args):
    from jaxreg.penalties import L1

    return dict(
        penalty=L1(1e-3),
        solver="minibatch",
        batch_size=args.batch_size,
        shuffle=False,
        learning_rate=0.01,
        max_iter=args.epochs,
        tol=0.0,
        n_iter_no_change=10**6,
    )


def child(args):
    import jaxreg
    from jaxreg.streaming import NpyDataset

    d = Path(args.data)
    out = {"mode": args.child}
    if args.child == "stream":
        warm = NpyDataset(d / "small" / "X.npy", d / "small" / "y.npy", block_rows=args.block_rows, prefetch=2)
        jaxreg.fit(warm, **fit_kwargs(args))
        out["warmup_peak_rss_mib"] = _status_mib("VmHWM")
        reset_peak()
        out["rss_before_mib"] = _status_mib("VmRSS")
        ds = NpyDataset(d / "X.npy", d / "y.npy", block_rows=args.block_rows, prefetch=2)
        out["block_mib"] = ds.batches_per_block(args.batch_size) * args.batch_size * ds.n_features * 8 / 2**20
        t0 = time.perf_counter()
        res = jaxreg.fit(ds, **fit_kwargs(args))
    else:
        import jax.numpy as jnp

        jnp.zeros(1).block_until_ready()  # start the runtime, as the warm-up did above
        out["warmup_peak_rss_mib"] = _status_mib("VmHWM")
        reset_peak()
        out["rss_before_mib"] = _status_mib("VmRSS")
        t0 = time.perf_counter()
        X, y = np.load(d / "X.npy"), np.load(d / "y.npy")
        res = jaxreg.fit(X, y, **fit_kwargs(args))
    out.update(
        wall_s=time.perf_counter() - t0,
        fit_s=res.fit_time,
        compile_s=res.compile_time,
        epochs=res.n_iter,
        objective=res.objective,
        peak_rss_mib=_status_mib("VmHWM"),
    )
    np.save(d / f"coef_{args.child}.npy", res.coef)
    print("RESULT " + json.dumps(out), flush=True)


def run_child(args, mode):
    cmd = [sys.executable, __file__, "--child", mode, "--data", str(args.data), "--epochs", str(args.epochs)]
    cmd += ["--batch-size", str(args.batch_size), "--block-rows", str(args.block_rows)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_500_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--block-rows", type=int, default=5120)
    ap.add_argument("--in-memory", action="store_true", help="also measure the in-memory fit of the same file")
    ap.add_argument("--data", help="folder for the files (default: a temporary folder, removed after)")
    ap.add_argument("--child", choices=["stream", "memory"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="jaxreg-stream-")
        args.data = tmp.name
    d = Path(args.data)
    (d / "small").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_data(d, args.rows, args.features)
    write_data(d / "small", 4 * args.block_rows, args.features, seed=1)
    file_mib = (os.path.getsize(d / "X.npy") + os.path.getsize(d / "y.npy")) / 2**20
    print(f"wrote {file_mib:.0f} MiB in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    results = [run_child(args, "stream")]
    if args.in_memory:
        results.append(run_child(args, "memory"))
        diff = float(np.max(np.abs(np.load(d / "coef_stream.npy") - np.load(d / "coef_memory.npy"))))
        results[-1]["max_coef_diff_vs_stream"] = diff
    summary = {"rows": args.rows, "features": args.features, "file_mib": file_mib, "results": results}
    print(json.dumps(summary, indent=1))
    print("\n| fit | file | epochs | block | RSS before the fit | peak RSS during it | wall | fit | compile |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        block = f"{r['block_mib']:.1f} MiB" if "block_mib" in r else "-"
        cells = [r["mode"], f"{file_mib:.0f} MiB", r["epochs"], block, f"{r['rss_before_mib']:.0f} MiB"]
        cells += [
            f"{r['peak_rss_mib']:.0f} MiB",
            f"{r['wall_s']:.1f} s",
            f"{r['fit_s']:.1f} s",
            f"{r['compile_s']:.1f} s",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
