"""``jaxreg run`` on a grid of N ridge fits (issue 17, item 8): the process's wall time
against the summed solver time (``fit_time``) and the summed time of the ``jaxreg.fit``
calls (``call_time``: validation and transfers too) of its metrics.json.

    python3 experiments/run_grid_overhead.py [N ...]   (default 1000 10000; 3 runs each)

Prints one line per N: medians over the runs (the first, which fills the compile cache, is
extra and not counted), and the load average (the machine may be shared).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def one(n, folder):
    cfg = {
        "name": f"ridge_grid_{n}",
        "data": {"kind": "linear", "n_samples": 200, "n_features": 20, "seed": 0},
        "models": [{"name": "ridge", "penalty": {"kind": "l2", "alpha": [float(a) for a in np.logspace(-3, 3, n)]}}],
    }
    path = Path(folder) / f"grid{n}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = Path(folder) / f"out{n}"
    cmd = [sys.executable, "-m", "jaxreg", "run", str(path), "--out", str(out), "--overwrite", "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    fits = json.loads((out / "metrics.json").read_text())["fits"]
    assert len(fits) == n and all(f["status"] == "converged" for f in fits)
    return wall, sum(f["fit_time"] for f in fits), sum(f["call_time"] for f in fits)


def main(sizes):
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            one(n, folder)  # warm-up: compile cache
            runs = [one(n, folder) for _ in range(3)]
            wall, fit, call = (statistics.median(x) for x in zip(*runs, strict=True))
            print(
                f"N={n}: wall {wall:.2f} s, sum fit_time {fit:.2f} s (wall/fit {wall / fit:.1f}x), "
                f"sum call_time {call:.2f} s (wall/call {wall / call:.1f}x); load {os.getloadavg()[0]:.2f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
