"""Every program a typical fit builds, with its compile time: one fresh process per fit,
all caches off, JAX's compile log parsed (tracing, lowering to MLIR, XLA compilation).

    python3 experiments/compile_programs.py            # the table (markdown)
    python3 experiments/compile_programs.py --json f   # also the rows

A "typical fit" is one call of ``jaxreg.fit`` (or an estimator) on small data (442 x 10,
diabetes-sized, float64 unless said), the first in its process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

FITS = {
    "lasso (auto)": "jaxreg.fit(X, y, penalty=jaxreg.L1(0.1))",
    "lasso working_set": "jaxreg.fit(X, y, penalty=jaxreg.L1(0.1), solver='working_set')",
    "lasso fista": "jaxreg.fit(X, y, penalty=jaxreg.L1(0.1), solver='fista')",
    "ridge (auto)": "jaxreg.fit(X, y, penalty=jaxreg.L2(0.1))",
    "linf fista": "jaxreg.fit(X, y, penalty=jaxreg.LInf(0.1), solver='fista')",
    "lp fista": "jaxreg.fit(X, y, penalty=jaxreg.penalties.Lp(0.1, 1.5), solver='fista')",
    "logistic l2 (auto)": "jaxreg.fit(X, c, loss='logistic', penalty=jaxreg.L2(0.01))",
    "logistic l2 lbfgs": "jaxreg.fit(X, c, loss='logistic', penalty=jaxreg.L2(0.01), solver='lbfgs')",
    "logistic l1 (auto)": "jaxreg.fit(X, c, loss='logistic', penalty=jaxreg.L1(0.01))",
    "lasso float32 (auto)": "jaxreg.fit(X.astype('f4'), y.astype('f4'), penalty=jaxreg.L1(0.1))",
    "ridge gd": "jaxreg.fit(X, y, penalty=jaxreg.L2(0.1), solver='gd', max_iter=100)",
    "LassoCV(cv=5)": "jaxreg.LassoCV(cv=5).fit(X, y)",
}

WORKER = r"""
import logging, sys, warnings
warnings.simplefilter("ignore")
import jax
jax.config.update("jax_log_compiles", True)
import numpy as np, jaxreg
from sklearn.datasets import load_diabetes
X, y = load_diabetes(return_X_y=True)
X = (X - X.mean(0)) / X.std(0)
c = y > np.median(y)
{stmt}
"""

PATTERNS = {
    "trace": re.compile(r"Finished tracing \+ transforming (\S+) for pjit in ([0-9.e-]+) sec"),
    "trace2": re.compile(r"Finished tracing (\S+) for jit in ([0-9.e-]+) sec"),
    "lower": re.compile(r"Finished jaxpr to MLIR module conversion jit\((\S+)\) in ([0-9.e-]+) sec"),
    "compile": re.compile(r"Finished XLA compilation of jit\((\S+)\) in ([0-9.e-]+) sec"),
}


def programs(stmt):
    env = dict(os.environ, JAXREG_COMPILATION_CACHE="off")
    proc = subprocess.run([sys.executable, "-c", WORKER.format(stmt=stmt)], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    rows = {}
    for line in proc.stderr.splitlines():
        for kind, pat in PATTERNS.items():
            m = pat.search(line)
            if m:
                name, sec = m.group(1), float(m.group(2))
                kind = "trace" if kind == "trace2" else kind
                if kind == "compile":
                    rows.setdefault("_order", []).append((name, sec))
                else:
                    rows.setdefault(kind, {}).setdefault(name, []).append(sec)
    out = []
    for name, sec in rows.get("_order", []):
        tr = rows.get("trace", {}).get(name, [0.0])
        lo = rows.get("lower", {}).get(name, [0.0])
        trace_lower = (tr.pop(0) if tr else 0.0) + (lo.pop(0) if lo else 0.0)
        out.append({"program": name, "trace_lower": trace_lower, "compile": sec})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    result = {name: programs(stmt) for name, stmt in FITS.items()}
    print("| fit | programs (XLA compile s; + trace/lower s) | total s |")
    print("| --- | --- | --- |")
    for name, rows in result.items():
        total = sum(r["compile"] + r["trace_lower"] for r in rows)
        big = [r for r in rows if r["compile"] > 0.01]
        cells = ", ".join(f"{r['program']} {r['compile']:.2f}+{r['trace_lower']:.2f}" for r in big)
        small = sum(1 for r in rows if r["compile"] <= 0.01)
        cells += f" (+{small} under 0.01 s)" if small else ""
        print(f"| {name} | {cells} | {total:.2f} |")
    print(f"\nload average: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
