"""DataFrame column names through the Python API, as scikit-learn treats them (issue 17 item 14):
``feature_names_in_`` after a fit on a DataFrame, the warning when predicting on an array after
a DataFrame fit (and the reverse), the error on reordered columns. The reference is the
scikit-learn estimator of the same name fitted on the same DataFrame."""

import warnings

import numpy as np
import pytest
import sklearn.linear_model as sk

import jaxreg

pd = pytest.importorskip("pandas")

# (ours, scikit-learn's, target kind)
PAIRS = [
    ("Lasso", "Lasso", "real"),
    ("LogisticRegression", "LogisticRegression", "binary"),
    ("PoissonRegressor", "PoissonRegressor", "count"),
    ("LassoCV", "LassoCV", "real"),
    ("BayesianLinearRegression", "BayesianRidge", "real"),
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.standard_normal(40)
    targets = {"real": y, "binary": (y > np.median(y)).astype(int), "count": rng.poisson(np.exp(0.3 * X[:, 0]))}
    return X, pd.DataFrame(X, columns=["age", "bmi", "bp"]), targets


def _messages(call):
    """The feature-name warnings ``call()`` raises, with the class name taken out, or the
    type of the error it raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except ValueError as e:
            return ("ValueError", "feature names should match" in str(e))
    return [str(w.message).split(" but ")[0] for w in caught if "feature names" in str(w.message)]


@pytest.mark.parametrize("ours, theirs, kind", PAIRS)
def test_item14_dataframe_feature_names_as_in_sklearn(data, ours, theirs, kind):
    X, df, targets = data
    y = targets[kind]
    swapped = df[["bmi", "age", "bp"]]
    behaviour = {}
    for side, est in (("ours", getattr(jaxreg, ours)()), ("theirs", getattr(sk, theirs)())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence of scikit-learn's defaults is not the point
            est.fit(df, y)
        names = list(getattr(est, "feature_names_in_", []))
        seen = (names, est.n_features_in_, _messages(lambda: est.predict(X)), _messages(lambda: est.predict(swapped)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        seen += (hasattr(est, "feature_names_in_"), _messages(lambda: est.predict(df)))
        behaviour[side] = seen
    assert behaviour["ours"][0] == ["age", "bmi", "bp"]
    assert behaviour["ours"] == behaviour["theirs"]
