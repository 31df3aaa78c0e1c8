"""What the in-memory :func:`jaxreg.fit` and the streamed fit (:mod:`jaxreg._streamfit`) share:
the result type, the device and precision context, the checks of options and penalties, and
the step from a solver's output to a :class:`FitResult`. Below both, so neither imports the other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
from typing import Any

import jax
import numpy as np

from jaxreg import _compile, _sparse
from jaxreg import _validation as V
from jaxreg.losses import Loss
from jaxreg.penalties import L1, L2, MCP, Bounded, ElasticNet, LInf, Lp, NoPenalty, Penalty, WeightedL1
from jaxreg.solvers import SOLVERS, STATUS_NAMES

__all__ = [
    "OPTIONS",
    "FitResult",
    "resolve_device",
    "compute_context",
    "check_options",
    "check_penalty",
    "canonical",
    "compiled_solver",
    "static_kwargs",
    "make_result",
    "check_init",
    "check_offset",
    "scale_free_weights",
    "design_scale",
    "scale_penalty",
    "rescaling",
]

OPTIONS = (
    "learning_rate",
    "batch_size",
    "optimizer",
    "schedule",
    "decay",
    "seed",
    "device",
    "step",
    "check_every",
    "n_iter_no_change",
    "memory_size",
    "shuffle",
    "variance_reduction",
    "devices",
)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """The outcome of :func:`jaxreg.fit` (numpy arrays).

    Attributes
    ----------
    coef : ndarray of shape (n_features,) or (n_features, n_classes)
    intercept : float or ndarray of shape (n_classes,)
    n_iter : int
        Iterations (epochs for minibatch/sgd) taken.
    converged : bool
    status : str
        "converged", "max_iter" or "diverged". A diverged fit hands back the last finite
        iterate, never NaN, and must not be used as a fit.
    stop_crit : float
        The final value of the optimality measure named by ``criterion``.
    criterion : str
        "subdiff_distance", "gradient_norm", "rel_objective_change" or "exact".
    history : ndarray
        Objective after each iteration (epoch), length ``n_iter``.
    objective : float
        Final objective ``loss + penalty``.
    """

    coef: np.ndarray
    intercept: Any
    n_iter: int
    converged: bool
    status: str
    stop_crit: float
    criterion: str
    history: np.ndarray
    objective: float
    solver: str
    loss: Loss
    penalty: Penalty
    classes: np.ndarray | None = None
    dtype: str = "float64"
    device: str = "cpu"
    fit_time: float = 0.0
    compile_time: float = 0.0

    @property
    def nonzeros(self) -> int:
        return int(np.count_nonzero(self.coef))

    def decision_function(self, X):
        X = X if _sparse.is_sparse(X) else np.asarray(X)
        return X @ self.coef + self.intercept

    def raise_for_status(self):
        """Raise if the fit diverged (a hint included); return self otherwise."""
        if self.status == "diverged":
            raise FloatingPointError(
                f"solver {self.solver!r} diverged after {self.n_iter} iterations (objective became "
                "non-finite or exploded); lower the learning rate or use solver='fista'"
            )
        return self


def resolve_device(device):
    """A jax Device from None, "cpu", "gpu" or a Device."""
    if device is None:
        return jax.devices()[0]
    if isinstance(device, jax.Device):
        return device
    if isinstance(device, str) and device in ("cpu", "gpu", "tpu", "cuda"):
        kind = "gpu" if device == "cuda" else device
        try:
            return jax.devices(kind)[0]
        except RuntimeError:
            available = sorted({d.platform for d in jax.devices()})
            raise ValueError(f"device={device!r} is not available here; available: {available}") from None
    raise ValueError(f"device={device!r} is not allowed; use 'cpu', 'gpu' or a jax.Device")


def compute_context(dtype, device=None):
    """The context every computation runs in: x64 for float64 work (as a context, never
    global), the chosen device, and full float32 precision in matrix products. JAX's default
    float32 product on a recent NVIDIA GPU rounds its inputs to TF32 (10 mantissa bits), far
    too coarse for duality gaps of 1e-8; on a CPU "highest" is what it does anyway."""
    stack = contextlib.ExitStack()
    if dtype == np.float64:
        stack.enter_context(jax.enable_x64(True))
    stack.enter_context(jax.default_device(resolve_device(device)))
    stack.enter_context(jax.default_matmul_precision("highest"))
    return stack


def check_options(spec, options):
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; allowed options: {list(OPTIONS)}")
    applies = set(spec.static_options) | set(spec.traced_options) | {"device", "seed", "devices"}
    if spec.name in ("ista", "fista"):
        applies |= {"step", "check_every"}
    for k, v in options.items():
        if v is not None and k not in applies:
            users = [n for n, s in SOLVERS.items() if k in s.static_options or k in s.traced_options]
            raise ValueError(f"option {k}={v!r} does not apply to solver {spec.name!r} (it applies to: {users})")
    V.check_positive(options.get("learning_rate"), "learning_rate")
    V.check_positive(options.get("batch_size"), "batch_size", integer=True)
    V.check_positive(options.get("decay"), "decay", strict=False)
    V.check_positive(options.get("check_every"), "check_every", integer=True)
    V.check_positive(options.get("n_iter_no_change"), "n_iter_no_change", integer=True)
    V.check_positive(options.get("memory_size"), "memory_size", integer=True)
    vr = options.get("variance_reduction")
    if vr is not None and vr not in ("none", "svrg"):
        raise ValueError(f"variance_reduction={vr!r} is not allowed; allowed: 'none', 'svrg'")
    step = options.get("step")
    if step is not None and step not in ("backtracking", "lipschitz"):
        raise ValueError(f"step={step!r} is not allowed; allowed: 'backtracking', 'lipschitz'")
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"seed={seed!r} is not allowed; seed must be an integer >= 0")
    sched = options.get("schedule")
    if sched is not None and not callable(sched):
        from jaxreg.solvers.stochastic import SCHEDULES

        if sched not in SCHEDULES:
            raise ValueError(f"schedule={sched!r} is not allowed; allowed: {list(SCHEDULES)} or an optax schedule")
    opt = options.get("optimizer")
    if opt is not None and not (hasattr(opt, "init") and hasattr(opt, "update")):
        raise ValueError(f"optimizer={opt!r} is not allowed; pass an optax GradientTransformation")


def check_penalty(penalty: Penalty, n_features: int):
    penalty.check_n_features(n_features)  # the structure (a group penalty's groups) against X
    if isinstance(penalty, Bounded):
        for name in ("lower", "upper"):
            shape = np.shape(getattr(penalty, name))
            if shape not in ((), (n_features,)):
                raise ValueError(
                    f"Bounded {name} has shape {shape}; it must be a number or one entry per feature ({n_features},)"
                )
        return check_penalty(penalty.penalty, n_features)
    if isinstance(penalty, WeightedL1):
        if penalty.weights is None:
            raise ValueError("WeightedL1(weights=None) is not allowed; weights must be an array of numbers >= 0")
        if np.shape(penalty.weights) != (n_features,):
            raise ValueError(
                f"WeightedL1 weights have shape {np.shape(penalty.weights)}; they must have one entry per "
                f"feature ({n_features},)"
            )


def canonical(tree, dtype):
    """Every floating leaf as an array of ``dtype`` (so compiled shapes never vary by
    Python-float weak types)."""
    # converted on the host and put by one transfer: an eager convert_element_type (or
    # jnp.asarray) would compile a program of its own in every new process
    return jax.device_put(jax.tree.map(lambda x: np.asarray(x, dtype), tree))


def compiled_solver(spec, args, static):
    """The AOT-compiled solver for these argument structures (and its compile time)."""
    return _compile.compiled(spec.run, args, static)


def static_kwargs(spec, options, max_iter, fit_intercept):
    static = {"fit_intercept": fit_intercept}
    if spec.iterative:
        static["max_iter"] = int(max_iter)
    for name, default in spec.static_options.items():
        static[name] = options[name] if options.get(name) is not None else default
    return static


def make_result(
    out, spec, loss, penalty, *, classes, dtype, device, fit_time, compile_time, score, start=None
) -> FitResult:
    """The FitResult of a solver's (numpy) output; ``score(coef, intercept)`` is the
    objective of an iterate the history does not hold. Non-finite coefficients are never
    handed back: the fit is reported diverged, with the start ``(w0, b0)`` (or zeros)."""
    n_iter = int(out.n_iter)
    status = STATUS_NAMES[int(out.status)]
    hist = out.history[: max(n_iter, 1)] if spec.iterative else out.history
    coef = out.coef
    intercept = out.intercept
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        w0, b0 = start if start is not None else (None, None)
        coef = np.zeros_like(coef) if w0 is None else np.asarray(w0, np.asarray(coef).dtype)
        intercept = np.zeros_like(intercept) if b0 is None else np.asarray(b0, np.asarray(intercept).dtype)
        status = "diverged"
    intercept = float(intercept) if np.ndim(intercept) == 0 else intercept
    objective = float(hist[-1]) if n_iter > 0 or not spec.iterative else float("nan")
    if n_iter == 0 or status == "diverged":
        # No step taken (already optimal) or the last step was rejected: score the iterate.
        objective = score(coef, intercept)
    return FitResult(
        coef=coef,
        intercept=intercept,
        n_iter=n_iter,
        converged=status == "converged",
        status=status,
        stop_crit=float(out.stop_crit),
        criterion=spec.criteria[int(out.criterion)],
        history=hist,
        objective=objective,
        solver=spec.name,
        loss=loss,
        penalty=penalty,
        classes=classes,
        dtype=str(dtype),
        device=device,
        fit_time=fit_time,
        compile_time=compile_time,
    )


# ----------------------------------------------------------------------------- numeric edges


def check_init(coef_init, intercept_init, coef_shape, dtype):
    """The warm start ``(w0, b0 or None)`` as arrays of ``dtype``: ``coef_init`` of shape
    ``coef_shape``, ``intercept_init`` a number or one per output, both finite (a NaN start
    would come back as NaN coefficients)."""
    w0 = np.zeros(coef_shape, dtype) if coef_init is None else _finite_array(coef_init, "coef_init", dtype)
    if w0.shape != coef_shape:
        raise ValueError(f"coef_init has shape {w0.shape}; it must have shape {coef_shape}")
    if intercept_init is None:
        return w0, None
    b0 = _finite_array(intercept_init, "intercept_init", dtype)
    if b0.shape not in ((), coef_shape[1:]):
        raise ValueError(f"intercept_init has shape {b0.shape}; it must be a number or have shape {coef_shape[1:]}")
    return w0, np.broadcast_to(b0, coef_shape[1:]).copy()


def check_offset(offset, n_samples: int, dtype):
    """``offset`` (a number, or one per sample) as an array of ``dtype`` and shape
    ``(n_samples,)``, or None; finite (a NaN offset would make every prediction NaN)."""
    if offset is None:
        return None
    try:
        a = np.asarray(offset, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"offset={offset!r} is not allowed; offset must be a number or an array of one finite number per sample"
        ) from None
    if a.ndim == 0:
        a = np.full(n_samples, float(a))
    if a.shape != (n_samples,):
        raise ValueError(
            f"offset has shape {a.shape}; it must be a number or 1-D with one entry per sample ({n_samples},)"
        )
    bad = np.flatnonzero(~(np.abs(a) <= np.finfo(dtype).max))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"offset[{i}]={float(a[i])!r} is not allowed ({bad.size} entries of offset are not finite "
            f"{np.dtype(dtype)} numbers); offset must be finite"
        )
    return a.astype(dtype)


def _finite_array(value, name, dtype):
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not allowed; it must be an array of finite numbers") from None
    if not np.all(np.isfinite(a)) or not np.all(np.abs(a) <= np.finfo(dtype).max):
        raise ValueError(f"{name} holds non-finite values (or values too large for {np.dtype(dtype)}): {value!r}")
    return a.astype(dtype)


def scale_free_weights(sample_weight):
    """``sample_weight`` times the power of two that brings its largest entry into
    ``[0.5, 1)``: exact (only exponents change), so every fit is the same, and sums of huge
    weights (``1e306 * n``) no longer overflow. Left as it is when it is not an array of
    finite numbers >= 0 with a positive entry (the validation names the problem)."""
    if sample_weight is None:
        return None
    try:
        sw = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        return sample_weight
    top = np.max(sw, initial=0.0)
    if not (np.all(np.isfinite(sw)) and np.all(sw >= 0) and top > 0):
        return sample_weight
    return np.ldexp(sw, -np.frexp(top)[1])


def design_scale(X) -> float:
    """The power of two ``s`` to divide ``X`` by before a fit so that no column's largest
    entry lies near the ends of its dtype's range. Products of two entries (Gram matrices,
    squared norms, Lipschitz constants) overflow from ``|X| ~ 1e154`` in float64 (``1e19`` in
    float32) and underflow from ``1e-154``; a band of ``2^(+-maxexp/6)`` keeps sums of ``1e10``
    products finite and normal. Exact: dividing by a power of two changes only exponents.

    1.0 when every column is in the band, when ``X`` is not finite (the validation names the
    entry), and when the columns' scales differ by more than the band: one factor cannot
    bring them all into it (and tolerances, absolute in the scaled units, would then pass
    the columns scaled down to nothing)."""
    if X.shape[0] == 0 or X.shape[1] == 0:
        return 1.0
    with np.errstate(invalid="ignore"):
        top = _column_extent(X)
    if not np.all(np.isfinite(top)) or not np.any(top > 0):
        return 1.0
    band = np.finfo(X.dtype).maxexp // 6
    high, low = np.frexp(top.max())[1], np.frexp(top[top > 0].min())[1]
    if max(abs(high), abs(low)) <= band or high - low > band:
        return 1.0
    return float(np.ldexp(1.0, high - 1))


def _column_extent(X, block_bytes=1 << 18):
    """``max_i |X_ij|`` per column. A C-ordered X is read in blocks of rows that stay in
    cache, so its column maxima and minima take one pass over memory, not two (20000 x 200
    float64: 10 ms -> 6 ms, a sixth of a ridge fit there)."""
    if _sparse.is_sparse(X):
        return np.maximum(np.asarray(X.max(axis=0).todense()).ravel(), -np.asarray(X.min(axis=0).todense()).ravel())
    rows = X.shape[0] if not X.flags.c_contiguous else max(1, block_bytes // (X.shape[1] * X.itemsize))
    hi, lo = X[:rows].max(axis=0), X[:rows].min(axis=0)
    for i in range(rows, X.shape[0], rows):
        np.maximum(hi, X[i : i + rows].max(axis=0), out=hi)
        np.minimum(lo, X[i : i + rows].min(axis=0), out=lo)
    return np.maximum(hi, -lo)


def scale_penalty(penalty: Penalty, s: float, dtype):
    """The penalty ``Q`` of the coefficients ``v = s w`` with ``Q(v) = P(v / s)``, or None when
    this penalty's family is not closed under that change (SCAD, a user's penalty) or its
    parameters would leave ``dtype``'s range. ``L1``-type terms are homogeneous of degree 1
    (``alpha / s``), ``L2`` of degree 2 (``alpha / s^2``), ``Lp`` of degree ``p``; MCP maps
    to ``(alpha / s, gamma s^2)``; bounds scale with the coefficients."""

    def over(value, degree):  # value / s^degree in numpy (a Python float raises on 1/0)
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            return float(np.float64(value) / np.float64(s) ** np.float64(degree))

    def finite(*values):
        return all(abs(v) <= np.finfo(dtype).max for v in values)

    try:
        return _scaled(penalty, s, over, finite)
    except ValueError:  # out of the family's range (MCP's gamma below 1)
        return None


def _scaled(penalty, s, over, finite):
    if isinstance(penalty, NoPenalty):
        return penalty
    if isinstance(penalty, (L1, WeightedL1, LInf, L2, Lp)):
        degree = 2.0 if isinstance(penalty, L2) else float(penalty.p) if isinstance(penalty, Lp) else 1.0
        alpha = over(penalty.alpha, degree)
        return penalty.with_alpha(alpha) if finite(alpha) else None
    if isinstance(penalty, ElasticNet):
        a1 = over(float(penalty.alpha) * float(penalty.l1_ratio), 1)
        a2 = over(float(penalty.alpha) * (1.0 - float(penalty.l1_ratio)), 2)
        if not finite(a1, a2, a1 + a2):
            return None
        return ElasticNet(a1 + a2, a1 / (a1 + a2) if a1 + a2 > 0 else float(penalty.l1_ratio))
    if isinstance(penalty, MCP):
        alpha, gamma = over(penalty.alpha, 1), over(penalty.gamma, -2)
        return MCP(alpha, gamma) if finite(alpha, gamma) else None
    if isinstance(penalty, Bounded):
        inner = _scaled(penalty.penalty, s, over, finite)
        if inner is None:
            return None
        return Bounded(inner, np.asarray(penalty.lower, float) * s, np.asarray(penalty.upper, float) * s)
    return None


def rescaling(X, penalty, w0, dtype) -> float:
    """The power of two ``s`` by which fit, path and the CV estimators divide ``X`` (and fit
    ``v = s w`` under the penalty :func:`scale_penalty` gives): the one :func:`design_scale`
    asks for, or the largest step towards it (halving its exponent) that the penalty and the
    warm start can follow within ``dtype``'s range; 1.0 when none can (then the solver sees X as it is, and its status
    says how that went). A tiny X is not scaled up past the point where an L2 term's
    curvature ``alpha / s^2`` would exceed 1: the coefficients' curvature is then the
    penalty's, already of the intercept's order, and scaling would unbalance the two."""
    s = design_scale(X)
    limit = max(1.0, _curvature(penalty))
    while abs(np.frexp(s)[1] - 1) > 1:
        with np.errstate(over="ignore"):
            start_ok = np.all(np.isfinite(np.asarray(w0 * s, dtype)))
        scaled = scale_penalty(penalty, s, dtype) if start_ok else None
        if scaled is not None and (s > 1.0 or _curvature(scaled) <= limit):
            return s
        s = float(np.ldexp(1.0, (np.frexp(s)[1] - 1) // 2))
    return 1.0


def _curvature(penalty) -> float:
    """The L2 part's curvature (``alpha`` of an L2 term), 0 for penalties without one."""
    l2 = penalty.grad_lipschitz()
    if l2 is None and penalty.as_elastic_net(1, np.float64) is not None:
        l2 = penalty.as_elastic_net(1, np.float64)[1]
    return float(l2 or 0.0)
