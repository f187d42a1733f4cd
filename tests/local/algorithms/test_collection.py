"""Collections through the real client on a small catalog: loading, composites, the Collection.* algorithms,
aggregates and tables, each checked against numpy / the source files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from local_engine import connect, running_engine
from rasterio.transform import from_origin

from aef_ee.local.catalog import Catalog

CRS = "EPSG:32631"
X0, Y0 = 600000.0, 5600000.0
H, W = 20, 30
DAY = 86400000
T0 = 1577836800000  # 2020-01-01


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """Four 2-band uint16 images (30 x 20 px at 10 m; nodata 0 in varying places) and a GeoJSON table."""
    root = tmp_path_factory.mktemp("collection-catalog")
    cat = Catalog(root)
    cat.create_container("T", "FOLDER")
    cat.create_container("T/C", "IMAGE_COLLECTION", {"title": "test"})
    rng = np.random.default_rng(11)
    stack = rng.integers(1, 1000, (4, 2, H, W)).astype(np.uint16)
    stack[0, :, :5, :] = 0
    stack[3, :, :, :7] = 0
    stack[1, 0, 10, 10] = 0
    for i in range(4):
        with rasterio.open(root / "T" / "C" / f"im{i}.tif", "w", driver="GTiff", width=W, height=H, count=2,
                           dtype="uint16", crs=CRS, transform=from_origin(X0, Y0, 10, 10)) as ds:
            ds.write(stack[i])
        cat.write_image(f"T/C/im{i}", [{"id": b, "path": f"im{i}.tif", "band": j + 1, "data_type": "uint16",
                                        "nodata": 0} for j, b in enumerate(["red", "nir"])],
                        {"system:time_start": T0 + i * 31 * DAY, "cloud": [30, 10, 20, 10][i]})
    features = [{"type": "Feature", "id": f"f{k}", "geometry": {"type": "Point", "coordinates": [4.0 + k, 50.0]},
                 "properties": {"kind": ["a", "b", "a", "c", "a"][k], "value": [1.5, 2.0, 4.0, None, 8.0][k],
                                "n": k}} for k in range(5)]
    (root / "projects" / "local" / "assets").mkdir(parents=True)
    (root / "projects" / "local" / "assets" / "pts.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}))
    cat.write_table("projects/local/assets/pts", "pts.geojson", {"source": "test"})
    return root, stack


@pytest.fixture(scope="module")
def server(catalog):
    with running_engine(catalog[0], connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module


def _pixels(ee, image, bands):
    """The image on the source grid, as {band: (values, mask)} (masked pixels come back as 0)."""
    grid = {"crsCode": CRS, "dimensions": {"width": W, "height": H},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": X0, "shearY": 0, "scaleY": -10,
                                "translateY": Y0}}
    out = ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})
    return {b: out[b] for b in bands}


def _masked(stack):
    return np.ma.masked_equal(stack.astype(np.float64), 0)


def test_load_size_properties_and_filters(ee, catalog):
    coll = ee.ImageCollection("T/C")
    assert coll.size().getInfo() == 4
    info = coll.limit(1).getInfo()
    assert info["id"] == "T/C" and info["features"][0]["id"] == "T/C/im0"
    assert coll.aggregate_array("system:index").getInfo() == ["im0", "im1", "im2", "im3"]
    assert coll.filterDate("2020-02-01", "2020-04-01").aggregate_array("system:index").getInfo() == ["im1", "im2"]
    assert coll.filter(ee.Filter.lt("cloud", 25)).size().getInfo() == 3
    assert coll.first().get("cloud").getInfo() == 30
    assert ee.ImageCollection("T/C").filterDate("2030-01-01", "2030-02-01").first().getInfo() is None


def test_sort_limit_tolist_merge(ee):
    coll = ee.ImageCollection("T/C")
    assert coll.sort("cloud").aggregate_array("system:index").getInfo() == ["im1", "im3", "im2", "im0"]
    assert coll.sort("cloud", False).limit(2).aggregate_array("cloud").getInfo() == [30, 20]
    assert coll.limit(2, "system:time_start", False).aggregate_array("system:index").getInfo() == ["im3", "im2"]
    listed = coll.toList(2, 1).map(lambda i: ee.Image(i).get("system:index")).getInfo()
    assert listed == ["im1", "im2"]
    merged = coll.limit(1).merge(coll.limit(1, "cloud"))
    assert merged.aggregate_array("system:index").getInfo() == ["1_im0", "2_im1"]


def test_map_with_a_python_function_ndvi(ee, catalog):
    _, stack = catalog

    def ndvi(image):
        return image.normalizedDifference(["nir", "red"]).rename("ndvi").set("cloud", image.get("cloud"))

    mapped = ee.ImageCollection("T/C").map(ndvi)
    assert mapped.first().bandNames().getInfo() == ["ndvi"]
    assert mapped.aggregate_array("cloud").getInfo() == [30, 10, 20, 10]
    got = _pixels(ee, mapped.toBands(), ["im2_ndvi"])["im2_ndvi"]
    red, nir = stack[2].astype(np.float32)
    np.testing.assert_allclose(got, (nir - red) / (nir + red), rtol=1e-6)
    counted = ee.ImageCollection("T/C").map(lambda i: i.set("x", 1)).aggregate_sum("x").getInfo()
    assert counted == 4


def test_composites_equal_masked_numpy(ee, catalog):
    _, stack = catalog
    coll = ee.ImageCollection("T/C")
    data = _masked(stack)  # (4, 2, H, W)
    median = coll.median()
    assert median.bandNames().getInfo() == ["red", "nir"]
    # A composite is in the default projection (WGS84, 1 degree), as Earth Engine gives it.
    assert median.projection().getInfo() == {"type": "Projection", "crs": "EPSG:4326",
                                             "transform": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]}
    want_median = np.ma.median(data, axis=0)
    got = _pixels(ee, median, ["red", "nir"])
    for j, band in enumerate(["red", "nir"]):
        np.testing.assert_allclose(got[band], want_median[j].filled(0), rtol=1e-6)
    for op, fn in (("mean", lambda d: d.mean(axis=0)), ("min", lambda d: d.min(axis=0)),
                   ("max", lambda d: d.max(axis=0)), ("sum", lambda d: d.sum(axis=0)),
                   ("count", lambda d: d.count(axis=0))):
        got = _pixels(ee, getattr(coll, op)(), ["nir"])["nir"]
        want = fn(data[:, 1])
        want = np.ma.filled(want, 0) if op != "count" else want
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=op)
    pct = coll.reduce(ee.Reducer.percentile([25, 75]))
    assert pct.bandNames().getInfo() == ["red_p25", "red_p75", "nir_p25", "nir_p75"]
    got = _pixels(ee, pct, ["nir_p75"])["nir_p75"]
    filled = np.where(stack[:, 1] == 0, np.nan, stack[:, 1].astype(np.float64))
    np.testing.assert_allclose(got, np.nanpercentile(filled, 75, axis=0), rtol=1e-6)
    combined = coll.reduce(ee.Reducer.mean().combine(ee.Reducer.stdDev(), None, True))
    assert combined.bandNames().getInfo() == ["red_mean", "red_stdDev", "nir_mean", "nir_stdDev"]


def test_mosaic_takes_the_last_valid_image(ee, catalog):
    _, stack = catalog
    got = _pixels(ee, ee.ImageCollection("T/C").mosaic(), ["red"])["red"]
    want = np.zeros((H, W), np.uint16)
    for i in range(4):  # later images on top where valid
        want = np.where(stack[i, 0] != 0, stack[i, 0], want)
    np.testing.assert_array_equal(got, want)
    best = ee.ImageCollection("T/C").qualityMosaic("nir")
    got = _pixels(ee, best, ["red"])["red"]
    nir = np.where(stack[:, 1] == 0, -1, stack[:, 1].astype(np.int64))
    pick = np.argmax(nir, axis=0)
    np.testing.assert_array_equal(got, np.take_along_axis(stack[:, 0], pick[None], axis=0)[0])


def test_to_bands_keeps_each_projection(ee):
    bands = ee.ImageCollection("T/C").toBands()
    assert bands.bandNames().getInfo() == [f"im{i}_{b}" for i in range(4) for b in ("red", "nir")]
    assert bands.select("im1_nir").projection().getInfo()["crs"] == CRS


def test_iterate_and_from_images(ee):
    total = ee.ImageCollection("T/C").iterate(lambda img, acc: ee.Number(acc).add(img.get("cloud")), 0)
    assert total.getInfo() == 70
    coll = ee.ImageCollection.fromImages([ee.Image(1), ee.Image(2).rename("constant")])
    assert coll.size().getInfo() == 2
    assert coll.sum().bandNames().getInfo() == ["constant"]


def test_load_table_and_aggregates(ee):
    fc = ee.FeatureCollection("projects/local/assets/pts")
    info = fc.getInfo()
    assert [f["id"] for f in info["features"]] == ["f0", "f1", "f2", "f3", "f4"]
    assert info["features"][0]["geometry"] == {"type": "Point", "coordinates": [4.0, 50.0]}
    assert fc.aggregate_array("value").getInfo() == [1.5, 2.0, 4.0, 8.0]
    assert fc.aggregate_count("value").getInfo() == 4
    assert fc.aggregate_mean("value").getInfo() == pytest.approx(15.5 / 4)
    assert fc.aggregate_sum("n").getInfo() == 10
    assert fc.aggregate_histogram("kind").getInfo() == {"a": 3, "b": 1, "c": 1}
    stats = fc.aggregate_stats("value").getInfo()
    values = np.array([1.5, 2.0, 4.0, 8.0])
    assert stats["mean"] == pytest.approx(values.mean()) and stats["sample_sd"] == pytest.approx(values.std(ddof=1))
    assert stats["total_count"] == 5 and stats["valid_count"] == 4
    assert fc.distinct("kind").aggregate_array("n").getInfo() == [0, 1, 3]
    assert fc.filter(ee.Filter.eq("kind", "a")).size().getInfo() == 3
    assert fc.reduceColumns(ee.Reducer.max(), ["value"]).getInfo() == {"max": 8.0}
    geometry = fc.geometry().getInfo()
    assert geometry["type"] == "MultiPoint" and len(geometry["coordinates"]) == 5


def test_random_column_is_deterministic_and_uniform(ee):
    fc = ee.FeatureCollection("projects/local/assets/pts")
    a = fc.randomColumn().aggregate_array("random").getInfo()
    b = fc.randomColumn().aggregate_array("random").getInfo()
    c = fc.randomColumn("r", 5).aggregate_array("r").getInfo()
    assert a == b and a != c and all(0 <= v < 1 for v in a + c)
    # A row's value depends on its id and the seed, not on the rows around it.
    assert fc.filter(ee.Filter.eq("kind", "b")).randomColumn().aggregate_array("random").getInfo() == [a[1]]
    normal = fc.randomColumn("z", 1, "normal").aggregate_array("z").getInfo()
    assert len(normal) == 5 and any(v < 0 for v in normal + [-1])
    with pytest.raises(ee.EEException, match="distribution"):
        fc.randomColumn("z", 1, "cauchy").getInfo()


def test_map_drop_nulls_and_flatten(ee):
    fc = ee.FeatureCollection("projects/local/assets/pts")
    kept = fc.map(lambda f: ee.Algorithms.If(ee.Number(f.get("n")).gt(2), f, None), True)
    assert kept.aggregate_array("n").getInfo() == [3, 4]
    nested = ee.FeatureCollection([ee.Feature(None, {"k": 1})]).map(
        lambda f: ee.FeatureCollection([f, f.set("k", 2)]))
    assert nested.flatten().aggregate_array("k").getInfo() == [1, 2]


def test_linear_fit_over_time(ee, catalog):
    _, stack = catalog
    coll = ee.ImageCollection("T/C").map(
        lambda i: ee.Image.constant(ee.Number(i.get("system:time_start")).divide(86400000)).rename("t")
        .addBands(i.select("nir")).toFloat())
    fit = coll.reduce(ee.Reducer.linearFit())
    assert fit.bandNames().getInfo() == ["scale", "offset"]
    got = _pixels(ee, fit, ["scale", "offset"])
    t = (T0 + np.arange(4) * 31 * DAY) / 86400000
    r, c = 15, 20  # valid in all four images
    y = stack[:, 1, r, c].astype(np.float64)
    scale, offset = np.polyfit(t, y, 1)
    assert got["scale"][r, c] == pytest.approx(scale, rel=1e-4)
    assert got["offset"][r, c] == pytest.approx(offset, rel=1e-4)


def test_deep_stacks_are_reduced_a_few_rows_at_a_time(ee, catalog, monkeypatch):
    from aef_ee.local.algorithms import composite as composite_module

    _, stack = catalog
    monkeypatch.setattr(composite_module, "STACK_VALUES", 4 * 2 * W * 3)  # three rows per chunk
    got = _pixels(ee, ee.ImageCollection("T/C").median(), ["nir"])["nir"]
    np.testing.assert_allclose(got, np.ma.median(_masked(stack)[:, 1], axis=0).filled(0), rtol=1e-6)


def test_combine_adds_the_bands_of_matching_images(ee):
    coll = ee.ImageCollection("T/C")
    ratio = coll.map(lambda i: i.select("nir").divide(i.select("red")).rename("ratio")).limit(2)
    combined = coll.combine(ratio)
    assert combined.size().getInfo() == 2
    assert combined.first().bandNames().getInfo() == ["red", "nir", "ratio"]


def test_load_geoparquet_table(ee, catalog):
    import geopandas
    from shapely.geometry import Point

    root, _ = catalog
    frame = geopandas.GeoDataFrame({"id": ["p", "q"], "v": [1.5, float("nan")]},
                                   geometry=[Point(4.5, 50.5), Point(5.0, 51.0)], crs=4326)
    frame.to_parquet(root / "projects" / "local" / "assets" / "pq.parquet")
    Catalog(root).write_table("projects/local/assets/pq", "pq.parquet", overwrite=True)
    info = ee.FeatureCollection("projects/local/assets/pq").getInfo()
    assert [f["id"] for f in info["features"]] == ["p", "q"]
    assert [f["properties"] for f in info["features"]] == [{"v": 1.5}, {"v": None}]
    assert info["features"][1]["geometry"] == {"type": "Point", "coordinates": [5.0, 51.0]}
