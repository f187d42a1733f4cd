"""Web Mercator map tiles: the 256 x 256 pixel grid of tile z/x/y in EPSG:3857, and rendering a tile to PNG.

Tiles follow the XYZ ("slippy map") scheme that Leaflet, ipyleaflet and Earth Engine's tile URLs use: at zoom z the
square world [-20037508.34 m, 20037508.34 m]^2 is cut into 2^z x 2^z tiles, x growing east and y growing south.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from aef_ee.local import rendering
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid, Projection
from aef_ee.local.raster import Image
from aef_ee.local.workers import on_worker_thread

__all__ = [
    "WEB_MERCATOR",
    "TILE_SIZE",
    "MAX_ZOOM",
    "WORLD_HALF_WIDTH_M",
    "tile_grid",
    "tile_bounds_lonlat",
    "tiles_covering",
    "render_tile",
    "empty_tile",
]

WEB_MERCATOR = "EPSG:3857"
TILE_SIZE = 256
# Earth Engine serves tiles up to zoom 24 (~1 cm pixels at the equator); deeper requests are refused.
MAX_ZOOM = 24
# Half the width of the Web Mercator world: pi times the WGS84 semi-major axis (6378137 m).
WORLD_HALF_WIDTH_M = math.pi * 6378137.0
# Web Mercator is cut off at +-85.0511 degrees, where the world becomes square.
MAX_LATITUDE = math.degrees(math.atan(math.sinh(math.pi)))
# Tiles render on long-lived threads: on a fresh thread pyproj and GDAL would rebuild their per-thread state (a
# UTM <-> Web Mercator transformer alone costs ~3 ms), about 12 ms a tile. The server's compute workers are
# long-lived and render in place; other callers (a test, an export) go through this small pool.
_RENDER_THREAD_PREFIX = "aef-ee-tiles"
_RENDER_POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                  thread_name_prefix=_RENDER_THREAD_PREFIX)


def _check(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidArgument(f"Tile zoom level {z} is out of range [0, {MAX_ZOOM}].")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidArgument(f"Tile ({x}, {y}) is out of range for zoom level {z} (0 to {n - 1}).")


def tile_grid(z: int, x: int, y: int, size: int = TILE_SIZE) -> Grid:
    """The pixel grid of tile z/x/y: ``size`` x ``size`` pixels in EPSG:3857, north up.

    Raises:
      InvalidArgument: z outside [0, MAX_ZOOM] or x, y outside [0, 2^z).
    """
    _check(z, x, y)
    tile_m = 2 * WORLD_HALF_WIDTH_M / (1 << z)
    pixel_m = tile_m / size
    x0 = -WORLD_HALF_WIDTH_M + x * tile_m
    y0 = WORLD_HALF_WIDTH_M - y * tile_m
    return Grid(Projection(WEB_MERCATOR, (pixel_m, 0.0, x0, 0.0, -pixel_m, y0)), size, size)


def _lat(mercator_y: float) -> float:
    return math.degrees(math.atan(math.sinh(mercator_y / 6378137.0)))


def tile_bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of tile z/x/y in degrees."""
    _check(z, x, y)
    n = 1 << z
    west = x / n * 360.0 - 180.0
    east = (x + 1) / n * 360.0 - 180.0
    north = _lat(WORLD_HALF_WIDTH_M * (1 - 2 * y / n))
    south = _lat(WORLD_HALF_WIDTH_M * (1 - 2 * (y + 1) / n))
    return west, south, east, north


def tiles_covering(bounds_lonlat: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """The (x, y) of the zoom-z tiles that cover (west, south, east, north) degrees, row by row."""
    west, south, east, north = bounds_lonlat
    n = 1 << z

    def tx(lon: float) -> int:
        return min(n - 1, max(0, int(math.floor((lon + 180.0) / 360.0 * n))))

    def ty(lat: float) -> int:
        lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
        merc = math.asinh(math.tan(math.radians(lat)))
        return min(n - 1, max(0, int(math.floor((1 - merc / math.pi) / 2 * n))))

    return [(i, j) for j in range(ty(north), ty(south) + 1) for i in range(tx(west), tx(east) + 1)]


@functools.lru_cache(maxsize=4)
def empty_tile(size: int = TILE_SIZE) -> bytes:
    """A fully transparent PNG tile (for tiles outside the image's footprint)."""
    zeros = np.zeros((size, size), dtype=np.uint8)
    data, _ = rendering.encode_image([zeros, zeros], [np.zeros((size, size), bool)] * 2, "PNG")
    return data


def _outside(image: Image, z: int, x: int, y: int) -> bool:
    if image.footprint is None:
        return False
    from shapely.geometry import box

    west, south, east, north = tile_bounds_lonlat(z, x, y)
    return not image.footprint.intersects(box(west, south, east, north))


def render_tile(image: Image, z: int, x: int, y: int, *, file_format: str = "PNG") -> tuple[bytes, str]:
    """Tile z/x/y of a visualization-ready image (1 to 4 uint8 bands, see :func:`rendering.apply_options`).

    Only the pixels of this tile are computed (the image is lazy); tiles outside the footprint cost nothing.

    Returns:
      (encoded bytes, content type).
    """
    if _outside(image, z, x, y):
        return empty_tile(), "image/png"
    grid = tile_grid(z, x, y)
    if on_worker_thread() or threading.current_thread().name.startswith(_RENDER_THREAD_PREFIX):
        return _render(image, grid, file_format)
    return _RENDER_POOL.submit(contextvars.copy_context().run, _render, image, grid, file_format).result()


def _render(image: Image, grid: Grid, file_format: str) -> tuple[bytes, str]:
    pixels = image.compute(grid)
    return rendering.encode_image([v for v, _ in pixels], [m for _, m in pixels], file_format)
