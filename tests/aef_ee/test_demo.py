"""The main job (`aef-ee demo`) end to end on a copy of the demo catalog: every output it names is valid."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from PIL import Image

from aef_ee.cli.demo import COLLECTION, run_demo
from aef_ee.fields import EMBEDDING_BANDS
from aef_ee.paths import bucket_dir


@pytest.fixture(scope="module")
def demo_run(demo_catalog_dir, tmp_path_factory):
    catalog = tmp_path_factory.mktemp("demo") / "catalog"
    shutil.copytree(demo_catalog_dir, catalog)
    out = tmp_path_factory.mktemp("demo-out")
    results = run_demo(out, catalog=str(catalog), progress=False)
    return out, catalog, results


def test_outputs_exist_and_are_valid(demo_run):
    out, _, results = demo_run
    assert len(results["cogs"]) == 6
    for cog in results["cogs"]:
        with rasterio.open(cog) as ds:
            assert ds.count == 64 and ds.descriptions == tuple(EMBEDDING_BANDS) and ds.overviews(1) == []
    with rasterio.open(results["classified_cog"]) as ds:
        classes = ds.read(1)
        assert ds.crs.to_epsg() == 32631 and ds.res == (10.0, 10.0)
        assert set(np.unique(classes)) <= {0, 1} and 0.05 < classes.mean() < 0.95
    image = np.asarray(Image.open(results["map_png"]).convert("RGB"))
    assert image.shape[0] > 250 and image.shape[1] > 1000
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # four rendered panels, not a blank canvas
    assert "kNN accuracy" in (out / "map.html").read_text()
    assert 0.0 <= results["balanced_accuracy"] <= 1.0 and results["seconds"] < 600


def test_registered_embeddings_are_bit_identical_to_the_cogs(demo_run):
    import ee

    out, catalog, results = demo_run
    from aef_ee.backend import initialize

    initialize("local", catalog=str(catalog))
    for cog in results["cogs"][:2]:
        name = cog.rsplit("/", 1)[-1][:-4]
        px = ee.data.computePixels({"expression": ee.Image(f"{COLLECTION}/{name}"), "fileFormat": "NUMPY_NDARRAY"})
        with rasterio.open(cog) as ds:
            codes = ds.read()
        got = np.stack([px[b] for b in EMBEDDING_BANDS])
        valid = codes != -128
        np.testing.assert_array_equal(got[valid], codes[valid])
        assert (got[~valid] == 0).all()  # masked (nodata) pixels come back filled with 0


def test_rerun_is_a_no_op_for_registration_and_embedding(demo_run):
    out, catalog, _ = demo_run
    embeddings = bucket_dir() / "aef-demo" / "embeddings"  # the state folder's local Cloud Storage
    cogs = {p.name: p.stat().st_mtime_ns for p in embeddings.glob("*.tif")}
    assert len(cogs) == 6
    results = run_demo(out, catalog=str(catalog), progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in embeddings.glob("*.tif")} == cogs
    assert len(results["cogs"]) == 6
