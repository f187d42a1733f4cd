"""ee.Filter on the local engine through the real earthengine-api client: each filter's result on a feature
collection, an image collection and a list equals the same predicate evaluated in Python."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from local_engine import running_engine
from shapely import geometry as sg

N_FEATURES = 12
# Image collection: (asset name, date, west longitude of a 1 x 1 degree footprint at latitude 0..1).
IMAGES = [("a", dt.datetime(2020, 1, 15), 0.0), ("b", dt.datetime(2020, 4, 15), 10.0),
          ("c", dt.datetime(2020, 7, 15), 0.0), ("d", dt.datetime(2021, 1, 15), 20.0)]


def _millis(when: dt.datetime) -> int:
    return int(when.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _properties(i: int) -> dict:
    props = {"v": i, "name": f"site_{i:02d}", "tags": [i % 3, 10 + i % 2], "system:time_start": _millis(
        dt.datetime(2020, 1, 1) + dt.timedelta(days=30 * i))}
    if i % 4 == 3:
        del props["v"]  # some features lack the property
    return props


def _point(i: int) -> list[float]:
    return [i * 0.5, (i % 3) * 0.5]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import rasterio
    from rasterio.transform import Affine

    from aef_ee.local.catalog import Catalog

    root = tmp_path_factory.mktemp("filter-catalog")
    catalog = Catalog(root)
    catalog.create_container("TEST", "FOLDER")
    catalog.create_container("TEST/IC", "IMAGE_COLLECTION")
    for name, when, west in IMAGES:
        path = root / "TEST" / "IC" / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8",
                           crs="EPSG:4326", transform=Affine(0.1, 0.0, west, 0.0, -0.1, 1.0)) as ds:
            ds.write(np.full((1, 10, 10), 7, np.uint8))
        catalog.write_image(f"TEST/IC/{name}", [{"id": "b", "path": f"{name}.tif", "band": 1,
                                                 "data_type": "uint8", "nodata": None}],
                            {"system:time_start": _millis(when), "cloud": len(name) * 10 + ord(name) % 7})
    with running_engine(root, connect_client=False) as srv:
        yield srv


def _collection(ee):
    return ee.FeatureCollection([ee.Feature(ee.Geometry.Point(_point(i)), _properties(i))
                                 for i in range(N_FEATURES)])


def _passing(ee, flt) -> list[int]:
    info = _collection(ee).filter(flt).getInfo()
    return [int(f["id"]) for f in info["features"]]


def _expected(predicate) -> list[int]:
    return [i for i in range(N_FEATURES) if predicate(_properties(i))]


@pytest.mark.parametrize("make, predicate", [
    (lambda F: F.eq("v", 4), lambda p: p.get("v") == 4),
    # The client sends neq / lte / gte as not(eq / gt / lt): features lacking the property pass them.
    (lambda F: F.neq("v", 4), lambda p: p.get("v") != 4),
    (lambda F: F.lt("v", 5), lambda p: "v" in p and p["v"] < 5),
    (lambda F: F.lte("v", 5), lambda p: "v" not in p or p["v"] <= 5),
    (lambda F: F.gt("v", 5), lambda p: "v" in p and p["v"] > 5),
    (lambda F: F.gte("v", 5), lambda p: "v" not in p or p["v"] >= 5),
    (lambda F: F.inList("v", [1, 2, 8, 99]), lambda p: p.get("v") in (1, 2, 8, 99)),
    (lambda F: F.listContains("tags", 2), lambda p: 2 in p["tags"]),
    (lambda F: F.stringContains("name", "_1"), lambda p: "_1" in p["name"]),
    (lambda F: F.stringStartsWith("name", "site_0"), lambda p: p["name"].startswith("site_0")),
    (lambda F: F.stringEndsWith("name", "1"), lambda p: p["name"].endswith("1")),
    (lambda F: F.rangeContains("v", 2, 6), lambda p: "v" in p and 2 <= p["v"] <= 6),
    (lambda F: F.And(F.gt("v", 1), F.lt("v", 9)), lambda p: "v" in p and 1 < p["v"] < 9),
    (lambda F: F.Or(F.eq("v", 1), F.eq("name", "site_07")), lambda p: p.get("v") == 1 or p["name"] == "site_07"),
    (lambda F: F.eq("v", 4).Not(), lambda p: p.get("v") != 4),
    (lambda F: F.notNull(["v"]), lambda p: "v" in p),
    (lambda F: F.maxDifference(2, "v", 5), lambda p: "v" in p and abs(p["v"] - 5) <= 2),
    (lambda F: F.calendarRange(3, 5, "month"),
     lambda p: 3 <= dt.datetime.fromtimestamp(p["system:time_start"] / 1000, dt.timezone.utc).month <= 5),
    (lambda F: F.calendarRange(11, 2, "month"),  # wraps around the year end
     lambda p: dt.datetime.fromtimestamp(p["system:time_start"] / 1000, dt.timezone.utc).month in (11, 12, 1, 2)),
    (lambda F: F.expression("v >= 2 && v < 8 || name == 'site_11'"),
     lambda p: "v" in p and 2 <= p["v"] < 8 or (p["name"] == "site_11" and "v" in p)),
    (lambda F: F.date("2020-03-01", "2020-07-01"),
     lambda p: _millis(dt.datetime(2020, 3, 1)) <= p["system:time_start"] < _millis(dt.datetime(2020, 7, 1))),
])
def test_property_filters_match_python(ee, make, predicate):
    assert _passing(ee, make(ee.Filter)) == _expected(predicate)


def test_spatial_filters_on_features_match_shapely(ee):
    region = sg.box(0.9, -0.1, 3.1, 0.6)
    ee_region = ee.Geometry.Rectangle([0.9, -0.1, 3.1, 0.6], "EPSG:4326", False)
    inside = [i for i in range(N_FEATURES) if region.intersects(sg.Point(_point(i)))]
    assert _passing(ee, ee.Filter.bounds(ee_region)) == inside
    assert [int(f["id"]) for f in _collection(ee).filterBounds(ee_region).getInfo()["features"]] == inside
    assert _passing(ee, ee.Filter.isContained(".geo", ee_region)) == inside
    assert _passing(ee, ee.Filter.disjoint(".geo", ee_region)) == [i for i in range(N_FEATURES)
                                                                   if i not in inside]
    # withinDistance in metres: points within 60 km of (0, 0) (0.5 degree is about 55 km).
    near = _passing(ee, ee.Filter.withinDistance(60_000, ".geo", ee.Geometry.Point([0, 0])))
    assert near == [i for i in range(N_FEATURES) if np.hypot(*_point(i)) <= 0.5]


def _image_ids(ee, collection) -> list[str]:
    return [f["id"].rsplit("/", 1)[-1] for f in collection.getInfo()["features"]]


def test_image_collection_filters_by_date_calendar_and_footprint(ee):
    ic = ee.ImageCollection("TEST/IC")
    assert _image_ids(ee, ic.filterDate("2020-03-01", "2020-12-31")) == ["b", "c"]
    assert _image_ids(ee, ic.filter(ee.Filter.calendarRange(2020, 2020, "year"))) == ["a", "b", "c"]
    assert _image_ids(ee, ic.filter(ee.Filter.calendarRange(1, 1, "month"))) == ["a", "d"]
    doy = [when.timetuple().tm_yday for _, when, _ in IMAGES]
    assert _image_ids(ee, ic.filter(ee.Filter.dayOfYear(100, 200))) == [
        n for (n, _, _), d in zip(IMAGES, doy) if 100 <= d <= 200]
    assert _image_ids(ee, ic.filterBounds(ee.Geometry.Point([0.5, 0.5]))) == ["a", "c"]
    assert _image_ids(ee, ic.filterBounds(ee.Geometry.Rectangle([9, 0, 21, 1]))) == ["b", "d"]
    assert _image_ids(ee, ic.filter(ee.Filter.lt("cloud", 14))) == [
        n for n, _, _ in IMAGES if len(n) * 10 + ord(n) % 7 < 14]


def test_list_filter_uses_item(ee):
    values = [5, 1, 8, 3, 9]
    assert ee.List(values).filter(ee.Filter.gt("item", 4)).getInfo() == [v for v in values if v > 4]
    words = ["apple", "banana", "avocado"]
    assert ee.List(words).filter(ee.Filter.stringStartsWith("item", "a")).getInfo() == ["apple", "avocado"]


def test_bad_filters_are_refused_and_the_server_goes_on(ee):
    with pytest.raises(ee.EEException, match="Unknown field 'fortnight'"):
        _collection(ee).filter(ee.Filter.calendarRange(1, 2, "fortnight")).getInfo()
    with pytest.raises(ee.EEException, match="Filter.calendarRange: expected a number"):
        _collection(ee).filter(ee.Filter.calendarRange(ee.List(["May"]).get(0), 6, "month")).getInfo()
    with pytest.raises(ee.EEException, match="leftField or leftValue"):
        ee.List([1]).filter(ee.ApiFunction.call_("Filter.equals", None, 1)).getInfo()
    assert _passing(ee, ee.Filter.eq("v", 2)) == [2]


def test_filters_compare_two_elements_for_joins():
    """A join's condition reads ``leftField`` from the primary element and ``rightField`` from the secondary."""
    from aef_ee.local.algorithms import filter as filters
    from aef_ee.local.values import Feature, Geometry

    primary = Feature(Geometry(sg.Point(0, 0)), {"id": 1, "t": 1000})
    near = Feature(Geometry(sg.Point(0.001, 0)), {"ref": 1, "t": 1500})
    far = Feature(Geometry(sg.Point(1, 0)), {"ref": 2, "t": 9000})
    same_id = filters.lookup_filter("equals")(leftField="id", rightField="ref")
    close_in_time = filters.max_difference(1000, leftField="t", rightField="t")
    close_in_space = filters.within_distance(500, leftField=".geo", rightField=".geo")
    both = filters.filter_and([same_id, close_in_time])
    assert [filters.matches(f, primary, other) for f in (same_id, close_in_time, close_in_space, both)
            for other in (near, far)] == [True, False, True, False, True, False, True, False]
    assert filters.matches(filters.filter_not(same_id), primary, far) is True
