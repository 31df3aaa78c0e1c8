"""One compile cache for the package: ahead-of-time compiled executables, in memory and on
disk.

Every jit-compiled piece jaxreg runs goes through :func:`compiled` (``fit``'s solvers) or a
:class:`Compiler` (the host-driven solvers' pieces, paths, cross-validation). An executable
is keyed on the function, its static settings, and the structure, shapes and dtypes of its
arguments: never on their values, so a new alpha, tol or learning rate reuses it.

On disk: JAX's persistent compilation cache (:mod:`jaxreg._cache`) spares a new process the
XLA compilation, but not the tracing and lowering that JAX needs to compute its own cache
key, which for jaxreg's solvers costs 50-200 ms per program. So jaxreg also stores each
freshly compiled executable itself (``jax.experimental.serialize_executable``) under a key it computes
without tracing, in ``executables/`` beside JAX's cache. The key holds everything the
program depends on: jaxreg's own source (a hash of the package's files), the versions of
jax and jaxlib, the platform and device, the x64 and matmul-precision settings,
``XLA_FLAGS``, the static settings and the argument structure. Only programs whose every
part is named by that key are stored: functions with a module-level name, static settings
of plain types (no user callables or optimizers) and argument trees made of containers and
jaxreg's own classes (a user's subclass of a loss is compiled, not stored). A file that
cannot be read is ignored and replaced.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from pathlib import Path

import jax

from jaxreg import _cache

__all__ = ["Compiler", "compiled", "CACHE", "stats", "default_device"]

CACHE: dict = {}  # every executable of the process, keyed on (function, static, structure)
stats = {"compiled": 0, "disk_loads": 0, "disk_stores": 0}
_PLAIN = (type(None), bool, int, float, str)
_source_hash: list = []


def _plain(value) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def _own_types(treedef) -> bool:
    """Whether every node of ``treedef`` is a builtin container or a jaxreg class whose
    static fields are plain values (a user's function in a ``custom_loss`` is not: its
    repr names an address, not its code, so it cannot key a stored program)."""
    data = treedef.node_data()
    if data is not None:
        kind = data[0]
        if kind not in (tuple, list, dict) and not kind.__module__.startswith("jaxreg."):
            return False
        if kind not in (tuple, list, dict) and not _plain(tuple(data[1] or ())):
            return False
    return all(_own_types(c) for c in treedef.children())


def source_hash() -> str:
    """A hash of the package's Python files (computed once per process)."""
    if not _source_hash:
        h = hashlib.sha256()
        root = Path(__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _source_hash.append(h.hexdigest())
    return _source_hash[0]


def _leaf_key(x):
    if isinstance(x, jax.Array):
        sharding = x.sharding
        if not isinstance(sharding, jax.sharding.SingleDeviceSharding):
            return None
        return (tuple(x.shape), x.dtype.str, bool(getattr(x, "weak_type", False)), next(iter(sharding.device_set)).id)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return (tuple(x.shape), x.dtype.str, False, None)
    return None  # Python scalars and anything else: not stored


def default_device():
    """The device a computation without placed inputs runs on (``jax.default_device`` if
    set, as a device or a platform name, else the first device)."""
    device = jax.config.jax_default_device
    if isinstance(device, str):
        return jax.devices(device)[0]
    return device if device is not None else jax.devices()[0]


def _disk_path(fn, leaves, treedef, static, options):
    """The file for this program, or None when it may not be stored (module docstring)."""
    folder = _cache.compilation_cache_dir()
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"
    if folder is None or "<" in name or not name.startswith("jaxreg.") or not _plain(tuple(static)):
        return None
    leaf_keys = tuple(_leaf_key(x) for x in leaves)
    if any(k is None for k in leaf_keys) or not _own_types(treedef):
        return None
    device = default_device()
    key = repr(
        (
            name,
            static,
            str(treedef),
            leaf_keys,
            source_hash(),
            jax.__version__,
            jax.lib.__version__ if hasattr(jax.lib, "__version__") else "",
            device.platform,
            device.device_kind,
            device.id,
            device.client.platform_version,
            bool(jax.config.jax_enable_x64),
            str(jax.config.jax_default_matmul_precision),
            os.environ.get("XLA_FLAGS", ""),
            sorted(options.items()),
        )
    )
    return Path(folder) / "executables" / (hashlib.sha256(key.encode()).hexdigest() + ".bin")


def _prepare_runtime():
    """What lowering would have set up for the custom calls a loaded executable makes:
    on the CPU, jaxlib binds its LAPACK kernels (Cholesky, triangular solves) to scipy's
    LAPACK only when a program using them is first lowered, and an executable loaded
    without lowering would call unbound kernels."""
    if not _prepared:
        from jax._src.lib import lapack

        lapack._lapack.initialize()
        _prepared.append(True)


_prepared: list = []


def _load(path):
    from jax.experimental.serialize_executable import deserialize_and_load

    if not path.exists():
        return None
    try:
        _prepare_runtime()
        with open(path, "rb") as fh:
            payload, in_tree, out_tree = pickle.load(fh)
        exe = deserialize_and_load(payload, in_tree, out_tree)
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: compile again and replace it
        return None
    stats["disk_loads"] += 1
    try:
        os.utime(path)  # recently used: the last to be pruned
    except OSError:
        pass
    return exe


MAX_STORE_BYTES = 512 * 2**20  # the store is pruned to 3/4 of this, least recently used first
_pruned: list = []


def prune(folder, max_bytes=MAX_STORE_BYTES):
    """Delete the least recently used files of the store while it holds more than
    ``max_bytes`` (down to 3/4 of it). Every change of jaxreg's source or of jax makes new
    keys, so old programs would otherwise pile up. Returns the number of files deleted."""
    try:
        stats_ = [(e.stat(), e.path) for e in os.scandir(folder) if e.name.endswith(".bin")]
    except OSError:
        return 0
    entries = [(st.st_mtime, st.st_size, path) for st, path in stats_]
    total, deleted = sum(size for _, size, _ in entries), 0
    if total <= max_bytes:
        return 0
    for _, size, path in sorted(entries):  # oldest first
        if total <= max_bytes * 3 // 4:
            break
        try:
            os.remove(path)
            total, deleted = total - size, deleted + 1
        except OSError:
            pass
    return deleted


def _store(path, exe):
    from jax.experimental.serialize_executable import serialize

    try:
        blob = pickle.dumps(serialize(exe))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)  # whole or not at all, whoever else writes the same key
        stats["disk_stores"] += 1
        if not _pruned:  # once per process
            _pruned.append(prune(path.parent))
    except Exception:  # an unwritable folder or an executable that cannot be serialized
        pass


_jax_cache_hits: list = []


def _count_jax_cache_hits(event, **_):
    if event == "/jax/compilation_cache/cache_hits":
        _jax_cache_hits.append(1)


jax.monitoring.register_event_listener(_count_jax_cache_hits)


def compiler_options(leaves) -> dict:
    """XLA options for a program on these arguments: on the CPU, for small data (at most
    ``FAST_COMPILE_ENTRIES`` array entries in all), XLA's older loop emitters
    (``xla_cpu_use_fusion_emitters=False``), which build the same programs in about 30%
    less time; their code is slower on some loops, which matters only where the data is
    large (experiments/reports/latency.md)."""
    if default_device().platform != "cpu":
        return {}
    entries = sum(int(getattr(x, "size", 1)) for x in leaves)
    return dict(FAST_COMPILE) if entries <= FAST_COMPILE_ENTRIES else {}


FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False}
FAST_COMPILE_ENTRIES = 1 << 20


def _compile_fresh(lowered, options):
    """``lowered.compile()`` bypassing JAX's persistent cache (whose executables cannot be
    stored again, see :func:`compiled`): this program goes to jaxreg's store instead."""
    try:
        from jax._src import compilation_cache as cc

        if not cc._cache_checked:  # let JAX decide once, as it would on its first compile
            cc.is_cache_used(jax.devices()[0].client)
        saved = cc._cache_used
    except (ImportError, AttributeError):  # another jax: its cache may serve this one
        return lowered.compile(compiler_options=options)
    cc._cache_used = False
    try:
        return lowered.compile(compiler_options=options)
    finally:
        cc._cache_used = saved


def compiled(fn, args, static: dict):
    """``(executable, compile seconds)`` for ``fn(*args, **static)``: from memory, from
    disk, or compiled now (and stored in both)."""
    leaves, treedef = jax.tree.flatten(args)
    static_items = tuple(sorted(static.items(), key=lambda kv: kv[0]))
    key = (
        fn,
        static_items,
        treedef,
        tuple((getattr(x, "shape", ()), getattr(x, "dtype", type(x))) for x in leaves),
        tuple(str(getattr(x, "sharding", "")) for x in leaves[:1]),
        bool(jax.config.jax_enable_x64),
    )
    exe = CACHE.get(key)
    if exe is not None:
        return exe, 0.0
    t0 = time.perf_counter()
    options = compiler_options(leaves)
    path = _disk_path(fn, leaves, treedef, static_items, options)
    exe = _load(path) if path is not None else None
    if exe is None:
        lowered = fn.lower(*args, **static)
        hits = len(_jax_cache_hits)
        exe = _compile_fresh(lowered, options) if path is not None else lowered.compile(compiler_options=options)
        stats["compiled"] += 1
        # An executable JAX loaded from its own persistent cache serializes without its
        # CPU kernels ("Function ... not found" when the copy is run): store fresh ones only
        # (_compile_fresh bypasses that cache; this guards its fallback on another jax).
        if path is not None and len(_jax_cache_hits) == hits:
            _store(path, exe)
    CACHE[key] = exe
    return exe, time.perf_counter() - t0


class Compiler:
    """Calls pieces through :func:`compiled` and adds up this instance's compile time
    (``compile_time``) and the programs it had to build or load (``compiled``)."""

    cache = CACHE

    def __init__(self):
        self.compile_time = 0.0
        self.compiled = 0

    def __call__(self, fn, *args, **static):
        exe, seconds = compiled(fn, args, static)
        if seconds:
            self.compile_time += seconds
            self.compiled += 1
        return exe(*args)
