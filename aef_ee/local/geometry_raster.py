"""Where geometries meet pixels: rasterising a geometry onto a grid, and the area of each pixel."""

from __future__ import annotations

from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid, transformer
from aef_ee.local.values import Feature, FeatureCollection, Geometry

__all__ = ["as_geometry", "geometry_mask", "pixel_areas", "EARTH_RADIUS_M"]

# Earth Engine measures areas on a sphere of this radius (the WGS84 semi-major axis).
EARTH_RADIUS_M = 6378137.0


def as_geometry(value: Any) -> Geometry:
    """A geometry from a Geometry, a Feature or a FeatureCollection (the union of its geometries)."""
    if isinstance(value, Geometry):
        return value
    if isinstance(value, Feature):
        if value.geometry is None:
            raise InvalidArgument("Feature has no geometry.")
        return value.geometry
    if isinstance(value, FeatureCollection):
        from shapely.ops import unary_union

        shapes = [f.geometry.in_crs("EPSG:4326") for f in value.features if f.geometry is not None]
        if not shapes:
            raise InvalidArgument("FeatureCollection has no geometries.")
        return Geometry(unary_union(shapes))
    if hasattr(value, "footprint"):  # an Image
        if value.footprint is None:
            raise InvalidArgument("Image is unbounded; it has no geometry.")
        return Geometry(value.footprint, geodesic=False)
    raise InvalidArgument(f"Expected a Geometry, Feature or FeatureCollection; got {type(value).__name__}.")


def geometry_mask(geometry: Geometry, grid: Grid) -> np.ndarray:
    """True for grid pixels whose centre lies inside ``geometry`` (points and lines: the pixels they touch)."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    shape = geometry.in_crs(grid.crs)
    if shape.is_empty:
        return np.zeros(grid.shape, bool)
    a, b, c, d, e, f = grid.transform
    touched = shape.geom_type in ("Point", "MultiPoint", "LineString", "MultiLineString")
    burned = rasterize([(shape, 1)], out_shape=grid.shape, transform=Affine(a, b, c, d, e, f), fill=0,
                       all_touched=touched, dtype=np.uint8)
    return burned.astype(bool)


def pixel_areas(grid: Grid) -> np.ndarray:
    """Area of every pixel of ``grid`` in m², on the sphere, from its four corners. Shape (H, W) float64."""
    a, b, c, d, e, f = grid.transform
    cols = np.arange(grid.width + 1, dtype=np.float64)
    rows = np.arange(grid.height + 1, dtype=np.float64)
    cc, rr = np.meshgrid(cols, rows)
    x = a * cc + b * rr + c
    y = d * cc + e * rr + f
    if grid.crs != "EPSG:4326":
        x, y = transformer(grid.crs, "EPSG:4326").transform(x, y)
    lon = np.radians(x)
    lat = np.radians(y)
    # Spherical polygon area of each quadrilateral (corners in ring order), by the trapezoid-on-sphere formula.
    ring = [(slice(None, -1), slice(None, -1)), (slice(None, -1), slice(1, None)),
            (slice(1, None), slice(1, None)), (slice(1, None), slice(None, -1))]
    total = np.zeros((grid.height, grid.width))
    for k in range(4):
        r1, c1 = ring[k]
        r2, c2 = ring[(k + 1) % 4]
        dlon = lon[r2, c2] - lon[r1, c1]
        dlon = (dlon + np.pi) % (2 * np.pi) - np.pi
        total += dlon * (2 + np.sin(lat[r1, c1]) + np.sin(lat[r2, c2]))
    return np.abs(total) * EARTH_RADIUS_M**2 / 2
