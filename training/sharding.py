"""Device mesh and shardings: data parallel over ('data', 'fsdp'), parameters fully sharded over 'fsdp'.

Every batch is split along its leading (site) axis over all devices of the mesh. Each parameter (and its Adam
moments) is split along its largest dimension that the 'fsdp' axis divides, and replicated when none does; XLA
inserts the all-gathers and reduce-scatters (ZeRO-3 / FSDP).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from aef_ee_training.errors import ConfigError

__all__ = ["create_mesh", "batch_sharding", "param_sharding", "replicated", "BATCH_AXES"]

BATCH_AXES = ("data", "fsdp")


def create_mesh(data: int = -1, fsdp: int = 1) -> Mesh:
    """A (data, fsdp) mesh over all devices; one of the sizes may be -1 (the rest)."""
    devices = jax.devices()
    n = len(devices)
    if data == -1 and fsdp == -1:
        raise ConfigError("at most one of mesh.data and mesh.fsdp may be -1")
    if data == -1:
        data = n // fsdp
    if fsdp == -1:
        fsdp = n // data
    if data * fsdp != n:
        raise ConfigError(f"mesh data={data} x fsdp={fsdp} does not use the {n} devices")
    return Mesh(np.asarray(devices).reshape(data, fsdp), BATCH_AXES)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def _spec(shape: tuple[int, ...], fsdp: int) -> P:
    if fsdp == 1 or not shape:
        return P()
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
        if shape[dim] % fsdp == 0:
            axes: list[Any] = [None] * len(shape)
            axes[dim] = "fsdp"
            return P(*axes)
    return P()


def param_sharding(tree: Any, mesh: Mesh) -> Any:
    """A tree of NamedShardings matching ``tree`` (arrays or ShapeDtypeStructs)."""
    fsdp = mesh.shape["fsdp"]
    return jax.tree.map(lambda x: NamedSharding(mesh, _spec(tuple(x.shape), fsdp)), tree)
