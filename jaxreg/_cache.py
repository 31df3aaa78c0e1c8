"""JAX's persistent compilation cache, switched on by jaxreg's first fit (not on import).

Compiling the solvers costs seconds; with the cache a new process loads the executables
from disk instead. The folder is ``$JAXREG_COMPILATION_CACHE`` when that names a folder,
else ``$XDG_CACHE_HOME/jaxreg/jax-compilation`` (``~/.cache/jaxreg/jax-compilation``).

Turn it off with ``JAXREG_COMPILATION_CACHE=off`` (or ``0``, ``false``, ``no``) in the
environment, or :func:`disable_compilation_cache` before the first fit. A cache folder the
user has already given JAX (``jax_compilation_cache_dir``) is left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["enable_compilation_cache", "disable_compilation_cache", "compilation_cache_dir", "ENV_VAR"]

ENV_VAR = "JAXREG_COMPILATION_CACHE"
_OFF = {"0", "off", "false", "no", "none"}
_state: dict = {"decided": False, "ours": None}


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxreg" / "jax-compilation"


def _apply(path):
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    jax.config.update("jax_compilation_cache_dir", path)
    if path is not None:
        # Our pieces compile in well under JAX's default 1 s threshold on a quiet machine.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    cc.reset_cache()  # takes effect even if something was compiled before


def enable_compilation_cache(path=None) -> str:
    """Use JAX's persistent compilation cache in ``path`` (default: see the module).

    Returns the folder. Overrides a folder set earlier through jaxreg.
    """
    folder = Path(path) if path is not None else default_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _apply(str(folder))
    _state.update(decided=True, ours=str(folder))
    return str(folder)


def disable_compilation_cache() -> None:
    """Stop using the cache jaxreg switched on (and never switch it on in this process)."""
    if _state["ours"] is not None:
        _apply(None)
    _state.update(decided=True, ours=None)


def compilation_cache_dir() -> str | None:
    """The folder jaxreg switched on, or None."""
    return _state["ours"]


def ensure_compilation_cache() -> None:
    """Called by every fit: decides once per process, from the environment."""
    if _state["decided"]:
        return
    _state["decided"] = True
    setting = os.environ.get(ENV_VAR, "").strip()
    if setting.lower() in _OFF:
        return
    import jax

    if not setting and jax.config.jax_compilation_cache_dir:
        return  # the user's own choice
    try:
        enable_compilation_cache(setting or None)
    except OSError:  # an unwritable home folder: run without the cache
        _state["ours"] = None
