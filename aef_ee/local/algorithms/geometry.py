"""Geometry values: constructors (``GeometryConstructors.*``, GeoJSON), the ``geometry`` / ``proj`` / ``maxError``
arguments every geometry algorithm takes, ``ErrorMargin``, and the algorithms that describe a geometry (type,
coordinates, parts, geodesic flag, projection).

Geometries are :class:`aef_ee.local.values.Geometry` (a shapely shape in its CRS plus Earth Engine's geodesic flag).
Measures, shape operations, predicates and grids are :mod:`aef_ee.local.algorithms.geometry_ops`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely import geometry as sg

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import as_geometry
from aef_ee.local.projection import Projection, normalize_crs
from aef_ee.local.semantics import number_arg
from aef_ee.local.values import Geometry

__all__ = [
    "WGS84",
    "ErrorMargin",
    "build_geometry",
    "crs_arg",
    "geometry_arg",
    "geometry_from_geojson",
    "max_error_arg",
    "crs_arg",
]

WGS84 = "EPSG:4326"


@dataclasses.dataclass(frozen=True)
class ErrorMargin:
    """Earth Engine's ``ErrorMargin``: a tolerance in metres or projection units, or 'infinite'."""

    value: float | None
    unit: str = "meters"

    def to_info(self) -> dict[str, Any]:
        return {"type": "ErrorMargin", "unit": self.unit, "value": self.value}


@algorithm("ErrorMargin")
def error_margin(value: float | None = None, unit: str = "meters") -> ErrorMargin:
    if unit not in ("meters", "projected", "infinite"):
        raise InvalidArgument(f"ErrorMargin: unit must be 'meters', 'projected' or 'infinite'; got {unit!r}.")
    return ErrorMargin(None if value is None else number_arg(value, "ErrorMargin"), unit)


def max_error_arg(value: Any) -> float | None:
    """A ``maxError`` argument (an ErrorMargin, its JSON, or a number) as a tolerance, or None."""
    if value is None:
        return None
    if isinstance(value, ErrorMargin):
        return value.value
    if isinstance(value, dict) and value.get("type") == "ErrorMargin":
        return value.get("value")
    return number_arg(value, "maxError")


# --- arguments -------------------------------------------------------------------------------------------------

def crs_arg(proj: Any) -> str | None:
    """The CRS code of a ``crs``/``proj`` argument (a Projection, a code, a GeoJSON crs, or None)."""
    if proj is None:
        return None
    if isinstance(proj, Projection):
        return proj.crs
    if isinstance(proj, dict):
        if proj.get("type") == "Projection":
            return normalize_crs(proj["crs"])
        name = (proj.get("properties") or {}).get("name")
        if name:
            return normalize_crs(name)
    if isinstance(proj, str):
        return normalize_crs(proj)
    raise InvalidArgument(f"Expected a projection; got {proj!r}.")


def geometry_arg(value: Any) -> Geometry:
    """A ``geometry`` argument as a Geometry: a Geometry, a Feature's geometry, or a GeoJSON geometry object."""
    if isinstance(value, dict):
        return geometry_from_geojson(value)
    return as_geometry(value)


# --- constructors --------------------------------------------------------------------------------------------

# How deeply each type nests its coordinates: a position is depth 1.
_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "LinearRing": 2, "Polygon": 3, "MultiLineString": 3,
          "MultiPolygon": 4}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _nesting(value: Any) -> int:
    depth = 0
    while isinstance(value, (list, tuple)):
        if not value:
            return depth + 1
        depth += 1
        value = value[0]
    return depth


def _fix_depth(kind: str, coordinates: Any) -> Any:
    """Accepts flat [x1, y1, x2, y2, ...] lists and under-nested lists, as Earth Engine's constructors do."""
    if not isinstance(coordinates, (list, tuple)):
        raise InvalidArgument(f"Geometry.{kind}: Invalid coordinates: expected a list; got {coordinates!r}.")
    coords: Any = list(coordinates)
    if coords and all(_is_number(v) for v in coords):
        if len(coords) % 2:
            raise InvalidArgument(f"Geometry.{kind}: Invalid number of coordinates: {len(coords)}.")
        coords = coords if len(coords) == 2 and kind == "Point" else [coords[i:i + 2] for i in range(0, len(coords), 2)]
        if kind == "Point" and len(coords) == 1:
            coords = coords[0]
    want = _DEPTH[kind]
    have = _nesting(coords)
    if have > want:
        raise InvalidArgument(f"Geometry.{kind}: Invalid geometry: coordinates are nested {have} deep; "
                              f"a {kind} takes {want}.")
    while have < want:
        coords = [coords]
        have += 1
    return coords


def _position(kind: str, position: Any, geographic: bool) -> tuple[float, float]:
    if not isinstance(position, (list, tuple)) or len(position) < 2:
        raise InvalidArgument(f"Geometry.{kind}: Invalid coordinates: a position needs x and y; got {position!r}.")
    if not all(_is_number(v) for v in position):
        raise InvalidArgument(f"Geometry.{kind}: Invalid coordinates: expected numbers; got {position!r}.")
    x, y = float(position[0]), float(position[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidArgument(f"Geometry.{kind}: Invalid coordinates: {position!r} is not finite.")
    if geographic and abs(y) > 90:
        raise InvalidArgument(f"Geometry.{kind}: Latitude out of range [-90, 90]: {y}.")
    return x, y


def _line(kind: str, positions: Any, geographic: bool, minimum: int) -> list[tuple[float, float]]:
    points = [_position(kind, p, geographic) for p in positions]
    if len(points) < minimum:
        raise InvalidArgument(f"Geometry.{kind}: Invalid geometry: a {kind} needs at least {minimum} points; "
                              f"got {len(points)}.")
    return points


def _ring(kind: str, positions: Any, geographic: bool) -> list[tuple[float, float]]:
    points = _line(kind, positions, geographic, 3)
    if points[0] != points[-1]:
        points.append(points[0])
    if len(set(points)) < 3:
        raise InvalidArgument(f"Geometry.{kind}: Invalid geometry: LinearRing requires at least 3 distinct points.")
    return points


def _polygon(kind: str, rings: Any, geographic: bool, even_odd: bool) -> sg.Polygon:
    if not rings:
        raise InvalidArgument(f"Geometry.{kind}: Invalid geometry: a polygon needs at least one ring.")
    shell, *holes = [_ring(kind, r, geographic) for r in rings]
    polygon = sg.Polygon(shell, holes)
    if not polygon.is_valid:
        # Earth Engine accepts self-intersecting rings (even/odd rule); make_valid gives that reading.
        polygon = shapely.make_valid(polygon)
    return polygon


def _shape(kind: str, coordinates: Any, geographic: bool, even_odd: bool) -> Any:
    coords = _fix_depth(kind, coordinates)
    if kind == "Point":
        return sg.Point(_position(kind, coords, geographic))
    if kind == "MultiPoint":
        return sg.MultiPoint([_position(kind, p, geographic) for p in coords])
    if kind == "LineString":
        return sg.LineString(_line(kind, coords, geographic, 2))
    if kind == "LinearRing":
        return sg.LinearRing(_ring(kind, coords, geographic))
    if kind == "MultiLineString":
        return sg.MultiLineString([_line(kind, line, geographic, 2) for line in coords])
    if kind == "Polygon":
        return _polygon(kind, coords, geographic, even_odd)
    if kind == "MultiPolygon":
        parts = []
        for rings in coords:
            poly = _polygon(kind, rings, geographic, even_odd)
            parts.extend(poly.geoms if hasattr(poly, "geoms") else [poly])
        return sg.MultiPolygon([p for p in parts if p.geom_type == "Polygon"])
    raise InvalidArgument(f"Unknown geometry type {kind!r}.")


def build_geometry(kind: str, coordinates: Any, crs: Any = None, geodesic: bool | None = None,
                   even_odd: bool | None = True) -> Geometry:
    """A geometry of ``kind`` from GeoJSON-style coordinates, validated as Earth Engine validates them.

    Raises:
        InvalidArgument: malformed coordinates, too few points, non-numeric values, latitude beyond ±90°.
    """
    code = crs_arg(crs) or WGS84
    geographic = pyproj.CRS.from_user_input(code).is_geographic
    shape = _shape(kind, coordinates, geographic, True if even_odd is None else bool(even_odd))
    if geodesic is None:
        geodesic = geographic
    return Geometry(shape, code, bool(geodesic))


def _register_constructor(kind: str) -> None:
    def construct(coordinates: Any, crs: Any = None, geodesic: bool | None = None, maxError: Any = None,
                  evenOdd: bool | None = True) -> Geometry:
        return build_geometry(kind, coordinates, crs, geodesic, evenOdd)

    construct.__name__ = f"construct_{kind.lower()}"
    algorithm(f"GeometryConstructors.{kind}")(construct)


for _kind in ("Point", "MultiPoint", "LineString", "LinearRing", "Polygon", "MultiLineString", "MultiPolygon"):
    _register_constructor(_kind)


@algorithm("GeometryConstructors.Rectangle")
def rectangle(
    coordinates: Any, crs: Any = None, geodesic: bool | None = None, evenOdd: bool = True,
) -> Geometry:
    """A rectangle from [xmin, ymin, xmax, ymax] or two corner points."""
    flat = coordinates
    if isinstance(coordinates, (list, tuple)) and coordinates and isinstance(coordinates[0], (list, tuple)):
        flat = [v for p in coordinates for v in p]
    if not isinstance(flat, (list, tuple)) or len(flat) != 4 or not all(_is_number(v) for v in flat):
        raise InvalidArgument(f"Geometry.Rectangle: Invalid coordinates: expected [xMin, yMin, xMax, yMax]; "
                              f"got {coordinates!r}.")
    x0, y0, x1, y1 = (float(v) for v in flat)
    ring = [[x0, y1], [x0, y0], [x1, y0], [x1, y1]]
    # As Earth Engine documents: geodesic by default when the corners are numbers in a geographic CRS.
    return build_geometry("Polygon", [ring], crs, geodesic, evenOdd)


@algorithm("GeometryConstructors.BBox")
def bbox(west: float, south: float, east: float, north: float) -> Geometry:
    """A planar WGS84 rectangle between lines of longitude and latitude (latitudes clamped to ±90°)."""
    west, south, east, north = (number_arg(v, "Geometry.BBox") for v in (west, south, east, north))
    if east - west >= 360:
        west, east = -180.0, 180.0
    south, north = max(south, -90.0), min(north, 90.0)
    if south > north:
        raise InvalidArgument(f"Geometry.BBox: south ({south}) must not be greater than north ({north}).")
    ring = [[west, north], [west, south], [east, south], [east, north]]
    return build_geometry("Polygon", [ring], None, False)


@algorithm("GeometryConstructors.MultiGeometry")
def multi_geometry(geometries: Sequence[Any], crs: Any = None, geodesic: bool | None = None,
                   maxError: Any = None) -> Geometry:
    parts = [as_geometry(g) for g in geometries]
    code = crs_arg(crs) or (parts[0].crs if parts else WGS84)
    shape = sg.GeometryCollection([p.in_crs(code) for p in parts])
    if geodesic is None:
        geodesic = parts[0].geodesic if parts else True
    return Geometry(shape, code, bool(geodesic))


def geometry_from_geojson(geojson: dict[str, Any]) -> Geometry:
    """A geometry from a GeoJSON geometry object (with Earth Engine's optional ``geodesic``/``evenOdd``/``crs``)."""
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise InvalidArgument(f"Invalid GeoJSON geometry: {str(geojson)[:200]}")
    kind = geojson["type"]
    if kind == "GeometryCollection":
        parts = [geometry_from_geojson(g) for g in geojson.get("geometries", [])]
        return multi_geometry(parts, geojson.get("crs"), geojson.get("geodesic"))
    if kind not in _DEPTH:
        raise InvalidArgument(f"Invalid GeoJSON geometry type {kind!r}.")
    return build_geometry(kind, geojson.get("coordinates"), geojson.get("crs"), geojson.get("geodesic"),
                          geojson.get("evenOdd", True))


# --- description ---------------------------------------------------------------------------------------------

def _coords(shape: Any) -> Any:
    kind = shape.geom_type
    if kind == "Point":
        return list(shape.coords[0]) if not shape.is_empty else []
    if kind in ("LineString", "LinearRing"):
        return [list(c) for c in shape.coords]
    if kind == "Polygon":
        if shape.is_empty:
            return []
        return [[list(c) for c in ring.coords] for ring in [shape.exterior, *shape.interiors]]
    if kind == "GeometryCollection":
        return [_coords(g) for g in shape.geoms]
    return [_coords(g) for g in shape.geoms]


@algorithm("Geometry.coordinates")
def coordinates(geometry: Any) -> list[Any]:
    return _coords(geometry_arg(geometry).shape)


@algorithm("Geometry.type")
def geometry_type(geometry: Any) -> str:
    return geometry_arg(geometry).shape.geom_type


@algorithm("Geometry.geometries")
def geometries(geometry: Any) -> list[Geometry]:
    geom = geometry_arg(geometry)
    parts = list(geom.shape.geoms) if hasattr(geom.shape, "geoms") else [geom.shape]
    return [Geometry(p, geom.crs, geom.geodesic) for p in parts]


@algorithm("Geometry.geodesic", "Geometry.edgesAreGeodesics")
def is_geodesic(geometry: Any) -> bool:
    return geometry_arg(geometry).geodesic


@algorithm("Geometry.isUnbounded")
def is_unbounded(geometry: Any) -> bool:
    shape = geometry_arg(geometry).in_crs(WGS84)
    return bool(not shape.is_empty and shape.bounds == (-180.0, -90.0, 180.0, 90.0))


@algorithm("Geometry.projection")
def geometry_projection(geometry: Any) -> Projection:
    return Projection(geometry_arg(geometry).crs)
