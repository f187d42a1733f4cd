"""``Terrain.fillMinima`` (also ``FMask.fillMinima``): fills the sinks of an integer elevation image.

Earth Engine documents only "Fills local minima. Only works on INT types", a ``borderValue`` and a ``neighborhood``
("the size of the neighborhood to compute over", default 50). This engine computes, for every pixel, the lowest level
at which water standing on it could spill out: the smallest, over the 8-connected paths from the pixel to an outlet,
of the highest elevation on the path. That is what priority-flood (Barnes et al. 2014) and Soille's reconstruction by
erosion compute; here it is the reconstruction, iterated with scipy's grey erosion until nothing changes.

Outlets: the edge of the area computed over (the request grown by ``neighborhood`` pixels on each side, so a sink
wider than that may stay partly unfilled, as in Earth Engine), and the masked pixels (and those past the data). A
masked pixel drains at ``borderValue`` when one is given (a neighbour below it is raised to it), else at any level.
A pixel that is not in a sink keeps its value; the output keeps the input's type and mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.neighborhood import expanded_grid
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid
from aef_ee.local.raster import Image

__all__ = ["fill_minima", "fill_sinks", "MAX_NEIGHBORHOOD"]

BandPixels = tuple[np.ndarray, np.ndarray]
# The farthest (pixels) the engine reads past a request to find where a sink spills.
MAX_NEIGHBORHOOD = 1024
# Levels are float64 (exact for integers up to 2^53): scipy's grey erosion of int64 overflows near the type's ends.
_DRAIN = -np.inf  # an outlet below every elevation
_FULL = np.inf


def fill_sinks(values: np.ndarray, mask: np.ndarray, border_value: int | None = None) -> np.ndarray:
    """Each pixel raised to its spill level (float64, (H, W)); masked pixels are outlets at ``border_value`` (any
    level when None), and so is everything past the array's edge.

    Args:
      values: (H, W) integer elevations.
      mask: (H, W) bool, True where valid.
    """
    from scipy import ndimage

    outlet = _DRAIN if border_value is None else float(border_value)
    z = np.where(mask, np.asarray(values, np.float64), outlet)
    # Start full, then let every pixel drain to the lowest of its neighbours' levels, but never below itself.
    level = np.where(mask, _FULL, outlet)
    footprint = np.ones((3, 3), bool)
    for _ in range(z.size + 1):
        drained = np.maximum(z, ndimage.grey_erosion(level, footprint=footprint, mode="constant", cval=_DRAIN))
        if np.array_equal(drained, level):
            break
        level = drained
    return level


@algorithm("Terrain.fillMinima")
def fill_minima(image: Any, borderValue: int | None = None, neighborhood: int = 50) -> Image:
    """Earth Engine's ``Terrain.fillMinima`` (see the module docstring), for every band.

    Raises:
      InvalidArgument: a band is not of an integer type, or ``neighborhood`` is outside [0, MAX_NEIGHBORHOOD].
    """
    src = as_image(image)
    for band in src.bands:
        if band.pixel_type.precision != "int":
            raise InvalidArgument(f"Terrain.fillMinima: band '{band.name}' is of type {band.pixel_type.precision}; "
                                  "only integer types can be filled (cast with toInt()).")
    reach = int(neighborhood)
    if not 0 <= reach <= MAX_NEIGHBORHOOD:
        raise InvalidArgument(f"Terrain.fillMinima: neighborhood must be in [0, {MAX_NEIGHBORHOOD}]; got "
                              f"{neighborhood}.")
    border = None if borderValue is None else int(borderValue)

    def read(grid: Grid, wanted: Sequence[int]) -> list[BandPixels]:
        big = expanded_grid(grid, reach, reach, reach, reach)
        h, w = grid.shape
        out = []
        for index, (values, mask) in zip(wanted, src.compute(big, wanted), strict=True):
            values = np.asarray(values)
            mask = np.broadcast_to(np.asarray(mask, bool), values.shape)
            filled = fill_sinks(values, mask, border)[reach:reach + h, reach:reach + w]
            inner = mask[reach:reach + h, reach:reach + w]
            dtype = src.bands[index].pixel_type.dtype
            info = np.iinfo(dtype)
            out.append((np.clip(np.nan_to_num(filled), info.min, info.max).astype(dtype), inner))
        return out

    return src.with_bands(list(src.bands), read)
