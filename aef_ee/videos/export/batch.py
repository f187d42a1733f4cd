"""The batch export path: ``Export.image.toCloudStorage`` tasks over tiles of sites, then GeoTIFFs to shards.

For millions of sites. :func:`submit_batch` plans each tile (one listing per source), builds the tile's flattened
image (every frame of every source as bands, :mod:`aef_ee.videos.export.flatten`) and starts one export task per tile on
the tile's exact pixel grid, keeping at most ``max_concurrent_tasks`` running. Tiles whose output already exists in
the bucket are skipped; a task recorded as running is not started again. :func:`convert_batch` reads each finished
tile's GeoTIFF(s), cuts every site's window and writes the same videos the interactive path writes.

The plan of every submitted tile (its frames, band names, task ID) is kept in ``<out_dir>/tasks.json``, so
conversion needs no further Earth Engine calls and both steps resume.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from aef_ee.atomic import write_json_atomic
from aef_ee.errors import ExportError, NoDataError
from aef_ee.videos.export.assemble import assemble_video, required_bands
from aef_ee.videos.export.flatten import flat_image
from aef_ee.videos.export.geotiff import read_site_bands
from aef_ee.videos.export.interactive import EarthEngineBackend, PixelBackend
from aef_ee.videos.export.manifest import open_manifest
from aef_ee.videos.export.plan import Frame, Tile, plan_tile, site_frames, tile_sites
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.export.result import ExportResult, SiteTally
from aef_ee.videos.export.storage import BucketStore
from aef_ee.videos.sites import Site
from aef_ee.videos.sources import Source
from aef_ee.videos.format import DEFAULT_SITES_PER_SHARD, VideoWriter

__all__ = ["TileTask", "BatchResult", "submit_batch", "convert_batch", "tile_grid", "tile_files", "TASKS_NAME"]

log = logging.getLogger(__name__)

TASKS_NAME = "tasks.json"
# Earth Engine's default cap on queued batch tasks per user is 3000, running ones far fewer; stay polite.
DEFAULT_MAX_CONCURRENT_TASKS = 10
_ACTIVE = ("UNSUBMITTED", "READY", "RUNNING", "PENDING", "CANCEL_REQUESTED")
_FAILED = ("FAILED", "CANCELLED", "CANCELED")


@dataclasses.dataclass
class TileTask:
    """A tile's export: its plan, output prefix and task."""

    tile_id: str
    site_ids: list[str]
    frames: dict[str, list[Frame]]
    bands: list[str]
    prefix: str
    task_id: str | None = None
    state: str = "PLANNED"

    def to_json(self) -> dict[str, Any]:
        return {"tile_id": self.tile_id, "site_ids": self.site_ids, "bands": self.bands, "prefix": self.prefix,
                "task_id": self.task_id, "state": self.state,
                "frames": {k: [f.to_json() for f in v] for k, v in self.frames.items()}}

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "TileTask":
        return cls(tile_id=v["tile_id"], site_ids=list(v["site_ids"]), bands=list(v["bands"]), prefix=v["prefix"],
                   task_id=v.get("task_id"), state=v.get("state", "PLANNED"),
                   frames={k: [Frame.from_json(f) for f in fs] for k, fs in v["frames"].items()})


@dataclasses.dataclass(frozen=True)
class BatchResult:
    """What :func:`submit_batch` did: tiles in total, started now, skipped (output present), still running."""

    tiles_total: int
    tiles_started: int
    tiles_skipped: int
    tiles_active: int
    task_ids: tuple[str, ...]


def tile_grid(tile: Tile) -> dict[str, Any]:
    """The tile's exact pixel grid for an export: ``crs``, ``crsTransform``, ``width`` and ``height``."""
    left, bottom, right, top = tile.bounds
    res = tile.resolution_m
    return {"crs": tile.crs, "crsTransform": [res, 0.0, left, 0.0, -res, top],
            "width": int(round((right - left) / res)), "height": int(round((top - bottom) / res))}


def tile_files(store: BucketStore, bucket: str, prefix: str) -> list[str]:
    """Keys of a tile's GeoTIFF(s): ``<prefix>.tif`` or Earth Engine's split ``<prefix>-<row>-<col>.tif``."""
    return _matching(store.list(bucket, prefix), prefix)


def _matching(keys: Sequence[str], prefix: str) -> list[str]:
    return [k for k in keys
            if k.endswith((".tif", ".tiff")) and (k.startswith(prefix + ".") or k.startswith(prefix + "-"))]


def _read_tasks(out_dir: Path) -> dict[str, Any]:
    path = out_dir / TASKS_NAME
    return json.loads(path.read_text()) if path.exists() else {"tiles": {}}


def _write_tasks(out_dir: Path, value: dict[str, Any]) -> None:
    write_json_atomic(out_dir / TASKS_NAME, value, indent=None)


def _start_task(tile: Tile, frames: Mapping[str, Sequence[Frame]], sources: Mapping[str, Source],
                request: ExportRequest, bucket: str, prefix: str, description: str) -> str:
    """Starts the Earth Engine export of a tile's flattened image; returns the task ID."""
    import ee

    image, _ = flat_image(frames, sources, request.reducer)
    grid = tile_grid(tile)
    task = ee.batch.Export.image.toCloudStorage(
        image=image, description=description, bucket=bucket, fileNamePrefix=prefix, region=tile.ee_geometry(),
        crs=grid["crs"], crsTransform=grid["crsTransform"], maxPixels=1e13, fileFormat="GeoTIFF",
    )
    task.start()
    return str(task.id)


def _task_state(task_id: str) -> tuple[str, str]:
    import ee

    status = ee.data.getTaskStatus([task_id])[0]
    return str(status.get("state", "UNKNOWN")), str(status.get("error_message", ""))


def submit_batch(
    sites: Sequence[Site],
    request: ExportRequest,
    out_dir: str | os.PathLike[str],
    *,
    bucket: str,
    prefix: str,
    store: BucketStore,
    tile_size: int = 4,
    max_concurrent_tasks: int = DEFAULT_MAX_CONCURRENT_TASKS,
    wait: bool = True,
    poll_s: float = 10.0,
    backend: PixelBackend | None = None,
    start_task: Callable[..., str] = _start_task,
    task_state: Callable[[str], tuple[str, str]] = _task_state,
    progress: bool = True,
) -> BatchResult:
    """Starts one ``Export.image.toCloudStorage`` task per tile of sites not yet exported.

    Args:
      sites, request: as for :func:`~aef_ee.videos.export.interactive.export_interactive`.
      out_dir: the dataset directory (its manifest and ``tasks.json``; shards come with :func:`convert_batch`).
      bucket, prefix: outputs go to ``gs://<bucket>/<prefix>/<tile_id>*.tif``.
      store: reads the bucket (to skip tiles already exported).
      tile_size: sites per tile side (a tile's GeoTIFF is ``tile_size * L`` px square).
      max_concurrent_tasks: tasks running at once; more wait for a slot.
      wait: poll until every task finished; else return once all tasks are started (or the cap is reached).

    Raises:
      ExportError: a task failed (its error message is quoted); re-running retries it.
    """
    out = Path(out_dir)
    backend = backend or EarthEngineBackend()
    sources = request.resolved()
    manifest = open_manifest(out, request, sites, path_kind="batch")
    with VideoWriter(out) as writer:
        done = writer.site_ids
    pending_sites = manifest.pending(done)
    tiles = tile_sites(pending_sites, tile_size)
    state = _read_tasks(out)
    state.update({"bucket": bucket, "prefix": prefix})
    records: dict[str, Any] = state["tiles"]
    started: list[str] = []
    skipped = 0
    queue: list[Tile] = []
    active: dict[str, str] = {}
    existing = store.list(bucket, f"{prefix}/")  # one listing for every tile
    for tile in tiles:
        rec = records.get(tile.tile_id)
        if _matching(existing, f"{prefix}/{tile.tile_id}"):
            skipped += 1
            if rec is not None:
                rec["state"] = "COMPLETED"
            continue
        if rec is not None and rec.get("task_id") and rec.get("state") in _ACTIVE:
            active[tile.tile_id] = rec["task_id"]
            continue
        queue.append(tile)
    bar = tqdm(total=len(tiles), initial=skipped, unit="tile", desc="batch tasks", disable=not progress)
    try:
        while queue or active:
            for tile_id, task_id in list(active.items()):
                task, error = task_state(task_id)
                records[tile_id]["state"] = task
                if task == "COMPLETED":
                    del active[tile_id]
                    bar.update(1)
                elif task in _FAILED:
                    _write_tasks(out, state)
                    raise ExportError(f"export task {task_id} of tile {tile_id} ended {task}: {error}")
            while queue and len(active) < max_concurrent_tasks:
                tile = queue.pop(0)
                listings = {name: backend.list_images(src, tile) for name, src in sources.items()}
                frames = plan_tile(tile, sources, request, listings)
                bands = required_bands(frames, sources)
                if not bands:
                    records[tile.tile_id] = TileTask(tile.tile_id, [s.site_id for s in tile.sites], frames, [],
                                                     f"{prefix}/{tile.tile_id}", None, "EMPTY").to_json()
                    bar.update(1)
                    continue
                task = TileTask(tile.tile_id, [s.site_id for s in tile.sites], frames, bands,
                                f"{prefix}/{tile.tile_id}")
                task.task_id = start_task(tile, frames, sources, request, bucket, task.prefix,
                                          f"aef_videos_{tile.tile_id}")
                task.state = "READY"
                records[tile.tile_id] = task.to_json()
                _write_tasks(out, state)  # the task is recorded as soon as it exists
                active[tile.tile_id] = task.task_id
                started.append(task.task_id)
            _write_tasks(out, state)
            if not wait and (not queue or len(active) >= max_concurrent_tasks):
                break
            if active:
                time.sleep(poll_s)
    finally:
        bar.close()
        _write_tasks(out, state)
    return BatchResult(len(tiles), len(started), skipped, len(active), tuple(started))


def convert_batch(
    out_dir: str | os.PathLike[str],
    *,
    store: BucketStore,
    sites_per_shard: int = DEFAULT_SITES_PER_SHARD,
    progress: bool = True,
) -> ExportResult:
    """Ingests the finished tiles' GeoTIFFs of a :func:`submit_batch` export into shards; resumable.

    Tiles whose files are not in the bucket yet are left for a later run (logged); sites already in shards are
    skipped.

    Raises:
      ExportError: no ``tasks.json`` in ``out_dir``, or a GeoTIFF that does not match its tile's plan.
      NoDataError: no source had a valid frame over any site.
    """
    from aef_ee.videos.export.manifest import load_sites

    start = time.perf_counter()
    out = Path(out_dir)
    if not (out / TASKS_NAME).exists():
        raise ExportError(f"{out} holds no {TASKS_NAME}: run submit_batch first")
    header = json.loads((out / "export.json").read_text())
    request = ExportRequest.from_json(header["request"])
    sources = request.resolved()
    sites = load_sites(out)
    manifest = open_manifest(out, request, sites, path_kind=header.get("path", "batch"))
    state = _read_tasks(out)
    bucket = state["bucket"]
    by_id = {s.site_id: s for s in sites}
    waiting = 0
    with VideoWriter(out, sites_per_shard=sites_per_shard) as writer:
        tally = SiteTally(writer, manifest)
        pending = {s.site_id for s in manifest.pending(writer.site_ids)}
        skipped = len(sites) - len(pending)
        with tqdm(total=len(sites), initial=skipped, unit="site", desc="convert", disable=not progress) as bar:
            for rec in state["tiles"].values():
                task = TileTask.from_json(rec)
                todo = [by_id[i] for i in task.site_ids if i in pending]
                if not todo:
                    continue
                if task.state == "EMPTY":
                    for site in todo:
                        tally.record(site.site_id, None)
                        bar.update(1)
                    continue
                files = [store.local_path(bucket, k) for k in tile_files(store, bucket, task.prefix)]
                if not files:
                    log.info("tile %s has no output yet (task %s); convert again later", task.tile_id, task.task_id)
                    waiting += len(todo)
                    continue
                footprints: dict[str, Any] = {}
                for site in todo:
                    plan = {name: site_frames(site, fs, request, footprints) for name, fs in task.frames.items()}
                    names = required_bands(plan, sources)
                    arrays = read_site_bands(files, site, names, fallback_names=task.bands) if names else {}
                    video = assemble_video(site, plan, sources, arrays, drop_empty_frames=request.drop_empty_frames)
                    tally.record(site.site_id, video)
                    bar.update(1)
    if waiting:
        log.warning("%d sites wait for export tasks still running; run convert again", waiting)
    if tally.found_nothing(skipped) and waiting == 0:
        raise NoDataError(f"none of the sources {list(request.sources)} has a valid frame over any of the sites")
    return tally.result(out, len(sites), skipped, start)
