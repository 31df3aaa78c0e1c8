"""Working sets for L1-type penalties: coordinate descent on a few features, then an exact
Newton step on the support; the duality gap as the stopping rule.

Penalties handled (written as ``sum_j l1_j |w_j| + l2 / 2 ||w||^2``): ``L1``,
``WeightedL1``, ``ElasticNet`` and ``Lp`` with ``p = 1``; losses: squared and logistic
(:mod:`jaxreg.solvers.working_set_logistic`).

This module is the entry point (:func:`working_set`) and what the solver accepts
(:func:`handles`, :func:`l1_l2`); the work is split by job: the passes over the whole design
(:mod:`~jaxreg.solvers.working_set_check`), the working-set kernels
(:mod:`~jaxreg.solvers.working_set_kernels`), the design's memory layout and the BLAS
threads (:mod:`~jaxreg.solvers.working_set_layout`) and the outer loop
(:mod:`~jaxreg.solvers.working_set_loop`).

The design is held as its transpose ``XT`` (p, n), made by the one copy that puts ``X`` on
the device: a feature is a contiguous row (what coordinate descent reads), and ``XT @ v``
is the fastest form of the full pass on XLA's CPU backend.

The outer loop runs on the host (as skglm's and celer's do) and calls three jit-compiled
pieces whose sizes are bucketed, so a fit compiles a handful of shapes however many
iterations it takes:

``start`` (``start_cold`` from ``w = 0``: one pass over the design)
    constants, the residual and a ``check`` at the initial point;
``cd`` (static capacity: all the features up to 8192 of them, else the first of 256, 1024,
    4096, ... at or above the working set's size: :meth:`Design.cap`)
    the working set: the support and the features with the largest subdifferential
    distance, ``max(16, 3 * support)`` in all (1.5x from a warm start: :func:`ws_size`),
    chosen by a threshold found by bisection (XLA's sort is slow on CPU). Cyclic
    coordinate descent on it with Anderson extrapolation every ``K + 1`` epochs, kept only
    when it lowers the objective, until the subproblem's criterion is below ``0.3 x`` the
    outer one or its support has stopped changing; then a ``check``: one ``XT @ v``
    product gives the criterion, the next scores and the intercept;
``newton`` (static size: the support rounded up by :func:`bucket`; run when the support
    was stable)
    on the support ``S`` with signs ``s`` the objective is the quadratic
    ``1/2 ||yt - Xt_S w_S||^2 + <l1_S * s, w_S> + l2/2 ||w_S||^2``, minimised by one
    Cholesky solve. The step goes to that minimiser, or stops where a coordinate first
    reaches zero (set to exactly zero), and is kept only if the objective does not go up.
    Once coordinate descent has found the support and signs this lands on the solution
    to rounding error, which makes tight tolerances cheap.

Squared loss ``sum_i d_i (y_i - x_i w - b)^2 / 2`` with ``d = weights / sum(weights)``: the
optimal intercept is ``b = ybar - xbar . w`` (weighted means), which turns the problem into
``1/2 ||yt - Xt w||^2`` with ``Xt = sqrt(d) (X - xbar)`` and ``yt = sqrt(d) (y - ybar)``.
``Xt`` is never formed: ``Xt^T v = XT @ (sqrt(d) v) - xbar sum(sqrt(d) v)``, and coordinate
descent reads the raw rows of ``XT`` and accounts for the centring with scalars.

Stopping rule (scikit-learn's): the duality gap at the dual point ``theta = c r`` (the
residual, rescaled by ``c = min(1, min_j l1_j / |Xt_j^T r - l2 w_j|)`` to be feasible),
relative to ``||yt||^2``: scikit-learn's ``gap <= tol * ||y - ybar||^2`` with its factor ``n``
taken out. With an unpenalized feature (a zero weight) no such dual point exists and the
rule is the largest subdifferential distance instead.

The pieces that pass over all of ``XT`` also have a batched form (``vmap`` over all
arguments but ``XT``) for several problems on the same design: the folds of a
cross-validation (held-out rows get weight zero) or several targets. Coordinate descent
and the Newton step run one call per problem (:func:`inner_solve_batch`), on two host
threads (each drives its own compiled calls), each on a copy of the design holding only its
positive-weight rows (a fold's training rows: :meth:`Design.row_subsets`), so the held-out
rows cost nothing there.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxreg._buckets import ALIGN
from jaxreg._compile import Compiler
from jaxreg.losses import Logistic, Loss, Squared
from jaxreg.penalties import Penalty
from jaxreg.solvers._common import SolverOutput
from jaxreg.solvers.working_set_check import (
    SQUARED,
    Box,
    Check,
    Prep,
    check,
    correlate,
    criterion,
    evaluate,
    predict,
    start,
    start_cold,
)
from jaxreg.solvers.working_set_kernels import (
    CD,
    NEWTON,
    NEWTON_ROUNDS,
    bucket,
    cd,
    cho_solve,
    newton,
    select,
    step_to_minimizer,
)
from jaxreg.solvers.working_set_layout import (
    Design,
    host_transposed,
    pad_design,
    single_threaded_blas,
    transpose_on_host,
)
from jaxreg.solvers.working_set_logistic import solve_logistic
from jaxreg.solvers.working_set_loop import NonFiniteDesign, Outcome, SquaredState, first_check_finite, solve_squared

# What other modules and tests use from this solver, whichever module of it defines them.
__all__ = [
    "CRITERIA",
    "handles",
    "l1_l2",
    "l1_l2_host",
    "working_set",
    "ALIGN",
    "CD",
    "Check",
    "Compiler",
    "Design",
    "NEWTON",
    "NEWTON_ROUNDS",
    "NonFiniteDesign",
    "Outcome",
    "Prep",
    "SQUARED",
    "SquaredState",
    "bucket",
    "cd",
    "check",
    "cho_solve",
    "correlate",
    "criterion",
    "evaluate",
    "first_check_finite",
    "host_transposed",
    "newton",
    "pad_design",
    "predict",
    "select",
    "single_threaded_blas",
    "solve_squared",
    "start",
    "start_cold",
    "step_to_minimizer",
    "transpose_on_host",
]

CRITERIA = ("duality_gap", "subdiff_distance")


# ----------------------------------------------------------------------------- penalties


def handles(loss: Loss, penalty: Penalty) -> str | None:
    """None when this solver handles the pair, else the reason it does not."""
    if not isinstance(loss, (Squared, Logistic)):  # their derivatives are written into the kernels
        return f"working_set handles the squared and logistic losses, not {loss.name!r}; use fista"
    if penalty.as_elastic_net(1, np.float64) is not None:  # sum l1_j |w_j| + l2/2 ||w||^2
        return None
    return (
        f"working_set handles L1-type penalties (L1, WeightedL1, ElasticNet, Lp with p = 1), not {penalty!r}; "
        "use fista (any penalty) or lbfgs (smooth penalties)"
    )


def l1_l2(penalty: Penalty, n_features: int, dtype):
    """:func:`l1_l2_host` put on the device in one transfer (eager jax ops cost ~50 us each)."""
    return jax.device_put(l1_l2_host(penalty, n_features, dtype))


def l1_l2_host(penalty: Penalty, n_features: int, dtype):
    """The penalty as ``sum_j l1_j |w_j| + l2 / 2 ||w||^2``: ``(l1 (p,), l2 scalar)`` in numpy
    (the penalty's own :meth:`~jaxreg.penalties.Penalty.as_elastic_net`). A box around that
    form (:class:`~jaxreg.penalties.Bounded`, which only the squared-loss kernels take: see
    :func:`jaxreg.solvers.engine.working_set`) gives ``l1`` as a :class:`Box`."""
    box = penalty.bounds(n_features, dtype)
    if box is not None:
        l1, l2 = l1_l2_host(penalty.penalty, n_features, dtype)
        return Box(l1, *box), l2
    l1, l2 = penalty.as_elastic_net(n_features, dtype)
    return np.asarray(l1, dtype), np.asarray(l2, dtype)


# ----------------------------------------------------------------------------- entry point


def working_set(data, loss, penalty, w0, b0, hyper, *, max_iter=100, fit_intercept=True):
    """The solver entry point of :func:`jaxreg.fit` (host-driven: it is not itself jitted).

    Returns ``(SolverOutput, compile_time)``.
    """
    compiler = Compiler()
    X_host, y, weights = data
    l1, l2 = l1_l2(penalty, X_host.shape[1], X_host.dtype)
    X = Design.put(X_host, compiler)  # numpy X from fit(): transposed by the transfer
    kw = dict(fit_intercept=fit_intercept, tol=float(hyper.tol), max_iter=max_iter, compiler=compiler)
    try:
        with single_threaded_blas():
            if isinstance(loss, Logistic):
                out, _ = solve_logistic(X, y, weights, l1, l2, w0, b0, **kw)
            else:
                out, _ = solve_squared(X, y, weights, l1, l2, w0, **kw)
    except NonFiniteDesign:
        # fit() left its pass over X to this solver's first one: name the entry now
        from jaxreg._validation import check_finite

        check_finite(np.asarray(X_host), "X")
        raise
    res = SolverOutput(
        coef=out.w,
        intercept=out.b,
        n_iter=np.asarray(out.n_iter),
        status=np.asarray(out.status),
        stop_crit=out.crit,
        history=out.history,
        criterion=out.kind,
    )
    return res, compiler.compile_time
