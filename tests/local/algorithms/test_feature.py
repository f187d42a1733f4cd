"""ee.Feature and ee.FeatureCollection constructors on the local engine through the real earthengine-api client."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from shapely import geometry as sg

from aef_ee.local.geometry_raster import EARTH_RADIUS_M

SPHERE = pyproj.Geod(a=EARTH_RADIUS_M, b=EARTH_RADIUS_M)
RING = [[5.0, 50.0], [5.1, 50.0], [5.1, 50.1], [5.0, 50.1], [5.0, 50.0]]


def test_feature_from_geometry_and_properties(ee):
    info = ee.Feature(ee.Geometry.Point([1, 2]), {"name": "a", "value": 3.5}).getInfo()
    assert info["type"] == "Feature"
    assert info["geometry"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert info["properties"] == {"name": "a", "value": 3.5}
    empty = ee.Feature(None, {"k": 1}).getInfo()
    assert empty["geometry"] is None and empty["properties"] == {"k": 1}


def test_feature_from_geojson_keeps_its_id(ee):
    geojson = {"type": "Feature", "id": "f7", "geometry": {"type": "Polygon", "coordinates": [RING]},
               "properties": {"crop": "wheat"}}
    f = ee.Feature(geojson)
    info = f.getInfo()
    assert info["id"] == "f7" and info["properties"] == {"crop": "wheat"}
    assert sg.shape(info["geometry"]).equals(sg.Polygon(RING))
    assert f.id().getInfo() == "f7"
    assert f.get("crop").getInfo() == "wheat"


def test_feature_collection_from_features_and_from_a_geometry(ee):
    features = [ee.Feature(ee.Geometry.Point([i, 0]), {"v": i}) for i in range(3)]
    info = ee.FeatureCollection(features).getInfo()
    assert info["type"] == "FeatureCollection"
    assert [f["id"] for f in info["features"]] == ["0", "1", "2"]
    assert [f["properties"]["v"] for f in info["features"]] == [0, 1, 2]
    single = ee.FeatureCollection(ee.Geometry.Point([3, 4])).getInfo()
    assert len(single["features"]) == 1
    assert single["features"][0]["geometry"]["coordinates"] == [3, 4]


def test_feature_geometry_operations_keep_properties(ee):
    f = ee.Feature(ee.Geometry.Polygon([RING]), {"k": 1})
    lons, lats = np.asarray(RING).T
    area, perimeter = SPHERE.polygon_area_perimeter(lons, lats)
    assert f.area().getInfo() == pytest.approx(abs(area), rel=1e-9)
    assert f.perimeter().getInfo() == pytest.approx(perimeter, rel=1e-9)
    buffered = f.buffer(100).getInfo()
    assert buffered["properties"] == {"k": 1}
    assert sg.shape(buffered["geometry"]).contains(sg.Polygon(RING))
    centroid = f.centroid().getInfo()
    assert centroid["properties"] == {"k": 1}
    assert centroid["geometry"]["coordinates"] == pytest.approx([5.05, 50.05], abs=1e-3)
    bounds = f.bounds().getInfo()
    assert sg.shape(bounds["geometry"]).equals(sg.Polygon(RING))
    other = ee.Feature(ee.Geometry.Point([5.05, 50.05]), {})
    assert f.intersects(other).getInfo() is True
    assert f.contains(other.geometry()).getInfo() is True
    assert f.distance(ee.Feature(ee.Geometry.Point([5.05, 50.05]))).getInfo() == 0
    t = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    coords = f.transform("EPSG:32631").geometry().coordinates().getInfo()[0]
    assert np.allclose(coords, [t.transform(x, y) for x, y in RING])


def test_feature_select_set_geometry_and_geometry(ee):
    f = ee.Feature(ee.Geometry.Point([1, 2]), {"a": 1, "b": 2, "c_1": 3, "c_2": 4})
    assert f.select(["a", "c_.*"]).getInfo()["properties"] == {"a": 1, "c_1": 3, "c_2": 4}
    renamed = f.select(["a", "b"], ["x", "y"], False).getInfo()
    assert renamed["properties"] == {"x": 1, "y": 2} and renamed["geometry"] is None
    moved = f.setGeometry(ee.Geometry.Point([7, 8]))
    assert moved.geometry().getInfo()["coordinates"] == [7, 8]
    assert moved.get("b").getInfo() == 2
    assert f.geometry().type().getInfo() == "Point"


def test_feature_errors_then_the_server_goes_on(ee):
    with pytest.raises(ee.EEException, match="no geometry"):
        ee.Feature(None, {"a": 1}).geometry().getInfo()
    with pytest.raises(ee.EEException, match="did not match any properties"):
        ee.Feature(None, {"a": 1}).select(["nope"]).getInfo()
    assert ee.Feature(ee.Geometry.Point([0, 0]), {"a": 1}).get("a").getInfo() == 1
