"""``jaxreg.fit`` on a :class:`~jaxreg.streaming.NpyDataset`: the checks and defaults of
the in-memory fit, computed in passes over the files instead of on arrays in memory.

* Targets: one pass over ``y`` (and the weights) finds the classes of a classifier and
  the statistics the initial intercept needs. Every loss's ``init_intercept`` is a
  weighted mean of a function of the encoded target, so it is called on the distinct
  encoded targets with their total weights (the weighted mean of ``y`` for regression).
* Default learning rate: the in-memory rule (``1/L``, or the expected-smoothness bound
  for batches) with ``L`` the largest eigenvalue of the weighted Gram matrix, summed in
  one pass over the files (power iteration, one pass per iteration, when there are
  thousands of features; see :meth:`jaxreg.solvers.streamed.Runner.lipschitz`), and the
  largest row norm. Pass ``learning_rate`` to skip that pass.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _validation as V
from jaxreg._fitparts import (
    FitResult,
    canonical,
    check_options,
    check_penalty,
    compiled_solver,
    compute_context,
    make_result,
    resolve_device,
    static_kwargs,
)
from jaxreg.losses import get_loss
from jaxreg.penalties import get_penalty
from jaxreg.solvers import SOLVERS, Hyper, get_solver
from jaxreg.solvers import streamed as S
from jaxreg.solvers.stochastic import default_learning_rate

STREAM_SOLVERS = ("gd", "minibatch", "sgd")


def _targets(ds, loss, dtype):
    """Classes (None for regression), the encoder of raw target blocks, the compact
    ``(y, weights)`` on which ``loss.init_intercept`` gives the initial intercept, and the
    total sample weight."""
    classes, total, y_sum = set(), 0.0, 0.0
    per_class: dict = {}
    for y, w in ds.targets():
        total += float(np.sum(w))
        if loss.is_classifier:
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                raise ValueError("y contains non-finite labels; class labels must all be given")
            labels, inverse = np.unique(y, return_inverse=True)
            sums = np.bincount(inverse, weights=w, minlength=len(labels))
            for label, s in zip(labels.tolist(), sums, strict=True):
                per_class[label] = per_class.get(label, 0.0) + float(s)
            classes.update(labels.tolist())
        else:
            if y.dtype.kind not in "biuf":
                raise ValueError(f"y has dtype {y.dtype}; a regression target must be numeric")
            y_sum += float(np.sum(w * y))
    if not total > 0:
        raise ValueError("sample_weight must be finite, >= 0, and not all zero")
    if not loss.is_classifier:
        compact = (np.array([y_sum / total], dtype), np.ones(1, dtype))
        return None, lambda y, w: y.astype(dtype), compact, total
    classes = np.array(sorted(classes))
    classes, encoded = V.encode_labels(classes, loss.name, dtype)  # checks the class count
    weights = np.array([per_class[c] for c in classes.tolist()], dtype)

    def encode(y, w):
        idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)  # padding rows: any class, weight 0
        return encoded[idx]

    return classes, encode, (encoded, weights), total


def fit_streamed(
    ds, y, loss, penalty, solver, fit_intercept, tol, max_iter, *, sample_weight, coef_init, intercept_init, **options
) -> FitResult:
    """:func:`jaxreg.fit` for a dataset streamed from disk (see the module docstring)."""
    if y is not None or sample_weight is not None:
        raise ValueError(
            "y and sample_weight must be None when X is an NpyDataset; the targets and weights come from "
            "its y and sample_weight files"
        )
    loss, penalty = get_loss(loss), get_penalty(penalty)
    name = "minibatch" if solver == "auto" else solver
    if name not in STREAM_SOLVERS:
        allowed = [s for s in SOLVERS if s in STREAM_SOLVERS]
        raise ValueError(
            f"solver={solver!r} cannot stream data from disk; with an NpyDataset use one of {allowed} "
            "(or load the data in memory with NpyDataset.load())"
        )
    spec = get_solver(name)
    reason = spec.unsupported_reason(loss, penalty)
    if reason:
        raise ValueError(f"solver={name!r} cannot handle loss={loss.name!r} with penalty {penalty!r}: {reason}")
    if options.get("devices") is not None:
        raise ValueError("devices= is not supported with a streamed dataset yet; stream on one device")
    check_options(spec, options)
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept={fit_intercept!r} is not allowed; it must be True or False")
    V.check_positive(tol, "tol", strict=False)
    V.check_positive(max_iter, "max_iter", integer=True)
    dtype, n, p = ds.dtype, ds.n_samples, ds.n_features
    check_penalty(penalty, p)
    tol = spec.default_tol if tol is None else float(tol)
    max_iter = spec.default_max_iter if max_iter is None else int(max_iter)
    classes, encode, (y_c, w_c), total_weight = _targets(ds, loss, dtype)
    coef_shape = (p,) if y_c.ndim == 1 else (p, y_c.shape[1])
    w0 = np.zeros(coef_shape, dtype) if coef_init is None else np.asarray(coef_init, dtype)
    if w0.shape != coef_shape:
        raise ValueError(f"coef_init has shape {w0.shape}; it must have shape {coef_shape}")

    static = static_kwargs(spec, options, max_iter, bool(fit_intercept))
    # The in-memory rule: one batch of everything, unshuffled, is gradient descent.
    bs = n if static["batch_size"] is None else min(int(static["batch_size"]), n)
    full_batch = bs == n and not static["shuffle"]
    eval_bs = min(ds.block_rows, n) if full_batch else bs
    device = resolve_device(options.get("device"))
    runner = S.Runner(ds, encode, compiled_solver)
    with compute_context(dtype, device):
        loss_c, penalty_c = canonical(loss, dtype), canonical(penalty, dtype)
        if intercept_init is not None:
            b0 = np.broadcast_to(np.asarray(intercept_init, dtype), coef_shape[1:]).copy()
        elif fit_intercept:
            b0 = np.asarray(loss_c.init_intercept(jnp.asarray(y_c), jnp.asarray(w_c)), dtype)
        else:
            b0 = np.zeros(coef_shape[1:], dtype)
        lr = options.get("learning_rate")
        if lr is None:
            lam, row_sq = runner.lipschitz(total_weight, bool(fit_intercept), eval_bs)
            L = max(loss.curvature * lam + float(penalty.grad_lipschitz() or 0.0), float(np.finfo(dtype).tiny))
            lr = default_learning_rate(L, loss.curvature * row_sq, static["batch_size"], n)
        decay = options.get("decay")
        hyper = Hyper(
            tol=jnp.asarray(tol, dtype),
            lipschitz=jnp.asarray(1.0, dtype),
            learning_rate=jnp.asarray(lr, dtype),
            decay=jnp.asarray(1.0 if decay is None else decay, dtype),
            key=jax.random.PRNGKey(0),
        )
        settings = {
            "fit_intercept": bool(fit_intercept),
            "optimizer": static["optimizer"],
            "schedule": static["schedule"],
            "steps_per_epoch": -(-n // bs),
            "n_iter_no_change": static["n_iter_no_change"],
            "variance_reduction": static["variance_reduction"],
            "full_batch": full_batch,
        }
        t0 = time.perf_counter()
        out = runner.run(
            loss_c,
            penalty_c,
            jnp.asarray(w0),
            jnp.asarray(b0),
            hyper,
            max_iter=max_iter,
            batch_size=bs,
            shuffle=bool(static["shuffle"]),
            seed=options.get("seed") or 0,
            settings=settings,
        )
        out = jax.tree.map(np.asarray, out)
        fit_time = time.perf_counter() - t0 - runner.compile_time

    def score(coef, intercept):
        acc = runner.eval_pass((jnp.asarray(coef), jnp.asarray(intercept)), loss_c, eval_bs)
        return float(acc[0] / acc[1]) + float(penalty.value(jnp.asarray(coef)))

    with compute_context(dtype, device):
        return make_result(
            out,
            spec,
            loss,
            penalty,
            classes=classes,
            dtype=dtype,
            device=str(device),
            fit_time=fit_time,
            compile_time=runner.compile_time,
            score=score,
        )
