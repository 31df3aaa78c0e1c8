"""Losses (datafits) scored on predictions ``z = X @ w + b``.

Each loss is a small frozen pytree with pure methods:

* ``per_sample(y, z)`` - the loss of each sample;
* ``value(y, z, weights=None)`` - the weighted mean ``sum(weights * l) / sum(weights)``
  (the plain mean when ``weights`` is None, which is the scikit-learn scaling);
* ``curvature`` - a bound on the second derivative of ``per_sample`` in ``z``, so that
  ``curvature * lambda_max(X^T D X)`` is the Lipschitz constant of the gradient;
* ``init_intercept(y, weights)`` - the optimal intercept when all coefficients are zero;
* ``derivatives(y, z)`` - the first and second derivative of ``per_sample`` in ``z``, per
  sample (what coordinate descent and proximal Newton need). By default from JAX
  (``jax.grad`` and a Hessian-vector product), so a loss written as ``per_sample`` alone
  gets them for free; ``Squared`` and ``Logistic`` give closed forms.

A user's own loss is one pure function of ``(y, z)``: :func:`custom_loss` makes it a
``Loss`` that every solver accepting the pair runs on, the working set included.

Labels are encoded once, outside ``jit``, by :mod:`jaxreg._validation`: ``Logistic``
expects ``y`` in {-1, +1}; ``Multinomial`` expects one-hot rows.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._tree import pytree_dataclass

__all__ = ["Loss", "Squared", "Logistic", "Multinomial", "CustomLoss", "custom_loss", "get_loss", "LOSSES"]


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
    # per_sample(y, z)[i] depends on (y[i], z[i]) alone, z being one prediction per sample
    # (coordinate descent and proximal Newton need it; Multinomial's z is a row per sample)
    elementwise: ClassVar[bool] = True

    def per_sample(self, y, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def derivatives(self, y, z):
        """``(g, h)``: the first and second derivative of ``per_sample`` in ``z``, per sample.

        From JAX: ``g = grad(sum(per_sample))`` and ``h`` its Hessian-vector product with a
        vector of ones, which is the Hessian's diagonal because an elementwise loss has a
        diagonal Hessian. One forward and one backward pass, no per-sample ``vmap``.
        """
        g, h = jax.jvp(jax.grad(lambda zz: jnp.sum(self.per_sample(y, zz))), (z,), (jnp.ones_like(z),))
        return g, h

    def init_intercept(self, y, weights=None):
        """The optimal intercept when every coefficient is zero: Newton's method on the one
        variable from the weighted mean of ``y``, halving a step that does not lower the loss
        (subclasses give closed forms)."""
        w = jnp.ones_like(y) if weights is None else weights
        d = w / jnp.maximum(jnp.sum(w), jnp.finfo(y.dtype).tiny)

        def value(b):
            return jnp.vdot(d, self.per_sample(y, jnp.full_like(y, b)))

        def step(_, b):
            g, h = self.derivatives(y, jnp.full_like(y, b))
            gb, hb = jnp.vdot(d, g), jnp.vdot(d, h)
            delta = jnp.where(hb > 0, gb / jnp.where(hb > 0, hb, 1.0), gb)
            f0 = value(b)

            def halve(c):
                return c[0] * 0.5, c[1] + 1

            t, _ = lax.while_loop(lambda c: (value(b - c[0] * delta) > f0) & (c[1] < 30), halve, (1.0, 0))
            return jnp.where(jnp.isfinite(delta), b - t * delta, b)

        return lax.fori_loop(0, 50, step, jnp.vdot(d, y))

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

    def derivatives(self, y, z):
        return z - y, jnp.ones_like(z)

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

    def derivatives(self, y, z):
        s = jax.nn.sigmoid(-y * z)  # the probability of the other label
        return -y * s, s * (1.0 - s)

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
    elementwise: ClassVar[bool] = False

    def per_sample(self, y, z):
        return jax.nn.logsumexp(z, axis=-1) - jnp.sum(y * z, axis=-1)

    def init_intercept(self, y, weights=None):
        if weights is None:
            freq = jnp.mean(y, axis=0)
        else:
            freq = jnp.sum(weights[:, None] * y, axis=0) / jnp.sum(weights)
        logf = jnp.log(jnp.clip(freq, 1e-12, None))
        return logf - jnp.mean(logf)


@pytree_dataclass(static=("fn", "label", "curvature_bound"))
class CustomLoss(Loss):
    """A regression loss given by one pure function ``fn(y, z)`` of the target and the
    prediction, elementwise (made by :func:`custom_loss`). Its derivatives come from JAX."""

    fn: object = None
    label: str = "custom"
    curvature_bound: float | None = None
    name: ClassVar[str] = "custom"

    def per_sample(self, y, z):
        return self.fn(y, z)

    @property
    def curvature(self):
        # a step-size guess for gradient methods when none is given (fista backtracks from it)
        return 1.0 if self.curvature_bound is None else self.curvature_bound

    def __repr__(self):
        return f"custom_loss({getattr(self.fn, '__name__', self.fn)!s})"


def custom_loss(fn, *, name: str | None = None, curvature: float | None = None) -> CustomLoss:
    """A :class:`Loss` from one pure, elementwise function ``fn(y, z)`` (jax.numpy), for
    example pseudo-Huber ``lambda y, z: jnp.sqrt(1 + (y - z) ** 2) - 1``.

    ``fn`` must be convex and twice differentiable in ``z`` for the working set's proximal
    Newton steps; ``curvature`` (an upper bound on its second derivative, if known) gives
    gradient methods their step size, which they otherwise find by backtracking.
    """
    if not callable(fn):
        raise ValueError(f"fn={fn!r} is not allowed; a custom loss is a function fn(y, z) of jax arrays")
    if curvature is not None and not (np.isfinite(curvature) and curvature > 0):
        raise ValueError(f"curvature={curvature!r} is not allowed; it must be a finite number > 0 or None")
    return CustomLoss(fn, name or getattr(fn, "__name__", "custom"), None if curvature is None else float(curvature))


LOSSES = {"squared": Squared, "logistic": Logistic, "multinomial": Multinomial}


def get_loss(loss) -> Loss:
    """A loss instance from an instance or a name ("squared", "logistic", "multinomial")."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValueError(f"loss={loss!r} is not a known loss; allowed: {sorted(LOSSES)} or a jaxreg.losses.Loss instance")
