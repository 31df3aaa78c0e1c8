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
expects ``y`` in {-1, +1}; ``Multinomial`` expects one-hot rows. A regression loss with a
restricted domain says so in ``check_target(y)`` (``Poisson``: ``y >= 0``; ``Gamma``:
``y > 0``), which ``fit`` calls once at the edge.

``Poisson``, ``Gamma`` and ``Tweedie(power)`` (log link) are scikit-learn's half deviances, so
``L2(alpha)`` with them is ``PoissonRegressor(alpha=alpha)`` and its kin; ``Huber(epsilon)``
is skglm's fixed-threshold Huber datafit.

An offset (``fit(offset=...)``, added to every prediction) is :func:`with_offset`: the target
``y - offset`` for a loss of the residual alone (``residual = True``: squared, Huber), else
:class:`Offset`, the loss scored at ``z + offset``.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxreg._tree import is_concrete, pytree_dataclass

__all__ = [
    "Loss",
    "Squared",
    "Logistic",
    "Multinomial",
    "Poisson",
    "Gamma",
    "Tweedie",
    "Huber",
    "CustomLoss",
    "custom_loss",
    "Offset",
    "with_offset",
    "newton_intercept",
    "get_loss",
    "mean_of",
    "LOSSES",
]


def _weighted_mean(values, weights):
    if weights is None:
        return jnp.mean(values)
    # The floor keeps an all-zero-weight batch at 0 instead of 0/0.
    total = jnp.maximum(jnp.sum(weights), jnp.finfo(values.dtype).tiny)
    return jnp.sum(weights * values) / total


def newton_intercept(loss, y, weights=None, start=None):
    """The intercept ``b`` minimising ``loss.value(y, b, weights)`` (every coefficient zero):
    50 steps of Newton's method on the one variable from ``start`` (default: the weighted
    mean of ``y``), halving a step that does not lower the loss."""
    w = jnp.ones_like(y) if weights is None else weights
    d = w / jnp.maximum(jnp.sum(w), jnp.finfo(y.dtype).tiny)

    def value(b):
        return jnp.vdot(d, loss.per_sample(y, jnp.full_like(y, b)))

    def step(_, b):
        g, h = loss.derivatives(y, jnp.full_like(y, b))
        gb, hb = jnp.vdot(d, g), jnp.vdot(d, h)
        delta = jnp.where(hb > 0, gb / jnp.where(hb > 0, hb, 1.0), gb)
        f0 = value(b)

        def halve(c):
            return c[0] * 0.5, c[1] + 1

        t, _ = lax.while_loop(lambda c: (value(b - c[0] * delta) > f0) & (c[1] < 30), halve, (1.0, 0))
        return jnp.where(jnp.isfinite(delta), b - t * delta, b)

    return lax.fori_loop(0, 50, step, jnp.vdot(d, y) if start is None else jnp.asarray(start, y.dtype))


class Loss:
    """Base class of losses. Subclasses are final frozen pytrees."""

    name: ClassVar[str]
    curvature: ClassVar[float]
    is_classifier: ClassVar[bool] = False
    # per_sample(y, z)[i] depends on (y[i], z[i]) alone, z being one prediction per sample
    # (coordinate descent and proximal Newton need it; Multinomial's z is a row per sample)
    elementwise: ClassVar[bool] = True
    # per_sample(y, z) depends on the residual y - z alone: an offset is then y - offset
    residual: ClassVar[bool] = False
    # how the mean of y follows from z (see :func:`mean_of`): "identity", "log", "logit", "softmax"
    link: ClassVar[str] = "identity"

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
        variable from the weighted mean of ``y`` (see :func:`newton_intercept`; subclasses
        give closed forms)."""
        return newton_intercept(self, y, weights)

    def check_target(self, y):
        """Raise a ValueError when the (numpy, validated) regression target ``y`` is outside
        the loss's domain; called once at the edge by ``fit``, ``path`` and ``alpha_max``.
        Every target is allowed by default."""

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
    residual: ClassVar[bool] = True

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
    link: ClassVar[str] = "logit"
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
    link: ClassVar[str] = "softmax"
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


def _check_target(y, loss: str, strict: bool, why: str):
    """``y >= 0`` (``y > 0`` when ``strict``), else an error naming the first bad value."""
    y = np.asarray(y)
    bad = np.flatnonzero(y <= 0 if strict else y < 0)
    if bad.size:
        i = int(bad[0])
        bound = "> 0" if strict else ">= 0"
        raise ValueError(
            f"y[{i}]={float(y[i])!r} is not allowed ({bad.size} value(s) of y are not {bound}); "
            f"loss={loss!r} needs every y {bound} ({why})"
        )


def _log_mean(y, weights):
    # log of the weighted mean of y, floored so that an all-zero y gives a finite intercept
    return jnp.log(jnp.maximum(_weighted_mean(y, weights), jnp.finfo(y.dtype).tiny))


# The GLM losses below are scikit-learn's half deviances (PoissonRegressor, GammaRegressor,
# TweedieRegressor), log link, z the linear predictor and mu = exp(z):
#   Poisson  y log(y / mu) - y + mu
#   Gamma    log(mu / y) + y / mu - 1
#   Tweedie  y^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p)   (1 < p < 2)
# Each is >= 0 and 0 at mu = y, so ``value`` is the mean half deviance and scikit-learn's
# objective ``mean half deviance + alpha/2 ||w||^2`` is ours with ``L2(alpha)``. Their second
# derivative in z is unbounded (it grows with mu): ``curvature`` is only FISTA's first step
# guess (it backtracks from it).


@pytree_dataclass
class Poisson(Loss):
    """Poisson half deviance, log link: ``mean(y log(y / exp(z)) - y + exp(z))``, ``y >= 0``
    (scikit-learn's ``PoissonRegressor`` scaling; ``y log y = 0`` at ``y = 0``).

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> from jaxreg.losses import Poisson
    >>> from jaxreg.penalties import L2
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([1.0, 2.0, 4.0, 8.0])
    >>> res = jaxreg.fit(X, y, loss=Poisson(), penalty=L2(0.0), tol=1e-10)
    >>> round(float(res.coef[0]), 4)  # y = exp(log 2 * x) exactly
    0.6931
    """

    name: ClassVar[str] = "poisson"
    link: ClassVar[str] = "log"
    curvature: ClassVar[float] = 1.0

    def per_sample(self, y, z):
        return jax.scipy.special.xlogy(y, y) - y * z - y + jnp.exp(z)

    def derivatives(self, y, z):
        mu = jnp.exp(z)
        return mu - y, mu

    def init_intercept(self, y, weights=None):
        return _log_mean(y, weights)

    def check_target(self, y):
        _check_target(y, self.name, False, "Poisson counts or rates")


@pytree_dataclass
class Gamma(Loss):
    """Gamma half deviance, log link: ``mean(z - log y + y exp(-z) - 1)``, ``y > 0``
    (scikit-learn's ``GammaRegressor`` scaling)."""

    name: ClassVar[str] = "gamma"
    link: ClassVar[str] = "log"
    curvature: ClassVar[float] = 1.0

    def per_sample(self, y, z):
        return z - jnp.log(y) + y * jnp.exp(-z) - 1.0

    def derivatives(self, y, z):
        t = y * jnp.exp(-z)
        return 1.0 - t, t

    def init_intercept(self, y, weights=None):
        return _log_mean(y, weights)

    def check_target(self, y):
        _check_target(y, self.name, True, "Gamma: positive amounts")


@pytree_dataclass(static=("power",))
class Tweedie(Loss):
    """Tweedie half deviance with ``power`` p in [1, 2], log link (scikit-learn's
    ``TweedieRegressor(link="log")`` scaling): p = 1 is :class:`Poisson`, p = 2 is
    :class:`Gamma`, between them a compound Poisson-Gamma (claims: many zeros, positive
    amounts). ``y >= 0`` for p < 2, ``y > 0`` for p = 2 (scikit-learn's rule). ``power`` is
    structural: a new power recompiles, as ``p`` of :class:`jaxreg.penalties.Lp`."""

    power: float = 1.5
    name: ClassVar[str] = "tweedie"
    link: ClassVar[str] = "log"
    curvature: ClassVar[float] = 1.0

    def __post_init__(self):
        p = self.power
        if not isinstance(p, (int, float, np.integer, np.floating)) or isinstance(p, bool) or not 1 <= p <= 2:
            raise ValueError(f"power={p!r} is not allowed; power must be a number in [1, 2] (1 Poisson, 2 Gamma)")
        object.__setattr__(self, "power", float(p))

    def per_sample(self, y, z):
        p = self.power
        if p == 1.0:
            return Poisson().per_sample(y, z)
        if p == 2.0:
            return Gamma().per_sample(y, z)
        return (
            jnp.power(y, 2.0 - p) / ((1.0 - p) * (2.0 - p))
            - y * jnp.exp((1.0 - p) * z) / (1.0 - p)
            + jnp.exp((2.0 - p) * z) / (2.0 - p)
        )

    def derivatives(self, y, z):
        # d/dz: mu^(2-p) - y mu^(1-p); d2/dz2: (2-p) mu^(2-p) + (p-1) y mu^(1-p) (>= 0)
        p = self.power
        a, c = jnp.exp((2.0 - p) * z), y * jnp.exp((1.0 - p) * z)
        return a - c, (2.0 - p) * a + (p - 1.0) * c

    def init_intercept(self, y, weights=None):
        # mean of d/dz is exp((1-p) b) (exp(b) - mean y): zero at b = log(mean y)
        return _log_mean(y, weights)

    def check_target(self, y):
        p = self.power
        why = "Gamma amounts" if p == 2.0 else "counts" if p == 1.0 else "compound Poisson-Gamma: zeros or amounts"
        _check_target(y, f"tweedie (power={p:g})", p == 2.0, why)

    def __repr__(self):
        return f"Tweedie(power={self.power:g})"


@pytree_dataclass
class Huber(Loss):
    """Huber loss of the residual ``r = y - z`` at a FIXED threshold ``epsilon``:
    ``r^2 / 2`` where ``|r| <= epsilon``, ``epsilon |r| - epsilon^2 / 2`` beyond (skglm's
    ``Huber`` datafit; a mean over samples).

    Not scikit-learn's ``HuberRegressor``, which scales the residuals by a scale ``sigma`` it
    fits jointly (its ``epsilon`` is in units of sigma). At scikit-learn's fitted
    ``scale_`` = sigma its coefficients minimise ``Huber(epsilon * sigma)`` with
    ``L2(alpha * sigma / n)``. ``epsilon`` is traced: a new value does not recompile.
    """

    epsilon: float = 1.35
    name: ClassVar[str] = "huber"
    curvature: ClassVar[float] = 1.0
    residual: ClassVar[bool] = True

    def __post_init__(self):
        e = self.epsilon
        if is_concrete(e) and not (np.isfinite(e) and e > 0):
            raise ValueError(f"epsilon={e!r} is not allowed; epsilon must be a finite number > 0")

    def per_sample(self, y, z):
        a = jnp.abs(y - z)
        e = self.epsilon
        return jnp.where(a <= e, 0.5 * a * a, e * a - 0.5 * e * e)

    def derivatives(self, y, z):
        e = self.epsilon
        return jnp.clip(z - y, -e, e), (jnp.abs(y - z) <= e).astype(z.dtype)

    def __repr__(self):
        return f"Huber(epsilon={self.epsilon!r})"


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


@pytree_dataclass
class Offset(Loss):
    """``loss`` scored at the predictions shifted by a fixed per-sample ``offset``:
    ``per_sample(y, z) = loss.per_sample(y, z + offset)``, so a fit minimises
    ``loss(X @ w + b + offset, y) + penalty(w)`` (glum's ``offset``; with the log link,
    ``offset = log(exposure)`` models a rate per unit of exposure). ``offset`` is a leaf: a
    new offset of the same length reuses every compiled program. Made by
    :func:`with_offset`, which ``fit`` and ``path`` call; rows padded to a shape bucket get
    offset 0 (and weight 0)."""

    loss: Loss = None
    offset: object = None

    @property
    def name(self):
        return self.loss.name

    @property
    def curvature(self):
        return self.loss.curvature

    @property
    def is_classifier(self):
        return self.loss.is_classifier

    @property
    def elementwise(self):
        return self.loss.elementwise

    @property
    def link(self):
        return self.loss.link

    def per_sample(self, y, z):
        return self.loss.per_sample(y, z + self.offset)

    def derivatives(self, y, z):
        return self.loss.derivatives(y, z + self.offset)

    def init_intercept(self, y, weights=None):
        # the inner loss's intercept less the mean offset is exact for a linear link in the
        # offset's spread (none) and a close start otherwise; Newton finishes it
        start = self.loss.init_intercept(y, weights) - _weighted_mean(self.offset, weights)
        return newton_intercept(self, y, weights, start)

    def check_target(self, y):
        self.loss.check_target(y)

    def __repr__(self):
        return f"Offset({self.loss!r})"


def with_offset(loss: Loss, y, offset):
    """``(loss, y)`` with ``offset`` (an array of one number per row of ``y``, or None) put
    into the predictions: ``y - offset`` with the loss itself for a loss of the residual
    alone (``Squared``, ``Huber``: exact, and every solver of that loss still takes it),
    else ``Offset(loss, offset)`` with ``y`` as it is."""
    if offset is None:
        return loss, y
    if not loss.elementwise:
        raise ValueError(
            f"offset= is not supported with loss={loss.name!r}: an offset is one number per sample, "
            "and this loss has one prediction per class"
        )
    if loss.residual:
        return loss, y - (offset if np.ndim(y) == 1 else offset[:, None])
    if np.ndim(y) != 1:
        raise ValueError(
            f"offset= with a 2-D y (several outputs) needs a loss of the residual y - z (squared, huber), "
            f"not loss={loss.name!r}"
        )
    return Offset(loss, offset), y


LOSSES = {
    "squared": Squared,
    "logistic": Logistic,
    "multinomial": Multinomial,
    "poisson": Poisson,
    "gamma": Gamma,
    "tweedie": Tweedie,
    "huber": Huber,
}


def mean_of(loss: Loss, z):
    """The predicted mean of ``y`` at the linear predictor ``z`` (numpy): ``z`` (identity
    link: squared, Huber, a user's loss), ``exp(z)`` (Poisson, Gamma, Tweedie), the
    probability of the positive class (logistic) or of each class (multinomial, ``z`` of
    shape (n, K))."""
    z = np.asarray(z, dtype=np.result_type(np.asarray(z).dtype, np.float32))
    if loss.link == "log":
        return np.exp(z)
    if loss.link == "logit":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # 1 / (1 + exp(-z)), without overflow
    if loss.link == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return z


def get_loss(loss) -> Loss:
    """A loss instance from an instance or a name (a key of ``LOSSES``, default parameters)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValueError(f"loss={loss!r} is not a known loss; allowed: {sorted(LOSSES)} or a jaxreg.losses.Loss instance")
