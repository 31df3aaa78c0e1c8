"""An elastic net at one ``alpha`` on the host by active sets: numpy and LAPACK, nothing compiled.

Minimises ``sum_i d_i (y_i - x_i^T w - b)^2 / 2 + l1 ||w||_1 + l2/2 ||w||^2`` (``d`` the
weights normalised to sum to one) from a good guess of the support and signs, as the
refit of a cross-validation has one (the folds' solutions at the chosen ``alpha``). Each
round is one Newton step on the support with its signs held
(:func:`~jaxreg.solvers.support_newton.newton_step`: the exact minimiser there, stopping
where a coordinate would change sign and holding it at zero), then one pass ``X^T r`` for the
features outside the support whose subgradient condition ``|xc_j^T D r| <= l1`` fails; those
enter with the sign of their correlation (the direction that lowers the objective). When
none fails and the step was not cut short by a sign change, the point is optimal to rounding
(stationary on the support, feasible off it).

Why: a compiled solver costs a program per shape, and a refit on all the rows is a shape
the folds never had (four programs, seconds, on a first call); with a guess this close a
few rounds of dense algebra on the support finish it. ``None`` when the rounds run out or a
step fails (a support with more features than rows): the caller then fits as usual.
"""

from __future__ import annotations

import numpy as np

from jaxreg.solvers.support_newton import newton_step

__all__ = ["active_set"]

ROUNDS = 30
NEWTON_ROUNDS = 64  # coordinates one Newton step may drop (each two triangular solves)
ENTER_FRACTION = 0.5  # at most this share of the support (and 8) enters per round
SLACK = 1e-9  # relative excess of |xc_j^T D r| over l1 taken as rounding


def active_set(X, y, sample_weight, l1, l2, fit_intercept, w0, rounds=ROUNDS):
    """``(w, b, rounds)`` at the optimum from the guess ``w0``, or None (see the module).

    ``X`` (n, p) dense, ``y`` (n,), ``sample_weight`` (n,) positive sum, ``l1 > 0`` and
    ``l2 >= 0`` scalars. The result's optimality is for the caller to confirm (a duality
    gap): this function only stops when no feature violates its condition."""
    X = np.asarray(X)
    dtype = X.dtype
    d = np.asarray(sample_weight, dtype) / np.sum(sample_weight)
    xbar = d @ X if fit_intercept else np.zeros(X.shape[1], dtype)
    yc = np.asarray(y, dtype) - (d @ y if fit_intercept else 0.0)
    w = np.asarray(w0, dtype).copy()
    r = yc - X @ w + xbar @ w
    l1v = np.full(X.shape[1], l1, dtype)
    for k in range(rounds):
        if np.any(w):
            w, r, ok = newton_step(X.T, d, xbar, yc, w, r, l1v, l2, NEWTON_ROUNDS)
            if not ok:
                return None
        dr = d * r
        g = X.T @ dr - xbar * dr.sum() - l2 * w  # xc_j^T D r - l2 w_j: l1 sign(w_j) on the support
        excess = np.where(w == 0, np.abs(g) - l1, -np.inf)
        worst = np.argsort(excess)[::-1][: max(8, int(ENTER_FRACTION * np.count_nonzero(w)))]
        worst = worst[excess[worst] > SLACK * l1]  # rounding at the boundary is not a violation
        on = w != 0  # stationary there unless the step stopped at a sign change
        residual = np.max(np.abs(g[on] - l1 * np.sign(w[on])), initial=0.0)
        if len(worst) == 0 and residual <= SLACK * l1:
            return w, (d @ y if fit_intercept else 0.0) - xbar @ w, k + 1
        # enter at a value too small to move the residual: the Newton step sets its size
        w[worst] = np.sign(g[worst]) * np.finfo(dtype).tiny
    return None
