"""Overflow-safe scaling of a squared-loss target ``y`` (issue 17, item 11).

Squared loss is equivariant in ``y``: with ``w = c u`` and ``b = c d``,

    1/(2n) ||c y - X w - b||^2 + P(w) = c^2 [ 1/(2n) ||y - X u - d||^2 + P(c u) / c^2 ],

so fitting ``y / c`` with the penalty ``Q(u) = P(c u) / c^2`` and multiplying the answer by
``c`` is the same problem. For penalties homogeneous of degree ``d`` (``P(c u) = c^d P(u)``)
``Q`` is ``P`` with ``alpha * c^(d - 2)``: L1 (and weighted L1, L-infinity) ``alpha / c``,
L2 ``alpha`` unchanged, Lp ``alpha c^(p - 2)``, elastic net each part by its degree; MCP and
SCAD ``alpha / c`` with the same ``gamma``; a box constraint its bounds by ``1 / c``. With ``c``
a power of two only exponents change (elastic net's split into ``(alpha, l1_ratio)`` rounds).
Other losses (logistic: labels; Huber: its threshold is in units of ``y``) and a user's penalty
are left as they are.

The history and objective are reported in the user's units, ``c^2`` times the solver's: an
objective beyond the dtype's range reads ``inf`` (the fit itself is finite). The stopping
criterion stays the solver's, in the scaled units its ``tol`` was applied in.
"""

from __future__ import annotations

import numpy as np

from jaxreg._fitparts import design_scale
from jaxreg.losses import Squared
from jaxreg.penalties import L1, L2, MCP, SCAD, Bounded, ElasticNet, LInf, Lp, NoPenalty, WeightedL1

__all__ = ["target_scale", "scale_target_penalty"]


def target_scale(y, loss, penalty, dtype):
    """``(c, Q)``: the power of two ``c`` to divide ``y`` by and the penalty ``Q`` of
    ``u = w / c``; ``(1.0, penalty)`` when ``y`` is in range (its largest entry within
    ``2^(+-maxexp/6)``, as :func:`jaxreg._fitparts.design_scale` asks of ``X``), when the loss
    is not squared, or when the penalty cannot follow. A ``c`` whose ``Q`` would leave
    ``dtype``'s normal range is halved in exponent until one fits."""
    if type(loss) is not Squared or np.size(y) == 0:
        return 1.0, penalty
    top = float(np.max(np.abs(y)))
    if np.isfinite(top) and abs(np.frexp(top)[1]) <= np.finfo(np.asarray(y).dtype).maxexp // 6:
        return 1.0, penalty  # in range (the common case, without design_scale's two passes)
    c = design_scale(np.asarray(y).reshape(-1, 1))
    while c != 1.0:
        scaled = scale_target_penalty(penalty, c, dtype)
        if scaled is not None:
            return c, scaled
        c = float(np.ldexp(1.0, (np.frexp(c)[1] - 1) // 2))
    return 1.0, penalty


def scale_target_penalty(penalty, c, dtype):
    """``Q(u) = P(c u) / c^2`` for the penalties closed under it, or None (another family, or
    a parameter that would overflow, or underflow out of ``dtype``'s normal range: a
    nonzero ``alpha`` must stay nonzero)."""
    info = np.finfo(dtype)

    def times(value, exponent):  # value * c^exponent, None when it leaves the normal range
        with np.errstate(over="ignore", under="ignore"):
            out = np.float64(value) * np.float64(c) ** np.float64(exponent)
        ok = out == 0 if value == 0 else info.tiny <= abs(out) <= info.max
        return float(out) if ok else None

    if isinstance(penalty, NoPenalty):
        return penalty
    if isinstance(penalty, (MCP, SCAD)):  # P(c u) / c^2 is P with alpha / c, the same gamma
        alpha = times(float(penalty.alpha), -1.0)
        return None if alpha is None else penalty.with_alpha(alpha)
    if isinstance(penalty, (L1, WeightedL1, LInf, L2, Lp)):
        degree = 2.0 if isinstance(penalty, L2) else float(penalty.p) if isinstance(penalty, Lp) else 1.0
        alpha = times(float(penalty.alpha), degree - 2.0)
        return None if alpha is None else penalty.with_alpha(alpha)
    if isinstance(penalty, ElasticNet):
        a1 = times(float(penalty.alpha) * float(penalty.l1_ratio), -1.0)
        a2 = times(float(penalty.alpha) * (1.0 - float(penalty.l1_ratio)), 0.0)
        if a1 is None or a2 is None or a1 + a2 > info.max:
            return None
        return ElasticNet(a1 + a2, a1 / (a1 + a2) if a1 + a2 > 0 else float(penalty.l1_ratio))
    if isinstance(penalty, Bounded):
        inner = scale_target_penalty(penalty.penalty, c, dtype)
        if inner is None:
            return None
        return Bounded(inner, np.asarray(penalty.lower, float) / c, np.asarray(penalty.upper, float) / c)
    return None
