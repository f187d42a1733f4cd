"""Band math from Earth Engine's guides ("Mathematical Operations": operators and ``expression()``; the Sentinel-2
catalog page's ``.divide(10000)`` scaling), run unchanged through the ``ee`` client on the demo catalog and compared
with numpy computed from the catalog's COGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

S2 = "COPERNICUS/S2_SR_HARMONIZED"
MONTH = "20210601"
# Band order of the Belgium COGs (tests/local/test_demo_catalog.py ties them to data/).
BANDS = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"]


def _belgium(demo_catalog_dir: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(demo_catalog_dir / S2 / f"{MONTH}_BE.tif") as ds:
        t = ds.transform
        grid = {"crsCode": ds.crs.to_string(), "dimensions": {"width": ds.width, "height": ds.height},
                "affineTransform": {"scaleX": t.a, "shearX": t.b, "translateX": t.c, "shearY": t.d,
                                    "scaleY": t.e, "translateY": t.f}}
        return ds.read().astype(np.float64), grid


def _band(data: np.ndarray, name: str) -> np.ndarray:
    return data[BANDS.index(name)]


def _pixels(ee, image, grid) -> np.ndarray:
    return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})


def test_evi_expression_from_the_guide(ee_local, demo_catalog_dir):
    ee = ee_local
    image = ee.Image(f"{S2}/{MONTH}_BE")
    # The guide's EVI, with the Sentinel-2 bands scaled to reflectance as the catalog page does.
    evi = image.expression(
        "2.5 * ((NIR - RED) / (NIR + 6 * RED - 7.5 * BLUE + 1))", {
            "NIR": image.select("B8").divide(10000),
            "RED": image.select("B4").divide(10000),
            "BLUE": image.select("B2").divide(10000),
        })
    data, grid = _belgium(demo_catalog_dir)
    nir, red, blue = (_band(data, b).astype(np.float32) / np.float32(10000) for b in ("B8", "B4", "B2"))
    want = 2.5 * ((nir - red) / (nir + 6 * red - 7.5 * blue + 1))
    got = _pixels(ee, evi, grid)
    # Bands are named as the operators name them: after image1 when both have one band, here the constant 2.5.
    assert got.dtype.names == ("constant",)
    np.testing.assert_allclose(got["constant"], want, rtol=1e-5, atol=1e-6)
    assert evi.bandTypes().getInfo() == {"constant": {"type": "PixelType", "precision": "double"}}


def test_ndvi_expression_by_band_index_and_name_equals_the_operators(ee_local, demo_catalog_dir):
    ee = ee_local
    image = ee.Image(f"{S2}/{MONTH}_BE")
    by_index = image.expression("(b(6) - b(2)) / (b(6) + b(2))").rename("NDVI")
    by_name = image.expression("NDVI = (b('B8') - b('B4')) / (b('B8') + b('B4'))")
    by_operators = image.select("B8").subtract(image.select("B4")).divide(
        image.select("B8").add(image.select("B4"))).rename("NDVI")
    data, grid = _belgium(demo_catalog_dir)
    nir, red = _band(data, "B8"), _band(data, "B4")
    want = ((nir - red) / (nir + red)).astype(np.float32)
    for expression in (by_index, by_name, by_operators):
        got = _pixels(ee, expression, grid)["NDVI"]
        assert got.dtype == np.float32  # integer division is not truncated
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sentinel2_scaling_by_divide_gives_reflectance(ee_local, demo_catalog_dir):
    ee = ee_local

    def mask_and_scale(image):  # the catalog page's maskS2clouds, without its QA60 band (not in this data)
        return image.updateMask(image.select("B2").lt(3000)).divide(10000)

    scaled = ee.ImageCollection(S2).filter(ee.Filter.eq("system:index", f"{MONTH}_BE")).map(mask_and_scale)
    got = _pixels(ee, scaled.first().select(["B4", "B8"]), _belgium(demo_catalog_dir)[1])
    data, _ = _belgium(demo_catalog_dir)
    keep = _band(data, "B2") < 3000
    for name in ("B4", "B8"):
        want = np.where(keep, (_band(data, name) / 10000).astype(np.float32), 0)
        np.testing.assert_allclose(got[name], want, rtol=1e-6)
    assert 0 < got["B4"].max() < 1


def test_conditional_and_logical_expressions(ee_local, demo_catalog_dir):
    ee = ee_local
    image = ee.Image(f"{S2}/{MONTH}_BE")
    classes = image.expression("(b('B8') > 3000) && !(b('B4') > 800) ? 2 : (b('B4') > 800) ^ (b('B2') > 500)")
    data, grid = _belgium(demo_catalog_dir)
    nir, red, blue = _band(data, "B8"), _band(data, "B4"), _band(data, "B2")
    want = np.where((nir > 3000) & ~(red > 800), 2, (red > 800) ^ (blue > 500))
    got = _pixels(ee, classes, grid)
    np.testing.assert_array_equal(got[got.dtype.names[0]], want)


def test_expression_errors_name_the_problem(ee_local):
    ee = ee_local
    image = ee.Image.constant([1, 2]).rename(["a", "b"])
    with pytest.raises(ee.EEException, match="unknown function 'nope'"):
        image.expression("nope(b(0))").getInfo()
    with pytest.raises(ee.EEException, match="not among the parameters"):
        image.expression("x + 1").getInfo()
    with pytest.raises(ee.EEException, match="names a single band"):
        image.expression("y = b()").getInfo()


def test_add_bands_renames_a_taken_name_instead_of_refusing(ee_local):
    ee = ee_local
    # apidocs ee-image-addbands: "Otherwise the new band will be renamed with a numerical suffix (`foo` to `foo_1`
    # unless `foo_1` exists, then `foo_2` unless it exists, etc)".
    image = ee.Image.constant([1, 2]).rename(["foo", "foo_1"])
    doubled = image.addBands(image)
    assert doubled.bandNames().getInfo() == ["foo", "foo_1", "foo_2", "foo_1_1"]
    got = doubled.reduceRegion(ee.Reducer.first(), ee.Geometry.Point([0.5, 0.5]), 1000).getInfo()
    assert got == {"foo": 1, "foo_1": 2, "foo_2": 1, "foo_1_1": 2}
    replaced = image.addBands(ee.Image.constant(5).rename("foo"), None, True)
    assert replaced.bandNames().getInfo() == ["foo_1", "foo"]
    # ee.Image([a, b, c]) combines constants through addBands: 'constant', 'constant_1', 'constant_2'.
    assert ee.Image([0xFF, 0x88, 0x00]).bandNames().getInfo() == ["constant", "constant_1", "constant_2"]
