"""``export_videos``: what (:class:`ExportRequest`), where (sites or a :class:`SiteSampling`) and how
(:class:`ExportOptions`) in one call; what ``aef-ee export-videos`` runs."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from aef_ee.backend import require_extra
from aef_ee.errors import AefValueError
from aef_ee.videos.export.batch import BatchResult, convert_batch, submit_batch
from aef_ee.videos.export.interactive import ExportResult, export_interactive
from aef_ee.videos.export.manifest import check_manifest
from aef_ee.videos.export.options import ExportOptions
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.export.storage import BucketStore, GcsStore, LocalBucketStore, upload_dir
from aef_ee.videos.sites import Site, SiteSampling

__all__ = ["export_videos"]

log = logging.getLogger(__name__)

_DEFAULT_OPTIONS = ExportOptions()


def export_videos(
    out: str | os.PathLike[str],
    request: ExportRequest | None,
    sites: Sequence[Site] | SiteSampling | None = None,
    *,
    options: ExportOptions = _DEFAULT_OPTIONS,
) -> ExportResult | BatchResult:
    """Exports the training videos of ``sites`` to ``out``; re-running with the same arguments resumes.

    Example (the local engine on its demo catalog; ``aef_ee.initialize(project="my-project")`` for Earth Engine)::

        import aef_ee
        from aef_ee.videos.export import ExportOptions, ExportRequest, SiteSampling, export_videos

        aef_ee.initialize(backend="local")
        result = export_videos(
            "videos/",
            ExportRequest(sources="s2,s1,era5,dem"),
            SiteSampling(start="2020-11-01", end="2021-11-01", region=(5.319, 50.6287, 5.333, 50.6378),
                         n_sites=3, size=32),
            options=ExportOptions(progress=False),
        )
        print(result.sites_written, result.frames_written)   # 3 sites (0 on a re-run: all skipped)

    Args:
      out: the dataset directory, or ``gs://bucket/prefix`` (written under ``options.staging_dir``, then uploaded).
      request: what to export (sources, time layout, bands, cloud mask). With ``path="convert"`` it may be
        ``None``: the export directory records it (if given, it must be that one).
      sites: where: a list of :class:`~aef_ee.videos.sites.Site`, or a :class:`SiteSampling` that draws them.
        With ``path="convert"`` it may be ``None`` (the export directory records them; if given, they must be
        those).
      options: how: the path (interactive, batch, convert), its bucket, concurrency, shard size, progress.

    Returns:
      :class:`ExportResult` of the written shards, or :class:`BatchResult` when batch tasks were started without
      waiting (``ExportOptions(path="batch", wait=False)``).

    Raises:
      AefValueError: ``request``, ``sites`` or ``options`` of the wrong type, or no sites for an interactive or
        batch export.
      ExportManifestError: ``out`` holds an export of another request or other sites.
      SiteError: the sampling cannot place its sites.
      UnknownSourceError, UnknownBandError: raised by :class:`ExportRequest`.
      NoDataError: no source has a valid frame over any site.
      ExportError: a batch task failed, or ``path="convert"`` on a directory without a batch export.
    """
    require_extra("local", "exporting training videos (aef_ee.videos.export.export_videos)",
                  ("rasterio", "shapely", "pyproj"))
    if not isinstance(options, ExportOptions):
        raise AefValueError(f"options must be an ExportOptions(...); got {type(options).__name__}: {options!r:.200}")
    if request is not None and not isinstance(request, ExportRequest):
        raise AefValueError(f"request must be an ExportRequest(...), e.g. ExportRequest(sources='s2,s1'); "
                            f"got {type(request).__name__}: {request!r:.200}")
    if request is None and options.path != "convert":
        raise AefValueError(f"path={options.path!r} needs a request, e.g. ExportRequest(sources='s2,s1'); got None")
    if sites is None and options.path != "convert":
        raise AefValueError(f"path={options.path!r} needs sites: a list of Site or a SiteSampling(...); got None")
    site_list = None if sites is None else _site_list(sites)

    upload_to = str(out) if str(out).startswith("gs://") else None
    local_out = Path(options.staging_dir or _staging_for(str(out))) if upload_to else Path(out)
    result: ExportResult | BatchResult
    if options.path == "convert":
        check_manifest(local_out, request, site_list)
        result = convert_batch(local_out, store=_store(options.store, local_out),
                               sites_per_shard=options.sites_per_shard, progress=options.progress)
    elif options.path == "interactive":
        assert request is not None and site_list is not None
        result = export_interactive(site_list, request, local_out, backend=options.backend,
                                    max_workers=options.max_workers, tile_size=options.resolved_tile_size,
                                    sites_per_shard=options.sites_per_shard, progress=options.progress)
    else:
        assert options.path == "batch" and options.bucket and request is not None and site_list is not None
        bucket_store = _store(options.store, local_out)
        result = submit_batch(site_list, request, local_out, bucket=options.bucket, prefix=options.prefix,
                              store=bucket_store, tile_size=options.resolved_tile_size,
                              max_concurrent_tasks=options.max_concurrent_tasks, wait=options.wait,
                              backend=options.backend, progress=options.progress)
        if options.wait:
            result = convert_batch(local_out, store=bucket_store, sites_per_shard=options.sites_per_shard,
                                   progress=options.progress)
    if upload_to and isinstance(result, ExportResult):
        upload_dir(local_out, upload_to)
    return result


def _site_list(sites: Sequence[Site] | SiteSampling) -> list[Site]:
    """The sites of a SiteSampling, or a checked list of Site.

    Raises:
      AefValueError: not a SiteSampling nor a sequence of Site (quoting the first wrong element).
    """
    if isinstance(sites, SiteSampling):
        return sites.sites()
    if isinstance(sites, (str, bytes, Mapping)) or not isinstance(sites, Iterable):
        raise AefValueError(f"sites must be a list of Site or a SiteSampling(...); got {type(sites).__name__}: "
                            f"{sites!r:.200}")
    out = list(sites)
    for i, site in enumerate(out):
        if not isinstance(site, Site):
            raise AefValueError(f"sites must hold aef_ee.videos.Site objects (or be a SiteSampling(...)); "
                                f"sites[{i}] is {type(site).__name__}: {site!r:.200}")
    return out


def _staging_for(url: str) -> Path:
    from aef_ee.paths import cache_dir

    return Path(cache_dir()) / "exports" / hashlib.sha256(url.encode()).hexdigest()[:16]


def _store(store: BucketStore | None, local_out: Path) -> BucketStore:
    if store is not None:
        return store
    bucket_dir = os.environ.get("AEF_EE_BUCKET_DIR")
    if bucket_dir and not os.environ.get("STORAGE_EMULATOR_HOST"):
        return LocalBucketStore(bucket_dir)
    return GcsStore(local_out / ".bucket-cache")
