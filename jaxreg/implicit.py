"""Differentiable fits: :func:`solution` returns a fit's coefficients through a
``jax.custom_vjp`` whose backward pass is implicit differentiation of the optimality
conditions (Bertrand et al. 2020, "Implicit differentiation of Lasso-type models for
hyperparameter optimization").

At a minimum ``(w, b)`` of ``f(w, b; theta) = loss.value(y, X w + b, sw) + penalty.value(w)``
the gradient in the coordinates where the penalty is differentiable (all of them for a smooth
penalty, the support ``w_j != 0`` for the L1-type ones) is zero:

    G(w_S, b; theta) = grad_{(w_S, b)} f = 0.

Where the support is stable, the implicit function theorem gives
``d(w_S, b)/d theta = -H^{-1} dG/d theta`` with ``H = A_S^T D A_S + diag(penalty'')``,
``A = [X, 1]`` and ``D = diag(sw * loss'' / sum sw)``; the coefficients off the support stay
zero. The backward pass solves ``H v = cotangent`` once and returns ``-(dG/d theta)^T v``
(one vector-Jacobian product of ``G``), for every differentiable input at once: the penalty's
leaves (``alpha``, ``l1_ratio``, ``weights``), the loss's leaves, ``sample_weight``, ``X``
and ``y``. The system is kept at full size, the rows and columns off the support replaced by
the identity, so it has one shape under ``jit`` and ``vmap``.

The forward pass is :func:`jaxreg.fit` (in float64 on the host, whatever the input dtype),
called directly on concrete values and through ``jax.pure_callback`` when traced (under
``jit`` or ``vmap``; ``vmap`` runs the fits one after another).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _sparse
from jaxreg.fit import fit
from jaxreg.losses import Loss, get_loss
from jaxreg.penalties import L1, L2, Bounded, ElasticNet, Penalty, WeightedL1

__all__ = ["solution", "fit_count", "PENALTY_NAMES"]

PENALTY_NAMES = ("l1", "l2", "elastic_net", "weighted_l1")

# Forward fits run so far in this process (what :mod:`jaxreg.tune` reports as n_fits_).
_FITS = [0]


def fit_count() -> int:
    """The number of forward fits :func:`solution` has run in this process."""
    return _FITS[0]


def _make_penalty(penalty, alpha, l1_ratio, weights) -> Penalty:
    if isinstance(penalty, Bounded):
        raise ValueError(
            f"penalty={penalty!r} is not allowed; bounds (positive=True) are not differentiated yet: "
            "a coefficient on its bound would need the active constraints in the system"
        )
    if isinstance(penalty, Penalty):
        if not penalty.separable:
            raise ValueError(
                f"penalty={penalty!r} is not allowed; implicit differentiation needs a separable "
                f"penalty (one of {PENALTY_NAMES} or an L1, L2, ElasticNet, WeightedL1, Lp instance)"
            )
        return penalty if alpha is None else penalty.with_alpha(alpha)
    name = penalty.lower().replace("elasticnet", "elastic_net") if isinstance(penalty, str) else penalty
    if name not in PENALTY_NAMES:
        raise ValueError(f"penalty={penalty!r} is not allowed; allowed: {PENALTY_NAMES} or a jaxreg Penalty")
    if alpha is None:
        raise ValueError(f"alpha=None is not allowed with penalty={penalty!r}; give a number >= 0")
    if name == "weighted_l1":
        if weights is None:
            raise ValueError("weights=None is not allowed with penalty='weighted_l1'; give one weight >= 0 per feature")
        return WeightedL1(alpha, jnp.asarray(weights))
    if name == "elastic_net":
        return ElasticNet(alpha, l1_ratio)
    return L1(alpha) if name == "l1" else L2(alpha)


def _labels(y, loss: Loss, dtype):
    """The target as the loss reads it: logistic labels {0, 1} or {-1, +1} become -1/+1."""
    if loss.name != "logistic":
        if loss.is_classifier:
            raise ValueError(f"loss={loss.name!r} is not supported by solution yet; use 'squared', 'logistic' or a GLM")
        return jnp.asarray(y, dtype)
    if not isinstance(y, jax.core.Tracer):
        vals = set(np.unique(np.asarray(y)).tolist())
        if not (vals <= {0, 1} or vals <= {-1, 1}):
            raise ValueError(
                f"y has labels {sorted(vals)[:10]}; loss='logistic' needs labels in {{0, 1}} or {{-1, +1}}"
            )
    return jnp.where(jnp.asarray(y) > 0, 1.0, -1.0).astype(dtype)


def solution(
    X,
    y,
    alpha=None,
    *,
    loss="squared",
    penalty="l1",
    l1_ratio=0.5,
    weights=None,
    sample_weight=None,
    fit_intercept=True,
    tol=1e-10,
    max_iter=None,
    coef_init=None,
    intercept_init=None,
):
    """The minimiser ``(coef, intercept)`` of ``loss(X @ w + b, y) + penalty(w)``, differentiable
    (``jax.grad``, ``jax.vjp``) by implicit differentiation, under ``jit`` and ``vmap``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), dense
    y : array of shape (n_samples,)
        Targets; for ``loss="logistic"`` labels in {0, 1} or {-1, +1}.
    alpha : float or scalar array
        The penalty's strength (``jaxreg.fit``'s scaling: mean loss + penalty). Required with a
        penalty name; with a Penalty instance it replaces the instance's alpha when given.
    loss : "squared", "logistic", a GLM loss name or a :class:`jaxreg.losses.Loss`
    penalty : "l1", "l2", "elastic_net", "weighted_l1" or a separable
        :class:`jaxreg.penalties.Penalty` (its array leaves are differentiable too)
    l1_ratio : float, for "elastic_net"
    weights : array of shape (n_features,), for "weighted_l1"
    sample_weight : array of shape (n_samples,), optional
        The loss is ``sum(sw * l) / sum(sw)``, so only the weights' ratios matter.
    fit_intercept : bool
    tol : float
        The forward fit's tolerance (``jaxreg.fit``'s); gradients are as accurate as the fit.
    max_iter : int, optional
    coef_init, intercept_init : optional warm start of the forward fit (not differentiated).

    Returns
    -------
    coef : array of shape (n_features,)
    intercept : scalar array (0 when ``fit_intercept=False``)

    Notes
    -----
    Off the support, the derivative of a zero coefficient is 0: exact where the support does
    not change under a small change of the inputs, which is everywhere but at the finitely many
    alphas where a coefficient enters or leaves. Float64 gradients need ``jax.enable_x64``.

    Examples
    --------
    >>> import jax, numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 5)); y = X @ np.array([1.0, 0, 0, -2.0, 0]) + 0.1
    >>> with jax.enable_x64(True):
    ...     g = jax.grad(lambda a: jaxreg.solution(X, y, a)[0][0])(0.1)
    >>> bool(g < 0)  # more shrinkage, smaller coefficient
    True
    """
    loss = get_loss(loss)
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept={fit_intercept!r} is not allowed; it must be True or False")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol={tol!r} is not allowed; tol must be a number > 0")
    if _sparse.is_sparse(X):
        raise ValueError("X is a scipy.sparse matrix; solution needs a dense X (X.toarray())")
    X = jnp.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X has shape {X.shape}; X must be 2-D (n_samples, n_features)")
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.result_type(float))
    dtype = X.dtype
    n, p = X.shape
    if np.shape(y) != (n,):
        raise ValueError(f"y has shape {np.shape(y)}; y must be 1-D with one target per row of X ({n},)")
    y = _labels(y, loss, dtype)
    sw = jnp.ones(n, dtype) if sample_weight is None else jnp.asarray(sample_weight, dtype)
    if sw.shape != (n,):
        raise ValueError(f"sample_weight has shape {sw.shape}; it must be 1-D with one weight per sample ({n},)")
    pen = _make_penalty(penalty, alpha, l1_ratio, weights)
    pen = jax.tree.map(lambda a: jnp.asarray(a, dtype), pen)
    loss = jax.tree.map(lambda a: jnp.asarray(a, dtype), loss)
    w0 = jnp.zeros(p, dtype) if coef_init is None else jnp.asarray(coef_init, dtype)
    b0 = jnp.zeros((), dtype) if intercept_init is None else jnp.asarray(intercept_init, dtype)
    if w0.shape != (p,):
        raise ValueError(f"coef_init has shape {w0.shape}; it must have shape ({p},)")
    options = (bool(fit_intercept), float(tol), None if max_iter is None else int(max_iter))
    return _solve_vjp(options, X, y, sw, loss, pen, w0, b0)


# ----------------------------------------------------------------------------- forward


def _host_fit(options, loss_def, pen_def, X, y, sw, loss_leaves, pen_leaves, w0, b0):
    """``jaxreg.fit`` in float64 on numpy values; (coef, intercept) in the input's dtype."""
    fit_intercept, tol, max_iter = options
    f64 = [np.asarray(a, np.float64) for a in (X, y, sw, w0, b0)]
    X64, y64, sw64, w064, b064 = f64
    leaves = [np.asarray(a, np.float64) for a in pen_leaves]
    leaves = [float(a) if a.ndim == 0 else a for a in leaves]
    # replace() runs the penalty's own checks (alpha >= 0, l1_ratio in [0, 1], weights >= 0)
    pen = dataclasses.replace(jax.tree.unflatten(pen_def, leaves))
    loss = jax.tree.unflatten(loss_def, [float(np.asarray(a)) for a in loss_leaves])
    if loss.is_classifier and len(np.unique(y64)) < 2:
        raise ValueError("y has one class only; loss='logistic' needs both labels among the rows fitted")
    res = fit(
        X64,
        y64,
        loss=loss,
        penalty=pen,
        fit_intercept=fit_intercept,
        tol=tol,
        max_iter=max_iter,
        sample_weight=sw64,
        coef_init=w064,
        intercept_init=b064 if fit_intercept else None,
    ).raise_for_status()
    _FITS[0] += 1
    if res.status != "converged":
        warnings.warn(
            f"solution: the forward fit stopped with status {res.status!r} (stop_crit {res.stop_crit:.3g} "
            f"> tol {tol:g}); its gradients are only as accurate as the fit",
            RuntimeWarning,
            stacklevel=2,
        )
    dtype = np.asarray(X).dtype
    return np.asarray(res.coef, dtype), np.asarray(res.intercept, dtype).reshape(())


def _host_call(fn, out_shapes, *args):
    """``fn(*args)`` on numpy values, from traced code through ``jax.pure_callback`` (``vmap``
    calls it once per batch element); ``out_shapes`` are ``ShapeDtypeStruct``s.

    Float64 crosses the callback as uint32 pairs, both ways: the callback's thread may not
    have x64 enabled (the context is thread-local), and JAX would then turn float64 inputs
    and results into float32 there."""
    if not any(isinstance(a, jax.core.Tracer) for a in args):
        return tuple(jnp.asarray(o) for o in fn(*(np.asarray(a) for a in args)))
    f64 = [a.dtype == jnp.float64 for a in args]
    out_f64 = [s.dtype == jnp.float64 for s in out_shapes]

    def host(*bits):
        outs = fn(*(_from_bits(u) if f else np.asarray(u) for u, f in zip(bits, f64, strict=True)))
        return tuple(_as_bits(o) if f else o for o, f in zip(outs, out_f64, strict=True))

    shapes = [
        jax.ShapeDtypeStruct(s.shape + (2,), jnp.uint32) if f else s for s, f in zip(out_shapes, out_f64, strict=True)
    ]
    bits = [jax.lax.bitcast_convert_type(a, jnp.uint32) if f else a for a, f in zip(args, f64, strict=True)]
    outs = jax.pure_callback(host, tuple(shapes), *bits, vmap_method="sequential")
    return tuple(jax.lax.bitcast_convert_type(o, jnp.float64) if f else o for o, f in zip(outs, out_f64, strict=True))


def _as_bits(a):
    """A float64 numpy array as uint32 pairs (a last axis of 2), as ``bitcast_convert_type``."""
    return np.ascontiguousarray(a).reshape(a.shape + (1,)).view(np.uint32)


def _from_bits(u):
    """The float64 array :func:`_as_bits` (or ``bitcast_convert_type``) encoded."""
    return np.ascontiguousarray(u).view(np.float64)[..., 0]


def _forward(options, X, y, sw, loss, pen, w0, b0):
    loss_leaves, loss_def = jax.tree.flatten(loss)
    pen_leaves, pen_def = jax.tree.flatten(pen)
    n_loss = len(loss_leaves)

    def host(X, y, sw, w0, b0, *leaves):
        return _host_fit(options, loss_def, pen_def, X, y, sw, leaves[:n_loss], leaves[n_loss:], w0, b0)

    shapes = (jax.ShapeDtypeStruct(w0.shape, X.dtype), jax.ShapeDtypeStruct((), X.dtype))
    return _host_call(host, shapes, X, y, sw, w0, b0, *loss_leaves, *pen_leaves)


# ----------------------------------------------------------------------------- backward


def _optimality(w, b, X, y, sw, loss, pen):
    """``G = grad_{(w, b)} f``: the objective's gradient in the coefficients and intercept."""
    gz = loss.grad_z(y, X @ w + b, sw)  # sw * loss' / sum(sw)
    return X.T @ gz + jax.grad(pen.value)(w), jnp.sum(gz)


def _curvatures(w, b, X, y, sw, loss, pen, fit_intercept):
    """What ``H = A^T diag(dh) A + diag(pen_h, 0)`` on ``A = [X, 1]`` is made of, and the
    mask of the coordinates it is restricted to (the support; the intercept if fitted)."""
    _, h = loss.derivatives(y, X @ w + b)
    dh = sw * h / jnp.sum(sw)
    # separable penalty: its Hessian is diagonal, the derivative of its gradient along ones
    pen_h = jax.jvp(jax.grad(pen.value), (w,), (jnp.ones_like(w),))[1]
    mask = jnp.concatenate([pen.generalized_support(w), jnp.array([fit_intercept])])
    return dh, jnp.where(mask[:-1], pen_h, 0.0), mask


def _restricted_solve(X, dh, pen_h, mask, rhs):
    """``v`` with ``H_SS v_S = rhs_S`` and 0 off ``S`` (numpy): the system on the support
    alone, ``n |S|^2`` to form, whatever the number of features."""
    S = np.flatnonzero(mask)
    cols = S[S < X.shape[1]]
    A = X[:, cols]
    if mask[-1]:
        A = np.hstack([A, np.ones((X.shape[0], 1), X.dtype)])
    H = A.T @ (dh[:, None] * A)
    H[np.diag_indices(len(cols))] += pen_h[cols]
    v = np.zeros_like(rhs)
    try:
        v[S] = np.linalg.solve(H, rhs[S])
    except np.linalg.LinAlgError:  # singular on the support (duplicate columns): least norm
        v[S] = np.linalg.lstsq(H, rhs[S], rcond=None)[0]
    return (v,)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _solve_vjp(options, X, y, sw, loss, pen, w0, b0):
    return _forward(options, X, y, sw, loss, pen, w0, b0)


def _fwd(options, X, y, sw, loss, pen, w0, b0):
    w, b = _forward(options, X, y, sw, loss, pen, w0, b0)
    return (w, b), (X, y, sw, loss, pen, w, b, w0, b0)


def _bwd(options, res, cts):
    """Solve ``H v = (gw, gb)`` on the support (numpy, on the host); the cotangents
    ``-(dG/d theta)^T v``. The pieces around the solve are compiled (eager, each operation
    would compile on its own); on concrete values (an eager ``jax.grad``) nothing goes
    through a callback."""
    X, y, sw, loss, pen, w, b, w0, b0 = res
    dh, pen_h, mask, rhs = _solve_inputs(w, b, X, y, sw, loss, pen, *cts, fit_intercept=options[0])
    (v,) = _host_call(_restricted_solve, (jax.ShapeDtypeStruct(rhs.shape, rhs.dtype),), X, dh, pen_h, mask, rhs)
    return _cotangents(v, w, b, X, y, sw, loss, pen) + (jnp.zeros_like(w0), jnp.zeros_like(b0))


@functools.partial(jax.jit, static_argnames=("fit_intercept",))
def _solve_inputs(w, b, X, y, sw, loss, pen, gw, gb, *, fit_intercept):
    dh, pen_h, mask = _curvatures(w, b, X, y, sw, loss, pen, fit_intercept)
    return dh, pen_h, mask, jnp.where(mask, jnp.concatenate([gw, jnp.reshape(gb, (1,))]), 0.0)


@jax.jit
def _cotangents(v, w, b, X, y, sw, loss, pen):
    _, vjp = jax.vjp(lambda *t: _optimality(w, b, *t), X, y, sw, loss, pen)
    return vjp((-v[:-1], -v[-1]))


_solve_vjp.defvjp(_fwd, _bwd)
