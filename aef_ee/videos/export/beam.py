"""The interactive export path as an Apache Beam pipeline: the same videos, manifest and resume as
:func:`~aef_ee.videos.export.interactive.export_interactive`, spread over a runner's workers.

    sites ─▶ tiles of pending sites ─▶ (reshuffle) plan: one listing per tile and source
          ─▶ (reshuffle) fetch: computePixels per site, assemble, write ``.parts/<n>-<site>.site`` atomically
    then, on the launching machine: parts in site order ─▶ VideoWriter shards + index.json, empty_sites.txt

Each worker initialises the ``ee`` client once (:class:`EngineConnection`) and retries quota and transient errors
with the interactive path's backoff (:class:`~aef_ee.videos.export.interactive.EarthEngineBackend`); the number of
requests in flight is the runner's parallelism (``direct_num_workers`` locally; workers x harness threads on
Dataflow). A site's part is durable as soon as it is fetched, so a killed run loses only the sites in flight; the
re-run skips sites in finished shards, in ``empty_sites.txt`` or with a part, and writing the shards from the parts
is idempotent (the parts are removed only once the index holds every site). Needs ``pip install "aef-ee[beam]"``.

The parts are written through the local file system, so on Dataflow ``out_dir`` must be a file system every worker
mounts (Cloud Storage FUSE, Filestore); see docs/scale.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from aef_ee.atomic import write_bytes_atomic
from aef_ee.backend import require_extra
from aef_ee.errors import AefValueError, ExportError, NoDataError
from aef_ee.videos.export.assemble import assemble_video
from aef_ee.videos.export.interactive import EarthEngineBackend, PixelBackend, iter_site_plans
from aef_ee.videos.export.manifest import open_manifest
from aef_ee.videos.export.plan import tile_sites
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.export.result import ExportResult, SiteTally, has_valid_frame
from aef_ee.videos.format import DEFAULT_SITES_PER_SHARD, VideoWriter, decode_site, encode_site
from aef_ee.videos.sites import Site

__all__ = ["EngineConnection", "export_beam", "PARTS_DIR", "RUNNERS"]

log = logging.getLogger(__name__)

PARTS_DIR = ".parts"
RUNNERS = {"direct": "DirectRunner", "prism": "PrismRunner", "dataflow": "DataflowRunner"}
_EMPTY = b""  # the part of a site without any valid frame


@dataclasses.dataclass(frozen=True)
class EngineConnection:
    """How a worker connects ``ee``: pickled into the pipeline, called once per worker process.

    Attributes:
      backend: "earthengine" (with ``project``; credentials from the worker's environment, e.g. its service
        account) or "local" (with ``url`` and ``token`` of a running local engine).
    """

    backend: str
    project: str | None = None
    url: str | None = None
    token: str | None = None

    def __call__(self) -> None:
        from aef_ee.backend import initialize

        initialize(self.backend, project=self.project, url=self.url, token=self.token)


_connected: set[EngineConnection] = set()
_connect_lock = threading.Lock()


def _connect_once(connection: EngineConnection | None) -> None:
    if connection is None:
        return
    with _connect_lock:  # DoFn.setup runs per DoFn instance (per thread); ee is per process
        if connection not in _connected:
            connection()
            _connected.add(connection)


@contextlib.contextmanager
def files_progress(folder: Path, pattern: str, total: int, *, desc: str, unit: str, enabled: bool,
                   interval_s: float = 0.5) -> Iterator[None]:
    """A tqdm bar of the files matching ``pattern`` that appear in ``folder`` while the block runs: the progress of
    a pipeline whose workers each write one file per element (parts, COGs), whichever thread or process writes
    them. Beam's own counters (``Metrics``) report the same on runners with a monitoring page (Dataflow)."""
    with count_progress(lambda: len(list(folder.glob(pattern))), total, desc=desc, unit=unit, enabled=enabled,
                        interval_s=interval_s):
        yield


@contextlib.contextmanager
def count_progress(count: Callable[[], int], total: int, *, desc: str, unit: str, enabled: bool,
                   interval_s: float = 0.5) -> Iterator[None]:
    """A tqdm bar of how far ``count()`` (e.g. the files or objects a pipeline's workers have written) has grown
    since the block started, polled every ``interval_s`` seconds from a thread while the block runs."""
    if not enabled or total <= 0:
        yield
        return
    from tqdm.auto import tqdm

    before = count()
    stop = threading.Event()
    with tqdm(total=total, desc=desc, unit=unit) as bar:

        def watch() -> None:
            while True:
                stopping = stop.wait(interval_s)
                bar.n = min(total, max(0, count() - before))
                bar.refresh()
                if stopping:
                    return

        watcher = threading.Thread(target=watch, name="aef-ee-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


def _part_path(parts: Path, site: Site) -> Path:
    return parts / f"{site.site_id}.site"


def _finished_parts(parts: Path) -> dict[str, Path]:
    """site_id -> part file, for the parts written completely (atomic writes leave no partial file)."""
    if not parts.is_dir():
        return {}
    return {p.stem: p for p in parts.glob("*.site")}


class _PlanTile:
    """(tile of (position, site)) -> (position, site, source -> frames): one listing per source."""

    def __init__(self, request: ExportRequest, backend: PixelBackend | None,
                 connection: EngineConnection | None) -> None:
        self.request, self.backend, self.connection = request, backend, connection

    def __call__(self, positioned: list[tuple[int, Site]]) -> Iterator[tuple[int, Site, dict[str, list]]]:
        _connect_once(self.connection)
        positions = {site.site_id: i for i, site in positioned}
        tiles = tile_sites([site for _, site in positioned], len(positioned))
        backend = self.backend or EarthEngineBackend()
        for site, plan in iter_site_plans(tiles, self.request.resolved(), self.request, backend):
            yield positions[site.site_id], site, plan


def _fetch_fn(request: ExportRequest, parts: str, backend: PixelBackend | None,
              connection: EngineConnection | None) -> Any:
    import apache_beam as beam

    class FetchSite(beam.DoFn):  # type: ignore[misc]
        """Pulls one site's pixels, assembles its video and writes it as a part; yields (site_id, frames)."""

        def setup(self) -> None:
            _connect_once(connection)
            self.backend = backend or EarthEngineBackend()
            self.sources = request.resolved()
            self.fetched = beam.metrics.Metrics.counter("aef_ee_export", "sites_fetched")
            self.empty = beam.metrics.Metrics.counter("aef_ee_export", "sites_empty")
            self.frames = beam.metrics.Metrics.counter("aef_ee_export", "frames")

        def process(self, element: tuple[int, Site, dict[str, list]]) -> Iterator[tuple[str, int]]:
            position, site, plan = element
            arrays = self.backend.fetch(site, plan, self.sources, request.reducer) if any(plan.values()) else {}
            video = assemble_video(site, plan, self.sources, arrays, drop_empty_frames=request.drop_empty_frames)
            valid = has_valid_frame(video)
            write_bytes_atomic(_part_path(Path(parts), site), encode_site(video) if valid else _EMPTY)
            (self.fetched if valid else self.empty).inc()
            if valid:
                self.frames.inc(sum(s.num_frames for s in video.sources.values()))
            yield site.site_id, sum(s.num_frames for s in video.sources.values()) if valid else -1

    return FetchSite()


def export_beam(
    sites: Sequence[Site],
    request: ExportRequest,
    out_dir: str | os.PathLike[str],
    *,
    runner: str = "direct",
    pipeline_args: Sequence[str] = (),
    connection: EngineConnection | None = None,
    backend: PixelBackend | None = None,
    max_workers: int = 8,
    tile_size: int = 8,
    sites_per_shard: int = DEFAULT_SITES_PER_SHARD,
    progress: bool = True,
) -> ExportResult:
    """Exports ``sites`` like :func:`export_interactive`, with the fetching run as a Beam pipeline; resumable.

    Args:
      sites, request, out_dir, tile_size, sites_per_shard: as :func:`export_interactive` (same manifest, so
        either function resumes the other's directory).
      runner: ``direct``, ``prism`` or ``dataflow`` (or a runner class name).
      pipeline_args: more Beam options, e.g. ``["--project=P", "--region=R", "--temp_location=gs://..."]``.
      connection: how workers connect ``ee``; ``None`` when they share this process's client (local runners).
      backend: pixel source (default :class:`EarthEngineBackend`); must be picklable for remote runners.
      max_workers: requests in flight on a local runner (``direct_num_workers``, threads).
      progress: tqdm bar while the shards are written.

    Raises:
      AefValueError: an unknown runner or ``max_workers`` < 1.
      ExportManifestError: ``out_dir`` holds another export.
      NoDataError: no source had a valid frame over any site.
      ExportError: the pipeline finished without a part for a pending site.
      BackendError: Apache Beam is not installed (the message names ``pip install "aef-ee[beam]"``).
    """
    require_extra("beam", "a Beam export pipeline")
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    if max_workers < 1:
        raise AefValueError(f"max_workers must be >= 1; got {max_workers!r}")
    runner_name = RUNNERS.get(runner, runner)
    if runner_name not in RUNNERS.values() and not runner_name.endswith("Runner"):
        raise AefValueError(f"unknown runner {runner!r}; expected one of {sorted(RUNNERS)} or a Beam runner class")
    start = time.perf_counter()
    manifest = open_manifest(out_dir, request, sites, path_kind="interactive")
    out = Path(out_dir)
    parts = out / PARTS_DIR
    parts.mkdir(exist_ok=True)
    with VideoWriter(out, sites_per_shard=sites_per_shard) as writer:
        committed = writer.site_ids
    to_fetch = list(enumerate(manifest.pending(committed)))
    have_part = _finished_parts(parts)
    to_fetch = [(i, s) for i, s in to_fetch if s.site_id not in have_part]
    if to_fetch:
        local = {"direct_num_workers": max_workers, "direct_running_mode": "multi_threading"}
        options = PipelineOptions(list(pipeline_args), runner=runner_name,
                                  **(local if runner_name == "DirectRunner" else {}))
        groups = [to_fetch[k:k + tile_size * tile_size] for k in range(0, len(to_fetch), tile_size * tile_size)]
        with files_progress(parts, "*.site", len(to_fetch), desc="fetch videos", unit="site", enabled=progress), \
                beam.Pipeline(options=options) as pipeline:
            _ = (
                pipeline
                | "Tiles" >> beam.Create(groups)
                | "SpreadTiles" >> beam.Reshuffle()
                | "Plan" >> beam.FlatMap(_PlanTile(request, backend, connection))
                | "SpreadSites" >> beam.Reshuffle()
                | "Fetch" >> beam.ParDo(_fetch_fn(request, str(parts), backend, connection))
            )
    return _write_shards(manifest, out, sites_per_shard, len(sites), start, progress)


def _write_shards(manifest: Any, out: Path, sites_per_shard: int, total: int, start: float,
                  progress: bool) -> ExportResult:
    """The parts, in site order, into shards and empty_sites.txt exactly as export_interactive writes them."""
    from tqdm.auto import tqdm

    parts = out / PARTS_DIR
    finished = _finished_parts(parts)
    with VideoWriter(out, sites_per_shard=sites_per_shard) as writer:
        tally = SiteTally(writer, manifest)
        pending = manifest.pending(writer.site_ids)
        missing = [s.site_id for s in pending if s.site_id not in finished]
        if missing:
            raise ExportError(f"the pipeline left {len(missing)} sites without a video, e.g. {missing[:3]}; re-run")
        skipped = total - len(pending)
        for site in tqdm(pending, unit="site", desc="write shards", disable=not progress):
            data = finished[site.site_id].read_bytes()
            tally.record(site.site_id, None if data == _EMPTY else decode_site(data))
    shutil.rmtree(parts)  # every site is now in a finished shard or empty_sites.txt
    if tally.found_nothing(skipped):
        raise NoDataError(f"none of the sources has a valid frame over any of the {tally.empty} sites in their "
                          f"periods; check the region, the dates and the sources' coverage")
    return tally.result(out, total, skipped, start)


def connection_for_current_client(server: Any | None, *, project: str | None = None) -> EngineConnection:
    """The :class:`EngineConnection` that reconnects workers to what this process initialised."""
    if server is not None:
        return EngineConnection("local", url=server.url, token=server.token)
    return EngineConnection("earthengine", project=project)

