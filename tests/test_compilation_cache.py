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
