#!/usr/bin/env bash
# Issue 6's GPU checks as one command for a lent GPU machine (a lease is minutes, so every
# stage has its own time limit and writes its figures as soon as it has them). In the
# repository root of the GPU machine:
#
#   bash experiments/gpu_check.sh OUTDIR
#
# Stages: the GPU and JAX it sees; a small float32 lasso on the GPU against scikit-learn;
# the path target (50 alphas, 20000 x 50000 float32: batched FISTA, then the working set);
# single fits, working set against FISTA (what `auto` should pick on a GPU); a slice of the
# test suite with JAX's default device the GPU. The CPU half of the path target (skglm) runs
# on the project machine: `python3 experiments/bench_gpu_path.py --only skglm --out cpu.json`.
set -u
out=${1:?usage: gpu_check.sh OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
stage() { echo "=== $1 ($(date +%T))"; }

stage "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, optax, numpy, sklearn; print('jax', jax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, 'sklearn', sklearn.__version__, jax.devices())"

stage "smoke: float32 lasso on the GPU against scikit-learn (float64)"
timeout 60 python3 - <<'EOF'
import numpy as np
from sklearn.linear_model import Lasso

import jaxreg
from jaxreg.datasets import make_correlated_regression

X, y, _ = make_correlated_regression(400, 1500, rho=0.5, n_informative=30, seed=1, dtype=np.float32)
alpha = 0.1 * jaxreg.alpha_max(X, y)
ref = Lasso(alpha=alpha, tol=1e-12, max_iter=100000).fit(X.astype(np.float64), y.astype(np.float64))
for solver in ["working_set", "fista"]:
    r = jaxreg.fit(X, y, penalty=jaxreg.L1(alpha), solver=solver, tol=1e-7, max_iter=20000, device="gpu")
    err = np.max(np.abs(r.coef - ref.coef_)) / np.max(np.abs(ref.coef_))
    same = np.array_equal(np.abs(r.coef) > 1e-4, np.abs(ref.coef_) > 1e-4)
    print(f"{solver}: n_iter {r.n_iter} converged {r.converged} max|coef - sklearn|/max|coef| {err:.1e} "
          f"support (|w| > 1e-4) equal {same}")
EOF

stage "path target: 50 alphas, 20000 x 50000 float32 (fista, then working_set)"
timeout 280 python3 experiments/bench_gpu_path.py --only jaxreg --device gpu --solver fista working_set \
    --out "$out/gpu_path.json"

stage "single fits: working set against FISTA, n = 2000"
timeout 100 python3 experiments/bench_gpu_fit.py --device gpu --p 10000 50000 --out "$out/gpu_fit.json"

stage "tests with the GPU as JAX's default device"
timeout 75 python3 -m pytest -q -x -p no:cacheprovider tests/test_working_set.py tests/test_path_cv.py 2>&1 | tail -15
stage "done"
