"""Data-parallel fits: rows sharded over several devices, in one process and in two.

JAX fixes its device count when it starts, and the other tests must keep seeing one
device, so the sharded fits run in subprocesses (tests/scripts/sharded_fits.py) with
``XLA_FLAGS=--xla_force_host_platform_device_count``; the reference is the same fit on
one device in this process. n = 103 is not a multiple of the device count, so padding
is exercised.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from sharding_problems import PROBLEMS

import jaxreg
from jaxreg.penalties import L1

SCRIPT = Path(__file__).parent / "scripts" / "sharded_fits.py"
ROOT = Path(__file__).resolve().parents[1]


def _env(n_devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n_devices}".strip()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _result(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT line in the subprocess output:\n{stdout[-2000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def _single_device(name):
    X, y, kwargs = PROBLEMS[name]()
    return jaxreg.fit(X, y, **kwargs)


def _assert_same_fit(sharded, single):
    np.testing.assert_allclose(np.asarray(sharded["coef"]), single.coef, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(sharded["intercept"]), single.intercept, rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def four_devices():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--solvers", "gd,fista,minibatch,lbfgs"],
        env=_env(4),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _result(proc.stdout)


@pytest.mark.parametrize("name", ["gd", "fista", "minibatch", "lbfgs"])
def test_sharded_fit_equals_single_device_fit(four_devices, name):
    single = _single_device(name)
    sharded = four_devices["fits"][name]
    _assert_same_fit(sharded, single)
    if name != "fista":  # fixed iteration counts (tol=0) or the same path to the same optimum
        assert sharded["n_iter"] == single.n_iter
    assert sharded["device"].count(",") == 3  # the fit ran on all four devices


def test_rows_really_are_sharded(four_devices):
    r = four_devices
    assert r["device_count"] == 4
    assert r["global_shape"] == [104, 9]  # 103 rows padded to a multiple of 4
    assert r["spec"] == "P('samples',)"
    assert r["local_rows"] == [[0, 26], [26, 52], [52, 78], [78, 104]]
    assert r["local_weight"] == 103.0  # the padding row has weight 0
    # the compiled solver takes X sharded by rows and reduces across devices
    assert r["compiled_X_spec"] == "P('samples',)"
    assert r["all_reduce"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_loopback_get_the_single_process_answer():
    """jax.distributed over two local CPU processes (2 devices each, gloo collectives):
    each process holds half the rows and both end with the single-process fit."""
    port = _free_port()
    cmd = [sys.executable, str(SCRIPT), "--solvers", "fista,minibatch", "--num-processes", "2", "--port", str(port)]
    procs = [
        subprocess.Popen(
            [*cmd, "--process-id", str(i)], env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-3000:]
            outputs.append(_result(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for name in ("fista", "minibatch"):
        single = _single_device(name)
        for r in outputs:
            _assert_same_fit(r["fits"][name], single)
    assert [r["process_count"] for r in outputs] == [2, 2]
    assert [r["device_count"] for r in outputs] == [4, 4]
    # each process holds its own half of the (padded) rows, on its own two devices
    assert outputs[0]["local_rows"] == [[0, 26], [26, 52]]
    assert outputs[1]["local_rows"] == [[52, 78], [78, 104]]
    assert outputs[0]["local_weight"] + outputs[1]["local_weight"] == 103.0


@pytest.mark.parametrize(
    "devices, match",
    [
        (len(jax.devices()) + 1, "devices=.*is not allowed.*device\\(s\\) are available"),
        (0, "devices=0 is not allowed"),
        ("all", "devices='all' is not allowed"),
        (True, "devices=True is not allowed"),
        ([], "devices=\\[\\] is not allowed"),
    ],
)
def test_bad_devices_name_the_argument(devices, match):
    X, y, _ = PROBLEMS["gd"]()
    with pytest.raises(ValueError, match=match):
        jaxreg.fit(X, y, penalty=L1(0.1), solver="fista", devices=devices)


def test_device_and_devices_together_are_refused():
    X, y, _ = PROBLEMS["gd"]()
    with pytest.raises(ValueError, match="device=.*devices=.*were both given"):
        jaxreg.fit(X, y, penalty=L1(0.1), solver="fista", device="cpu", devices=1)
