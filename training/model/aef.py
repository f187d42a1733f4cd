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

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from aef_ee_training.model.decoders import SourceDecoder
from aef_ee_training.model.pixel import PixelPath
from aef_ee_training.model.stems import SourceStem
from aef_ee_training.model.stp import PRECISION_FACTOR, SPACE_FACTOR, TIME_FACTOR, STPBlock, resample
from aef_ee_training.model.summary import Summary

__all__ = ["ModelOptions", "AlphaEarth", "normalise", "site_embedding", "count_params"]

# Initial CLIP temperature 0.07 (CLIP's choice); the log inverse temperature is learned.
INITIAL_LOGIT_SCALE = float(np.log(1.0 / 0.07))
NORM_EPS = 1e-6


def normalise(x: jnp.ndarray) -> jnp.ndarray:
    """Projects (..., E) onto the unit sphere in float32."""
    x = x.astype(jnp.float32)
    # rsqrt of the clamped squared norm: unlike jnp.linalg.norm, its gradient stays finite at x = 0 (a site
    # without text projects to the zero vector, and NaN gradients through the unselected branch poison the step).
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), NORM_EPS**2))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """The architecture of an :class:`AlphaEarth`: everything that fixes the shapes of its parameters.

    Hashable (tuples only), as NNX keeps it in the model's static graph definition. Widths are feature channels per
    token; L is the site size in 10 m pixels.
    """

    # (source, bands) pairs, sorted (a mapping is accepted); for a categorical target, its number of classes.
    channels: tuple[tuple[str, int], ...]
    input_sources: tuple[str, ...]  # sources the stems read, in this order (their frames concatenate along time)
    target_sources: tuple[str, ...]  # sources decoded from the embedding, one decoder each
    site_size: int  # L, pixels per side; a multiple of 16 (the space grid is L/16)
    precision_width: int  # Dp, precision stream on the L/2 grid (also the stems' and the summary's width)
    time_width: int  # Dt, time stream on the L/8 grid
    space_width: int  # Ds, space stream on the L/16 grid
    num_blocks: int  # STP blocks
    num_heads: int  # heads of every attention (time, space, summary)
    timecode_dim: int  # sinusoidal timecode features per time (even)
    embedding_dim: int  # E, channels of the unit embedding field
    # Dpix, the full-resolution per-pixel path (model/pixel.py) with its own route to the head; 0: none (the field is
    # then an upsampling of the L/2 grid, of rank <= precision_width).
    pixel_width: int = 0
    decoder_hidden: tuple[int, ...]  # hidden widths of each decoder's per-pixel MLP
    text_dim: int  # D_text, size of the frozen sentence-encoder vectors projected into the embedding space

    def __post_init__(self) -> None:
        # Sequences and mappings (a config's lists, a dict of channels) become tuples, so the options stay hashable.
        object.__setattr__(self, "channels", tuple(sorted(dict(self.channels).items())))
        for name in ("input_sources", "target_sources", "decoder_hidden"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.site_size % SPACE_FACTOR:
            raise ValueError(f"site_size must be a multiple of {SPACE_FACTOR}; got {self.site_size!r}")
        channels = dict(self.channels)
        missing = [s for s in (*self.input_sources, *self.target_sources) if s not in channels]
        if missing:
            raise ValueError(f"no channel count for sources {missing}; have {channels}")

    @classmethod
    def from_config(cls, config: Any, channels: Mapping[str, int]) -> ModelOptions:
        """The options of a training config (``training/configs``) for a dataset with these bands per source.

        Args:
          config: a config with ``input_sources``, ``target_sources``, ``site_size``, ``text_dim``, ``model.*`` and
            optionally ``categorical`` (source -> number of classes).
          channels: source -> number of bands (``input_pipeline.channels_from_stats``).
        """
        m = config.model
        return cls(
            # A categorical target's decoder outputs one logit per class instead of one value per band.
            channels={**channels, **dict(config.get("categorical", {}))},
            input_sources=config.input_sources,
            target_sources=config.target_sources,
            site_size=config.site_size,
            precision_width=m.precision_width,
            time_width=m.time_width,
            space_width=m.space_width,
            num_blocks=m.num_blocks,
            num_heads=m.num_heads,
            timecode_dim=m.timecode_dim,
            embedding_dim=m.embedding_dim,
            pixel_width=m.get("pixel_width", 0),
            decoder_hidden=m.decoder_hidden,
            text_dim=config.text_dim,
        )


class AlphaEarth(nnx.Module):
    """Embedding field model with per-source stems and decoders (see the module docstring for shapes).

    Args:
      options: the architecture (:meth:`ModelOptions.from_config` builds it from a training config).
      dtype: the compute dtype; parameters are float32 whatever it is.
      rngs: parameter initialisation.
    """

    def __init__(self, options: ModelOptions, *, dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs) -> None:
        o = options
        channels = dict(o.channels)
        self.options = options
        self.dtype = dtype
        self.stems = nnx.Dict(
            {
                s: SourceStem(channels[s], o.precision_width, o.timecode_dim, dtype=dtype, rngs=rngs)
                for s in o.input_sources
            }
        )
        self.to_time = nnx.Linear(o.precision_width, o.time_width, dtype=dtype, rngs=rngs)
        self.to_space = nnx.Linear(o.precision_width, o.space_width, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [
                STPBlock(
                    site_size=o.site_size, precision_width=o.precision_width, time_width=o.time_width,
                    space_width=o.space_width, num_heads=o.num_heads, timecode_dim=o.timecode_dim, dtype=dtype,
                    rngs=rngs,
                )
                for _ in range(o.num_blocks)
            ]
        )
        self.summary = Summary(
            precision_width=o.precision_width, time_width=o.time_width, space_width=o.space_width,
            num_heads=o.num_heads, timecode_dim=o.timecode_dim, embedding_dim=o.embedding_dim,
            pixel_width=o.pixel_width, dtype=dtype, rngs=rngs,
        )
        self.pixel = (
            PixelPath(channels, o.input_sources, width=o.pixel_width, num_heads=o.num_heads,
                      timecode_dim=o.timecode_dim, dtype=dtype, rngs=rngs)
            if o.pixel_width else None
        )
        self.decoders = nnx.Dict(
            {
                s: SourceDecoder(
                    o.embedding_dim, channels[s], o.decoder_hidden, o.timecode_dim, dtype=dtype, rngs=rngs
                )
                for s in o.target_sources
            }
        )
        self.text_proj = nnx.Linear(o.text_dim, o.embedding_dim, rngs=rngs)
        self.logit_scale = nnx.Param(jnp.asarray(INITIAL_LOGIT_SCALE, jnp.float32))

    def embed(self, inputs: Mapping[str, Mapping[str, jnp.ndarray]], period_days: jnp.ndarray) -> jnp.ndarray:
        """The unit embedding field (B, L, L, E) float32 of the valid period [0, period_days)."""
        size = self.options.site_size
        tokens, days, frame_mask = [], [], []
        for s in self.options.input_sources:
            src = inputs[s]
            frames = src["frames"].astype(self.dtype)
            if frames.shape[2] != size or frames.shape[3] != size:
                raise ValueError(f"source {s!r} frames are {frames.shape[2:4]}, the model expects L={size}")
            tokens.append(self.stems[s](frames, src["pixel_mask"], src["days"]))
            days.append(src["days"])
            frame_mask.append(src["frame_mask"])
        p = jnp.concatenate(tokens, axis=1)  # (B, T, L/2, L/2, Dp)
        days_all = jnp.concatenate(days, axis=1).astype(jnp.float32)
        mask_all = jnp.concatenate(frame_mask, axis=1)
        t = self.to_time(resample(p, size // TIME_FACTOR))
        s = self.to_space(resample(p, size // SPACE_FACTOR))
        assert p.shape[2] == size // PRECISION_FACTOR
        streams = (p, t, s)
        for block in self.blocks:
            streams = block(streams, days_all, mask_all)
        period = period_days.astype(jnp.float32)
        pixel = self.pixel(inputs, period) if self.pixel is not None else None
        field = self.summary(streams, days_all, mask_all, period, pixel)
        return normalise(field)

    def decode(self, z: jnp.ndarray, targets: Mapping[str, Mapping[str, jnp.ndarray]]) -> dict[str, jnp.ndarray]:
        """z (B, L, L, E) embedding samples -> {source: (B, L, L, C) float32 predictions of its target frame}."""
        out = {}
        for s in self.options.target_sources:
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
    """Number of parameters (scalars) of ``model``; works on an abstract model from ``nnx.eval_shape``."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param))))
