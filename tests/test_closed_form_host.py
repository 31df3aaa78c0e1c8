"""Host (numpy/LAPACK) closed-form ridge against scikit-learn, numpy's lstsq/pinv and the JAX solver."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

import jaxreg
from jaxreg.penalties import L2
from jaxreg.solvers.closed_form_host import solve

from conftest import make_regression


def _weights(n, kind, seed=0):
    return np.ones(n) if kind == "uniform" else np.random.default_rng(seed).uniform(0.2, 3.0, n)


def _sk(X, y, sw, l2, fit_intercept):
    # scikit-learn minimises sum sw_i (y_i - x_i w - b)^2 + a ||w||^2; ours is that divided by
    # 2 sum(sw) with l2 = a / sum(sw).
    sk = Ridge(alpha=l2 * sw.sum(), fit_intercept=fit_intercept, solver="svd")
    return sk.fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("shape", [(80, 12), (30, 60)], ids=["primal", "dual"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weights", ["uniform", "random"])
def test_ridge_matches_sklearn(shape, fit_intercept, weights):
    X, y, _ = make_regression(*shape, rho=0.6, seed=4)
    sw = _weights(shape[0], weights)
    coef, b = solve(X, y, sw, 0.3, fit_intercept)
    sk = _sk(X, y, sw, 0.3, fit_intercept)
    assert coef.shape == (shape[1],) and coef.dtype == np.float64 and np.ndim(b) == 0
    np.testing.assert_allclose(coef, sk.coef_, rtol=1e-9, atol=1e-11)
    assert b == pytest.approx(sk.intercept_, abs=1e-10)


@pytest.mark.parametrize("shape", [(40, 7), (15, 25)], ids=["primal", "dual"])
def test_two_dimensional_y_matches_sklearn(shape):
    X, y, _ = make_regression(*shape, seed=5)
    Y = np.column_stack([y, np.sin(y), -2 * y + 1])
    sw = _weights(shape[0], "random", seed=1)
    coef, b = solve(X, Y, sw, 0.05, True)
    sk = _sk(X, Y, sw, 0.05, True)
    assert coef.shape == (shape[1], 3) and b.shape == (3,)
    np.testing.assert_allclose(coef, sk.coef_.T, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(b, sk.intercept_, atol=1e-10)


def test_underdetermined_least_squares_is_minimum_norm():
    X, y, _ = make_regression(20, 50, seed=7)
    sw = _weights(20, "random", seed=2)
    coef, b = solve(X, y, sw, 0.0, True)
    d = sw / sw.sum()
    xm, ym = d @ X, d @ y
    ref = np.linalg.pinv(np.sqrt(d)[:, None] * (X - xm)) @ (np.sqrt(d) * (y - ym))
    np.testing.assert_allclose(coef, ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(X @ coef + b, y, atol=1e-8)  # interpolates


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_duplicate_columns_give_minimum_norm_solution(fit_intercept):
    X, y, _ = make_regression(50, 6, seed=6)
    X = np.hstack([X, X[:, :2]])  # X^T X is singular
    coef, b = solve(X, y, np.ones(50), 0.0, fit_intercept)
    Xc, yc = (X - X.mean(0), y - y.mean()) if fit_intercept else (X, y)
    ref = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    np.testing.assert_allclose(coef, ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(coef[:2], coef[6:], rtol=1e-8)  # mass split evenly


def test_nearly_collinear_columns_match_lstsq():
    # cond(X) ~ 1e9 makes cond(X^T X) ~ 1e18 > 1/eps: the normal equations would return
    # noise, so the solver must notice and take the SVD.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 4))
    X = np.hstack([X, X[:, :1] + 1e-9 * rng.standard_normal((60, 1))])
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.01 * rng.standard_normal(60)
    coef, b = solve(X, y, np.ones(60), 0.0, False)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(X @ coef, X @ ref, atol=1e-9)
    np.testing.assert_allclose(coef, ref, rtol=1e-4)


def test_constant_column_gets_zero_coefficient():
    # 3.7e6's weighted mean is not exact in floating point; the column must still centre to
    # exactly zero, or its rounding residue (~1e-9, above the SVD cutoff) would get a huge
    # least-squares coefficient.
    X, y, _ = make_regression(101, 5, seed=8)
    sw = _weights(101, "random")
    coef, b = solve(np.hstack([X, np.full((101, 1), 3.7e6)]), y, sw, 0.0, True)
    assert coef[5] == 0.0
    sk = _sk(X, y, sw, 0.0, True)
    np.testing.assert_allclose(coef[:5], sk.coef_, rtol=1e-9)
    assert b == pytest.approx(sk.intercept_, abs=1e-9)


def test_single_sample():
    X = np.array([[1.0, 2.0, -1.0]])
    coef, b = solve(X, np.array([4.0]), np.ones(1), 0.0, True)
    np.testing.assert_array_equal(coef, 0.0)  # nothing left after centering
    assert b == 4.0
    coef, b = solve(X, np.array([4.0]), np.ones(1), 0.0, False)
    np.testing.assert_allclose(coef, np.linalg.pinv(X) @ [4.0], rtol=1e-12)


@pytest.mark.parametrize("shape", [(80, 12), (30, 60)], ids=["primal", "dual"])
def test_float32_stays_float32(shape):
    X, y, _ = make_regression(*shape, seed=9)
    sw = _weights(shape[0], "random", seed=3)
    coef, b = solve(X.astype(np.float32), y.astype(np.float32), sw, 0.1, True)
    assert coef.dtype == np.float32 and np.asarray(b).dtype == np.float32
    sk = _sk(X, y, sw, 0.1, True)  # float64 reference
    np.testing.assert_allclose(coef, sk.coef_, rtol=2e-4, atol=2e-5)
    assert b == pytest.approx(sk.intercept_, abs=1e-4)


@pytest.mark.parametrize("shape", [(80, 12), (30, 60)], ids=["primal", "dual"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weights", ["uniform", "random", "some zero"])
def test_fortran_order_and_input_untouched(shape, fit_intercept, weights):
    X, y, _ = make_regression(*shape, seed=10)
    sw = _weights(shape[0], weights, seed=4)
    if weights == "some zero":
        sw[3] = 0.0  # the row-dropping path
    XF = np.asfortranarray(X)
    saved = X.copy(), y.copy(), sw.copy()
    cC, bC = solve(X, y, sw, 0.2, fit_intercept)
    cF, bF = solve(XF, y, sw, 0.2, fit_intercept)
    np.testing.assert_allclose(cF, cC, rtol=1e-11, atol=1e-13)
    assert bF == pytest.approx(bC, abs=1e-12)
    for a, s in zip((X, y, sw), saved):
        np.testing.assert_array_equal(a, s)  # the solver scales and centres copies only
    np.testing.assert_array_equal(XF, X)
    np.testing.assert_allclose(cC, _sk(X, y, sw, 0.2, fit_intercept).coef_, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_zero_weight_rows_same_as_dropping(l2):
    # 20 real rows, 30 features: dual form. 40 zero-weight padding rows would make it
    # look primal (n = 60 > p) and, with l2 = 0, change which rank cutoff applies.
    X, y, _ = make_regression(20, 30, seed=11)
    sw = _weights(20, "random", seed=5)
    rng = np.random.default_rng(6)
    Xp = np.vstack([X, rng.standard_normal((40, 30))])
    Xp[25:28] = np.nan  # zero-weight rows are never read, so even NaN there is harmless
    yp = np.concatenate([y, rng.standard_normal(40)])
    swp = np.concatenate([sw, np.zeros(40)])
    order = rng.permutation(60)  # padding interleaved, not only at the end
    coef, b = solve(Xp[order], yp[order], swp[order], l2, True)
    ref_coef, ref_b = solve(X, y, sw, l2, True)
    np.testing.assert_allclose(coef, ref_coef, rtol=1e-10, atol=1e-12)
    assert b == pytest.approx(ref_b, abs=1e-11)
    if l2 > 0:
        np.testing.assert_allclose(coef, _sk(X, y, sw, l2, True).coef_, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("shape", [(80, 12), (30, 60)], ids=["primal", "dual"])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_matches_jax_closed_form(shape, l2):
    # the compiled solver (what GPUs and sharded fits run; fit uses this module on the CPU)
    import jax

    from jaxreg.solvers import Data
    from jaxreg.solvers.closed_form import closed_form

    X, y, _ = make_regression(*shape, rho=0.4, seed=12)
    sw = _weights(shape[0], "random", seed=7)
    with jax.enable_x64(True):
        out = closed_form(Data(X, y, sw), jaxreg.losses.Squared(), L2(l2), np.zeros(X.shape[1]), np.zeros(()), None)
    coef, b = solve(X, y, sw, l2, True)
    np.testing.assert_allclose(coef, out.coef, rtol=1e-8, atol=1e-10)
    assert b == pytest.approx(float(out.intercept), abs=1e-9)
    res = jaxreg.fit(X, y, penalty=L2(l2), sample_weight=sw)  # auto: closed_form, this module here
    assert res.solver == "closed_form" and res.compile_time == 0.0
    np.testing.assert_allclose(res.coef, coef, rtol=1e-12, atol=1e-14)


def test_non_finite_input_raises():
    X, y, _ = make_regression(30, 4, seed=13)
    X[2, 1] = np.inf
    with pytest.raises(FloatingPointError, match="not finite|inf/NaN"):
        solve(X, y, np.ones(30), 0.1, True)
    X[2, 1] = np.nan
    with pytest.raises(FloatingPointError):
        solve(X, y, np.ones(30), 0.0, False)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(X=np.ones((5, 2), dtype=int)), "X must be"),
        (dict(y=np.ones(4)), "y must have shape"),
        (dict(sample_weight=-np.ones(5)), "sample_weight"),
        (dict(sample_weight=np.zeros(5)), "sample_weight"),
        (dict(l2=-1.0), "l2"),
    ],
)
def test_bad_arguments_name_themselves(change, match):
    args = dict(X=np.ones((5, 2)), y=np.ones(5), sample_weight=np.ones(5), l2=0.1, fit_intercept=True) | change
    with pytest.raises(ValueError, match=match):
        solve(**args)


@pytest.mark.parametrize("scale", [1e200, 1e-160])
def test_extreme_scales_give_the_scaled_solution(scale):
    # X^T X overflows (1e400) or underflows (1e-320): the SVD path must still give
    # scikit-learn's coefficients on the unscaled X, divided by the scale (never zeros,
    # never "diverged")
    from sklearn.linear_model import LinearRegression

    X, y, _ = make_regression(60, 5, rho=0.3, seed=14)
    res = jaxreg.fit(X * scale, y)
    assert res.solver == "closed_form" and res.status == "converged"
    ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(res.coef * scale, ref.coef_, rtol=1e-9)
    assert res.intercept == pytest.approx(ref.intercept_, rel=1e-9)
