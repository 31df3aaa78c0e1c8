"""The fits that tests/test_sharding.py runs sharded (in a subprocess) and on one device
(in the test process): n = 103 rows, not a multiple of 2 or 4."""

import numpy as np


def _regression():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((103, 9))
    w = np.array([1.5, 0.0, -2.0, 0.0, 0.0, 0.7, 0.0, 0.0, 1.0])
    return X, X @ w + 0.4 + 0.2 * rng.standard_normal(103)


def _classification():
    X, y = _regression()
    return X, (y > 0.4).astype(int)


def _l1(alpha):
    from jaxreg.penalties import L1

    return L1(alpha)


def _l2(alpha):
    from jaxreg.penalties import L2

    return L2(alpha)


# name -> () -> (X, y, fit keyword arguments); tol=0 runs every iteration, so the two fits
# take the same steps and their iterates can be compared to rounding.
PROBLEMS = {
    "gd": lambda: (*_regression(), dict(penalty=_l1(0.05), solver="gd", tol=0.0, max_iter=300)),
    "fista": lambda: (*_regression(), dict(penalty=_l1(0.05), solver="fista", tol=1e-12, max_iter=5000)),
    "minibatch": lambda: (
        *_regression(),
        dict(
            penalty=_l1(0.05), solver="minibatch", batch_size=16, tol=0.0, n_iter_no_change=10**6, max_iter=40, seed=3
        ),
    ),
    "lbfgs": lambda: (*_classification(), dict(loss="logistic", penalty=_l2(0.01), solver="lbfgs", tol=1e-10)),
}
