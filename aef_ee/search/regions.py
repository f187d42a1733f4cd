"""Region filters on index rows: which sample locations lie in a box or a (multi)polygon, in degrees.

A region is ``[west, south, east, north]``, a GeoJSON ``Polygon`` / ``MultiPolygon`` (geometry or Feature dict), or
an ``ee.Geometry`` (turned into GeoJSON with one ``getInfo``). Inside-ness is the even-odd rule on the rings in
longitude / latitude, which is what the planar geometries of the issue's filters mean; a box may cross the
antimeridian (west > east).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aef_ee.errors import AefValueError

__all__ = ["Region", "as_region", "inside"]

# A region as the filters use it: a bounding box, or a list of polygons each a list of rings of (lon, lat).
Region = tuple[float, float, float, float] | list[list[np.ndarray]]


def as_region(region: Any) -> Region:
    """Normalises a region argument (see the module docstring).

    Raises:
      AefValueError: not a box of four numbers within the globe, nor a polygon.
    """
    if region is None:
        raise AefValueError("region is None")
    if _is_ee_geometry(region):
        region = region.getInfo()
    if isinstance(region, (list, tuple)) and len(region) == 4 and all(isinstance(v, (int, float)) for v in region):
        west, south, east, north = (float(v) for v in region)
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south < north <= 90):
            raise AefValueError(f"a region box is [west, south, east, north] in degrees with south < north; got "
                                f"{list(region)!r}")
        return (west, south, east, north)
    if isinstance(region, dict):
        geometry = region.get("geometry", region) if region.get("type") == "Feature" else region
        kind = geometry.get("type")
        coordinates = geometry.get("coordinates")
        try:
            if kind == "Polygon":
                return [_rings(coordinates)]
            if kind == "MultiPolygon":
                return [_rings(p) for p in coordinates]
        except (TypeError, ValueError, IndexError) as exc:
            raise AefValueError(f"bad {kind} coordinates: {exc}") from exc
        raise AefValueError(f"a region must be a Polygon or MultiPolygon; got a {kind!r} geometry")
    raise AefValueError(f"region must be [west, south, east, north], a GeoJSON polygon or an ee.Geometry; got "
                        f"{region!r:.200}")


def _is_ee_geometry(value: Any) -> bool:
    try:
        import ee
    except ImportError:  # the filters work without the ee client
        return False
    return isinstance(value, ee.ComputedObject)


def _rings(coordinates: Any) -> list[np.ndarray]:
    rings = [np.asarray(ring, np.float64)[:, :2] for ring in coordinates]
    if not rings or any(len(r) < 3 for r in rings):
        raise AefValueError("a polygon needs at least one ring of three or more positions")
    return rings


def inside(region: Region, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n,) bool: which (lon, lat) lie in ``region`` (as returned by :func:`as_region`)."""
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    if isinstance(region, tuple):
        west, south, east, north = region
        in_lat = (lat >= south) & (lat <= north)
        in_lon = (lon >= west) & (lon <= east) if west <= east else (lon >= west) | (lon <= east)
        return in_lat & in_lon
    result = np.zeros(lon.shape, bool)
    for rings in region:
        lo, la = rings[0].min(axis=0), rings[0].max(axis=0)
        candidates = np.flatnonzero((lon >= lo[0]) & (lon <= la[0]) & (lat >= lo[1]) & (lat <= la[1]))
        if not len(candidates):
            continue
        x, y = lon[candidates], lat[candidates]
        odd = np.zeros(len(candidates), bool)
        for ring in rings:  # even-odd over the outer ring and its holes
            odd ^= _crossings_odd(ring, x, y)
        result[candidates[odd]] = True
    return result


def _crossings_odd(ring: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    odd = np.zeros(len(x), bool)
    x0, y0 = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1, strict=True):
        if ay == by:
            continue
        crosses = (ay > y) != (by > y)
        at = ax + (y - ay) * (bx - ax) / (by - ay)
        odd ^= crosses & (x < at)
    return odd
