"""Per-pixel image operations (aef_ee.local.algorithms.image_ops) through the real earthengine-api client."""

from __future__ import annotations

import math

import pytest


def _first(ee, image) -> dict:
    """The image's value at one point, per band (constant images have the same value everywhere)."""
    return image.reduceRegion(ee.Reducer.first(), ee.Geometry.Point([0.5, 0.5]), 1000).getInfo()


def test_erf_matches_math_erf(ee):
    xs = [-1.5, 0.0, 0.3, 2.0]
    image = ee.Image.constant(xs).erf()
    got = image.reduceRegion(ee.Reducer.first(), ee.Geometry.Point([0.5, 0.5]), 1000).getInfo()
    assert got == pytest.approx({f"constant_{i}": math.erf(x) for i, x in enumerate(xs)}, rel=1e-12)
    assert image.bandTypes().getInfo()["constant_0"] == {"type": "PixelType", "precision": "double"}
    # Double constants stay double; an integer band becomes float32, as Earth Engine's math functions do.
    as_int = ee.Image.constant(1).toUint8().erf()
    assert as_int.bandTypes().getInfo()["constant"] == {"type": "PixelType", "precision": "float"}
    assert _first(ee, as_int)["constant"] == pytest.approx(math.erf(1.0), rel=1e-6)


def test_erf_keeps_the_mask(ee):
    masked = ee.Image.constant(0.5).updateMask(ee.Image.constant(0)).erf()
    assert _first(ee, masked) == {"constant": None}


@pytest.fixture(scope="module")
def stack_engine(tmp_path_factory):
    """A 6-band float32 image (one band with NaN holes) in a catalog of its own."""
    import numpy as np
    import rasterio
    from local_engine import running_engine
    from rasterio.transform import from_origin

    from aef_ee.local.catalog import Catalog

    root = tmp_path_factory.mktemp("stack")
    data = np.random.default_rng(4).standard_normal((6, 40, 50)).astype(np.float32)
    holed = data.copy()
    holed[2, 5:9, 7:30] = np.nan
    for name, array in (("stack", data), ("holed", holed)):
        path = root / "projects" / "local" / "assets" / f"{name}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(path, "w", driver="GTiff", width=50, height=40, count=6, dtype="float32",
                           crs="EPSG:32631", transform=from_origin(500000, 5600000, 10, 10)) as ds:
            ds.write(array)
        Catalog(root).write_image(f"projects/local/assets/{name}", [
            {"id": f"b{i}", "path": f"{name}.tif", "band": i + 1, "data_type": "float32", "nodata": None}
            for i in range(6)], {})
    with running_engine(root, connect_client=False) as server:
        yield server, data, holed


def test_weighted_band_sum_is_exact_in_double(ee, stack_engine):
    import numpy as np
    from local_engine import connect

    server, data, holed = stack_engine
    connect(server)
    weights = [0.1, -0.7, 0.25, 1e-3, 3.0, -2.5]
    grid = {"crsCode": "EPSG:32631", "dimensions": {"width": 50, "height": 40},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": 500000, "shearY": 0, "scaleY": -10,
                                "translateY": 5600000}}

    def pixels(image):
        return ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})["sum"]

    image = ee.Image("projects/local/assets/stack")
    fused = pixels(image.multiply(ee.Image.constant(weights)).reduce(ee.Reducer.sum()))
    # The same sum, computed band by band without the fused form (select breaks the pattern).
    plain = pixels(image.multiply(ee.Image.constant(weights)).select(".*").reduce(ee.Reducer.sum()))
    want = np.zeros(data.shape[1:])
    for band, weight in zip(data, weights):
        want += band.astype(np.float64) * weight
    # Named constants, as aef_ee.ops.similarity builds them, take the same path.
    named = pixels(image.multiply(ee.Image.constant(weights).rename([f"b{i}" for i in range(6)]))
                   .reduce(ee.Reducer.sum()))
    assert fused.dtype == np.float64  # float bands times double constants are double (the union rule)
    np.testing.assert_array_equal(fused, want)
    np.testing.assert_array_equal(plain, want)
    np.testing.assert_array_equal(named, want)
    # With a masked band the sum leaves it out where it is masked, as Reducer.sum does.
    holes = pixels(ee.Image("projects/local/assets/holed").multiply(ee.Image.constant(weights))
                   .reduce(ee.Reducer.sum()))
    kept = np.where(np.isnan(holed[2]), want - data[2].astype(np.float64) * weights[2], want)
    np.testing.assert_allclose(holes, kept, rtol=1e-12, atol=1e-12)
