"""ee.Geometry on the local engine through the real earthengine-api client, checked against shapely and pyproj
computed directly."""

from __future__ import annotations

import math

import numpy as np
import pyproj
import pytest
from shapely import geometry as sg

from aef_ee.local.geometry_raster import EARTH_RADIUS_M

SPHERE = pyproj.Geod(a=EARTH_RADIUS_M, b=EARTH_RADIUS_M)
WGS84 = pyproj.Geod(ellps="WGS84")
SQUARE = [[5.0, 50.0], [5.2, 50.0], [5.2, 50.1], [5.0, 50.1], [5.0, 50.0]]


def _sphere_area(ring):
    lons, lats = np.asarray(ring).T
    area, _ = SPHERE.polygon_area_perimeter(lons, lats)
    return abs(area)


def test_constructors_round_trip(ee):
    assert ee.Geometry.Point([1.5, -2]).getInfo() == {"type": "Point", "coordinates": [1.5, -2.0]}
    mp = ee.Geometry.MultiPoint([[0, 0], [1, 1]]).getInfo()
    assert mp["type"] == "MultiPoint" and mp["coordinates"] == [[0, 0], [1, 1]]
    line = ee.Geometry.LineString([0, 0, 1, 1, 2, 0], None, False).getInfo()  # flat list, server-side path
    assert line["coordinates"] == [[0, 0], [1, 1], [2, 0]] and line["geodesic"] is False
    poly = ee.Geometry.Polygon([[0, 0], [1, 0], [1, 1]], None, True).getInfo()  # under-nested, ring closed
    assert poly["coordinates"] == [[[0, 0], [1, 0], [1, 1], [0, 0]]] and poly["geodesic"] is True
    rect = ee.Geometry.Rectangle([0, 0, 2, 1], "EPSG:4326", False).getInfo()
    assert sg.shape(rect).equals(sg.box(0, 0, 2, 1))
    # Documented default: geodesic when the corners are numbers (in a geographic CRS), planar in a projected one.
    assert ee.Geometry.Rectangle([0, 0, 2, 1], "EPSG:4326").getInfo()["geodesic"] is True
    assert ee.Geometry.Rectangle([0, 0, 2, 1], "EPSG:3857").geodesic().getInfo() is False
    multi = ee.Geometry.MultiPolygon([[[[0, 0], [1, 0], [1, 1]]], [[[2, 2], [3, 2], [3, 3]]]]).getInfo()
    assert multi["type"] == "MultiPolygon" and len(multi["coordinates"]) == 2
    bbox = ee.Geometry.BBox(-1, -2, 3, 4)
    assert sg.shape(bbox.getInfo()).equals(sg.box(-1, -2, 3, 4))
    gc = ee.Geometry({"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [1, 2]}, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}]})
    assert gc.type().getInfo() == "GeometryCollection"
    assert [g["type"] for g in gc.geometries().getInfo()] == ["Point", "LineString"]
    assert ee.Geometry.LinearRing([[0, 0], [1, 0], [1, 1]]).type().getInfo() == "LinearRing"


def test_geodesic_area_and_perimeter_match_pyproj_on_the_sphere(ee):
    poly = ee.Geometry.Polygon([SQUARE])
    lons, lats = np.asarray(SQUARE).T
    area, perimeter = SPHERE.polygon_area_perimeter(lons, lats)
    assert poly.area().getInfo() == pytest.approx(abs(area), rel=1e-9)
    assert poly.perimeter().getInfo() == pytest.approx(perimeter, rel=1e-9)
    assert poly.length().getInfo() == 0  # polygons have no linear parts
    line = ee.Geometry.LineString([[5, 50], [6, 51], [7, 51]])
    assert line.length().getInfo() == pytest.approx(SPHERE.line_length([5, 6, 7], [50, 51, 51]), rel=1e-9)
    assert ee.Geometry.Point([1, 1]).area().getInfo() == 0


def test_planar_area_follows_straight_lon_lat_edges(ee):
    # A wide planar box: its top edge follows the parallel, so it is larger than the great-circle polygon.
    ring = [[0, 60], [40, 60], [40, 70], [0, 70], [0, 60]]
    planar = ee.Geometry.Polygon([ring], None, False).area().getInfo()
    geodesic = ee.Geometry.Polygon([ring], None, True).area().getInfo()
    # The area between two parallels on the sphere: R² Δλ (sin φ2 - sin φ1).
    zone = EARTH_RADIUS_M**2 * math.radians(40) * (math.sin(math.radians(70)) - math.sin(math.radians(60)))
    assert planar == pytest.approx(zone, rel=1e-4)
    assert geodesic == pytest.approx(_sphere_area(ring), rel=1e-9)
    assert geodesic < planar


def test_area_in_a_projection_is_planar(ee):
    poly = ee.Geometry.Polygon([SQUARE])
    t = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    expected = sg.Polygon([t.transform(x, y) for x, y in SQUARE]).area
    assert poly.area(1, "EPSG:32631").getInfo() == pytest.approx(expected, rel=1e-9)


def test_buffer_is_a_circle_of_the_distance_in_metres(ee):
    centre = (4.35, 50.85)
    circle = ee.Geometry.Point(list(centre)).buffer(500).getInfo()
    ring = np.asarray(circle["coordinates"][0])
    _, _, dists = SPHERE.inv(np.full(len(ring), centre[0]), np.full(len(ring), centre[1]), ring[:, 0], ring[:, 1])
    assert np.allclose(dists, 500, rtol=1e-6)
    area = ee.Geometry.Point(list(centre)).buffer(500).area().getInfo()
    assert area == pytest.approx(_sphere_area(ring), rel=1e-9)
    assert 0.99 * math.pi * 500**2 < area < math.pi * 500**2
    shrunk = ee.Geometry.Polygon([SQUARE]).buffer(-1000).area().getInfo()
    assert shrunk < ee.Geometry.Polygon([SQUARE]).area().getInfo()


def test_centroid_bounds_and_transform(ee):
    poly = ee.Geometry.Polygon([SQUARE], None, False)
    c = poly.centroid().coordinates().getInfo()
    assert c == pytest.approx([5.1, 50.05], abs=1e-3)
    b = sg.shape(ee.Geometry.Polygon([[[0, 0], [2, 1], [1, 3]]]).bounds().getInfo())
    assert b.equals(sg.box(0, 0, 2, 3))
    t = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    coords = poly.transform("EPSG:3857").coordinates().getInfo()[0]
    expected = [list(t.transform(x, y)) for x, y in SQUARE]
    assert np.allclose(coords, expected)
    assert ee.Geometry.Polygon([SQUARE]).transform("EPSG:3857").projection().crs().getInfo() == "EPSG:3857"
    # Documented: edges are straight in a projected target CRS and geodesic in a geographic one.
    assert poly.transform("EPSG:3857").geodesic().getInfo() is False
    assert poly.transform("EPSG:3857").transform("EPSG:4326").geodesic().getInfo() is True


def test_geometry_in_a_projected_crs(ee):
    utm = ee.Geometry.Rectangle([600000, 5600000, 601000, 5601000], "EPSG:32631", False)
    assert utm.area(1, "EPSG:32631").getInfo() == pytest.approx(1e6)
    assert utm.projection().crs().getInfo() == "EPSG:32631"
    assert utm.geodesic().getInfo() is False
    t = pyproj.Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    corners = [t.transform(x, y) for x, y in [(600000, 5600000), (601000, 5600000), (601000, 5601000),
                                               (600000, 5601000), (600000, 5600000)]]
    # Measured on the sphere: close to 1 km² (the UTM scale factor and the sphere differ by well under 1%).
    assert utm.area().getInfo() == pytest.approx(_sphere_area(corners), rel=2e-3)


def test_predicates_and_set_operations_match_shapely(ee):
    a_ring = [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]
    b_ring = [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]
    a = ee.Geometry.Polygon([a_ring], None, False)
    b = ee.Geometry.Polygon([b_ring], None, False)
    sa, sb = sg.Polygon(a_ring), sg.Polygon(b_ring)
    inside = ee.Geometry.Point([0.5, 0.5])
    assert a.intersects(b).getInfo() is True
    assert a.disjoint(b).getInfo() is False
    assert a.contains(inside).getInfo() is True
    assert inside.containedIn(a).getInfo() is True
    assert b.contains(inside).getInfo() is False
    assert sg.shape(a.intersection(b).getInfo()).equals(sa.intersection(sb))
    assert sg.shape(a.union(b).getInfo()).equals(sa.union(sb))
    assert sg.shape(a.difference(b).getInfo()).equals(sa.difference(sb))
    assert sg.shape(a.symmetricDifference(b).getInfo()).equals(sa.symmetric_difference(sb))


def test_geodesic_edges_are_followed_by_predicates_and_bounds(ee):
    ring = [[0, 60], [40, 60], [40, 70], [0, 70], [0, 60]]
    # The great circle from (0, 70) to (40, 70) bulges north of the parallel; find its top.
    top = max(lat for _, lat in SPHERE.npts(0, 70, 40, 70, 99))
    assert top > 71
    probe = ee.Geometry.Point([20, (70 + top) / 2])
    geodesic = ee.Geometry.Polygon([ring], None, True)
    planar = ee.Geometry.Polygon([ring], None, False)
    assert geodesic.contains(probe).getInfo() is True
    assert planar.contains(probe).getInfo() is False
    assert sg.shape(geodesic.bounds().getInfo()).bounds[3] == pytest.approx(top, abs=1e-3)
    assert sg.shape(planar.bounds().getInfo()).bounds[3] == 70


def test_distance_is_ellipsoidal_metres(ee):
    p, q = ee.Geometry.Point([4.0, 50.0]), ee.Geometry.Point([4.5, 50.3])
    _, _, expected = WGS84.inv(4.0, 50.0, 4.5, 50.3)
    assert p.distance(q).getInfo() == pytest.approx(expected, rel=1e-9)
    _, _, on_sphere = SPHERE.inv(4.0, 50.0, 4.5, 50.3)
    assert p.distance(q, 1, None, True).getInfo() == pytest.approx(on_sphere, rel=1e-9)
    assert p.withinDistance(q, expected + 1).getInfo() is True
    assert p.withinDistance(q, expected - 1).getInfo() is False
    # A point and a polygon edge: the distance to the nearest point of the edge (x = 5.0).
    square = ee.Geometry.Polygon([SQUARE], None, False)
    d = ee.Geometry.Point([4.9, 50.05]).distance(square).getInfo()
    _, _, to_edge = WGS84.inv(4.9, 50.05, 5.0, 50.05)
    assert d == pytest.approx(to_edge, rel=1e-3)
    assert ee.Geometry.Point([5.1, 50.05]).distance(square).getInfo() == 0


def test_areas_lengths_and_spherical_distances_share_the_pixel_area_sphere(ee):
    # Areas and lengths are on the sphere of Image.pixelArea: a 1/64-degree-aligned square's area is the sum of its
    # pixel areas on a grid of that size, and a geodesic segment's length is the spherical distance of its ends.
    square = ee.Geometry.Rectangle([5.0, 50.0, 5.25, 50.25], None, False)  # edges along the meridians/parallels
    pixels = ee.Image.pixelArea().reduceRegion(ee.Reducer.sum(), square, crs="EPSG:4326",
                                               crsTransform=[1 / 64, 0, 0, 0, -1 / 64, 0]).getInfo()["area"]
    assert square.area().getInfo() == pytest.approx(pixels, rel=1e-6)
    band = 2 * math.pi * EARTH_RADIUS_M**2 * (math.sin(math.radians(50.25)) - math.sin(math.radians(50.0)))
    assert square.area().getInfo() == pytest.approx(band * 0.25 / 360, rel=1e-6)  # a spherical zone's slice
    segment = ee.Geometry.LineString([[4.0, 50.0], [4.5, 50.3]])
    ends = ee.Geometry.Point([4.0, 50.0]).distance(ee.Geometry.Point([4.5, 50.3]), 1, None, True)
    assert segment.length().getInfo() == pytest.approx(ends.getInfo(), rel=1e-9)
    # The default distance is the ellipsoid's (documented), which differs from the sphere's by 0.07 % here.
    ellipsoidal = ee.Geometry.Point([4.0, 50.0]).distance(ee.Geometry.Point([4.5, 50.3])).getInfo()
    assert ellipsoidal == pytest.approx(WGS84.inv(4.0, 50.0, 4.5, 50.3)[2], rel=1e-9)
    assert abs(ellipsoidal / ends.getInfo() - 1) > 5e-4


def test_description_and_simplification(ee):
    zigzag = [[0, 0], [0.5, 0.00001], [1, 0], [1, 1], [0, 1], [0, 0]]
    poly = ee.Geometry.Polygon([zigzag], None, False)
    assert len(poly.simplify(100).coordinates().getInfo()[0]) == 5  # the 1 m zigzag is gone
    hull = sg.shape(ee.Geometry.MultiPoint([[0, 0], [2, 0], [1, 1], [1, 3]]).convexHull().getInfo())
    assert hull.equals(sg.MultiPoint([(0, 0), (2, 0), (1, 1), (1, 3)]).convex_hull)
    parts = ee.Geometry.MultiPolygon([[[[0, 0], [2, 0], [2, 2], [0, 2]]], [[[1, 1], [3, 1], [3, 3], [1, 3]]]],
                                     None, False)
    dissolved = sg.shape(parts.dissolve().getInfo())
    assert dissolved.equals(sg.box(0, 0, 2, 2).union(sg.box(1, 1, 3, 3)))
    assert ee.Geometry.Point([1, 2]).coordinates().getInfo() == [1, 2]
    assert ee.Geometry.Point([1, 2]).type().getInfo() == "Point"
    assert ee.Geometry.Point([1, 2]).projection().getInfo()["crs"] == "EPSG:4326"


def test_closest_points_covering_grid_and_cut_lines(ee):
    line = ee.Geometry.LineString([[1, -1], [1, 1]], None, False)
    points = ee.Geometry.Point([0, 0.2]).closestPoints(line).getInfo()
    assert points["left"]["coordinates"] == pytest.approx([0, 0.2], abs=1e-9)
    assert points["right"]["coordinates"] == pytest.approx([1, 0.2], abs=1e-3)
    assert ee.Geometry.Point([0, 0.2]).closestPoint(line).getInfo()["coordinates"] == pytest.approx([1, 0.2],
                                                                                                     abs=1e-3)
    # A 250 m x 150 m UTM box on a 100 m grid touches 3 x 2 cells (the grid is anchored at the CRS origin).
    box = ee.Geometry.Rectangle([600010, 5600010, 600260, 5600160], "EPSG:32631", False)
    cells = box.coveringGrid(ee.Projection("EPSG:32631"), 100).getInfo()["features"]
    assert sorted(f["id"] for f in cells) == sorted(f"{c},{r}" for c in (6000, 6001, 6002)
                                                    for r in (-56002, -56001))
    utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    for f in cells:
        cell = sg.Polygon([utm.transform(x, y) for x, y in f["geometry"]["coordinates"][0]])
        assert cell.area == pytest.approx(1e4, rel=1e-6)
    cut = ee.Geometry.LineString([[0, 0], [0.01, 0]]).cutLines([300, 600])
    pieces = cut.coordinates().getInfo()
    lengths = [SPHERE.line_length(*np.asarray(p).T) for p in pieces]
    assert lengths == pytest.approx([300, 300, SPHERE.line_length([0, 0.01], [0, 0]) - 600], rel=1e-6)


@pytest.mark.parametrize("make, fragment", [
    (lambda ee: ee.Geometry.Polygon([[0, 0], [1, 1]], None, True), "at least 3 points"),
    (lambda ee: ee.Geometry.Point([0, 95], "EPSG:4326"), "Latitude out of range"),
    (lambda ee: ee.Geometry.Point(["a", 1], "EPSG:4326"), "expected numbers"),
    (lambda ee: ee.Geometry.LineString([[0, 0]], None, True), "at least 2 points"),
    (lambda ee: ee.Geometry.Polygon([[0], [1, 1], [2, 0]], None, True), "a position needs x and y"),
    (lambda ee: ee.Geometry.LineString([0, 0, 1], None, True), "Invalid number of coordinates"),
    (lambda ee: ee.Geometry.Point([0, 0]).buffer(ee.List(["far"]).get(0)), "Geometry.buffer: expected a number"),
    (lambda ee: ee.Geometry(ee.List([5]).get(0)).area(), "Expected a Geometry"),
])
def test_bad_geometries_are_refused_and_the_server_goes_on(ee, make, fragment):
    with pytest.raises(ee.EEException, match=fragment):
        make(ee).getInfo()
    assert ee.Geometry.Point([1, 2]).buffer(10).type().getInfo() == "Polygon"
