"""Working sets for L1-type penalties with the logistic loss: proximal Newton.

Each outer iteration replaces the loss by its second-order model at ``z = X w + b``
(iteratively reweighted least squares): with ``g = d * dl/dz`` and curvature
``h = d * sigma(z) (1 - sigma(z))``,

    sum_i d_i l(y_i, z_i + dz_i)  ~  const + 1/2 sum_i h_i (t_i - x_i v - c)^2,
    t = z - g / h  (the working response), v = w + dw, c = b + db.

Divided by ``H = sum h`` that is exactly the weighted squared loss of
:mod:`jaxreg.solvers.working_set` with weights ``h / H`` and penalty ``l1 / H, l2 / H``, so
the same compiled pieces solve it: coordinate descent on the working set (the features
with the largest subdifferential distance of the true objective, the support first),
then, once the support is stable, the Cholesky step on the support, which is a Newton
step for the smooth problem with the signs fixed (quadratic convergence once the support
is found). A backtracking line search on the true objective (Armijo with the
proximal-Newton decrease ``g.dw + g_b db + pen(v) - pen(w)``, Lee, Sun & Saunders, 2014)
takes the step. The stopping rule is the largest subdifferential distance of the true
objective, the intercept's gradient included (no duality gap is computed here).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg.penalties import l1_distance
from jaxreg.solvers._common import CONVERGED, MAX_ITER
from jaxreg.solvers.working_set_check import SQUARED, Prep, dot, make_prep, pieces
from jaxreg.solvers.working_set_layout import Design
from jaxreg.solvers.working_set_loop import FAR, Outcome, first_check_finite, solve_inner, ws_size

LINE_SEARCH_STEPS = 30
ARMIJO = 1e-4


class Model(NamedTuple):
    """The gradient at ``(w, b)`` and the weighted least-squares model there (``prep`` and
    ``r``, its residual at ``v = w``, as :mod:`working_set` expects them; ``H = sum h``)."""

    grad: jax.Array
    grad_b: jax.Array
    prep: Prep
    r: jax.Array
    H: jax.Array


class LCheck(NamedTuple):
    crit: jax.Array
    scores: jax.Array
    nnz: jax.Array
    obj: jax.Array


def _penalty(w, l1, l2):
    return jnp.vdot(l1, jnp.abs(w)) + 0.5 * l2 * jnp.vdot(w, w)


def _loss(y, d, z):
    return jnp.vdot(d, jax.nn.softplus(-y * z))


def predictions(XT, w, b):
    return dot(w, XT) + b


def model(XT, y, d, z, b, *, fit_intercept: bool) -> Model:
    """Two passes over the design ``XT`` (p, n): the gradient and the model's weighted
    column means."""
    sneg = jax.nn.sigmoid(-y * z)  # sigma(-y z)
    gz = -d * y * sneg
    h = d * sneg * (1.0 - sneg)
    h = jnp.maximum(h, jnp.finfo(h.dtype).eps * jnp.max(h))
    grad = dot(XT, gz)
    H = jnp.sum(h)
    dn = h / H
    q = -gz / h  # t - z
    prep = make_prep(XT, z + q, dn, fit_intercept)
    if fit_intercept:
        r = q - jnp.vdot(dn, q)  # t - tbar - (x.w - xbar.w), with z = x.w + b
        gb = jnp.sum(gz)
    else:
        r = q + b
        gb = jnp.zeros((), z.dtype)
    return Model(grad, gb, prep, r, H)


def lcheck(XT, m: Model, y, d, z, w, l1, l2):
    """Criterion (largest subdifferential distance, intercept included), scores, objective,
    and the penalty scaled for the model (``l1 / H``, ``l2 / H``). ``XT`` is unused."""
    dist = l1_distance(w, m.grad + l2 * w, l1)
    crit = jnp.maximum(jnp.max(dist), jnp.abs(m.grad_b))
    crit = jnp.where(jnp.all(jnp.isfinite(m.grad)), crit, jnp.nan)  # see working_set_check.evaluate
    obj = _loss(y, d, z) + _penalty(w, l1, l2)
    return LCheck(crit, jnp.where(w != 0, jnp.inf, dist), jnp.sum(w != 0), obj), l1 / m.H, l2 / m.H


def line_search(XT, y, d, z, w, b, v, c, grad, gb, l1, l2):
    """Backtracking (halving) from the full step to ``(v, c)``; Armijo on the true
    objective. All candidate steps are scored at once (they are cheap: ``dz`` is computed
    once). Returns ``(w, b, z, step)``; step 0 when no candidate decreases."""
    dw, db = v - w, c - b
    dz = dot(dw, XT) + db
    F0 = _loss(y, d, z) + _penalty(w, l1, l2)
    decrease = jnp.vdot(grad, dw) + gb * db + _penalty(v, l1, l2) - _penalty(w, l1, l2)
    steps = 0.5 ** jnp.arange(LINE_SEARCH_STEPS, dtype=z.dtype)
    F = jax.vmap(lambda s: _loss(y, d, z + s * dz) + _penalty(w + s * dw, l1, l2))(steps)
    slack = 10 * jnp.finfo(z.dtype).eps * jnp.abs(F0)
    ok = F <= F0 + ARMIJO * steps * jnp.minimum(decrease, 0.0) + slack
    s = jnp.where(jnp.any(ok), steps[jnp.argmax(ok)], 0.0)
    return w + s * dw, b + s * db, z + s * dz, s


LOGISTIC = pieces(
    (predictions, 3, ()),
    (model, 5, ("fit_intercept",)),
    (lcheck, 8, ()),
    (line_search, 12, ()),
)


class LogisticState(NamedTuple):
    w: jax.Array
    b: jax.Array
    z: jax.Array
    model: Model


def solve_logistic(X, y, weights, l1, l2, w0, b0, *, fit_intercept, tol, max_iter, compiler, batched=False, state=None):
    """The outer loop (one proximal-Newton step per iteration); arguments as in
    :func:`working_set_loop.solve_squared`. Returns ``(Outcome, LogisticState)``."""
    L = {name: fns[int(batched)] for name, fns in LOGISTIC.items()}
    Q = {name: fns[int(batched)] for name, fns in SQUARED.items()}
    design = Design.put(X, compiler)
    XT = design.XT
    subsets = design.row_subsets(weights) if batched else None  # the folds' own rows for the inner solves
    weights = np.asarray(weights)  # normalized on the host: eager jax ops compile programs of their own
    d = jax.device_put(weights / np.sum(weights, axis=-1, keepdims=True))
    warm = state is not None or bool(np.any(np.asarray(w0)))
    if state is None:
        w, b = w0, b0
        z = compiler(L["predictions"], XT, w, b)
        m = compiler(L["model"], XT, y, d, z, b, fit_intercept=fit_intercept)
    else:
        w, b, z, m = state
    history, n_iter = [], 0
    while True:
        chk, l1s, l2s = compiler(L["lcheck"], XT, m, y, d, z, w, l1, l2)
        crit, nnz = np.asarray(chk.crit), np.asarray(chk.nnz)
        if n_iter:
            history.append(np.asarray(chk.obj))
        elif state is None:
            first_check_finite(crit)
        done = crit <= tol
        if np.all(done) or n_iter >= max_iter:
            break
        n_iter += 1
        tol_in = np.where(done, np.inf, np.clip(crit**2, 1e-14, 1e-4)).astype(crit.dtype)
        far = crit > FAR * tol
        size = ws_size(nnz, warm)
        args = (m.prep, w, m.r, chk.scores, l1s, l2s, tol_in, size, far)
        v, _ = solve_inner(compiler, design, *args, batched=batched, subsets=subsets)
        c = compiler(Q["intercept"], XT, m.prep, v) if fit_intercept else b
        w, b, z, _ = compiler(L["line_search"], XT, y, d, z, w, b, v, c, m.grad, m.grad_b, l1, l2)
        m = compiler(L["model"], XT, y, d, z, b, fit_intercept=fit_intercept)
    status = CONVERGED if np.all(np.asarray(chk.crit) <= tol) else MAX_ITER
    hist = np.asarray(history).reshape(len(history), *np.shape(chk.obj))
    kind = np.ones_like(np.asarray(chk.nnz))  # CRITERIA[1]: subdiff_distance
    out = Outcome(np.asarray(w), np.asarray(b), n_iter, status, np.asarray(chk.crit), kind, hist)
    return out, LogisticState(w, b, z, m)
