"""Routes that evaluate expressions or render pixels run on the bounded compute pool (aef_ee.local.workers), not on
the connection's thread: asset ``getPixels`` and the start of image and table exports, like computePixels, tiles and
thumbnails. A full pool answers them 429 at once, which the ee client retries.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import threading
import time

import numpy as np
import pytest
import rasterio
from local_engine import running_engine
from rasterio.transform import from_origin

from aef_ee import ops
from aef_ee.local import workers
from aef_ee.local.api import assets, exports
from aef_ee.local.api.routes import load_routes, resolve, runs_on_workers
from aef_ee.local.catalog import Catalog
from aef_ee.local.limits import Limits

CRS = "EPSG:32631"
ASSET = "projects/local/assets/classes"
GETPIXELS_PATH = f"/v1/{ASSET}:getPixels"
# A 40 x 40 window of the asset, 10 px in from its top-left corner.
GRID = {"dimensions": {"width": 40, "height": 40}, "crsCode": CRS,
        "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": 600100,
                            "shearY": 0, "scaleY": -10, "translateY": 5599900}}


@pytest.fixture(scope="module")
def classes_catalog(tmp_path_factory):
    """A catalog with one 80 x 64 uint8 image (random classes 0..4) on a 10 m UTM grid."""
    root = tmp_path_factory.mktemp("catalog")
    catalog = Catalog(root)
    data = np.random.default_rng(7).integers(0, 5, (64, 80)).astype(np.uint8)
    path = root / "projects" / "local" / "assets" / "classes.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=80, height=64, count=1, dtype="uint8", crs=CRS,
                       transform=from_origin(600000, 5600000, 10, 10)) as ds:
        ds.write(data[None])
    catalog.write_image(ASSET, [{"id": "classification", "path": "classes.tif", "band": 1, "data_type": "uint8"}],
                        {"system:time_start": 1704067200000})
    return root, data


def _record_threads(monkeypatch, module, name: str) -> list[str]:
    """Wraps ``module.name`` so that each call records the name of the thread it runs on."""
    threads: list[str] = []
    original = getattr(module, name)

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return threads


def test_pixel_and_export_routes_are_registered_as_compute():
    load_routes()
    for method, path in [("POST", GETPIXELS_PATH),
                         ("POST", "/v1/projects/local/image:export"),
                         ("POST", "/v1/projects/local/table:export"),
                         ("POST", "/v1/projects/local/image:computePixels"),
                         ("POST", "/v1/projects/local/thumbnails"),
                         ("GET", "/v1/projects/local/thumbnails/abc:getPixels")]:
        assert runs_on_workers(resolve(method, path)[0]), (method, path)
    # Metadata and long polls stay on the connection's thread (they must not take a worker from computations).
    for method, path in [("GET", f"/v1/{ASSET}"), ("GET", "/v1/projects/local/operations/x")]:
        assert not runs_on_workers(resolve(method, path)[0]), (method, path)


def test_get_pixels_runs_on_a_compute_worker(classes_catalog, monkeypatch):
    import ee

    root, data = classes_catalog
    threads = _record_threads(monkeypatch, assets, "render_pixels")
    with running_engine(root) as server:
        before = server.workers.stats().completed
        pixels = ee.data.getPixels({"assetId": ASSET, "fileFormat": "NUMPY_NDARRAY", "grid": GRID})
        np.testing.assert_array_equal(pixels["classification"], data[10:50, 10:50])
        assert server.workers.stats().completed == before + 1
    assert len(threads) == 1 and threads[0].startswith(workers.THREAD_PREFIX), threads


def test_export_starts_run_on_a_compute_worker(classes_catalog, tmp_path, monkeypatch):
    import ee
    import pandas as pd

    root, data = classes_catalog
    image_threads = _record_threads(monkeypatch, exports, "check_max_pixels")
    start_threads = _record_threads(monkeypatch, exports, "evaluate_request")
    with running_engine(root, drive_dir=str(tmp_path / "drive")) as server:
        before = server.workers.stats().completed
        region = ee.Geometry.Rectangle([600100, 5599500, 600500, 5599900], CRS, False)
        image_task = ee.batch.Export.image.toDrive(ee.Image(ASSET), description="classes", fileNamePrefix="classes",
                                                   region=region, scale=10, crs=CRS)
        image_task.start()
        table = ee.FeatureCollection([ee.Feature(None, {"n": 3}), ee.Feature(None, {"n": 4})])
        table_task = ee.batch.Export.table.toDrive(table, description="table", fileNamePrefix="table",
                                                   selectors=["n"])
        table_task.start()
        assert server.workers.stats().completed - before >= 2
        assert ops.wait(image_task, timeout=60, progress=False)["state"] == "COMPLETED"
        assert ops.wait(table_task, timeout=60, progress=False)["state"] == "COMPLETED"
    with rasterio.open(tmp_path / "drive" / "classes.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), data[10:50, 10:50])
    assert pd.read_csv(tmp_path / "drive" / "table.csv")["n"].tolist() == [3, 4]
    assert len(image_threads) == 1 and len(start_threads) == 2
    assert all(name.startswith(workers.THREAD_PREFIX) for name in image_threads + start_threads), (
        image_threads, start_threads)


def _post(server, path: str, body: dict, *, timeout: float = 30) -> tuple[int, dict, float]:
    """(status, JSON answer, seconds) of a raw POST carrying the token."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("POST", path, body=json.dumps(body).encode(), headers={
            "Authorization": f"Bearer {server.token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), time.monotonic() - started
    finally:
        connection.close()


def test_a_full_pool_answers_429_to_get_pixels_and_export_starts(classes_catalog, tmp_path):
    import ee

    root, data = classes_catalog
    # (a|a)+$ on forty a's backtracks for ever: it holds the only worker until its regex timeout.
    slow = ee.String("a" * 40 + "!").match("(a|a)+$")
    limits = Limits(workers=1, queue=0, regex_timeout_s=3.0)
    with running_engine(root, drive_dir=str(tmp_path / "drive"), server_options={"limits": limits}) as server:
        hold = {"expression": ee.serializer.encode(slow, for_cloud_api=True)}
        export_body = {"expression": ee.serializer.encode(ee.Image(ASSET), for_cloud_api=True),
                       "description": "refused", "grid": GRID,
                       "fileExportOptions": {"fileFormat": "GEO_TIFF", "driveDestination": {"filenamePrefix": "x"}}}
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            holding = pool.submit(_post, server, "/v1/projects/local/value:compute", hold)
            deadline = time.monotonic() + 10
            while server.workers.stats().running < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            rejected = server.workers.stats().rejected
            for path, body in [(GETPIXELS_PATH, {"fileFormat": "NPY", "grid": GRID}),
                               ("/v1/projects/local/image:export", export_body),
                               ("/v1/projects/local/table:export", {"expression": hold["expression"]})]:
                status, answer, seconds = _post(server, path, body)
                assert (status, answer["error"]) == (429, {
                    "code": 429, "message": "Too many concurrent requests.", "status": "RESOURCE_EXHAUSTED"}), path
                assert seconds < 0.5, (path, seconds)
            assert server.workers.stats().rejected == rejected + 3
            # The ee client retries the 429 with back-off until the worker is free, and gets the pixels.
            transport = ee.data._get_state().http_transport
            retried = transport.retried
            pixels = ee.data.getPixels({"assetId": ASSET, "fileFormat": "NUMPY_NDARRAY", "grid": GRID})
            np.testing.assert_array_equal(pixels["classification"], data[10:50, 10:50])
            assert transport.retried > retried
            status, answer, _ = holding.result(timeout=30)
            assert status == 400 and "Computation timed out." in answer["error"]["message"]
    assert not (tmp_path / "drive" / "x.tif").exists()  # the refused export never started
