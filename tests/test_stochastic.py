"""gd / minibatch / sgd (optax loops) against the exact optimum; compilation; divergence."""

import numpy as np
import optax
import pytest

import jaxreg
from jaxreg.penalties import L1, L2

from conftest import make_regression


@pytest.fixture(scope="module")
def well_conditioned():
    rng = np.random.default_rng(21)
    X = rng.standard_normal((400, 6))
    w = np.array([1.0, -2.0, 0.0, 0.5, 0.0, 0.0])
    y = X @ w + 0.7 + 0.3 * rng.standard_normal(400)
    return X, y


def exact_fit(X, y, penalty):
    return jaxreg.fit(X, y, penalty=penalty, solver="fista", tol=1e-12, max_iter=100_000)


def exact_objective(X, y, penalty):
    return exact_fit(X, y, penalty).objective


NO_EARLY_STOP = {"tol": 0.0, "n_iter_no_change": 10_000}


@pytest.mark.parametrize(
    "solver, options, exact_zeros",
    [
        ("gd", {"tol": 1e-9}, True),
        ("minibatch", {"batch_size": 32, "schedule": "inverse_time", **NO_EARLY_STOP}, False),
        ("sgd", NO_EARLY_STOP, False),
        ("minibatch", {"batch_size": 32, "variance_reduction": "svrg", "tol": 1e-9}, True),
        ("sgd", {"variance_reduction": "svrg", "schedule": "constant", "tol": 1e-9}, True),
    ],
    ids=["gd", "minibatch", "sgd", "minibatch-svrg", "sgd-svrg"],
)
@pytest.mark.parametrize("penalty", [L2(0.1), L1(0.05)], ids=["l2", "l1"])
def test_reaches_exact_optimum(well_conditioned, solver, options, exact_zeros, penalty):
    X, y = well_conditioned
    exact = exact_fit(X, y, penalty)
    res = jaxreg.fit(X, y, penalty=penalty, solver=solver, max_iter=100, seed=0, **options)
    assert res.status != "diverged"
    assert (res.objective - exact.objective) / exact.objective < 1e-3
    if isinstance(penalty, L1):
        # every exact zero of ours is a zero of the exact lasso solution (no false zeros)
        assert np.all(exact.coef[res.coef == 0] == 0)
        if exact_zeros:
            # proximal steps with vanishing gradient noise give exactly the lasso's zeros
            assert np.any(exact.coef == 0)
            np.testing.assert_array_equal(res.coef == 0, exact.coef == 0)


def test_history_is_per_epoch_and_decreasing_for_gd(well_conditioned):
    X, y = well_conditioned
    res = jaxreg.fit(X, y, penalty=L2(0.1), solver="gd", tol=1e-10)
    assert res.converged and res.criterion == "subdiff_distance"
    assert len(res.history) == res.n_iter
    assert np.all(np.diff(res.history) <= 1e-12)


def test_custom_optax_optimizer(well_conditioned):
    X, y = well_conditioned
    f_star = exact_objective(X, y, L2(0.1))
    res = jaxreg.fit(
        X,
        y,
        penalty=L2(0.1),
        solver="minibatch",
        optimizer=optax.adam(0.01),
        batch_size=64,
        max_iter=400,
        tol=1e-12,
        n_iter_no_change=50,
    )
    assert (res.objective - f_star) / f_star < 1e-3
    sched = optax.exponential_decay(0.05, transition_steps=50, decay_rate=0.9)
    res = jaxreg.fit(X, y, penalty=L2(0.1), solver="sgd", schedule=sched, max_iter=30, tol=1e-12)
    assert (res.objective - f_star) / f_star < 1e-2


def test_same_seed_same_fit_different_seed_different_path(well_conditioned):
    X, y = well_conditioned
    a = jaxreg.fit(X, y, penalty=L2(0.1), solver="sgd", seed=3, max_iter=3, tol=0.0)
    b = jaxreg.fit(X, y, penalty=L2(0.1), solver="sgd", seed=3, max_iter=3, tol=0.0)
    c = jaxreg.fit(X, y, penalty=L2(0.1), solver="sgd", seed=4, max_iter=3, tol=0.0)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert not np.array_equal(a.coef, c.coef)


def test_ragged_last_batch_counts_every_sample():
    # n = 10 with batch 4: batches of 4, 4 and a masked 2. With a learning rate tiny enough
    # to be linear, one epoch's total step equals lr * (sum of batch-mean gradients) at w0.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((10, 3))
    y = rng.standard_normal(10)
    lr = 1e-9
    res = jaxreg.fit(
        X,
        y,
        solver="minibatch",
        batch_size=4,
        learning_rate=lr,
        max_iter=1,
        tol=0.0,
        fit_intercept=False,
        shuffle=False,
    )
    g = -(X * y[:, None])  # per-sample gradient of (y - x w)^2 / 2 at w = 0
    expected = -lr * (g[0:4].mean(0) + g[4:8].mean(0) + g[8:10].mean(0))
    np.testing.assert_allclose(res.coef, expected, rtol=1e-6)


def test_three_alphas_three_learning_rates_compile_once(compiles):
    X, y, _ = make_regression(64, 7, seed=22)
    # the first fits build (or find, if an earlier test in this process built them) the programs
    jaxreg.fit(X, y, penalty=L1(0.3), solver="minibatch", learning_rate=0.01, max_iter=5, seed=0)
    with compiles() as c:
        for alpha in [0.1, 0.2, 0.05]:
            for lr in [0.001, 0.01, 0.03]:
                jaxreg.fit(X, y, penalty=L1(alpha), solver="minibatch", learning_rate=lr, max_iter=5, seed=1)
    assert c.count == 0  # the nine minibatch fits compiled nothing new
    jaxreg.fit(X, y, penalty=L1(0.1), solver="fista", tol=1e-4)
    with compiles() as c:
        jaxreg.fit(X, y, penalty=L1(0.2), solver="fista", tol=2e-4)
        jaxreg.fit(X, y, penalty=L1(0.01), solver="fista", tol=1e-5)
    assert c.count == 0  # nor did a new alpha or tolerance for fista


@pytest.mark.parametrize("solver", ["gd", "minibatch", "sgd"])
def test_learning_rate_ten_times_too_large_diverges_cleanly(well_conditioned, solver):
    X, y = well_conditioned
    L = np.linalg.eigvalsh(np.c_[X, np.ones(len(X))].T @ np.c_[X, np.ones(len(X))] / len(X)).max()
    lr = 10 * (2.0 / L) if solver == "gd" else 10.0
    res = jaxreg.fit(X, y, penalty=L2(0.1), solver=solver, learning_rate=lr, max_iter=200, schedule="constant")
    assert res.status == "diverged" and not res.converged
    assert np.all(np.isfinite(res.coef)) and np.isfinite(res.intercept)
    assert res.n_iter < 200
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        res.raise_for_status()
