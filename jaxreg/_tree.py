"""Frozen dataclass pytrees (the equinox habit, without the dependency).

Array-valued fields are pytree leaves (traced under ``jit``, so a new value never
recompiles); fields listed in ``static`` are part of the tree structure (a new value
recompiles, which is what we want for structural settings such as ``p`` in ``Lp``).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np


def pytree_dataclass(cls=None, *, static: tuple[str, ...] = ()):
    """Make ``cls`` a frozen dataclass registered as a JAX pytree."""
    import jax

    def wrap(c):
        c = dataclasses.dataclass(frozen=True)(c)
        names = [f.name for f in dataclasses.fields(c)]
        data = [n for n in names if n not in static]
        return jax.tree_util.register_dataclass(c, data_fields=data, meta_fields=list(static))

    return wrap if cls is None else wrap(cls)


def is_concrete(x) -> bool:
    """True for values we can check in Python (not tracers or tree placeholders)."""
    return isinstance(x, (numbers.Number, np.ndarray, np.generic)) and not isinstance(x, bool)
