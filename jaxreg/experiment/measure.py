"""Run one sweep cell: build (or reuse) its data, fit it ``warmup + repetitions`` times,
and measure time, compile time, memory and the objective reached.

Every method, jaxreg or peer, is scored by :func:`objective64`: our objective evaluated in
float64 numpy on the float64 data from the returned coefficients and intercept, so
suboptimalities are comparable across libraries and dtypes.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import numpy as np

from jaxreg.experiment.baselines import BaselineRun, run_peer
from jaxreg.experiment.config import validate
from jaxreg.experiment.specs import PenaltySpec, SolverRun
from jaxreg.experiment.sweep_data import SweepDataSpec, build_loss, make_sweep_data

__all__ = ["objective64", "run_cell", "ProblemCache"]


def objective64(loss, penalty: PenaltySpec, alpha: float, X, y_enc, coef, intercept) -> float:
    """``loss(X w + b) + penalty(w)`` in float64, conventions of ``shared/DESIGN.md`` (the
    GLM losses are scikit-learn's mean half deviances, see :func:`datafit64`).

    Parameters
    ----------
    loss : str or jaxreg.losses.Loss
        A name in :data:`jaxreg.losses.LOSSES` (default parameters) or a loss instance
        (``Tweedie(power)``, ``Huber(epsilon)``).
    penalty : PenaltySpec
        Its kind (and ``l1_ratio``, ``p``); the strength is ``alpha``.
    alpha : float
    X : ndarray of shape (n_samples, n_features)
    y_enc : ndarray
        The target (regression losses), labels in {-1, +1} (logistic) or one-hot rows
        (multinomial).
    coef : ndarray of shape (n_features,) or (n_features, n_classes)
    intercept : float or ndarray of shape (n_classes,)

    Returns
    -------
    float
    """
    w = np.asarray(coef, dtype=np.float64)
    z = np.asarray(X, dtype=np.float64) @ w + np.asarray(intercept, dtype=np.float64)
    data = datafit64(loss, np.asarray(y_enc, dtype=np.float64), z)
    a, k, aw = alpha, penalty.kind, np.abs(w)
    if k == "none":
        pen = 0.0
    elif k == "l1":
        pen = a * np.sum(aw)
    elif k == "l2":
        pen = 0.5 * a * np.sum(w**2)
    elif k == "elastic_net":
        r = penalty.l1_ratio or 0.5
        pen = a * (r * np.sum(aw) + 0.5 * (1.0 - r) * np.sum(w**2))
    elif k == "lp":
        pen = a / penalty.p * np.sum(aw**penalty.p)
    elif k == "linf":
        pen = a * np.max(aw)
    else:  # any other penalty (mcp, scad, ...): its own value, computed in float64
        import jax

        with jax.enable_x64(True):
            pen = float(penalty.build(a).value(jax.numpy.asarray(w, dtype=jax.numpy.float64)))
    return float(data + pen)


def datafit64(loss, y, z) -> float:
    """The mean loss of predictions ``z`` (float64 numpy), from the definitions:

    * squared ``(y - z)^2 / 2``; logistic ``log(1 + exp(-y z))``, ``y`` in {-1, +1};
      multinomial ``logsumexp(z_i) - <y_i, z_i>``, one-hot ``y``;
    * half deviances with the log link, ``mu = exp(z)``: poisson ``y log(y / mu) - y + mu``;
      gamma ``log(mu / y) + y / mu - 1``; tweedie (power p in (1, 2))
      ``y^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p)`` (p = 1 poisson,
      p = 2 gamma);
    * huber (threshold ``epsilon``) ``r^2 / 2`` for ``|r| <= epsilon``, else ``epsilon |r| -
      epsilon^2 / 2``, ``r = y - z``.
    """
    from scipy.special import xlogy

    from jaxreg.losses import get_loss

    loss = get_loss(loss)
    name = loss.name
    if name == "tweedie" and loss.power in (1.0, 2.0):
        name = "poisson" if loss.power == 1.0 else "gamma"
    if name == "squared":
        per = 0.5 * (y - z) ** 2
    elif name == "logistic":
        per = np.logaddexp(0.0, -y * z)  # log(1 + exp(-s z)), no overflow
    elif name == "multinomial":
        zmax = np.max(z, axis=1, keepdims=True)
        per = zmax[:, 0] + np.log(np.sum(np.exp(z - zmax), axis=1)) - np.sum(y * z, axis=1)
    elif name == "poisson":
        per = xlogy(y, y) - y * z - y + np.exp(z)  # y log y = 0 at y = 0
    elif name == "gamma":
        per = z - np.log(y) + y * np.exp(-z) - 1.0
    elif name == "tweedie":
        p = loss.power
        per = y ** (2 - p) / ((1 - p) * (2 - p)) - y * np.exp((1 - p) * z) / (1 - p) + np.exp((2 - p) * z) / (2 - p)
    elif name == "huber":
        e, r = loss.epsilon, np.abs(y - z)
        per = np.where(r <= e, 0.5 * r * r, e * r - 0.5 * e * e)
    else:
        raise ValueError(f"loss={name!r} has no float64 formula here; known: {sorted(_DATAFITS64)}")
    return float(np.mean(per))


_DATAFITS64 = ("squared", "logistic", "multinomial", "poisson", "gamma", "tweedie", "huber")


@dataclasses.dataclass
class Problem:
    """The float64 data of a cell, its encoded targets and the casts made so far."""

    X: np.ndarray
    y: np.ndarray
    y_enc: np.ndarray
    n_classes: int
    casts: dict = dataclasses.field(default_factory=dict)

    def X_as(self, dtype: str):
        if dtype == "float64":
            return self.X
        if dtype not in self.casts:
            self.casts[dtype] = self.X.astype(dtype)
        return self.casts[dtype]


class ProblemCache:
    """The last problem built (one at a time: the large ones take gigabytes)."""

    def __init__(self):
        self._key, self._problem, self._alphas = None, None, {}

    def get(self, spec: dict, loss: str) -> Problem:
        """The problem of data ``spec`` with its targets encoded for ``loss`` (a name)."""
        import json

        from jaxreg._validation import encode_labels
        from jaxreg.losses import get_loss

        key = json.dumps([spec, loss], sort_keys=True)
        if key != self._key:
            self._key, self._problem, self._alphas = None, None, {}  # free the old one first
            ds = make_sweep_data(validate(SweepDataSpec, spec, "cell"))
            classes = np.unique(ds.y) if ds.task == "classification" else ()
            y_enc = encode_labels(ds.y, loss, np.float64)[1] if get_loss(loss).is_classifier else ds.y
            self._key, self._problem = key, Problem(ds.X, ds.y, y_enc, len(classes))
        return self._problem

    def alpha(self, penalty: PenaltySpec, loss, fit_intercept: bool) -> float:
        """The absolute alpha of ``penalty`` for ``loss`` (a name or a Loss) on the problem."""
        key = (penalty.model_dump_json(), repr(loss), fit_intercept)
        if key not in self._alphas:
            p = self._problem
            self._alphas[key] = penalty.resolve_alpha(p.X, p.y, loss, fit_intercept)
        return self._alphas[key]


@dataclasses.dataclass
class Attempt:
    """One fit: what it returned and how long it took."""

    coef: np.ndarray
    intercept: object
    n_iter: int | None
    status: str
    wall: float
    solver_time: float | None = None
    compile_time: float | None = None
    trace: tuple | None = None  # (times, objectives)


def _jaxreg_attempt(run: SolverRun, penalty, X, y, loss, fit_intercept, device) -> Attempt:
    import jaxreg

    kwargs = run.fit_kwargs()
    t0 = time.perf_counter()
    res = jaxreg.fit(X, y, loss=loss, penalty=penalty, fit_intercept=fit_intercept, device=device, **kwargs)
    wall = time.perf_counter() - t0
    # Epochs/iterations cost the same, so the k-th objective is reached after the fixed
    # overhead (validation, transfers, step size) plus k/n_iter of the solver's time.
    hist = np.asarray(res.history, dtype=np.float64)
    k = np.arange(1, len(hist) + 1)
    times = (wall - res.fit_time) + res.fit_time * k / max(len(hist), 1)
    return Attempt(res.coef, res.intercept, res.n_iter, res.status, wall, res.fit_time, res.compile_time, (times, hist))


def _peer_attempt(run: BaselineRun, estimator, penalty_spec, alpha, X, y, fit_intercept, score, loss) -> Attempt:
    fit = run_peer(run, estimator, penalty_spec, alpha, X, y, fit_intercept, objective=score, loss=loss)
    status = "converged" if fit.converged else "max_iter"
    return Attempt(fit.coef, fit.intercept, fit.n_iter, status, fit.wall, trace=fit.trace)


def run_cell(cell: dict, settings: dict, cache: ProblemCache) -> dict:
    """Fit a cell ``warmup + repetitions`` times; the measurements as a flat dict.

    Parameters
    ----------
    cell : dict
        :attr:`jaxreg.experiment.sweep.Cell.payload`: problem, loss (a name, with
        ``loss_params`` where the loss has parameters), penalty, method, dtype, device,
        fit_intercept.
    settings : dict
        ``repetitions``, ``warmup``, ``measure_memory``.
    cache : ProblemCache
        Keeps the current problem's data between cells.

    Returns
    -------
    dict
        ``outcome``, ``alpha``, ``status``, ``converged``, ``n_iter``, the ``time_*``
        statistics, ``solver_time_median``, ``compile_time``, ``first_call_time``,
        ``objective``, ``nonzeros``, ``peak_rss_mb`` (the worker's resident memory at its
        peak, MB = 10^6 bytes), ``rss_growth_mb`` (that peak less the level before the
        repetition), ``peak_device_mb`` (device bytes in use at the peak) and ``trace``
        (``[times, objectives]`` of the median repetition, or None).

    Times are wall-clock seconds of the whole fit call (jaxreg's includes validation and
    transfers); warm-up fits are not timed but the first one gives the compile time and
    the cold first-call time. Peak memory is sampled (every 2 ms, by a thread, so the
    last repetition is slowed by well under 1%) during the last timed repetition.
    """
    dtype, device, fit_intercept = cell["dtype"], cell["device"], cell["fit_intercept"]
    problem = cache.get(cell["problem"], cell["loss"])
    loss = build_loss(cell["loss"], cell.get("loss_params"))
    penalty_spec = PenaltySpec.model_validate(cell["penalty"])
    alpha = cache.alpha(penalty_spec, loss, fit_intercept)
    X = problem.X_as(dtype)
    method = cell["method"]

    def score(coef, intercept):
        return objective64(loss, penalty_spec, alpha, problem.X, problem.y_enc, coef, intercept)

    if method["library"] == "jaxreg":
        run = SolverRun.model_validate(method["run"])
        penalty = penalty_spec.build(alpha)

        def attempt():
            return _jaxreg_attempt(run, penalty, X, problem.y, loss, fit_intercept, device)
    else:
        brun = BaselineRun.model_validate(method["run"])

        def attempt():
            return _peer_attempt(
                brun, method["estimator"], penalty_spec, alpha, X, problem.y, fit_intercept, score, loss
            )

    warmup, reps = int(settings.get("warmup", 1)), int(settings.get("repetitions", 1))
    first = attempt() if warmup else None
    for _ in range(warmup - 1):
        attempt()
    timed = [attempt() for _ in range(reps - 1)]
    memory = (None, None, None)
    if settings.get("measure_memory", True):
        with PeakMemory(device) as mem:
            timed.append(attempt())
        memory = (mem.rss_mb, mem.device_mb, mem.rss_growth_mb)
    else:
        timed.append(attempt())
    first = first or timed[0]
    walls = np.array([a.wall for a in timed])
    median_one = timed[int(np.argsort(walls)[(len(walls) - 1) // 2])]
    last = timed[-1]
    solver_times = [a.solver_time for a in timed if a.solver_time is not None]
    return {
        "outcome": "ok",
        "alpha": alpha,
        "status": last.status,
        "converged": last.status == "converged",
        "n_iter": last.n_iter,
        "time_median": float(np.median(walls)),
        "time_min": float(walls.min()),
        "time_max": float(walls.max()),
        "time_iqr": float(np.subtract(*np.percentile(walls, [75, 25]))),
        "solver_time_median": float(np.median(solver_times)) if solver_times else None,
        "compile_time": first.compile_time,
        "first_call_time": first.wall,
        "objective": score(last.coef, last.intercept),
        "nonzeros": int(np.count_nonzero(last.coef)),
        "peak_rss_mb": memory[0],
        "rss_growth_mb": memory[2],
        "peak_device_mb": memory[1],
        "trace": _downsample(median_one.trace),
    }


def _downsample(trace, keep=2000):
    """At most ``keep`` points of a trace (evenly spaced, last kept) as plain lists."""
    if trace is None:
        return None
    times, values = np.asarray(trace[0], float), np.asarray(trace[1], float)
    if len(times) > keep:
        idx = np.unique(np.linspace(0, len(times) - 1, keep).round().astype(int))
        times, values = times[idx], values[idx]
    return [times.tolist(), values.tolist()]


MB = 1e6  # bytes: the unit of the *_mb columns


class PeakMemory:
    """Peak resident memory and device bytes in use, in MB (10^6 bytes), sampled every
    ``interval`` seconds by a thread (a shorter peak can be missed): ``rss_mb`` and
    ``device_mb`` the peaks themselves, ``rss_growth_mb`` the resident peak less the level
    at entry (what the measured call added). ``None`` where it cannot be read."""

    def __init__(self, device="cpu", interval=2e-3):
        self.device, self.interval = device, interval
        self.rss_mb = self.device_mb = self.rss_growth_mb = None
        self._stop = threading.Event()

    def _rss(self):
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def _device_bytes(self):
        if self.device == "cpu":
            return None
        try:
            import jax

            stats = jax.devices(self.device)[0].memory_stats() or {}
            return stats.get("bytes_in_use")
        except Exception:  # no such device, or no statistics on this backend
            return None

    def _sample(self):
        while not self._stop.is_set():
            self._peak = _max(self._peak, (self._rss(), self._device_bytes()))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._base = (self._rss(), self._device_bytes())
        self._peak = self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = _max(self._peak, (self._rss(), self._device_bytes()))
        rss0, rss = self._base[0], self._peak[0]
        self.rss_mb, self.device_mb = [None if p is None else p / MB for p in self._peak]
        self.rss_growth_mb = None if rss0 is None or rss is None else max(rss - rss0, 0) / MB
        return False


def _max(a, b):
    return tuple(None if x is None or y is None else max(x, y) for x, y in zip(a, b, strict=True))
