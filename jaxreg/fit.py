"""``jaxreg.fit``: check the inputs once, pick and check the solver, run it, report.

Everything here is plain Python and numpy around one call of a jit-compiled solver. The
solver is compiled ahead of time (``lower().compile()``) and cached on the structure of its
arguments, so a new alpha, tol or learning rate reuses the executable and the compile time
is measured apart from the fit time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _buckets, _compile, _sharding, _sparse
from jaxreg import _validation as V
from jaxreg._cache import ensure_compilation_cache
from jaxreg._fitparts import (
    FitResult,
    canonical,
    check_init,
    check_offset,
    check_options,
    check_penalty,
    compiled_solver,
    compute_context,
    make_result,
    resolve_device,
    scale_free_weights,
    static_kwargs,
)
from jaxreg._fitparts import rescaling as _rescaling
from jaxreg._fitparts import scale_penalty as _scale_penalty
from jaxreg._target_scale import target_scale
from jaxreg.losses import Offset, get_loss, with_offset
from jaxreg.penalties import Bounded, get_penalty
from jaxreg.solvers import SOLVERS, Data, Hyper, auto_solver, get_solver
from jaxreg.solvers.centred import CentredDesign
from jaxreg.solvers.working_set import l1_l2_host

__all__ = ["fit", "FitResult", "alpha_max", "resolve_device", "dual_gap", "elastic_net_gap"]

# ----------------------------------------------------------------------------- helpers


def _auto_solver(loss, penalty, X, y, options):
    """``auto_solver`` for this design's shape, except that the host-driven coordinate
    solvers (one device, no step options) give way to fista for ``devices=`` or fista's
    own options, and to fista or the working set (which takes it) for sparse X."""
    shape = np.shape(X)  # not validated yet: a bad X gets its error from check_X_y
    n, p = shape if len(shape) == 2 else (None, None)
    k = len(np.unique(np.asarray(y))) if loss.name == "multinomial" and y is not None else 1
    name = auto_solver(loss, penalty, n_features=p, n_samples=n, n_outputs=k)
    if name == "newton" and options.get("memory_size") is not None:
        return "lbfgs"  # the user tuned L-BFGS
    if SOLVERS[name].host_driven and any(options.get(k) is not None for k in ("devices", "step", "check_every")):
        return "fista"
    if SOLVERS[name].host_driven and _sparse.is_sparse(X) and not SOLVERS[name].accepts_sparse:
        return "working_set" if SOLVERS["working_set"].unsupported_reason(loss, penalty) is None else "fista"
    return name


_COMPILED = _compile.CACHE  # the package's one cache (jaxreg._compile)


@functools.partial(jax.jit, static_argnames=("fit_intercept",))
def _lipschitz(X, d, loss, *, fit_intercept):
    return loss.lipschitz(X, d, fit_intercept)


@jax.jit
def _init_intercept(loss, y, sw):
    return loss.init_intercept(y, sw)


@jax.jit
def _penalty_alpha_max(penalty, g):
    return penalty.alpha_max(g)


def _prng_key(seed: int):
    """``jax.random.PRNGKey(seed)``, made in numpy where it is the pair ``(0, seed)``
    (threefry keys of seeds below 2^32): the jax function is a program of its own."""
    if jax.config.jax_default_prng_impl == "threefry2x32" and seed < 2**32:
        return np.array([0, seed], np.uint32)
    return jax.random.PRNGKey(seed)


def _call(fn, *args, **static):
    """``fn(*args, **static)`` through the package's compile cache (:mod:`jaxreg._compile`):
    stored on disk, so a new process neither compiles nor traces it again."""
    return _compile.compiled(fn, args, static)[0](*args)


def _default_learning_rate(spec, static, L, X, loss, fit_intercept, n):
    """1/L for full batch; the expected-smoothness bound for batches (see
    :func:`jaxreg.solvers.stochastic.default_learning_rate`)."""
    from jaxreg.solvers.stochastic import default_learning_rate

    bs = static.get("batch_size")
    if bs is None or bs >= n:
        return 1.0 / L
    row_sq = _sparse.row_norms_sq(X) + (1.0 if fit_intercept else 0.0)
    return default_learning_rate(L, loss.curvature * float(np.max(row_sq)), bs, n)


# ----------------------------------------------------------------------------- fit


def fit(
    X,
    y=None,
    loss="squared",
    penalty=None,
    solver="auto",
    fit_intercept=True,
    tol=None,
    max_iter=None,
    *,
    sample_weight=None,
    coef_init=None,
    intercept_init=None,
    offset=None,
    **options,
) -> FitResult:
    """Fit a regularized linear model: minimise ``loss(X @ w + b, y) + penalty(w)``.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features), or a
        :class:`jaxreg.streaming.NpyDataset`
        float32 input computes in float32; anything else in float64 (x64 enabled as a
        context for this call only). Sparse input (CSR/CSC) is used as sparse by every
        iterative solver; closed_form densifies small problems. A dataset streams from disk
        (solvers gd, minibatch, sgd; ``y`` is then None: it comes from the dataset).
    y : array-like of shape (n_samples,)
        Targets; class labels for "logistic" (two classes) and "multinomial".
    loss : "squared", "logistic", "multinomial" or a :class:`jaxreg.losses.Loss`
    penalty : None or a :class:`jaxreg.penalties.Penalty` (``L1(0.1)``, ``L2(1.0)``, ...)
    solver : "auto", "closed_form", "ista", "fista", "gd", "minibatch", "sgd" or "lbfgs"
        "auto" is closed_form for squared + L2/none, lbfgs for smooth logistic, fista
        otherwise.
    fit_intercept : bool
        The intercept is never penalized.
    tol : float, optional
        Stop when the optimality measure falls below it (solver default if None).
    max_iter : int, optional
        Iterations (epochs for minibatch/sgd); solver default if None.
    sample_weight : array-like of shape (n_samples,), optional
    coef_init, intercept_init : optional warm start.
    offset : array-like of shape (n_samples,) or a number, optional
        Added to the linear predictor: the fit minimises ``loss(X @ w + b + offset, y) +
        penalty(w)`` (glum's ``offset``; with a log link, ``log(exposure)`` models a rate).
        For a loss of the residual alone (squared, huber) it is the fit on ``y - offset``;
        for the others the loss is scored at the shifted predictions
        (:class:`jaxreg.losses.Offset`), which every full-batch solver takes; mini-batch
        solvers, ``devices=`` and streamed datasets refuse it. A new offset does not
        recompile.
    **options
        ``learning_rate``, ``batch_size``, ``optimizer`` (an optax transformation),
        ``schedule`` ("constant", "inverse_time", "inverse_sqrt", "exponential" or an optax
        schedule), ``decay``, ``seed``, ``shuffle``, ``n_iter_no_change``,
        ``variance_reduction`` ("none" or "svrg") (gd, minibatch, sgd); ``step``
        ("backtracking" or "lipschitz") and ``check_every`` (ista, fista);
        ``memory_size`` (lbfgs); ``device`` ("cpu", "gpu" or a jax device);
        ``devices`` (a number of devices or a list of jax devices: the rows are sharded
        over them, data-parallel, in one process or several after
        ``jax.distributed.initialize``; see README "Beyond one device").

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> from jaxreg.penalties import L1
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 5)); y = X @ np.array([1.0, 0, 0, -2.0, 0])
    >>> res = jaxreg.fit(X, y, penalty=L1(0.1), solver="fista", tol=1e-8)
    >>> res.status, res.nonzeros
    ('converged', 2)
    """
    call = {k: v for k, v in locals().items() if k != "options"}  # for the gram_cd hand-over below
    ensure_compilation_cache()
    if _is_stream(X) and offset is not None:
        raise ValueError("offset= is not supported with a streamed dataset (NpyDataset); fit in memory to use it")
    if _is_stream(X):
        from jaxreg._streamfit import fit_streamed

        return fit_streamed(
            X,
            y,
            loss,
            penalty,
            solver,
            fit_intercept,
            tol,
            max_iter,
            sample_weight=sample_weight,
            coef_init=coef_init,
            intercept_init=intercept_init,
            **options,
        )
    loss = get_loss(loss)
    penalty = get_penalty(penalty)
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept={fit_intercept!r} is not allowed; it must be True or False")
    if solver != "auto" and not isinstance(solver, str):
        raise ValueError(f"solver={solver!r} is not allowed; allowed: {['auto', *SOLVERS]}")
    # the solver is chosen for the loss it will run: with an offset, the shifted loss
    # (its offset array comes after validation), unless y - offset carries it
    chosen = loss if offset is None or loss.residual else Offset(loss, None)
    name = _auto_solver(chosen, penalty, X, y, options) if solver == "auto" else solver
    spec = get_solver(name)
    if spec.host_driven and ((_sparse.is_sparse(X) and not spec.accepts_sparse) or options.get("devices") is not None):
        raise ValueError(
            f"solver={name!r} needs a dense X on one device (sparse={_sparse.is_sparse(X)}, "
            f"devices={options.get('devices')!r}); use solver='fista' (or 'auto', which picks one that does)"
        )
    reason = spec.unsupported_reason(chosen, penalty)
    if reason:
        raise ValueError(f"solver={name!r} cannot handle loss={loss.name!r} with penalty {penalty!r}: {reason}")
    check_options(spec, options)
    if offset is not None:
        _check_offset_solver(spec, options)
    V.check_positive(tol, "tol", strict=False)
    V.check_positive(max_iter, "max_iter", integer=True)

    X, y = V.check_X_y(X, y, regression=not loss.is_classifier, accept_sparse=True, finite_X=not spec.checks_finite)
    loss.check_target(y)
    if _sparse.is_sparse(X) and not spec.iterative:
        X = _sparse.densify_for_closed_form(X)
    dtype = X.dtype
    n, p = X.shape
    classes = None
    if loss.is_classifier:
        classes, y = V.encode_labels(y, loss.name, dtype)
    sw = V.check_sample_weight(scale_free_weights(sample_weight), n, dtype)
    fit_loss, y = with_offset(loss, y, check_offset(offset, n, dtype))
    check_penalty(penalty, p)
    tol = spec.default_tol if tol is None else float(tol)
    max_iter = spec.default_max_iter if max_iter is None else int(max_iter)
    devices = _placement(X, options)
    device = resolve_device(options.get("device")) if devices is None else _sharding.local_device(devices)
    on_host = spec.host_run is not None and devices is None and not _sparse.is_sparse(X) and device.platform == "cpu"
    if on_host:  # numpy data on the CPU: the solver's numpy implementation, nothing to compile or transfer
        spec = dataclasses.replace(
            spec, run=spec.host_run, host_driven=True, row_buckets=False, needs_intercept_init=False
        )
    coef_shape = (p,) if y.ndim == 1 else (p, y.shape[1])
    w0, b0 = check_init(coef_init, intercept_init, coef_shape, dtype)
    X_user, penalty_user, w0_user, s = X, penalty, w0, _rescaling(X, penalty, w0, dtype)
    if s != 1.0:  # fit v = s w on X / s: the same problem, without overflow (see design_scale)
        X, penalty, w0 = X * (1.0 / s), _scale_penalty(penalty, s, dtype), w0 * s
        if options.get("learning_rate") is not None:  # a step in w is s^2 times one in v
            options = {**options, "learning_rate": options["learning_rate"] * s * s}
    y_user, c, penalty = y, *target_scale(y, fit_loss, penalty, dtype)
    if c != 1.0:  # fit u = w / c on y / c: the same problem, without overflow (see _target_scale)
        y, w0, b0 = y * (1.0 / c), w0 * (1.0 / c), None if b0 is None else b0 * (1.0 / c)
    mu = _centring(spec, X, sw, fit_intercept)
    implicit = mu is not None and spec.name in IMPLICITLY_CENTRED and devices is None
    if mu is not None:  # fit (w, c = b + mu.w) on X - mu: the same problem, better conditioned
        X = X if implicit else X - mu
        b0 = None if b0 is None else np.asarray(b0 + mu @ w0, dtype)

    with compute_context(dtype, device):
        static = static_kwargs(spec, options, max_iter, bool(fit_intercept))
        if devices is not None:
            data = _sharding.shard_data(X, y, sw, devices)
            if "n_samples" in inspect.signature(spec.run).parameters:
                static["n_samples"] = n  # batches from the real rows only, not the padding
        elif _sparse.is_sparse(X) and spec.host_driven:  # it takes the scipy matrix itself
            data = _sparse_host_data(X, y, sw, device)
        elif _sparse.is_sparse(X):
            rows = static.get("batch_size") is not None  # mini-batches gather whole rows
            data = Data(_sparse.to_jax(X, device, rows), *(jax.device_put(a, device) for a in (y, sw)))
        elif on_host:
            data = Data(X, y, sw)
        else:
            data = _dense_data(spec, static, X, y, sw, device)
        if implicit:  # X - mu as an operator: a sparse X stays sparse (see solvers.centred)
            data = data._replace(X=CentredDesign(data.X, jax.device_put(np.asarray(mu, dtype), device)))
        if on_host:  # the numpy solver reads them as they are
            loss_c, penalty_c = fit_loss, penalty
        else:
            loss_c, penalty_c = canonical(_pad_offset(fit_loss, data.y.shape[0]), dtype), canonical(penalty, dtype)
        if b0 is None and fit_intercept and spec.needs_intercept_init:
            b0 = np.asarray(_call(_init_intercept, loss_c, data.y, data.weights), dtype)
        elif b0 is None:
            b0 = np.zeros(coef_shape[1:], dtype)
        lr = options.get("learning_rate")
        uses_step = "learning_rate" in spec.traced_options and spec.iterative
        L = 1.0
        if spec.needs_lipschitz or (uses_step and lr is None):
            # power iteration: ~2 products with X per step, so only when it is used
            L = float(_call(_lipschitz, data.X, data.weights, loss_c, fit_intercept=bool(fit_intercept)))
            L += float(penalty.grad_lipschitz() or 0.0)
            L = max(L, float(np.finfo(dtype).tiny))
        if lr is None:
            lr = _default_learning_rate(spec, static, L, X, loss, fit_intercept, n)
        seed = options.get("seed") or 0
        decay = options.get("decay")
        # numpy scalars: a host-driven solver reads them on the host, a compiled one gets
        # them with its call (jnp.asarray would be an eager program of its own per process)
        hyper = Hyper(
            tol=np.asarray(tol, dtype),
            lipschitz=np.asarray(L, dtype),
            learning_rate=np.asarray(lr, dtype),
            decay=np.asarray(1.0 if decay is None else decay, dtype),
            key=None if spec.host_driven else _prng_key(seed),
        )
        t0 = time.perf_counter()
        if spec.host_driven:
            out, compile_time = spec.run(data, loss_c, penalty_c, w0, b0, hyper, **static)
        else:
            args = (data, loss_c, penalty_c, w0, b0, hyper)
            exe, compile_time = compiled_solver(spec, args, static)
            t0 = time.perf_counter()
            out = jax.block_until_ready(exe(*args))
        out = jax.tree.map(_sharding.to_numpy, out)
        fit_time = time.perf_counter() - t0 - (compile_time if spec.host_driven else 0.0)
    if mu is not None:
        out = out._replace(intercept=np.asarray(out.intercept - mu @ out.coef, dtype))
    if c != 1.0:  # the objective is c^2 times the scaled one (inf when that overflows)
        with np.errstate(over="ignore", under="ignore"):
            out = out._replace(
                coef=np.asarray(out.coef * c, dtype),
                intercept=np.asarray(out.intercept * c, dtype),
                history=np.asarray(out.history * (c * c), out.history.dtype),
            )
    if s != 1.0:
        with np.errstate(under="ignore"):
            out = out._replace(coef=np.asarray(out.coef / s, dtype))
    X, y, penalty = X_user, y_user, penalty_user

    res = make_result(
        out,
        spec,
        loss,
        penalty,
        classes=classes,
        dtype=dtype,
        device=str(device) if devices is None else ",".join(str(d) for d in devices),
        fit_time=fit_time,
        compile_time=compile_time,
        score=lambda coef, intercept: _objective_np(X, y, sw, fit_loss, penalty, coef, intercept, dtype),
        start=(w0_user, b0),
    )
    cold = call["max_iter"] is None and call["coef_init"] is None
    if solver == "auto" and name == "gram_cd" and res.status == "max_iter" and cold:
        # Coordinate descent on the Gram matrix crawls where its support step cannot help
        # (more active features than the design's rank: a singular system), e.g. at a tiny
        # alpha with p > rank: 1000 epochs left a relative gap of 3e-4 where the working set
        # (Anderson, Newton) converged in 45 iterations. auto hands over to it, from here
        # (from a cold start only: a user's far-off coef_init stays with the solver it chose).
        more = fit(
            **{**call, "solver": "working_set", "coef_init": res.coef, "intercept_init": res.intercept}, **options
        )
        return dataclasses.replace(
            more,
            n_iter=res.n_iter + more.n_iter,
            history=np.concatenate([res.history, more.history]),
            fit_time=res.fit_time + more.fit_time,
            compile_time=res.compile_time + more.compile_time,
        )
    return res


# Solvers run on the centred design (see _centring): L-BFGS and proximal gradient, whose
# speed depends on the design's conditioning. fista/ista get it as an operator (X w - mu.w,
# X^T g - mu sum g; solvers.centred) for dense and sparse X alike, so a dense and a sparse
# copy of one problem take the same path, up to the rounding of their products (an
# uncentred sparse copy stopped 1.3e-7 from the centred dense one); sharded fits get X - mu
# before the split. Not gd, minibatch, sgd: their learning
# rate is the user's, in the user's coordinates.
CENTRED_SOLVERS = ("lbfgs", "fista", "ista")
IMPLICITLY_CENTRED = ("fista", "ista")


def _centring(spec, X, sw, fit_intercept):
    """The weighted column means to subtract from a dense X before ``spec`` runs, or None.

    With an intercept, ``X w + b = (X - mu) w + (b + mu.w)``: the same predictions, the same
    penalty (only ``w`` is penalized, and it does not change), so the same minimiser. Raw
    features with large means (pixel intensities, prices) otherwise put one direction of
    curvature ``~ ||mu||^2`` beside the intercept's: L-BFGS took 1000 iterations without
    converging on raw digits, 362 centred; L1 multinomial FISTA (C=0.1) 10000 without
    converging, ~4000 centred. Sharded fits centre too (before the rows are split), so they
    take the single-device path. A sparse X only as an operator (fista/ista)."""
    if not (fit_intercept and spec.name in CENTRED_SOLVERS):
        return None
    if _sparse.is_sparse(X) and spec.name not in IMPLICITLY_CENTRED:
        return None
    mu = (np.asarray(X.T @ sw).ravel() if _sparse.is_sparse(X) else sw @ X) / np.sum(sw)
    return mu if np.any(mu != 0) else None


def _dense_data(spec, static, X, y, sw, device) -> Data:
    """The data on ``device``, rows padded to their bucket (:mod:`jaxreg._buckets`) with
    zero-weight rows, so fits on nearby row counts (cross-validation folds, learning
    curves) share one compiled solver. Not padded: mini-batch solvers (their batches
    depend on the row count) and designs above ``MAX_ENTRIES`` entries. A host-driven
    solver gets ``X`` on the host, in the layout it puts on the device itself."""
    n = X.shape[0]
    n_rows = _buckets.bucket(n)
    if spec.row_buckets and n_rows > n and static.get("batch_size") is None and X.size <= _buckets.MAX_ENTRIES:
        X = spec.pad_design(X, n_rows)
        y = _buckets.pad_rows(y, n_rows, fill=y[0])  # a valid label; its weight is zero
        sw = _buckets.pad_rows(sw, n_rows)
    if spec.host_driven:
        return Data(X, *(jax.device_put(a, device) for a in (y, sw)))
    return Data(*(jax.device_put(a, device) for a in (X, y, sw)))


def _sparse_host_data(X, y, sw, device) -> Data:
    """A sparse X for a host-driven solver: CSC, rows padded to their bucket with empty,
    zero-weight rows (free for a sparse matrix: only its shape changes)."""
    import scipy.sparse as sp

    n = X.shape[0]
    n_rows = _buckets.bucket(n)
    C = X.tocsc()
    if n_rows > n:
        C = sp.csc_matrix((C.data, C.indices, C.indptr), shape=(n_rows, X.shape[1]))
        y = _buckets.pad_rows(y, n_rows, fill=y[0])  # a valid label; its weight is zero
        sw = _buckets.pad_rows(sw, n_rows)
    return Data(C, *(jax.device_put(a, device) for a in (y, sw)))


def _check_offset_solver(spec, options):
    """Refuse an offset where the solver slices the rows (mini-batches, shards): the
    offset travels with the loss, one entry per row of the whole design."""
    batch = options.get("batch_size")
    batch = spec.static_options.get("batch_size") if batch is None else batch
    if batch is not None:
        raise ValueError(
            f"solver={spec.name!r} with batch_size={batch!r} cannot take offset= (its mini-batches slice the rows); "
            "use a full-batch solver: 'auto', 'working_set', 'newton', 'lbfgs', 'fista' or 'gd' without batch_size"
        )
    if options.get("devices") is not None:
        raise ValueError(
            f"offset= is not supported with devices={options['devices']!r} (rows sharded over devices) yet; "
            "fit on one device"
        )


def _pad_offset(loss, n_rows):
    """An :class:`Offset` loss's offset padded with zeros to the ``n_rows`` rows the
    solver sees (the padding rows have weight zero)."""
    if isinstance(loss, Offset) and loss.offset.shape[0] < n_rows:
        return Offset(loss.loss, _buckets.pad_rows(loss.offset, n_rows))
    return loss


def _is_stream(X) -> bool:
    # without importing jaxreg.streaming: if it is not loaded, X cannot be a dataset
    streaming = sys.modules.get("jaxreg.streaming")
    return streaming is not None and isinstance(X, streaming.NpyDataset)


def _placement(X, options):
    """The devices of a data-parallel fit (None for a single-device fit)."""
    if options.get("devices") is None:
        return None
    if options.get("device") is not None:
        raise ValueError(
            f"device={options['device']!r} and devices={options['devices']!r} were both given; "
            "use device= for one device or devices= to shard the rows over several"
        )
    if _sparse.is_sparse(X):
        raise ValueError("devices= is not supported with sparse X yet; pass a dense X or fit on one device")
    return _sharding.resolve_devices(options["devices"])


def _objective_np(X, y, sw, loss, penalty, coef, intercept, dtype):
    x64 = jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()
    with x64:
        z = np.asarray(X @ coef + intercept, dtype)
        args = (canonical(loss, dtype), canonical(penalty, dtype), y, z, sw, np.asarray(coef, dtype))
        return float(_call(_objective, *args))


@jax.jit
def _objective(loss, penalty, y, z, sw, coef):
    """One compiled program (eager jax operations would compile one program each)."""
    return loss.value(y, z, sw) + penalty.value(coef)


def dual_gap(result: FitResult, X, y, sample_weight=None, fit_intercept=True) -> float:
    """scikit-learn's ``dual_gap_`` of a squared-loss fit with an L1-type penalty, in the
    objective's units (``1/(2n)`` scaling, weights normalized): the solver's own when it
    stopped on the relative duality gap (gram_cd, working_set: relative to
    ``sum d (y - ybar)^2``), else :func:`elastic_net_gap` at the result's coefficients."""
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    d = sw / sw.sum()
    if result.criterion == "duality_gap":
        yc = y - d @ y if fit_intercept else y
        top = float(np.ldexp(1.0, np.frexp(np.max(np.abs(yc), initial=0.0))[1]))  # exact: a power of two
        with np.errstate(over="ignore"):
            return float(result.stop_crit * top * top * (d @ (yc / top) ** 2))
    penalty, positive = result.penalty, False
    if isinstance(penalty, Bounded):  # positive=True: scikit-learn's gap for it
        positive = np.all(np.asarray(penalty.lower) == 0) and np.all(np.isinf(penalty.upper))
        penalty = penalty.penalty
    l1, l2 = l1_l2_host(penalty, np.shape(X)[1], np.float64)
    return elastic_net_gap(X, y, sw, result.coef, result.intercept, l1, l2, fit_intercept, positive)


def elastic_net_gap(X, y, sample_weight, coef, intercept, l1, l2, fit_intercept, positive=False) -> float:
    """The duality gap of ``sum_i d_i (y_i - x_i w - b)^2 / 2 + sum_j l1_j |w_j| + l2/2 ||w||^2``
    (with ``positive``: subject to ``w >= 0``) at ``(coef, intercept)`` (``d`` the normalized
    weights; ``l1`` a number or one per feature), at scikit-learn's dual point (the residual
    rescaled to be feasible), computed in numpy from the coefficients alone (dense or sparse X).
    Computed for ``y / t`` (``t`` a power of two near ``max |y|``; the gap is ``t^2`` times
    that one), so a huge ``y`` gives ``inf`` at worst, never NaN."""
    t = float(np.ldexp(1.0, np.frexp(np.max(np.abs(y), initial=0.0))[1]))
    if t != 1.0:
        with np.errstate(under="ignore"):
            y, coef, intercept, l1 = y / t, np.asarray(coef) / t, np.asarray(intercept) / t, np.asarray(l1, float) / t
    d = sample_weight / sample_weight.sum()
    r = y - np.asarray(X @ coef) - intercept
    dr = d * r
    xbar = np.asarray(d @ X).ravel() if fit_intercept else 0.0
    ybar = d @ y if fit_intercept else 0.0
    xta = np.asarray(X.T @ dr).ravel() - xbar * dr.sum() - l2 * coef
    l1 = np.broadcast_to(np.asarray(l1, float), xta.shape)
    corr = xta if positive else np.abs(xta)  # with w >= 0 only positive correlations bind
    ratio = np.max(corr[l1 > 0] / l1[l1 > 0], initial=0.0)  # the dual norm of X^T D r
    c = 1.0 / ratio if ratio > 1.0 else 1.0
    gap = 0.5 * (1 + c**2) * (dr @ r + l2 * coef @ coef) + l1 @ np.abs(coef) - c * dr @ (y - ybar)
    with np.errstate(over="ignore"):
        return float(max(gap, 0.0) * t * t)


def alpha_max(X, y, loss="squared", penalty=None, fit_intercept=True, sample_weight=None, offset=None) -> float:
    """The smallest ``alpha`` for which all coefficients are zero.

    Computed from the datafit's gradient at ``w = 0`` (with the optimal intercept alone when
    ``fit_intercept``, given the ``offset`` when one is given: see :func:`fit`), for the
    penalty's own scaling (``penalty`` defaults to ``L1``; its ``alpha`` is ignored).
    """
    from jaxreg.penalties import L1

    ensure_compilation_cache()
    loss = get_loss(loss)
    penalty = L1(1.0) if penalty is None else get_penalty(penalty)
    X, y = V.check_X_y(X, y, regression=not loss.is_classifier, accept_sparse=True)
    loss.check_target(y)
    dtype = X.dtype
    if loss.is_classifier:
        _, y = V.encode_labels(y, loss.name, dtype)
    sw = V.check_sample_weight(scale_free_weights(sample_weight), X.shape[0], dtype)
    loss, y = with_offset(loss, y, check_offset(offset, X.shape[0], dtype))
    x64 = jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()
    with x64:
        gz = np.asarray(_call(_gradient_at_zero, canonical(loss, dtype), y, sw, fit_intercept=bool(fit_intercept)))
        g = np.asarray(X.T @ gz, dtype)  # numpy (dense or sparse): no copy of X to the device
        return float(_call(_penalty_alpha_max, canonical(penalty, dtype), g))


@functools.partial(jax.jit, static_argnames=("fit_intercept",))
def _gradient_at_zero(loss, y, sw, *, fit_intercept):
    """The loss's gradient in the predictions at ``w = 0`` (with the optimal intercept when
    ``fit_intercept``); one compiled function, not a string of eager operations (each of
    which would compile on its own in every new process)."""
    b = loss.init_intercept(y, sw) if fit_intercept else jnp.zeros(y.shape[1:], y.dtype)
    return loss.grad_z(y, jnp.broadcast_to(b, y.shape).astype(y.dtype), sw)
