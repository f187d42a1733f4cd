"""Asset management through ee.data: folders, collections, Cloud-GeoTIFF-backed images, updates, copy/move/delete,
ingestion manifests and Image.loadGeoTIFF."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rasterio
from local_engine import running_engine
from rasterio.transform import from_origin

CRS = "EPSG:32631"


def _write_cog(path, data, left=600000.0, top=5600000.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="COG", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype.name, crs=CRS, transform=from_origin(left, top, 10, 10)) as ds:
        ds.write(data)


@pytest.fixture()
def engine(tmp_path):
    import ee

    buckets = tmp_path / "buckets"
    rng = np.random.default_rng(3)
    arrays = {}
    for year in (2022, 2023):
        data = rng.integers(-127, 128, (4, 20, 30)).astype(np.int8)
        _write_cog(buckets / "emb" / f"tile_{year}.tif", data)
        arrays[year] = data
    with running_engine(tmp_path / "catalog", bucket_dir=str(buckets)) as server:
        yield ee, server, arrays


def test_collection_of_cloud_geotiffs(engine):
    ee, server, arrays = engine
    ee.data.createAsset({"type": "FOLDER"}, "projects/local/assets/aef")
    ee.data.createAsset({"type": "IMAGE_COLLECTION"}, "projects/local/assets/aef/embeddings")
    for year in (2022, 2023):
        ee.data.createAsset({"type": "IMAGE", "gcs_location": {"uris": [f"gs://emb/tile_{year}.tif"]},
                             "bands": [{"id": f"A{k:02d}"} for k in range(4)],
                             "startTime": f"{year}-01-01T00:00:00Z", "endTime": f"{year + 1}-01-01T00:00:00Z",
                             "properties": {"MODEL_VERSION": "test"}},
                            f"projects/local/assets/aef/embeddings/tile_{year}")
    asset = ee.data.getAsset("projects/local/assets/aef/embeddings/tile_2023")
    assert asset["type"] == "IMAGE"
    assert asset["startTime"] == "2023-01-01T00:00:00.000Z"
    assert [b["id"] for b in asset["bands"]] == ["A00", "A01", "A02", "A03"]
    listed = ee.data.listAssets({"parent": "projects/local/assets/aef/embeddings"})["assets"]
    assert [a["id"] for a in listed] == ["projects/local/assets/aef/embeddings/tile_2022",
                                         "projects/local/assets/aef/embeddings/tile_2023"]
    px = ee.data.computePixels({"expression": ee.Image("projects/local/assets/aef/embeddings/tile_2022"),
                                "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px["A02"], arrays[2022][2])
    collection = ee.ImageCollection("projects/local/assets/aef/embeddings")
    first = collection.filterDate("2023-01-01", "2024-01-01").first()
    px = ee.data.computePixels({"expression": first.select("A01"), "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px["A01"], arrays[2023][1])


def test_update_copy_move_delete(engine):
    ee, server, _ = engine
    ee.data.createAsset({"type": "IMAGE_COLLECTION"}, "projects/local/assets/c")
    ee.data.setAssetProperties("projects/local/assets/c", {"owner": "me", "n": 3})
    ee.data.updateAsset("projects/local/assets/c", {"startTime": "2020-01-01T00:00:00Z",
                                                    "properties": {"n": 4}}, ["start_time", "properties.n"])
    props = ee.data.getAsset("projects/local/assets/c")["properties"]
    assert props["owner"] == "me" and props["n"] == 4
    ee.data.copyAsset("projects/local/assets/c", "projects/local/assets/c2")
    ee.data.renameAsset("projects/local/assets/c2", "projects/local/assets/c3")
    ids = [a["id"] for a in ee.data.listAssets({"parent": "projects/local/assets"})["assets"]]
    assert "projects/local/assets/c3" in ids and "projects/local/assets/c2" not in ids
    ee.data.deleteAsset("projects/local/assets/c3")
    with pytest.raises(ee.EEException):
        ee.data.getAsset("projects/local/assets/c3")
    with pytest.raises(ee.EEException):
        ee.data.createAsset({"type": "FOLDER"}, "projects/local/assets/../../escape")


def test_ingestion_manifest_and_load_geotiff(engine):
    ee, server, arrays = engine
    request_id = ee.data.newTaskId()[0]
    ee.data.startIngestion(request_id, {
        "name": "projects/local/assets/ingested",
        "tilesets": [{"id": "t", "sources": [{"uris": ["gs://emb/tile_2022.tif"]}]}],
        "bands": [{"id": "first", "tilesetId": "t", "tilesetBandIndex": 0},
                  {"id": "last", "tilesetId": "t", "tilesetBandIndex": 3}],
        "startTime": "2022-01-01T00:00:00Z",
    })
    deadline = time.time() + 30
    while not ee.data.listAssets({"parent": "projects/local/assets"}).get("assets") and time.time() < deadline:
        time.sleep(0.1)
    image = ee.Image("projects/local/assets/ingested")
    assert image.bandNames().getInfo() == ["first", "last"]
    px = ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px["last"], arrays[2022][3])
    loaded = ee.Image.loadGeoTIFF("gs://emb/tile_2023.tif")
    px = ee.data.computePixels({"expression": loaded.select(0), "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px[px.dtype.names[0]], arrays[2023][0])
    with pytest.raises(ee.EEException, match="does not exist"):
        ee.Image.loadGeoTIFF("gs://emb/missing.tif").getInfo()


def test_external_ingestion_reads_in_place(engine):
    ee, server, arrays = engine
    result = ee.data.startExternalImageIngestion({
        "name": "projects/local/assets/external",
        "tilesets": [{"sources": [{"uris": ["gs://emb/tile_2023.tif"]}]}],
        "startTime": "2023-01-01T00:00:00Z",
    })
    assert result == {"name": "projects/local/assets/external"}
    asset = ee.data.getAsset("projects/local/assets/external")
    assert asset["cloudStorageLocation"] == {"uris": ["gs://emb/tile_2023.tif"]}
    px = ee.data.computePixels({"expression": ee.Image("projects/local/assets/external").select(2),
                                "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px[px.dtype.names[0]], arrays[2023][2])
    with pytest.raises(ee.EEException, match="Cannot overwrite"):
        ee.data.startExternalImageIngestion({"name": "projects/local/assets/external",
                                             "tilesets": [{"sources": [{"uris": ["gs://emb/tile_2022.tif"]}]}]})


def test_copy_asset_leaves_an_unrelated_asset_alone(engine, tmp_path):
    """Issue #16: copyAsset(a -> b) wrote b's copy of a.tif as b.a.tif, the data file of asset b.a (111 became 222)."""
    from aef_ee.local.catalog_add import add_to_catalog

    ee, server, _ = engine
    for leaf, value in (("b.a", 111), ("a", 222)):
        source = tmp_path / f"{leaf}.tif"
        _write_cog(source, np.full((1, 20, 30), value, np.uint8))
        add_to_catalog(server.catalog.root, f"projects/local/assets/{leaf}", source)
    ee.data.copyAsset("projects/local/assets/a", "projects/local/assets/b")
    for leaf, value in (("b.a", 111), ("a", 222), ("b", 222)):
        px = ee.data.computePixels({"expression": ee.Image(f"projects/local/assets/{leaf}"),
                                    "fileFormat": "NUMPY_NDARRAY"})
        assert (px["b1"] == value).all(), leaf
