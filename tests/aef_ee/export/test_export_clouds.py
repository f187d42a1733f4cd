"""Cloud and nodata masks through the local engine on real data: eo-learn's Slovenia NDVI series with its cloud mask.

A user collection is built from ``data/eolearn_slovenia`` (68 real Sentinel-2 acquisitions: NDVI, the s2cloudless
cloud mask CLM, and IS_VALID = data and not cloud) and declared as a source whose quality rule masks CLM == 1;
pixels without data (neither IS_VALID nor cloudy) are the NDVI band's nodata. The exported masks must mark exactly
the cloudy and the no-data pixels.

The patch's pixels are 9.995 m x 9.997 m; the fixture labels them 10 m on a 10 m-aligned origin so that sites on
the 10 m UTM grid read them one to one (a 0.05 % stretch, irrelevant to masking).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from local_engine import running_engine
from rasterio.transform import from_origin

from aef_ee.videos.export import ExportRequest, export_interactive
from aef_ee.videos.export.files import CatalogFilesBackend
from aef_ee.local.catalog import Catalog
from aef_ee.local.catalog_add import write_geotiff
from aef_ee.videos.sites import Site, year_period
from aef_ee.videos.sources import Band, Source, ValueSetQuality, register_source
from aef_ee.videos.format import VideoDataset

PATCH = Path(__file__).resolve().parents[3] / "data/eolearn_slovenia/TestEOPatch"
COLLECTION = "projects/local/assets/eolearn_ndvi"
LEFT, TOP = 465180.0, 5080260.0  # the patch's corner (465181.05, 5080254.63) moved to the 10 m grid
NODATA = -9999.0


@pytest.fixture(scope="module")
def cloud_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("clouds")
    catalog = Catalog(root)
    catalog.create_container(COLLECTION, "IMAGE_COLLECTION", make_parents=True)
    ndvi = np.load(PATCH / "data/NDVI.npy")[..., 0]
    clm = np.load(PATCH / "mask/CLM.npy")[..., 0]
    # IS_VALID is "data and no cloud"; the data mask is IS_VALID or cloudy.
    valid = np.load(PATCH / "mask/IS_VALID.npy")[..., 0] | (clm == 1)
    times = [dt.datetime.fromisoformat(t).replace(tzinfo=dt.timezone.utc)
             for t in json.loads((PATCH / "timestamps.json").read_text())]
    transform = from_origin(LEFT, TOP, 10.0, 10.0)
    folder = catalog.base_path(COLLECTION)
    arrays = {}
    for k, moment in enumerate(times):
        if moment.year != 2016:
            continue
        image_id = f"{moment:%Y%m%dT%H%M%S}"
        write_geotiff(folder / f"{image_id}.tif", np.stack([np.where(valid[k], ndvi[k], NODATA), clm[k]
                                                            .astype(np.float32)]).astype(np.float32),
                      transform=transform, crs="EPSG:32633", descriptions=["NDVI", "CLM"])
        catalog.write_image(f"{COLLECTION}/{image_id}", [
            {"id": "NDVI", "path": f"{image_id}.tif", "band": 1, "data_type": "float32", "nodata": NODATA},
            {"id": "CLM", "path": f"{image_id}.tif", "band": 2, "data_type": "float32", "nodata": None},
        ], {"system:time_start": int(moment.timestamp() * 1000)})
        arrays[int(moment.timestamp() * 1000)] = (ndvi[k], clm[k], valid[k])
    return root, arrays


@pytest.fixture(scope="module")
def ndvi_source():  # type: ignore[no-untyped-def]
    from aef_ee.videos import sources

    src = register_source(Source(name="test_eolearn_ndvi", collections=(COLLECTION,), bands=(Band("NDVI"),),
                                 resolution_m=10.0, quality=ValueSetQuality("CLM", (1,))), replace=True)
    yield src
    sources._REGISTRY.pop("test_eolearn_ndvi", None)


def test_masks_mark_exactly_clouds_and_nodata(cloud_catalog, ndvi_source, tmp_path: Path) -> None:
    root, arrays = cloud_catalog
    # Its own engine on this catalog, stopped at the end; the session's demo-catalog engine is left alone.
    with running_engine(root):
        _check(root, arrays, tmp_path)


def _check(root: Path, arrays: dict, tmp_path: Path) -> None:
    # Four 32 px sites inside the 100 x 101 px patch, on the 10 m UTM grid.
    sites = [Site(32633, x, y, 32, 10.0, year_period(2016)) for x in (465280.0, 465600.0) for y in (5079920.0,
                                                                                                    5080240.0)]
    request = ExportRequest(sources=("test_eolearn_ndvi",))
    result = export_interactive(sites, request, tmp_path / "ee", progress=False)
    assert result.sites_written == len(sites)
    checked = clouds = 0
    for video in VideoDataset(tmp_path / "ee"):
        site = next(s for s in sites if s.site_id == video.site_id)
        r0, c0 = int((TOP - site.y0) / 10), int((site.x0 - LEFT) / 10)
        window = np.s_[r0:r0 + 32, c0:c0 + 32]
        src = video.sources["test_eolearn_ndvi"]
        kept = []
        for t, (ndvi, clm, valid) in sorted(arrays.items()):
            expected = valid[window] & (clm[window] == 0)
            if not expected.any():
                continue  # a frame without a clear valid pixel is dropped
            kept.append(t)
            k = list(src.timestamps_ms).index(t)
            np.testing.assert_array_equal(src.mask[k], expected)
            np.testing.assert_allclose(src.frames[k, ..., 0][expected], ndvi[window][expected], rtol=1e-6)
            assert np.all(src.frames[k][~expected] == 0)
            checked += 1
            clouds += int((valid[window] & (clm[window] == 1)).sum())
        assert list(src.timestamps_ms) == kept
    assert checked > 20 and clouds > 1000  # real clouds were masked
    # The numpy reference (files) agrees.
    export_interactive(sites, request, tmp_path / "np", backend=CatalogFilesBackend(root), progress=False)
    for a, b in zip(sorted(VideoDataset(tmp_path / "ee"), key=lambda v: v.site_id),
                    sorted(VideoDataset(tmp_path / "np"), key=lambda v: v.site_id)):
        np.testing.assert_array_equal(a.sources["test_eolearn_ndvi"].mask, b.sources["test_eolearn_ndvi"].mask)
        np.testing.assert_array_equal(a.sources["test_eolearn_ndvi"].frames, b.sources["test_eolearn_ndvi"].frames)
