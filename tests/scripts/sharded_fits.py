"""Sharded fits in a process that sees several devices, for tests/test_sharding.py.

Run as ``python sharded_fits.py --solvers fista,gd`` with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` in the environment (JAX reads it
when it starts, which is why this is a separate process); with ``--process-id``,
``--num-processes`` and ``--port`` it first joins a ``jax.distributed`` cluster on
127.0.0.1. Prints one line ``RESULT <json>``: per solver the coefficients, intercept and
iteration count of the fit sharded over all devices, and what the sharding looked like.
"""

import argparse
import json
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for the problems

from sharding_problems import PROBLEMS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--solvers", required=True)
    ap.add_argument("--process-id", type=int)
    ap.add_argument("--num-processes", type=int)
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.num_processes:
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.num_processes,
            process_id=args.process_id,
            initialization_timeout=60,
        )
    import numpy as np

    import jaxreg
    from jaxreg import _sharding

    fit_module = sys.modules["jaxreg.fit"]
    out = {"process_count": jax.process_count(), "device_count": jax.device_count(), "fits": {}}
    for name in args.solvers.split(","):
        X, y, kwargs = PROBLEMS[name]()
        res = jaxreg.fit(X, y, devices=jax.devices(), **kwargs)
        out["fits"][name] = {
            "coef": np.asarray(res.coef).tolist(),
            "intercept": np.asarray(res.intercept).tolist(),
            "n_iter": res.n_iter,
            "device": res.device,
        }
    # What the data looked like on the devices, and what the compiled solver expected.
    X, y, kwargs = PROBLEMS[args.solvers.split(",")[0]]()
    with jax.enable_x64(True):
        data = _sharding.shard_data(X, y, np.ones(len(y)), jax.devices())
    out["global_shape"] = list(data.X.shape)
    out["spec"] = str(data.X.sharding.spec)
    out["local_rows"] = sorted(
        [int(s.index[0].start or 0), int(s.index[0].stop or data.X.shape[0])] for s in data.X.addressable_shards
    )
    out["local_weight"] = float(sum(np.asarray(s.data).sum() for s in data.weights.addressable_shards))
    # the first solver's executable (the cache also holds small helpers such as the
    # initial intercept's program)
    runs = {spec.run for spec in jaxreg.solvers.SOLVERS.values()}
    exe = next(v for k, v in fit_module._COMPILED.items() if k[0] in runs)
    out["compiled_X_spec"] = str(exe.input_shardings[0][0].X.spec)
    out["all_reduce"] = "all-reduce" in exe.as_text()
    print("RESULT " + json.dumps(out), flush=True)
    if args.num_processes:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
