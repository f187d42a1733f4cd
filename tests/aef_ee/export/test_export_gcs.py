"""gs:// datasets through google-cloud-storage, against a Cloud Storage emulator (gcp-storage-emulator) on loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_helpers import belgium_sites
from gcs_emulator import gcs_emulator

from aef_ee.videos.export import ExportOptions, ExportRequest, export_videos
from aef_ee.videos.export.files import CatalogFilesBackend
from aef_ee.videos.export.storage import GcsStore, cache_dataset
from aef_ee.videos.format import VideoDataset


@pytest.fixture(scope="module")
def gcs():  # type: ignore[no-untyped-def]
    """A google-cloud-storage client talking to an in-memory emulator with bucket ``videos``."""
    with gcs_emulator("videos") as client:
        yield client


def test_export_to_gs_and_read_back_through_the_cache(gcs, demo_catalog_dir: Path, tmp_path: Path,
                                                       monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import google.cloud.storage

    monkeypatch.setattr(google.cloud.storage, "Client", lambda *a, **k: gcs)
    sites = belgium_sites()[:3]
    result = export_videos("gs://videos/belgium", ExportRequest(sources="s1"), sites,
                           options=ExportOptions(staging_dir=tmp_path / "staging", sites_per_shard=2, progress=False,
                                                 backend=CatalogFilesBackend(demo_catalog_dir)))
    assert result.sites_written == 3
    names = sorted(b.name for b in gcs.list_blobs("videos", prefix="belgium/"))
    assert "belgium/index.json" in names and "belgium/shard-00000.array_record" in names
    remote = VideoDataset("gs://videos/belgium", cache_dir=tmp_path / "cache")
    local = VideoDataset(tmp_path / "staging")
    assert remote.site_ids == local.site_ids and remote.path == tmp_path / "cache"
    for a, b in zip(remote, local):
        np.testing.assert_array_equal(a.sources["s1"].frames, b.sources["s1"].frames)
    # A second open downloads nothing new (same sizes) and gives the same dataset.
    assert cache_dataset("gs://videos/belgium", tmp_path / "cache", client=gcs) == tmp_path / "cache"
    store = GcsStore(tmp_path / "objects", client=gcs)
    assert store.list("videos", "belgium/shard") == ["belgium/shard-00000.array_record",
                                                     "belgium/shard-00001.array_record"]
    assert Path(store.local_path("videos", "belgium/index.json")).is_file()
