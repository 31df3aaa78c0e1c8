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
and ``y``. The system is formed and solved on the support alone, in numpy on the host
(``n |S|^2`` to form: a full ``(p + 1)``-square system with the off-support rows replaced by
the identity, which keeps one shape under ``jit``, cost 12 forward fits at p = 1000). For the
multinomial loss ``w`` is ``(p, K)``, ``D`` holds each sample's ``K x K`` Hessian, and the
intercepts' common shift (which no prediction sees) is left to a least-norm solve.

The forward pass is :func:`jaxreg.fit` (in float64 on the host, whatever the input dtype).
Both host steps are called directly on concrete values (an eager ``jax.grad``) and through
``jax.pure_callback`` when traced (under ``jit`` or ``vmap``; ``vmap`` runs them one after
another).
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


def _labels(y, loss: Loss, dtype, n: int):
    """The target as the loss reads it: logistic labels {0, 1} or {-1, +1} become -1/+1;
    multinomial class labels become one-hot rows (a 2-D ``y`` is taken as one-hot already)."""
    if loss.name == "multinomial":
        if np.ndim(y) == 2 and np.shape(y)[0] == n:
            return jnp.asarray(y, dtype)
        if isinstance(y, jax.core.Tracer) or np.shape(y) != (n,):
            raise ValueError(
                f"y has shape {np.shape(y)}; loss='multinomial' needs ({n},) class labels (concrete) "
                f"or ({n}, n_classes) one-hot rows"
            )
        classes, idx = np.unique(np.asarray(y), return_inverse=True)
        return jnp.asarray(np.eye(len(classes), dtype=dtype)[idx])
    if np.shape(y) != (n,):
        raise ValueError(f"y has shape {np.shape(y)}; y must be 1-D with one target per row of X ({n},)")
    if loss.is_classifier and loss.name != "logistic":
        raise ValueError(f"loss={loss.name!r} is not supported by solution; use 'squared', 'logistic', 'multinomial'")
    if loss.name != "logistic":
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
        Targets; for ``loss="logistic"`` labels in {0, 1} or {-1, +1}; for "multinomial"
        class labels (concrete) or one-hot rows of shape (n_samples, n_classes).
    alpha : float or scalar array
        The penalty's strength (``jaxreg.fit``'s scaling: mean loss + penalty). Required with a
        penalty name; with a Penalty instance it replaces the instance's alpha when given.
    loss : "squared", "logistic", "multinomial", a GLM loss name or a :class:`jaxreg.losses.Loss`
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
    coef : array of shape (n_features,) (multinomial: (n_features, n_classes))
    intercept : scalar array (multinomial: (n_classes,)); 0 when ``fit_intercept=False``

    Notes
    -----
    Off the support, the derivative of a zero coefficient is 0: exact where the support does
    not change under a small change of the inputs, which is everywhere but at the finitely many
    alphas where a coefficient enters or leaves. Float64 gradients need ``jax.enable_x64``.
    Multinomial: adding one constant to every intercept changes no prediction, so the
    intercepts are determined only up to it; the backward pass takes the least-norm solution,
    exact for anything that depends on the predictions (probabilities, losses, coefficients).

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
    y = _labels(y, loss, dtype, n)
    out = y.shape[1:]  # (n_classes,) for multinomial, () otherwise
    sw = jnp.ones(n, dtype) if sample_weight is None else jnp.asarray(sample_weight, dtype)
    if sw.shape != (n,):
        raise ValueError(f"sample_weight has shape {sw.shape}; it must be 1-D with one weight per sample ({n},)")
    pen = _make_penalty(penalty, alpha, l1_ratio, weights)
    pen = jax.tree.map(lambda a: jnp.asarray(a, dtype), pen)
    loss = jax.tree.map(lambda a: jnp.asarray(a, dtype), loss)
    w0 = jnp.zeros((p, *out), dtype) if coef_init is None else jnp.asarray(coef_init, dtype)
    b0 = jnp.zeros(out, dtype) if intercept_init is None else jnp.broadcast_to(jnp.asarray(intercept_init, dtype), out)
    if w0.shape != (p, *out):
        raise ValueError(f"coef_init has shape {w0.shape}; it must have shape {(p, *out)}")
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
    if y64.ndim == 2:  # one-hot rows: fit takes the labels
        y64 = np.argmax(y64, axis=1)
    k = max(2, w064.shape[1] if w064.ndim == 2 else 2)
    if loss.is_classifier and len(np.unique(y64[sw64 > 0])) < k:
        raise ValueError(
            f"y has {len(np.unique(y64[sw64 > 0]))} class(es) among the rows fitted (weight > 0); "
            f"loss={loss.name!r} needs all {k} among them"
        )
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
    return np.asarray(res.coef, dtype), np.asarray(res.intercept, dtype).reshape(np.shape(b0))


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

    shapes = (jax.ShapeDtypeStruct(w0.shape, X.dtype), jax.ShapeDtypeStruct(b0.shape, X.dtype))
    return _host_call(host, shapes, X, y, sw, w0, b0, *loss_leaves, *pen_leaves)


# ----------------------------------------------------------------------------- backward


def _optimality(w, b, X, y, sw, loss, pen):
    """``G = grad_{(w, b)} f``: the objective's gradient in the coefficients and intercept."""
    gz = loss.grad_z(y, X @ w + b, sw)  # sw * loss' / sum(sw)
    return X.T @ gz + jax.grad(pen.value)(w), jnp.sum(gz, axis=0)


def _curvatures(w, b, X, y, sw, loss, pen, fit_intercept):
    """What ``H`` is made of, with every output a column (one for a 1-D ``w``):
    ``C`` (n, K, K), the weighted Hessian of each sample's loss in its predictions;
    ``pen_h`` (p, K), the penalty's (diagonal) Hessian; ``mask`` (p + 1, K), the
    coordinates ``H`` is restricted to (the support; the intercept's row if fitted)."""
    z = X @ w + b
    d = sw / jnp.sum(sw)
    if z.ndim == 1:
        C = (d * loss.derivatives(y, z)[1])[:, None, None]
    else:  # a row of predictions per sample (multinomial): its K x K Hessian
        C = d[:, None, None] * jax.vmap(jax.hessian(loss.per_sample, argnums=1))(y, z)
    # separable penalty: its Hessian is diagonal, the derivative of its gradient along ones
    pen_h = jax.jvp(jax.grad(pen.value), (w,), (jnp.ones_like(w),))[1]
    support = pen.generalized_support(w).reshape(w.shape[0], -1)
    mask = jnp.concatenate([support, jnp.full((1, support.shape[1]), fit_intercept)])
    return C, jnp.where(support, pen_h.reshape(support.shape), 0.0), mask


def _columns(X, rows):
    """The columns ``rows`` of ``A = [X, 1]`` (index ``p`` is the intercept's)."""
    A = X[:, rows[rows < X.shape[1]]]
    with_intercept = len(rows) > 0 and rows[-1] == X.shape[1]
    return np.hstack([A, np.ones((X.shape[0], 1), X.dtype)]) if with_intercept else A


def _restricted_solve(X, C, pen_h, mask, rhs):
    """``v`` with ``H_SS v_S = rhs_S`` and 0 off ``S`` (numpy), ``H`` the Hessian in
    ``(w, b)``: blocks ``A_k^T diag(C[:, k, m]) A_m`` on each class's support, plus the
    penalty's diagonal. The system on the support alone: ``n |S|^2`` to form."""
    K = C.shape[1]
    rows = [np.flatnonzero(mask[:, k]) for k in range(K)]
    A = [_columns(X, r) for r in rows]
    H = np.block([[A[k].T @ (C[:, k, m][:, None] * A[m]) for m in range(K)] for k in range(K)])
    H[np.diag_indices(H.shape[0])] += np.concatenate([np.append(pen_h[:, k], 0.0)[r] for k, r in enumerate(rows)])
    r_S = np.concatenate([rhs[r, k] for k, r in enumerate(rows)])
    try:
        if K > 1:  # softmax: shifting every intercept alike changes nothing (a null direction)
            raise np.linalg.LinAlgError
        v_S = np.linalg.solve(H, r_S)
    except np.linalg.LinAlgError:  # singular (that, or duplicate columns): the least-norm v
        v_S = np.linalg.lstsq(H, r_S, rcond=None)[0]
    v = np.zeros_like(rhs)
    ends = np.cumsum([len(r) for r in rows])[:-1]
    for k, (r, part) in enumerate(zip(rows, np.split(v_S, ends), strict=True)):
        v[r, k] = part
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
    C, pen_h, mask, rhs = _solve_inputs(w, b, X, y, sw, loss, pen, *cts, fit_intercept=options[0])
    (v,) = _host_call(_restricted_solve, (jax.ShapeDtypeStruct(rhs.shape, rhs.dtype),), X, C, pen_h, mask, rhs)
    return _cotangents(v, w, b, X, y, sw, loss, pen) + (jnp.zeros_like(w0), jnp.zeros_like(b0))


@functools.partial(jax.jit, static_argnames=("fit_intercept",))
def _solve_inputs(w, b, X, y, sw, loss, pen, gw, gb, *, fit_intercept):
    C, pen_h, mask = _curvatures(w, b, X, y, sw, loss, pen, fit_intercept)
    g = jnp.concatenate([gw.reshape(mask.shape[0] - 1, -1), gb.reshape(1, -1)])
    return C, pen_h, mask, jnp.where(mask, g, 0.0)


@jax.jit
def _cotangents(v, w, b, X, y, sw, loss, pen):
    _, vjp = jax.vjp(lambda *t: _optimality(w, b, *t), X, y, sw, loss, pen)
    return vjp((-v[:-1].reshape(w.shape), -v[-1].reshape(b.shape)))


_solve_vjp.defvjp(_fwd, _bwd)
