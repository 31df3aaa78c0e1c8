"""Gradient descent, mini-batch and stochastic gradient descent as optax loops.

One loop serves all three: an *epoch* is a ``lax.scan`` over fixed-shape batches of a
fresh permutation (drawn from an explicit PRNG key); the ragged last batch is padded and
masked, so every sample counts once per epoch and nothing retraces. Full-batch gradient
descent is the one-batch case without shuffling, where the gradient computed for the
convergence check is reused for the step (one gradient per iteration).

The smooth part of the objective (datafit, plus the penalty when its gradient is Lipschitz:
L2, none) goes through the optax optimizer; any other penalty is applied by its exact prox
after each update with the current learning rate as the step (proximal SGD), so L1 gives
exact zeros here too.

With ``variance_reduction="svrg"`` each batch gradient is corrected by the full gradient at
the epoch's starting point (computed anyway for the convergence check): the variance
vanishes at the optimum, so a constant step converges linearly and the proximal step
zeroes exactly the coefficients that are zero at the optimum.

After every epoch the full objective and its gradient are evaluated once; the loop stops
when the subdifferential distance is below ``tol`` (criterion 0) or, for the stochastic
variants, when the objective has not improved by a relative ``tol`` for
``n_iter_no_change`` epochs (criterion 1). A non-finite or exploding objective stops it as
diverged, handing back the last finite iterate.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxreg.solvers._common import (
    CONVERGED,
    DIVERGED,
    MAX_ITER,
    RUNNING,
    Data,
    SolverOutput,
    datafit,
    empty_history,
    is_diverged,
    optimality,
)

CRITERIA = ("subdiff_distance", "rel_objective_change")
SCHEDULES = ("constant", "inverse_time", "inverse_sqrt", "exponential")


def learning_rate_at(schedule, lr0, decay, epoch_time):
    """The learning rate after ``epoch_time`` epochs (a float: step / steps_per_epoch)."""
    if schedule == "constant":
        return lr0
    if schedule == "inverse_time":
        return lr0 / (1.0 + decay * epoch_time)
    if schedule == "inverse_sqrt":
        return lr0 / jnp.sqrt(1.0 + decay * epoch_time)
    if schedule == "exponential":
        return lr0 * jnp.exp(-decay * epoch_time)
    raise ValueError(f"schedule={schedule!r} is not allowed; allowed: {SCHEDULES} or an optax schedule")


class _State(NamedTuple):
    params: tuple
    opt_state: object
    step: jax.Array
    grads: tuple  # full gradient of the smooth part at params (reused by full-batch GD)
    F: jax.Array
    best: jax.Array
    stall: jax.Array
    k: jax.Array
    crit: jax.Array
    criterion: jax.Array
    status: jax.Array
    history: jax.Array
    key: jax.Array


@partial(
    jax.jit,
    static_argnames=(
        "max_iter",
        "fit_intercept",
        "batch_size",
        "shuffle",
        "optimizer",
        "schedule",
        "n_iter_no_change",
        "variance_reduction",
    ),
)
def stochastic_gradient(
    data: Data,
    loss,
    penalty,
    w0,
    b0,
    hyper,
    *,
    max_iter: int = 100,
    fit_intercept: bool = True,
    batch_size: int | None = None,
    shuffle: bool = True,
    optimizer=None,
    schedule="constant",
    n_iter_no_change: int = 5,
    variance_reduction: str = "none",
):
    X, y, weights = data
    n = X.shape[0]
    dtype = X.dtype
    bs = n if batch_size is None else min(batch_size, n)
    full_batch = bs == n and not shuffle
    n_batches = -(-n // bs)
    pad = n_batches * bs - n
    use_grad_penalty = penalty.grad_lipschitz() is not None

    def smooth(d: Data, w, b):
        f = datafit(d, loss, w, b)
        return f + penalty.value(w) if use_grad_penalty else f

    def grad_smooth(d: Data, params):
        g = jax.grad(lambda p: smooth(d, *p))(params)
        return g if fit_intercept else (g[0], jnp.zeros_like(g[1]))

    def lr_at(step):
        if callable(schedule):
            return jnp.asarray(schedule(step), dtype)
        return jnp.asarray(learning_rate_at(schedule, hyper.learning_rate, hyper.decay, step / n_batches), dtype)

    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=hyper.learning_rate) if optimizer is None else optimizer

    def update(params, opt_state, grads, step):
        lr = lr_at(step)
        if optimizer is None:
            opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})
        updates, opt_state = opt.update(grads, opt_state, params)
        w, b = optax.apply_updates(params, updates)
        if not use_grad_penalty:
            w = penalty.prox(w, lr)
        if not fit_intercept:
            b = params[1]
        return (w, b), opt_state

    def epoch(s: _State):
        if full_batch:
            params, opt_state = update(s.params, s.opt_state, s.grads, s.step)
            return params, opt_state, s.step + 1
        key = jax.random.fold_in(s.key, s.k)
        perm = jax.random.permutation(key, n) if shuffle else jnp.arange(n)
        idx = jnp.concatenate([perm, jnp.zeros(pad, perm.dtype)]).reshape(n_batches, bs)
        mask = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(pad, dtype)]).reshape(n_batches, bs)

        snapshot, full_grad = s.params, s.grads

        def batch_step(carry, batch):
            params, opt_state, step = carry
            ib, mb = batch
            d = Data(X[ib], y[ib], weights[ib] * mb)
            g = grad_smooth(d, params)
            if variance_reduction == "svrg":
                # SVRG (Johnson & Zhang, 2013; proximal: Xiao & Zhang, 2014): the batch gradient
                # corrected by its value at the epoch's snapshot plus the full gradient there.
                g_snap = grad_smooth(d, snapshot)
                g = jax.tree.map(lambda a, b, c: a - b + c, g, g_snap, full_grad)
            params, opt_state = update(params, opt_state, g, step)
            return (params, opt_state, step + 1), None

        (params, opt_state, step), _ = lax.scan(batch_step, (s.params, s.opt_state, s.step), (idx, mask))
        return params, opt_state, step

    def evaluate(params):
        w, b = params
        f, (gw, gb) = jax.value_and_grad(lambda ww, bb: datafit(data, loss, ww, bb), argnums=(0, 1))(w, b)
        if not fit_intercept:
            gb = jnp.zeros_like(gb)
        crit = optimality(penalty, w, gw, gb)
        if use_grad_penalty:
            gw = gw + jax.grad(penalty.value)(w)
        return f + penalty.value(w), (gw, gb), crit

    def body(s: _State):
        params, opt_state, step = epoch(s)
        F, grads, crit = evaluate(params)
        finite = jnp.all(jnp.isfinite(params[0])) & jnp.all(jnp.isfinite(params[1]))
        bad = is_diverged(F, F0) | ~finite
        improved = F < s.best - hyper.tol * jnp.abs(s.best)
        stall = jnp.where(improved, 0, s.stall + 1).astype(jnp.int32)
        rel_change = jnp.abs(s.F - F) / jnp.maximum(jnp.abs(F), jnp.finfo(dtype).tiny)
        optimal = crit <= hyper.tol
        stalled = (stall >= n_iter_no_change) & (not full_batch)
        status = jnp.where(bad, DIVERGED, jnp.where(optimal | stalled, CONVERGED, RUNNING)).astype(jnp.int32)
        by_stall = stalled & ~optimal & ~bad
        criterion = by_stall.astype(jnp.int32)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(bad, b, a), new, old)  # noqa: E731
        return _State(
            params=keep(params, s.params),
            opt_state=keep(opt_state, s.opt_state),
            step=step,
            grads=keep(grads, s.grads),
            F=jnp.where(bad, s.F, F),
            best=jnp.where(bad, s.best, jnp.minimum(s.best, F)),
            stall=stall,
            k=s.k + 1,
            crit=jnp.where(by_stall, rel_change, crit),
            criterion=criterion,
            status=status,
            history=s.history.at[s.k].set(F),
            key=s.key,
        )

    def cond(s: _State):
        return (s.status == RUNNING) & (s.k < max_iter)

    params0 = (w0, b0)
    F0, grads0, crit0 = evaluate(params0)
    s0 = _State(
        params=params0,
        opt_state=opt.init(params0),
        step=jnp.zeros((), jnp.int32),
        grads=grads0,
        F=F0,
        best=F0,
        stall=jnp.zeros((), jnp.int32),
        k=jnp.zeros((), jnp.int32),
        crit=crit0,
        criterion=jnp.zeros((), jnp.int32),
        status=jnp.where(crit0 <= hyper.tol, CONVERGED, RUNNING).astype(jnp.int32),
        history=empty_history(max_iter, dtype),
        key=hyper.key,
    )
    s = lax.while_loop(cond, body, s0)
    status = jnp.where(s.status == RUNNING, MAX_ITER, s.status)
    w, b = s.params
    return SolverOutput(w, b, s.k, status, s.crit, s.history, s.criterion)
