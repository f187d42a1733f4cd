"""Clients nobody here wrote, against the local engine: geemap's ee_to_numpy (xee is covered in test_ee_scripts)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio


def test_geemap_ee_to_numpy_equals_the_cog(ee_local, demo_catalog_dir):
    geemap = pytest.importorskip("geemap")
    ee = ee_local
    image_id = "COPERNICUS/S2_SR_HARMONIZED/20210601_BE"
    image = ee.Image(image_id).select(["B4", "B8"])
    manifest_dir = demo_catalog_dir / "COPERNICUS" / "S2_SR_HARMONIZED"
    with rasterio.open(next(manifest_dir.glob("20210601_BE*.tif"))) as ds:
        left, bottom, right, top = ds.bounds
        crs = ds.crs.to_string()
        b4 = ds.read(ds.descriptions.index("B4") + 1)
        b8 = ds.read(ds.descriptions.index("B8") + 1)
    # A region of whole pixels well inside the patch, in the image's own CRS.
    region = ee.Geometry.Rectangle([left + 200, bottom + 300, left + 600, bottom + 700], crs, False)
    array = geemap.ee_to_numpy(image, region=region, scale=10)
    assert array.shape == (40, 40, 2)
    rows = slice(int((top - (bottom + 700)) / 10), int((top - (bottom + 300)) / 10))
    cols = slice(20, 60)
    np.testing.assert_array_equal(array[..., 0], b4[rows, cols])
    np.testing.assert_array_equal(array[..., 1], b8[rows, cols])
