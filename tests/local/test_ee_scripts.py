"""Earth-Engine-style scripts, written as for Earth Engine, run on the demo catalog through the real client, and
compared with numpy computed directly from the catalog's COGs (which tests/local/test_demo_catalog.py ties to the
source files in data/).

Covers issue 3's "Done when": filterDate / filterBounds, map with a Python function computing NDVI, a median
composite, reduceRegion over a polygon at a scale, sample / sampleRegions, getRegion, and computePixels on a grid in
another CRS; and xee opening a collection (a client no one here wrote).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from shapely.geometry import Polygon

from aef_ee.local.projection import transformer

S2 = "COPERNICUS/S2_SR_HARMONIZED"
S2_BANDS = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"]
NODATA = 65535
BELGIUM_MONTHS = ["20201101", "20201201", "20210101", "20210201", "20210301", "20210401", "20210501", "20210601",
                  "20210701", "20210801", "20210901", "20211001"]


def _belgium(demo_catalog_dir: Path, month: str) -> tuple[np.ndarray, rasterio.Affine, str]:
    """(bands (9, H, W) uint16, transform, crs) of one Belgium monthly image."""
    with rasterio.open(demo_catalog_dir / S2 / f"{month}_BE.tif") as ds:
        return ds.read(), ds.transform, ds.crs.to_string()


def _grid(transform, crs, width, height) -> dict:
    return {"crsCode": crs, "dimensions": {"width": width, "height": height},
            "affineTransform": {"scaleX": transform.a, "shearX": transform.b, "translateX": transform.c,
                                "shearY": transform.d, "scaleY": transform.e, "translateY": transform.f}}


def _ms(day: str) -> int:
    moment = datetime.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def _belgium_centre_lonlat(demo_catalog_dir: Path) -> tuple[float, float]:
    _, t, crs = _belgium(demo_catalog_dir, BELGIUM_MONTHS[0])
    return transformer(crs, "EPSG:4326").transform(t.c + 500, t.f - 500)


def test_filter_date_and_bounds(ee_local, demo_catalog_dir):
    ee = ee_local
    lon, lat = _belgium_centre_lonlat(demo_catalog_dir)
    found = (ee.ImageCollection(S2).filterBounds(ee.Geometry.Point([lon, lat]))
             .filterDate("2021-01-01", "2021-07-01").aggregate_array("system:index").getInfo())
    # Expected from the manifests: Belgium images (those whose bounds hold the point) starting in the window.
    expected = []
    for manifest in sorted((demo_catalog_dir / S2).glob("*.image.json")):
        meta = json.loads(manifest.read_text())
        start = meta["properties"]["system:time_start"]
        with rasterio.open(manifest.parent / meta["bands"][0]["path"]) as ds:
            x, y = transformer("EPSG:4326", ds.crs.to_string()).transform(lon, lat)
            inside = ds.bounds.left <= x <= ds.bounds.right and ds.bounds.bottom <= y <= ds.bounds.top
        if inside and _ms("2021-01-01") <= start < _ms("2021-07-01"):
            expected.append(manifest.name[:-len(".image.json")])
    assert found == expected == [f"{m}_BE" for m in BELGIUM_MONTHS[2:8]]


def test_map_ndvi_with_a_python_function(ee_local, demo_catalog_dir):
    ee = ee_local

    def add_ndvi(image):
        ndvi = image.normalizedDifference(["B8", "B4"]).rename("NDVI")
        return image.addBands(ndvi)

    coll = ee.ImageCollection(S2).filterDate("2021-05-01", "2021-08-01").map(add_ndvi)
    assert coll.first().bandNames().getInfo() == S2_BANDS + ["NDVI"]
    data, t, crs = _belgium(demo_catalog_dir, "20210601")
    image = coll.filter(ee.Filter.eq("system:index", "20210601_BE")).first()
    got = ee.data.computePixels({"expression": image.select("NDVI"), "fileFormat": "NUMPY_NDARRAY",
                                 "grid": _grid(t, crs, 100, 100)})["NDVI"]
    red, nir = data[2].astype(np.float32), data[6].astype(np.float32)
    np.testing.assert_allclose(got, (nir - red) / (nir + red), rtol=1e-6, atol=1e-7)


def test_median_composite(ee_local, demo_catalog_dir):
    ee = ee_local
    lon, lat = _belgium_centre_lonlat(demo_catalog_dir)
    composite = (ee.ImageCollection(S2).filterBounds(ee.Geometry.Point([lon, lat]))
                 .filterDate("2020-11-01", "2021-11-01").median())
    _, t, crs = _belgium(demo_catalog_dir, BELGIUM_MONTHS[0])
    got = ee.data.computePixels({"expression": composite.select(["B4", "B8"]), "fileFormat": "NUMPY_NDARRAY",
                                 "grid": _grid(t, crs, 100, 100)})
    stack = np.stack([_belgium(demo_catalog_dir, m)[0] for m in BELGIUM_MONTHS]).astype(np.float64)
    stack[stack == NODATA] = np.nan
    for band, j in (("B4", 2), ("B8", 6)):
        np.testing.assert_allclose(got[band], np.nanmedian(stack[:, j], axis=0), rtol=1e-9)


def test_reduce_region_over_a_polygon_at_a_scale(ee_local, demo_catalog_dir):
    ee = ee_local
    data, t, crs = _belgium(demo_catalog_dir, "20210701")
    to_lonlat = transformer(crs, "EPSG:4326")
    # A quadrilateral inside the image, given in longitude/latitude as a user would draw it.
    corners_utm = [(t.c + 120, t.f - 130), (t.c + 810, t.f - 95), (t.c + 760, t.f - 870), (t.c + 160, t.f - 640)]
    ring = [list(to_lonlat.transform(x, y)) for x, y in corners_utm]
    region = ee.Geometry.Polygon([ring], None, False)
    image = ee.Image(f"{S2}/20210701_BE")
    ndvi = image.normalizedDifference(["B8", "B4"]).rename("NDVI")
    got = ndvi.addBands(image.select("B2")).reduceRegion(ee.Reducer.mean(), region, 10).getInfo()
    # Numpy: Earth Engine's weighted mean over the image's 10 m grid -- each pixel weighted by the fraction of it
    # inside the polygon (projected to the image's CRS), pixels under 0.5% left out.
    polygon = Polygon([transformer("EPSG:4326", crs).transform(*p) for p in ring])
    rows, cols = np.mgrid[0:100, 0:100]
    boxes = shapely.box(t.c + 10 * cols, t.f - 10 * (rows + 1), t.c + 10 * (cols + 1), t.f - 10 * rows)
    fraction = shapely.area(shapely.intersection(boxes, polygon)) / 100.0
    w = np.where(fraction >= 0.005, fraction, 0.0)
    red, nir = data[2].astype(np.float64), data[6].astype(np.float64)
    assert got["NDVI"] == pytest.approx((w * (nir - red) / (nir + red)).sum() / w.sum(), rel=1e-6)
    assert got["B2"] == pytest.approx((w * data[0]).sum() / w.sum(), rel=1e-12)
    # Unweighted: the same pixels, weight 1 each; count and toList take the pixels whose centre lies inside.
    plain = image.select("B2").reduceRegion(ee.Reducer.mean().unweighted(), region, 10).getInfo()
    assert plain["B2"] == pytest.approx(data[0][fraction >= 0.005].mean(), rel=1e-12)
    inside = shapely.contains_xy(polygon, t.c + 10 * (cols + 0.5), t.f - 10 * (rows + 0.5))
    listed = image.select("B2").reduceRegion(ee.Reducer.toList(), region, 10).getInfo()["B2"]
    assert sorted(listed) == sorted(data[0][inside].tolist())
    # At 20 m the grid keeps the image's origin: every other pixel, the centre of each 2 x 2 block.
    coarse = image.select("B2").reduceRegion(ee.Reducer.count(), region, 20).getInfo()
    rows2, cols2 = np.mgrid[0:50, 0:50]
    inside2 = shapely.contains_xy(polygon, t.c + 20 * (cols2 + 0.5), t.f - 20 * (rows2 + 0.5))
    assert coarse == {"B2": int(inside2.sum())}


def test_sample_and_sample_regions(ee_local, demo_catalog_dir):
    ee = ee_local
    data, t, crs = _belgium(demo_catalog_dir, "20210401")
    image = ee.Image(f"{S2}/20210401_BE").select(["B4", "B8"])
    rng = np.random.default_rng(5)
    cols, rows = rng.integers(0, 100, 6), rng.integers(0, 100, 6)
    to_lonlat = transformer(crs, "EPSG:4326")
    points = [to_lonlat.transform(t.c + 10 * c + 3.0, t.f - 10 * r - 7.0) for c, r in zip(cols, rows)]
    fc = ee.FeatureCollection([ee.Feature(ee.Geometry.Point(list(p)), {"label": int(k)})
                               for k, p in enumerate(points)])
    samples = image.sampleRegions(fc, ["label"], 10).getInfo()["features"]
    got = {f["properties"]["label"]: (f["properties"]["B4"], f["properties"]["B8"]) for f in samples}
    assert got == {k: (int(data[2, r, c]), int(data[6, r, c])) for k, (c, r) in enumerate(zip(cols, rows))}

    region = ee.Geometry.Rectangle([t.c + 200, t.f - 500, t.c + 400, t.f - 300], crs, False)
    pixels = image.sample(region, 10, geometries=True).getInfo()["features"]
    assert len(pixels) == 400
    to_utm = transformer("EPSG:4326", crs)
    for f in pixels[::37]:
        x, y = to_utm.transform(*f["geometry"]["coordinates"])
        c, r = int((x - t.c) // 10), int((t.f - y) // 10)
        assert (f["properties"]["B4"], f["properties"]["B8"]) == (int(data[2, r, c]), int(data[6, r, c]))
    assert sorted(f["properties"]["B8"] for f in pixels) == sorted(data[6, 30:50, 20:40].ravel().tolist())


def test_get_region_time_series(ee_local, demo_catalog_dir):
    ee = ee_local
    lon, lat = -1.3, 52.6
    rows = ee.ImageCollection("ECMWF/ERA5/HOURLY").filterDate("2019-03-02", "2019-03-03").getRegion(
        ee.Geometry.Point([lon, lat]), 1000).getInfo()
    assert rows[0] == ["id", "longitude", "latitude", "time", "temperature_2m"]
    assert len(rows) == 1 + 24
    with rasterio.open(demo_catalog_dir / "ECMWF/ERA5/HOURLY/era5_uk_2019-03_temperature_2m.tif") as ds:
        row, col = ds.index(lon, lat)
        series = ds.read()[24:48, row, col]  # band k is hour k of March 2019
    assert [r[3] for r in rows[1:]] == [_ms("2019-03-02") + h * 3600000 for h in range(24)]
    np.testing.assert_allclose([r[4] for r in rows[1:]], series, rtol=1e-7)
    assert abs(rows[1][1] - lon) < 0.01 and abs(rows[1][2] - lat) < 0.01


def test_compute_pixels_on_a_grid_in_another_crs(ee_local, demo_catalog_dir):
    ee = ee_local
    data, t, crs = _belgium(demo_catalog_dir, "20210801")
    lon0, lat0 = transformer(crs, "EPSG:4326").transform(t.c + 100, t.f - 100)
    step = 5e-5  # degrees, about 3.5 m x 5.5 m here
    width, height = 120, 90
    grid = {"crsCode": "EPSG:4326", "dimensions": {"width": width, "height": height},
            "affineTransform": {"scaleX": step, "shearX": 0, "translateX": lon0, "shearY": 0, "scaleY": -step,
                                "translateY": lat0}}
    got = ee.data.computePixels({"expression": ee.Image(f"{S2}/20210801_BE").select("B11"),
                                 "fileFormat": "NUMPY_NDARRAY", "grid": grid})["B11"]
    # Nearest neighbour: each output pixel centre, projected to the image's CRS, falls in one source pixel.
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    x, y = transformer("EPSG:4326", crs).transform(lon0 + step * cols, lat0 - step * rows)
    src_c, src_r = np.floor((x - t.c) / 10).astype(int), np.floor((t.f - y) / 10).astype(int)
    assert got.shape == (height, width)
    np.testing.assert_array_equal(got, data[7][src_r, src_c])


def test_xee_opens_a_collection(ee_local, demo_catalog_dir):
    import xarray as xr

    ee = ee_local
    coll = ee.ImageCollection(S2).filterDate("2020-06-01", "2022-01-01").select(["B4", "B8"])
    _, t, crs = _belgium(demo_catalog_dir, BELGIUM_MONTHS[0])
    ds = xr.open_dataset(coll, engine="ee", crs=crs, crs_transform=(t.a, t.b, t.c, t.d, t.e, t.f), shape_2d=(100, 100))
    assert ds.sizes["time"] == 12 and list(ds.data_vars) == ["B4", "B8"]
    assert str(ds.time.values[7])[:10] == "2021-06-01"
    data, _, _ = _belgium(demo_catalog_dir, "20210601")
    b8 = np.asarray(ds.B8.isel(time=7).values)
    # xee's arrays are (x, y) or (y, x) depending on its version; compare in the file's (row, col) order.
    b8 = b8 if ds.B8.dims[1:] == ("y", "x") else b8.T
    np.testing.assert_array_equal(b8, data[6])
