"""Data-parallel placement: the rows of ``X``, ``y`` and the sample weights sharded over
devices (one process or many, after ``jax.distributed.initialize``).

The data live on a 1-D :class:`~jax.sharding.Mesh` with a
:class:`~jax.sharding.NamedSharding` on the sample axis; everything else (coefficients,
hyperparameters) is replicated. The solvers are unchanged: XLA partitions ``X @ w`` by
rows and turns the sums over samples (the datafit, ``X.T @ g``) into all-reduces.

Rows are padded to a multiple of the number of devices with zero rows of sample weight
0. Every loss is the weighted mean ``sum(w * l) / sum(w)``, so a zero-weight row changes
neither the objective nor its gradient; the Lipschitz constant uses ``w / sum(w)`` and the
initial intercept a weighted mean, so they do not change either. The stochastic solvers
are told the real row count (``n_samples``) and draw their batches from the real rows
only: a sharded mini-batch fit sees the batches of the single-device fit.

In a multi-process run every process passes the same global ``X`` (for instance the
same memory-mapped file); each process reads only the rows of its own devices
(:func:`jax.make_array_from_callback`), so a process holds its shard of the rows on its
devices.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxreg.solvers import Data

__all__ = ["AXIS", "resolve_devices", "local_device", "shard_data", "to_numpy"]

AXIS = "samples"


def resolve_devices(devices) -> list:
    """The devices of a data-parallel fit from a count or a list of jax devices.

    ``devices=N`` takes the first ``N`` of :func:`jax.devices` (all processes' devices
    after ``jax.distributed.initialize``).
    """
    available = jax.devices()
    if isinstance(devices, numbers.Integral) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"devices={devices!r} is not allowed; {len(available)} device(s) are available "
                f"(jax.devices()), so devices must be an integer in [1, {len(available)}] or a list of jax devices"
            )
        return list(available[:devices])
    if isinstance(devices, (list, tuple)) and devices and all(isinstance(d, jax.Device) for d in devices):
        if len(set(devices)) != len(devices):
            raise ValueError(f"devices={list(devices)!r} is not allowed; a device appears more than once")
        platforms = {d.platform for d in devices}
        if len(platforms) > 1:
            raise ValueError(f"devices={list(devices)!r} is not allowed; they mix platforms {sorted(platforms)}")
        return list(devices)
    raise ValueError(
        f"devices={devices!r} is not allowed; pass a number of devices (1 to {len(available)}) or a non-empty "
        "list of jax devices (jax.devices())"
    )


def local_device(devices):
    """The first of ``devices`` that this process can address (where small replicated
    values such as the initial coefficients are created)."""
    me = jax.process_index()
    for d in devices:
        if d.process_index == me:
            return d
    raise ValueError(
        f"devices={devices!r} is not allowed; none of them belongs to this process (process {me}), "
        "and every process of a multi-process fit must hold a shard of the rows"
    )


def _rows(a: np.ndarray, sharding, n_padded: int):
    """``a`` (rows first) as a global array of ``n_padded`` rows, zero below ``len(a)``;
    each process builds only the shards of its own devices."""
    n = a.shape[0]

    def shard(index):
        rows = index[0]
        start = rows.start or 0
        stop = n_padded if rows.stop is None else rows.stop
        block = np.zeros((stop - start,) + a.shape[1:], a.dtype)
        real = a[start : min(stop, n)]
        block[: len(real)] = real
        return block[(slice(None),) + tuple(index[1:])]

    return jax.make_array_from_callback((n_padded,) + a.shape[1:], sharding, shard)


def shard_data(X, y, weights, devices) -> Data:
    """``Data`` with rows sharded over ``devices`` and padded with zero-weight rows to a
    multiple of ``len(devices)``."""
    mesh = Mesh(np.asarray(devices, dtype=object), (AXIS,))
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    n_padded = -(-X.shape[0] // len(devices)) * len(devices)
    return Data(*(_rows(a, sharding, n_padded) for a in (X, y, weights)))


def to_numpy(x):
    """A device array as numpy on every process (an all-gather when some of it lives on
    another process's devices)."""
    if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
