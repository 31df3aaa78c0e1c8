"""Losses (datafits) scored on predictions ``z = X @ w + b``.

Each loss is a small frozen pytree with pure methods:

* ``per_sample(y, z)`` - the loss of each sample;
* ``value(y, z, weights=None)`` - the weighted mean ``sum(weights * l) / sum(weights)``
  (the plain mean when ``weights`` is None, which is the scikit-learn scaling);
* ``curvature`` - a bound on the second derivative of ``per_sample`` in ``z``, so that
  ``curvature * lambda_max(X^T D X)`` is the Lipschitz constant of the gradient;
* ``init_intercept(y, weights)`` - the optimal intercept when all coefficients are zero.

Labels are encoded once, outside ``jit``, by :mod:`jaxreg._validation`: ``Logistic``
expects ``y`` in {-1, +1}; ``Multinomial`` expects one-hot rows.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from jaxreg._tree import pytree_dataclass

__all__ = ["Loss", "Squared", "Logistic", "Multinomial", "get_loss"]


def _weighted_mean(values, weights):
    if weights is None:
        return jnp.mean(values)
    # The floor keeps an all-zero-weight batch at 0 instead of 0/0.
    total = jnp.maximum(jnp.sum(weights), jnp.finfo(values.dtype).tiny)
    return jnp.sum(weights * values) / total


class Loss:
    """Base class of losses. Subclasses are final frozen pytrees."""

    name: ClassVar[str]
    curvature: ClassVar[float]
    is_classifier: ClassVar[bool] = False

    def per_sample(self, y, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, y, z, weights=None):
        """Weighted mean of ``per_sample`` (for Multinomial, summed over classes first)."""
        return _weighted_mean(self.per_sample(y, z), weights)

    def grad_z(self, y, z, weights=None):
        """Gradient of :meth:`value` with respect to the predictions (``jax.grad``)."""
        return jax.grad(lambda zz: self.value(y, zz, weights))(z)

    def lipschitz(self, X, weights=None, fit_intercept=True):
        """Lipschitz constant of the gradient in ``(w, b)`` for design ``X``.

        ``curvature * lambda_max(A^T D A)`` with ``A = [X, 1]`` (or ``X`` alone without an
        intercept) and ``D = diag(weights) / sum(weights)``, found by power iteration.
        """
        from jaxreg.solvers._common import gram_lambda_max

        n = X.shape[0]
        w = jnp.ones(n, X.dtype) if weights is None else jnp.asarray(weights, X.dtype)
        return self.curvature * gram_lambda_max(X, w / jnp.sum(w), fit_intercept)

    def __repr__(self):
        return f"{type(self).__name__}()"


@pytree_dataclass
class Squared(Loss):
    """Squared error ``1/(2n) * ||y - z||^2`` (scikit-learn's Lasso scaling)."""

    name: ClassVar[str] = "squared"
    curvature: ClassVar[float] = 1.0

    def per_sample(self, y, z):
        return 0.5 * (y - z) ** 2

    def init_intercept(self, y, weights=None):
        return _weighted_mean(y, weights)


@pytree_dataclass
class Logistic(Loss):
    """Binary logistic loss ``mean log(1 + exp(-s z))`` with labels ``s`` in {-1, +1}.

    Computed as ``softplus(-s z)``, which never overflows (never ``log(sigmoid)``).
    """

    name: ClassVar[str] = "logistic"
    curvature: ClassVar[float] = 0.25
    is_classifier: ClassVar[bool] = True

    def per_sample(self, y, z):
        return jax.nn.softplus(-y * z)

    def init_intercept(self, y, weights=None):
        # The optimal intercept alone is the log-odds of the positive class.
        p = _weighted_mean((y > 0).astype(y.dtype), weights)
        p = jnp.clip(p, 1e-12, 1 - 1e-12)
        return jnp.log(p) - jnp.log1p(-p)


@pytree_dataclass
class Multinomial(Loss):
    """Softmax cross-entropy ``mean(logsumexp(z_i) - <y_i, z_i>)`` with one-hot ``y``.

    The Hessian of ``logsumexp`` is ``diag(p) - p p^T``, whose largest eigenvalue is at
    most 1/2: that is the curvature bound.
    """

    name: ClassVar[str] = "multinomial"
    curvature: ClassVar[float] = 0.5
    is_classifier: ClassVar[bool] = True

    def per_sample(self, y, z):
        return jax.nn.logsumexp(z, axis=-1) - jnp.sum(y * z, axis=-1)

    def init_intercept(self, y, weights=None):
        if weights is None:
            freq = jnp.mean(y, axis=0)
        else:
            freq = jnp.sum(weights[:, None] * y, axis=0) / jnp.sum(weights)
        logf = jnp.log(jnp.clip(freq, 1e-12, None))
        return logf - jnp.mean(logf)


LOSSES = {"squared": Squared, "logistic": Logistic, "multinomial": Multinomial}


def get_loss(loss) -> Loss:
    """A loss instance from an instance or a name ("squared", "logistic", "multinomial")."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValueError(f"loss={loss!r} is not a known loss; allowed: {sorted(LOSSES)} or a jaxreg.losses.Loss instance")
