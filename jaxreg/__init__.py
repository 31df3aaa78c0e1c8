"""jaxreg: regularized linear models (lasso, ridge, elastic net, logistic) fitted with JAX.

Public names only; see ``shared/DESIGN.md`` for the architecture.
"""

from jaxreg import losses, penalties
from jaxreg._cache import disable_compilation_cache, enable_compilation_cache
from jaxreg.basis import FourierBasis, GaussianBasis, PolynomialBasis, SigmoidBasis
from jaxreg.bayes import BayesianLinearRegression
from jaxreg.cv import ElasticNetCV, LassoCV, LogisticRegressionCV
from jaxreg.estimators import Classifier, ElasticNet, Lasso, LinearRegression, LogisticRegression, Regressor, Ridge
from jaxreg.fit import FitResult, alpha_max, fit
from jaxreg.glm import GammaRegressor, PoissonRegressor, TweedieRegressor
from jaxreg.group import GroupLasso, SparseGroupLasso
from jaxreg.huber import HuberRegressor
from jaxreg.implicit import solution
from jaxreg.losses import Gamma, Huber, Logistic, Multinomial, Poisson, Squared, Tweedie
from jaxreg.path import PathResult, path
from jaxreg.penalties import L1, L2, LInf, Lp, NoPenalty, WeightedL1
from jaxreg.ridge_cv import RidgeCV
from jaxreg.tune import LassoHO, LogisticRegressionHO

__version__ = "0.1.0"

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
