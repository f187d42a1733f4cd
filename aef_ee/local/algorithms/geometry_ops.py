"""Geometry operations: measures (area, perimeter, length, distance), shape operations (buffer, centroid, bounds,
transform, simplify, convex hull, dissolve), set operations and predicates, nearest points, covering grids and cut
lines.

Measures follow Earth Engine's documented models. Without ``proj``, areas (m²), perimeters and lengths (m) are
measured on the sphere -- geodesic edges are "geodesics along a spherical model of the earth" (apidocs
ee-geometry-edgesaregeodesics) -- the sphere of ``Image.pixelArea`` (radius :data:`EARTH_RADIUS_M`), so a region's
area equals the sum of its pixels' areas; edges straight in their CRS are densified before measuring. Distances are
the one measure Earth Engine documents otherwise: ``Geometry.distance``'s ``spherical`` argument, "If true, the
calculation will be done on the unit sphere. If false, the calculation will be elliptical, taking earth flattening
into account. ... Default is false." So distances (and ``withinDistance``, and the join measure of
``Filter.withinDistance``) are WGS84 ellipsoidal geodesics by default and great circles on that same sphere with
``spherical``. With ``proj`` every measure is planar, in that projection's units. Buffers and simplification in
metres run in a local azimuthal-equidistant projection about the geometry. Predicates and set operations run planar
in lon/lat, with geodesic edges followed along their great circles.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.ops
import shapely.prepared
from shapely import geometry as sg
from shapely.ops import nearest_points, unary_union

from aef_ee.local.algorithms.geometry import WGS84, crs_arg, geometry_arg, max_error_arg
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import EARTH_RADIUS_M
from aef_ee.local.projection import Projection, transformer
from aef_ee.local.semantics import number_arg
from aef_ee.local.values import Feature, FeatureCollection, Geometry

__all__ = [
    "bounds_of",
    "buffer_geometry",
    "centroid_of",
    "geodesic_area",
    "geodesic_length",
    "geometry_distance",
    "in_common_crs",
    "lonlat_shape",
    "lookup_geometry_op",
]

# Earth Engine measures on a sphere; use the radius Image.pixelArea uses so areas and pixel sums agree.
SPHERE = pyproj.Geod(a=EARTH_RADIUS_M, b=EARTH_RADIUS_M)
ELLIPSOID = pyproj.Geod(ellps="WGS84")
# Straight (non-geodesic) edges are densified to this many degrees (or 1/1000 of the extent in projected CRSs)
# before measuring them on the sphere, so a planar edge is measured as the curve it is on the Earth.
DENSIFY_DEGREES = 0.01
# A buffer's arcs are approximated by chords no further than this fraction of the distance from the true arc,
# unless maxError says otherwise (Earth Engine's default error margin is 1% of the buffer distance).
DEFAULT_BUFFER_ERROR_FRACTION = 0.01
# Geodesic edges longer than this (degrees) are followed along their great circle for lon/lat-planar work
# (predicates, set operations, bounds); over 0.1 degree a great circle departs from the straight lon/lat chord
# by about a metre at 60 degrees latitude (less nearer the equator).
GEODESIC_STEP_DEGREES = 0.1
MIN_QUAD_SEGMENTS = 8


# --- a common CRS for an operation ---------------------------------------------------------------------------

def _densify_ring_coords(coords: np.ndarray) -> np.ndarray:
    """Positions (N, 2) with points inserted along the great circle of every edge longer than the step."""
    lon, lat = coords[:, 0], coords[:, 1]
    long_edges = np.flatnonzero(np.maximum(np.abs(np.diff(lon)), np.abs(np.diff(lat))) > GEODESIC_STEP_DEGREES)
    if long_edges.size == 0:
        return coords
    pieces = []
    start = 0
    for i in long_edges:
        pieces.append(coords[start:i + 1, :2])
        span = max(abs(lon[i + 1] - lon[i]), abs(lat[i + 1] - lat[i]))
        n = int(math.ceil(span / GEODESIC_STEP_DEGREES)) - 1
        inner = SPHERE.npts(lon[i], lat[i], lon[i + 1], lat[i + 1], n)
        if inner:
            pieces.append(np.asarray(inner, np.float64))
        start = i + 1
    pieces.append(coords[start:, :2])
    return np.concatenate(pieces)


def _densify(shape: Any) -> Any:
    kind = shape.geom_type
    if kind in ("LineString", "LinearRing"):
        cls = sg.LinearRing if kind == "LinearRing" else sg.LineString
        return cls(_densify_ring_coords(np.asarray(shape.coords)))
    if kind == "Polygon":
        if shape.is_empty:
            return shape
        rings = [_densify_ring_coords(np.asarray(r.coords)) for r in [shape.exterior, *shape.interiors]]
        return sg.Polygon(rings[0], rings[1:])
    if kind in ("MultiLineString", "MultiPolygon", "GeometryCollection"):
        return type(shape)([_densify(g) for g in shape.geoms])
    return shape


def lonlat_shape(geometry: Geometry) -> Any:
    """The shape in EPSG:4326 for planar work there: a geodesic geometry's long edges get points along their great
    circles (every :data:`GEODESIC_STEP_DEGREES`), so lon/lat-planar predicates see the edges Earth Engine sees."""
    shape = geometry.in_crs(WGS84)
    if geometry.geodesic and geometry.crs == WGS84:
        return _densify(shape)
    return shape


def in_common_crs(left: Geometry, right: Geometry, proj: Any = None) -> tuple[Any, Any, str]:
    """Both shapes in one CRS: ``proj`` when given, else EPSG:4326 (geodesic edges followed)."""
    code = crs_arg(proj)
    if code is None:
        return lonlat_shape(left), lonlat_shape(right), WGS84
    return left.in_crs(code), right.in_crs(code), code


def _local_aeqd(shape: Any) -> str:
    """An azimuthal-equidistant CRS (metres, on the measuring sphere) centred on a WGS84 shape."""
    c = shape.centroid if not shape.is_empty else sg.Point(0, 0)
    lon = ((c.x + 180.0) % 360.0) - 180.0
    return f"+proj=aeqd +lat_0={c.y:.9f} +lon_0={lon:.9f} +R={EARTH_RADIUS_M} +units=m +no_defs"


@functools.lru_cache(maxsize=256)
def _aeqd_transformers(crs: str) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    forward = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
    backward = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    return forward, backward


def _apply(t: pyproj.Transformer, shape: Any) -> Any:
    def project(xy: np.ndarray) -> np.ndarray:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(shape, project)


def _in_metres(geometry: Geometry) -> tuple[Any, pyproj.Transformer]:
    """The shape in a local metric projection, and the transformer back to EPSG:4326."""
    lonlat = lonlat_shape(geometry)
    forward, backward = _aeqd_transformers(_local_aeqd(lonlat))
    return _apply(forward, lonlat), backward


def _lonlat_for_measure(geometry: Geometry) -> Any:
    """The shape in EPSG:4326, with straight edges densified when they are straight in another sense."""
    if geometry.geodesic and geometry.crs == WGS84:
        return geometry.shape
    shape = geometry.shape
    if shape.geom_type not in ("Point", "MultiPoint") and not shape.is_empty:
        xmin, ymin, xmax, ymax = shape.bounds
        step = DENSIFY_DEGREES if geometry.crs == WGS84 else max(xmax - xmin, ymax - ymin, 1e-9) / 1000.0
        shape = shapely.segmentize(shape, step)
    return Geometry(shape, geometry.crs, geometry.geodesic).in_crs(WGS84)


# --- measures ------------------------------------------------------------------------------------------------

def _polygons(shape: Any) -> list[Any]:
    if shape.geom_type == "Polygon":
        return [shape]
    if hasattr(shape, "geoms"):
        return [p for g in shape.geoms for p in _polygons(g)]
    return []


def _lines(shape: Any) -> list[Any]:
    if shape.geom_type in ("LineString", "LinearRing"):
        return [shape]
    if shape.geom_type == "MultiLineString" or shape.geom_type == "GeometryCollection":
        return [line for g in shape.geoms for line in _lines(g)]
    return []


def geodesic_area(geometry: Geometry) -> float:
    """Area in m² on the sphere; points and lines have none; parts are summed."""
    total = 0.0
    for polygon in _polygons(_lonlat_for_measure(geometry)):
        area, _ = SPHERE.geometry_area_perimeter(sg.polygon.orient(polygon, 1.0))
        total += abs(area)
    return total


def geodesic_length(geometry: Geometry, *, perimeter: bool) -> float:
    """Length in m on the sphere of the linear parts (``perimeter=False``) or of the polygon rings."""
    shape = _lonlat_for_measure(geometry)
    parts = ([r for p in _polygons(shape) for r in [p.exterior, *p.interiors]] if perimeter else _lines(shape))
    return float(sum(SPHERE.line_length(*np.asarray(line.coords).T[:2]) for line in parts))


def _planar_shape(geometry: Geometry, proj: Any) -> Any:
    return geometry.in_crs(crs_arg(proj))


@algorithm("Geometry.area")
def area(geometry: Any, maxError: Any = None, proj: Any = None) -> float:
    geom = geometry_arg(geometry)
    if proj is not None:
        return float(sum(p.area for p in _polygons(_planar_shape(geom, proj))))
    return geodesic_area(geom)


@algorithm("Geometry.perimeter")
def perimeter(geometry: Any, maxError: Any = None, proj: Any = None) -> float:
    geom = geometry_arg(geometry)
    if proj is not None:
        return float(sum(p.length for p in _polygons(_planar_shape(geom, proj))))
    return geodesic_length(geom, perimeter=True)


@algorithm("Geometry.length")
def length(geometry: Any, maxError: Any = None, proj: Any = None) -> float:
    geom = geometry_arg(geometry)
    if proj is not None:
        return float(sum(line.length for line in _lines(_planar_shape(geom, proj))))
    return geodesic_length(geom, perimeter=False)


def geometry_distance(left: Geometry, right: Geometry, proj: Any = None, spherical: bool = False) -> float:
    """Shortest distance in metres (ellipsoidal, or spherical), or in ``proj`` units when given."""
    if proj is not None:
        a, b, _ = in_common_crs(left, right, proj)
        return float(a.distance(b))
    a, b = left.in_crs(WGS84), right.in_crs(WGS84)
    if a.is_empty or b.is_empty:
        raise InvalidArgument("Geometry.distance: Empty geometry.")
    if a.intersects(b):
        return 0.0
    pa, pb = nearest_points(a, b)
    if not (a.geom_type == "Point" and b.geom_type == "Point"):
        # Nearest points in lon/lat are approximate; refine in a metric projection about them.
        forward, backward = _aeqd_transformers(_local_aeqd(sg.MultiPoint([pa, pb])))
        ma, mb = _apply(forward, a), _apply(forward, b)
        pa, pb = (_apply(backward, p) for p in nearest_points(ma, mb))
    geod = SPHERE if spherical else ELLIPSOID
    _, _, dist = geod.inv(pa.x, pa.y, pb.x, pb.y)
    return float(dist)


@algorithm("Geometry.distance")
def distance(
    left: Any, right: Any, maxError: Any = None, proj: Any = None, spherical: bool = False,
) -> float:
    return geometry_distance(geometry_arg(left), geometry_arg(right), proj, spherical)


# --- shape operations ----------------------------------------------------------------------------------------

def _quad_segments(dist: float, max_error: float | None) -> int:
    tolerance = max_error if max_error and max_error > 0 else abs(dist) * DEFAULT_BUFFER_ERROR_FRACTION
    if dist == 0 or tolerance >= abs(dist):
        return MIN_QUAD_SEGMENTS
    half_angle = math.acos(1.0 - tolerance / abs(dist))
    return max(MIN_QUAD_SEGMENTS, math.ceil((math.pi / 2) / (2 * half_angle)))


def buffer_geometry(geometry: Geometry, dist: float, max_error: Any = None, proj: Any = None) -> Geometry:
    """Buffered by ``dist`` metres (or ``proj`` units); negative distances shrink polygons."""
    dist = number_arg(dist, "Geometry.buffer")
    quad = _quad_segments(dist, max_error_arg(max_error))
    if proj is not None:
        code = crs_arg(proj)
        shape = geometry.in_crs(code).buffer(dist, quad_segs=quad)
        return Geometry(Geometry(shape, code).in_crs(geometry.crs), geometry.crs, geometry.geodesic)
    metric, back = _in_metres(geometry)
    shape = _apply(back, metric.buffer(dist, quad_segs=quad))
    return Geometry(Geometry(shape).in_crs(geometry.crs), geometry.crs, geometry.geodesic)


@algorithm("Geometry.buffer")
def buffer(geometry: Any, distance: float, maxError: Any = None, proj: Any = None) -> Geometry:
    return buffer_geometry(geometry_arg(geometry), distance, maxError, proj)


def centroid_of(geometry: Geometry, proj: Any = None) -> Geometry:
    """The centroid of the highest-dimension parts, computed in a local metric projection (or in ``proj``)."""
    if proj is not None:
        code = crs_arg(proj)
        return Geometry(geometry.in_crs(code).centroid, code, False)
    if geometry.shape.is_empty:
        return Geometry(sg.Point(), WGS84, True)
    metric, back = _in_metres(geometry)
    return Geometry(_apply(back, metric.centroid), WGS84, True)


@algorithm("Geometry.centroid")
def centroid(geometry: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    return centroid_of(geometry_arg(geometry), proj)


def bounds_of(geometry: Geometry, proj: Any = None) -> Geometry:
    """The bounding rectangle, planar, in EPSG:4326 or in ``proj``."""
    code = crs_arg(proj) or WGS84
    shape = lonlat_shape(geometry) if code == WGS84 else geometry.in_crs(code)
    if shape.is_empty:
        return Geometry(sg.Polygon(), code, False)
    xmin, ymin, xmax, ymax = shape.bounds
    if xmin == xmax or ymin == ymax:  # a point or an axis-parallel line bounds to itself
        return Geometry(shapely.envelope(shape), code, False)
    ring = [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin)]
    return Geometry(sg.Polygon(ring), code, False)


@algorithm("Geometry.bounds")
def bounds(geometry: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    return bounds_of(geometry_arg(geometry), proj)


@algorithm("Geometry.transform")
def transform(
    geometry: Any, proj: Any = None, maxError: Any = None, geodesic: bool | None = None,
) -> Geometry:
    geom = geometry_arg(geometry)
    code = crs_arg(proj) or WGS84
    target_geographic = pyproj.CRS.from_user_input(code).is_geographic
    if geodesic is None:  # documented: geodesic edges in a geographic CRS, straight ones in a projected CRS
        geodesic = target_geographic
    return Geometry(geom.in_crs(code), code, bool(geodesic))


def _metric_op(geometry: Geometry, op) -> Geometry:
    metric, back = _in_metres(geometry)
    return Geometry(Geometry(_apply(back, op(metric))).in_crs(geometry.crs), geometry.crs, geometry.geodesic)


@algorithm("Geometry.simplify")
def simplify(geometry: Any, maxError: Any, proj: Any = None) -> Geometry:
    geom = geometry_arg(geometry)
    tolerance = max_error_arg(maxError) or 0.0
    if proj is not None:
        code = crs_arg(proj)
        shape = geom.in_crs(code).simplify(tolerance)
        return Geometry(Geometry(shape, code).in_crs(geom.crs), geom.crs, geom.geodesic)
    return _metric_op(geom, lambda s: s.simplify(tolerance))


@algorithm("Geometry.convexHull")
def convex_hull(geometry: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    geom = geometry_arg(geometry)
    return Geometry(geom.shape.convex_hull, geom.crs, geom.geodesic)


@algorithm("Geometry.dissolve")
def dissolve(geometry: Any, maxError: Any = None, proj: Any = None) -> Geometry:
    """The union of a multi-geometry's parts; single geometries are returned untouched."""
    geom = geometry_arg(geometry)
    if not hasattr(geom.shape, "geoms"):
        return geom
    return Geometry(unary_union(list(geom.shape.geoms)), geom.crs, geom.geodesic)


_BINARY_OPS: dict[str, Any] = {}


def lookup_geometry_op(name: str) -> Any:
    """The implementation of the binary ``Geometry.<name>`` (for the Feature.* variants)."""
    return _BINARY_OPS[name]


def _set_op(name: str, op) -> None:
    def impl(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> Geometry:
        lg, rg = geometry_arg(left), geometry_arg(right)
        a, b, code = in_common_crs(lg, rg, proj)
        return Geometry(op(a, b), code, lg.geodesic if code == WGS84 else False)

    impl.__name__ = name
    _BINARY_OPS[name] = impl
    algorithm(f"Geometry.{name}")(impl)


_set_op("intersection", lambda a, b: a.intersection(b))
_set_op("union", lambda a, b: unary_union([a, b]))
_set_op("difference", lambda a, b: a.difference(b))
_set_op("symmetricDifference", lambda a, b: a.symmetric_difference(b))


def _predicate(name: str, op) -> None:
    def impl(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> bool:
        a, b, _ = in_common_crs(geometry_arg(left), geometry_arg(right), proj)
        return bool(op(a, b))

    impl.__name__ = name
    _BINARY_OPS[name] = impl
    algorithm(f"Geometry.{name}")(impl)


_predicate("intersects", lambda a, b: a.intersects(b))
_predicate("disjoint", lambda a, b: a.disjoint(b))
_predicate("contains", lambda a, b: a.covers(b))
_predicate("containedIn", lambda a, b: b.covers(a))


@algorithm("Geometry.withinDistance")
def within_distance(
    left: Any, right: Any, distance: float, maxError: Any = None, proj: Any = None,
) -> bool:
    limit = number_arg(distance, "Geometry.withinDistance")
    return geometry_distance(geometry_arg(left), geometry_arg(right), proj) <= limit


# --- nearest points, grids and cut lines ---------------------------------------------------------------------

def _point_or_none(shape: Any) -> Geometry | None:
    return None if shape is None or shape.is_empty else Geometry(shape, WGS84, True)


def _closest(left: Any, right: Any, proj: Any) -> tuple[Any, Any] | None:
    lg, rg = geometry_arg(left), geometry_arg(right)
    a, b, code = in_common_crs(lg, rg, proj)
    if a.is_empty or b.is_empty:
        return None
    if code == WGS84:
        forward, backward = _aeqd_transformers(_local_aeqd(sg.GeometryCollection([a, b])))
        pa, pb = nearest_points(_apply(forward, a), _apply(forward, b))
        return _apply(backward, pa), _apply(backward, pb)
    pa, pb = nearest_points(a, b)
    t = transformer(code, WGS84)
    return sg.Point(t.transform(pa.x, pa.y)), sg.Point(t.transform(pb.x, pb.y))


@algorithm("Geometry.closestPoint")
def closest_point(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> Geometry | None:
    """The point of ``right`` nearest to ``left`` (None when either is empty)."""
    found = _closest(left, right, proj)
    return None if found is None else _point_or_none(found[1])


@algorithm("Geometry.closestPoints")
def closest_points(
    left: Any, right: Any, maxError: Any = None, proj: Any = None,
) -> dict[str, Any] | None:
    """{'left': point of left nearest right, 'right': point of right nearest left}."""
    found = _closest(left, right, proj)
    if found is None:
        return None
    return {"left": _point_or_none(found[0]), "right": _point_or_none(found[1])}


@algorithm("Geometry.coveringGrid")
def covering_grid(geometry: Any, proj: Any, scale: float | None = None) -> Any:
    """The cells of ``proj``'s grid (at ``scale`` metres when given) that intersect the geometry, as features
    with ids "col,row" (cell indices in the grid)."""
    if not isinstance(proj, Projection):
        proj = Projection(crs_arg(proj) or WGS84)
    if scale is not None:
        proj = proj.at_scale(number_arg(scale, "Geometry.coveringGrid"))
    a, b, c, d, e, f = proj.transform
    if b or d:
        raise InvalidArgument("Geometry.coveringGrid: rotated or sheared projections are not supported.")
    shape = geometry_arg(geometry).in_crs(proj.crs)
    if shape.is_empty:
        return FeatureCollection([])
    xmin, ymin, xmax, ymax = shape.bounds
    cols = sorted(((xmin - c) / a, (xmax - c) / a))
    rows = sorted(((ymin - f) / e, (ymax - f) / e))
    col0, col1 = math.floor(cols[0]), math.ceil(cols[1])
    row0, row1 = math.floor(rows[0]), math.ceil(rows[1])
    if (col1 - col0) * (row1 - row0) > MAX_GRID_CELLS:
        raise InvalidArgument(f"Geometry.coveringGrid: {(col1 - col0) * (row1 - row0)} cells exceed the limit of "
                              f"{MAX_GRID_CELLS}; use a coarser scale.")
    prepared = shapely.prepared.prep(shape)
    features = []
    for row in range(row0, max(row1, row0 + 1)):
        for col in range(col0, max(col1, col0 + 1)):
            x0, x1 = sorted((c + a * col, c + a * (col + 1)))
            y0, y1 = sorted((f + e * row, f + e * (row + 1)))
            cell = sg.box(x0, y0, x1, y1)
            if prepared.intersects(cell):
                features.append(Feature(Geometry(cell, proj.crs, False), {"system:index": f"{col},{row}"}))
    return FeatureCollection(features)


# coveringGrid refuses to make more cells than this in one call (a guard against a scale typo).
MAX_GRID_CELLS = 1_000_000


@algorithm("Geometry.cutLines")
def cut_lines(
    geometry: Any, distances: Sequence[float], maxError: Any = None, proj: Any = None,
) -> Geometry:
    """Lines cut at the given distances (metres, or ``proj`` units) along each, as a MultiLineString."""
    geom = geometry_arg(geometry)
    if not isinstance(distances, (list, tuple)):
        raise InvalidArgument(f"Geometry.cutLines: distances must be a list of numbers; got {distances!r}.")
    cuts = sorted(number_arg(v, "Geometry.cutLines") for v in distances)
    if proj is not None:
        code = crs_arg(proj)
        lines, back = _lines(geom.in_crs(code)), transformer(code, WGS84)
    else:
        metric, back = _in_metres(geom)
        lines = _lines(metric)
    pieces = []
    for line in lines:
        marks = [0.0] + [v for v in cuts if 0.0 < v < line.length] + [line.length]
        pieces.extend(shapely.ops.substring(line, s, t) for s, t in zip(marks, marks[1:]) if t > s)
    shape = _apply(back, sg.MultiLineString(pieces))
    return Geometry(Geometry(shape).in_crs(geom.crs), geom.crs, geom.geodesic)
