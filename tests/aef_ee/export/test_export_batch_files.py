"""The batch path's bookkeeping (tasks per tile, skip finished outputs, cap, resume, conversion) without an engine.

The export tasks are stood in for by writing each tile's flattened GeoTIFF from the demo catalog's files (the
reference backend), on the tile grid the real task would use; conversion must give the interactive path's shards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee.errors import ExportManifestError
from aef_ee.videos.export import ExportOptions, ExportRequest, export_interactive, export_videos
from aef_ee.videos.export.assemble import required_bands
from aef_ee.videos.export.batch import convert_batch, submit_batch, tile_grid
from aef_ee.videos.export.files import CatalogFilesBackend
from aef_ee.videos.export.plan import site_frames
from aef_ee.videos.export.storage import LocalBucketStore
from aef_ee.videos.format import VideoDataset

from export_helpers import belgium_sites


@pytest.fixture()
def catalog(demo_catalog_dir: Path) -> Path:
    """The demo catalog (built once per session by tests/conftest.py)."""
    return demo_catalog_dir


class FileTasks:
    """Writes a tile's GeoTIFF at once (as a finished task would) from the reference backend."""

    def __init__(self, catalog: Path, bucket_root: Path, fail_on: int | None = None) -> None:
        self.backend = CatalogFilesBackend(catalog)
        self.root = bucket_root
        self.started: list[str] = []
        self.fail_on = fail_on

    def start(self, tile, frames, sources, request, bucket, prefix, description) -> str:  # type: ignore[no-untyped-def]
        if self.fail_on is not None and len(self.started) + 1 == self.fail_on:
            raise RuntimeError("injected: quota for tasks exhausted")
        grid = tile_grid(tile)
        bands = required_bands(frames, sources)
        data = np.zeros((len(bands), grid["height"], grid["width"]), np.float32)
        left, _, _, top = tile.bounds
        for site in tile.sites:
            plan = {n: site_frames(site, fs, request) for n, fs in frames.items()}
            arrays = self.backend.fetch(site, plan, sources, request.reducer)
            r0 = int(round((top - site.y0) / site.resolution_m))
            c0 = int(round((site.x0 - left) / site.resolution_m))
            for k, name in enumerate(bands):
                if name in arrays:
                    data[k, r0:r0 + site.size, c0:c0 + site.size] = arrays[name]
        path = self.root / bucket / f"{prefix}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        transform = rasterio.Affine(*grid["crsTransform"])
        with rasterio.open(path, "w", driver="GTiff", width=grid["width"], height=grid["height"], count=len(bands),
                           dtype="float32", crs=grid["crs"], transform=transform) as dst:
            dst.write(data)
            for k, name in enumerate(bands, start=1):
                dst.set_band_description(k, name)
        self.started.append(description)
        return f"task-{len(self.started)}"

    @staticmethod
    def state(task_id: str) -> tuple[str, str]:
        return "COMPLETED", ""


def test_batch_equals_interactive_and_resumes(catalog: Path, tmp_path: Path) -> None:
    request = ExportRequest(sources=("s2", "s1", "dem"))
    sites = belgium_sites()
    store = LocalBucketStore(tmp_path / "buckets")
    tasks = FileTasks(catalog, tmp_path / "buckets", fail_on=2)
    common = dict(bucket="b", prefix="videos", store=store, tile_size=2, poll_s=0.0,
                  backend=CatalogFilesBackend(catalog), task_state=FileTasks.state, progress=False)
    with pytest.raises(RuntimeError, match="injected"):
        submit_batch(sites, request, tmp_path / "batch", start_task=tasks.start, **common)
    assert len(tasks.started) == 1
    # The restart skips the tile already exported and starts the rest, never more than the cap at once.
    tasks.fail_on = None
    result = submit_batch(sites, request, tmp_path / "batch", start_task=tasks.start, max_concurrent_tasks=1,
                          **common)
    assert result.tiles_skipped == 1 and result.tiles_started == result.tiles_total - 1
    assert len(set(tasks.started)) == len(tasks.started) == result.tiles_total
    again = submit_batch(sites, request, tmp_path / "batch", start_task=tasks.start, **common)
    assert again.tiles_started == 0 and again.tiles_skipped == again.tiles_total

    converted = convert_batch(tmp_path / "batch", store=store, sites_per_shard=3, progress=False)
    assert converted.sites_written == len(sites)
    assert convert_batch(tmp_path / "batch", store=store, progress=False).sites_written == 0

    export_interactive(sites, request, tmp_path / "inter", backend=CatalogFilesBackend(catalog), progress=False)
    a, b = VideoDataset(tmp_path / "batch"), VideoDataset(tmp_path / "inter")
    assert sorted(a.site_ids) == sorted(b.site_ids)
    index_b = {sid: i for i, sid in enumerate(b.site_ids)}
    for i, sid in enumerate(a.site_ids):
        va, vb = a[i], b[index_b[sid]]
        assert va.sources.keys() == vb.sources.keys()
        for name in va.sources:
            np.testing.assert_array_equal(va.sources[name].frames, vb.sources[name].frames)
            np.testing.assert_array_equal(va.sources[name].mask, vb.sources[name].mask)
            np.testing.assert_array_equal(va.sources[name].timestamps_ms, vb.sources[name].timestamps_ms)
        assert va.properties == vb.properties


def test_convert_through_export_videos_reads_the_recorded_request_and_sites(catalog: Path, tmp_path: Path) -> None:
    """``path="convert"`` needs neither request nor sites (the directory records them); given ones must match."""
    request = ExportRequest(sources=("s1",))
    sites = belgium_sites()[:4]
    store = LocalBucketStore(tmp_path / "buckets")
    tasks = FileTasks(catalog, tmp_path / "buckets")
    started = submit_batch(sites, request, tmp_path / "batch", bucket="b", prefix="videos", store=store, tile_size=2,
                           poll_s=0.0, backend=CatalogFilesBackend(catalog), start_task=tasks.start,
                           task_state=FileTasks.state, wait=False, progress=False)
    assert started.tiles_started == 2
    convert = ExportOptions(path="convert", store=store, sites_per_shard=3, progress=False)
    with pytest.raises(ExportManifestError, match="another request"):
        export_videos(tmp_path / "batch", ExportRequest(sources=("s1",), same_pass_s=0.0), options=convert)
    with pytest.raises(ExportManifestError, match="other sites"):
        export_videos(tmp_path / "batch", request, sites[:3], options=convert)
    assert not list((tmp_path / "batch").glob("shard-*"))  # nothing converted by the refused calls
    result = export_videos(tmp_path / "batch", None, options=convert)
    assert result.sites_written == 4 and len(VideoDataset(tmp_path / "batch")) == 4
    again = export_videos(tmp_path / "batch", request, sites, options=convert)
    assert again.sites_written == 0 and again.sites_skipped == 4
