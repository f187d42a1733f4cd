"""Regression reducers, scale changes and rectangle sampling from Earth Engine's guides ("Linear Regression",
"Scale" / reduceResolution, resample, sampleRectangle), run unchanged through the ``ee`` client on the demo catalog
and compared with numpy / scipy computed from the catalog's COGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage, stats

S2 = "COPERNICUS/S2_SR_HARMONIZED"
MONTH = "20210601"
BANDS = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"]


@pytest.fixture(scope="module")
def belgium(demo_catalog_dir: Path) -> tuple[dict[str, np.ndarray], rasterio.Affine, str]:
    with rasterio.open(demo_catalog_dir / S2 / f"{MONTH}_BE.tif") as ds:
        return dict(zip(BANDS, ds.read().astype(np.float64), strict=True)), ds.transform, ds.crs.to_string()


def _grid(t, crs: str, scale: float, width: int, height: int, dx: float = 0, dy: float = 0) -> dict:
    return {"crsCode": crs, "dimensions": {"width": width, "height": height},
            "affineTransform": {"scaleX": scale, "shearX": 0, "translateX": t.c + dx, "shearY": 0,
                                "scaleY": -scale, "translateY": t.f - dy}}


def _pixels(ee, image, grid) -> np.ndarray:
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})


def test_linear_regression_over_a_region(ee_local, belgium):
    ee = ee_local
    bands, _, crs = belgium
    image = ee.Image(f"{S2}/{MONTH}_BE")
    # The guide's multiple regression: a constant band for the intercept, two predictors, two responses.
    inputs = ee.Image.constant(1).addBands(image.select(["B4", "B11"])).addBands(image.select(["B8", "B5"]))
    got = inputs.reduceRegion(reducer=ee.Reducer.linearRegression(numX=3, numY=2), geometry=image.geometry(),
                              crs=crs, scale=10).getInfo()
    x = np.stack([np.ones(10000), bands["B4"].ravel(), bands["B11"].ravel()], axis=1)
    y = np.stack([bands["B8"].ravel(), bands["B5"].ravel()], axis=1)
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    np.testing.assert_allclose(got["coefficients"], coefficients, rtol=1e-9)
    np.testing.assert_allclose(got["residuals"], np.sqrt(np.mean((y - x @ coefficients) ** 2, axis=0)), rtol=1e-9)


def test_robust_regression_rejects_outliers(ee_local):
    ee = ee_local
    rng = np.random.default_rng(3)
    xs = rng.uniform(0, 10, 60)
    ys = 2.0 * xs + 1.0
    ys[::10] += 50.0  # six gross outliers
    fc = ee.FeatureCollection([ee.Feature(None, {"c": 1, "x": float(a), "y": float(b)}) for a, b in zip(xs, ys)])
    robust = fc.reduceColumns(ee.Reducer.robustLinearRegression(2, 1), ["c", "x", "y"]).getInfo()
    np.testing.assert_allclose(np.ravel(robust["coefficients"]), [1.0, 2.0], atol=1e-9)
    plain = fc.reduceColumns(ee.Reducer.linearRegression(2, 1), ["c", "x", "y"]).getInfo()
    want, *_ = np.linalg.lstsq(np.stack([np.ones(60), xs], 1), ys, rcond=None)
    np.testing.assert_allclose(np.ravel(plain["coefficients"]), want, rtol=1e-9)
    # Underdetermined: no more inputs than numX gives nulls, as documented.
    few = ee.FeatureCollection([ee.Feature(None, {"c": 1, "x": 1, "y": 2})])
    assert few.reduceColumns(ee.Reducer.linearRegression(2, 1), ["c", "x", "y"]).getInfo() == {
        "coefficients": None, "residuals": None}


def test_pearsons_correlation_per_pixel_over_a_collection(ee_local, demo_catalog_dir: Path, belgium):
    ee = ee_local
    _, t, crs = belgium
    collection = ee.ImageCollection(S2).filter(ee.Filter.stringEndsWith("system:index", "_BE"))
    got = _pixels(ee, collection.select(["B4", "B8"]).reduce(ee.Reducer.pearsonsCorrelation()),
                  _grid(t, crs, 10, 100, 100))
    stack = []
    for path in sorted((demo_catalog_dir / S2).glob("*_BE.tif")):
        with rasterio.open(path) as ds:
            stack.append(ds.read([3, 7]).astype(np.float64))
    data = np.stack(stack)  # (months, 2, 100, 100)
    data[data == 65535] = np.nan
    for r, c in ((5, 5), (50, 73), (99, 0)):
        x, y = data[:, 0, r, c], data[:, 1, r, c]
        ok = ~np.isnan(x) & ~np.isnan(y)
        want_r, want_p = stats.pearsonr(x[ok], y[ok])
        assert got["correlation"][r, c] == pytest.approx(want_r, rel=1e-9)
        assert got["p-value"][r, c] == pytest.approx(want_p, rel=1e-6, abs=1e-300)


def test_count_every_counts_masked_layers(ee_local, belgium):
    ee = ee_local
    _, t, crs = belgium
    collection = ee.ImageCollection(S2).filter(ee.Filter.stringEndsWith("system:index", "_BE")).select("B2")
    grid = _grid(t, crs, 10, 100, 100)
    every = _pixels(ee, collection.reduce(ee.Reducer.countEvery()), grid)
    count = _pixels(ee, collection.reduce(ee.Reducer.count()), grid)
    assert (every[every.dtype.names[0]] == 12).all()
    assert (count[count.dtype.names[0]] <= 12).all() and (count[count.dtype.names[0]] < 12).any()


def test_reduce_resolution_means_and_counts(ee_local, belgium):
    ee = ee_local
    bands, t, crs = belgium
    b4 = bands["B4"]
    image = ee.Image(f"{S2}/{MONTH}_BE").select("B4")
    # The guide's pattern: reduceResolution, then reproject to the coarser grid.
    coarse = image.reduceResolution(reducer=ee.Reducer.mean(), maxPixels=64).reproject(crs=crs, crsTransform=[
        30, 0, t.c, 0, -30, t.f])
    got = _pixels(ee, coarse, _grid(t, crs, 30, 33, 33))["B4"]
    np.testing.assert_allclose(got, b4[:99, :99].reshape(33, 3, 33, 3).mean(axis=(1, 3)), rtol=1e-12)
    # 25 m output pixels over 10 m input pixels: each input pixel weighs the fraction of the output it covers.
    got = _pixels(ee, image.reduceResolution(ee.Reducer.mean()), _grid(t, crs, 25, 40, 40))["B4"]
    cover = np.array([[max(0.0, min(25.0 * (j + 1), 10.0 * (i + 1)) - max(25.0 * j, 10.0 * i)) / 25
                       for i in range(100)] for j in range(40)])
    np.testing.assert_allclose(got, (cover @ b4 @ cover.T) / (cover @ np.ones_like(b4) @ cover.T), rtol=1e-12)
    got = _pixels(ee, image.reduceResolution(ee.Reducer.max()), _grid(t, crs, 50, 20, 20))["B4"]
    np.testing.assert_array_equal(got, b4.reshape(20, 5, 20, 5).max(axis=(1, 3)))
    with pytest.raises(ee.EEException, match="Too many input pixels per output pixel"):
        _pixels(ee, image.reduceResolution(ee.Reducer.mean()), _grid(t, crs, 100, 10, 10))
    counted = _pixels(ee, image.reduceResolution(ee.Reducer.count(), True), _grid(t, crs, 100, 10, 10))["B4"]
    assert (counted > 0).all()  # bestEffort: read from a coarser level instead of failing


def test_resample_of_a_computed_image(ee_local, belgium):
    ee = ee_local
    bands, t, crs = belgium
    ndvi = ee.Image(f"{S2}/{MONTH}_BE").normalizedDifference(["B8", "B4"])
    got = _pixels(ee, ndvi.resample("bilinear"), _grid(t, crs, 5, 60, 60, dx=100, dy=100))["nd"]
    want_ndvi = (bands["B8"] - bands["B4"]) / (bands["B8"] + bands["B4"])
    centres = (np.arange(60) * 5 + 2.5 + 100) / 10 - 0.5  # output centres in source pixel coordinates
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    want = ndimage.map_coordinates(want_ndvi, [rows, cols], order=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    nearest = _pixels(ee, ndvi, _grid(t, crs, 5, 60, 60, dx=100, dy=100))["nd"]
    assert np.abs(nearest - want).max() > 1e-3  # without resample it is nearest-neighbour


def test_sample_rectangle(ee_local, belgium):
    ee = ee_local
    bands, t, crs = belgium
    image = ee.Image(f"{S2}/{MONTH}_BE").select(["B4", "B8"])
    rect = ee.Geometry.Rectangle([t.c + 100, t.f - 300, t.c + 250, t.f - 100], crs, False)
    feature = image.sampleRectangle(region=rect).getInfo()
    np.testing.assert_array_equal(feature["properties"]["B4"], bands["B4"][10:30, 10:25])
    np.testing.assert_array_equal(feature["properties"]["B8"], bands["B8"][10:30, 10:25])
    # Past the image: masked pixels need a default value.
    outside = ee.Geometry.Rectangle([t.c - 50, t.f - 50, t.c + 50, t.f + 50], crs, False)
    with pytest.raises(ee.EEException, match="no default value set"):
        image.sampleRectangle(region=outside).getInfo()
    padded = np.array(image.sampleRectangle(region=outside, defaultValue=-1).getInfo()["properties"]["B4"])
    assert padded.shape == (10, 10) and (padded[:5] == -1).all() and (padded[5:, 5:] == bands["B4"][:5, :5]).all()


def test_linear_regression_over_time_per_pixel(ee_local, demo_catalog_dir: Path, belgium):
    ee = ee_local
    _, t, crs = belgium

    # The "Linear Regression" guide: a constant band, a time band from metadata, the dependent band; then the
    # coefficients' array flattened into named bands.
    def add_bands(image):
        ndvi = image.normalizedDifference(["B8", "B4"]).rename("ndvi")
        time = image.metadata("system:time_start").divide(1e12).rename("t")
        return ee.Image.cat(ee.Image(1).rename("constant"), time, ndvi)

    collection = ee.ImageCollection(S2).filter(ee.Filter.stringEndsWith("system:index", "_BE")).map(add_bands)
    regression = collection.select(["constant", "t", "ndvi"]).reduce(ee.Reducer.linearRegression(numX=2, numY=1))
    coefficients = regression.select(["coefficients"]).arrayProject([0]).arrayFlatten([["offset", "trend"]])
    got = _pixels(ee, coefficients.addBands(regression.select("residuals").arrayGet([0])),
                  _grid(t, crs, 10, 100, 100))
    import json

    x_rows, y_rows = [], []
    for manifest in sorted((demo_catalog_dir / S2).glob("*_BE.image.json")):
        meta = json.loads(manifest.read_text())
        with rasterio.open(manifest.parent / meta["bands"][0]["path"]) as ds:
            b4, b8 = ds.read(3).astype(np.float64), ds.read(7).astype(np.float64)
        ndvi = np.where((b4 == 65535) | (b8 == 65535), np.nan, ((b8 - b4) / (b8 + b4)).astype(np.float32))
        x_rows.append(meta["properties"]["system:time_start"] / 1e12)
        y_rows.append(ndvi)
    x, y = np.array(x_rows), np.stack(y_rows)
    for r, c in ((3, 4), (50, 50), (97, 12)):
        ok = ~np.isnan(y[:, r, c])
        design = np.stack([np.ones(ok.sum()), x[ok]], axis=1)
        want, *_ = np.linalg.lstsq(design, y[ok, r, c], rcond=None)
        assert [got["offset"][r, c], got["trend"][r, c]] == pytest.approx(want, rel=1e-6)
        rms = np.sqrt(np.mean((y[ok, r, c] - design @ want) ** 2))
        assert got["residuals"][r, c] == pytest.approx(rms, rel=1e-5)


def test_mode_and_count_distinct_per_pixel(ee_local, demo_catalog_dir: Path, belgium):
    ee = ee_local
    _, t, crs = belgium
    # Classes per month (B8 above 2500, plus B4 above 500), then their mode and how many distinct ones per pixel.
    collection = ee.ImageCollection(S2).filter(ee.Filter.stringEndsWith("system:index", "_BE")).map(
        lambda image: image.select("B8").gt(2500).add(image.select("B4").gt(500)).rename("c")
        .updateMask(image.select("B8").neq(65535)))
    got = _pixels(ee, collection.reduce(ee.Reducer.mode()).addBands(
        collection.reduce(ee.Reducer.countDistinct())), _grid(t, crs, 10, 100, 100))
    layers = []
    for path in sorted((demo_catalog_dir / S2).glob("*_BE.tif")):
        with rasterio.open(path) as ds:
            b4, b8 = ds.read(3).astype(np.float64), ds.read(7).astype(np.float64)
        layers.append(np.where(b8 == 65535, np.nan, (b8 > 2500).astype(float) + (b4 > 500)))
    stack = np.stack(layers)
    counts = np.stack([(stack == v).sum(axis=0) for v in (0, 1, 2)])
    np.testing.assert_array_equal(got["c_mode"], np.argmax(counts, axis=0))  # ties: the smallest value
    np.testing.assert_array_equal(got["c_count"], (counts > 0).sum(axis=0))
