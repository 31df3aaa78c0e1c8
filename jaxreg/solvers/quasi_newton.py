"""L-BFGS (optax) for smooth problems: the datafit plus a differentiable penalty.

optax's ``lbfgs`` with its zoom line search (strong Wolfe conditions); the objective and
gradient come from ``jax.value_and_grad`` and the line search reuses them through
``optax.value_and_grad_from_state``. Stops when the gradient's ``inf`` norm (the
subdifferential distance of a smooth problem) is below ``tol``.
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
    empty_history,
    is_diverged,
    objective,
)

CRITERIA = ("gradient_norm",)


class _State(NamedTuple):
    params: tuple
    opt_state: object
    k: jax.Array
    crit: jax.Array
    status: jax.Array
    history: jax.Array


@partial(jax.jit, static_argnames=("max_iter", "fit_intercept", "memory_size"))
def lbfgs(data: Data, loss, penalty, w0, b0, hyper, *, max_iter=500, fit_intercept=True, memory_size=10):
    dtype = data.X.dtype

    def fun(params):
        w, b = params
        return objective(data, loss, penalty, w, b if fit_intercept else jnp.zeros_like(b))

    opt = optax.lbfgs(memory_size=memory_size)
    value_and_grad = optax.value_and_grad_from_state(fun)

    def grad_norm(g):
        gw, gb = g
        gb = gb if fit_intercept else jnp.zeros_like(gb)
        return jnp.maximum(jnp.max(jnp.abs(gw)), jnp.max(jnp.abs(gb), initial=0.0))

    def body(s: _State):
        value, grad = value_and_grad(s.params, state=s.opt_state)
        crit = grad_norm(grad)
        done = crit <= hyper.tol
        updates, opt_state = opt.update(grad, s.opt_state, s.params, value=value, grad=grad, value_fn=fun)
        params = optax.apply_updates(s.params, updates)
        F = optax.tree.get(opt_state, "value")
        bad = is_diverged(F, F0) | ~jnp.all(jnp.isfinite(params[0]))
        status = jnp.where(done, CONVERGED, jnp.where(bad, DIVERGED, RUNNING)).astype(jnp.int32)
        stepped = status == RUNNING
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(stepped, a, b), new, old)  # noqa: E731
        return _State(
            params=keep(params, s.params),
            opt_state=keep(opt_state, s.opt_state),
            k=s.k + stepped.astype(jnp.int32),
            crit=crit,
            status=status,
            history=jnp.where(stepped, s.history.at[s.k].set(F), s.history),
        )

    def cond(s: _State):
        return (s.status == RUNNING) & (s.k < max_iter)

    params0 = (w0, b0)
    F0 = fun(params0)
    s0 = _State(
        params0,
        opt.init(params0),
        jnp.zeros((), jnp.int32),
        jnp.asarray(jnp.inf, dtype),
        jnp.asarray(RUNNING, jnp.int32),
        empty_history(max_iter, dtype),
    )
    s = lax.while_loop(cond, body, s0)

    def final_crit():
        return grad_norm(jax.grad(fun)(s.params))

    crit = lax.cond(s.status == RUNNING, final_crit, lambda: s.crit)
    status = jnp.where(s.status == RUNNING, jnp.where(crit <= hyper.tol, CONVERGED, MAX_ITER), s.status)
    w, b = s.params
    return SolverOutput(w, b, s.k, status, crit, s.history, jnp.asarray(0))
