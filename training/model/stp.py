"""Space-Time-Precision (STP) blocks: three operators side by side on a video at three resolutions.

The state is three streams of per-frame feature maps, (B, T, h, w, D):

* precision: L/2 grid, 3x3 convolutions per frame (local detail);
* time: L/8 grid, attention along T per pixel, conditioned on the frames' timecodes;
* space: L/16 grid, ViT-style self-attention over the grid per frame.

After the three operators, a learned pyramid exchange (ours; the paper names it a Laplacian-pyramid rescaling) adds
to each stream the other two resampled to its grid — average pooling going coarser, nearest-neighbour repetition
going finer (bilinear, half-pixel centres: nearest-neighbour repetition left 8-pixel blocks in the fields) — each
through a LayerNorm and a zero-initialised linear map, so a fresh block starts as identity on the exchange path.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from aef_ee_training.model.attention import MultiHeadAttention
from aef_ee_training.model.timecode import timecode

__all__ = ["STPBlock", "resample", "upsample_bilinear", "PRECISION_FACTOR", "TIME_FACTOR", "SPACE_FACTOR"]

# Grid sizes relative to the site size L (paper): precision L/2, time L/8, space L/16.
PRECISION_FACTOR = 2
TIME_FACTOR = 8
SPACE_FACTOR = 16
MLP_RATIO = 2


def resample(x: jnp.ndarray, size: int) -> jnp.ndarray:
    """Resamples (..., h, h, D) square maps to (..., size, size, D): mean pooling down, bilinear up.

    Bilinear rather than repetition: repeated cells are constant blocks whose edges become steps in the field
    (issue 13 measured the blocks and their cost in kNN accuracy).
    """
    h = x.shape[-2]
    if size == h:
        return x
    if size < h:
        f = h // size
        x = x.reshape(*x.shape[:-3], size, f, size, f, x.shape[-1])
        return x.mean(axis=(-4, -2))
    return upsample_bilinear(x, size)


def upsample_bilinear(x: jnp.ndarray, size: int) -> jnp.ndarray:
    """(..., h, w, D) -> (..., size, size, D), bilinear with half-pixel centres (edges clamped), in x's dtype."""
    shape = (*x.shape[:-3], size, size, x.shape[-1])
    return jax.image.resize(x, shape, method="linear", antialias=False).astype(x.dtype)


class Mlp(nnx.Module):
    def __init__(self, width: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.up = nnx.Linear(width, MLP_RATIO * width, dtype=dtype, rngs=rngs)
        self.down = nnx.Linear(MLP_RATIO * width, width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return self.down(jax.nn.gelu(self.up(self.norm(x))))


class PrecisionOperator(nnx.Module):
    """Two 3x3 convolutions per frame on the L/2 grid, residual."""

    def __init__(self, width: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.conv1 = nnx.Conv(width, width, (3, 3), dtype=dtype, rngs=rngs)
        self.conv2 = nnx.Conv(width, width, (3, 3), dtype=dtype, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        b, t = x.shape[:2]
        y = self.norm(x).reshape(b * t, *x.shape[2:])
        y = self.conv2(jax.nn.gelu(self.conv1(y)))
        return x + y.reshape(x.shape)


class TimeOperator(nnx.Module):
    """Attention along the time axis for every pixel of the L/8 grid; queries and keys carry timecodes."""

    def __init__(self, width: int, num_heads: int, timecode_dim: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        self.timecode_dim = timecode_dim
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.time_proj = nnx.Linear(timecode_dim, width, dtype=dtype, rngs=rngs)
        self.attention = MultiHeadAttention(width, num_heads, dtype=dtype, rngs=rngs)
        self.mlp = Mlp(width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jnp.ndarray, days: jnp.ndarray, frame_mask: jnp.ndarray) -> jnp.ndarray:
        """x (B, T, h, w, D); days (B, T); frame_mask (B, T) bool."""
        tc = self.time_proj(timecode(days, self.timecode_dim))[:, :, None, None, :]
        y = jnp.moveaxis(self.norm(x) + tc, 1, 3)  # (B, h, w, T, D)
        y = self.attention(y, y, frame_mask[:, None, None, :])
        x = x + jnp.moveaxis(y, 3, 1)
        return x + self.mlp(x)


class SpaceOperator(nnx.Module):
    """Self-attention over the L/16 grid of every frame, with a learned position embedding."""

    def __init__(self, width: int, num_heads: int, grid: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.position = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (grid * grid, width)))
        self.attention = MultiHeadAttention(width, num_heads, dtype=dtype, rngs=rngs)
        self.mlp = Mlp(width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        shape = x.shape
        tokens = x.reshape(*shape[:2], shape[2] * shape[3], shape[4])
        y = self.norm(tokens) + self.position[...].astype(x.dtype)
        tokens = tokens + self.attention(y, y)
        tokens = tokens + self.mlp(tokens)
        return tokens.reshape(shape)


class Exchange(nnx.Module):
    """One learned path of the pyramid exchange: LayerNorm, resample to the target grid, zero-initialised linear."""

    def __init__(self, width_in: int, width_out: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        self.norm = nnx.LayerNorm(width_in, dtype=dtype, rngs=rngs)
        self.proj = nnx.Linear(width_in, width_out, kernel_init=nnx.initializers.zeros, dtype=dtype, rngs=rngs)

    def __call__(self, x: jnp.ndarray, size: int) -> jnp.ndarray:
        h = x.shape[-2]
        y = self.norm(x)
        # Project at the coarser of the two grids: cheaper and identical for these linear-then-resample maps.
        if size < h:
            return self.proj(resample(y, size))
        return resample(self.proj(y), size)


class STPBlock(nnx.Module):
    """Space, time and precision operators side by side, then the pyramid exchange."""

    def __init__(
        self,
        *,
        site_size: int,
        precision_width: int,
        time_width: int,
        space_width: int,
        num_heads: int,
        timecode_dim: int,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        self.sizes = (site_size // PRECISION_FACTOR, site_size // TIME_FACTOR, site_size // SPACE_FACTOR)
        self.precision = PrecisionOperator(precision_width, dtype=dtype, rngs=rngs)
        self.time = TimeOperator(time_width, num_heads, timecode_dim, dtype=dtype, rngs=rngs)
        self.space = SpaceOperator(space_width, num_heads, self.sizes[2], dtype=dtype, rngs=rngs)
        widths = (precision_width, time_width, space_width)
        # exchange[i][j]: stream j -> stream i (i != j).
        self.exchange = nnx.List(
            [
                nnx.List([Exchange(widths[j], widths[i], dtype=dtype, rngs=rngs) for j in range(3) if j != i])
                for i in range(3)
            ]
        )

    def __call__(
        self, streams: tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray], days: jnp.ndarray, frame_mask: jnp.ndarray
    ) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        """streams: (precision (B,T,L/2,L/2,Dp), time (B,T,L/8,L/8,Dt), space (B,T,L/16,L/16,Ds))."""
        p, t, s = streams
        updated = (self.precision(p), self.time(t, days, frame_mask), self.space(s))
        out = []
        for i in range(3):
            others = [j for j in range(3) if j != i]
            x = updated[i]
            for path, j in zip(self.exchange[i], others):
                x = x + path(updated[j], self.sizes[i])
            out.append(x)
        return out[0], out[1], out[2]
