"""Penalties with exact proximal operators.

Every penalty is a small frozen pytree whose strength ``alpha`` is a traced leaf (a new
alpha never recompiles). The uniform interface (the jaxopt/skglm habit):

``value(w)``
    the penalty, scaled as in ``shared/DESIGN.md`` so ``alpha`` means what it means in
    scikit-learn;
``prox(v, step)``
    ``argmin_u 1/(2 step) ||u - v||^2 + value(u)``, exact;
``subdiff_distance(w, grad)``
    per coordinate, how far ``-grad`` is from the subdifferential of the penalty at ``w``;
    all zero exactly at an optimum of ``f + penalty`` when ``grad`` is the gradient of ``f``;
``alpha_max(grad0)``
    the smallest ``alpha`` for which ``w = 0`` is optimal, given the datafit gradient at 0;
``smooth``
    whether the penalty is differentiable everywhere (then gradient methods may use it).

What coordinate-wise solvers (the working set) ask of a *separable* penalty
(``separable = True``: a sum of one term per coefficient):

``prox_1d(v, step, j)``
    the prox of coefficient ``j``'s own term at the scalar ``v``;
``restrict(idx)``
    the penalty of the coefficients ``idx`` alone (per-feature parameters gathered; an
    index ``>= p`` is padding and gets a zero term), so ``prox_1d(v, step, k)`` of the
    restriction is coefficient ``idx[k]``'s;
``generalized_support(w)``
    where the penalty is differentiable at ``w`` (``w != 0`` for L1-type terms);
``penalized(n_features)``
    which coefficients carry a term at all (numpy, known before any fit);
``as_elastic_net(n_features, dtype)``
    ``(l1 (p,), l2)`` with ``value(w) = sum_j l1_j |w_j| + l2 / 2 ||w||^2`` when the
    penalty has that form (the fast squared/logistic kernels and the duality gap use it),
    else None.

Non-separable penalties say ``separable = False``: ``LInf`` is left to FISTA; the group
penalties (``GroupLasso``, ``SparseGroupLasso``: :class:`GroupPenalty`) give their terms per
block of a static :class:`GroupLayout` (``block_terms``, the one-block ``prox_block`` and
``residual_block``), which the block coordinate descent of
:mod:`jaxreg.solvers.group_bcd` asks for, and FISTA takes them through ``prox``.

Coefficients may be a vector ``(p,)`` or a matrix ``(p, K)`` (multinomial); every penalty
here acts on all entries (``LInf`` takes the maximum over all of them).
"""

from __future__ import annotations

import copy
import functools
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._tree import is_concrete, pytree_dataclass

__all__ = [
    "Penalty",
    "NoPenalty",
    "L1",
    "L2",
    "ElasticNet",
    "WeightedL1",
    "Lp",
    "LInf",
    "MCP",
    "SCAD",
    "Bounded",
    "keep_positive",
    "soft_threshold",
    "simplex_threshold",
    "l1_distance",
    "GroupPenalty",
    "GroupLasso",
    "SparseGroupLasso",
    "GroupLayout",
    "group_layout",
    "canonical_groups",
    "prox_block",
    "residual_block",
]


# ----------------------------------------------------------------------------- helpers


def soft_threshold(v, thresh):
    """``sign(v) * max(|v| - thresh, 0)``: exact zeros wherever ``|v| <= thresh``."""
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - thresh, 0.0)


def simplex_threshold(a, radius, mask=None):
    """The ``tau`` with ``sum_i max(a_i - tau, 0) = radius`` over the entries in ``mask``.

    Projection onto the scaled simplex is ``max(a - tau, 0)``; onto the L1 ball of the same
    radius it is the same with ``max(tau, 0)`` (Duchi et al., 2008, sort-based, exact).
    """
    a = jnp.ravel(a)
    if mask is None:
        mask = jnp.ones(a.shape, bool)
    mask = jnp.ravel(mask)
    u = jnp.sort(jnp.where(mask, a, -jnp.inf))[::-1]
    u_fin = jnp.where(jnp.isfinite(u), u, 0.0)
    css = jnp.cumsum(u_fin) - radius
    j = jnp.arange(1, a.size + 1, dtype=a.dtype)
    cond = (u > css / j) & jnp.isfinite(u)
    rho = jnp.maximum(jnp.sum(cond), 1)
    return css[rho - 1] / rho


def _check_alpha(alpha, name="alpha"):
    if is_concrete(alpha):
        a = np.asarray(alpha, dtype=float)
        if a.ndim != 0 or not np.isfinite(a) or a < 0:
            raise ValueError(f"{name}={alpha!r} is not allowed; {name} must be a finite number >= 0")


def _check_weights(penalty, per):
    """A penalty's ``weights`` as a float array when given as a list, checked when concrete:
    1-D, finite, >= 0 (``per`` says how many)."""
    if isinstance(penalty.weights, (list, tuple)):
        object.__setattr__(penalty, "weights", np.asarray(penalty.weights, dtype=float))
    if is_concrete(penalty.weights):
        wt = np.asarray(penalty.weights, dtype=float)
        if wt.ndim != 1 or not np.all(np.isfinite(wt)) or np.any(wt < 0):
            raise ValueError(
                f"weights={penalty.weights!r} is not allowed; weights must be a 1-D array of finite numbers >= 0 {per}"
            )


def l1_distance(w, grad, thresh):
    """Distance of ``-grad`` to ``thresh * d|w|`` coordinate by coordinate."""
    at_zero = jnp.maximum(jnp.abs(grad) - thresh, 0.0)
    off_zero = jnp.abs(grad + thresh * jnp.sign(w))
    return jnp.where(w == 0, at_zero, off_zero)


# ----------------------------------------------------------------------------- penalties


class Penalty:
    """Base class of penalties. Subclasses are final frozen pytrees."""

    name: ClassVar[str]
    separable: ClassVar[bool] = True

    @property
    def smooth(self) -> bool:  # pragma: no cover - overridden
        return False

    def prox_1d(self, v, step, j):
        """The prox of coefficient ``j``'s term at the scalar ``v`` (separable penalties; the
        terms of this base form are all alike, so ``j`` is unused)."""
        return self.prox(v, step)

    def restrict(self, idx):
        """The penalty of the coefficients ``idx`` (padding ``>= p`` gets a zero term)."""
        return self

    def generalized_support(self, w):
        """Where the penalty is differentiable at ``w``: everywhere for a smooth one, off
        zero for the L1-type ones."""
        return jnp.ones(w.shape, bool) if self.smooth else w != 0

    def penalized(self, n_features: int):
        """Which of ``n_features`` coefficients carry a penalty term (numpy bool)."""
        return np.ones(n_features, bool)

    def check_n_features(self, n_features: int):
        """Raise a ValueError when the penalty's structure does not fit ``n_features``
        coefficients (the group penalties' groups); called once by ``fit`` and ``path``."""

    def as_elastic_net(self, n_features: int, dtype):
        """``(l1, l2)`` in numpy with ``value(w) = sum l1_j |w_j| + l2/2 ||w||^2``, or None
        when the penalty is not of that form."""
        return None

    def bounds(self, n_features: int, dtype):
        """``(lower, upper)`` (numpy, one per feature) of a box-constrained penalty, or None
        when the coefficients are free."""
        return None

    def grad_lipschitz(self):
        """Lipschitz constant of the penalty's gradient, or None when the gradient is not
        Lipschitz (non-smooth penalties, Lp with p != 2): then solvers use the prox."""
        return None

    def value(self, w):  # pragma: no cover - abstract
        raise NotImplementedError

    def prox(self, v, step):  # pragma: no cover - abstract
        raise NotImplementedError

    def subdiff_distance(self, w, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def alpha_max(self, grad0):
        raise ValueError(
            f"alpha_max does not exist for {type(self).__name__}: w = 0 is optimal for no "
            "finite alpha unless the gradient at 0 is 0 (it exists for L1, WeightedL1, "
            "ElasticNet with l1_ratio > 0, Lp with p = 1 and LInf)"
        )

    def with_alpha(self, alpha):
        """A copy with a new ``alpha`` (same structure, so no recompilation)."""
        import dataclasses

        return dataclasses.replace(self, alpha=alpha)


@pytree_dataclass
class NoPenalty(Penalty):
    """No penalty: ordinary least squares / unregularized logistic regression."""

    name: ClassVar[str] = "none"

    @property
    def smooth(self):
        return True

    def grad_lipschitz(self):
        return 0.0

    def value(self, w):
        return jnp.zeros((), w.dtype)

    def prox(self, v, step):
        return v

    def subdiff_distance(self, w, grad):
        return jnp.abs(grad)

    def penalized(self, n_features):
        return np.zeros(n_features, bool)

    def with_alpha(self, alpha):
        return self

    def __repr__(self):
        return "NoPenalty()"


@pytree_dataclass
class L1(Penalty):
    """Lasso penalty ``alpha * ||w||_1``; its prox is soft-thresholding (exact zeros)."""

    alpha: float = 1.0
    name: ClassVar[str] = "l1"

    def __post_init__(self):
        _check_alpha(self.alpha)

    def value(self, w):
        return self.alpha * jnp.sum(jnp.abs(w))

    def prox(self, v, step):
        return soft_threshold(v, step * self.alpha)

    def subdiff_distance(self, w, grad):
        return l1_distance(w, grad, self.alpha)

    def alpha_max(self, grad0):
        return jnp.max(jnp.abs(grad0))

    def as_elastic_net(self, n_features, dtype):
        return np.full(n_features, self.alpha, dtype), np.zeros((), dtype)


@pytree_dataclass
class L2(Penalty):
    """Ridge penalty ``alpha / 2 * ||w||^2``."""

    alpha: float = 1.0
    name: ClassVar[str] = "l2"

    def __post_init__(self):
        _check_alpha(self.alpha)

    @property
    def smooth(self):
        return True

    def grad_lipschitz(self):
        return self.alpha

    def value(self, w):
        return 0.5 * self.alpha * jnp.sum(w**2)

    def prox(self, v, step):
        return v / (1.0 + step * self.alpha)

    def subdiff_distance(self, w, grad):
        return jnp.abs(grad + self.alpha * w)


@pytree_dataclass
class ElasticNet(Penalty):
    """``alpha * (l1_ratio * ||w||_1 + (1 - l1_ratio) / 2 * ||w||^2)`` (scikit-learn's)."""

    alpha: float = 1.0
    l1_ratio: float = 0.5
    name: ClassVar[str] = "elasticnet"

    def __post_init__(self):
        _check_alpha(self.alpha)
        if is_concrete(self.l1_ratio) and not (0.0 <= float(self.l1_ratio) <= 1.0):
            raise ValueError(f"l1_ratio={self.l1_ratio!r} is not allowed; l1_ratio must be in [0, 1]")

    def value(self, w):
        l1 = self.l1_ratio * jnp.sum(jnp.abs(w))
        l2 = 0.5 * (1.0 - self.l1_ratio) * jnp.sum(w**2)
        return self.alpha * (l1 + l2)

    def prox(self, v, step):
        shrunk = soft_threshold(v, step * self.alpha * self.l1_ratio)
        return shrunk / (1.0 + step * self.alpha * (1.0 - self.l1_ratio))

    def subdiff_distance(self, w, grad):
        smooth_grad = grad + self.alpha * (1.0 - self.l1_ratio) * w
        return l1_distance(w, smooth_grad, self.alpha * self.l1_ratio)

    def alpha_max(self, grad0):
        if is_concrete(self.l1_ratio) and float(self.l1_ratio) == 0.0:
            return super().alpha_max(grad0)
        return jnp.max(jnp.abs(grad0)) / self.l1_ratio

    def as_elastic_net(self, n_features, dtype):
        alpha, r = np.asarray(self.alpha, dtype), np.asarray(self.l1_ratio, dtype)
        return np.full(n_features, alpha * r, dtype), np.asarray(alpha * (1 - r), dtype)


@pytree_dataclass
class WeightedL1(Penalty):
    """Adaptive-lasso penalty ``alpha * sum(weights_i * |w_i|)``; a zero weight leaves a
    coefficient unpenalized."""

    alpha: float = 1.0
    weights: object = None
    name: ClassVar[str] = "weighted_l1"

    def __post_init__(self):
        _check_alpha(self.alpha)
        # weights=None is rejected by fit's validation, not here: JAX rebuilds pytrees with
        # placeholder leaves, and a constructor that raises would break that.
        _check_weights(self, "(one per feature)")

    def _thresh(self, w):
        wt = self.weights
        return self.alpha * (wt if w.ndim == 1 else wt[:, None])

    def value(self, w):
        return jnp.sum(self._thresh(w) * jnp.abs(w))

    def prox(self, v, step):
        return soft_threshold(v, step * self._thresh(v))

    def subdiff_distance(self, w, grad):
        return l1_distance(w, grad, self._thresh(w))

    def alpha_max(self, grad0):
        wt = self.weights if grad0.ndim == 1 else self.weights[:, None]
        ratio = jnp.where(wt > 0, jnp.abs(grad0) / jnp.where(wt > 0, wt, 1.0), 0.0)
        return jnp.max(ratio)

    def prox_1d(self, v, step, j):
        return soft_threshold(v, step * self.alpha * self.weights[j])

    def restrict(self, idx):
        wt = jnp.asarray(self.weights).at[idx].get(mode="fill", fill_value=0.0)
        return WeightedL1(self.alpha, wt)

    def penalized(self, n_features):
        return np.asarray(self.weights) > 0

    def as_elastic_net(self, n_features, dtype):
        return np.asarray(self.alpha, dtype) * np.asarray(self.weights, dtype), np.zeros((), dtype)


@pytree_dataclass(static=("p",))
class Lp(Penalty):
    """``alpha / p * sum |w_i|^p`` for ``p >= 1`` (``p = 1`` is L1, ``p = 2`` is L2).

    ``p`` is structural (a new ``p`` recompiles; a new ``alpha`` does not). The prox solves
    ``t + step * alpha * t^(p-1) = |v|`` elementwise by a Newton iteration started to the
    right of the root of a convex increasing function, so it decreases monotonically to the
    root. For ``1 < p < 2`` the iteration runs on ``u = t^(p-1)``, where the equation
    ``u^(1/(p-1)) + c u = |v|`` is again convex: plain Newton on ``t`` fails near zero there
    because ``t^(p-1)`` has an infinite derivative at 0.
    """

    alpha: float = 1.0
    p: float = 2.0
    name: ClassVar[str] = "lp"
    newton_iters: ClassVar[int] = 40

    def __post_init__(self):
        _check_alpha(self.alpha)
        p = self.p
        if not isinstance(p, (int, float, np.integer, np.floating)) or isinstance(p, bool):
            raise ValueError(f"p={p!r} is not allowed; p must be a number >= 1")
        if not np.isfinite(p) or p < 1:
            raise ValueError(f"p={p!r} is not allowed; p must be a finite number >= 1 (use LInf for p = inf)")
        object.__setattr__(self, "p", float(p))

    @property
    def smooth(self):
        return self.p > 1.0

    def grad_lipschitz(self):
        return self.alpha if self.p == 2.0 else None

    def value(self, w):
        return self.alpha / self.p * jnp.sum(jnp.abs(w) ** self.p)

    def _abs_prox(self, a, c):
        """Root t in [0, a] of ``t + c t^(p-1) = a`` (a >= 0, c >= 0), elementwise."""
        p = self.p
        if p == 1.0:
            return jnp.maximum(a - c, 0.0)
        if p == 2.0:
            return a / (1.0 + c)
        safe_a = jnp.where(a > 0, a, 1.0)
        safe_c = jnp.where(c > 0, c, 1.0)
        if p > 2.0:
            m = p - 1.0  # g(t) = t + c t^m - a, convex increasing; start at an upper bound
            t0 = jnp.where(c > 0, jnp.minimum(safe_a, (safe_a / safe_c) ** (1.0 / m)), safe_a)

            def step(_, t):
                g = t + c * t**m - safe_a
                return jnp.maximum(t - g / (1.0 + c * m * t ** (m - 1.0)), 0.0)

            t = lax.fori_loop(0, self.newton_iters, step, t0)
        else:
            q = p - 1.0  # h(u) = u^(1/q) + c u - a with t = u^(1/q); 1/q > 1 so h is convex
            r = 1.0 / q
            u0 = jnp.where(c > 0, jnp.minimum(safe_a**q, safe_a / safe_c), safe_a**q)

            def step(_, u):
                h = u**r + c * u - safe_a
                return jnp.maximum(u - h / (r * u ** (r - 1.0) + c), 0.0)

            t = lax.fori_loop(0, self.newton_iters, step, u0) ** r
        return jnp.where(a > 0, t, 0.0)

    def prox(self, v, step):
        return jnp.sign(v) * self._abs_prox(jnp.abs(v), step * self.alpha)

    def subdiff_distance(self, w, grad):
        if self.p == 1.0:
            return l1_distance(w, grad, self.alpha)
        return jnp.abs(grad + self.alpha * jnp.sign(w) * jnp.abs(w) ** (self.p - 1.0))

    def alpha_max(self, grad0):
        if self.p == 1.0:
            return jnp.max(jnp.abs(grad0))
        return super().alpha_max(grad0)

    def as_elastic_net(self, n_features, dtype):
        if self.p != 1.0:
            return None
        return np.full(n_features, self.alpha, dtype), np.zeros((), dtype)


@pytree_dataclass
class LInf(Penalty):
    """``alpha * max_i |w_i|``.

    Prox by Moreau's identity: ``prox(v) = v - proj_{||.||_1 <= step*alpha}(v)``, written as
    the clip ``sign(v) * min(|v|, theta)`` so that every coordinate tied at the maximum
    comes out exactly equal to ``theta``.
    """

    alpha: float = 1.0
    name: ClassVar[str] = "linf"
    separable: ClassVar[bool] = False

    def __post_init__(self):
        _check_alpha(self.alpha)

    def value(self, w):
        return self.alpha * jnp.max(jnp.abs(w))

    def prox(self, v, step):
        theta = jnp.maximum(simplex_threshold(jnp.abs(v), step * self.alpha), 0.0)
        return jnp.sign(v) * jnp.minimum(jnp.abs(v), theta)

    def subdiff_distance(self, w, grad):
        a = self.alpha
        # At w = 0 the subdifferential is the L1 ball of radius alpha: the distance of -grad
        # to it is, coordinatewise, min(|grad_i|, theta) (theta: the L1-ball threshold).
        theta = jnp.maximum(simplex_threshold(jnp.abs(grad), a), 0.0)
        dist_zero = jnp.minimum(jnp.abs(grad), theta)
        # At w != 0 it is alpha * conv{sign(w_i) e_i : |w_i| = max|w|}: coordinates off the
        # maximum need grad_i = 0; on it, s_i = -grad_i sign(w_i) must lie on the simplex
        # {s >= 0, sum s = alpha}; the distance is to the projection onto that simplex.
        absw = jnp.abs(w)
        on_max = absw == jnp.max(absw)
        s = -grad * jnp.sign(w)
        tau = simplex_threshold(s, a, on_max)
        proj = jnp.maximum(s - tau, 0.0)
        dist_nz = jnp.where(on_max, jnp.abs(s - proj), jnp.abs(grad))
        return jnp.where(jnp.all(w == 0), dist_zero, dist_nz)

    def alpha_max(self, grad0):
        return jnp.sum(jnp.abs(grad0))


def _best_of(v, step, candidates, value_1d):
    """The candidate minimising ``(u - v)^2 / (2 step) + value_1d(u)`` elementwise: the exact
    prox of a non-convex 1-D penalty from its stationary points and region ends."""
    costs = jnp.stack([(u - v) ** 2 / (2.0 * step) + value_1d(u) for u in candidates])
    pick = jnp.argmin(costs, axis=0)
    return jnp.choose(pick, jnp.stack([jnp.broadcast_to(u, jnp.shape(v)) for u in candidates]), mode="clip")


def _check_gamma(gamma, low):
    if is_concrete(gamma) and not (np.isfinite(float(gamma)) and float(gamma) > low):
        raise ValueError(f"gamma={gamma!r} is not allowed; gamma must be a finite number > {low}")


@pytree_dataclass
class MCP(Penalty):
    """Minimax concave penalty (Zhang, 2010; skglm's parametrisation), per coefficient
    ``alpha |w| - w^2 / (2 gamma)`` for ``|w| <= gamma alpha`` and ``gamma alpha^2 / 2``
    beyond: the lasso's pull near zero, none on large coefficients (less bias). Non-convex;
    its prox is exact for every step (the best of the stationary points and region ends),
    and solvers find a stationary point (a local minimum), as skglm does."""

    alpha: float = 1.0
    gamma: float = 3.0
    name: ClassVar[str] = "mcp"

    def __post_init__(self):
        _check_alpha(self.alpha)
        _check_gamma(self.gamma, 1.0)

    def _value_1d(self, w):
        a, g = self.alpha, self.gamma
        aw = jnp.abs(w)
        return jnp.where(aw <= g * a, a * aw - aw**2 / (2 * g), g * a**2 / 2)

    def value(self, w):
        return jnp.sum(self._value_1d(w))

    def prox(self, v, step):
        a, g = self.alpha, self.gamma
        sg, av = jnp.sign(v), jnp.abs(v)
        inner = jnp.clip((av - step * a) / jnp.maximum(1.0 - step / g, 1e-12), 0.0, g * a)  # stationary, |u| <= g a
        cands = [jnp.zeros_like(v), sg * inner, sg * g * a, sg * jnp.maximum(av, g * a)]
        return _best_of(v, step, cands, self._value_1d)

    def subdiff_distance(self, w, grad):
        a, g = self.alpha, self.gamma
        aw = jnp.abs(w)
        deriv = jnp.where(aw <= g * a, jnp.sign(w) * (a - aw / g), 0.0)
        return jnp.where(w == 0, jnp.maximum(jnp.abs(grad) - a, 0.0), jnp.abs(grad + deriv))

    def alpha_max(self, grad0):
        return jnp.max(jnp.abs(grad0))


@pytree_dataclass
class SCAD(Penalty):
    """Smoothly clipped absolute deviation (Fan & Li, 2001; skglm's parametrisation), per
    coefficient ``alpha |w|`` up to ``alpha``, ``(2 gamma alpha |w| - w^2 - alpha^2) /
    (2 (gamma - 1))`` up to ``gamma alpha`` and ``alpha^2 (gamma + 1) / 2`` beyond. Non-convex,
    exact prox for every step (as :class:`MCP`)."""

    alpha: float = 1.0
    gamma: float = 3.7
    name: ClassVar[str] = "scad"

    def __post_init__(self):
        _check_alpha(self.alpha)
        _check_gamma(self.gamma, 2.0)

    def _value_1d(self, w):
        a, g = self.alpha, self.gamma
        aw = jnp.abs(w)
        mid = (2 * g * a * aw - aw**2 - a**2) / (2 * (g - 1))
        return jnp.where(aw <= a, a * aw, jnp.where(aw <= g * a, mid, a**2 * (g + 1) / 2))

    def value(self, w):
        return jnp.sum(self._value_1d(w))

    def prox(self, v, step):
        a, g = self.alpha, self.gamma
        sg, av = jnp.sign(v), jnp.abs(v)
        first = jnp.clip(av - step * a, 0.0, a)
        denom = (g - 1) - step
        mid = ((g - 1) * av - step * g * a) / jnp.where(jnp.abs(denom) > 1e-12, denom, 1e-12)
        mid = jnp.clip(mid, a, g * a)
        cands = [jnp.zeros_like(v), sg * first, sg * a, sg * mid, sg * g * a, sg * jnp.maximum(av, g * a)]
        return _best_of(v, step, cands, self._value_1d)

    def subdiff_distance(self, w, grad):
        a, g = self.alpha, self.gamma
        aw = jnp.abs(w)
        deriv = jnp.sign(w) * jnp.where(aw <= a, a, jnp.where(aw <= g * a, (g * a - aw) / (g - 1), 0.0))
        return jnp.where(w == 0, jnp.maximum(jnp.abs(grad) - a, 0.0), jnp.abs(grad + deriv))

    def alpha_max(self, grad0):
        return jnp.max(jnp.abs(grad0))


@pytree_dataclass
class Bounded(Penalty):
    """A separable penalty with box constraints ``lower <= w <= upper`` (scalars or one per
    feature; ``positive=True`` in the estimators is ``lower=0``). The prox is the penalty's
    prox clipped to the box (exact for a separable penalty convex in each coefficient, and
    for MCP/SCAD whose 1-D prox is unimodal in the clipped region); the optimality measure
    is the penalty's subdifferential distance inside the box and, on a bound, the size of
    the proximal-gradient step ``|w - clip(prox(w - grad, 1))|`` (zero exactly where the
    bound's normal cone closes the condition; for L1-type terms equal to the distance)."""

    penalty: Penalty = None
    lower: object = -np.inf
    upper: object = np.inf
    name: ClassVar[str] = "bounded"

    def __post_init__(self):
        if not isinstance(self.penalty, Penalty) and self.penalty is not None:
            raise ValueError(f"penalty={self.penalty!r} is not allowed; it must be a jaxreg Penalty")
        if isinstance(self.penalty, Penalty) and not self.penalty.separable:
            raise ValueError(f"penalty={self.penalty!r} is not allowed with bounds; bounds need a separable penalty")
        if is_concrete(self.lower) and is_concrete(self.upper):
            lo, hi = np.asarray(self.lower, float), np.asarray(self.upper, float)
            if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo > hi) or np.any(lo > 0) or np.any(hi < 0):
                raise ValueError(
                    f"lower={self.lower!r}, upper={self.upper!r} are not allowed; they need lower <= 0 <= upper "
                    "(zero must be feasible: it is where every fit starts)"
                )

    @property
    def alpha(self):
        return self.penalty.alpha

    def with_alpha(self, alpha):
        return Bounded(self.penalty.with_alpha(alpha), self.lower, self.upper)

    def _box(self, w):
        lo, hi = jnp.asarray(self.lower, w.dtype), jnp.asarray(self.upper, w.dtype)
        if w.ndim == 2:
            lo, hi = (b[:, None] if b.ndim == 1 else b for b in (lo, hi))
        return lo, hi

    def value(self, w):
        return self.penalty.value(w)

    def prox(self, v, step):
        lo, hi = self._box(v)
        return jnp.clip(self.penalty.prox(v, step), lo, hi)

    def prox_1d(self, v, step, j):
        lo, hi = (jnp.asarray(b, v.dtype) for b in (self.lower, self.upper))
        lo, hi = (b[j] if b.ndim == 1 else b for b in (lo, hi))
        return jnp.clip(self.penalty.prox_1d(v, step, j), lo, hi)

    def restrict(self, idx):
        def take(b):
            b = jnp.asarray(b)
            return b.at[idx].get(mode="fill", fill_value=0.0) if b.ndim == 1 else b

        return Bounded(self.penalty.restrict(idx), take(self.lower), take(self.upper))

    def subdiff_distance(self, w, grad):
        lo, hi = self._box(w)
        on_bound = ((w == lo) | (w == hi)) & (lo < hi)
        step = jnp.clip(self.penalty.prox(w - grad, 1.0), lo, hi)
        return jnp.where(on_bound, jnp.abs(w - step), self.penalty.subdiff_distance(w, grad))

    def alpha_max(self, grad0):
        # w = 0 is optimal when -grad0 lies in the penalty's subdifferential at 0 plus the
        # normal cone of the box there: with lower = 0 only gradients pointing down count
        lo, hi = (jnp.asarray(b) for b in (self.lower, self.upper))  # only compared with 0
        g = jnp.where(lo == 0, jnp.minimum(grad0, 0.0), grad0)
        g = jnp.where(hi == 0, jnp.maximum(g, 0.0), g)
        return self.penalty.alpha_max(g)

    def penalized(self, n_features):
        return self.penalty.penalized(n_features)

    def bounds(self, n_features, dtype):
        return tuple(np.broadcast_to(np.asarray(b, dtype), (n_features,)) for b in (self.lower, self.upper))

    def __repr__(self):
        return f"Bounded({self.penalty!r}, lower={self.lower!r}, upper={self.upper!r})"


def keep_positive(penalty: Penalty, positive: bool = True) -> Penalty:
    """``penalty`` with every coefficient kept >= 0 when ``positive`` (scikit-learn's
    ``positive=True``), else ``penalty`` itself."""
    return Bounded(penalty, lower=0.0) if positive else penalty


PENALTIES = {
    "none": NoPenalty,
    "l1": L1,
    "l2": L2,
    "elasticnet": ElasticNet,
    "weighted_l1": WeightedL1,
    "lp": Lp,
    "linf": LInf,
    "mcp": MCP,
    "scad": SCAD,
}


def get_penalty(penalty, **params) -> Penalty:
    """A penalty from an instance, ``None`` (no penalty) or a name with its parameters."""
    if penalty is None:
        return NoPenalty()
    if isinstance(penalty, Penalty):
        return penalty
    if isinstance(penalty, str) and penalty.lower() in PENALTIES:
        return PENALTIES[penalty.lower()](**params)
    raise ValueError(
        f"penalty={penalty!r} is not a known penalty; allowed: None, {sorted(PENALTIES)} "
        "or a jaxreg.penalties.Penalty instance"
    )


# ----------------------------------------------------------------------------- groups


class GroupLayout(NamedTuple):
    """Disjoint groups of ``n_features`` coefficients as a padded index matrix (numpy).

    ``index`` (n_blocks, width): row ``k`` holds block ``k``'s features, padded with
    ``n_features`` (an index past the end: gathers read 0 there, scatters drop it). The
    first ``n_groups`` blocks are the user's groups in order; each feature in no group
    follows as a block of its own, with no penalty term (``penalized`` False)."""

    index: np.ndarray
    n_groups: int
    penalized: np.ndarray  # (n_blocks,) bool: a user's group
    sizes: np.ndarray  # (n_blocks,)


@functools.lru_cache(maxsize=64)
def group_layout(groups, n_features: int) -> GroupLayout:
    """The :class:`GroupLayout` of canonical ``groups`` (an int size, or a tuple of
    tuples of feature indices, as :class:`GroupLasso` stores them) over ``n_features``."""
    if isinstance(groups, int):
        groups = tuple(tuple(range(s, s + groups)) for s in range(0, n_features, groups))
    free = np.ones(n_features, bool)
    for g in groups:
        free[list(g)] = False
    blocks = list(groups) + [(j,) for j in np.flatnonzero(free).tolist()]
    width = max(len(g) for g in blocks) if blocks else 1
    index = np.full((len(blocks), width), n_features, np.int32)
    for k, g in enumerate(blocks):
        index[k, : len(g)] = g
    sizes = np.array([len(g) for g in blocks], np.int32)
    penalized = np.arange(len(blocks)) < len(groups)
    return GroupLayout(index, len(groups), penalized, sizes)


def _bad_groups(groups, why):
    return ValueError(
        f"groups={groups!r} is not allowed: {why}; groups must be an int group size (contiguous groups), "
        "a label per feature, or a list of disjoint, non-empty arrays of feature indices"
    )


def canonical_groups(groups):
    """``(groups, n_features)`` in the hashable form the penalty keeps as static structure:
    an int size stays an int (``n_features`` None: any multiple of it); a label per feature
    becomes a tuple of index tuples, one per distinct label in ``np.unique`` order
    (``n_features`` the number of labels); a list of index arrays becomes a tuple of sorted
    index tuples (``n_features`` None: features in no group are unpenalized)."""
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, (bool, np.bool_)):
        if groups < 1:
            raise _bad_groups(groups, "a group size must be >= 1")
        return int(groups), None
    if isinstance(groups, (str, bytes, dict, set)) or groups is None or not hasattr(groups, "__iter__"):
        raise _bad_groups(groups, f"a {type(groups).__name__} is none of these")
    items = list(groups)
    if len(items) == 0:
        raise _bad_groups(groups, "it is empty")
    nested = [np.ndim(g) > 0 for g in items]
    if not any(nested):  # a label per feature
        labels = np.asarray(items)
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise _bad_groups(groups, "a label is NaN or infinite")
        _, inverse = np.unique(labels, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")  # the features label by label, in order
        ends = np.cumsum(np.bincount(inverse.ravel()))
        return tuple(tuple(g.tolist()) for g in np.split(order, ends[:-1])), len(labels)
    if not all(nested):
        raise _bad_groups(groups, "it mixes scalars (labels) and arrays (index groups)")
    canon, seen = [], set()
    for k, g in enumerate(items):
        idx = np.asarray(g)
        if idx.ndim != 1 or idx.size == 0:
            raise _bad_groups(groups, f"group {k} is not a non-empty 1-D array of indices")
        if idx.dtype.kind not in "iu" and not (idx.dtype.kind == "f" and np.all(idx == np.round(idx))):
            raise _bad_groups(groups, f"group {k} holds non-integer indices ({idx.dtype})")
        idx = idx.astype(np.int64)
        if np.any(idx < 0):
            raise _bad_groups(groups, f"group {k} holds a negative index {int(idx.min())}")
        twice = sorted(set(idx.tolist()) & seen) or sorted({int(i) for i in idx if np.sum(idx == i) > 1})
        if twice:
            raise _bad_groups(groups, f"feature {twice[0]} is in more than one group (group {k} and an earlier one)")
        seen.update(idx.tolist())
        canon.append(tuple(sorted(idx.tolist())))
    return tuple(canon), None


def _norm(v):
    return jnp.sqrt(jnp.sum(v * v))


def prox_block(v, step, t, l1):
    """The exact prox of one block's term ``t ||u||_2 + sum_j l1_j |u_j|``: elementwise
    soft-thresholding by ``step * l1``, then block soft-thresholding by ``step * t`` (the
    sparse group lasso's prox is that composition; with ``l1 = 0`` it is the group lasso's
    ``v max(1 - step t / ||v||, 0)``, exactly zero when ``||v|| <= step t``)."""
    u = soft_threshold(v, step * l1)
    norm = _norm(u)
    return u * jnp.maximum(1.0 - step * t / jnp.where(norm > 0, norm, 1.0), 0.0)


def residual_block(w, grad, t, l1):
    """The residual ``-grad - s`` of ``-grad`` to its nearest point ``s`` of one block's
    subdifferential, entry by entry (its norm is the block's distance).

    At ``w != 0``: ``s_j = t w_j / ||w|| + l1_j sign(w_j)`` where ``w_j != 0`` and, at
    ``w_j = 0``, the residual is ``ST(grad_j, l1_j)``. At ``w = 0`` the subdifferential is the
    box ``l1 [-1, 1]`` plus the ball of radius ``t``, and the residual is ``ST(grad, l1)``
    shrunk by the ball: ``ST(grad, l1) max(1 - t / ||ST(grad, l1)||, 0)``."""
    norm = _norm(w)
    st = soft_threshold(grad, l1)
    on = jnp.where(w != 0, grad + t * w / jnp.where(norm > 0, norm, 1.0) + l1 * jnp.sign(w), st)
    st_norm = _norm(st)
    at_zero = st * jnp.maximum(1.0 - t / jnp.where(st_norm > 0, st_norm, 1.0), 0.0)
    return jnp.where(norm > 0, on, at_zero)


class GroupPenalty(Penalty):
    """Base of the group penalties: per block ``t_g ||w_g||_2 + sum_{j in g} l_j |w_j|``
    with ``(t, l) = block_terms(n_features)`` (per block of the padded
    :class:`GroupLayout`: the group threshold ``(blocks,)`` and the elementwise L1
    thresholds ``(blocks, width)``). Value, the exact prox, the distance to the
    subdifferential and ``alpha_max`` are written once here from those terms.

    Not separable (no coordinate prox): the block coordinate descent of
    :mod:`jaxreg.solvers.group_bcd` and FISTA fit them. ``groups`` and ``n_features`` are
    static structure (new groups recompile; a new alpha, l1_ratio or weights does not)."""

    separable: ClassVar[bool] = False

    def _init_groups(self):
        _check_alpha(self.alpha)
        groups, n_features = canonical_groups(self.groups)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "n_features", n_features)
        _check_weights(self, "(one per group) or None (all 1)")
        if is_concrete(self.weights) and not isinstance(groups, int) and len(self.weights) != len(groups):
            raise ValueError(
                f"weights has {len(self.weights)} entries; it must have one per group ({len(groups)} groups) or be None"
            )

    def with_alpha(self, alpha):
        # the groups are canonical already: a copy with the new leaf, not a new validation
        _check_alpha(alpha)
        new = copy.copy(self)
        object.__setattr__(new, "alpha", alpha)
        return new

    def check_n_features(self, n_features: int):
        groups = self.groups
        if isinstance(groups, int):
            if n_features % groups:
                raise ValueError(
                    f"groups={groups} (contiguous groups of {groups}) does not divide n_features={n_features}; "
                    "give a group size that divides it, or the groups themselves"
                )
            n_groups = n_features // groups
        else:
            n_groups = len(groups)
            if self.n_features is not None and self.n_features != n_features:
                raise ValueError(f"groups has a label for {self.n_features} features; X has {n_features} features")
            top = max(max(g) for g in groups)
            if top >= n_features:
                raise ValueError(
                    f"groups names feature {top}; X has {n_features} features (indices 0..{n_features - 1})"
                )
        if self.weights is not None and np.shape(self.weights) != (n_groups,):
            raise ValueError(
                f"weights has shape {np.shape(self.weights)}; it must have one entry per group ({n_groups},)"
            )

    def layout(self, n_features: int) -> GroupLayout:
        self.check_n_features(n_features)
        return group_layout(self.groups, int(n_features))

    def _group_weights(self, lay, dtype):
        """``w_g`` per block: the user's weights (default 1), 0 for the free features."""
        wt = jnp.ones(lay.n_groups, dtype) if self.weights is None else jnp.asarray(self.weights, dtype)
        return jnp.concatenate([wt, jnp.zeros(len(lay.sizes) - lay.n_groups, dtype)])

    def block_terms(self, n_features: int, dtype=None):  # pragma: no cover - abstract
        """``(t (blocks,), l1 (blocks, width))``, ``alpha`` included."""
        raise NotImplementedError

    def gather(self, w):
        """``(blocks, width, ...)``: each block's coefficients, 0 in the padding."""
        return jnp.asarray(w).at[self.layout(w.shape[0]).index].get(mode="fill", fill_value=0)

    def scatter(self, wg, like):
        """The inverse of :meth:`gather` into an array shaped as ``like``."""
        return jnp.zeros_like(like, dtype=wg.dtype).at[self.layout(like.shape[0]).index].set(wg, mode="drop")

    def _blocks(self, w):
        wg = self.gather(w)
        t, l1 = self.block_terms(w.shape[0], wg.dtype)
        return wg, t, l1.reshape(l1.shape + (1,) * (wg.ndim - 2))

    def value(self, w):
        wg, t, l1 = self._blocks(w)
        return jnp.vdot(t, jax.vmap(_norm)(wg)) + jnp.sum(l1 * jnp.abs(wg))

    def prox(self, v, step):
        vg, t, l1 = self._blocks(v)
        return self.scatter(jax.vmap(prox_block, (0, None, 0, 0))(vg, step, t, l1), v)

    def _residuals(self, w, grad):
        wg, t, l1 = self._blocks(w)
        return jax.vmap(residual_block)(wg, self.gather(grad), t, jnp.broadcast_to(l1, wg.shape))

    def group_distance(self, w, grad):
        """``(blocks,)``: the distance of ``-grad`` to each block's subdifferential (the block
        coordinate descent's working-set scores and stopping criterion, as skglm's)."""
        return jax.vmap(_norm)(self._residuals(w, grad))

    def subdiff_distance(self, w, grad):
        """Per coordinate, the magnitude of :func:`residual_block`'s residual: all zero
        exactly at an optimum; its norm over a group is the group's distance
        (:meth:`group_distance`)."""
        return jnp.abs(self.scatter(self._residuals(w, grad), w))

    def generalized_support(self, w):
        """The coordinates of the groups with a nonzero coefficient, and the unpenalized."""
        wg = self.gather(w)
        on = (jax.vmap(_norm)(wg) > 0) | ~jnp.asarray(self.layout(w.shape[0]).penalized)
        on = jnp.broadcast_to(on.reshape(on.shape + (1,) * (wg.ndim - 1)), wg.shape)
        return self.scatter(on, jnp.zeros(w.shape, bool))

    def penalized(self, n_features):
        lay = self.layout(n_features)
        t, l1 = (np.asarray(a) for a in self.block_terms(n_features))
        out = np.zeros(n_features + 1, bool)
        out[lay.index] = (t[:, None] > 0) | (l1 > 0)
        return out[:n_features]

    def alpha_max(self, grad0):
        """The smallest ``alpha`` with ``w = 0`` optimal: per block the root of
        ``||ST(g, alpha l)|| = alpha t`` (unit terms ``t``, ``l``: the left side falls and the
        right side grows with alpha) by bisection to the last bit, maximised over blocks.
        Blocks without a penalty term are left out (as ``WeightedL1`` leaves out zero weights)."""
        wg, t, l1 = self.with_alpha(1.0)._blocks(grad0)
        g = jnp.abs(wg.reshape(wg.shape[0], -1))
        l1 = jnp.broadcast_to(l1, wg.shape).reshape(g.shape)
        has = (t > 0) | jnp.any(l1 > 0, axis=1)
        # the bracket's top: where ST(g, alpha l) is zero on the L1 part, or the ball alone holds g
        l_min = jnp.min(jnp.where(l1 > 0, l1, jnp.inf), axis=1)
        top_l1 = jnp.where(
            jnp.isfinite(l_min), jnp.max(g, axis=1) / jnp.where(jnp.isfinite(l_min), l_min, 1.0), jnp.inf
        )
        top_ball = jnp.where(t > 0, jax.vmap(_norm)(g) / jnp.where(t > 0, t, 1.0), jnp.inf)
        hi = jnp.where(has, jnp.minimum(top_l1, top_ball), 0.0)

        def halve(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            above = jax.vmap(_norm)(soft_threshold(g, mid[:, None] * l1)) > mid * t
            return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

        steps = 64 if g.dtype == jnp.float64 else 32  # halvings of the bracket: below the last bit
        _, hi = lax.fori_loop(0, steps, halve, (jnp.zeros_like(hi), hi))
        return jnp.max(jnp.where(has, hi, 0.0), initial=0.0)


@pytree_dataclass(static=("groups", "n_features"))
class GroupLasso(GroupPenalty):
    """Group lasso ``alpha * sum_g w_g ||w_{[g]}||_2`` (skglm's ``WeightedGroupL2``).

    ``weights=None`` is ``w_g = 1`` for every group, skglm 0.5's default (its
    ``GroupLasso(weights=None)``); Yuan and Lin's ``w_g = sqrt(|g|)`` is
    ``weights=np.sqrt(group sizes)``. A zero weight leaves a group unpenalized.

    Parameters
    ----------
    alpha : float
    groups : int, a label per feature, or a list of index arrays
        An int ``s``: contiguous groups of ``s`` features (``n_features`` a multiple of
        ``s``, as skglm's). A label per feature (numbers or strings, a 1-D sequence): the
        features with one label form a group, groups in ``np.unique`` order of the labels;
        every feature is in a group. A list of disjoint arrays of feature indices: one group
        each, in that order; features in no group are not penalized. (skglm reads a list of
        ints as group *sizes*; here it is a label per feature.)
    weights : array of shape (n_groups,), optional

    The prox is block soft-thresholding ``v max(1 - step alpha w_g / ||v_g||, 0)`` (exact
    zeros); ``alpha_max`` is ``max_g ||grad_g|| / w_g``.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxreg.penalties import GroupLasso
    >>> pen = GroupLasso(1.0, groups=[0, 0, 1])
    >>> np.asarray(pen.prox(np.array([3.0, 4.0, 0.5]), 1.0)).round(3).tolist()
    [2.4, 3.2, 0.0]
    """

    alpha: float = 1.0
    groups: object = 1
    weights: object = None
    n_features: object = None
    name: ClassVar[str] = "group_lasso"

    def __post_init__(self):
        self._init_groups()

    def block_terms(self, n_features, dtype=None):
        lay = self.layout(n_features)
        t = self.alpha * self._group_weights(lay, dtype or jnp.result_type(float))
        return t, jnp.zeros(lay.index.shape, t.dtype)

    def alpha_max(self, grad0):
        wg, t, _ = self.with_alpha(1.0)._blocks(grad0)
        return jnp.max(jnp.where(t > 0, jax.vmap(_norm)(wg) / jnp.where(t > 0, t, 1.0), 0.0), initial=0.0)

    def __repr__(self):
        return f"GroupLasso(alpha={self.alpha!r}, groups={_short(self.groups)}, weights={self.weights!r})"


@pytree_dataclass(static=("groups", "n_features"))
class SparseGroupLasso(GroupPenalty):
    """Sparse group lasso ``alpha * (l1_ratio ||w||_1 + (1 - l1_ratio) sum_g w_g ||w_{[g]}||_2)``
    (``l1_ratio = 1`` is the lasso, ``0`` the group lasso; features in no group carry no
    term at all). ``groups`` and ``weights`` as in :class:`GroupLasso`.

    The prox is exact: soft-thresholding by ``step alpha l1_ratio``, then block
    soft-thresholding by ``step alpha (1 - l1_ratio) w_g``. ``alpha_max`` solves, per group,
    ``||ST(grad_g, alpha l1_ratio)|| = alpha (1 - l1_ratio) w_g`` by bisection to the last bit.
    """

    alpha: float = 1.0
    l1_ratio: float = 0.5
    groups: object = 1
    weights: object = None
    n_features: object = None
    name: ClassVar[str] = "sparse_group_lasso"

    def __post_init__(self):
        self._init_groups()
        if is_concrete(self.l1_ratio) and not (0.0 <= float(self.l1_ratio) <= 1.0):
            raise ValueError(f"l1_ratio={self.l1_ratio!r} is not allowed; l1_ratio must be in [0, 1]")

    def block_terms(self, n_features, dtype=None):
        lay = self.layout(n_features)
        dtype = dtype or jnp.result_type(float)
        r = jnp.asarray(self.l1_ratio, dtype)
        t = self.alpha * (1.0 - r) * self._group_weights(lay, dtype)
        in_group = jnp.asarray(lay.penalized[:, None] & (lay.index < n_features), dtype)
        return t, self.alpha * r * in_group

    def __repr__(self):
        return (
            f"SparseGroupLasso(alpha={self.alpha!r}, l1_ratio={self.l1_ratio!r}, groups={_short(self.groups)}, "
            f"weights={self.weights!r})"
        )


def _short(groups):
    if isinstance(groups, int):
        return str(groups)
    return f"<{len(groups)} groups of {min(map(len, groups))}..{max(map(len, groups))} features>"


PENALTIES.update(group_lasso=GroupLasso, sparse_group_lasso=SparseGroupLasso)  # (defined after the table)
