"""The passes over the whole design of the working-set solver for the squared loss (see
:mod:`jaxreg.solvers.working_set` for the algorithm): the per-problem constants, the
stopping criterion (relative duality gap or subdifferential distance), the check of a point
and the starts, each jit-compiled alone and batched over problems (:func:`pieces`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxreg.penalties import l1_distance

HIGHEST = lax.Precision.HIGHEST
dot = partial(jnp.matmul, precision=HIGHEST)


def pieces(*fns_and_statics):
    """``{name: (jit(fn), jit(vmap(fn)))}``: the batched form maps every argument but the
    first (the design ``XT``, shared) over a leading axis."""

    def both(fn, n_args, static):
        single = jax.jit(fn, static_argnames=static)
        axes = (None,) + (0,) * (n_args - 1)

        def batched_fn(*a, **s):
            return jax.vmap(partial(fn, **s), in_axes=axes)(*a)

        # a module-level name of its own: the disk cache of _compile keys on it
        batched_fn.__qualname__ = batched_fn.__name__ = f"{fn.__qualname__}_batched"
        batched_fn.__module__ = fn.__module__

        return single, jax.jit(batched_fn, static_argnames=static)

    return {fn.__name__: both(fn, n, static) for fn, n, static in fns_and_statics}


class Box(NamedTuple):
    """A penalty ``sum_j l1_j |w_j| + l2/2 ||w||^2`` subject to ``lower <= w <= upper`` (one
    bound per feature, ``lower <= 0 <= upper``; :class:`jaxreg.penalties.Bounded`,
    ``positive=True`` is ``lower = 0``): what the squared-loss kernels take in the place of
    ``l1`` for a box-constrained fit. Coordinate descent clips each update to the box (the
    exact coordinate minimiser: the 1-D problem is convex), the criterion measures
    optimality with the box's normal cone and the duality gap with its conjugate."""

    l1: jax.Array
    lower: jax.Array
    upper: jax.Array


def box_terms(l1):
    """``(l1, lower, upper)`` of an ``l1`` argument: a :class:`Box`'s fields, or a plain
    ``l1`` with ``None`` bounds (the unconstrained programs then trace no box at all)."""
    return tuple(l1) if isinstance(l1, Box) else (l1, None, None)


def box_distance(w, xta, l1, lower, upper):
    """Per feature, the distance of ``xta = -grad`` to ``l1 d|w| + N(w)`` (``N`` the box's
    normal cone): at zero the violation in each direction the box leaves open, strictly
    inside ``|xta - l1 sign(w)|``, on a nonzero bound only the part pointing into the box."""
    up, down = jnp.maximum(xta - l1, 0.0), jnp.maximum(-xta - l1, 0.0)
    at_zero = jnp.maximum(jnp.where(upper > 0, up, 0.0), jnp.where(lower < 0, down, 0.0))
    g = xta - l1 * jnp.sign(w)
    off_zero = jnp.where(w >= upper, jnp.maximum(-g, 0.0), jnp.where(w <= lower, jnp.maximum(g, 0.0), jnp.abs(g)))
    return jnp.where(w == 0, at_zero, off_zero)


class Prep(NamedTuple):
    """Per-problem constants: normalized weights ``d``, weighted column means ``xbar``, the
    centred target ``yc = y - ybar``, ``ybar`` and ``ny2 = sum d yc^2`` (the gap's scale)."""

    d: jax.Array
    xbar: jax.Array
    yc: jax.Array
    ybar: jax.Array
    ny2: jax.Array


class Check(NamedTuple):
    """The outer loop's view of a point: criterion (and which), scores, support size,
    objective, ``corr = Xc^T D r`` (reused when only the penalty changes) and the optimal
    intercept (:func:`intercept`: computed here, it needs no call of its own at the end)."""

    crit: jax.Array
    kind: jax.Array
    scores: jax.Array
    nnz: jax.Array
    obj: jax.Array
    corr: jax.Array
    b: jax.Array


def make_prep(XT, y, d, fit_intercept: bool) -> Prep:
    if fit_intercept:
        xbar, ybar = dot(XT, d), jnp.vdot(d, y)
    else:
        xbar, ybar = jnp.zeros(XT.shape[0], XT.dtype), jnp.zeros((), XT.dtype)
    yc = y - ybar
    return Prep(d, xbar, yc, ybar, jnp.vdot(d, yc * yc))


def rows(XT, prep: Prep, idx):
    """Centred features ``idx`` as rows ``(len(idx), n)`` (one gather), zero rows where
    ``idx`` is padding (>= p)."""
    R = XT.at[idx].get(mode="fill", fill_value=0.0)
    return R - prep.xbar.at[idx].get(mode="fill", fill_value=0.0)[:, None]


def criterion(corr, w, r, prep: Prep, l1, l2):
    """The stopping measure for ``corr = Xc^T D r`` (on all features or a subset).

    The duality gap relative to ``sum d yc^2`` when every ``l1_j > 0``, else the largest
    subdifferential distance. Returns ``(value, kind, per-feature distance)``.

    With a :class:`Box` the dual point is rescaled only for the directions the box leaves
    unbounded (``positive=True``: scikit-learn's one-sided dual norm ``max X^T r / l1``), and
    a finite nonzero bound adds its conjugate term ``upper (c xta - l1)_+ + lower (c xta +
    l1)_-`` to the gap (zero at an optimum's dual point, finite anywhere).
    """
    l1, lower, upper = box_terms(l1)
    xta = corr - l2 * w
    if lower is None:
        dist, bind = l1_distance(w, -xta, l1), jnp.abs(xta)
    else:
        dist = box_distance(w, xta, l1, lower, upper)
        bind = jnp.maximum(jnp.where(jnp.isinf(upper), xta, 0.0), jnp.where(jnp.isinf(lower), -xta, 0.0))
    ratio = jnp.where(l1 > 0, bind / jnp.where(l1 > 0, l1, 1.0), 0.0)
    dual_norm = jnp.max(ratio, initial=0.0)
    c = jnp.where(dual_norm > 1.0, 1.0 / dual_norm, 1.0)
    dr = prep.d * r
    gap = 0.5 * (1.0 + c**2) * (jnp.vdot(dr, r) + l2 * jnp.vdot(w, w)) + jnp.vdot(l1, jnp.abs(w))
    gap = gap - c * jnp.vdot(dr, prep.yc)
    if lower is not None:
        s, hi, lo = c * xta, jnp.where(jnp.isinf(upper), 0.0, upper), jnp.where(jnp.isinf(lower), 0.0, lower)
        gap = gap + jnp.vdot(hi, jnp.maximum(s - l1, 0.0)) + jnp.vdot(lo, jnp.minimum(s + l1, 0.0))
    use_gap = jnp.all(l1 > 0)
    scale = jnp.maximum(prep.ny2, jnp.finfo(r.dtype).tiny)
    value = jnp.where(use_gap, jnp.maximum(gap, 0.0) / scale, jnp.max(dist, initial=0.0))
    return value, jnp.where(use_gap, 0, 1), dist


def primal(d, r, w, l1, l2):
    """The objective at a point inside the box (``l1`` plain or a :class:`Box`)."""
    l1 = box_terms(l1)[0]
    return 0.5 * jnp.vdot(d * r, r) + jnp.vdot(l1, jnp.abs(w)) + 0.5 * l2 * jnp.vdot(w, w)


def evaluate(XT, corr, prep: Prep, w, r, l1, l2) -> Check:
    """The check from a known ``corr`` (``XT`` is unused: it keeps the shared argument
    first, as the batched pieces expect). The criterion is NaN where ``corr`` is not
    finite: a NaN or infinite entry of ``X`` makes ``corr`` non-finite in the first pass
    (``inf * 0`` is NaN too), which is how a fit learns of one (see
    :class:`~jaxreg.solvers.working_set_loop.NonFiniteDesign`)."""
    crit, kind, dist = criterion(corr, w, r, prep, l1, l2)
    crit = jnp.where(jnp.all(jnp.isfinite(corr)), crit, jnp.nan)
    scores = jnp.where(w != 0, jnp.inf, dist)
    obj = primal(prep.d, r, w, l1, l2)
    return Check(crit, kind, scores, jnp.sum(w != 0), obj, corr, intercept(XT, prep, w))


def correlate(XT, xbar, d, r):
    """``Xc^T D r = XT @ (d r) - xbar sum(d r)``: one pass over the design."""
    dr = d * r
    return dot(XT, dr) - xbar * jnp.sum(dr)


def predict(XT, xbar, w):
    """``Xc w = w @ XT - xbar . w``: one pass over the design."""
    return dot(w, XT) - jnp.vdot(xbar, w)


def check(XT, prep: Prep, w, r, l1, l2) -> Check:
    """One pass over the design: ``corr = Xc^T D r`` (:func:`correlate`), then
    :func:`evaluate`."""
    return evaluate(XT, correlate(XT, prep.xbar, prep.d, r), prep, w, r, l1, l2)


def start(XT, y, weights, w, *, fit_intercept: bool):
    """Constants and the centred residual ``r = yc - (X - xbar) w``."""
    prep = make_prep(XT, y, weights / jnp.sum(weights), fit_intercept)
    return prep, residual(XT, prep, w)


def residual(XT, prep: Prep, w):
    """The centred residual ``yc - Xc w``, recomputed in one pass. Coordinate descent and
    the Newton step update the residual in place; in float32 it drifts from the true one
    (by ~1e-5 relative over an inner solve), which stalls the duality gap above a relative
    1e-6 and can leave the solver at the wrong point. float32 fits recompute it after each
    inner solve."""
    return prep.yc - predict(XT, prep.xbar, w)


def start_cold(XT, y, weights, l1, l2, *, fit_intercept: bool):
    """:func:`start` and :func:`check` at ``w = 0`` in one pass over the design: ``r = yc``,
    and ``XT @ [d, d y]`` gives both ``xbar`` and ``corr = XT @ (d yc) - xbar sum(d yc)``
    (``= XT @ (d y) - ybar xbar``; ``sum(d yc) = 0`` with an intercept, ``ybar = 0`` without).
    Returns ``(prep, r, check)``."""
    d = weights / jnp.sum(weights)
    M = dot(XT, jnp.stack([d, d * y], axis=1))
    if fit_intercept:
        xbar, ybar = M[:, 0], jnp.vdot(d, y)
    else:
        xbar, ybar = jnp.zeros_like(M[:, 0]), jnp.zeros((), y.dtype)
    yc = y - ybar
    prep = Prep(d, xbar, yc, ybar, jnp.vdot(d, yc * yc))
    w = jnp.zeros_like(xbar)
    return prep, yc, evaluate(XT, M[:, 1] - ybar * xbar, prep, w, yc, l1, l2)


def intercept(XT, prep: Prep, w):
    """The optimal intercept ``ybar - xbar . w`` (``XT`` unused, kept first for batching)."""
    return prep.ybar - jnp.vdot(prep.xbar, w)


SQUARED = pieces(
    (start, 4, ("fit_intercept",)),
    (start_cold, 5, ("fit_intercept",)),
    (check, 6, ()),
    (evaluate, 7, ()),
    (intercept, 3, ()),
    (residual, 3, ()),
)
