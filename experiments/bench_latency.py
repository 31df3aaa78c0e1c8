"""Latency of everyday scikit-learn workflows: jaxreg against scikit-learn, fresh processes.

Each (workflow, library, cache state) runs in a new Python process, as a user's script
would. The time is the workflow itself, after the imports (scikit-learn's and jaxreg's
imports are reported apart: ``import s``). jaxreg's compile time is read from JAX's own
monitoring events (backend compilation, and loads from the persistent cache) and reported
apart too; it is included in the workflow time, since users pay it.

Cache states: ``empty`` (a new, empty persistent compilation cache folder: what a new
user or a new jaxreg version pays) and ``filled`` (the same folder after one run of the
same workflow in another process).

    python3 experiments/bench_latency.py                      # every workflow, 3 reps
    python3 experiments/bench_latency.py --only mix quickstart --reps 5
    python3 experiments/bench_latency.py --json out.json

Workflows (scikit-learn's bundled data):

- ``lasso_cv5``: ``cross_val_score(Lasso(alpha=0.1), diabetes, cv=5)``
- ``ridge_cv10``: ``cross_val_score(Ridge(), diabetes, cv=10)``
- ``enet_grid``: ``GridSearchCV(StandardScaler + ElasticNet, 3 alphas x 3 l1_ratios, cv=5)``
- ``logistic_cv5``: ``cross_val_score(StandardScaler + LogisticRegression(C=0.5), breast_cancer, cv=5)``
- ``mix``: the four above, one after the other, in one process
- ``lassocv``: ``LassoCV(cv=5).fit(diabetes)``
- ``first_fit``: the first ``Lasso(alpha=0.1).fit`` on 200 x 50 in a new process
- ``learning_curve``: ``learning_curve(Lasso(0.1), diabetes, 5 sizes, cv=5)`` (25 row counts)
- ``quickstart``: ``python3 -m jaxreg run configs/quickstart.yaml`` end to end (whole process)
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = ("lasso_cv5", "ridge_cv10", "enet_grid", "logistic_cv5", "mix", "lassocv", "first_fit", "learning_curve")


# ----------------------------------------------------------------------------- worker


def _workflows(lib):
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, learning_curve
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xd, yd = load_diabetes(return_X_y=True)
    Xb, yb = load_breast_cancer(return_X_y=True)

    def lasso_cv5():
        return cross_val_score(lib.Lasso(alpha=0.1), Xd, yd, cv=5).mean()

    def ridge_cv10():
        return cross_val_score(lib.Ridge(), Xd, yd, cv=10).mean()

    def enet_grid():
        grid = {"elasticnet__alpha": [0.01, 0.1, 1.0], "elasticnet__l1_ratio": [0.2, 0.5, 0.8]}
        return GridSearchCV(make_pipeline(StandardScaler(), lib.ElasticNet()), grid, cv=5).fit(Xd, yd).best_score_

    def logistic_cv5():
        pipe = make_pipeline(StandardScaler(), lib.LogisticRegression(C=0.5))
        return cross_val_score(pipe, Xb, yb, cv=5).mean()

    def mix():
        return [lasso_cv5(), ridge_cv10(), enet_grid(), logistic_cv5()]

    def lassocv():
        return float(lib.LassoCV(cv=5).fit(Xd, yd).alpha_)

    def first_fit():
        rng = np.random.default_rng(0)
        X = rng.standard_normal((200, 50))
        y = X[:, :5] @ np.arange(1.0, 6.0) + 0.1 * rng.standard_normal(200)
        return float(np.abs(lib.Lasso(alpha=0.1).fit(X, y).coef_).sum())

    def learning_curve_():
        sizes = np.linspace(0.2, 1.0, 5)
        cv = KFold(5, shuffle=True, random_state=0)
        return learning_curve(lib.Lasso(alpha=0.1), Xd, yd, train_sizes=sizes, cv=cv)[2].mean()

    return {
        "lasso_cv5": lasso_cv5,
        "ridge_cv10": ridge_cv10,
        "enet_grid": enet_grid,
        "logistic_cv5": logistic_cv5,
        "mix": mix,
        "lassocv": lassocv,
        "first_fit": first_fit,
        "learning_curve": learning_curve_,
    }


def worker(workflow, library):
    """Run one workflow in this (fresh) process; print one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    compile_s = {"backend": 0.0, "cache_load": 0.0, "n_backend": 0}
    if library == "jaxreg":
        import jax

        import jaxreg as lib

        def listen(event, duration, **_):
            if event == "/jax/core/compile/backend_compile_duration":
                compile_s["backend"] += duration
                compile_s["n_backend"] += 1
            elif event == "/jax/compilation_cache/cache_retrieval_time_sec":
                compile_s["cache_load"] += duration

        jax.monitoring.register_event_duration_secs_listener(listen)
    else:
        import sklearn.linear_model as lib
    fns = _workflows(lib)
    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    value = fns[workflow]()
    elapsed = time.perf_counter() - t1
    print(json.dumps({"time": elapsed, "import": t_import, "value": str(value)[:60], **compile_s}))


# ----------------------------------------------------------------------------- driver


def run_one(workflow, library, cache_dir):
    env = dict(os.environ, JAXREG_COMPILATION_CACHE=cache_dir)
    if workflow == "quickstart":
        out = tempfile.mkdtemp()
        cmd = [sys.executable, "-m", "jaxreg", "run", "configs/quickstart.yaml", "--out", os.path.join(out, "qs")]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(proc.stderr[-2000:])
        return {"time": wall, "import": 0.0, "backend": float("nan"), "cache_load": float("nan"), "n_backend": -1}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", workflow, library]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(workflow, reps):
    """Medians over ``reps`` repetitions: scikit-learn; jaxreg with an empty cache (a new
    folder each time) and with a filled one (filled by the empty run just before)."""
    rows = {"sklearn": [], "empty": [], "filled": []}
    for _ in range(reps):
        if workflow != "quickstart":
            rows["sklearn"].append(run_one(workflow, "sklearn", "off"))
        with tempfile.TemporaryDirectory() as cache:
            rows["empty"].append(run_one(workflow, "jaxreg", cache))
            rows["filled"].append(run_one(workflow, "jaxreg", cache))
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("time", "import", "backend", "cache_load", "n_backend")}
           for k, v in rows.items() if v}
    med["values"] = {k: v[0]["value"] for k, v in rows.items() if v and "value" in v[0]}
    return med


def table(results):
    lines = [
        "| workflow | scikit-learn s | jaxreg empty s | (compile s, programs) | ratio | jaxreg filled s "
        "| (cache load s) | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for wf, m in results.items():
        sk = m.get("sklearn", {}).get("time")
        e, f = m["empty"], m["filled"]
        r_e = f"{e['time'] / sk:.1f}x" if sk else "-"
        r_f = f"{f['time'] / sk:.1f}x" if sk else "-"
        lines.append(
            f"| {wf} | {sk:.3f} | {e['time']:.2f} | ({e['backend']:.2f}, {e['n_backend']:.0f}) | {r_e} | "
            f"{f['time']:.2f} | ({f['cache_load']:.2f}) | {r_f} |"
            if sk
            else f"| {wf} | - | {e['time']:.2f} | - | - | {f['time']:.2f} | - | - |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=2, metavar=("WORKFLOW", "LIBRARY"), help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="+", choices=(*WORKFLOWS, "quickstart"), default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None, help="write the medians to this file")
    args = ap.parse_args(argv)
    if args.worker:
        return worker(*args.worker)
    results = {}
    for wf in args.only or (*WORKFLOWS, "quickstart"):
        results[wf] = measure(wf, args.reps)
        print(f"{wf}: {json.dumps(results[wf])}", flush=True)
    print(f"load average at the end: {os.getloadavg()}")
    print(table(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
