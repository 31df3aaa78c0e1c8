"""The quickstart: lasso, ridge, L-infinity and Lp fits side by side on scikit-learn's
bundled diabetes data (standardized), with the optimality reached and the time taken.

Run: python3 experiments/quickstart.py
"""

import numpy as np
from sklearn.preprocessing import StandardScaler

import jaxreg
from jaxreg.datasets import load_builtin
from jaxreg.penalties import L1, L2, LInf, Lp

X, y, _ = load_builtin("diabetes")
X = StandardScaler().fit_transform(X)
models = {
    "lasso  L1(1.0)": L1(1.0),
    "ridge  L2(0.1)": L2(0.1),
    "linf   LInf(5.0)": LInf(5.0),
    "lp     Lp(1.0, p=1.5)": Lp(1.0, 1.5),
}
print(f"diabetes: n={X.shape[0]}, p={X.shape[1]}")
print(
    f"{'model':24s} {'solver':12s} {'status':10s} {'iters':>6s} {'objective':>12s} {'nonzeros':>8s} "
    f"{'compile s':>9s} {'fit s':>8s}"
)
for name, penalty in models.items():
    res = jaxreg.fit(X, y, penalty=penalty, tol=1e-8)
    print(
        f"{name:24s} {res.solver:12s} {res.status:10s} {res.n_iter:6d} {res.objective:12.4f} "
        f"{res.nonzeros:8d} {res.compile_time:9.2f} {res.fit_time:8.4f}"
    )
    assert res.converged and np.all(np.isfinite(res.coef))
