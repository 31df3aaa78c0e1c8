"""The working set's Newton step on the support, computed on the host (numpy and LAPACK).

Same step as :func:`jaxreg.solvers.working_set.newton` (see there for the algebra): on the
support ``S`` with signs ``s``, minimise ``1/2 ||yt - Xt_S w_S||^2 + <l1_S s, w_S> + l2/2
||w_S||^2`` by one Cholesky factorization of ``G = Xt_S^T Xt_S + l2 I``; step to the
minimiser or stop where a coordinate first reaches zero, hold that coordinate at zero and
solve again (up to ``rounds`` times, from the same factorization); keep the step only if
the objective does not go up.

Why on the host: the support's size changes as the fit goes, and a compiled step needs one
program per size (a second of compiling for each, every time a fit's support outgrows the
sizes seen so far, against a millisecond of arithmetic). On a CPU the design already lives
in host memory, and numpy's BLAS and LAPACK do this dense algebra at least as fast as XLA,
with nothing to compile. Other platforms keep the compiled step (the design lives on the
device there).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.lapack

from jaxreg.solvers.working_set_check import box_terms

__all__ = ["newton_step"]


def _primal(d, r, w, l1, l2):
    return 0.5 * (d * r) @ r + l1 @ np.abs(w) + 0.5 * l2 * (w @ w)


def _step_to_minimizer(wS, wN, on):
    """From ``wS`` towards ``wN`` (coordinates ``on``): all the way, or to where a
    coordinate first changes sign (set to exactly zero)."""
    cross = on & (np.sign(wS) * wN <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(cross, wS / np.where(cross, wS - wN, 1.0), np.inf)
    t = min(1.0, float(np.min(frac, initial=np.inf)))
    return np.where(on & ~(cross & (frac <= t)), wS + t * (wN - wS), 0.0).astype(wS.dtype)


def _step_in_box(wS, wN, on, lower, upper):
    """:func:`_step_to_minimizer` that also stops where a coordinate first reaches a
    nonzero bound (set to exactly it); returns ``(w, whether a bound stopped the step)``
    (the host twin of :func:`jaxreg.solvers.working_set_kernels.step_in_box`)."""
    bound = np.where(wN > wS, upper, lower)
    hit = on & (bound != 0) & ((wN - bound) * (wS - bound) <= 0) & (wN != wS)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hit, (bound - wS) / np.where(hit, wN - wS, 1.0), np.inf)
    t = min(1.0, float(np.min(frac, initial=np.inf)))
    first = hit & (frac <= t)
    w = _step_to_minimizer(wS, np.where(first, bound, wS + t * (wN - wS)), on)
    return w, bool(np.any(first & (w == bound)))


def newton_step(XT, d, xbar, yc, w, r, l1, l2, rounds: int):
    """``(w, r, accepted)`` after the Newton step on the support of ``w`` (numpy arrays:
    ``XT`` (p, n) the raw design, ``d`` the normalized weights, ``xbar`` the weighted
    column means, ``yc`` the centred target, ``r`` the centred residual; ``l1`` may be a
    :class:`~jaxreg.solvers.working_set_check.Box`: the coordinates on a nonzero bound are
    then held there, and the step also stops at the first nonzero bound it reaches, with no
    further round)."""
    l1, lower, upper = box_terms(l1)
    # with a box, the coordinates on a nonzero bound are held there: the solve is over the
    # others, whose target is then yc - X_rest w_rest = r + Xs^T w_S
    S = np.flatnonzero(w if lower is None else (w != 0) & (w != lower) & (w != upper))
    if len(S) == 0:  # every nonzero coordinate on a bound: nothing to solve
        return w, r, False
    wS, l1S = w[S], l1[S]
    Xs = XT[S] - xbar[S, None]  # centred rows of the support (one gather)
    Xsd = Xs * np.sqrt(d)
    G = Xsd @ Xsd.T
    G[np.diag_indices_from(G)] += l2
    potrf, potrs = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potrs"), (G,))
    C, info = potrf(G, lower=True, clean=False)  # LAPACK directly: scipy's wrappers cost more here
    if info != 0:  # not positive definite: the support outgrew the rank
        return w, r, False

    def solve(b):
        return potrs(C, b, lower=True)[0]

    fit_to = yc if lower is None else r + wS @ Xs
    x0 = solve(Xs @ (d * fit_to) - l1S * np.sign(wS))
    # the minimiser with the coordinates R held at zero is x0 - Z lam, Z = G^-1 E_R and
    # Z_R lam = x0_R (Z_R: a principal submatrix of G^-1, positive definite)
    v, dropped, Z = wS, [], np.empty((len(S), 0), G.dtype)
    while True:
        target = x0 - Z @ np.linalg.solve(Z[dropped], x0[dropped]) if dropped else x0
        on = v != 0
        if lower is None:
            v_new, bounded = _step_to_minimizer(v, target, on), False
        else:
            v_new, bounded = _step_in_box(v, target, on, lower[S], upper[S])
        newly = on & (v_new == 0)
        v = v_new
        if not newly.any() or len(dropped) >= rounds or bounded:
            break
        j = int(np.argmax(newly))
        e = np.zeros(len(S), G.dtype)
        e[j] = 1.0
        Z = np.column_stack([Z, solve(e)])
        dropped.append(j)
    r_new = fit_to - v @ Xs
    ok = bool(np.all(np.isfinite(v))) and _primal(d, r_new, v, l1S, l2) <= _primal(d, r, wS, l1S, l2)
    if not ok:
        return w, r, False
    w = w.copy()
    w[S] = v
    return w, r_new.astype(r.dtype), True
