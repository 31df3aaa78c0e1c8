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

from dataclasses import dataclass
from functools import cached_property, partial
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


def default_learning_rate(L, L_max, batch_size, n):
    """``1/L`` for full batch; for batches of size B the expected-smoothness bound
    ``L_B = n(B-1)/(B(n-1)) L + (n-B)/(B(n-1)) L_max`` (Gower et al., 2019), where
    ``L_max`` bounds the smoothness of one sample's loss."""
    if batch_size is None or batch_size >= n:
        return 1.0 / L
    B = batch_size
    L_B = n * (B - 1) / (B * (n - 1)) * L + (n - B) / (B * (n - 1)) * L_max
    return 1.0 / max(L_B, L)


@dataclass(frozen=True)
class StepRule:
    """One update and one end-of-epoch decision, shared by the in-memory loop below and
    the streamed loop (:mod:`jaxreg.solvers.streamed`), which feeds it batches read from
    disk. Built inside ``jit`` (it holds traced hyperparameters)."""

    loss: object
    penalty: object
    hyper: object
    dtype: object
    fit_intercept: bool
    optimizer: object
    schedule: object
    steps_per_epoch: int
    n_iter_no_change: int
    variance_reduction: str
    full_batch: bool

    @property
    def use_grad_penalty(self):
        return self.penalty.grad_lipschitz() is not None

    @cached_property
    def opt(self):
        if self.optimizer is None:
            return optax.inject_hyperparams(optax.sgd)(learning_rate=self.hyper.learning_rate)
        return self.optimizer

    def grad_smooth(self, d: Data, params):
        """Gradient in ``(w, b)`` of the datafit on ``d``, plus the penalty when smooth."""

        def smooth(p):
            f = datafit(d, self.loss, *p)
            return f + self.penalty.value(p[0]) if self.use_grad_penalty else f

        g = jax.grad(smooth)(params)
        return g if self.fit_intercept else (g[0], jnp.zeros_like(g[1]))

    def lr_at(self, step):
        if callable(self.schedule):
            return jnp.asarray(self.schedule(step), self.dtype)
        h = self.hyper
        return jnp.asarray(
            learning_rate_at(self.schedule, h.learning_rate, h.decay, step / self.steps_per_epoch), self.dtype
        )

    def update(self, params, opt_state, grads, step):
        lr = self.lr_at(step)
        if self.optimizer is None:
            opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr})
        updates, opt_state = self.opt.update(grads, opt_state, params)
        w, b = optax.apply_updates(params, updates)
        if not self.use_grad_penalty:
            w = self.penalty.prox(w, lr)
        if not self.fit_intercept:
            b = params[1]
        return (w, b), opt_state

    def full_batch_step(self, s: _State):
        """Gradient descent: the step uses the full gradient kept from the evaluation."""
        params, opt_state = self.update(s.params, s.opt_state, s.grads, s.step)
        return params, opt_state, s.step + 1

    def batch_step(self, carry, d: Data, snapshot, full_grad):
        """One mini-batch update of ``carry = (params, opt_state, step)`` on the batch ``d``."""
        params, opt_state, step = carry
        g = self.grad_smooth(d, params)
        if self.variance_reduction == "svrg":
            # SVRG (Johnson & Zhang, 2013; proximal: Xiao & Zhang, 2014): the batch gradient
            # corrected by its value at the epoch's snapshot plus the full gradient there.
            g_snap = self.grad_smooth(d, snapshot)
            g = jax.tree.map(lambda a, b, c: a - b + c, g, g_snap, full_grad)
        params, opt_state = self.update(params, opt_state, g, step)
        return params, opt_state, step + 1

    def finish(self, params, f, gw, gb):
        """Objective, smooth-part gradient and optimality from the datafit ``f`` and its
        gradient ``(gw, gb)`` at ``params``."""
        w = params[0]
        if not self.fit_intercept:
            gb = jnp.zeros_like(gb)
        crit = optimality(self.penalty, w, gw, gb)
        if self.use_grad_penalty:
            gw = gw + jax.grad(self.penalty.value)(w)
        return f + self.penalty.value(w), (gw, gb), crit

    def initial_state(self, params0, evaluated, max_iter):
        F0, grads0, crit0 = evaluated
        return _State(
            params=params0,
            opt_state=self.opt.init(params0),
            step=jnp.zeros((), jnp.int32),
            grads=grads0,
            F=F0,
            best=F0,
            stall=jnp.zeros((), jnp.int32),
            k=jnp.zeros((), jnp.int32),
            crit=crit0,
            criterion=jnp.zeros((), jnp.int32),
            status=jnp.where(crit0 <= self.hyper.tol, CONVERGED, RUNNING).astype(jnp.int32),
            history=empty_history(max_iter, self.dtype),
            key=self.hyper.key,
        )

    def decide(self, s: _State, trained, evaluated, F0):
        """The state after an epoch that ended at ``trained = (params, opt_state, step)``
        with ``evaluated = (F, grads, crit)`` there; a diverged epoch is rolled back."""
        params, opt_state, step = trained
        F, grads, crit = evaluated
        tol = self.hyper.tol
        finite = jnp.all(jnp.isfinite(params[0])) & jnp.all(jnp.isfinite(params[1]))
        bad = is_diverged(F, F0) | ~finite
        improved = F < s.best - tol * jnp.abs(s.best)
        stall = jnp.where(improved, 0, s.stall + 1).astype(jnp.int32)
        rel_change = jnp.abs(s.F - F) / jnp.maximum(jnp.abs(F), jnp.finfo(self.dtype).tiny)
        optimal = crit <= tol
        stalled = (stall >= self.n_iter_no_change) & (not self.full_batch)
        status = jnp.where(bad, DIVERGED, jnp.where(optimal | stalled, CONVERGED, RUNNING)).astype(jnp.int32)
        by_stall = stalled & ~optimal & ~bad
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
            criterion=by_stall.astype(jnp.int32),
            status=status,
            history=s.history.at[s.k].set(F),
            key=s.key,
        )


def output(s: _State) -> SolverOutput:
    status = jnp.where(s.status == RUNNING, MAX_ITER, s.status)
    w, b = s.params
    return SolverOutput(w, b, s.k, status, s.crit, s.history, s.criterion)


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
        "n_samples",
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
    n_samples: int | None = None,
):
    """``n_samples``: the real rows are the first ``n_samples`` of ``data`` (the rest are
    zero-weight padding, e.g. to shard evenly); only they are drawn into batches, so the
    batches are those of the unpadded data."""
    X, y, weights = data
    n = X.shape[0] if n_samples is None else n_samples
    dtype = X.dtype
    bs = n if batch_size is None else min(batch_size, n)
    full_batch = bs == n and not shuffle
    n_batches = -(-n // bs)
    pad = n_batches * bs - n
    rule = StepRule(
        loss=loss,
        penalty=penalty,
        hyper=hyper,
        dtype=dtype,
        fit_intercept=fit_intercept,
        optimizer=optimizer,
        schedule=schedule,
        steps_per_epoch=n_batches,
        n_iter_no_change=n_iter_no_change,
        variance_reduction=variance_reduction,
        full_batch=full_batch,
    )

    def epoch(s: _State):
        if full_batch:
            return rule.full_batch_step(s)
        key = jax.random.fold_in(s.key, s.k)
        perm = jax.random.permutation(key, n) if shuffle else jnp.arange(n)
        idx = jnp.concatenate([perm, jnp.zeros(pad, perm.dtype)]).reshape(n_batches, bs)
        mask = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(pad, dtype)]).reshape(n_batches, bs)

        def scan_step(carry, batch):
            ib, mb = batch
            d = Data(X[ib], y[ib], weights[ib] * mb)
            return rule.batch_step(carry, d, s.params, s.grads), None

        carry, _ = lax.scan(scan_step, (s.params, s.opt_state, s.step), (idx, mask))
        return carry

    def evaluate(params):
        f, (gw, gb) = jax.value_and_grad(lambda ww, bb: datafit(data, loss, ww, bb), argnums=(0, 1))(*params)
        return rule.finish(params, f, gw, gb)

    def body(s: _State):
        trained = epoch(s)
        return rule.decide(s, trained, evaluate(trained[0]), F0)

    def cond(s: _State):
        return (s.status == RUNNING) & (s.k < max_iter)

    params0 = (w0, b0)
    s0 = rule.initial_state(params0, evaluate(params0), max_iter)
    F0 = s0.F
    return output(lax.while_loop(cond, body, s0))
