"""Solvers: one algorithm family per module, all pure jit-compiled ``lax`` loops with the
uniform signature ``solver(data, loss, penalty, w0, b0, hyper, **static) -> SolverOutput``.

This module is the registry: each :class:`SolverSpec` says which options a solver takes,
which settings are static (structure: a new value recompiles) and what loss/penalty pairs
it can handle. Adding a solver is a new module and one entry in ``SOLVERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jaxreg import _buckets
from jaxreg.losses import Loss, Squared
from jaxreg.penalties import ElasticNet, Penalty
from jaxreg.solvers import closed_form as _cf
from jaxreg.solvers import closed_form_host as _cfh
from jaxreg.solvers import engine as _engine
from jaxreg.solvers import gram as _gram
from jaxreg.solvers import group_bcd as _group
from jaxreg.solvers import newton as _newton
from jaxreg.solvers import proximal as _prox
from jaxreg.solvers import quasi_newton as _qn
from jaxreg.solvers import stochastic as _sto
from jaxreg.solvers import working_set as _ws
from jaxreg.solvers._common import STATUS_NAMES, Data, Hyper, SolverOutput

__all__ = ["SOLVERS", "SolverSpec", "get_solver", "auto_solver", "Data", "Hyper", "SolverOutput", "STATUS_NAMES"]


def _any_pair(loss: Loss, penalty: Penalty):
    return None


def _needs_quadratic(loss: Loss, penalty: Penalty):
    if not isinstance(loss, Squared) or penalty.grad_lipschitz() is None:
        return (
            "closed_form solves squared loss with an L2 penalty or none (the normal equations); "
            "use fista/ista (any penalty with a prox), lbfgs (smooth penalties) or gd/minibatch/sgd"
        )
    return None


def _needs_smooth(loss: Loss, penalty: Penalty):
    if not penalty.smooth:
        return (
            f"lbfgs needs a differentiable penalty (none, L2, Lp with p > 1), not {penalty!r}; "
            "use fista or ista (exact prox), or gd/minibatch/sgd (proximal steps)"
        )
    return None


@dataclass(frozen=True)
class SolverSpec:
    """A registered solver: the jitted function and what it accepts."""

    name: str
    run: Callable
    criteria: tuple[str, ...]
    check: Callable[[Loss, Penalty], str | None]
    # option name -> default; these become static keyword arguments of ``run``
    static_options: dict = field(default_factory=dict)
    # options that are traced (go into Hyper) and apply to this solver
    traced_options: tuple[str, ...] = ()
    default_max_iter: int = 1000
    default_tol: float = 1e-6
    iterative: bool = True
    # whether the solver uses the Lipschitz constant itself (not only for a default step)
    needs_lipschitz: bool = False
    # A host-driven solver (an outer Python loop over jitted pieces) is called directly and
    # returns ``(SolverOutput, compile_time)``; it needs no Lipschitz constant from fit.
    host_driven: bool = False
    # The solver's first pass over a dense X detects NaN/inf (and raises fit's error for
    # it), so fit leaves out its own pass over X (one read of X: ~10% of a small lasso fit).
    checks_finite: bool = False
    # ``pad_design(X, n_rows)``: ``X`` with zero rows appended (shape buckets), in the
    # layout the solver reads
    pad_design: Callable = _buckets.pad_rows
    # whether fit pads the rows to a bucket (a solver whose compiled shapes do not depend
    # on the row count does not need it)
    row_buckets: bool = True
    # whether the solver starts from fit's intercept (the optimal one at w = 0: a small
    # compiled program of its own) when it is given none
    needs_intercept_init: bool = True
    # a numpy implementation (the host-driven signature) that fit runs instead of ``run``
    # when X is a dense numpy array fitted on one CPU device: nothing to compile
    host_run: Callable | None = None
    # a host-driven solver that takes a scipy.sparse X as it is (rows padded to the bucket)
    accepts_sparse: bool = False

    def unsupported_reason(self, loss, penalty):
        return self.check(loss, penalty)


_STOCHASTIC_TRACED = ("learning_rate", "decay", "seed")
_STOCHASTIC_STATIC = {"optimizer": None, "schedule": "constant", "n_iter_no_change": 5, "variance_reduction": "none"}

SOLVERS: dict[str, SolverSpec] = {
    "closed_form": SolverSpec(
        "closed_form",
        _cf.closed_form,
        _cf.CRITERIA,
        _needs_quadratic,
        default_max_iter=1,
        iterative=False,
        host_run=_cfh.closed_form,
    ),
    "ista": SolverSpec(
        "ista",
        _prox.proximal_gradient,
        _prox.CRITERIA,
        _any_pair,
        {"accelerated": False, "step": "backtracking", "check_every": 1},
        default_max_iter=10000,
        needs_lipschitz=True,
    ),
    "fista": SolverSpec(
        "fista",
        _prox.proximal_gradient,
        _prox.CRITERIA,
        _any_pair,
        {"accelerated": True, "step": "backtracking", "check_every": 10},
        default_max_iter=10000,
        needs_lipschitz=True,
    ),
    "gd": SolverSpec(
        "gd",
        _sto.stochastic_gradient,
        _sto.CRITERIA,
        _any_pair,
        {"batch_size": None, "shuffle": False, **_STOCHASTIC_STATIC},
        ("learning_rate", "decay"),
        default_max_iter=10000,
    ),
    "minibatch": SolverSpec(
        "minibatch",
        _sto.stochastic_gradient,
        _sto.CRITERIA,
        _any_pair,
        {"batch_size": 32, "shuffle": True, **_STOCHASTIC_STATIC},
        _STOCHASTIC_TRACED,
        default_max_iter=200,
        default_tol=1e-4,
    ),
    "sgd": SolverSpec(
        "sgd",
        _sto.stochastic_gradient,
        _sto.CRITERIA,
        _any_pair,
        {"batch_size": 1, "shuffle": True, **{**_STOCHASTIC_STATIC, "schedule": "inverse_time"}},
        _STOCHASTIC_TRACED,
        default_max_iter=200,
        default_tol=1e-4,
    ),
    "lbfgs": SolverSpec("lbfgs", _qn.lbfgs, _qn.CRITERIA, _needs_smooth, {"memory_size": 10}, default_max_iter=1000),
    "newton": SolverSpec(
        "newton",
        _newton.newton,
        _newton.CRITERIA,
        _newton.handles,
        default_max_iter=100,
        needs_intercept_init=False,  # its first step fits the intercept too
    ),
    "working_set": SolverSpec(
        "working_set",
        _engine.working_set,
        _ws.CRITERIA,
        _engine.handles,
        default_max_iter=100,
        default_tol=1e-6,
        host_driven=True,
        checks_finite=True,
        pad_design=_ws.pad_design,
        accepts_sparse=True,
    ),
    "gram_cd": SolverSpec(
        "gram_cd",
        _gram.gram,
        _gram.CRITERIA,
        _gram.handles,
        default_max_iter=1000,
        default_tol=1e-6,
        host_driven=True,
        row_buckets=False,
        needs_intercept_init=False,
    ),
    "group_bcd": SolverSpec(
        "group_bcd",
        _group.group_bcd,
        _group.CRITERIA,
        _group.handles,
        default_max_iter=100,
        default_tol=1e-6,
        host_driven=True,
    ),
}


def get_solver(name: str) -> SolverSpec:
    if name not in SOLVERS:
        raise ValueError(f"solver={name!r} is not a known solver; allowed: {['auto', *SOLVERS]}")
    return SOLVERS[name]


def auto_solver(loss: Loss, penalty: Penalty, n_features=None, n_samples=None, n_outputs=1) -> str:
    """closed_form for squared + L2/none; for L1-type penalties (with squared or logistic
    loss) gram_cd (squared loss on at most ``gram.MAX_FEATURES`` features: its program does
    not depend on the row count) or working_set; newton for other twice-differentiable
    problems whose dense Hessian is small (given the design's shape; see
    :func:`jaxreg.solvers.newton.small_enough`), lbfgs for other smooth problems with a
    non-squared loss; group_bcd for the group penalties; the working set for every other
    pair it takes (any elementwise loss with a separable penalty: Lp, a user's loss with
    L1, ...), fista otherwise."""
    if _needs_quadratic(loss, penalty) is None:
        return "closed_form"
    if _ws.handles(loss, penalty) is None and not (isinstance(penalty, ElasticNet) and penalty.l1_ratio == 0):
        few = n_features is not None and n_features <= _gram.MAX_FEATURES
        return "gram_cd" if few and _gram.handles(loss, penalty) is None else "working_set"
    if not isinstance(loss, Squared) and _newton.handles(loss, penalty) is None:
        if _newton.small_enough(n_features, n_samples, n_outputs):
            return "newton"
    if penalty.smooth and not isinstance(loss, Squared):
        return "lbfgs"
    if _group.handles(loss, penalty) is None:
        return "group_bcd"
    if _engine.handles(loss, penalty) is None:
        return "working_set"
    return "fista"
