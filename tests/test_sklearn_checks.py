"""scikit-learn's own estimator checks (``parametrize_with_checks``) over every jaxreg
estimator and transformer.

Each check fits on new shapes, and every new shape compiles a solver: compilation is
nearly all of this file's time. Two things keep it down. Estimators whose fits run the
same compiled solver (same solver, loss and penalty type; alpha is traced) are checked in
one xdist group, so one worker compiles each shape once for all of them (``--dist
loadgroup`` in pyproject's addopts; it leaves unmarked tests to plain load balancing). The classifiers are checked with FISTA, whose
compilation costs about half of L-BFGS's (the default for L2); both solvers are compared
with scikit-learn in test_estimators.py. No check is skipped or expected to fail.
"""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import jaxreg
from jaxreg.penalties import L2, ElasticNet

# check_estimator_sparse_data hands every estimator a DOK matrix, and scikit-learn's own
# validation (validate_data, as in its own estimators) says it cannot scan DOK for NaN: the
# check's input, not our code (34 of the suite's warnings)
pytestmark = pytest.mark.filterwarnings("ignore:Can't check dok sparse matrix for nan or inf:UserWarning")


def _run(estimator, check):
    check(estimator)


# Least squares is L2(0) and the lasso ElasticNet(l1_ratio=1) (jaxreg/estimators.py): each
# group below runs one compiled solver per shape.
@pytest.mark.xdist_group("sklearn_checks_closed_form")
@parametrize_with_checks([jaxreg.LinearRegression(), jaxreg.Ridge()])
def test_least_squares(estimator, check):
    _run(estimator, check)


@pytest.mark.xdist_group("sklearn_checks_elasticnet")
@parametrize_with_checks([jaxreg.Lasso(), jaxreg.ElasticNet(), jaxreg.Regressor(penalty=ElasticNet(0.1, 0.5))])
def test_sparse_regressors(estimator, check):
    _run(estimator, check)


@pytest.mark.xdist_group("sklearn_checks_logistic")
@parametrize_with_checks(
    [jaxreg.LogisticRegression(solver="fista"), jaxreg.Classifier(penalty=L2(0.01), solver="fista")]
)
def test_classifiers(estimator, check):
    _run(estimator, check)


# The three GLM regressors share one class in jaxreg/glm.py (they differ in their Loss, tested
# against scikit-learn in test_glm.py); checking one keeps the file's time down.
@pytest.mark.xdist_group("sklearn_checks_glm")
@parametrize_with_checks([jaxreg.PoissonRegressor()])
def test_glm_regressors(estimator, check):
    _run(estimator, check)


@parametrize_with_checks(
    [
        jaxreg.PolynomialBasis(),
        jaxreg.GaussianBasis(),
        jaxreg.SigmoidBasis(),
        jaxreg.FourierBasis(),
        jaxreg.BayesianLinearRegression(),
        # max_iter=1000: at 100 L-BFGS-B iterations scikit-learn's own HuberRegressor fails the
        # sample-weight equivalence check too (neither fit has converged on the check's data)
        jaxreg.HuberRegressor(max_iter=1000),
    ]
)
def test_numpy_estimators(estimator, check):
    _run(estimator, check)


# The CV estimators run the batched working-set path (all folds at once); a short grid and
# three folds keep each check to a few compiled shapes. A tight tol: the sample-weight
# check compares weighted and repeated fits at rtol 1e-7, and scikit-learn's default 1e-4
# stops the two (equivalent) problems at different points within that tolerance.
# LogisticRegressionCV is binary (its tags say so; the checks then use two classes).
@pytest.mark.xdist_group("sklearn_checks_cv")
@parametrize_with_checks(
    [
        jaxreg.LassoCV(alphas=5, cv=3, tol=1e-12),
        jaxreg.ElasticNetCV(alphas=5, cv=3, tol=1e-12),
        jaxreg.LogisticRegressionCV(Cs=3, cv=3, tol=1e-12),
        # RegressorCV: one jaxreg.path per fold. Its grid ends at alpha_max / 100 (eps): on the
        # sample-weight check's data (15 rows, 30 features) the lasso at alpha_max / 1000 and
        # tol 1e-12 stops on max_iter in both coordinate descents (gram_cd, then the working
        # set it hands over to), and two unconverged fits need not agree to 1e-7
        jaxreg.RegressorCV(alphas=3, eps=1e-2, cv=3, tol=1e-12),
    ]
)
def test_cv_estimators(estimator, check):
    if isinstance(estimator, (jaxreg.LogisticRegressionCV, jaxreg.RegressorCV)):
        # (RegressorCV: the float32 checks' fold fits cannot reach tol 1e-12 in float32 and
        # say so)
        # a gradient norm of 1e-12 is at the rounding floor: some fold fits stop at max_iter
        # (1.4e-12) and say so in a ConvergenceWarning (9 in the suite); the checks test other
        # things. max_iter=1000 instead took one float32 check from 12 s to 79 s.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return _run(estimator, check)
    _run(estimator, check)
