"""jaxreg against skglm on one problem of configs/sweeps/glm_cpu.yaml, the two fits alternating
in one process (so both see the same load), after one warm-up each.

    python3 experiments/alternate_glm_peer.py --n 1000 --p 5000 --ratios 0.1 0.01 --reps 7
    python3 experiments/alternate_glm_peer.py --loss gamma --n 10000 --p 1000 --ratios 0.1 --reps 7

Problem: the sweep's counts kind (rho 0.5, 20 active coefficients of scale 0.2, intercept 0.5),
Poisson lasso at alpha_ratio * alpha_max, both to tol 1e-8; prints medians, spreads, their ratio
and the relative objective gap (float64, the sweep's objective64). ``--loss gamma``: the
sweep's Gamma amounts (same truth) with the elastic net (l1_ratio 0.5) instead.
"""

import argparse
import time
import warnings

import numpy as np

import jaxreg
from jaxreg.experiment import baselines as B
from jaxreg.experiment.measure import objective64
from jaxreg.experiment.run_data import CountData
from jaxreg.experiment.specs import PenaltySpec
from jaxreg.experiment.sweep_data import AmountData
from jaxreg.losses import Gamma, Poisson


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--p", type=int, default=5000)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.1, 0.01])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--loss", choices=("poisson", "gamma"), default="poisson")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    truth = dict(n_samples=args.n, n_features=args.p, rho=0.5, n_informative=20, coef_scale=0.2, intercept=0.5)
    gamma = args.loss == "gamma"
    ds = AmountData(distribution="gamma", **truth).make() if gamma else CountData(**truth).make()
    X, y, loss = ds.X, ds.y, Gamma() if gamma else Poisson()
    run = B.BaselineRun(peer="skglm", tol=1e-8, max_iter=1000)
    for ratio in args.ratios:
        kind = dict(kind="elastic_net", l1_ratio=0.5) if gamma else dict(kind="l1")
        pen = PenaltySpec(alpha_ratio=ratio, **kind)
        alpha = pen.resolve_alpha(X, y, loss, True)
        tj, ts = [], []
        for k in range(args.reps + 1):  # the first of each is the warm-up (compilations)
            t0 = time.perf_counter()
            res = jaxreg.fit(X, y, loss=loss, penalty=pen.build(alpha), tol=1e-8)
            t1 = time.perf_counter()
            peer = B.run_peer(run, f"GeneralizedLinearEstimator[{args.loss}]", pen, alpha, X, y, True, loss=loss)
            if k:
                tj.append(t1 - t0)
                ts.append(peer.wall)
        fj = objective64(loss, pen, alpha, X, y, res.coef, res.intercept)
        fs = objective64(loss, pen, alpha, X, y, peer.coef, peer.intercept)
        print(
            f"alpha_max*{ratio:g}: jaxreg {np.median(tj):.4f} s [{min(tj):.4f}, {max(tj):.4f}]  "
            f"skglm {np.median(ts):.4f} s [{min(ts):.4f}, {max(ts):.4f}]  ratio {np.median(tj) / np.median(ts):.2f}  "
            f"rel gap {(fj - fs) / abs(fs):.1e}  nonzeros {np.count_nonzero(res.coef)} {np.count_nonzero(peer.coef)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
