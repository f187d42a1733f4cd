"""Sinusoidal timecodes: a time in days -> a fixed feature vector (no parameters)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["timecode"]

# Periods from one day to ~3 years cover the sub-weekly revisit of Sentinel-1/2 up to multi-year context.
SHORTEST_PERIOD_DAYS = 1.0
LONGEST_PERIOD_DAYS = 1024.0


def timecode(days: jnp.ndarray, dim: int) -> jnp.ndarray:
    """Encodes times as sines and cosines of geometrically spaced periods.

    Args:
      days: (...) float times in days (relative to the valid period's start).
      dim: even feature size.

    Returns:
      (..., dim) float32.
    """
    if dim % 2:
        raise ValueError(f"timecode dim must be even; got {dim!r}")
    periods = np.geomspace(SHORTEST_PERIOD_DAYS, LONGEST_PERIOD_DAYS, dim // 2).astype(np.float32)
    phase = 2.0 * np.pi * jnp.asarray(days, jnp.float32)[..., None] / periods
    return jnp.concatenate([jnp.sin(phase), jnp.cos(phase)], axis=-1)
