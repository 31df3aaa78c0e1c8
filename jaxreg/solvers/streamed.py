"""Gradient descent, mini-batch and SGD over data streamed from disk
(:class:`jaxreg.streaming.NpyDataset`).

A host loop feeds fixed-shape blocks (``k`` batches of ``bs`` rows) to a few compiled
functions built from the in-memory solver's :class:`~jaxreg.solvers.stochastic.StepRule`,
so an update, the evaluation and the stopping rule are the in-memory ones:

* ``train_block``: a ``lax.scan`` of mini-batch updates over a block; batches past the
  block's real ones (in the last block) leave the carry unchanged;
* ``eval_block``: accumulates ``S = sum(w * l)``, ``W = sum(w)`` and the gradient of ``S``
  over a block; after the pass the datafit is ``S / W`` and its gradient ``grad S / W``;
* ``decide``: the end-of-epoch decision (converged, stalled, diverged, running).

Each epoch reads the data twice (train, then evaluate at the epoch's end point); gradient
descent reads it once (its step uses the gradient of the previous evaluation). Batch ``j``
is always rows ``j*bs : (j+1)*bs``; with ``shuffle`` the order of the batches is drawn
afresh each epoch (numpy generator seeded by ``(seed, epoch)``), not the rows within them,
so rows stored in a meaningful order (sorted by label or time) should be shuffled once
on disk first. With ``shuffle=False`` the batches are those of the in-memory solver with
``shuffle=False``.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg.solvers._common import RUNNING, Data, power_iteration, predict
from jaxreg.solvers.stochastic import StepRule, output

# The default step sums the Gram matrix in one pass up to this many entries (32 MiB in
# float64); beyond, power iteration (one pass per iteration).
GRAM_LIMIT = 2**22

RULE_SETTINGS = (
    "fit_intercept",
    "optimizer",
    "schedule",
    "n_iter_no_change",
    "variance_reduction",
    "full_batch",
)


def _rule(loss, penalty, hyper, settings, steps_per_epoch=1) -> StepRule:
    # steps_per_epoch is traced here (it only scales the schedule's clock), so a file of
    # another length reuses the compiled functions
    return StepRule(
        loss=loss, penalty=penalty, hyper=hyper, dtype=hyper.tol.dtype, steps_per_epoch=steps_per_epoch, **settings
    )


def _flat(block: Data) -> Data:
    X, y, w = block
    return Data(X.reshape(-1, X.shape[-1]), y.reshape((-1,) + y.shape[2:]), w.reshape(-1))


def _finish(rule: StepRule, params, acc):
    S, W, gw, gb = acc
    W = jnp.maximum(W, jnp.finfo(W.dtype).tiny)
    return rule.finish(params, S / W, gw / W, gb / W)


@partial(jax.jit, static_argnames=("max_iter", *RULE_SETTINGS))
def init_state(params0, acc0, loss, penalty, hyper, *, max_iter, **settings):
    rule = _rule(loss, penalty, hyper, settings)
    return rule.initial_state(params0, _finish(rule, params0, acc0), max_iter)


@partial(jax.jit, static_argnames=RULE_SETTINGS)
def train_block(carry, snapshot, full_grad, block: Data, n_active, loss, penalty, hyper, steps_per_epoch, **settings):
    rule = _rule(loss, penalty, hyper, settings, steps_per_epoch)

    def step(c, batch):
        i, Xb, yb, wb = batch
        new = rule.batch_step(c, Data(Xb, yb, wb), snapshot, full_grad)
        return jax.tree.map(lambda a, b: jnp.where(i < n_active, a, b), new, c), None

    k = block.X.shape[0]
    carry, _ = lax.scan(step, carry, (jnp.arange(k), *block))
    return carry


@partial(jax.jit, static_argnames=RULE_SETTINGS)
def full_batch_step(s, loss, penalty, hyper, steps_per_epoch, **settings):
    return _rule(loss, penalty, hyper, settings, steps_per_epoch).full_batch_step(s)


@jax.jit
def eval_block(acc, block: Data, params, loss):
    X, y, w = _flat(block)
    S, (gw, gb) = jax.value_and_grad(lambda p: jnp.sum(w * loss.per_sample(y, predict(X, *p))))(params)
    return acc[0] + S, acc[1] + jnp.sum(w), acc[2] + gw, acc[3] + gb


@partial(jax.jit, static_argnames=RULE_SETTINGS)
def decide(s, trained, acc, F0, loss, penalty, hyper, **settings):
    rule = _rule(loss, penalty, hyper, settings)
    return rule.decide(s, trained, _finish(rule, trained[0], acc), F0)


def _design(block: Data, fit_intercept):
    """``A = [X, 1]`` (or ``X``), the weights, and the largest squared row norm of ``A``
    (padding rows are zero, so they never raise it)."""
    X, _, w = _flat(block)
    A = jnp.concatenate([X, jnp.ones((X.shape[0], 1), X.dtype)], axis=1) if fit_intercept else X
    return A, w, jnp.max(jnp.sum(A * A, axis=1))


@partial(jax.jit, static_argnames=("fit_intercept",))
def gram_block(acc, block: Data, total_weight, *, fit_intercept):
    """``A^T D A`` (``D = diag(w) / W``) and the largest squared row norm, summed over a block."""
    A, w, row_sq = _design(block, fit_intercept)
    return acc[0] + A.T @ (A * (w / total_weight)[:, None]), jnp.maximum(acc[1], row_sq)


@partial(jax.jit, static_argnames=("fit_intercept",))
def gram_apply_block(acc, block: Data, v, total_weight, *, fit_intercept):
    """``A^T D A v`` and the largest squared row norm, summed over a block."""
    A, w, row_sq = _design(block, fit_intercept)
    return acc[0] + ((w / total_weight) * (A @ v)) @ A, jnp.maximum(acc[1], row_sq)


class Runner:
    """Runs the compiled block functions over a dataset; ``compile(name, fn, args,
    static)`` returns an ahead-of-time compiled executable and its compile time."""

    def __init__(self, ds, encode, compile):
        self.ds, self.encode, self._compile = ds, encode, compile
        self.compile_time = 0.0
        self._last = None  # the latest dispatched result

    def call(self, fn, *args, **static):
        exe, seconds = self._compile(SimpleNamespace(name=f"streamed.{fn.__name__}", run=fn), args, static)
        self.compile_time += seconds
        self._last = exe(*args)
        return self._last

    def blocks(self, batch_size, order):
        for b in self.ds.blocks(batch_size, order, self.encode):
            # Dispatch is asynchronous: without this wait the loop would run ahead of the
            # device, holding a copy of every block queued, and memory would follow the file.
            jax.block_until_ready(self._last)
            yield Data(jnp.asarray(b.X), jnp.asarray(b.y), jnp.asarray(b.weights)), jnp.asarray(b.n_active, jnp.int32)

    def eval_pass(self, params, loss, batch_size):
        n_batches = -(-self.ds.n_samples // batch_size)
        acc = None
        for block, _ in self.blocks(batch_size, np.arange(n_batches)):
            if acc is None:
                zero = jnp.zeros((), block.X.dtype)
                acc = (zero, zero, *jax.tree.map(jnp.zeros_like, params))
            acc = self.call(eval_block, acc, block, params, loss)
        return acc

    def lipschitz(self, total_weight, fit_intercept, batch_size, max_passes=20, rtol=1e-6):
        """``lambda_max(A^T D A)`` and the largest squared row norm of ``A``.

        Up to ``GRAM_LIMIT`` entries the Gram matrix is summed in one pass and its largest
        eigenvalue is exact (``eigvalsh``). Beyond, power iteration takes one pass per
        iteration, at most ``max_passes``: its Rayleigh quotient approaches
        ``lambda_max`` from below, so with a small eigengap the step can come out too
        large (pass ``learning_rate`` then).
        """
        q, dtype = self.ds.n_features + bool(fit_intercept), self.ds.dtype
        order = np.arange(-(-self.ds.n_samples // batch_size))
        W = jnp.asarray(total_weight, dtype)
        zero = jnp.zeros((), dtype)
        if q * q <= GRAM_LIMIT:
            acc = (jnp.zeros((q, q), dtype), zero)
            for block, _ in self.blocks(batch_size, order):
                acc = self.call(gram_block, acc, block, W, fit_intercept=fit_intercept)
            return float(np.linalg.eigvalsh(np.asarray(acc[0]))[-1]), float(acc[1])
        row_sq = zero

        def apply(v):  # one pass over the files
            nonlocal row_sq
            acc = (jnp.zeros(q, dtype), zero)
            for block, _ in self.blocks(batch_size, order):
                acc = self.call(gram_apply_block, acc, block, jnp.asarray(v), W, fit_intercept=fit_intercept)
            row_sq = acc[1]
            return np.asarray(acc[0])

        v0 = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (q,), dtype))
        lam = power_iteration(apply, v0, max_iter=max_passes, rtol=rtol, host=True)
        return float(lam), float(row_sq)

    def run(self, loss, penalty, w0, b0, hyper, *, max_iter, batch_size, shuffle, seed, settings):
        """The fit: ``settings`` are the StepRule's structural fields (and
        ``steps_per_epoch``); returns the solver's output."""
        settings = dict(settings)
        n_batches = settings.pop("steps_per_epoch")
        clock = jnp.asarray(n_batches, hyper.tol.dtype)
        full_batch = settings["full_batch"]
        eval_bs = min(self.ds.block_rows, self.ds.n_samples) if full_batch else batch_size
        params = (w0, b0)
        acc = self.eval_pass(params, loss, eval_bs)
        s = self.call(init_state, params, acc, loss, penalty, hyper, max_iter=max_iter, **settings)
        F0 = s.F
        while int(s.status) == RUNNING and int(s.k) < max_iter:
            if full_batch:
                trained = self.call(full_batch_step, s, loss, penalty, hyper, clock, **settings)
            else:
                order = (
                    np.random.default_rng([seed, int(s.k)]).permutation(n_batches) if shuffle else np.arange(n_batches)
                )
                trained = (s.params, s.opt_state, s.step)
                for block, n_active in self.blocks(batch_size, order):
                    trained = self.call(
                        train_block,
                        trained,
                        s.params,
                        s.grads,
                        block,
                        n_active,
                        loss,
                        penalty,
                        hyper,
                        clock,
                        **settings,
                    )
            acc = self.eval_pass(trained[0], loss, eval_bs)
            s = self.call(decide, s, trained, acc, F0, loss, penalty, hyper, **settings)
        return output(s)
