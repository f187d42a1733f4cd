"""What ``LocalServer`` checks and cleans when it is constructed: the algorithm registry (a broken one stops the
start with EngineStartupError) and the debris of Cloud Storage downloads a killed server left in ``.gcs-cache``."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import numpy as np
import pytest
import rasterio
from local_engine import running_engine
from rasterio.transform import from_origin

from aef_ee.local import ingest
from aef_ee.local.algorithms import registry
from aef_ee.local.errors import EngineStartupError
from aef_ee.local.server import LocalServer


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_algorithm_family_stops_the_server(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, "no_such_family"))
    monkeypatch.setattr(registry, "_loaded", False)
    port = _free_port()
    with pytest.raises(EngineStartupError, match=r"'aef_ee\.local\.algorithms\.no_such_family'") as info:
        LocalServer(tmp_path, port=port)
    assert info.value.name == "aef_ee.local.algorithms.no_such_family"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert _port_is_free(port)  # refused before anything listened


def test_an_alias_of_an_unregistered_algorithm_stops_the_server(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "ALIASES", {**registry.ALIASES, "Image.no_such_alias": "Image.noSuchAlgorithm"})
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(EngineStartupError, match="'Image.no_such_alias' names 'Image.noSuchAlgorithm'"):
        LocalServer(tmp_path)


def test_a_valid_registry_starts_and_answers(tmp_path, monkeypatch):
    import ee

    monkeypatch.setattr(registry, "_loaded", False)  # validated again by this construction
    with running_engine(tmp_path):
        assert ee.Number(40).add(2).getInfo() == 42
    assert registry._loaded


def test_stale_gcs_download_temporaries_are_removed_at_start(tmp_path):
    """A download killed half-way leaves ``.tmp-<name>-<random>.tif`` next to where the object goes; the next start
    removes it, keeps finished objects (served from the cache without Cloud Storage) and newer temporaries."""
    import ee

    catalog = tmp_path / "catalog"
    uri = "gs://bucket/scenes/scene.tif"
    folder = catalog / ingest.GCS_CACHE_DIR / hashlib.sha1(uri.encode()).hexdigest()[:16]
    folder.mkdir(parents=True)
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    with rasterio.open(folder / "scene.tif", "w", driver="GTiff", width=4, height=3, count=1, dtype="int16",
                       crs="EPSG:32631", transform=from_origin(600000, 5600000, 10, 10)) as ds:
        ds.write(data[None])
    stale = folder / ".tmp-scene-0a1b2c3d.tif"
    stale.write_bytes(b"II*\x00 half a GeoTIFF")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    # A temporary of another object whose download was killed too; its folder holds nothing else.
    lonely = catalog / ingest.GCS_CACHE_DIR / "0123456789abcdef" / ".tmp-other-00000000.tif"
    lonely.parent.mkdir()
    lonely.write_bytes(b"partial")
    os.utime(lonely, (hour_ago, hour_ago))
    # One being written by a live server (newer than this process's start) is left alone.
    live = folder / ".tmp-scene-ffffffff.tif"
    live.write_bytes(b"still downloading")
    with running_engine(catalog, bucket_dir=str(tmp_path / "buckets"), gcs_endpoint="http://127.0.0.1:9"):
        assert not stale.exists() and not lonely.exists() and not lonely.parent.exists()
        assert live.exists()
        # The finished object is read from the cache (the endpoint is unreachable), values intact.
        image = ee.Image.loadGeoTIFF(uri).rename("v")
        values = image.sampleRectangle(ee.Geometry.Rectangle([600000, 5599970, 600040, 5600000], "EPSG:32631",
                                                             False)).get("v").getInfo()
        np.testing.assert_array_equal(values, data)
