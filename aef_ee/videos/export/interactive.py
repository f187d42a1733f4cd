"""The interactive export path: pixels pulled with ``ee.data.computePixels`` in parallel, written straight to shards.

For up to thousands of sites. Sites are grouped into tiles (one image listing per tile and source), each site's
frames are fetched as flattened bands on the site's own grid (several requests when the bands exceed Earth
Engine's request size), assembled into a video and written by :class:`~aef_ee.videos.format.VideoWriter`. Requests run
on a bounded thread pool and retry quota and transient errors with backoff. The export is resumable (see
:mod:`aef_ee.videos.export.manifest`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from aef_ee.errors import ExportError, NoDataError
from aef_ee.npy import compute_pixels
from aef_ee.videos.export.assemble import assemble_video
from aef_ee.videos.export.concurrency import bounded_map, call_with_retry
from aef_ee.videos.export.flatten import flat_image, frame_bands
from aef_ee.videos.export.manifest import open_manifest
from aef_ee.videos.export.plan import Frame, ImageInfo, Tile, list_images, plan_tile, site_frames, tile_sites
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.export.result import ExportResult, SiteTally
from aef_ee.videos.sites import Site
from aef_ee.videos.sources import Source
from aef_ee.videos.format import DEFAULT_SITES_PER_SHARD, SiteVideo, VideoWriter

__all__ = ["PixelBackend", "EarthEngineBackend", "ExportResult", "export_interactive", "iter_site_plans",
           "MAX_REQUEST_BYTES"]

log = logging.getLogger(__name__)

# Earth Engine refuses computePixels responses over 48 MiB ("Total request size must be less than or equal to
# 50331648 bytes"); stay under it with float32 bands.
MAX_REQUEST_BYTES = 48 * 1024 * 1024


class PixelBackend(Protocol):
    """Where listings and pixels come from (Earth Engine by default; tests may read local files)."""

    def list_images(self, source: Source, tile: Tile) -> list[ImageInfo]: ...

    def fetch(self, site: Site, frames: Mapping[str, Sequence[Frame]], sources: Mapping[str, Source],
              reducer: str) -> dict[str, np.ndarray]: ...


class EarthEngineBackend:
    """Listings via ``getInfo`` and pixels via ``ee.data.computePixels`` (NumPy), with retry and chunking."""

    def __init__(self, *, retries: int = 6, base_delay_s: float = 1.0,
                 max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.retries = retries
        self.base_delay_s = base_delay_s
        self.max_request_bytes = max_request_bytes

    def list_images(self, source: Source, tile: Tile) -> list[ImageInfo]:
        return call_with_retry(lambda: list_images(source, tile), retries=self.retries,
                               base_delay_s=self.base_delay_s)

    def fetch(self, site: Site, frames: Mapping[str, Sequence[Frame]], sources: Mapping[str, Source],
              reducer: str) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for chunk in self._chunks(site, frames, sources):
            image, names = flat_image(chunk, sources, reducer)
            result = call_with_retry(lambda image=image: _compute_pixels(image, site), retries=self.retries,
                                     base_delay_s=self.base_delay_s)
            for name in names:
                arrays[name] = np.asarray(result[name], np.float32)
        return arrays

    def _chunks(self, site: Site, frames: Mapping[str, Sequence[Frame]],
                sources: Mapping[str, Source]) -> Iterator[dict[str, list[Frame]]]:
        per_band = site.size * site.size * 4
        budget = max(1, self.max_request_bytes // per_band)
        chunk: dict[str, list[Frame]] = {}
        used = 0
        for name, source_frames in frames.items():
            for frame in source_frames:
                n = len(frame_bands(sources[name], frame))
                if n == 0:
                    continue
                if n > budget:
                    raise ExportError(f"one frame of {name!r} has {n} bands of {site.size}^2 px, over the "
                                      f"{self.max_request_bytes} byte request limit; use smaller sites")
                if used + n > budget:
                    yield chunk
                    chunk, used = {}, 0
                chunk.setdefault(name, []).append(frame)
                used += n
        if chunk:
            yield chunk


def _compute_pixels(image: Any, site: Site) -> np.ndarray:
    return compute_pixels({"expression": image, "grid": site.ee_grid()})


def iter_site_plans(tiles: Sequence[Tile], sources: Mapping[str, Source], request: ExportRequest,
                    backend: PixelBackend) -> Iterator[tuple[Site, dict[str, list[Frame]]]]:
    """(site, source -> frames) for every site of every tile, listing each tile once per source."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(sources))) as pool:
        for tile in tiles:
            # One listing request per source, in parallel.
            futures = {name: pool.submit(backend.list_images, src, tile) for name, src in sources.items()}
            listings = {name: future.result() for name, future in futures.items()}
            yield from _site_plans(tile, sources, request, listings)


def _site_plans(tile: Tile, sources: Mapping[str, Source], request: ExportRequest,
                listings: Mapping[str, Sequence[ImageInfo]]) -> Iterator[tuple[Site, dict[str, list[Frame]]]]:
    tile_frames = plan_tile(tile, sources, request, listings)
    footprints: dict[str, Any] = {}
    for site in tile.sites:
        yield site, {name: site_frames(site, fs, request, footprints) for name, fs in tile_frames.items()}


def export_interactive(
    sites: Sequence[Site],
    request: ExportRequest,
    out_dir: str | os.PathLike[str],
    *,
    backend: PixelBackend | None = None,
    max_workers: int = 8,
    tile_size: int = 8,
    sites_per_shard: int = DEFAULT_SITES_PER_SHARD,
    progress: bool = True,
) -> ExportResult:
    """Exports ``sites`` to a video dataset in ``out_dir`` via ``computePixels``; resumes an interrupted run.

    Args:
      sites: from :mod:`aef_ee.videos.sites`.
      request: sources, layout and options.
      backend: pixel source (default :class:`EarthEngineBackend`, needs ``ee`` initialised).
      max_workers: concurrent requests (Earth Engine allows 40 concurrent interactive requests per user by default).
      tile_size: sites per side of a listing tile.

    Raises:
      ExportManifestError: ``out_dir`` holds another export.
      NoDataError: no source had a valid frame over any site.
    """
    start = time.perf_counter()
    backend = backend or EarthEngineBackend()
    sources = request.resolved()
    manifest = open_manifest(out_dir, request, sites, path_kind="interactive")
    with VideoWriter(out_dir, sites_per_shard=sites_per_shard) as writer:
        tally = SiteTally(writer, manifest)
        pending = manifest.pending(writer.site_ids)
        skipped = len(sites) - len(pending)
        tiles = tile_sites(pending, tile_size)

        def work(item: tuple[Site, dict[str, list[Frame]]]) -> SiteVideo:
            site, site_plan = item
            arrays = backend.fetch(site, site_plan, sources, request.reducer) if any(site_plan.values()) else {}
            return assemble_video(site, site_plan, sources, arrays, drop_empty_frames=request.drop_empty_frames)

        # Named for the work it counts, not for a command: `aef-ee embed` and `aef-ee demo` fetch their inputs here too.
        with tqdm(total=len(sites), initial=skipped, unit="site", desc="fetch videos", disable=not progress) as bar:
            # In site order, so that a dataset's shards do not depend on request timing (and equal the batch path's).
            for (site, _), video in bounded_map(work, iter_site_plans(tiles, sources, request, backend),
                                                max_workers=max_workers, ordered=True):
                tally.record(site.site_id, video)
                bar.update(1)
    if tally.found_nothing(skipped):
        raise NoDataError(
            f"none of the sources {list(request.sources)} has a valid frame over any of the {tally.empty} sites "
            f"in their periods; check the region, the dates and the sources' coverage"
        )
    return tally.result(Path(out_dir), len(sites), skipped, start)
