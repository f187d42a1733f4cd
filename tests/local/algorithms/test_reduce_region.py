"""Region reductions and sampling through the real client, against numpy on the GeoTIFFs of a small catalog."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from local_engine import connect, running_engine
from rasterio.transform import from_origin

from aef_ee.local.catalog import Catalog
from aef_ee.local.projection import transformer

CRS = "EPSG:32631"
X0, Y0 = 600000.0, 5600000.0
H, W = 50, 60


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """One 3-band uint16 image (60 x 50 px at 10 m, nodata 0 in a corner of B4), a class raster, and a table."""
    root = tmp_path_factory.mktemp("region-catalog")
    cat = Catalog(root)
    cat.create_container("T", "FOLDER")
    rng = np.random.default_rng(3)
    data = rng.integers(1, 10000, (3, H, W)).astype(np.uint16)
    data[0, :10, :10] = 0
    with rasterio.open(root / "T" / "img.tif", "w", driver="GTiff", width=W, height=H, count=3, dtype="uint16",
                       crs=CRS, transform=from_origin(X0, Y0, 10, 10)) as ds:
        ds.write(data)
    cat.write_image("T/img", [{"id": b, "path": "img.tif", "band": j + 1, "data_type": "uint16", "nodata": 0}
                              for j, b in enumerate(["B4", "B8", "B2"])], {"system:time_start": 1577836800000})
    classes = np.repeat(np.arange(3, dtype=np.uint8), W * H // 3 + 1)[:W * H].reshape(H, W)
    with rasterio.open(root / "T" / "cls.tif", "w", driver="GTiff", width=W, height=H, count=1, dtype="uint8",
                       crs=CRS, transform=from_origin(X0, Y0, 10, 10)) as ds:
        ds.write(classes, 1)
    cat.write_image("T/cls", [{"id": "class", "path": "cls.tif", "band": 1, "data_type": "uint8"}], {})
    return root, data, classes


@pytest.fixture(scope="module")
def server(catalog):
    with running_engine(catalog[0], connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module


def _lonlat(x, y):
    return transformer(CRS, "EPSG:4326").transform(x, y)


def _utm_polygon(ee, x_min, y_min, x_max, y_max):
    """A rectangle given in UTM metres, as an EPSG:32631 ee.Geometry (planar)."""
    return ee.Geometry.Rectangle([x_min, y_min, x_max, y_max], CRS, False)


def test_reduce_region_mean_over_polygon_equals_numpy(ee, catalog):
    _, data, _ = catalog
    # Columns 5..24 and rows 8..27 have their centres inside this rectangle.
    region = _utm_polygon(ee, X0 + 50, Y0 - 280, X0 + 250, Y0 - 80)
    result = ee.Image("T/img").reduceRegion(ee.Reducer.mean(), region, 10).getInfo()
    window = data[:, 8:28, 5:25].astype(np.float64)
    for j, band in enumerate(["B4", "B8", "B2"]):
        values = window[j][window[j] != 0]
        assert result[band] == pytest.approx(values.mean()), band
    counts = ee.Image("T/img").reduceRegion(ee.Reducer.count(), region, 10).getInfo()
    assert counts == {"B4": int((window[0] != 0).sum()), "B8": 400, "B2": 400}


def _fractions(polygon):
    """Fraction of each source pixel inside ``polygon`` (UTM metres), (H, W), by exact shapely areas."""
    import shapely

    rows, cols = np.mgrid[0:H, 0:W]
    boxes = shapely.box(X0 + 10 * cols, Y0 - 10 * (rows + 1), X0 + 10 * (cols + 1), Y0 - 10 * rows)
    return shapely.area(shapely.intersection(boxes, polygon)) / 100.0


def test_weighted_and_unweighted_pixels_of_a_polygon(ee, catalog):
    from shapely.geometry import Polygon

    _, data, _ = catalog
    corners = [(X0 + 33, Y0 - 41), (X0 + 377, Y0 - 18), (X0 + 402, Y0 - 355), (X0 + 61, Y0 - 290)]
    region = ee.Geometry.Polygon([[list(_lonlat(x, y)) for x, y in corners]], None, False)
    # The engine projects the lon/lat ring back to UTM; use that same ring for the expected values.
    polygon = Polygon([transformer("EPSG:4326", CRS).transform(*_lonlat(x, y)) for x, y in corners])
    fraction = _fractions(polygon)
    rows, cols = np.mgrid[0:H, 0:W]
    import shapely

    centre = shapely.contains_xy(polygon, X0 + 10 * (cols + 0.5), Y0 - 10 * (rows + 0.5))
    b8 = data[1].astype(np.float64)
    img = ee.Image("T/img").select("B8")
    weighted = img.reduceRegion(ee.Reducer.mean(), region, 10).getInfo()["B8"]
    w = np.where(fraction >= 0.005, fraction, 0)
    assert weighted == pytest.approx((w * b8).sum() / w.sum(), rel=1e-9)
    total = img.reduceRegion(ee.Reducer.sum(), region, 10).getInfo()["B8"]
    assert total == pytest.approx((w * b8).sum(), rel=1e-9)
    # unweighted(): the same pixels (at least 0.5% inside), each with weight 1.
    unweighted = img.reduceRegion(ee.Reducer.mean().unweighted(), region, 10).getInfo()["B8"]
    assert unweighted == pytest.approx(b8[fraction >= 0.005].mean(), rel=1e-12)
    # count, toList: the pixels whose centre lies inside.
    assert img.reduceRegion(ee.Reducer.count(), region, 10).getInfo() == {"B8": int(centre.sum())}
    listed = img.reduceRegion(ee.Reducer.toList(), region, 10).getInfo()["B8"]
    assert sorted(listed) == sorted(data[1][centre].tolist())


def test_reduce_region_scale_crs_and_transform(ee, catalog):
    _, data, _ = catalog
    region = _utm_polygon(ee, X0, Y0 - 200, X0 + 200, Y0)
    img = ee.Image("T/img").select("B8")
    # At 20 m the working grid keeps the image's origin; each 20 m pixel centre falls in source pixel (2r+1, 2c+1).
    coarse = img.reduceRegion(ee.Reducer.toList(), region, 20).getInfo()["B8"]
    assert sorted(coarse) == sorted(data[1, 1:20:2, 1:20:2].ravel().tolist())
    same = img.reduceRegion(ee.Reducer.sum(), region, crs=CRS, crsTransform=[10, 0, X0, 0, -10, Y0]).getInfo()
    assert same == {"B8": int(data[1, :20, :20].astype(np.int64).sum())}
    stats = img.reduceRegion(ee.Reducer.minMax().combine(ee.Reducer.stdDev(), None, True), region, 10).getInfo()
    window = data[1, :20, :20].astype(np.float64)
    assert stats == {"B8_min": window.min(), "B8_max": window.max(), "B8_stdDev": pytest.approx(window.std())}
    pct = img.reduceRegion(ee.Reducer.percentile([10, 90]), region, 10).getInfo()
    assert pct == {"B8_p10": pytest.approx(np.percentile(window, 10)),
                   "B8_p90": pytest.approx(np.percentile(window, 90))}


def test_reduce_region_max_pixels_error_and_best_effort(ee):
    img = ee.Image("T/img").select("B8")
    region = img.geometry()
    with pytest.raises(ee.EEException, match=r"Too many pixels in the region. Found 3000, but maxPixels allows only "
                                             r"100\."):
        img.reduceRegion(ee.Reducer.count(), region, 10, maxPixels=100).getInfo()
    coarse = img.reduceRegion(ee.Reducer.count(), region, 10, maxPixels=100, bestEffort=True).getInfo()
    assert 0 < coarse["B8"] <= 100
    # The server answers the next request.
    assert img.reduceRegion(ee.Reducer.count(), region, 10).getInfo() == {"B8": 3000}


def test_reduce_region_of_a_point_reads_the_pixel_holding_it(ee, catalog):
    _, data, _ = catalog
    lon, lat = _lonlat(X0 + 10 * 17 + 3, Y0 - 10 * 23 - 6)
    got = ee.Image("T/img").reduceRegion(ee.Reducer.first(), ee.Geometry.Point([lon, lat]), 10).getInfo()
    assert got == {"B4": int(data[0, 23, 17]), "B8": int(data[1, 23, 17]), "B2": int(data[2, 23, 17])}


def test_reduce_regions_names_and_values(ee, catalog):
    _, data, _ = catalog
    fc = ee.FeatureCollection([
        ee.Feature(_utm_polygon(ee, X0, Y0 - 100, X0 + 100, Y0), {"name": "a"}),
        ee.Feature(_utm_polygon(ee, X0 + 300, Y0 - 400, X0 + 500, Y0 - 200), {"name": "b"}),
    ])
    out = ee.Image("T/img").select("B8").reduceRegions(fc, ee.Reducer.mean(), 10).getInfo()["features"]
    assert [f["properties"]["name"] for f in out] == ["a", "b"]
    assert out[0]["properties"]["mean"] == pytest.approx(data[1, :10, :10].mean())
    assert out[1]["properties"]["mean"] == pytest.approx(data[1, 20:40, 30:50].mean())
    multi = ee.Image("T/img").reduceRegions(fc, ee.Reducer.max(), 10).getInfo()["features"][1]["properties"]
    assert multi["B2"] == int(data[2, 20:40, 30:50].max())


def test_sample_all_pixels_and_subsets(ee, catalog):
    _, data, _ = catalog
    region = _utm_polygon(ee, X0, Y0 - 100, X0 + 100, Y0)  # rows 0..9, cols 0..9: B4 is nodata there
    img = ee.Image("T/img")
    kept = img.sample(region, 10).getInfo()["features"]
    assert kept == []  # dropNulls: every pixel has B4 masked
    everything = img.sample(region, 10, dropNulls=False).getInfo()["features"]
    assert len(everything) == 100
    assert sorted(f["properties"]["B8"] for f in everything) == sorted(data[1, :10, :10].ravel().tolist())
    assert all(f["properties"]["B4"] is None for f in everything)
    sub = img.select(["B8", "B2"]).sample(region, 10, numPixels=7, seed=4, geometries=True).getInfo()["features"]
    assert len(sub) == 7
    for f in sub:
        lon, lat = f["geometry"]["coordinates"]
        x, y = transformer("EPSG:4326", CRS).transform(lon, lat)
        col, row = int((x - X0) // 10), int((Y0 - y) // 10)
        assert f["properties"] == {"B8": int(data[1, row, col]), "B2": int(data[2, row, col])}
    again = img.select(["B8", "B2"]).sample(region, 10, numPixels=7, seed=4, geometries=True).getInfo()["features"]
    assert again == sub
    half = img.select("B8").sample(region, 10, factor=0.5, seed=1).size().getInfo()
    assert 30 < half < 70


def test_sample_regions_copies_properties_and_drops_masked(ee, catalog):
    _, data, _ = catalog
    points = [(X0 + 10 * 30 + 5, Y0 - 10 * 40 - 5, 7), (X0 + 10 * 2 + 5, Y0 - 10 * 3 - 5, 8),
              (X0 + 10 * 55 + 5, Y0 - 10 * 12 - 5, 9)]
    fc = ee.FeatureCollection([ee.Feature(ee.Geometry.Point(list(_lonlat(x, y))), {"label": lab, "other": 1})
                               for x, y, lab in points])
    out = ee.Image("T/img").sampleRegions(fc, ["label"], 10).getInfo()["features"]
    # The second point lies in B4's nodata corner, so its sample is dropped.
    assert [f["properties"] for f in out] == [
        {"label": 7, "B4": int(data[0, 40, 30]), "B8": int(data[1, 40, 30]), "B2": int(data[2, 40, 30])},
        {"label": 9, "B4": int(data[0, 12, 55]), "B8": int(data[1, 12, 55]), "B2": int(data[2, 12, 55])},
    ]
    assert [f["id"] for f in out] == ["0_0", "2_0"]


def test_stratified_sample_per_class(ee, catalog):
    _, data, classes = catalog
    img = ee.Image("T/cls").addBands(ee.Image("T/img").select("B8"))
    region = ee.Image("T/img").geometry()
    out = img.stratifiedSample(5, "class", region, 10, seed=2, classValues=[1], classPoints=[2]).getInfo()
    props = [f["properties"] for f in out["features"]]
    labels = [p["class"] for p in props]
    assert labels == [0] * 5 + [1] * 2 + [2] * 5
    b8_by_class = {c: set(data[1][classes == c].tolist()) for c in range(3)}
    assert all(p["B8"] in b8_by_class[p["class"]] for p in props)


def test_get_region_rows(ee, catalog):
    _, data, _ = catalog
    x, y = X0 + 10 * 33 + 4, Y0 - 10 * 21 - 6
    lon, lat = _lonlat(x, y)
    rows = ee.ImageCollection([ee.Image("T/img")]).getRegion(ee.Geometry.Point([lon, lat]), 10).getInfo()
    assert rows[0] == ["id", "longitude", "latitude", "time", "B4", "B8", "B2"]
    assert len(rows) == 2
    _, plon, plat, time, *values = rows[1]
    assert time == 1577836800000
    # The row's pixel is a 10 m (at the equator) cell of EPSG:4326 holding the point; values by nearest neighbour.
    size = 10 / 111319.49079327357
    assert abs(plon - lon) <= size / 2 + 1e-12 and abs(plat - lat) <= size / 2 + 1e-12
    px, py = transformer("EPSG:4326", CRS).transform(plon, plat)
    col, row = int((px - X0) // 10), int((Y0 - py) // 10)
    assert values == [int(data[0, row, col]), int(data[1, row, col]), int(data[2, row, col])]


def test_unbounded_image_needs_a_geometry(ee):
    with pytest.raises(ee.EEException, match="Provide 'geometry'"):
        ee.Image(1).reduceRegion(ee.Reducer.mean(), None, 10).getInfo()


def test_grouped_areas_on_the_native_grid(ee, catalog):
    _, _, classes = catalog
    region = _utm_polygon(ee, X0, Y0 - 300, X0 + 400, Y0)  # rows 0..29, cols 0..39
    labels = ee.Image("T/cls")
    got = ee.Image.pixelArea().addBands(labels).reduceRegion(
        ee.Reducer.sum().group(1, "class"), region, crs=labels.projection(), scale=10).getInfo()["groups"]
    counts = np.bincount(classes[:30, :40].ravel(), minlength=3)
    assert [g["class"] for g in got] == [c for c in range(3) if counts[c]]
    for g in got:  # areas on the sphere of 10 m UTM pixels, within the zone's scale distortion
        assert g["sum"] == pytest.approx(counts[g["class"]] * 100.0, rel=2e-3)


def test_reduce_regions_of_many_points_reads_them_together_with_the_same_values(ee, catalog, monkeypatch):
    from aef_ee.local.algorithms import reduce_region

    _, data, _ = catalog
    rng = np.random.default_rng(11)
    cells = [(int(r), int(c)) for r, c in zip(rng.integers(0, H, 40), rng.integers(0, W, 40))]
    points = [ee.Feature(ee.Geometry.Point(list(_lonlat(X0 + 10 * c + 3.5, Y0 - 10 * r - 6.25))), {"i": i})
              for i, (r, c) in enumerate(cells)]
    # One point on a pixel corner and one in the masked corner of B4.
    points.append(ee.Feature(ee.Geometry.Point([X0 + 200.0, Y0 - 300.0], CRS), {"i": 40}))
    points.append(ee.Feature(ee.Geometry.Point(list(_lonlat(X0 + 25, Y0 - 35))), {"i": 41}))
    for reducer, name in ((ee.Reducer.first(), "first"), (ee.Reducer.mean(), "mean")):
        batched = ee.Image("T/img").reduceRegions(ee.FeatureCollection(points), reducer, 10).getInfo()
        with monkeypatch.context() as patch:  # the one-point-at-a-time path, for reference
            patch.setattr(reduce_region, "POINT_BATCH_PIXELS", 0)
            alone = ee.Image("T/img").reduceRegions(ee.FeatureCollection(points), reducer, 10).getInfo()
        assert [f["properties"] for f in batched["features"]] == [f["properties"] for f in alone["features"]], name
    by_i = {f["properties"]["i"]: f["properties"] for f in alone["features"]}
    assert all(by_i[i]["B8"] == pytest.approx(float(data[1, r, c])) for i, (r, c) in enumerate(cells))
    assert by_i[40]["B2"] in data[2, 29:31, 19:21].astype(np.float64)  # a pixel next to the corner
    assert by_i[41].get("B4") is None and by_i[41]["B8"] == pytest.approx(float(data[1, 3, 2]))
