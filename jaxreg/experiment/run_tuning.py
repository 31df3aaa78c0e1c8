"""A ``kind: tuning`` model of a ``jaxreg run`` config: a lasso's ``alpha`` (and per-feature
penalty weights) tuned by gradient on the K-fold validation error (:class:`jaxreg.LassoHO`),
recorded with the path the tuning took and, when the config asks, the grid search it stands
in for (:class:`jaxreg.LassoCV` on the same folds), for the ``validation_path`` plot."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run_tuning"]


def _dense(F):
    return None if F is None else np.asarray(F.toarray() if hasattr(F, "toarray") else F, np.float64)


def _rmse(est, F, y):
    return None if F is None else float(np.sqrt(np.mean((est.predict(F) - np.asarray(y, np.float64)) ** 2)))


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
        "train_rmse": _rmse(est, Ftr, y),
        "test_rmse": _rmse(est, Fte, y_test),
        "seconds": seconds,
    }


def run_tuning(pf, split, feats, info):
    """Tune and refit ``pf.model`` (a :class:`~jaxreg.experiment.run_config.TuningModel`) on
    the training features; the :class:`~jaxreg.experiment.run.Record` with ``info`` filled in."""
    import jaxreg
    from jaxreg.experiment.run import Record, error_metrics

    m = pf.model
    if split.task != "regression" or split.streamed:
        raise ValueError("a tuning model needs regression data in memory (it tunes a lasso)")
    if getattr(split, "offset_train", None) is not None:
        raise ValueError("a tuning model takes no offset, and the data has one")
    transform, Ftr, Fte, names = feats
    Ftr, Fte = _dense(Ftr), _dense(Fte)
    y = np.asarray(split.y_train, np.float64)
    if y.ndim != 1:
        raise ValueError("a tuning model fits one target (y is one column)")
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
    info.update(error_metrics("squared", coef, intercept, Ftr, y, None, "train"))
    info.update(error_metrics("squared", coef, intercept, Fte, split.y_test, None, "test"))
    if m.grid:
        info["grid_search"] = _grid_search(m, Ftr, y, Fte, split.y_test)

    def predict(X):
        return np.asarray(transform(X), np.float64) @ coef + intercept

    return Record(pf, info, coef, intercept, None, predict, names=names)
