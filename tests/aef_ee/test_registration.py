"""Registration of embedding COGs as an ImageCollection on the local engine: idempotent, validated, bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from aef_ee.fields.register import cog_tags, inspect_cog, register_embeddings
from aef_ee.fields.collection import EMBEDDING_BANDS, open_embeddings
from aef_ee.errors import RegistrationError
from local_engine import running_engine

COLLECTION = "projects/local/assets/aef_embeddings"


def write_cog(path, *, count=64, dtype="int8", crs="EPSG:32631", tags=None, seed=0, names=EMBEDDING_BANDS):
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        data = rng.integers(-127, 128, (count, 24, 32)).astype(np.int8)
    else:
        data = rng.standard_normal((count, 24, 32)).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="COG", width=32, height=24, count=count, dtype=dtype, crs=crs,
                       transform=from_origin(664000, 5612000, 10, 10),
                       nodata=-128 if dtype == "int8" else None) as ds:
        ds.write(data)
        for i, name in enumerate(names[:count], start=1):
            ds.set_band_description(i, name)
        if tags is not None:
            ds.update_tags(**tags)
    return data


@pytest.fixture()
def engine(tmp_path):
    buckets = tmp_path / "buckets"
    with running_engine(tmp_path / "catalog", bucket_dir=str(buckets)) as server:
        yield server, buckets


def test_register_is_idempotent_and_bit_identical(engine):
    import ee

    server, buckets = engine
    arrays = {}
    uris = []
    for year in (2023, 2024):
        tags = cog_tags(year, "31N", model_version="tiny-test", software_version="aef-ee 0.1.0")
        arrays[year] = write_cog(buckets / "emb" / f"31N_664000_5612000_{year}.tif", tags=tags, seed=year)
        uris.append(f"gs://emb/31N_664000_5612000_{year}.tif")
    report = register_embeddings(COLLECTION, uris, bucket_dir=buckets, progress=False)
    assert report.collection_created
    assert report.created == ["31N_664000_5612000_2023", "31N_664000_5612000_2024"]
    again = register_embeddings(COLLECTION, uris, bucket_dir=buckets, progress=False)
    assert again.created == [] and again.skipped == report.created and not again.collection_created
    assert len(ee.data.listAssets({"parent": COLLECTION})["assets"]) == 2
    asset = ee.data.getAsset(f"{COLLECTION}/31N_664000_5612000_2024")
    assert asset["startTime"] == "2024-01-01T00:00:00.000Z"
    assert asset["endTime"] == "2025-01-01T00:00:00.000Z"
    assert asset["properties"]["MODEL_VERSION"] == "tiny-test"
    image = ee.Image(f"{COLLECTION}/31N_664000_5612000_2024")
    px = ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY"})
    assert px.dtype["A00"] == np.int8
    stacked = np.stack([px[b] for b in EMBEDDING_BANDS])
    # Bit-identical where valid; -128 is nodata (masked pixels come back as 0).
    valid = arrays[2024] != -128
    np.testing.assert_array_equal(stacked[valid], arrays[2024][valid])
    # The registered collection opens like Google's, de-quantised.
    emb = open_embeddings(2023, collection=COLLECTION)
    values = ee.data.computePixels({"expression": emb.select("A05"), "fileFormat": "NUMPY_NDARRAY"})["A05"]
    q = arrays[2023][5].astype(np.float64)
    expected = np.where(q == -128, 0, np.sign(q) * (q / 127.5) ** 2)
    np.testing.assert_allclose(values, expected, rtol=1e-6)


@pytest.mark.parametrize("kind, kwargs, message", [
    ("bands", {"count": 3}, "has 3 bands"),
    ("dtype", {"dtype": "float64"}, "pixel type"),
    ("crs", {"crs": "EPSG:4326"}, "is not a WGS 84 / UTM zone"),
    ("time", {"tags": {"UTM_ZONE": "31N"}}, "missing metadata tags"),
])
def test_bad_cogs_are_refused_and_nothing_is_created(engine, kind, kwargs, message):
    import ee

    server, buckets = engine
    good = cog_tags(2024, "31N", model_version="m", software_version="s")
    write_cog(buckets / "emb" / "good.tif", tags=good)
    kwargs.setdefault("tags", good)
    write_cog(buckets / "emb" / f"bad_{kind}.tif", **kwargs)
    with pytest.raises(RegistrationError, match=message):
        register_embeddings(COLLECTION, ["gs://emb/good.tif", f"gs://emb/bad_{kind}.tif"], bucket_dir=buckets,
                            progress=False)
    with pytest.raises(ee.EEException):
        ee.data.getAsset(COLLECTION)


def test_inspect_reads_tags(tmp_path):
    tags = cog_tags(2022, "33N", model_version="v", software_version="s")
    write_cog(tmp_path / "x.tif", tags=tags, crs="EPSG:32633")
    info = inspect_cog(str(tmp_path / "x.tif"))
    assert info.crs == "EPSG:32633" and info.dtype == "int8"
    assert info.start_ms == 1640995200000 and info.end_ms == 1672531200000
