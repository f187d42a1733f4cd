"""Summary: pool the video over time with a query built from the valid period, upsample L/2 -> L bilinearly, and
add the full-resolution per-pixel path (``pixel.py``) through its own linear map to the head.

No depth-to-space: a learned 2 x 2 sub-pixel upsampler starts with most of the field's variance in the 2-pixel phase
pattern and training never removed it (issue 13: period-2 energy 0.08 with it, 0.0002 with bilinear).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from aef_ee_training.model.attention import MultiHeadAttention
from aef_ee_training.model.stp import resample, upsample_bilinear
from aef_ee_training.model.timecode import timecode

__all__ = ["Summary"]

UPSAMPLE = 2  # L/2 -> L, bilinear


class Summary(nnx.Module):
    """Video streams -> (B, L, L, E) unnormalised embedding field for the valid period [0, period_days).

    A learned null key (always valid) lets a pixel with no valid frame fall back to a learned value instead of a
    division by zero.
    """

    def __init__(
        self,
        *,
        precision_width: int,
        time_width: int,
        space_width: int,
        num_heads: int,
        timecode_dim: int,
        embedding_dim: int,
        pixel_width: int = 0,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        width = precision_width
        self.timecode_dim = timecode_dim
        self.norms = nnx.List([nnx.LayerNorm(w, dtype=dtype, rngs=rngs) for w in (width, time_width, space_width)])
        self.from_time = nnx.Linear(time_width, width, dtype=dtype, rngs=rngs)
        self.from_space = nnx.Linear(space_width, width, dtype=dtype, rngs=rngs)
        self.key_time = nnx.Linear(timecode_dim, width, dtype=dtype, rngs=rngs)
        self.query = nnx.Sequential(
            nnx.Linear(2 * timecode_dim, width, dtype=dtype, rngs=rngs),
            jax.nn.gelu,
            nnx.Linear(width, width, dtype=dtype, rngs=rngs),
        )
        self.null = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (width,)))
        self.pool = MultiHeadAttention(width, num_heads, dtype=dtype, rngs=rngs)
        self.refine = nnx.Conv(width, width, (3, 3), dtype=dtype, rngs=rngs)
        self.head_norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.head = nnx.Linear(width, embedding_dim, dtype=dtype, rngs=rngs)
        # The per-pixel path's own route to the embedding (0: no per-pixel path).
        self.pixel_head = nnx.Linear(pixel_width, embedding_dim, dtype=dtype, rngs=rngs) if pixel_width else None

    def __call__(
        self,
        streams: tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray],
        days: jnp.ndarray,
        frame_mask: jnp.ndarray,
        period_days: jnp.ndarray,
        pixel: jnp.ndarray | None = None,
    ) -> jnp.ndarray:
        """days, frame_mask (B, T); period_days (B,); pixel (B, L, L, pixel_width) the per-pixel path's features.
        Returns (B, L, L, E) in the model dtype."""
        p, t, s = streams
        size = p.shape[2]
        x = (
            self.norms[0](p)
            + resample(self.from_time(self.norms[1](t)), size)
            + resample(self.from_space(self.norms[2](s)), size)
        )  # (B, T, L/2, L/2, D)
        b, n = x.shape[:2]
        keys = x + self.key_time(timecode(days, self.timecode_dim))[:, :, None, None, :]
        keys = jnp.moveaxis(keys, 1, 3)  # (B, h, w, T, D)
        null = jnp.broadcast_to(self.null[...].astype(keys.dtype), (*keys.shape[:3], 1, keys.shape[-1]))
        keys = jnp.concatenate([null, keys], axis=3)
        mask = jnp.concatenate([jnp.ones((b, 1), bool), frame_mask], axis=1)[:, None, None, :]
        period = jnp.concatenate(
            [timecode(jnp.zeros_like(period_days), self.timecode_dim), timecode(period_days, self.timecode_dim)],
            axis=-1,
        )
        query = self.query(period.astype(x.dtype))[:, None, None, None, :]  # (B, 1, 1, 1, D)
        query = jnp.broadcast_to(query, (b, size, size, 1, query.shape[-1]))
        pooled = self.pool(query, keys, mask)[:, :, :, 0, :]  # (B, L/2, L/2, D)
        up = upsample_bilinear(pooled, size * UPSAMPLE)
        up = up + self.refine(jax.nn.gelu(up))
        out = self.head(self.head_norm(up))
        if self.pixel_head is not None:
            if pixel is None:
                raise ValueError("this summary has a per-pixel route; pass the per-pixel path's features")
            out = out + self.pixel_head(pixel)
        return out
