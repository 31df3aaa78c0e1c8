"""Data sections that ``jaxreg run`` takes besides the synthetic generators of
:mod:`jaxreg.experiment.data`: scikit-learn's bundled data sets, files (CSV with a target
column, ``.npz``, svmlight/libsvm, ``.npy`` in memory or streamed) and the straight line of
the Bayesian sequential-learning example.

Every spec validates with pydantic (unknown keys forbidden) and builds a
:class:`jaxreg.experiment.data.Dataset` with :func:`load_data`; file paths are checked by
:func:`check_paths` before anything runs, so a missing file is one line naming the key.
"""

from __future__ import annotations

import csv
from array import array
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from jaxreg.datasets import BUILTIN
from jaxreg.errors import UsageError
from jaxreg.experiment.config import MAX_COUNT, MAX_SEED, StrictModel, did_you_mean
from jaxreg.experiment.data import ClassificationData, Dataset, LinearData, SinusoidalData, make_data
from jaxreg.experiment.npy_data import NpyDataSpec

__all__ = [
    "BuiltinData",
    "LineData",
    "CountData",
    "CsvData",
    "NpzData",
    "SvmlightData",
    "RunDataSpec",
    "check_paths",
    "load_data",
]


class BuiltinData(StrictModel):
    """One of scikit-learn's bundled data sets (no download): :func:`jaxreg.datasets.load_builtin`."""

    kind: Literal["builtin"] = "builtin"
    name: Literal[tuple(BUILTIN)]  # type: ignore[valid-type]


class LineData(StrictModel):
    """``y = intercept + slope * x + N(0, noise^2)``, ``x`` uniform on ``[low, high]``: the
    straight line of Bishop's sequential Bayesian learning figure (PRML, fig. 3.7)."""

    kind: Literal["line"] = "line"
    n_samples: int = Field(20, ge=1, le=MAX_COUNT)
    intercept: float = -0.3
    slope: float = 0.5
    noise: float = Field(0.2, ge=0.0)
    low: float = -1.0
    high: float = 1.0
    seed: int = Field(0, ge=0, le=MAX_SEED)


class CountData(StrictModel):
    """Counts ``y ~ Poisson(exposure * exp(intercept + X w))``: the correlated Gaussian design
    and sparse truth of the ``linear`` kind (``corr(x_i, x_j) = rho^|i-j|``, ``n_informative``
    standard normal coefficients times ``coef_scale``). With ``log_exposure_spread`` > 0 each
    sample has an exposure (time at risk) with ``log(exposure)`` uniform on ``[-spread,
    spread]``. ``exposure: offset`` gives ``log(exposure)`` as the data's offset (every
    model's linear predictor is ``X w + b + log(exposure)``: a model of the rate);
    ``exposure: feature`` appends it as the last column instead, a feature whose true
    coefficient is 1."""

    kind: Literal["counts"] = "counts"
    n_samples: int = Field(500, ge=1, le=MAX_COUNT)
    n_features: int = Field(20, ge=1, le=MAX_COUNT)
    rho: float = Field(0.3, ge=0.0, lt=1.0, description="column correlation")
    n_informative: int = Field(5, ge=0, le=MAX_COUNT, description="nonzero true coefficients")
    coef_scale: float = Field(0.5, gt=0.0, description="the true coefficients' scale (log-rate units)")
    intercept: float = 0.0
    log_exposure_spread: float = Field(0.0, ge=0.0, description="log(exposure) uniform on [-spread, spread]")
    exposure: Literal["offset", "feature"] = Field(
        "feature", description="log(exposure) as the models' offset or as the last feature"
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _informative_fits(self):
        if self.n_informative > self.n_features:
            raise ValueError(f"n_informative={self.n_informative} must be <= n_features={self.n_features}")
        return self

    def linear_predictor(self, rng, dtype=np.float64):
        """``(X, w, eta, offset)``: the design, the true coefficients (with the exposure's,
        1, when it is a feature), the true linear predictor ``intercept + X w`` (with
        ``log(exposure)``) and the offset (None unless ``exposure: offset``); exposures are
        drawn from ``rng``. Shared by every target drawn around a log-linear truth."""
        from jaxreg.datasets import make_correlated_regression

        X, _, w = make_correlated_regression(
            self.n_samples, self.n_features, rho=self.rho, n_informative=self.n_informative, seed=self.seed
        )
        w = self.coef_scale * w
        eta = self.intercept + X @ w
        offset = None
        if self.log_exposure_spread > 0:
            log_exposure = rng.uniform(-self.log_exposure_spread, self.log_exposure_spread, self.n_samples)
            eta = eta + log_exposure
            if self.exposure == "offset":
                offset = log_exposure.astype(dtype)
            else:
                X, w = np.column_stack([X, log_exposure]), np.append(w, 1.0)
        return X.astype(dtype), w, eta, offset

    def make(self, dtype=np.float64) -> Dataset:
        """The arrays (deterministic given ``seed``)."""
        rng = np.random.default_rng([self.seed, 1])
        X, w, eta, offset = self.linear_predictor(rng, dtype)
        y = rng.poisson(np.exp(eta)).astype(dtype)
        return Dataset(X, y, "regression", w, offset=offset)


class CsvData(StrictModel):
    """A CSV file with a header row; ``target`` names the column to predict, the other
    columns (or those in ``features``) are the inputs. Cells must be numbers, except that a
    classification target may hold any labels."""

    kind: Literal["csv"] = "csv"
    path: str
    target: str
    features: list[str] | None = None
    delimiter: str = Field(",", min_length=1, max_length=1)
    task: Literal["regression", "classification"] = "regression"


class NpzData(StrictModel):
    """A ``.npz`` archive holding the inputs and the targets under ``x_key`` and ``y_key``."""

    kind: Literal["npz"] = "npz"
    path: str
    x_key: str = "X"
    y_key: str = "y"
    task: Literal["regression", "classification"] = "regression"


class SvmlightData(StrictModel):
    """An svmlight/libsvm text file, read by scikit-learn as a scipy.sparse matrix."""

    kind: Literal["svmlight"] = "svmlight"
    path: str
    n_features: int | None = Field(None, ge=1, le=MAX_COUNT)
    task: Literal["regression", "classification"] = "regression"


RunDataSpec = Annotated[
    LinearData
    | ClassificationData
    | SinusoidalData
    | LineData
    | CountData
    | BuiltinData
    | CsvData
    | NpzData
    | SvmlightData
    | NpyDataSpec,
    Field(discriminator="kind"),
]


def _path_fields(spec) -> dict[str, str]:
    if isinstance(spec, NpyDataSpec):
        return {k: getattr(spec, k) for k in ("x", "y", "sample_weight") if getattr(spec, k)}
    return {"path": spec.path} if hasattr(spec, "path") else {}


def check_paths(spec, base: Path, source: str, key: str = "data"):
    """The spec with its file paths made absolute; a relative path is looked up in the
    current folder, then beside the config file.

    Raises
    ------
    UsageError
        ``source: data.path = 'x.csv': file not found (looked in ...)``.
    """
    resolved = {}
    for field, value in _path_fields(spec).items():
        tries = [Path(value)] if Path(value).is_absolute() else [Path(value), base / value]
        found = next((p for p in tries if p.exists()), None)
        if found is None:
            where = " and ".join(str(p.parent.resolve()) for p in tries)
            raise UsageError(f"{source}: {key}.{field} = {value!r}: file not found (looked in {where})")
        _check_kind(found, folder_ok=isinstance(spec, NpyDataSpec), where=f"{source}: {key}.{field} = {value!r}")
        resolved[field] = str(found.resolve())
    return spec.model_copy(update=resolved) if resolved else spec


def _check_kind(path: Path, folder_ok: bool, where: str):
    """A data path must be a regular, non-empty file (npy: or a folder of shards); a FIFO
    or a device (``/dev/zero``) would be read without end."""
    if path.is_dir():
        if not folder_ok:
            raise UsageError(f"{where}: {path} is a folder; give a file")
        return
    if not path.is_file():
        raise UsageError(f"{where}: {path} is not a regular file (a FIFO or a device?); give a file")
    if path.stat().st_size == 0:
        raise UsageError(f"{where}: {path} is empty (0 bytes)")


def _read_csv(spec: CsvData) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The feature columns as floats, the target column and the feature names, read one
    row at a time: memory grows by 8 bytes a feature cell, never by a Python object each,
    and a row is at most ``csv.field_size_limit()`` characters a cell."""
    where = f"data.path = {spec.path!r}"
    try:
        with open(spec.path, newline="") as f:
            reader = csv.reader(f, delimiter=spec.delimiter)
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise UsageError(f"{where}: the CSV file is empty; it needs a header row")
            names, cols, t = _csv_columns(spec, header)
            values, targets = array("d"), []
            for r in reader:
                if not any(c.strip() for c in r):
                    continue
                try:
                    values.extend(float(r[j]) for j in cols)
                except (ValueError, IndexError) as exc:
                    raise UsageError(
                        f"{where}: line {reader.line_num}: a feature cell is not a number ({exc})"
                    ) from None
                if t >= len(r):
                    raise UsageError(f"{where}: line {reader.line_num} has no {spec.target!r} cell")
                targets.append(r[t].strip())
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start}); give a CSV file") from None
    except csv.Error as exc:
        raise UsageError(f"{where}: not a CSV file this reader takes ({exc})") from None
    X = np.frombuffer(values, dtype=np.float64).reshape(len(targets), len(cols))
    y = np.array(targets)
    if spec.task == "regression":
        try:
            y = y.astype(np.float64)
        except ValueError:
            raise UsageError(
                f"data.target = {spec.target!r} holds non-numbers; set data.task: classification for labels"
            ) from None
    return X, y, names


def _csv_columns(spec, header):
    if spec.target not in header:
        raise UsageError(
            f"data.target = {spec.target!r} is not a column of {spec.path}; columns: {', '.join(header)}"
            f"{did_you_mean(spec.target, header)}"
        )
    names = spec.features or [h for h in header if h != spec.target]
    for name in names:
        if name not in header:
            raise UsageError(f"data.features: {name!r} is not a column of {spec.path}{did_you_mean(name, header)}")
    return names, [header.index(n) for n in names], header.index(spec.target)


def _read_npz(spec: NpzData):
    import zipfile

    try:
        with np.load(spec.path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise UsageError(f"data.path = {spec.path!r} holds one array, not an .npz archive; use kind: npy")
            for key in (spec.x_key, spec.y_key):
                if key not in z.files:
                    raise UsageError(f"data: {spec.path} has no array {key!r}; arrays: {', '.join(z.files)}")
            return np.asarray(z[spec.x_key]), np.asarray(z[spec.y_key])
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        why = " ".join(str(exc).split())
        if "pickle" in why:
            why = "it holds object arrays (or is not an .npz file), which are read only with pickle, never here"
        raise UsageError(f"data.path = {spec.path!r}: not a readable .npz archive: {why}") from None


def load_data(spec, dtype=np.float64):
    """Arrays for a data spec: a :class:`Dataset`, or a :class:`jaxreg.streaming.NpyDataset`
    for ``{kind: npy, stream: true}`` (fitted as it is, with no split or features)."""
    if isinstance(spec, (LinearData, ClassificationData, SinusoidalData)):
        return make_data(spec, dtype)
    if isinstance(spec, LineData):
        rng = np.random.default_rng(spec.seed)
        x = rng.uniform(spec.low, spec.high, spec.n_samples)
        y = spec.intercept + spec.slope * x + spec.noise * rng.standard_normal(spec.n_samples)
        return Dataset(x[:, None].astype(dtype), y.astype(dtype), "regression", np.array([spec.intercept, spec.slope]))
    if isinstance(spec, CountData):
        return spec.make(dtype)
    if isinstance(spec, BuiltinData):
        import sklearn.datasets

        loader, task = BUILTIN[spec.name]
        bunch = getattr(sklearn.datasets, loader)()
        X, y = np.asarray(bunch.data, dtype), np.asarray(bunch.target)
        names = tuple(str(n) for n in bunch.get("feature_names", ())) or None
        return Dataset(X, y.astype(dtype) if task == "regression" else y, task, feature_names=names)
    if isinstance(spec, NpyDataSpec):
        try:
            loaded = spec.load()
        except (ValueError, OSError, EOFError) as exc:
            files = ", ".join(f"{k}={v!r}" for k, v in _path_fields(spec).items())
            raise UsageError(f"data ({files}): not readable npy data: {' '.join(str(exc).split())}") from None
        if spec.stream:
            return loaded
        X, y, _ = loaded
        return Dataset(np.asarray(X, dtype), np.asarray(y, dtype), "regression")
    names = None
    if isinstance(spec, CsvData):
        X, y, names = _read_csv(spec)
    elif isinstance(spec, NpzData):
        X, y = _read_npz(spec)
        if X.dtype.kind not in "biuf":
            raise UsageError(f"data: {spec.path}: array {spec.x_key!r} has dtype {X.dtype}; it must be numeric")
    else:
        from sklearn.datasets import load_svmlight_file

        try:
            X, y = load_svmlight_file(spec.path, n_features=spec.n_features, dtype=np.float64)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"data.path = {spec.path!r}: not a readable svmlight file: {exc}") from None
    X = X.astype(dtype)
    if spec.task == "regression":
        y = np.asarray(y, dtype)
    return Dataset(X, y, spec.task, feature_names=None if names is None else tuple(names))
