"""The sample embedding collection of the notebooks: real AlphaEarth vectors, registered through the ``ee`` client,
read back bit-identical, idempotent, and the same field as the workflow tests' fixture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from embedding_field import build_embedding_field
from local_engine import running_engine

from aef_ee.demo.sample_embeddings import (
    SAMPLE_CLASSES,
    SAMPLE_CRS,
    SAMPLE_ORIGIN,
    SAMPLE_SIZE,
    build_sample_embedding_collection,
    sample_classes,
    sample_embedding_field,
)
from aef_ee.fields.collection import EMBEDDING_BANDS, open_embeddings, quantize_array
from aef_ee.errors import AefValueError
from aef_ee.paths import data_dir

COLLECTION = "projects/local/assets/sample_embeddings"


@pytest.fixture()
def engine(tmp_path):
    with running_engine(tmp_path / "catalog", image_dirs=[str(tmp_path)]) as server:  # the COGs it registers
        yield server


def test_every_pixel_is_a_real_vector_of_its_quadrant_class() -> None:
    fields = sample_embedding_field()
    table = pd.read_csv(data_dir() / "alphaearth_samples" / "alphaearth_s1_dw_samples_iowa_ag_2024.csv")
    for year, field in fields.items():
        assert field.shape == (SAMPLE_SIZE, SAMPLE_SIZE, 64)
        classes = sample_classes(year)
        for cls in np.unique(classes):
            source = table.loc[table.dw_label == cls, EMBEDDING_BANDS].to_numpy(np.float64)
            pixels = field[classes == cls]
            # Each pixel equals one row of the source table of its class.
            matches = (np.abs(pixels[:, None, :] - source[None, :, :]).max(axis=-1) == 0).any(axis=1)
            assert matches.all(), (year, cls)
    assert sample_classes(2023)[0, 0] == SAMPLE_CLASSES["nw"] == 0
    assert sample_classes(2024)[0, 0] == 6 and sample_classes(2024)[-1, -1] == SAMPLE_CLASSES["se"]
    np.testing.assert_array_equal(fields[2023][20:, :], fields[2024][20:, :])  # only the north-west changes


def test_same_field_as_the_workflow_fixture(tmp_path) -> None:
    fixture = build_embedding_field(tmp_path / "fixture", serve=False)
    fields = sample_embedding_field()
    for year in (2023, 2024):
        np.testing.assert_array_equal(fields[year], fixture.values[year])
        np.testing.assert_array_equal(sample_classes(year), fixture.classes[year])


def test_bad_arguments() -> None:
    with pytest.raises(AefValueError, match="at least one year"):
        sample_embedding_field(())
    with pytest.raises(AefValueError, match="size >= 2"):
        sample_embedding_field(size=1)


def test_registered_collection_reads_back_the_codes_and_rebuilding_changes_nothing(engine, tmp_path) -> None:
    import ee

    cog_dir = tmp_path / "cogs"
    ids = build_sample_embedding_collection(cog_dir)
    assert ids == [f"{COLLECTION}/sample_2023", f"{COLLECTION}/sample_2024"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in cog_dir.glob("*.tif")}
    assert build_sample_embedding_collection(cog_dir) == ids
    assert {p.name: p.stat().st_mtime_ns for p in cog_dir.glob("*.tif")} == mtimes
    assert len(ee.data.listAssets({"parent": COLLECTION})["assets"]) == 2

    fields = sample_embedding_field()
    left, top = SAMPLE_ORIGIN
    grid = {"crsCode": SAMPLE_CRS, "dimensions": {"width": SAMPLE_SIZE, "height": SAMPLE_SIZE},
            "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": left,
                                "shearY": 0, "scaleY": -10, "translateY": top}}
    asset = ee.data.getAsset(ids[1])
    assert asset["startTime"] == "2024-01-01T00:00:00.000Z" and asset["properties"]["UTM_ZONE"] == "15N"
    px = ee.data.computePixels({"expression": ee.Image(ids[1]), "grid": grid, "fileFormat": "NUMPY_NDARRAY"})
    codes = np.stack([px[b] for b in EMBEDDING_BANDS], axis=-1)
    np.testing.assert_array_equal(codes, quantize_array(fields[2024]))

    embeddings = open_embeddings(2023, collection=COLLECTION)
    a07 = ee.data.computePixels({"expression": embeddings.select("A07"), "grid": grid,
                                 "fileFormat": "NUMPY_NDARRAY"})["A07"]
    q = quantize_array(fields[2023])[..., 7].astype(np.float64)
    np.testing.assert_allclose(a07, np.sign(q) * (q / 127.5) ** 2, rtol=1e-6)
