"""Peers minimise *our* objective: their solutions, with parameters translated by
jaxreg.experiment.baselines, satisfy our optimality conditions (KKT, computed here in
numpy), and objective64 agrees with jaxreg's own loss and penalty code."""

import numpy as np
import pytest

from jaxreg.experiment import baselines as B
from jaxreg.experiment.measure import objective64
from jaxreg.experiment.specs import PenaltySpec

from conftest import make_regression


def _grad_datafit(loss, X, y_enc, w, b):
    """Gradient of the mean datafit in (w, b) (formulas, not autodiff)."""
    n = X.shape[0]
    z = X @ w + b
    if loss == "squared":
        r = z - y_enc
    elif loss == "logistic":
        r = -y_enc / (1.0 + np.exp(y_enc * z))  # d/dz log(1 + exp(-s z))
    else:
        P = np.exp(z - z.max(axis=1, keepdims=True))
        r = P / P.sum(axis=1, keepdims=True) - y_enc
    return X.T @ r / n, r.sum(axis=0) / n


def _kkt(loss, spec, alpha, X, y_enc, w, b, fit_intercept):
    """Max distance of -grad to the subdifferential of the penalty (intercept: |grad|)."""
    gw, gb = _grad_datafit(loss, X, y_enc, w, b)
    k = spec.kind
    l1 = {"l1": alpha, "elastic_net": alpha * (spec.l1_ratio or 0.5)}.get(k, 0.0)
    l2 = {"l2": alpha, "elastic_net": alpha * (1 - (spec.l1_ratio or 0.5))}.get(k, 0.0)
    g = gw + l2 * w
    if k == "mcp":  # alpha |w| - w^2 / (2 gamma) up to gamma alpha, constant beyond
        gamma = spec.gamma or 3.0
        l1 = alpha
        g = g - np.where(np.abs(w) <= gamma * alpha, w / gamma, np.sign(w) * alpha)
    dist = np.where(w != 0, np.abs(g + l1 * np.sign(w)), np.maximum(np.abs(g) - l1, 0.0))
    out = float(np.max(dist))
    return max(out, float(np.max(np.abs(gb)))) if fit_intercept else out


@pytest.fixture(scope="module")
def problems():
    X, y, _ = make_regression(60, 12, rho=0.4, seed=5)
    rng = np.random.default_rng(6)
    yb = (X[:, 0] - X[:, 3] + 0.5 * rng.standard_normal(60) > 0).astype(int)
    y3 = np.digitize(X[:, 1] + 0.5 * rng.standard_normal(60), [-0.5, 0.5])
    return {
        "squared": (X, y, y),
        "logistic": (X, yb, np.where(yb == 1, 1.0, -1.0)),
        "multinomial": (X, y3, np.eye(3)[y3]),
    }


CASES = [
    ("sklearn", "squared", {"kind": "l1", "alpha": 0.05}, True),
    ("sklearn", "squared", {"kind": "elastic_net", "alpha": 0.05, "l1_ratio": 0.3}, True),
    ("sklearn", "squared", {"kind": "l2", "alpha": 0.7}, True),  # Ridge(alpha * n)
    ("sklearn", "squared", {"kind": "none"}, True),
    ("sklearn", "logistic", {"kind": "l2", "alpha": 0.05}, True),  # C = 1 / (alpha n)
    ("sklearn", "logistic", {"kind": "l1", "alpha": 0.02}, True),
    ("sklearn", "multinomial", {"kind": "l2", "alpha": 0.05}, True),
    # skglm compiles with numba on first use (20-60 s a model here), so one case only; its
    # ElasticNet and SparseLogisticRegression take alpha (and l1_ratio) in our scaling too,
    # as their docstrings' objectives say (both passed this test when it had them)
    ("skglm", "squared", {"kind": "l1", "alpha": 0.05}, True),
    # MCPRegression: a stationary point; at this alpha one coefficient sits where gamma matters
    ("skglm", "squared", {"kind": "mcp", "alpha": 0.2, "gamma": 4.0}, True),
    ("celer", "squared", {"kind": "l1", "alpha": 0.05}, True),
    ("celer", "squared", {"kind": "elastic_net", "alpha": 0.05, "l1_ratio": 0.3}, True),
    ("celer", "logistic", {"kind": "l1", "alpha": 0.02}, False),  # C = 1 / (alpha n), no intercept
]


@pytest.mark.parametrize("peer, loss, pen, fit_intercept", CASES, ids=lambda c: str(c))
def test_peer_solution_is_optimal_for_our_objective(problems, peer, loss, pen, fit_intercept):
    if not B.installed(peer):
        pytest.skip(f"{peer} is not installed")
    X, y, y_enc = problems[loss]
    spec = PenaltySpec(**pen)
    name, why = B.resolve(peer, loss, spec.kind, fit_intercept, n_classes=len(np.unique(y)) if loss != "squared" else 0)
    assert why is None, why
    tol = 1e-12 if name != "LogisticRegression" or peer == "celer" else 1e-10
    run = B.BaselineRun(peer=peer, tol=tol, max_iter=20000 if name == "LogisticRegression" else None)
    fit = B.run_peer(run, name, spec, spec.alpha or 0.0, X, y, fit_intercept)
    assert fit.coef.shape == ((12,) if loss != "multinomial" else (12, 3))
    assert _kkt(loss, spec, spec.alpha or 0.0, X, y_enc, fit.coef, fit.intercept, fit_intercept) < 1e-6
    if peer != "celer":
        assert fit.converged


def test_sgd_peer_traces_epochs_toward_the_least_squares_optimum(problems):
    X, y, _ = problems["squared"]
    spec = PenaltySpec(kind="none")
    A = np.column_stack([X, np.ones(len(y))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    F_star = objective64("squared", spec, 0.0, X, y, sol[:-1], sol[-1])

    def score(w, b):
        return objective64("squared", spec, 0.0, X, y, w, b)

    run = B.BaselineRun(peer="sklearn_sgd", max_iter=300, options={"random_state": 0, "eta0": 0.01})
    fit = B.run_peer(run, "SGDRegressor", spec, 0.0, X, y, True, objective=score)
    times, values = fit.trace
    assert len(times) == fit.n_iter and np.all(np.diff(times) > 0)
    assert values[-1] == pytest.approx(score(fit.coef, fit.intercept))
    assert (values[-1] - F_star) / F_star < 0.02


def test_peer_not_installed_or_without_estimator_gives_a_reason(monkeypatch):
    monkeypatch.setitem(B.PEERS, "celer", B.Peer("celer", "jaxreg_no_such_module", "celer", "pip install celer"))
    name, why = B.resolve("celer", "squared", "l1", True)
    assert name is None and "celer is not installed" in why
    name, why = B.resolve("sklearn", "squared", "linf", True)
    assert name is None and "no estimator" in why
    assert B.resolve("celer", "logistic", "l1", True)[0] is None


@pytest.mark.parametrize(
    "pen",
    [
        {"kind": "none"},
        {"kind": "l1", "alpha": 0.3},
        {"kind": "l2", "alpha": 0.3},
        {"kind": "elastic_net", "alpha": 0.3, "l1_ratio": 0.2},
        {"kind": "lp", "alpha": 0.3, "p": 1.5},
        {"kind": "linf", "alpha": 0.3},
    ],
)
@pytest.mark.parametrize("loss", ["squared", "logistic", "multinomial"])
def test_objective64_agrees_with_jaxreg_losses_and_penalties(problems, loss, pen):
    import jax
    import jax.numpy as jnp

    from jaxreg.losses import get_loss

    X, _, y_enc = problems[loss]
    rng = np.random.default_rng(1)
    w = rng.standard_normal((12,) if loss != "multinomial" else (12, 3)) * 0.3
    b = 0.2 if loss != "multinomial" else np.array([0.1, -0.2, 0.3])
    spec = PenaltySpec(**pen)
    with jax.enable_x64(True):
        expected = float(get_loss(loss).value(jnp.asarray(y_enc), jnp.asarray(X @ w + b)))
        expected += float(spec.build().value(jnp.asarray(w)))
    assert objective64(loss, spec, spec.alpha or 0.0, X, y_enc, w, b) == pytest.approx(expected, rel=1e-12)


def test_objective64_scores_mcp_by_its_own_formula(problems):
    # not L-infinity's (every kind it did not know fell through to it)
    X, _, y = problems["squared"]
    w = np.random.default_rng(2).standard_normal(12) * 0.5
    spec = PenaltySpec(kind="mcp", alpha=0.3, gamma=3.0)
    aw = np.abs(w)
    mcp = np.sum(np.where(aw <= 0.9, 0.3 * aw - aw**2 / 6.0, 0.9 * 0.3 / 2))
    expected = 0.5 * np.mean((y - X @ w - 0.1) ** 2) + mcp
    assert objective64("squared", spec, 0.3, X, y, w, 0.1) == pytest.approx(expected, rel=1e-12)
