"""``Terrain.hillShadow`` (also ``HillShadow``): 1 where a pixel sees the sun, 0 where the terrain casts a shadow on it.

Earth Engine documents the algorithm as working "only for Mercator projections, in which light rays are parallel":
the sun is a direction (``azimuth`` degrees clockwise from north, ``zenith`` degrees from the vertical) the same for
every pixel. This engine marches a ray from each pixel centre toward the sun in the grid the pixels are requested on,
one pixel's length per step, reading the elevation (metres) bilinearly between pixel centres; the pixel is in shadow
when the terrain at some step rises above the ray, i.e. above ``z0 + d / tan(zenith)`` at ground distance ``d``. So a
vertical wall of height h casts a shadow h tan(zenith) long.

``neighborhoodSize`` is how far the ray goes, in pixels (the unit scripts give it in: "neighborhoodSize = 200 #
pixels"); 0, the default, means :data:`DEFAULT_REACH` pixels. Elevations beyond the request are read (the grid is
grown toward the sun), so tiles agree at their seams. Masked elevations (and those past the data) cast no shadow; a
pixel is masked where its own elevation is. ``hysteresis`` ("less physically accurate, but may generate better
images") is accepted; the engine returns the geometric shadow either way.

The output band is ``shadow``, unsigned 8-bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.neighborhood import expanded_grid
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.algorithms.terrain import METRES_PER_DEGREE
from aef_ee.local.algorithms.image import as_image, select_by_names
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid
from aef_ee.local.raster import BandSpec, Image, PixelType

__all__ = ["hill_shadow", "DEFAULT_REACH", "MAX_REACH"]

BandPixels = tuple[np.ndarray, np.ndarray]
# How far (pixels) the ray goes when neighborhoodSize is 0: a 2.5 km ridge casts a shadow past it only with the sun
# within 6 degrees of the horizon on a 30 m DEM.
DEFAULT_REACH = 256
# The farthest the engine looks (pixels); the grid read grows by this much toward the sun.
MAX_REACH = 4096
_BYTE = PixelType.from_dtype(np.uint8)


def _pixel_metres(grid: Grid) -> tuple[float, float]:
    """Ground size (m) of one pixel step east and north at the grid's centre (degrees converted on Earth Engine's
    sphere at the centre row's latitude)."""
    a, b, _, d, e, f = grid.transform
    if b or d:
        raise InvalidArgument("Terrain.hillShadow: rotated or sheared grids are not supported.")
    if grid.projection.is_geographic:
        lat = math.radians(f + e * grid.height / 2)
        return abs(a) * METRES_PER_DEGREE * math.cos(lat), abs(e) * METRES_PER_DEGREE
    unit = grid.projection.nominal_scale / math.sqrt(abs(a * e))  # CRS units -> metres
    return abs(a) * unit, abs(e) * unit


def _shift(values: np.ndarray, rows: float, cols: float, top: int, left: int, shape: tuple[int, int]) -> np.ndarray:
    """``values`` sampled bilinearly at every output pixel moved by (rows, cols); output pixel (0, 0) is
    ``values[top, left]``."""
    h, w = shape
    r0, c0 = math.floor(rows), math.floor(cols)
    fr, fc = rows - r0, cols - c0
    out = np.zeros(shape)
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            weight = wr * wc
            if weight > 1e-12:
                r, c = top + r0 + dr, left + c0 + dc
                out += weight * values[r:r + h, c:c + w]
    return out


@algorithm("Terrain.hillShadow")
def hill_shadow(image: Any, azimuth: float, zenith: float, neighborhoodSize: int = 0,
                hysteresis: bool = False) -> Image:
    """Earth Engine's ``Terrain.hillShadow`` (see the module docstring): band ``shadow``, 1 lit, 0 in shadow.

    Raises:
      InvalidArgument: the image has several bands and none named 'elevation', ``zenith`` is outside [0, 90], or
        ``neighborhoodSize`` is outside [0, :data:`MAX_REACH`].
    """
    src = as_image(image)
    if len(src.bands) != 1:
        if "elevation" not in src.band_names:
            raise InvalidArgument(f"Terrain.hillShadow: expected one band, or a band named 'elevation'; got "
                                  f"{src.band_names}.")
        src = select_by_names(src, ["elevation"])
    zenith, azimuth = float(zenith), float(azimuth)
    if not 0 <= zenith <= 90:
        raise InvalidArgument(f"Terrain.hillShadow: zenith must be in [0, 90] degrees; got {zenith}.")
    reach = int(neighborhoodSize) or DEFAULT_REACH
    if not 0 < reach <= MAX_REACH:
        raise InvalidArgument(f"Terrain.hillShadow: neighborhoodSize must be in [0, {MAX_REACH}]; got "
                              f"{neighborhoodSize}.")
    base = src.bands[0]
    spec = BandSpec("shadow", _BYTE, base.projection, None, base.is_default_projection)
    east, north = math.sin(math.radians(azimuth)), math.cos(math.radians(azimuth))
    rise = math.inf if zenith == 0 else 1 / math.tan(math.radians(zenith))  # metres up per metre toward the sun

    def read(grid: Grid, wanted: Sequence[int]) -> list[BandPixels]:
        dx_m, dy_m = _pixel_metres(grid)
        # One step: one pixel's length along the sun's direction, in grid columns and rows (rows grow southward
        # in a north-up grid).
        sign_y = -1.0 if grid.transform[4] < 0 else 1.0
        sign_x = 1.0 if grid.transform[0] > 0 else -1.0
        step_cols, step_rows = sign_x * east, sign_y * north
        step_m = math.hypot(step_cols * dx_m, step_rows * dy_m)
        left = math.ceil(reach * max(0.0, -step_cols)) + 1
        right = math.ceil(reach * max(0.0, step_cols)) + 1
        top = math.ceil(reach * max(0.0, -step_rows)) + 1
        bottom = math.ceil(reach * max(0.0, step_rows)) + 1
        big = expanded_grid(grid, left, top, right, bottom)
        z, m = src.compute(big, [0])[0]
        m = np.broadcast_to(np.asarray(m, bool), np.shape(z))
        z = np.where(m, np.asarray(z, np.float64), -np.inf)
        h, w = grid.shape
        z0 = z[top:top + h, left:left + w]
        lit = np.ones((h, w), bool)
        if rise != math.inf:
            # Beyond this many steps the ray is above the highest terrain read: nothing farther can shade.
            finite = z[np.isfinite(z)]
            relief = float(finite.max() - finite.min()) if finite.size else 0.0
            steps = min(reach, math.ceil(relief / (rise * step_m)) + 1) if rise > 0 and step_m > 0 else reach
            with np.errstate(invalid="ignore"):
                for k in range(1, steps + 1):
                    terrain = _shift(z, k * step_rows, k * step_cols, top, left, (h, w))
                    lit &= ~(terrain > z0 + k * step_m * rise)
        valid = np.isfinite(z0)
        return [(lit.astype(np.uint8), valid) for _ in wanted]

    return src.with_bands([spec], read)
