"""Regularization paths: ``jaxreg.path`` fits a decreasing grid of ``alpha`` with warm starts.

The grid is scikit-learn's: ``n_alphas`` values spaced geometrically from ``alpha_max`` (the
smallest ``alpha`` with all coefficients zero) down to ``eps * alpha_max``. Each ``alpha``
starts from the previous solution, and the working-set solver carries its state over
(the product ``X^T r`` at the end of one ``alpha`` is the one the next ``alpha`` starts
from), so a path step that changes little costs about one pass over ``X``.

:func:`solve_path` is the engine, shared with the cross-validated estimators: it solves a
batch of problems on one design at once (the folds, with held-out rows given weight zero).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import _sparse
from jaxreg import _validation as V
from jaxreg._cache import ensure_compilation_cache
from jaxreg._fitparts import check_offset, design_scale, rescaling, scale_free_weights, scale_penalty
from jaxreg.fit import compute_context, resolve_device
from jaxreg.losses import Logistic, Loss, get_loss, with_offset
from jaxreg.penalties import L1, Penalty, get_penalty
from jaxreg.solvers import engine, get_solver, group_bcd, ridge_spectral
from jaxreg.solvers import working_set as ws

__all__ = ["path", "PathResult", "alpha_grid", "checked_grid", "solve_path", "rescaled_units", "unscaled"]


@dataclasses.dataclass(frozen=True)
class PathResult:
    """The outcome of :func:`path` (numpy arrays; scikit-learn's ``lasso_path`` layout).

    Attributes
    ----------
    alphas : ndarray of shape (n_alphas,)
        Decreasing.
    coefs : ndarray of shape (n_features, n_alphas)
    intercepts : ndarray of shape (n_alphas,)
    n_iter : ndarray of shape (n_alphas,)
        Outer (working-set) iterations per ``alpha``.
    converged : ndarray of shape (n_alphas,)
    stop_crit : ndarray of shape (n_alphas,)
        The stopping measure reached (``criterion``) at each ``alpha``.
    criterion : str
        "duality_gap" (relative to ``||y - ybar||^2``, scikit-learn's) or "subdiff_distance".
    """

    alphas: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    stop_crit: np.ndarray
    criterion: str
    loss: Loss
    penalty: Penalty
    classes: np.ndarray | None = None
    dtype: str = "float64"
    fit_time: float = 0.0
    compile_time: float = 0.0

    @property
    def nonzeros(self) -> np.ndarray:
        return np.count_nonzero(self.coefs, axis=0)


def alpha_grid(alpha_max: float, n_alphas: int = 100, eps: float = 1e-3) -> np.ndarray:
    """``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``, geometrically
    (scikit-learn's grid, including its floor for a zero ``alpha_max``)."""
    V.check_positive(n_alphas, "n_alphas", integer=True)
    V.check_positive(eps, "eps")
    floor = np.finfo(np.float64).resolution
    if alpha_max <= floor:
        return np.full(int(n_alphas), floor)
    return np.geomspace(alpha_max, alpha_max * eps, num=int(n_alphas))


def checked_grid(alphas) -> np.ndarray:
    """A given ``alpha`` grid as floats sorted decreasing; a ValueError unless it is
    non-empty and every value finite and >= 0."""
    grid = np.asarray(alphas, dtype=float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError(f"alphas={alphas!r} is not allowed; alphas must be finite numbers >= 0")
    return np.sort(grid)[::-1]


def rescaled_units(X, units, alpha_top, w0=None):
    """fit's rescaling of a badly scaled design, for a path: ``(s, units, factors)``.

    ``s`` is the power of two :func:`jaxreg._fitparts.rescaling` divides ``X`` by (judged
    with each unit penalty at ``alpha_top``, the grid's largest ``alpha``; the least change
    any of them asks for), and for each unit penalty (``alpha = 1``) of ``units`` the unit and
    factor of the coefficients ``v = s w`` on ``X / s``: ``unit.with_alpha(alpha * factor)``
    is :func:`jaxreg._fitparts.scale_penalty` of the penalty at ``alpha``. The grid stays in
    the user's units; fit ``X / s`` along ``alphas * factor`` and divide the coefficients by
    ``s`` (:func:`unscaled`). ``(1.0, units, ones)`` when the design needs no rescaling (or
    the penalty cannot follow it)."""
    same = (1.0, list(units), np.ones(len(units)))
    if design_scale(X) == 1.0 or not (np.isfinite(alpha_top) and alpha_top >= 0):
        return same
    dtype = X.dtype
    w0 = np.zeros(X.shape[1], dtype) if w0 is None else np.asarray(w0, dtype)
    powers = {rescaling(X, u.with_alpha(float(alpha_top)), w0, dtype) for u in units}
    s = min(powers, key=lambda v: abs(np.frexp(v)[1] - 1))
    scaled = [scale_penalty(u, s, dtype) for u in units]
    if s == 1.0 or any(u is None for u in scaled):
        return same
    return s, [u.with_alpha(1.0) for u in scaled], np.array([float(u.alpha) for u in scaled])


def unscaled(coefs, s):
    """Coefficients ``v`` fitted on ``X / s`` in the user's units: ``w = v / s``."""
    if s == 1.0:
        return coefs
    coefs = np.asarray(coefs)
    with np.errstate(under="ignore"):
        return (coefs / s).astype(coefs.dtype)


def solve_path(X, y, weights, loss, units, alphas, *, fit_intercept, tol, max_iter, w0=None, b0=None, compiler=None):
    """The path engine (inside the caller's dtype/device context). ``X`` (n, p) is a numpy
    array (put on the device transposed, see :class:`working_set.Design`) or a Design;
    the other arrays are device arrays.

    ``units`` is the penalty at ``alpha = 1`` as ``(l1 (p,), l2 scalar)`` (see
    :func:`working_set.l1_l2`). ``alphas`` has shape ``(n_alphas,)`` for one problem or
    ``(n_alphas, B)`` for a batch of ``B`` problems (``y``, ``weights`` and the units then
    carry a leading axis ``B``). Returns a dict of numpy arrays ``coefs (n_alphas, [B,] p)``,
    ``intercepts``, ``n_iter``, ``converged``, ``stop_crit``, ``kind`` (index into
    ``working_set.CRITERIA``) and the ``compile_time``.
    """
    compiler = compiler or ws.Compiler()
    alphas = np.asarray(alphas, dtype=X.dtype)
    batched = alphas.ndim == 2
    p, dtype = X.shape[1], X.dtype
    design = ws.Design.put(X, compiler)
    l1_unit, l2_unit = (jnp.asarray(u, dtype) for u in units)
    shape = (alphas.shape[1],) if batched else ()
    w = jnp.zeros(shape + (p,), dtype) if w0 is None else jnp.asarray(w0, dtype)
    if isinstance(loss, Logistic):
        from jaxreg.solvers.working_set_logistic import solve_logistic as solve

        if b0 is None:
            b0 = jnp.zeros(shape, dtype)
            if fit_intercept:
                init = jax.vmap(loss.init_intercept) if batched else loss.init_intercept
                b0 = init(y, weights)
        extra = (jnp.asarray(b0, dtype),)
    else:
        solve = ws.solve_squared
        extra = ()
    out = {k: [] for k in ("coefs", "intercepts", "n_iter", "converged", "stop_crit", "kind")}
    state = None
    with ws.single_threaded_blas():
        for a in alphas:
            a_ = jnp.asarray(a)
            l1 = a_[..., None] * l1_unit
            res, state = solve(
                design,
                y,
                weights,
                l1,
                a_ * l2_unit,
                w,
                *extra,
                fit_intercept=fit_intercept,
                tol=tol,
                max_iter=max_iter,
                compiler=compiler,
                batched=batched,
                state=state,
            )
            for key, value in zip(
                ("coefs", "intercepts", "n_iter", "converged", "stop_crit", "kind"),
                (res.w, res.b, res.n_iter, res.crit <= tol, res.crit, res.kind),
                strict=True,
            ):
                out[key].append(value)
    result = {k: np.asarray(v) for k, v in out.items()}
    result["compile_time"] = compiler.compile_time
    return result


SOLVERS = ("auto", "working_set", "fista")
DEFAULT_MAX_ITER = {"working_set": 100, "fista": 20_000}


def auto_path_solver(loss, device, warm_start):
    """``path``'s choice for ``solver="auto"`` on a resolved jax ``device``: all alphas at
    once (batched FISTA) for the squared loss from zero on a GPU, else the working set."""
    on_gpu = device.platform == "gpu"
    return "fista" if on_gpu and not loss.is_classifier and not warm_start else "working_set"


def solve_path_batched(X, y, weights, units, alphas, *, fit_intercept, tol, max_iter, compiler=None):
    """Every ``alpha`` at once (:mod:`jaxreg.solvers.batched_fista`; squared loss): the
    same inputs and output as :func:`solve_path` for one problem."""
    from jaxreg.solvers.batched_fista import fista_batch

    compiler = compiler or ws.Compiler()
    design = ws.Design.put(X, compiler)
    dtype = design.XT.dtype
    A = len(alphas)
    a = jnp.asarray(np.asarray(alphas, dtype))
    l1 = a[:, None] * jnp.asarray(units[0], dtype)[None, :]
    l2 = a * jnp.asarray(units[1], dtype)
    Y, Wt = (jnp.broadcast_to(v, (A, v.shape[-1])) for v in (y, weights))
    W, b, k, status, crit = compiler(
        fista_batch,
        design.XT,
        Y,
        Wt,
        l1,
        l2,
        jnp.asarray(tol, dtype),
        fit_intercept=fit_intercept,
        max_iter=max_iter,
    )
    use_gap = bool(np.all(np.asarray(units[0]) > 0))
    return {
        "coefs": np.asarray(W),
        "intercepts": np.asarray(b),
        "n_iter": np.full(A, int(k)),
        "converged": np.asarray(crit) <= tol,
        "stop_crit": np.asarray(crit),
        "kind": np.full(A, 0 if use_gap else 1),
        "compile_time": compiler.compile_time,
    }


def _problem(X, y, loss, penalty, sample_weight):
    """Validated numpy inputs (the checks ``fit`` does)."""
    from jaxreg._fitparts import check_penalty

    loss = get_loss(loss)
    penalty = L1(1.0) if penalty is None else get_penalty(penalty)
    if engine.handles(loss, penalty) and group_bcd.handles(loss, penalty):
        raise ValueError(_no_path_reason(loss, penalty))
    X, y = V.check_X_y(X, y, regression=not loss.is_classifier, accept_sparse=True)
    loss.check_target(y)
    classes = None
    if loss.is_classifier:
        classes, y = V.encode_labels(y, loss.name, X.dtype)
    sw = V.check_sample_weight(scale_free_weights(sample_weight), X.shape[0], X.dtype)
    check_penalty(penalty, X.shape[1])
    return X, y, sw, loss, penalty, classes


def _no_path_reason(loss, penalty) -> str:
    """Why ``path`` cannot take the pair, and what can: ``fit`` alpha by alpha."""
    why = (
        f"its solvers take a loss of one prediction per sample, and {loss.name!r} has one per class"
        if not loss.elementwise
        else f"its solvers take a separable penalty, and {penalty!r} is not one"
    )
    solver = "lbfgs" if penalty.smooth else "fista"
    return (
        f"path cannot handle loss={loss.name!r} with penalty {penalty!r}: {why}; fit each alpha with "
        f"jaxreg.fit(X, y, loss={loss.name!r}, penalty=penalty.with_alpha(alpha), solver={solver!r}), "
        "passing the previous fit's coef as coef_init"
    )


def path(
    X,
    y,
    loss="squared",
    penalty=None,
    alphas=None,
    n_alphas=100,
    eps=1e-3,
    fit_intercept=True,
    tol=1e-6,
    max_iter=None,
    *,
    sample_weight=None,
    coef_init=None,
    device=None,
    solver="auto",
    offset=None,
) -> PathResult:
    """Fit a path of ``alpha`` values: one after the other with warm starts (working-set
    solver), or all at once (``solver="fista"``).

    Parameters
    ----------
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    loss : "squared", "logistic" or a Loss of one prediction per sample
        (:func:`jaxreg.losses.custom_loss` included)
    penalty : separable penalty, optional
        ``L1`` (default), ``ElasticNet(l1_ratio=...)``, ``WeightedL1(weights=...)``,
        ``Lp(p=...)``, ``L2``; its ``alpha`` is ignored (the grid supplies it). The default
        grid needs an ``alpha_max`` (L1-type penalties); give ``alphas`` for the others.
        Squared and logistic losses with L1-type penalties on a dense X run on the
        specialised working-set kernels; every other pair on the generic engine
        (:mod:`jaxreg.solvers.engine`), one alpha after the other.
    alphas : array-like, optional
        The grid (sorted decreasing, as scikit-learn does). Default: :func:`alpha_grid`
        from ``alpha_max`` with ``n_alphas`` and ``eps``.
    n_alphas : int
    eps : float
        ``alpha_min / alpha_max`` of the default grid.
    fit_intercept : bool
    tol : float
        Stopping tolerance per ``alpha`` (relative duality gap for the squared loss with
        positive weights, largest subdifferential distance otherwise).
    max_iter : int, optional
        Outer (working-set) iterations per ``alpha`` (default 100), or FISTA iterations in
        all (default 20000).
    sample_weight : array-like of shape (n_samples,), optional
    coef_init : array-like of shape (n_features,), optional
        Warm start for the first ``alpha`` (working set only).
    device : "cpu", "gpu" or a jax device, optional
    offset : array-like of shape (n_samples,), optional
        Added to the linear predictor, as in :func:`jaxreg.fit` (and in ``alpha_max``).
    solver : "auto", "working_set" or "fista"
        "fista" (squared loss) solves every ``alpha`` together, each iteration two matrix
        products ``(n_alphas x p) x (p x n)``: made for a GPU and large dense problems
        (:mod:`jaxreg.solvers.batched_fista`); on a CPU the working set is faster. "auto"
        (default) is "fista" for the squared loss without ``coef_init`` on a GPU and the
        working set otherwise (on an H100, 50 alphas on 20000 x 50000 float32 took 4.2 s
        with "fista" and 103 s with the working set, whose coordinate updates are each a
        few tiny kernels there: experiments/REPORT.md). For the squared loss with ``L2`` (or
        no penalty) on a dense X on the CPU, "auto" solves every ``alpha`` exactly from one
        factorization (:func:`jaxreg.solvers.ridge_spectral.ridge_path`; ``n_iter`` 1,
        ``stop_crit`` the gradient's largest entry at the solution), each equal to
        ``jaxreg.fit(penalty=L2(alpha))``.

    Returns
    -------
    PathResult

    Examples
    --------
    >>> import numpy as np, jaxreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 8)); y = X @ np.array([2.0, 0, 0, -1.0, 0, 0, 0, 0])
    >>> res = jaxreg.path(X, y, n_alphas=5, tol=1e-8)
    >>> res.coefs.shape, bool(res.converged.all()), res.nonzeros.tolist()[0]
    ((8, 5), True, 0)
    """
    ensure_compilation_cache()
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept={fit_intercept!r} is not allowed; it must be True or False")
    V.check_positive(tol, "tol", strict=False, allow_none=False)
    if solver not in SOLVERS:
        raise ValueError(f"solver={solver!r} is not allowed; allowed: {list(SOLVERS)}")
    X, y, sw, loss, penalty, classes = _problem(X, y, loss, penalty, sample_weight)
    user_loss, y_user, offset = loss, y, check_offset(offset, X.shape[0], X.dtype)
    loss, y = with_offset(loss, y, offset)  # see fit: y - offset, or the loss at z + offset
    host_ridge = solver == "auto" and coef_init is None and _ridge_on_host(loss, penalty, X, device)
    if solver == "auto":
        solver = auto_path_solver(loss, resolve_device(device), coef_init is not None)
    max_iter = DEFAULT_MAX_ITER[solver] if max_iter is None else max_iter
    V.check_positive(max_iter, "max_iter", integer=True, allow_none=False)
    kernels = engine.fast_kernels(loss, penalty, X)
    if solver == "fista" and (not kernels or loss.is_classifier or coef_init is not None):
        raise ValueError(
            f"solver='fista' solves the squared loss from zero (loss={loss.name!r}, coef_init given: "
            f"{coef_init is not None}) with an elastic-net-form penalty (L1, L2, ElasticNet, WeightedL1) on a "
            f"dense X (penalty={penalty!r}, sparse X: {_sparse.is_sparse(X)}); use solver='working_set' (or "
            "'auto'), which takes this path"
        )
    if alphas is None:
        from jaxreg.fit import alpha_max

        try:  # the default grid starts at alpha_max, which only some penalties have
            penalty.alpha_max(np.ones(X.shape[1]))
        except ValueError as e:
            raise ValueError(f"path with penalty {penalty!r} needs alphas= (no default grid): {e}") from None

        amax = alpha_max(X, y_user, user_loss, penalty, fit_intercept=fit_intercept, sample_weight=sw, offset=offset)
        grid = alpha_grid(amax, n_alphas, eps)
    else:
        grid = checked_grid(alphas)
    p = X.shape[1]
    if coef_init is not None and np.shape(coef_init) != (p,):
        raise ValueError(f"coef_init has shape {np.shape(coef_init)}; it must have shape ({p},)")
    # a design near the ends of the float range: fit v = s w on X / s along the rescaled
    # grid, with fit's s (rescaled_units), and report w = v / s
    s, (unit,), (factor,) = rescaled_units(X, [penalty.with_alpha(1.0)], grid.max(initial=0.0), coef_init)
    X_fit, fit_grid = (X, grid) if s == 1.0 else (X * (1.0 / s), grid * factor)
    w0 = coef_init if coef_init is None or s == 1.0 else np.asarray(coef_init, X.dtype) * s
    if host_ridge:
        return _ridge_path(X_fit, y, sw, user_loss, penalty, grid, bool(fit_intercept), (s, unit, fit_grid))
    with compute_context(X.dtype, device):
        t0 = time.perf_counter()
        kw = dict(fit_intercept=bool(fit_intercept), tol=float(tol), max_iter=int(max_iter))
        if not kernels:  # sparse X, or a pair beyond the squared/logistic kernels: the engine
            solver_path = engine.solve_path if group_bcd.handles(loss, penalty) else _group_path(X).solve_path
            res = solver_path(X_fit, y[None], sw[None], loss, [unit], fit_grid[:, None], w0=w0, **kw)
            res = {k: (v[:, 0] if isinstance(v, np.ndarray) else v) for k, v in res.items()}
        elif solver == "fista":
            units = ws.l1_l2(unit, p, X.dtype)
            res = solve_path_batched(X_fit, jnp.asarray(y), jnp.asarray(sw), units, fit_grid, **kw)
        else:
            units = ws.l1_l2(unit, p, X.dtype)
            res = solve_path(X_fit, jnp.asarray(y), jnp.asarray(sw), loss, units, fit_grid, w0=w0, **kw)
        elapsed = time.perf_counter() - t0
    return PathResult(
        alphas=grid,
        coefs=unscaled(res["coefs"], s).T,
        intercepts=res["intercepts"],
        n_iter=res["n_iter"],
        converged=res["converged"],
        stop_crit=res["stop_crit"],
        criterion=ws.CRITERIA[int(res["kind"][-1])],
        loss=user_loss,
        penalty=penalty,
        classes=classes,
        dtype=str(X.dtype),
        fit_time=elapsed - res["compile_time"],
        compile_time=res["compile_time"],
    )


def _group_path(X):
    """The group penalties' path solver (block coordinate descent: a dense X only)."""
    if _sparse.is_sparse(X):
        raise ValueError(
            "path with a group penalty needs a dense X (its block coordinate descent reads dense blocks); "
            "pass X.toarray(), or fit each alpha with jaxreg.fit(..., solver='fista')"
        )
    return group_bcd


def _ridge_on_host(loss, penalty, X, device):
    """Whether the path is ridge (what closed_form solves) on a dense X on the CPU."""
    quadratic = get_solver("closed_form").unsupported_reason(loss, penalty) is None
    return quadratic and not _sparse.is_sparse(X) and resolve_device(device).platform == "cpu"


def _ridge_path(X, y, sw, loss, penalty, grid, fit_intercept, rescaled):
    """Every ``alpha`` of a ridge path from one factorization (numpy/LAPACK, nothing
    compiled); ``X`` already divided by ``s`` of ``rescaled = (s, unit, fit_grid)``
    (:func:`rescaled_units`)."""
    t0 = time.perf_counter()
    s, unit, fit_grid = rescaled
    l2s = fit_grid * float(unit.grad_lipschitz())
    coefs, intercepts, crit = ridge_spectral.ridge_path(X, y, sw, l2s, fit_intercept)
    A = len(grid)
    return PathResult(
        alphas=grid,
        coefs=unscaled(coefs, s).T.astype(X.dtype),
        intercepts=intercepts.astype(X.dtype),
        n_iter=np.ones(A, int),
        converged=np.isfinite(crit),
        stop_crit=crit.astype(X.dtype),
        criterion="subdiff_distance",
        loss=loss,
        penalty=penalty,
        dtype=str(X.dtype),
        fit_time=time.perf_counter() - t0,
    )
