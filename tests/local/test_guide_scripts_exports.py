"""Exports and pixel grids from Earth Engine's guides ("Exporting Data": ``Export.image.toDrive`` with ``crs``,
``scale`` and ``region``): the output grid is the CRS's pixel lattice at that scale (origin at multiples of the scale),
not a grid starting at the region's corner; its pixels equal the source sampled at their centres. Run unchanged
through the ``ee`` client on the demo catalog."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pytest
import rasterio

S2 = "COPERNICUS/S2_SR_HARMONIZED"
MONTH = "20210601"


def _wait(task, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = task.status()
        if status["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"task did not finish: {task.status()}")


def _exported(status: dict) -> Path:
    assert status["state"] == "COMPLETED", status
    return Path(url2pathname(urlparse(status["destination_uris"][0]).path))


@pytest.fixture(scope="module")
def source(demo_catalog_dir: Path) -> tuple[np.ndarray, rasterio.Affine, str]:
    with rasterio.open(demo_catalog_dir / S2 / f"{MONTH}_BE.tif") as ds:
        return ds.read(3), ds.transform, ds.crs.to_string()  # B4


def test_export_with_crs_and_scale_snaps_to_the_crs_grid(ee_local, source):
    ee = ee_local
    b4, t, crs = source
    # A region whose corner is not on any 20 m line of the CRS: x0 = t.c + 137, y0 = t.f - 63.
    x0, y0 = t.c + 137, t.f - 63
    region = ee.Geometry.Rectangle([x0, y0 - 500, x0 + 610, y0], crs, False)
    task = ee.batch.Export.image.toDrive(image=ee.Image(f"{S2}/{MONTH}_BE").select("B4"),
                                         description="snapped", fileNamePrefix="snapped", crs=crs, scale=20,
                                         region=region)
    task.start()
    path = _exported(_wait(task))
    with rasterio.open(path) as ds:
        got, tr = ds.read(1), ds.transform
        assert ds.crs.to_string() == crs
    assert (tr.a, tr.e) == (20, -20)
    assert tr.c % 20 == 0 and tr.f % 20 == 0  # on the CRS's 20 m lattice
    assert tr.c <= x0 < tr.c + 20 and tr.f - 20 < y0 <= tr.f  # the lattice pixel holding the region's corner
    assert tr.c + 20 * ds.width >= x0 + 610 and tr.f - 20 * ds.height <= y0 - 500
    # Each exported pixel is the source pixel under its centre (nearest neighbour), where the centre is inside the
    # region (the export is clipped to it).
    rows, cols = np.mgrid[0:ds.height, 0:ds.width]
    cx, cy = tr.c + 20 * (cols + 0.5), tr.f - 20 * (rows + 0.5)
    inside = (cx >= x0) & (cx <= x0 + 610) & (cy <= y0) & (cy >= y0 - 500)
    src_c, src_r = np.floor((cx - t.c) / 10).astype(int), np.floor((t.f - cy) / 10).astype(int)
    np.testing.assert_array_equal(got[inside], b4[src_r[inside], src_c[inside]])


def test_export_in_another_crs_snaps_to_multiples_of_the_scale(ee_local, source):
    ee = ee_local
    _, t, crs = source
    region = ee.Image(f"{S2}/{MONTH}_BE").geometry()
    task = ee.batch.Export.image.toDrive(image=ee.Image(f"{S2}/{MONTH}_BE").select("B4"),
                                         description="mercator", fileNamePrefix="mercator", crs="EPSG:3857",
                                         scale=30, region=region)
    task.start()
    with rasterio.open(_exported(_wait(task))) as ds:
        tr = ds.transform
        assert ds.crs.to_epsg() == 3857 and (tr.a, tr.e) == (30, -30)
        assert tr.c % 30 == pytest.approx(0, abs=1e-6) and tr.f % 30 == pytest.approx(0, abs=1e-6)


def test_compute_pixels_in_another_crs_without_a_transform_is_snapped(ee_local, source):
    ee = ee_local
    _, t, crs = source
    # A grid giving only the CRS: the image's own extent and pixel size (10 m), on EPSG:3857's 10 m lattice.
    got = ee.data.computePixels({"expression": ee.Image(f"{S2}/{MONTH}_BE").select("B4"),
                                 "fileFormat": "GEO_TIFF", "grid": {"crsCode": "EPSG:3857"}})
    with rasterio.MemoryFile(got) as memory, memory.open() as ds:
        tr = ds.transform
        assert ds.crs.to_epsg() == 3857 and (tr.a, tr.e) == (10, -10)
        assert tr.c % 10 == pytest.approx(0, abs=1e-6) and tr.f % 10 == pytest.approx(0, abs=1e-6)
        assert ds.read(1).max() > 0
