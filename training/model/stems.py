"""Per-source stems: each source's frames -> a shared width at half resolution, tagged with source and timecode."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from aef_ee_training.model.timecode import timecode

__all__ = ["SourceStem"]

STEM_STRIDE = 2  # the paper's stems downsample L -> L/2


class SourceStem(nnx.Module):
    """Projects one source's frames to the precision width on the L/2 grid.

    The validity mask is an extra input channel (invalid pixels are zero in ``frames``), so the network can tell a
    zero reflectance from a missing one.
    """

    def __init__(self, channels: int, width: int, timecode_dim: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        self.timecode_dim = timecode_dim
        self.patchify = nnx.Conv(
            channels + 1, width, (STEM_STRIDE, STEM_STRIDE), strides=STEM_STRIDE, padding="VALID",
            dtype=dtype, rngs=rngs,
        )
        self.time_proj = nnx.Linear(timecode_dim, width, dtype=dtype, rngs=rngs)
        self.source_embedding = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (width,)))

    def __call__(self, frames: jnp.ndarray, pixel_mask: jnp.ndarray, days: jnp.ndarray) -> jnp.ndarray:
        """frames (B, T, L, L, C) normalised; pixel_mask (B, T, L, L) bool; days (B, T). Returns (B, T, L/2, L/2, W)."""
        b, t, h, w, _ = frames.shape
        x = jnp.concatenate([frames * pixel_mask[..., None], pixel_mask[..., None].astype(frames.dtype)], axis=-1)
        x = self.patchify(x.reshape(b * t, h, w, -1))
        x = x.reshape(b, t, *x.shape[1:])
        tc = self.time_proj(timecode(days, self.timecode_dim))  # (B, T, W)
        return x + (tc + self.source_embedding[...])[:, :, None, None, :]
