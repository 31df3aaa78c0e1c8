"""The fits of a ``jaxreg run`` config's other model kinds, on the training features:

* ``ridge_cv``: :class:`jaxreg.RidgeCV` chooses ``alpha`` by leave-one-out (or K-fold)
  cross-validation; the run records the whole curve it chose from, every alpha's
  cross-validation score beside its train and test error (the ``cv_curve`` plot).
* ``tuning``: a lasso's ``alpha`` (and per-feature penalty weights) tuned by gradient on the
  K-fold validation error (:class:`jaxreg.LassoHO`), recorded with the path the tuning took
  and, when the config asks, the grid search it stands in for (:class:`jaxreg.LassoCV` on
  the same folds; the ``validation_path`` plot).

Each runner fills in the fit's ``info`` (metrics.json) and returns the rest of its record
(:class:`jaxreg.experiment.run.Record`'s ``coef``, ``intercept``, ``predict``, ``names``);
:data:`RUNNERS` maps a kind to its runner.
"""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["RUNNERS", "run_ridge_cv", "run_tuning", "cv_curve"]


def _dense(F):
    return None if F is None else np.asarray(F.toarray() if hasattr(F, "toarray") else F, np.float64)


def _regression_data(kind, split, feats):
    """``(transform, F_train, F_test, names, y)`` of one-target regression data in memory."""
    if split.task != "regression" or split.streamed:
        raise ValueError(f"a {kind} model needs regression data in memory")
    if getattr(split, "offset_train", None) is not None:
        raise ValueError(f"a {kind} model takes no offset, and the data has one")
    transform, Ftr, Fte, names = feats
    y = np.asarray(split.y_train, np.float64)
    if y.ndim != 1:
        raise ValueError(f"a {kind} model fits one target (y is one column)")
    return transform, _dense(Ftr), _dense(Fte), names, y


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def squared_metrics(coef, intercept, F, y, prefix) -> dict:
    """``{prefix}_mse`` and ``{prefix}_rmse`` of the linear predictions (none without ``F``)."""
    if F is None:
        return {}
    mse = float(np.mean((np.asarray(y, np.float64) - (F @ coef + intercept)) ** 2))
    return {f"{prefix}_mse": _finite(mse), f"{prefix}_rmse": _finite(math.sqrt(mse))}


def _fields(coef, intercept, transform, names, info, Ftr, y, Fte, y_test) -> dict:
    """The train/test metrics into ``info``; the record's other fields."""
    info.update(squared_metrics(coef, intercept, Ftr, y, "train"))
    info.update(squared_metrics(coef, intercept, Fte, y_test, "test"))

    def predict(X):
        return np.asarray(transform(X), np.float64) @ coef + intercept

    return {"coef": coef, "intercept": intercept, "predict": predict, "names": names}


# ----------------------------------------------------------------------------- ridge_cv


def cv_curve(model, X, y, alphas):
    """The fitted :class:`jaxreg.RidgeCV` of ``model`` and every alpha's cross-validation
    score as it ranks them (higher is better; the one chosen is the first best).

    Leave-one-out (``cv`` None): minus the mean squared leave-one-out error, every alpha from
    the fit's one factorization (``store_cv_results``). K-fold: the mean R^2 over the folds,
    one ``RidgeCV`` of a single alpha each (K factorizations per alpha).

    Returns
    -------
    est : jaxreg.RidgeCV
    curve : dict
        ``score`` (list, one per alpha), ``criterion`` ("neg_mean_squared_error" or "r2")
        and, for leave-one-out, ``loo_rmse`` (the square root of minus the score).
    """
    import jaxreg

    kwargs = {"fit_intercept": model.fit_intercept, "gcv_mode": model.gcv_mode}
    if model.cv is None:
        est = jaxreg.RidgeCV(alphas=alphas, store_cv_results=True, **kwargs).fit(X, y)
        mse = np.mean(est.cv_results_, axis=0)  # (A,): squared leave-one-out errors, averaged
        return est, {"score": (-mse).tolist(), "criterion": "neg_mean_squared_error", "loo_rmse": np.sqrt(mse).tolist()}
    est = jaxreg.RidgeCV(alphas=alphas, cv=model.cv, **kwargs).fit(X, y)
    scores = [jaxreg.RidgeCV(alphas=[a], cv=model.cv, **kwargs).fit(X, y).best_score_ for a in alphas]
    return est, {"score": [float(s) for s in scores], "criterion": "r2"}


def run_ridge_cv(pf, split, feats, info) -> dict:
    """Fit ``pf.model`` (a :class:`~jaxreg.experiment.run_models.RidgeCVModel`); ``info``
    filled in, the record's other fields returned."""
    from jaxreg.solvers import ridge_spectral as rs

    m = pf.model
    transform, Ftr, Fte, names, y = _regression_data("ridge_cv", split, feats)
    alphas = np.asarray(m.alpha_values(), np.float64)
    n = Ftr.shape[0]
    t0 = time.perf_counter()
    est, curve = cv_curve(m, Ftr, y, alphas)
    fit_time = time.perf_counter() - t0  # with K-fold, the per-alpha curve's fits too
    coef, intercept = np.asarray(est.coef_, np.float64), float(est.intercept_)
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
    return _fields(coef, intercept, transform, names, info, Ftr, y, Fte, split.y_test)


# ----------------------------------------------------------------------------- tuning


def _grid_search(m, Ftr, y, Fte, y_test) -> dict:
    """LassoCV over ``m.grid`` alphas on ``m.cv`` unshuffled folds (tune's folds)."""
    import jaxreg

    t0 = time.perf_counter()
    est = jaxreg.LassoCV(alphas=m.grid, cv=m.cv, fit_intercept=m.fit_intercept).fit(Ftr, y)
    seconds = time.perf_counter() - t0
    return {
        "alphas": np.asarray(est.alphas_).tolist(),
        "cv_mse": np.mean(est.mse_path_, axis=1).tolist(),
        "alpha": float(est.alpha_),
        "cv_mse_best": float(np.min(np.mean(est.mse_path_, axis=1))),
        "n_fits": m.grid * m.cv + 1,  # every alpha on every fold, and the refit
        "nonzeros": int(np.count_nonzero(est.coef_)),
        **squared_metrics(est.coef_, est.intercept_, Ftr, y, "train"),
        **squared_metrics(est.coef_, est.intercept_, Fte, y_test, "test"),
        "seconds": seconds,
    }


def run_tuning(pf, split, feats, info) -> dict:
    """Tune and refit ``pf.model`` (a :class:`~jaxreg.experiment.run_models.TuningModel`);
    ``info`` filled in, the record's other fields returned."""
    import jaxreg

    m = pf.model
    transform, Ftr, Fte, names, y = _regression_data("tuning", split, feats)
    est = jaxreg.LassoHO(
        cv=m.cv,
        n_steps=m.n_steps,
        alpha_init=m.alpha_init,
        n_grid=m.n_grid,
        weighted=m.weighted,
        learning_rate=m.learning_rate,
        fit_intercept=m.fit_intercept,
        tol=m.tol,
    )
    t0 = time.perf_counter()
    est.fit(Ftr, y)
    fit_time = time.perf_counter() - t0
    coef, intercept = np.asarray(est.coef_, np.float64), float(est.intercept_)
    weights = np.ones(coef.size) if est.weights_ is None else np.asarray(est.weights_)
    objective = 0.5 * np.mean((y - Ftr @ coef - intercept) ** 2) + est.alpha_ * float(weights @ np.abs(coef))
    info.update(
        loss="squared",
        penalty="weighted_l1" if m.weighted else "l1",
        alpha=float(est.alpha_),
        solver="tuning (LassoHO)",
        status="converged",
        converged=True,
        n_iter=int(len(est.history_)),
        n_fits=int(est.n_fits_),
        objective=float(objective),
        criterion="exact",
        nonzeros=int(np.count_nonzero(coef)),
        n_features=int(coef.size),
        fit_time=fit_time,
        compile_time=0.0,  # inside fit_time: the fold steps compile on the first call
        cv_mse=float(est.history_[est.best_step_]),
        tuning_path={
            "alphas": np.asarray(est.alpha_path_).tolist(),
            "cv_mse": np.asarray(est.history_).tolist(),
            "n_start": 1 if m.alpha_init is not None else max(m.n_grid, 1),  # points before the steps
            "best_step": int(est.best_step_),
        },
    )
    if m.weighted:
        info["weights"] = weights.tolist()
    if m.grid:
        info["grid_search"] = _grid_search(m, Ftr, y, Fte, split.y_test)
    return _fields(coef, intercept, transform, names, info, Ftr, y, Fte, split.y_test)


RUNNERS = {"ridge_cv": run_ridge_cv, "tuning": run_tuning}
