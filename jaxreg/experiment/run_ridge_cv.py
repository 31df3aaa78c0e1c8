"""A ``kind: ridge_cv`` model of a ``jaxreg run`` config: :class:`jaxreg.RidgeCV` chooses
``alpha`` by leave-one-out (or K-fold) cross-validation, and the run records the whole
curve it chose from, every alpha's cross-validation score beside its train and test error,
for the ``cv_curve`` plot."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run_ridge_cv", "cv_curve"]


def cv_curve(model, X, y, alphas) -> dict:
    """Every alpha's cross-validation score as :class:`jaxreg.RidgeCV` ranks them (higher is
    better; the one chosen is the first best).

    Leave-one-out (``cv`` None): minus the mean squared leave-one-out error, every alpha from
    the one factorization of the fit (``store_cv_results``). K-fold: the mean R^2 over the
    folds, one ``RidgeCV`` of a single alpha each (K factorizations per alpha).

    Returns
    -------
    dict
        ``score`` (list, one per alpha), ``criterion`` ("neg_mean_squared_error" or "r2")
        and, for leave-one-out, ``loo_rmse`` (the square root of minus the score).
    """
    import jaxreg

    kwargs = {"fit_intercept": model.fit_intercept, "gcv_mode": model.gcv_mode}
    if model.cv is None:
        est = jaxreg.RidgeCV(alphas=alphas, store_cv_results=True, **kwargs).fit(X, y)
        mse = np.mean(est.cv_results_, axis=0)  # (A,): squared leave-one-out errors, averaged
        return {"score": (-mse).tolist(), "criterion": "neg_mean_squared_error", "loo_rmse": np.sqrt(mse).tolist()}
    scores = [jaxreg.RidgeCV(alphas=[a], cv=model.cv, **kwargs).fit(X, y).best_score_ for a in alphas]
    return {"score": [float(s) for s in scores], "criterion": "r2"}


def run_ridge_cv(pf, split, feats, info):
    """Fit ``pf.model`` (a :class:`~jaxreg.experiment.run_config.RidgeCVModel`) on the
    training features; the :class:`~jaxreg.experiment.run.Record` with ``info`` filled in."""
    import jaxreg
    from jaxreg.experiment.run import Record, error_metrics
    from jaxreg.solvers import ridge_spectral as rs

    m = pf.model
    if split.task != "regression" or split.streamed:
        raise ValueError("a ridge_cv model needs regression data in memory")
    transform, Ftr, Fte, names = feats
    Ftr = np.asarray(Ftr.toarray() if hasattr(Ftr, "toarray") else Ftr, np.float64)
    Fte = None if Fte is None else np.asarray(Fte.toarray() if hasattr(Fte, "toarray") else Fte, np.float64)
    y = np.asarray(split.y_train, np.float64)
    if y.ndim != 1:
        raise ValueError("a ridge_cv model fits one target (y is one column)")
    alphas = np.asarray(m.alpha_values(), np.float64)
    n = Ftr.shape[0]
    t0 = time.perf_counter()
    est = jaxreg.RidgeCV(alphas=alphas, cv=m.cv, gcv_mode=m.gcv_mode, fit_intercept=m.fit_intercept).fit(Ftr, y)
    fit_time = time.perf_counter() - t0
    coef, intercept = np.asarray(est.coef_, np.float64), float(est.intercept_)
    curve = cv_curve(m, Ftr, y, alphas)
    # every alpha's solution from one factorization, the model's (gcv_mode: svd stays accurate
    # where the eigenvalues of X^T X are not), for its train and test error beside its score
    Xs, Ys, _, xbar, ybar = rs.scale(Ftr, y[:, None], np.ones(n), m.fit_intercept)
    with rs.blas_threads(*Xs.shape):
        spec = rs.decompose(Xs, rs.choose_mode(*Xs.shape, m.gcv_mode))
        W = rs.coefs(spec, spec.B.T @ Ys, alphas)[:, 0, :]  # (p, A)
    b = ybar[0] - xbar @ W
    curve["alphas"] = alphas.tolist()
    for prefix, F, target in (("train", Ftr, y), ("test", Fte, split.y_test)):
        if F is not None:
            resid = np.asarray(target, np.float64)[:, None] - (F @ W + b)
            curve[f"{prefix}_rmse"] = np.sqrt(np.mean(resid**2, axis=0)).tolist()
    l2 = est.alpha_ / n
    objective = 0.5 * np.mean((y - Ftr @ coef - intercept) ** 2) + 0.5 * l2 * float(coef @ coef)
    info.update(
        loss="squared",
        penalty="l2",
        alpha=l2,
        ridge_alpha=float(est.alpha_),
        best_score=float(est.best_score_),
        cv="leave-one-out" if m.cv is None else f"{m.cv}-fold",
        solver="ridge_cv",
        status="converged",
        converged=True,
        n_iter=1,
        objective=float(objective),
        criterion="exact",
        nonzeros=int(np.count_nonzero(coef)),
        n_features=int(coef.size),
        fit_time=fit_time,
        compile_time=0.0,
        cv_curve=curve,
    )
    info.update(error_metrics("squared", coef, intercept, Ftr, y, None, "train"))
    info.update(error_metrics("squared", coef, intercept, Fte, split.y_test, None, "test"))

    def predict(X):
        return np.asarray(transform(X), np.float64) @ coef + intercept

    return Record(pf, info, coef, intercept, None, predict, names=names)
