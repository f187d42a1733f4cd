"""Change detection: how far each pixel's embedding moved between two years."""

from __future__ import annotations

import math
from typing import Any

from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M
from aef_ee.errors import AefValueError

__all__ = ["change_image", "change_areas"]


def change_image(embeddings_a: Any, embeddings_b: Any, *, threshold: float = 0.8) -> Any:
    """Bands ``similarity`` (dot product of the two years' vectors), ``angle_deg`` and ``changed`` (similarity
    below ``threshold``, 1 = changed)."""
    import ee

    if not -1.0 <= threshold <= 1.0:
        raise AefValueError(f"threshold must be within [-1, 1]; got {threshold!r}")
    a = ee.Image(embeddings_a).select(EMBEDDING_BANDS)
    b = ee.Image(embeddings_b).select(EMBEDDING_BANDS)
    sim = a.multiply(b).reduce(ee.Reducer.sum()).rename("similarity")
    angle = sim.clamp(-1, 1).acos().multiply(180 / math.pi).rename("angle_deg")
    changed = sim.lt(threshold).rename("changed")
    return sim.addBands(angle).addBands(changed)


def change_areas(change: Any, region: Any, *, scale: float = NATIVE_SCALE_M, max_pixels: float = 1e9) -> Any:
    """``ee.Dictionary`` with ``changed_m2`` and ``unchanged_m2`` (valid pixels only) in ``region``."""
    import ee

    changed = ee.Image(change).select("changed")
    area = ee.Image.pixelArea()
    sums = area.multiply(changed).rename("changed_m2").addBands(
        area.multiply(changed.Not()).rename("unchanged_m2")).updateMask(changed.mask()).reduceRegion(
        reducer=ee.Reducer.sum(), geometry=region, scale=scale, crs=changed.projection(), maxPixels=max_pixels)
    return sums
