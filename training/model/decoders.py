"""Per-source decoders: a per-pixel MLP from an embedding (plus when and which sensor) to the source's bands."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from aef_ee_training.model.timecode import timecode

__all__ = ["SourceDecoder", "META_DIM"]

# Sensor metadata carried with each target frame: sin and cos of its day of year (the video format records no view
# or sun angles; a per-source decoder already knows which sensor it is).
META_DIM = 2


class SourceDecoder(nnx.Module):
    """(B, L, L, E) embedding samples -> (B, L, L, C) normalised band values of one target frame."""

    def __init__(
        self, embedding_dim: int, channels: int, hidden: Sequence[int], timecode_dim: int, *,
        dtype: jnp.dtype, rngs: nnx.Rngs,
    ) -> None:
        self.timecode_dim = timecode_dim
        widths = [embedding_dim + timecode_dim + META_DIM, *hidden]
        self.hidden = nnx.List([nnx.Linear(a, b, dtype=dtype, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        self.out = nnx.Linear(widths[-1], channels, dtype=dtype, rngs=rngs)

    def __call__(self, z: jnp.ndarray, relative_time: jnp.ndarray, meta: jnp.ndarray) -> jnp.ndarray:
        """z (B, L, L, E); relative_time (B,) in [0, 1) of the valid period; meta (B, META_DIM)."""
        # Relative time in [0, 1) is spread over ~one year of timecode periods.
        cond = jnp.concatenate([timecode(relative_time * 365.0, self.timecode_dim), meta], axis=-1)
        cond = jnp.broadcast_to(cond[:, None, None, :], (*z.shape[:3], cond.shape[-1])).astype(z.dtype)
        x = jnp.concatenate([z, cond], axis=-1)
        for layer in self.hidden:
            x = jax.nn.gelu(layer(x))
        return self.out(x)
