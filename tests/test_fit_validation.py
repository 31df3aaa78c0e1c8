"""Every bad input gets a ValueError naming the argument, the value and what is allowed."""

import numpy as np
import pytest

import jaxreg
from jaxreg.penalties import L1, L2, ElasticNet, Lp, WeightedL1

rng = np.random.default_rng(0)
X = rng.standard_normal((20, 3))
y = rng.standard_normal(20)
yc = (y > 0).astype(int)


def with_nan(a, idx):
    a = a.copy()
    a[idx] = np.nan
    return a


CASES = [
    ("nan in X", dict(X=with_nan(X, (3, 1)), y=y), r"X contains 1 non-finite value\(s\) \(NaN at index \(3, 1\)\)"),
    (
        "inf in X",
        dict(X=np.where(np.arange(3) == 2, np.inf, X), y=y),
        r"X contains 20 non-finite value\(s\) \(infinite at index \(0, 2\)\)",
    ),
    ("nan in y", dict(X=X, y=with_nan(y, 5)), r"y contains 1 non-finite value"),
    ("shape mismatch", dict(X=X, y=y[:15]), r"X has 20 samples but y has 15"),
    ("1-D X", dict(X=X[:, 0], y=y), r"X has shape \(20,\); X must be 2-D .*reshape\(-1, 1\)"),
    ("3-D X", dict(X=X[None], y=y), r"X has shape \(1, 20, 3\); X must be 2-D"),
    ("empty X", dict(X=np.empty((0, 3)), y=np.empty(0)), r"X has shape \(0, 3\); X needs at least 1 sample"),
    ("string X", dict(X=np.array([["a", "b"]] * 20), y=y), r"X has dtype <U1; X must be numeric"),
    ("2-D y", dict(X=X, y=np.c_[y, y]), r"y has shape \(20, 2\); y must be 1-D"),
    (
        "three classes for logistic",
        dict(X=X, y=np.arange(20) % 3, loss="logistic"),
        r"y has 3 class\(es\) \[0, 1, 2\]; loss='logistic' needs exactly two .*multinomial",
    ),
    ("one class", dict(X=X, y=np.zeros(20), loss="logistic"), r"y has 1 class\(es\)"),
    (
        "negative alpha",
        dict(X=X, y=y, penalty=None, _pen=lambda: L1(-0.5)),
        r"alpha=-0.5 is not allowed; alpha must be a finite number >= 0",
    ),
    ("p < 1", dict(X=X, y=y, _pen=lambda: Lp(1.0, 0.7)), r"p=0.7 is not allowed; p must be a finite number >= 1"),
    (
        "l1_ratio out of range",
        dict(X=X, y=y, _pen=lambda: ElasticNet(1.0, -0.1)),
        r"l1_ratio=-0.1 is not allowed; l1_ratio must be in \[0, 1\]",
    ),
    (
        "weights of wrong length",
        dict(X=X, y=y, penalty=WeightedL1(0.1, [1.0, 1.0])),
        r"WeightedL1 weights have shape \(2,\); they must have one entry per feature \(3,\)",
    ),
    (
        "zero learning rate",
        dict(X=X, y=y, solver="gd", learning_rate=0.0),
        r"learning_rate=0.0 is not allowed; learning_rate must be a finite number > 0",
    ),
    (
        "negative learning rate",
        dict(X=X, y=y, solver="sgd", learning_rate=-1e-3),
        r"learning_rate=-0.001 is not allowed",
    ),
    (
        "zero batch size",
        dict(X=X, y=y, solver="minibatch", batch_size=0),
        r"batch_size=0 is not allowed; batch_size must be a finite integer > 0",
    ),
    (
        "float batch size",
        dict(X=X, y=y, solver="minibatch", batch_size=2.5),
        r"batch_size=2.5 is not allowed; batch_size must be a finite integer",
    ),
    (
        "unknown solver",
        dict(X=X, y=y, solver="bfgs"),
        r"solver='bfgs' is not a known solver; allowed: \['auto', 'closed_form'",
    ),
    (
        "closed_form with L1",
        dict(X=X, y=y, solver="closed_form", penalty=L1(0.1)),
        r"solver='closed_form' cannot handle loss='squared' with penalty L1\(alpha=0.1\): closed_form solves squared loss with an L2 penalty or none",
    ),
    (
        "closed_form with logistic",
        dict(X=X, y=yc, loss="logistic", solver="closed_form"),
        r"solver='closed_form' cannot handle loss='logistic'",
    ),
    ("lbfgs with L1", dict(X=X, y=y, solver="lbfgs", penalty=L1(0.1)), r"lbfgs needs a differentiable penalty"),
    (
        "unknown loss",
        dict(X=X, y=y, loss="hinge"),
        r"loss='hinge' is not a known loss; allowed: \['gamma', 'huber', 'logistic', 'multinomial', 'poisson', 'squared', 'tweedie'\]",
    ),
    ("unknown penalty name", dict(X=X, y=y, penalty="l3"), r"penalty='l3' is not a known penalty"),
    ("unknown option", dict(X=X, y=y, momentum=0.9), r"unknown option\(s\) \['momentum'\]; allowed options"),
    (
        "option for another solver",
        dict(X=X, y=y, solver="fista", penalty=L1(0.1), batch_size=8),
        r"option batch_size=8 does not apply to solver 'fista' \(it applies to: \['gd', 'minibatch', 'sgd'\]\)",
    ),
    ("negative tol", dict(X=X, y=y, tol=-1.0), r"tol=-1.0 is not allowed"),
    ("zero max_iter", dict(X=X, y=y, solver="fista", max_iter=0), r"max_iter=0 is not allowed"),
    (
        "bad schedule",
        dict(X=X, y=y, solver="sgd", schedule="linear"),
        r"schedule='linear' is not allowed; allowed: \['constant'",
    ),
    ("bad step", dict(X=X, y=y, solver="fista", step="armijo"), r"step='armijo' is not allowed"),
    ("bad seed", dict(X=X, y=y, solver="sgd", seed=-1), r"seed=-1 is not allowed"),
    ("bad device", dict(X=X, y=y, device="quantum"), r"device='quantum' is not allowed"),
    ("bad sample_weight", dict(X=X, y=y, sample_weight=-np.ones(20)), r"sample_weight must be finite, >= 0"),
    (
        "bad coef_init",
        dict(X=X, y=y, solver="fista", coef_init=np.zeros(4)),
        r"coef_init has shape \(4,\); it must have shape \(3,\)",
    ),
    ("bad fit_intercept", dict(X=X, y=y, fit_intercept="yes"), r"fit_intercept='yes' is not allowed"),
]


@pytest.mark.parametrize("case, kwargs, match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(case, kwargs, match):
    kwargs = dict(kwargs)
    make_pen = kwargs.pop("_pen", None)
    with pytest.raises(ValueError, match=match):
        if make_pen is not None:
            kwargs["penalty"] = make_pen()
        jaxreg.fit(**kwargs)


def test_gpu_request_without_gpu_names_what_is_available():
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match=r"device='gpu' is not available here; available: \['cpu'\]"):
        jaxreg.fit(X, y, penalty=L2(0.1), device="gpu")


def test_string_labels_are_fine_for_logistic():
    labels = np.where(y > 0, "spam", "ham")
    res = jaxreg.fit(X, labels, loss="logistic", penalty=L2(0.1))
    np.testing.assert_array_equal(res.classes, ["ham", "spam"])


def test_huge_finite_values_are_not_called_non_finite():
    # the finiteness check sums first (one pass); a sum that overflows must fall back to the
    # elementwise test rather than report finite data as non-finite
    from jaxreg import _validation as V

    big = np.full((4, 3), 1e308)
    V.check_finite(big, "X")  # no error: every entry is finite
    with pytest.raises(ValueError, match=r"X contains 1 non-finite value\(s\) \(NaN at index \(1, 2\)\)"):
        V.check_finite(with_nan(big, (1, 2)), "X")
    mixed = np.array([[np.inf, -np.inf]])  # inf - inf = nan in the sum: still reported as infinite
    with pytest.raises(ValueError, match=r"X contains 2 non-finite value\(s\) \(infinite at index \(0, 0\)\)"):
        V.check_finite(mixed, "X")


NONFINITE_X = [
    ("nan", (3, 1), np.nan, r"X contains 1 non-finite value\(s\) \(NaN at index \(3, 1\)\)"),
    ("inf", (17, 0), -np.inf, r"X contains 1 non-finite value\(s\) \(infinite at index \(17, 0\)\)"),
]
WS_ROUTES = {
    "lasso": dict(penalty=L1(0.05)),
    "no intercept": dict(penalty=L1(0.05), fit_intercept=False),
    "zero weight on the bad row": dict(penalty=L1(0.05), sample_weight=np.r_[np.zeros(18), 1.0, 1.0]),
    "warm start": dict(penalty=L1(0.05), coef_init=np.ones(3)),
    "elastic net": dict(penalty=ElasticNet(0.05, 0.5)),
    "logistic": dict(penalty=L1(0.01), loss="logistic"),
}


@pytest.mark.parametrize("route", list(WS_ROUTES), ids=list(WS_ROUTES))
@pytest.mark.parametrize("kind, idx, value, msg", NONFINITE_X, ids=[c[0] for c in NONFINITE_X])
def test_working_set_reports_non_finite_X(route, kind, idx, value, msg):
    # fit leaves the pass over X to the working set's first pass, which must still catch
    # every NaN/inf (0 * inf is NaN too, so zero weights and zero coefficients hide nothing)
    # and raise the same error as the host check
    kw = dict(WS_ROUTES[route])
    Z = X.copy()
    Z[idx] = value
    target = yc if kw.get("loss") == "logistic" else y
    with pytest.raises(ValueError, match=msg):
        jaxreg.fit(Z, target, solver="working_set", **kw)
    with pytest.raises(ValueError, match=msg):  # the default solver of an L1 fit
        jaxreg.fit(Z, target, **kw)


def test_working_set_reports_an_overflowing_X():
    # finite entries whose products overflow (1e300 * 1e10): no entry to name, but no
    # silent NaN either
    Z = X.copy()
    Z[:, 1] = 1e300
    with pytest.raises(ValueError, match=r"first pass over X gave non-finite values.*rescale X"):
        jaxreg.fit(Z, y, penalty=L1(0.05), coef_init=np.full(3, 1e10), solver="working_set")


def test_gram_solver_reports_an_overflowing_X():
    # the Gram matrix of a column of size 1e300 overflows: an error, never NaN coefficients
    Z = X.copy()
    Z[:, 1] *= 1e300
    with pytest.raises(ValueError, match=r"first pass over X gave non-finite values.*rescale X"):
        jaxreg.fit(Z, y, penalty=L1(0.05), solver="gram_cd")
