"""The ``data:`` section of an experiment config for .npy files (``kind: npy``).

``jaxreg run`` validates the section with :class:`NpyDataSpec` and calls
:meth:`NpyDataSpec.load`: with ``stream: true`` it gets a
:class:`jaxreg.streaming.NpyDataset` (to fit with solver gd, minibatch or sgd; there is
no train/test split or feature transform of streamed data), otherwise the arrays.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt

from jaxreg.streaming import NpyDataset

__all__ = ["NpyDataSpec"]


class NpyDataSpec(BaseModel):
    """The ``data:`` section of an experiment config for .npy files.

    ``{kind: npy, x: X.npy or folder, y: y.npy or folder, sample_weight: optional,
    stream: false}``; with ``stream: true`` :meth:`load` gives an :class:`NpyDataset`
    (fit it with solver gd, minibatch or sgd), otherwise the arrays in memory.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["npy"] = "npy"
    x: str
    y: str
    sample_weight: str | None = None
    stream: bool = False
    block_rows: PositiveInt | None = None
    prefetch: PositiveInt = 2

    def load(self):
        """An :class:`NpyDataset` (``stream: true``) or ``(X, y, sample_weight)`` arrays."""
        ds = NpyDataset(self.x, self.y, self.sample_weight, block_rows=self.block_rows, prefetch=self.prefetch)
        if self.stream:
            return ds
        try:
            return ds.load()
        finally:
            ds.close()
