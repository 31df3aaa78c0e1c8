"""Tuning alpha by gradient (jaxreg.LassoHO, implicit differentiation) against the 100-alpha
grids of scikit-learn's and jaxreg's LassoCV, on the same 5 folds (issue 16).

Run (prints markdown tables; writes experiments/figures/tuning_*.png)::

    python3 experiments/bench_tuning.py            # ~1-2 min on a quiet 2-core machine
    python3 experiments/bench_tuning.py --reps 5

What is measured:

* lasso: on each dataset (a quarter held out as a test set, never seen by the tuning),
  the K-fold validation MSE at each method's alpha, recomputed here with tight fits
  (``jaxreg.fit``, tol 1e-12) so that the methods' own tolerances do not enter; the test
  MSE of each method's refit; the number of inner fits (grids: 100 alphas x 5 folds + 1
  refit; LassoHO: ``n_fits_``, counted by ``jaxreg.implicit.fit_count``); the wall time of
  ``fit`` (median of ``--reps`` after one warm-up run, which compiles).
* weighted: a problem built for a weighted lasso (a few strong coefficients that one alpha
  over-shrinks, many null ones), ``LassoHO(weighted=True)`` against the best single alpha,
  on a large test set drawn from the same distribution.
* One BLAS thread (set below, before numpy loads) for every method.
* backward: time of the backward pass (``vjp`` of the solution: one linear solve on the
  support and one vector-Jacobian product) against the forward fit, at LassoCV's alpha.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

# One BLAS thread for every method: on the shared, loaded 2-core machine OpenBLAS's threads
# stalled small host solves (0.25 ms) for ~150 ms each (measured), whoever made them.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import LassoCV as SkLassoCV  # noqa: E402
from sklearn.model_selection import KFold, train_test_split  # noqa: E402

import jaxreg  # noqa: E402
from jaxreg.datasets import make_correlated_regression  # noqa: E402

N_GRID = 5  # LassoHO's default coarse grid
FIGURES = os.path.join(os.path.dirname(__file__), "figures")


def datasets():
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes (442 x 10)", X, y
    X, y, _ = make_correlated_regression(400, 1000, rho=0.5, n_informative=20, snr=3.0, seed=1)
    yield "synthetic n<p (400 x 1000, rho 0.5)", X, y
    X, y, _ = make_correlated_regression(2000, 100, rho=0.5, n_informative=20, snr=2.0, seed=2)
    yield "synthetic n>p (2000 x 100, rho 0.5)", X, y


def cv_mse(X, y, alpha, folds, weights=None):
    """The K-fold held-out MSE at ``alpha`` (weighted lasso with ``weights``), tight fits."""
    pen = jaxreg.L1(alpha) if weights is None else jaxreg.WeightedL1(alpha, weights)
    out = []
    for tr, te in folds:
        r = jaxreg.fit(X[tr], y[tr], penalty=pen, tol=1e-12)
        out.append(np.mean((X[te] @ r.coef + r.intercept - y[te]) ** 2))
    return float(np.mean(out))


def timed(make, X, y, reps):
    make().fit(X, y)  # warm-up: compiles
    times, model = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        model = make().fit(X, y)
        times.append(time.perf_counter() - t0)
    return model, float(np.median(times))


def bench_lasso(reps):
    rows, curves = [], []
    for name, X, y in datasets():
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
        cv = KFold(5)
        folds = list(cv.split(Xtr))
        methods = {
            "sklearn LassoCV": lambda cv=cv: SkLassoCV(cv=cv, alphas=100),
            "jaxreg LassoCV": lambda cv=cv: jaxreg.LassoCV(cv=cv, alphas=100),
            "jaxreg LassoHO": lambda cv=cv: jaxreg.LassoHO(cv=cv),
        }
        ref = None
        for label, make in methods.items():
            model, t = timed(make, Xtr, ytr, reps)
            loss = cv_mse(Xtr, ytr, model.alpha_, folds)
            ref = loss if ref is None else ref
            fits = getattr(model, "n_fits_", 100 * len(folds) + 1)
            test = float(np.mean((model.predict(Xte) - yte) ** 2))
            rows.append((name, label, model.alpha_, loss, loss / ref - 1, test, fits, t))
            if label == "jaxreg LassoCV":
                grid = (model.alphas_, model.mse_path_.mean(axis=1))
            if label == "jaxreg LassoHO":
                curves.append((name, grid, model.alpha_path_, model.history_))
    return rows, curves


def bench_weighted(reps):
    """n=100 training rows, 40 features: 4 strong (+-4), 4 weak (+-0.7), 32 null."""
    rng = np.random.default_rng(3)
    p = 40
    w = np.zeros(p)
    w[:4] = [4.0, -4.0, 4.0, -4.0]
    w[4:8] = [0.7, -0.7, 0.7, -0.7]

    def draw(n):
        X = rng.standard_normal((n, p))
        return X, X @ w + rng.standard_normal(n)

    Xtr, ytr = draw(100)
    Xte, yte = draw(5000)
    cv = KFold(5)
    folds = list(cv.split(Xtr))
    rows = []
    for label, make in [
        ("best single alpha (jaxreg LassoCV, 100 alphas)", lambda: jaxreg.LassoCV(cv=cv, alphas=100)),
        ("LassoHO (alpha only)", lambda: jaxreg.LassoHO(cv=cv)),
        ("LassoHO(weighted=True, n_steps=60)", lambda: jaxreg.LassoHO(cv=cv, weighted=True, n_steps=60)),
    ]:
        model, t = timed(make, Xtr, ytr, reps)
        weights = getattr(model, "weights_", None)
        loss = cv_mse(Xtr, ytr, model.alpha_, folds, weights)
        test = float(np.mean((model.predict(Xte) - yte) ** 2))
        fits = getattr(model, "n_fits_", 100 * len(folds) + 1)
        rows.append((label, loss, test, int(np.sum(model.coef_ != 0)), fits, t))
    return rows


def bench_logistic(reps):
    """L1 logistic regression on breast cancer (standardized, a quarter held out): held-out
    log-loss. jaxreg's LogisticRegressionCV (100 Cs, scoring neg_log_loss) chooses C, so its
    alpha on a fold is ``1 / (C n_fold)``; LogisticRegressionHO chooses one alpha."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    cv = StratifiedKFold(5)
    folds = list(cv.split(Xtr, ytr))

    def cv_logloss(alpha_of):
        out = []
        for tr, te in folds:
            r = jaxreg.fit(Xtr[tr], ytr[tr], loss="logistic", penalty=jaxreg.L1(alpha_of(len(tr))), tol=1e-12)
            z = Xtr[te] @ r.coef + r.intercept
            out.append(np.mean(np.logaddexp(0.0, -np.where(ytr[te] > 0, 1.0, -1.0) * z)))
        return float(np.mean(out))

    rows = []
    for label, make in [
        (
            "jaxreg LogisticRegressionCV (100 Cs, l1)",
            lambda: jaxreg.LogisticRegressionCV(Cs=100, l1_ratios=(1.0,), cv=cv, scoring="neg_log_loss"),
        ),
        ("jaxreg LogisticRegressionHO", lambda: jaxreg.LogisticRegressionHO(cv=cv)),
    ]:
        model, t = timed(make, Xtr, ytr, reps)
        if hasattr(model, "alpha_"):
            loss, fits = cv_logloss(lambda n, a=model.alpha_: a), model.n_fits_
        else:
            loss, fits = cv_logloss(lambda n, C=float(model.C_[0]): 1.0 / (C * n)), 100 * len(folds) + 1
        p1 = model.predict_proba(Xte)[:, 1]
        test = float(-np.mean(np.where(yte > 0, np.log(p1), np.log(1 - p1))))
        rows.append((label, loss, test, fits, t))
    return rows


def bench_backward(reps):
    """Medians over ``reps`` runs after a warm-up: ``jaxreg.fit``; the eager forward
    (``jax.vjp`` of the solution) and backward (the ``vjp`` call); a jitted
    ``value_and_grad`` (what LassoHO's steps run: both passes through callbacks)."""
    rows = []
    with jax.enable_x64(True):
        for name, X, y in datasets():
            alpha = jaxreg.LassoCV(cv=5, alphas=100).fit(X, y).alpha_
            ct = (jnp.ones(X.shape[1]), jnp.ones(()))
            f = lambda a, X=X, y=y: jaxreg.solution(X, y, a, tol=1e-8)
            vg = jax.jit(jax.value_and_grad(lambda a, f=f: jnp.sum(f(a)[0])))
            times = {"fit": [], "fwd": [], "bwd": [], "jit": []}
            for i in range(reps + 1):
                t0 = time.perf_counter()
                jaxreg.fit(X, y, penalty=jaxreg.L1(alpha), tol=1e-8)
                t1 = time.perf_counter()
                out, vjp = jax.vjp(f, alpha)
                jax.block_until_ready(out)
                t2 = time.perf_counter()
                jax.block_until_ready(vjp(ct))
                t3 = time.perf_counter()
                jax.block_until_ready(vg(alpha))
                t4 = time.perf_counter()
                if i:  # the first run compiles
                    for k, t in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                        times[k].append(t)
            med = {k: float(np.median(v)) for k, v in times.items()}
            support = int(np.sum(np.asarray(out[0]) != 0))
            rows.append((name, alpha, support, med["fit"], med["fwd"], med["bwd"], med["bwd"] / med["fit"], med["jit"]))
    return rows


def plot(curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4))
    for ax, (name, (alphas, mse), path, hist) in zip(np.atleast_1d(axes), curves, strict=True):
        ax.plot(alphas, mse, ".", color="0.6", ms=4, label="LassoCV grid (100 alphas)")
        g = N_GRID
        ax.plot(path[:g], hist[:g], "s", color="C0", ms=5, label=f"LassoHO: coarse grid ({g} alphas)")
        ax.plot(path[g:], hist[g:], "-o", color="C3", ms=4, lw=0.8, label="LassoHO: gradient steps (numbered)")
        for k, (a, v) in enumerate(zip(path[g:], hist[g:], strict=True)):
            ax.annotate(str(k + 1), (a, v), fontsize=6, xytext=(2, 2), textcoords="offset points")
        best = int(np.argmin(hist))
        ax.plot(path[best], hist[best], "*", color="k", ms=12, label="LassoHO's alpha")
        ax.set_xscale("log")
        lo = min(mse.min(), hist.min())
        top = lo + 0.5 * (np.percentile(mse, 60) - lo) + 1e-12
        ax.set_ylim(lo - 0.1 * (top - lo), top)
        ax.set_xlabel("alpha")
        ax.set_ylabel("5-fold validation MSE")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(FIGURES, exist_ok=True)
    path = os.path.join(FIGURES, "tuning_validation_path.png")
    fig.savefig(path, dpi=110)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning, message="solution: the forward fit")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load before: {load}\n")

    rows, curves = bench_lasso(args.reps)
    print("| dataset | method | alpha | 5-fold val. MSE (tight) | vs sklearn | test MSE | inner fits | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, label, a, loss, rel, test, fits, t in rows:
        print(f"| {name} | {label} | {a:.4g} | {loss:.6g} | {rel:+.2e} | {test:.5g} | {fits} | {t:.3f} |")

    print("\n| weighted problem (n=100, p=40) | 5-fold val. MSE | test MSE (5000 rows) | nonzeros | fits | time (s) |")
    print("|---|---|---|---|---|---|")
    for label, loss, test, nnz, fits, t in bench_weighted(args.reps):
        print(f"| {label} | {loss:.5g} | {test:.5g} | {nnz} | {fits} | {t:.3f} |")

    print(
        "\n| L1 logistic, breast cancer (426 x 30) | 5-fold val. log-loss (tight) | test log-loss | fits | time (s) |"
    )
    print("|---|---|---|---|---|")
    for label, loss, test, fits, t in bench_logistic(args.reps):
        print(f"| {label} | {loss:.5f} | {test:.5f} | {fits} | {t:.3f} |")

    print(
        "\n| dataset | alpha | support | fit (s) | forward (s) | backward (s) | backward / fit | jit value+grad (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, a, s, f, fw, b, r, j in bench_backward(args.reps):
        print(f"| {name} | {a:.4g} | {s} | {f:.4f} | {fw:.4f} | {b:.4f} | {r:.2f} | {j:.4f} |")

    print(f"\nfigure: {plot(curves)}")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load after: {load}")


if __name__ == "__main__":
    main()
