"""jaxreg: regularized linear models (lasso, ridge, elastic net, logistic) fitted with JAX.

Public names only; see ``shared/DESIGN.md`` for the architecture.

Importing jaxreg is lazy (PEP 562): a name is imported from its module on first use, so
``jaxreg run`` on a ridge grid or ``jaxreg.fit`` alone does not pay for scikit-learn, the
estimators and the cross-validation machinery (about a second of a process start).
``fit`` and ``path`` are imported at once: they share their names with their modules, and a
lazy attribute would be shadowed by the module as soon as ``jaxreg.fit`` (the module) is imported.
"""

import importlib

from jaxreg import losses, penalties
from jaxreg.fit import FitResult, alpha_max, fit
from jaxreg.path import PathResult, path

__version__ = "0.1.0"

# public name -> the module it lives in, imported on first access
_LAZY = {
    "disable_compilation_cache": "jaxreg._cache",
    "enable_compilation_cache": "jaxreg._cache",
    "FourierBasis": "jaxreg.basis",
    "GaussianBasis": "jaxreg.basis",
    "PolynomialBasis": "jaxreg.basis",
    "SigmoidBasis": "jaxreg.basis",
    "BayesianLinearRegression": "jaxreg.bayes",
    "ElasticNetCV": "jaxreg.cv",
    "LassoCV": "jaxreg.cv",
    "LogisticRegressionCV": "jaxreg.cv",
    "Classifier": "jaxreg.estimators",
    "ElasticNet": "jaxreg.estimators",
    "Lasso": "jaxreg.estimators",
    "LinearRegression": "jaxreg.estimators",
    "LogisticRegression": "jaxreg.estimators",
    "Regressor": "jaxreg.estimators",
    "Ridge": "jaxreg.estimators",
    "GammaRegressor": "jaxreg.glm",
    "PoissonRegressor": "jaxreg.glm",
    "TweedieRegressor": "jaxreg.glm",
    "GroupLasso": "jaxreg.group",
    "SparseGroupLasso": "jaxreg.group",
    "HuberRegressor": "jaxreg.huber",
    "solution": "jaxreg.implicit",
    "Gamma": "jaxreg.losses",
    "Huber": "jaxreg.losses",
    "Logistic": "jaxreg.losses",
    "Multinomial": "jaxreg.losses",
    "Poisson": "jaxreg.losses",
    "Squared": "jaxreg.losses",
    "Tweedie": "jaxreg.losses",
    "L1": "jaxreg.penalties",
    "L2": "jaxreg.penalties",
    "LInf": "jaxreg.penalties",
    "Lp": "jaxreg.penalties",
    "NoPenalty": "jaxreg.penalties",
    "WeightedL1": "jaxreg.penalties",
    "RidgeCV": "jaxreg.ridge_cv",
    "RegressorCV": "jaxreg.regressor_cv",
    "LassoHO": "jaxreg.tune",
    "LogisticRegressionHO": "jaxreg.tune",
}

__all__ = [
    "fit",
    "FitResult",
    "alpha_max",
    "path",
    "PathResult",
    "enable_compilation_cache",
    "disable_compilation_cache",
    "losses",
    "penalties",
    "Squared",
    "Logistic",
    "Multinomial",
    "Poisson",
    "Gamma",
    "Tweedie",
    "Huber",
    "NoPenalty",
    "L1",
    "L2",
    "WeightedL1",
    "Lp",
    "LInf",
    # scikit-learn-style estimators; jaxreg.ElasticNet is the estimator (scikit-learn's name),
    # the penalty is jaxreg.penalties.ElasticNet
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "Regressor",
    "LogisticRegression",
    "Classifier",
    "PoissonRegressor",
    "GammaRegressor",
    "TweedieRegressor",
    # group lasso estimators; the penalties are jaxreg.penalties.GroupLasso / SparseGroupLasso
    "GroupLasso",
    "SparseGroupLasso",
    "HuberRegressor",
    "LassoCV",
    "RidgeCV",
    "RegressorCV",  # any regression loss and penalty, alpha by cross-validation
    "ElasticNetCV",
    "LogisticRegressionCV",
    "PolynomialBasis",
    "GaussianBasis",
    "SigmoidBasis",
    "FourierBasis",
    "BayesianLinearRegression",
    "solution",  # differentiable fits (implicit differentiation) and tuning by gradient
    "LassoHO",
    "LogisticRegressionHO",
    "__version__",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jaxreg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
