"""A design centred without being rewritten: ``X - 1 mu^T`` as an operator.

``(X - 1 mu^T) w = X w - mu.w`` and ``(X - 1 mu^T)^T g = X^T g - mu sum(g)``: the products of
the centred design from those of ``X``, so a sparse ``X`` stays sparse and a dense and a
sparse copy of one problem run the same arithmetic (up to the rounding of their own
products). Solvers that only multiply by the design (proximal gradient, the Lipschitz power
iteration) take it in place of ``X``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxreg.solvers._common import rmatvec

__all__ = ["CentredDesign"]


@jax.tree_util.register_pytree_node_class
class CentredDesign:
    """``X - 1 mu^T`` for ``X`` (n, p), dense or a sparse container, and ``mu`` (p,)."""

    def __init__(self, X, mu):
        self.X, self.mu = X, mu

    def tree_flatten(self):
        return (self.X, self.mu), None

    @classmethod
    def tree_unflatten(cls, _, children):
        return cls(*children)

    @property
    def shape(self):
        return self.X.shape

    @property
    def dtype(self):
        return self.X.dtype

    def __matmul__(self, w):
        return self.X @ w - self.mu @ w  # mu.w: a number (w (p,)) or one per column (w (p, K))

    @property
    def T(self):
        return _Transposed(self)


class _Transposed:
    def __init__(self, design: CentredDesign):
        self.design = design

    def __matmul__(self, g):
        s = jnp.sum(g, axis=0)
        mu = self.design.mu
        return rmatvec(self.design.X, g) - (mu[:, None] * s if g.ndim == 2 else mu * s)
