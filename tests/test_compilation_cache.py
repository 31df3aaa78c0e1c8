"""The persistent compilation cache jaxreg switches on (lazily, with an off switch)."""

import jax
import pytest

from jaxreg import _cache


@pytest.fixture
def fresh_cache_state(monkeypatch):
    saved = dict(_cache._state)
    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setattr(_cache, "_state", {"decided": False, "ours": None})
    yield
    _cache._apply(before)
    _cache._state.clear()
    _cache._state.update(saved)


def test_first_fit_switches_it_on_in_the_user_cache_folder(fresh_cache_state, monkeypatch, tmp_path):
    monkeypatch.delenv(_cache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    jax.config.update("jax_compilation_cache_dir", None)  # the fixture restores it
    _cache.ensure_compilation_cache()
    assert _cache.compilation_cache_dir() == str(tmp_path / "jaxreg" / "jax-compilation")
    assert jax.config.jax_compilation_cache_dir == _cache.compilation_cache_dir()
    assert (tmp_path / "jaxreg" / "jax-compilation").is_dir()


@pytest.mark.parametrize("value", ["off", "0", "false"])
def test_environment_switch_turns_it_off(fresh_cache_state, monkeypatch, value):
    monkeypatch.setenv(_cache.ENV_VAR, value)
    before = jax.config.jax_compilation_cache_dir
    _cache.ensure_compilation_cache()
    assert _cache.compilation_cache_dir() is None
    assert jax.config.jax_compilation_cache_dir == before


def test_environment_names_the_folder_and_disable_undoes_it(fresh_cache_state, monkeypatch, tmp_path):
    monkeypatch.setenv(_cache.ENV_VAR, str(tmp_path / "here"))
    _cache.ensure_compilation_cache()
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "here")
    _cache.disable_compilation_cache()
    assert jax.config.jax_compilation_cache_dir is None and _cache.compilation_cache_dir() is None
    _cache.ensure_compilation_cache()  # decided once: stays off
    assert _cache.compilation_cache_dir() is None


# ----------------------------------------------------------------------------- jaxreg's executable store

STORE_SCRIPT = r"""
import json, sys
import numpy as np
import jaxreg
from jaxreg import _compile
from jaxreg.penalties import L1, L2, LInf
rng = np.random.default_rng(0)
X = rng.standard_normal((60, 300)); y = X[:, :4] @ [3.0, -2.0, 1.0, 0.5] + 0.1 * rng.standard_normal(60)
fits = {
    "gram_cd": jaxreg.fit(X[:, :20], y, penalty=L1(0.05), tol=1e-10),  # a Cholesky inside (LAPACK)
    "working_set": jaxreg.fit(X, y, penalty=L1(0.05), tol=1e-10),
    "logistic": jaxreg.fit(X[:, :20], y > 0, loss="logistic", penalty=L1(0.01), tol=1e-8),
    "fista": jaxreg.fit(X[:, :20], y, penalty=LInf(0.5), solver="fista", tol=1e-8),
    "lbfgs": jaxreg.fit(X[:, :20], y > 0, loss="logistic", penalty=L2(0.1), solver="lbfgs", tol=1e-8),
}
print(json.dumps({"stats": _compile.stats, "coef": {k: r.coef.tolist() for k, r in fits.items()},
                  "solvers": {k: r.solver for k, r in fits.items()}}))
"""


def _run_store_script(cache):
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, JAXREG_COMPILATION_CACHE=str(cache))
    proc = subprocess.run([sys.executable, "-c", STORE_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_new_process_loads_the_stored_executables_and_gets_the_same_fits(tmp_path):
    import numpy as np

    first = _run_store_script(tmp_path)
    assert first["stats"]["disk_stores"] >= 5 and first["stats"]["disk_loads"] == 0
    second = _run_store_script(tmp_path)  # nothing compiled: every program loaded, none traced
    assert second["stats"]["compiled"] == 0 and second["stats"]["disk_loads"] == first["stats"]["disk_stores"]
    assert second["solvers"]["working_set"] == "working_set" and second["solvers"]["gram_cd"] == "gram_cd"
    for name, coef in first["coef"].items():
        np.testing.assert_array_equal(np.asarray(second["coef"][name]), np.asarray(coef), err_msg=name)
    # a damaged file is ignored and replaced, never loaded
    for path in (tmp_path / "executables").iterdir():
        path.write_bytes(path.read_bytes()[:100])
    third = _run_store_script(tmp_path)
    assert third["stats"]["disk_loads"] == 0 and third["stats"]["disk_stores"] == first["stats"]["disk_stores"]
    for name, coef in first["coef"].items():
        np.testing.assert_array_equal(np.asarray(third["coef"][name]), np.asarray(coef), err_msg=name)


def test_programs_of_a_users_own_classes_are_not_stored(tmp_path, monkeypatch):
    # the store's key names jaxreg's classes by name: a user's subclass could share a name
    import numpy as np

    from jaxreg import _compile
    from jaxreg.losses import Squared

    class Mine(Squared):  # defined here, not in jaxreg: compiled, never stored
        pass

    monkeypatch.setattr(_cache, "compilation_cache_dir", lambda: str(tmp_path))
    leaves, treedef = jax.tree.flatten((Mine(), np.ones(3)))
    fn = jax.jit(lambda loss, x: x)
    fn.__module__, fn.__qualname__ = "jaxreg.fit", "named"
    assert _compile._disk_path(fn, leaves, treedef, (), {}) is None
    leaves, treedef = jax.tree.flatten((Squared(), np.ones(3)))
    assert _compile._disk_path(fn, leaves, treedef, (), {}) is not None
    assert _compile._disk_path(fn, leaves, treedef, (("optimizer", object()),), {}) is None


def test_the_store_is_pruned_least_recently_used_first(tmp_path):
    import os

    from jaxreg import _compile

    for i in range(10):  # 10 files of 100 bytes, file i last used at time 1000 + i
        path = tmp_path / f"{i}.bin"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + i, 1000 + i))
    (tmp_path / "other.txt").write_bytes(b"y" * 5000)  # not the store's: never touched
    assert _compile.prune(tmp_path, max_bytes=2000) == 0  # 1000 bytes: under the limit
    assert _compile.prune(tmp_path, max_bytes=800) == 4  # down to 3/4 of 800: the 4 oldest go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4.bin", "5.bin", "6.bin", "7.bin", "8.bin", "9.bin", "other.txt"]
