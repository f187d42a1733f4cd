"""The AlphaEarth-style embedding model: stems -> STP blocks -> summary -> unit embedding field, plus decoders.

Shapes (B sites, L site size, T_s frames of source s, T = sum of T_s over input sources, E embedding size)::

    inputs[s]["frames"]      (B, T_s, L, L, C_s) normalised    \
    inputs[s]["pixel_mask"]  (B, T_s, L, L) bool                 |-> stems -> (B, T, L/2, L/2, Dp)
    inputs[s]["frame_mask"]  (B, T_s) bool                       |
    inputs[s]["days"]        (B, T_s) days since period start   /
    period_days              (B,) length of the valid period
    -> embed(...)            (B, L, L, E) float32, unit norm (the vMF mean direction)
    -> decode(z, targets)    {t: (B, L, L, C_t)} predictions of each target source's held-out frame
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from aef_ee_training.model.decoders import SourceDecoder
from aef_ee_training.model.stems import SourceStem
from aef_ee_training.model.stp import PRECISION_FACTOR, SPACE_FACTOR, TIME_FACTOR, STPBlock, resample
from aef_ee_training.model.summary import Summary

__all__ = ["AlphaEarth", "normalise", "site_embedding", "count_params"]

# Initial CLIP temperature 0.07 (CLIP's choice); the log inverse temperature is learned.
INITIAL_LOGIT_SCALE = float(np.log(1.0 / 0.07))
NORM_EPS = 1e-6


def normalise(x: jnp.ndarray) -> jnp.ndarray:
    """Projects (..., E) onto the unit sphere in float32."""
    x = x.astype(jnp.float32)
    # rsqrt of the clamped squared norm: unlike jnp.linalg.norm, its gradient stays finite at x = 0 (a site
    # without text projects to the zero vector, and NaN gradients through the unselected branch poison the step).
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), NORM_EPS**2))


class AlphaEarth(nnx.Module):
    """Embedding field model with per-source stems and decoders (see the module docstring for shapes)."""

    def __init__(
        self,
        channels: Mapping[str, int],
        *,
        input_sources: Sequence[str],
        target_sources: Sequence[str],
        site_size: int,
        precision_width: int,
        time_width: int,
        space_width: int,
        num_blocks: int,
        num_heads: int,
        timecode_dim: int,
        embedding_dim: int,
        decoder_hidden: Sequence[int],
        text_dim: int,
        dtype: jnp.dtype = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        if site_size % SPACE_FACTOR:
            raise ValueError(f"site_size must be a multiple of {SPACE_FACTOR}; got {site_size!r}")
        missing = [s for s in (*input_sources, *target_sources) if s not in channels]
        if missing:
            raise ValueError(f"no channel count for sources {missing}; have {dict(channels)}")
        self.input_sources = tuple(input_sources)
        self.target_sources = tuple(target_sources)
        self.site_size = site_size
        self.embedding_dim = embedding_dim
        self.dtype = dtype
        self.stems = nnx.Dict(
            {s: SourceStem(channels[s], precision_width, timecode_dim, dtype=dtype, rngs=rngs) for s in input_sources}
        )
        self.to_time = nnx.Linear(precision_width, time_width, dtype=dtype, rngs=rngs)
        self.to_space = nnx.Linear(precision_width, space_width, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [
                STPBlock(
                    site_size=site_size, precision_width=precision_width, time_width=time_width,
                    space_width=space_width, num_heads=num_heads, timecode_dim=timecode_dim, dtype=dtype, rngs=rngs,
                )
                for _ in range(num_blocks)
            ]
        )
        self.summary = Summary(
            precision_width=precision_width, time_width=time_width, space_width=space_width, num_heads=num_heads,
            timecode_dim=timecode_dim, embedding_dim=embedding_dim, dtype=dtype, rngs=rngs,
        )
        self.decoders = nnx.Dict(
            {
                s: SourceDecoder(embedding_dim, channels[s], decoder_hidden, timecode_dim, dtype=dtype, rngs=rngs)
                for s in target_sources
            }
        )
        self.text_proj = nnx.Linear(text_dim, embedding_dim, rngs=rngs)
        self.logit_scale = nnx.Param(jnp.asarray(INITIAL_LOGIT_SCALE, jnp.float32))

    def embed(self, inputs: Mapping[str, Mapping[str, jnp.ndarray]], period_days: jnp.ndarray) -> jnp.ndarray:
        """The unit embedding field (B, L, L, E) float32 of the valid period [0, period_days)."""
        tokens, days, frame_mask = [], [], []
        for s in self.input_sources:
            src = inputs[s]
            frames = src["frames"].astype(self.dtype)
            if frames.shape[2] != self.site_size or frames.shape[3] != self.site_size:
                raise ValueError(f"source {s!r} frames are {frames.shape[2:4]}, the model expects L={self.site_size}")
            tokens.append(self.stems[s](frames, src["pixel_mask"], src["days"]))
            days.append(src["days"])
            frame_mask.append(src["frame_mask"])
        p = jnp.concatenate(tokens, axis=1)  # (B, T, L/2, L/2, Dp)
        days_all = jnp.concatenate(days, axis=1).astype(jnp.float32)
        mask_all = jnp.concatenate(frame_mask, axis=1)
        t = self.to_time(resample(p, self.site_size // TIME_FACTOR))
        s = self.to_space(resample(p, self.site_size // SPACE_FACTOR))
        assert p.shape[2] == self.site_size // PRECISION_FACTOR
        streams = (p, t, s)
        for block in self.blocks:
            streams = block(streams, days_all, mask_all)
        field = self.summary(streams, days_all, mask_all, period_days.astype(jnp.float32))
        return normalise(field)

    __call__ = embed

    def decode(self, z: jnp.ndarray, targets: Mapping[str, Mapping[str, jnp.ndarray]]) -> dict[str, jnp.ndarray]:
        """z (B, L, L, E) embedding samples -> {source: (B, L, L, C) float32 predictions of its target frame}."""
        out = {}
        for s in self.target_sources:
            tgt = targets[s]
            pred = self.decoders[s](z.astype(self.dtype), tgt["relative_time"], tgt["meta"])
            out[s] = pred.astype(jnp.float32)
        return out

    def embed_text(self, text_embedding: jnp.ndarray) -> jnp.ndarray:
        """(B, D_text) frozen sentence-encoder vectors -> (B, E) unit vectors in the embedding space."""
        return normalise(self.text_proj(text_embedding.astype(jnp.float32)))


def site_embedding(field: jnp.ndarray) -> jnp.ndarray:
    """(B, L, L, E) unit field -> (B, E) unit site vector (the normalised spatial mean)."""
    return normalise(field.mean(axis=(1, 2)))


def count_params(model: nnx.Module) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param))))
