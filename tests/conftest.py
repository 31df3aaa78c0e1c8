import ctypes
import ctypes.util
import gc
import os

# One BLAS thread per process: CI runs two xdist workers on two cores, and OpenBLAS's own
# threads spin-wait when they oversubscribe them (a 0.4 s ridge test took 24 s in the suite).
# Set in the environment for the subprocesses tests start, and limited now for this one.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 (after the BLAS thread settings above)
import pytest  # noqa: E402

try:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
except ImportError:  # scikit-learn installs threadpoolctl; without it the environment above still applies
    pass

_LIBC_NAME = ctypes.util.find_library("c")  # (runs ldconfig: once)
_LIBC = ctypes.CDLL(_LIBC_NAME) if _LIBC_NAME else None


def pytest_runtest_teardown(item, nextitem):
    """Between test modules, drop every compiled program (jaxreg's cache and JAX's) and hand
    the freed heap back to the system. Kept, they made a worker's resident memory grow to
    ~3.7 GB over the suite (7.8 GB for two workers; 2.6 GB with this), enough to make a
    small CI machine run out of memory. Later modules load their programs from the disk
    store instead."""
    if nextitem is None or nextitem.module is not item.module:
        import jax

        from jaxreg import _compile

        _compile.CACHE.clear()
        jax.clear_caches()
        gc.collect()
        if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
            _LIBC.malloc_trim(0)


def make_regression(n, p, rho=0.0, n_informative=5, noise=0.1, seed=0, intercept=1.5):
    """Correlated Gaussian design (corr(x_i, x_j) = rho^|i-j|) and a sparse truth."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p))
    X = np.empty_like(Z)
    X[:, 0] = Z[:, 0]
    for j in range(1, p):  # AR(1) columns: the Toeplitz correlation rho^|i-j|
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    w = np.zeros(p)
    idx = rng.choice(p, min(n_informative, p), replace=False)
    w[idx] = rng.standard_normal(len(idx)) * 2
    y = X @ w + intercept + noise * rng.standard_normal(n)
    return X, y, w


@pytest.fixture(scope="session")
def reg_data():
    return make_regression(80, 12, rho=0.5, seed=1)


@pytest.fixture(scope="session")
def wide_data():
    return make_regression(30, 60, rho=0.3, seed=2)


@pytest.fixture(scope="session")
def clf_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 8))
    w = np.array([2.0, -1.0, 0, 0, 1.5, 0, 0, 0])
    y = (X @ w + 0.3 + rng.logistic(size=120) > 0).astype(int)
    return X, y


class CompileCounter:
    """Counts the programs built or loaded while it is active: XLA compilations (JAX's
    monitoring event, which also fires for loads from JAX's persistent cache) and loads
    from jaxreg's own executable store. A fit that reuses what this process already has
    counts zero."""

    events: list = []
    _listening = False

    def __init__(self):
        import jax

        from jaxreg import _compile

        if not CompileCounter._listening:
            jax.monitoring.register_event_duration_secs_listener(self._listen)
            CompileCounter._listening = True
        self._stats = _compile.stats

    @staticmethod
    def _listen(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            CompileCounter.events.append(duration)

    def __enter__(self):
        self._start = (len(self.events), self._stats["disk_loads"])
        self.count = None
        return self

    def __exit__(self, *exc):
        self.count = len(self.events) - self._start[0] + self._stats["disk_loads"] - self._start[1]


@pytest.fixture
def compiles():
    """``with compiles() as c: ...`` then ``c.count``: programs built or loaded inside."""
    return CompileCounter


@pytest.fixture
def keep_sparse(monkeypatch):
    """The estimators fit small scipy.sparse designs dense (``_validation.densify_small``);
    tests of the sparse code paths through the estimators turn that off."""
    from jaxreg import _validation

    monkeypatch.setattr(_validation, "SMALL_SPARSE_ENTRIES", 0)
