"""Group lasso: jaxreg's group_bcd against skglm's GroupLasso (GroupBCD), float64; with
``--loss logistic`` against skglm's GroupProxNewton on its LogisticGroup datafit.

Problem: Gaussian design n x p, groups of 5 contiguous features, 10 active groups, noise
0.1 (``--n``, ``--p``, ``--size``, ``--active``, ``--noise``). For each alpha in {alpha_max/10, alpha_max/100}: both
solvers to a tight tolerance (skglm tol 1e-10 on the same criterion, the largest distance
of a group's gradient to its subdifferential; jaxreg tol 1e-10), then the objective of
each, in float64 numpy, must agree to 1e-8 relative. Timed: median of ``--reps`` fits
after a warm-up, the two solvers alternating (load from other processes hits both alike);
jaxreg's compile time (first fit, programs built or loaded) reported apart. The load
average is printed: the machine may be shared.

Usage: python3 experiments/bench_group.py [--n 1000] [--p 5000] [--size 5] [--reps 5] [--active 10] [--noise 0.1]
       [--loss squared|logistic] [--check-sparse-group]
"""

import argparse
import os
import statistics
import time

import numpy as np


def objective(X, y, coef, intercept, alpha, size, loss="squared"):
    z = X @ coef + intercept
    data = 0.5 * np.mean((y - z) ** 2) if loss == "squared" else np.mean(np.logaddexp(0.0, -(2 * y - 1) * z))
    return data + alpha * np.sum(np.linalg.norm(coef.reshape(-1, size), axis=1))


class _Fitted:
    def __init__(self, w, fit_intercept=True):
        self.coef_, self.intercept_ = (w[:-1], w[-1]) if fit_intercept else (w, 0.0)


def skglm_logistic(X, y, alpha, size, tol):
    """skglm's logistic group lasso: GroupProxNewton on LogisticGroup + WeightedGroupL2 (labels
    in {-1, +1}; its estimator GroupLasso is squared loss only)."""
    from skglm.datafits import LogisticGroup
    from skglm.penalties import WeightedGroupL2
    from skglm.solvers import GroupProxNewton
    from skglm.utils.data import grp_converter
    from skglm.utils.jit_compilation import compiled_clone

    indices, ptr = grp_converter(size, X.shape[1])
    datafit = compiled_clone(LogisticGroup(ptr, indices))
    penalty = compiled_clone(WeightedGroupL2(alpha, np.ones(len(ptr) - 1), ptr, indices))
    w = GroupProxNewton(tol=tol, fit_intercept=True, max_iter=1000).solve(X, 2.0 * y - 1.0, datafit, penalty)[0]
    return _Fitted(w)


def check_sparse_group(tau=0.4):
    """Our SparseGroupLasso against skglm's WeightedL1GroupL2 (no estimator in skglm 0.5) with
    GroupBCD(ws_strategy="fixpoint") on an 80 x 20 problem, groups of 4, equal feature
    weights (skglm's prox reads the feature weights at the group's index, which only equal
    weights make right; its value() fails with an intercept, so both fit the centred data)."""
    from skglm.datafits import QuadraticGroup
    from skglm.penalties import WeightedL1GroupL2
    from skglm.solvers import GroupBCD
    from skglm.utils.data import grp_converter

    import jaxreg
    from jaxreg.penalties import SparseGroupLasso

    rng = np.random.default_rng(3)
    n, p, s = 80, 20, 4
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[[0, 1, 2, 3, 8, 9]] = [1.5, -1.0, 0.5, 2.0, -1.0, 0.7]
    y = X @ w + 0.1 * rng.standard_normal(n)
    X, y = X - X.mean(0), y - y.mean()
    pen = SparseGroupLasso(1.0, tau, s)
    alpha = 0.2 * jaxreg.alpha_max(X, y, penalty=pen, fit_intercept=False)
    ours = jaxreg.fit(X, y, penalty=pen.with_alpha(alpha), fit_intercept=False, tol=1e-12).coef
    indices, ptr = grp_converter(s, p)
    sk_pen = WeightedL1GroupL2(alpha, (1 - tau) * np.ones(p // s), tau * np.ones(p), ptr, indices)
    solver = GroupBCD(tol=1e-12, ws_strategy="fixpoint", max_iter=1000, max_epochs=100_000)
    theirs = solver.solve(X, y, QuadraticGroup(ptr, indices), sk_pen)[0]
    print(
        f"sparse group lasso (l1_ratio {tau}) vs skglm WeightedL1GroupL2: max|coef diff| "
        f"{np.abs(ours - theirs).max():.1e}, nonzeros {np.sum(ours != 0)} vs {np.sum(theirs != 0)}"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=5000)
    ap.add_argument("--size", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--active", type=int, default=10, help="groups with nonzero true coefficients")
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--loss", choices=("squared", "logistic"), default="squared")
    ap.add_argument("--check-sparse-group", action="store_true", help="only the sparse group lasso check")
    args = ap.parse_args()
    if args.check_sparse_group:
        return check_sparse_group()

    from skglm import GroupLasso as SkGroupLasso

    import jaxreg
    from jaxreg.penalties import GroupLasso

    rng = np.random.default_rng(0)
    n, p, s = args.n, args.p, args.size
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[: args.active * s] = rng.standard_normal(args.active * s)
    y = X @ w + 1.0 + args.noise * rng.standard_normal(n)
    if args.loss == "logistic":
        y = (y > np.median(y)).astype(float)
    pen = GroupLasso(1.0, groups=s)
    amax = jaxreg.alpha_max(X, y, loss=args.loss, penalty=pen)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    print(
        f"{args.loss}, {n} x {p}, groups of {s}, {args.active} active, noise {args.noise:g}, alpha_max = {amax:.6g}, "
        f"tol {args.tol:g}, median of {args.reps}"
    )
    for div in (10, 100):
        alpha = amax / div

        def ours(alpha=alpha):
            return jaxreg.fit(X, y, loss=args.loss, penalty=pen.with_alpha(alpha), tol=args.tol)

        def peer(alpha=alpha):
            if args.loss == "logistic":
                return skglm_logistic(X, y, alpha, s, args.tol)
            return SkGroupLasso(groups=s, alpha=alpha, tol=args.tol, max_iter=1000, max_epochs=100_000).fit(X, y)

        t0 = time.perf_counter()
        first = ours()
        first_s = time.perf_counter() - t0
        peer()  # numba's compilation
        times = {"jaxreg": [], "skglm": []}
        for _ in range(args.reps):
            for name, fn in (("jaxreg", ours), ("skglm", peer)):
                t0 = time.perf_counter()
                est = fn()
                times[name].append(time.perf_counter() - t0)
                if name == "jaxreg":
                    res = est
                else:
                    sk = est
        f_ours = objective(X, y, res.coef, res.intercept, alpha, s, args.loss)
        f_sk = objective(X, y, sk.coef_, sk.intercept_, alpha, s, args.loss)
        rel = (f_ours - f_sk) / abs(f_sk)
        med = {k: statistics.median(v) for k, v in times.items()}
        groups_on = int(np.sum(np.linalg.norm(res.coef.reshape(-1, s), axis=1) > 0))
        groups_sk = int(np.sum(np.linalg.norm(sk.coef_.reshape(-1, s), axis=1) > 0))
        print(
            f"alpha_max/{div}: jaxreg {med['jaxreg'] * 1e3:8.1f} ms ({res.status}, {res.n_iter} outer, "
            f"first fit {first_s:.2f} s of which compile {first.compile_time:.2f} s) | "
            f"skglm {med['skglm'] * 1e3:8.1f} ms"
            f" | ratio {med['jaxreg'] / med['skglm']:.2f} | objective rel diff {rel:+.1e} | groups {groups_on} vs "
            f"{groups_sk} | max|coef diff| {np.abs(res.coef - sk.coef_).max():.1e}"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
