"""Batch exports as long-running operations: Drive, Cloud Storage (a real emulator), assets; cancel; limits."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import rasterio
from local_engine import running_engine
from rasterio.transform import from_origin

from aef_ee.local.catalog import Catalog

CRS = "EPSG:32631"


@pytest.fixture(scope="module")
def export_catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    catalog = Catalog(root)
    catalog.create_container("projects/local/assets", "FOLDER", make_parents=True) \
        if not catalog.exists("projects/local/assets") else None
    rng = np.random.default_rng(1)
    data = rng.integers(0, 5, (1, 64, 80)).astype(np.uint8)
    path = root / "projects" / "local" / "assets" / "classes.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=80, height=64, count=1, dtype="uint8", crs=CRS,
                       transform=from_origin(600000, 5600000, 10, 10)) as ds:
        ds.write(data)
    catalog.write_image("projects/local/assets/classes",
                        [{"id": "classification", "path": "classes.tif", "band": 1, "data_type": "uint8"}],
                        {"system:time_start": 1704067200000})
    return root, data[0]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """A Cloud Storage emulator from PyPI (gcp-storage-emulator) on a free loopback port."""
    pytest.importorskip("gcp_storage_emulator")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                             "--port", str(port), "--in-memory", "--default-bucket", "exports"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture()
def engine(export_catalog, tmp_path):
    import ee

    with running_engine(export_catalog[0], drive_dir=str(tmp_path / "drive"),
                        bucket_dir=str(tmp_path / "buckets")) as server:
        yield ee, server, tmp_path


def _wait(task, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = task.status()
        if status["state"] in ("COMPLETED", "FAILED", "CANCELLED", "SUCCEEDED"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"task did not finish: {task.status()}")


def test_image_to_drive_writes_a_cog(engine, export_catalog):
    ee, server, tmp = engine
    _, classes = export_catalog
    image = ee.Image("projects/local/assets/classification" if False else "projects/local/assets/classes")
    region = ee.Geometry.Rectangle([600100, 5599500, 600500, 5599900], CRS, False)
    task = ee.batch.Export.image.toDrive(image, description="classes", folder="aef", fileNamePrefix="classes_2024",
                                         region=region, scale=10, crs=CRS, maxPixels=1e9,
                                         formatOptions={"cloudOptimized": True})
    task.start()
    status = _wait(task)
    assert status["state"] == "COMPLETED", status
    path = tmp / "drive" / "aef" / "classes_2024.tif"
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32631
        assert tuple(ds.transform)[:6] == (10.0, 0.0, 600100.0, 0.0, -10.0, 5599900.0)
        assert (ds.width, ds.height) == (40, 40)
        assert ds.overviews(1) or ds.width < 512  # COG layout (small rasters need no overviews)
        np.testing.assert_array_equal(ds.read(1), classes[10:50, 10:50])
    assert any(t.status()["description"] == "classes" for t in ee.batch.Task.list())


def test_table_exports_csv_and_geojson(engine):
    ee, server, tmp = engine
    fc = ee.FeatureCollection([ee.Feature(ee.Geometry.Point([5.0, 50.0]), {"label": "crop", "n": 3}),
                               ee.Feature(ee.Geometry.Point([5.1, 50.1]), {"label": "tree", "n": 4})])
    t1 = ee.batch.Export.table.toDrive(fc, description="t_csv", fileNamePrefix="points", fileFormat="CSV")
    t2 = ee.batch.Export.table.toDrive(fc, description="t_json", fileNamePrefix="points", fileFormat="GeoJSON")
    t1.start()
    t2.start()
    assert _wait(t1)["state"] == "COMPLETED"
    assert _wait(t2)["state"] == "COMPLETED"
    import pandas as pd

    table = pd.read_csv(tmp / "drive" / "points.csv")
    assert list(table.columns) == ["system:index", "label", "n", ".geo"]
    assert table["label"].tolist() == ["crop", "tree"]
    assert json.loads(table[".geo"][1])["coordinates"] == [5.1, 50.1]
    geo = json.loads((tmp / "drive" / "points.geojson").read_text())
    assert [f["properties"]["n"] for f in geo["features"]] == [3, 4]


def test_to_cloud_storage_lands_in_the_emulator(engine, emulator, monkeypatch):
    ee, server, tmp = engine
    server.settings["gcs_endpoint"] = emulator
    image = ee.Image("projects/local/assets/classes")
    region = ee.Geometry.Rectangle([600000, 5599800, 600200, 5600000], CRS, False)
    task = ee.batch.Export.image.toCloudStorage(image, description="gcs", bucket="exports",
                                                fileNamePrefix="runs/classes", region=region, scale=10, crs=CRS)
    task.start()
    assert _wait(task)["state"] == "COMPLETED"
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="local", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": emulator})
    blob = client.bucket("exports").blob("runs/classes.tif")
    data = blob.download_as_bytes()
    path = tmp / "from_gcs.tif"
    path.write_bytes(data)
    with rasterio.open(path) as ds:
        assert (ds.width, ds.height) == (20, 20)


def test_max_pixels_is_refused_with_earth_engines_message(engine):
    ee, _, _ = engine
    image = ee.Image("projects/local/assets/classes")
    region = ee.Geometry.Rectangle([600000, 5599360, 600800, 5600000], CRS, False)
    task = ee.batch.Export.image.toDrive(image, description="big", region=region, scale=10, crs=CRS, maxPixels=100)
    with pytest.raises(ee.EEException, match=r"^Export too large: specified 5120 pixels \(max: 100\)\. Specify "
                                             r"higher maxPixels value if you intend to export a large area\.$"):
        task.start()


def test_cancelled_export_leaves_nothing(engine):
    ee, server, tmp = engine
    # A slow export: a large grid of a cheap constant image, cancelled as soon as it is RUNNING or PENDING.
    image = ee.Image.constant(1).toFloat()
    region = ee.Geometry.Rectangle([600000, 5500000, 640000, 5540000], CRS, False)
    task = ee.batch.Export.image.toDrive(image, description="cancel-me", fileNamePrefix="cancelled",
                                         region=region, scale=10, crs=CRS, maxPixels=1e10)
    task.start()
    task.cancel()
    status = _wait(task)
    assert status["state"] == "CANCELLED"
    drive = tmp / "drive"
    leftovers = list(drive.rglob("*")) if drive.exists() else []
    assert [p for p in leftovers if p.is_file()] == []


def test_export_to_asset_then_use_it(engine, export_catalog):
    ee, server, tmp = engine
    _, classes = export_catalog
    image = ee.Image("projects/local/assets/classes").add(1).toUint8()
    region = ee.Geometry.Rectangle([600000, 5599800, 600300, 5600000], CRS, False)
    task = ee.batch.Export.image.toAsset(image, description="to-asset", assetId="projects/local/assets/plus_one",
                                         region=region, scale=10, crs=CRS)
    task.start()
    assert _wait(task)["state"] == "COMPLETED"
    px = ee.data.computePixels({"expression": ee.Image("projects/local/assets/plus_one"),
                                "fileFormat": "NUMPY_NDARRAY"})
    np.testing.assert_array_equal(px["classification"], classes[:20, :30] + 1)


def test_max_pixels_message_is_earth_engines():
    from aef_ee.local.errors import ResourceExhausted
    from aef_ee.local.export_writers import check_max_pixels
    from aef_ee.local.projection import Grid, Projection

    grid = Grid(Projection(CRS, (10.0, 0.0, 600000.0, 0.0, -10.0, 5600000.0)), 80, 64)
    check_max_pixels(grid, {"maxPixels": {"value": "5120"}})
    with pytest.raises(ResourceExhausted) as raised:
        check_max_pixels(grid, {"maxPixels": 100})
    # Earth Engine's task error, e.g. "Export too large: specified 8030040147504 pixels (max: 100000000). ..."
    assert str(raised.value) == ("Export too large: specified 5120 pixels (max: 100). Specify higher maxPixels "
                                 "value if you intend to export a large area.")


def test_masked_export_keeps_its_mask_and_has_overviews(engine):
    ee, server, tmp = engine
    inside = ee.Geometry.Rectangle([600000, 5593000, 606000, 5600000], CRS, False)
    image = ee.Image.constant(7).toUint8().clip(inside)
    region = ee.Geometry.Rectangle([600000, 5590000, 612000, 5600000], CRS, False)  # 1200 x 1000 px
    task = ee.batch.Export.image.toDrive(image, description="masked", fileNamePrefix="masked", region=region,
                                         scale=10, crs=CRS, formatOptions={"cloudOptimized": True})
    task.start()
    assert _wait(task)["state"] == "COMPLETED"
    with rasterio.open(tmp / "drive" / "masked.tif") as ds:
        assert (ds.width, ds.height) == (1200, 1000)
        assert ds.overviews(1) == [2, 4]  # halved until it fits one 512 px tile, as in GDAL
        values, mask = ds.read(1), ds.read_masks(1)
    expected = np.zeros((1000, 1200), bool)
    expected[:700, :600] = True
    np.testing.assert_array_equal(mask > 0, expected)
    np.testing.assert_array_equal(values, np.where(expected, 7, 0))


def test_export_to_asset_overwrites_in_its_own_data_folder(engine):
    ee, server, tmp = engine
    region = ee.Geometry.Rectangle([600000, 5599800, 600300, 5600000], CRS, False)
    asset = "projects/local/assets/overwritten"
    versions = []
    for value in (4, 5):
        task = ee.batch.Export.image.toAsset(ee.Image.constant(value).toUint8(), description=f"v{value}",
                                             assetId=asset, region=region, scale=10, crs=CRS, overwrite=True)
        task.start()
        assert _wait(task)["state"] == "COMPLETED"
        px = ee.data.computePixels({"expression": ee.Image(asset), "fileFormat": "NUMPY_NDARRAY"})
        assert (px["constant"] == value).all()
        record = server.catalog.get(asset)
        assert record.manifest["bands"][0]["path"].startswith(f"_data/{record.manifest['version']}/")
        versions.append(record.manifest["version"])
    data = server.catalog.root / "projects" / "local" / "assets" / "_data"
    assert versions[0] not in [p.name for p in data.iterdir()]  # the replaced version's file went with it
    refused = ee.batch.Export.image.toAsset(ee.Image.constant(6).toUint8(), description="no-overwrite",
                                            assetId=asset, region=region, scale=10, crs=CRS)
    refused.start()
    status = _wait(refused)
    assert status["state"] == "FAILED" and "Cannot overwrite" in status["error_message"]


def test_operations_outlive_the_server(export_catalog, tmp_path):
    import ee

    region = ee.Geometry.Rectangle([600000, 5599800, 600300, 5600000], CRS, False)
    with running_engine(export_catalog[0], drive_dir=str(tmp_path / "drive")):
        task = ee.batch.Export.image.toDrive(ee.Image.constant(1).toUint8(), description="remembered",
                                             fileNamePrefix="remembered", region=region, scale=10, crs=CRS)
        task.start()
        assert _wait(task)["state"] == "COMPLETED"
    with running_engine(export_catalog[0], drive_dir=str(tmp_path / "drive")):
        operation = ee.data.getOperation(task.operation_name)
        assert operation["metadata"]["state"] == "SUCCEEDED" and operation["done"]
        assert task.operation_name in [op["name"] for op in ee.data.listOperations()]
