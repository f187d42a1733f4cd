"""``ee.Terrain``: slope, aspect and hillshade of an elevation image, and ``Terrain.products`` (all three).

As Earth Engine documents ("The local gradient is computed using the 4-connected neighbors of each pixel, so missing
values will occur around the edges of an image"), the gradient at a pixel is the central difference of its east and
west neighbours and of its north and south neighbours, divided by their ground distance (in metres, from the grid
the pixels are requested on; degrees of a geographic grid are converted at each row's latitude). A pixel is masked
where one of the four is.

- slope: degrees from horizontal, atan(|gradient|).
- aspect: the downslope direction in degrees clockwise from north (0 north, 90 east; 0 on flat ground).
- hillshade: 255 (cos z cos s + sin z sin s cos(azimuth - aspect)), z the illumination's zenith (90 - elevation),
  clamped to [0, 255] as an unsigned byte (Earth Engine: "an unsigned byte output band named 'hillshade'").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image, select_by_names
from aef_ee.local.algorithms.neighborhood import expanded_grid
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid
from aef_ee.local.raster import BandSpec, Image, PixelType

__all__ = ["gradient", "terrain_image"]

# Metres per degree along a meridian and along the equator on Earth Engine's sphere (the nominal-scale factor).
METRES_PER_DEGREE = 111319.49079327357
_FLOAT = PixelType("float")
_BYTE = PixelType.from_dtype(np.uint8)


def _elevation(image: Image, name: str) -> Image:
    if len(image.bands) == 1:
        return image
    if "elevation" in image.band_names:
        return select_by_names(image, ["elevation"])
    raise InvalidArgument(f"{name}: expected one band, or a band named 'elevation'; got {image.band_names}.")


def _spacing(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Ground size in metres of a pixel step east (per row, (H, 1)) and north ((H, 1)) of the grid."""
    a, b, c, d, e, f = grid.transform
    if b or d:
        raise InvalidArgument("Terrain: rotated or sheared grids are not supported.")
    if grid.projection.is_geographic:
        rows = np.arange(grid.height) + 0.5
        lat = np.radians(e * rows + f)
        dx = abs(a) * METRES_PER_DEGREE * np.cos(lat)
        dy = np.full(grid.height, abs(e) * METRES_PER_DEGREE)
    else:
        unit = grid.projection.nominal_scale / math.sqrt(abs(a * e))  # CRS units -> metres
        dx = np.full(grid.height, abs(a) * unit)
        dy = np.full(grid.height, abs(e) * unit)
    return dx[:, None], dy[:, None]


def gradient(image: Image, grid: Grid, band: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dz/dx east, dz/dy north, valid) on ``grid`` of band ``band``: central differences of the 4 neighbours, in
    elevation units per metre, valid where all four neighbours are."""
    big = expanded_grid(grid, 1, 1, 1, 1)
    z, m = image.compute(big, [band])[0]
    z = np.asarray(z, np.float64)
    m = np.broadcast_to(np.asarray(m), z.shape)
    dx, dy = _spacing(grid)
    h, w = grid.shape
    east, west = z[1:h + 1, 2:w + 2], z[1:h + 1, 0:w]
    north, south = z[0:h, 1:w + 1], z[2:h + 2, 1:w + 1]
    # Row 0 is north when the grid's y axis points down (scaleY < 0), as in every north-up grid.
    sign_y = 1.0 if grid.transform[4] < 0 else -1.0
    sign_x = 1.0 if grid.transform[0] > 0 else -1.0
    dzdx = sign_x * (east - west) / (2 * dx)
    dzdy = sign_y * (north - south) / (2 * dy)
    valid = m[1:h + 1, 2:w + 2] & m[1:h + 1, 0:w] & m[0:h, 1:w + 1] & m[2:h + 2, 1:w + 1]
    return dzdx, dzdy, valid


def _slope(dzdx: np.ndarray, dzdy: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy)))


def _aspect(dzdx: np.ndarray, dzdy: np.ndarray) -> np.ndarray:
    flat = (dzdx == 0) & (dzdy == 0)
    aspect = np.degrees(np.arctan2(-dzdx, -dzdy)) % 360.0
    return np.where(flat, 0.0, aspect)


def _hillshade(dzdx: np.ndarray, dzdy: np.ndarray, azimuth: float, elevation: float) -> np.ndarray:
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.radians(_aspect(dzdx, dzdy))
    zenith = math.radians(90.0 - elevation)
    shade = math.cos(zenith) * np.cos(slope) + math.sin(zenith) * np.sin(slope) * np.cos(
        math.radians(azimuth) - aspect)
    return np.clip(np.floor(255.0 * shade + 0.5), 0, 255).astype(np.uint8)


def terrain_image(image: Any, name: str, outputs: Sequence[str], *, azimuth: float = 270.0,
                  elevation: float = 45.0, keep_input: bool = False) -> Image:
    """The elevation's ``outputs`` ('slope', 'aspect', 'hillshade'), after the input's bands with ``keep_input``."""
    src = as_image(image)
    dem = _elevation(src, name)
    base = dem.bands[0]
    types = {"slope": _FLOAT, "aspect": _FLOAT, "hillshade": _BYTE}
    specs = [BandSpec(o, types[o], base.projection, None, base.is_default_projection) for o in outputs]
    n_in = len(src.bands) if keep_input else 0

    def read(grid: Grid, wanted: Sequence[int]):
        from_src = [w for w in wanted if w < n_in]
        src_px = iter(src.compute(grid, from_src))
        derived = None
        out = []
        for w in wanted:
            if w < n_in:
                out.append(next(src_px))
                continue
            if derived is None:
                with np.errstate(all="ignore"):
                    dzdx, dzdy, valid = gradient(dem, grid)
                    derived = {"slope": (_slope(dzdx, dzdy).astype(np.float32), valid),
                               "aspect": (_aspect(dzdx, dzdy).astype(np.float32), valid),
                               "hillshade": (_hillshade(dzdx, dzdy, azimuth, elevation), valid)}
            out.append(derived[outputs[w - n_in]])
        return out

    bands = (list(src.bands) if keep_input else []) + specs
    return src.with_bands(bands, read)


@algorithm("Terrain.slope")
def slope(input: Any) -> Image:
    """Earth Engine's ``Terrain.slope``: degrees, band ``slope`` (float)."""
    return terrain_image(input, "Terrain.slope", ["slope"])


@algorithm("Terrain.aspect")
def aspect(input: Any) -> Image:
    """Earth Engine's ``Terrain.aspect``: degrees clockwise from north of the downslope direction, band ``aspect``."""
    return terrain_image(input, "Terrain.aspect", ["aspect"])


@algorithm("Terrain.hillshade")
def hillshade(input: Any, azimuth: float = 270.0, elevation: float = 45.0) -> Image:
    """Earth Engine's ``Terrain.hillshade``: band ``hillshade`` (uint8) lit from ``azimuth`` degrees from north at
    ``elevation`` degrees above the horizon."""
    return terrain_image(input, "Terrain.hillshade", ["hillshade"], azimuth=float(azimuth),
                         elevation=float(elevation))


@algorithm("Terrain.products")
def products(input: Any) -> Image:
    """Earth Engine's ``Terrain.products`` (and ``ee.Terrain``): the input's bands plus ``slope``, ``aspect``
    (degrees) and ``hillshade`` (uint8, azimuth 270, elevation 45)."""
    return terrain_image(input, "Terrain.products", ["slope", "aspect", "hillshade"], keep_input=True)


