"""The full-resolution per-pixel path: each pixel's own time series -> a feature vector routed straight to the head.

The STP streams live on the L/2 grid and narrower, so without this path the field is a smooth upsampling of L/2
features and its rank is bounded by the precision width (16 for ``tiny``: the head maps it to 64). Here every input
frame of every pixel is embedded at full resolution (a linear map of its bands and validity, the source's vector and
the frame's timecode, then a per-frame MLP) and pooled over time by attention with a query built from the valid
period, as the summary does; invalid pixels and padded frames are masked out of the keys, and a learned always-valid
null key keeps a pixel with no observation finite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from aef_ee_training.model.attention import MASKED_LOGIT
from aef_ee_training.model.timecode import timecode

__all__ = ["PixelPath"]


class PixelPath(nnx.Module):
    """Per-pixel temporal encoder: inputs of every source -> (B, L, L, width).

    Cost is kept per pixel rather than per pixel and frame (the path runs at full resolution on every frame, where a
    per-frame MLP and key/value projections made ``tiny``'s step 5x slower): each frame is one linear map and a GELU;
    the attention's key projection is folded into the query (``q . Wk x = (Wk^T q) . x``) and its value projection
    applied after pooling (the weights of each head sum to one), so both run once per pixel.
    """

    def __init__(
        self,
        channels: Mapping[str, int],
        sources: Sequence[str],
        *,
        width: int,
        num_heads: int,
        timecode_dim: int,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        if width % num_heads:
            raise ValueError(f"pixel width {width} is not divisible by {num_heads} heads")
        self.sources = tuple(sources)
        self.timecode_dim = timecode_dim
        self.num_heads = num_heads
        self.dtype = dtype
        self.embed = nnx.Dict({s: nnx.Linear(channels[s] + 1, width, dtype=dtype, rngs=rngs) for s in self.sources})
        self.time_proj = nnx.Linear(timecode_dim, width, dtype=dtype, rngs=rngs)
        self.query = nnx.Linear(2 * timecode_dim, width, dtype=dtype, rngs=rngs)
        self.key = nnx.Linear(width, width, use_bias=False, dtype=dtype, rngs=rngs)
        self.value = nnx.Linear(width, width, dtype=dtype, rngs=rngs)
        self.null = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (width,)))
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.up = nnx.Linear(width, 2 * width, dtype=dtype, rngs=rngs)
        self.down = nnx.Linear(2 * width, width, dtype=dtype, rngs=rngs)
        self.out_norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)

    def __call__(self, inputs: Mapping[str, Mapping[str, jnp.ndarray]], period_days: jnp.ndarray) -> jnp.ndarray:
        """inputs[s]: frames (B, T_s, L, L, C_s), pixel_mask (B, T_s, L, L), frame_mask (B, T_s), days (B, T_s);
        period_days (B,). Returns (B, L, L, width)."""
        tokens, masks = [], []
        for s in self.sources:
            src = inputs[s]
            valid = src["pixel_mask"] & src["frame_mask"][:, :, None, None]
            frames = src["frames"].astype(self.dtype)
            x = jnp.concatenate([frames * valid[..., None], valid[..., None].astype(self.dtype)], axis=-1)
            tc = self.time_proj(timecode(src["days"].astype(jnp.float32), self.timecode_dim))
            tokens.append(jax.nn.gelu(self.embed[s](x) + tc[:, :, None, None, :]))
            masks.append(valid)
        x = jnp.concatenate(tokens, axis=1)  # (B, T, L, L, D)
        b, _, h, w, d = x.shape
        null = jnp.broadcast_to(self.null[...].astype(x.dtype), (b, 1, h, w, d))
        x = jnp.concatenate([null, x], axis=1)
        mask = jnp.concatenate([jnp.ones((b, 1, h, w), bool), *masks], axis=1)  # (B, 1 + T, L, L)
        period = jnp.concatenate(
            [timecode(jnp.zeros_like(period_days), self.timecode_dim), timecode(period_days, self.timecode_dim)],
            axis=-1,
        )
        heads, dh = self.num_heads, d // self.num_heads
        q = self.query(period.astype(x.dtype)).reshape(b, heads, dh)  # (B, H, Dh)
        # q . (Wk x) per head = (Wk_h^T q_h) . x
        wk = self.key.kernel[...].astype(x.dtype).reshape(d, heads, dh)
        probe = jnp.einsum("dhe,bhe->bhd", wk, q) / jnp.sqrt(dh).astype(x.dtype)  # (B, H, D)
        logits = jnp.einsum("bthwd,bkd->bthwk", x, probe).astype(jnp.float32)
        logits = jnp.where(mask[..., None], logits, MASKED_LOGIT)
        weights = jax.nn.softmax(logits, axis=1).astype(x.dtype)  # over time
        pooled = jnp.einsum("bthwk,bthwd->bhwkd", weights, x)  # (B, L, L, H, D)
        wv = self.value.kernel[...].astype(x.dtype).reshape(d, heads, dh)
        y = jnp.einsum("bhwkd,dke->bhwke", pooled, wv).reshape(b, h, w, d) + self.value.bias[...].astype(x.dtype)
        y = y + self.down(jax.nn.gelu(self.up(self.norm(y))))
        return self.out_norm(y)
