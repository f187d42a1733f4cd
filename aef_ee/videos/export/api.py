"""``export_videos``: sites + request + path in one call (what ``aef-ee export-videos`` runs)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from aef_ee.errors import AefValueError
from aef_ee.videos.export.batch import BatchResult, convert_batch, submit_batch
from aef_ee.videos.export.interactive import ExportResult, PixelBackend, export_interactive
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.export.storage import BucketStore, GcsStore, LocalBucketStore, upload_dir
from aef_ee.videos.sites import (
    DEFAULT_RESOLUTION_M,
    DEFAULT_SITE_SIZE,
    Site,
    parse_period,
    sample_uniform,
    sites_from_features,
)

__all__ = ["export_videos", "make_sites"]

log = logging.getLogger(__name__)


def make_sites(
    *,
    start: Any,
    end: Any,
    region: Any = None,
    features: Any = None,
    n_sites: int | None = None,
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> list[Site]:
    """Sites from ``features`` (one per feature) or ``n_sites`` drawn uniformly over ``region``.

    Raises:
      AefValueError: neither (or both) of region/features, or a region without ``n_sites``.
      SiteError: see :mod:`aef_ee.videos.sites`.
    """
    period = parse_period(start, end)
    if (region is None) == (features is None):
        raise AefValueError("give exactly one of region (with n_sites) or features")
    if features is not None:
        return sites_from_features(features, period_ms=period, size=size, resolution_m=resolution_m,
                                   context_days=context_days)
    if not n_sites:
        raise AefValueError("a region needs n_sites (how many sites to sample)")
    return sample_uniform(region, n_sites, period_ms=period, size=size, resolution_m=resolution_m,
                          context_days=context_days, seed=seed)


def export_videos(
    out: str | os.PathLike[str],
    *,
    sources: Sequence[str] | str,
    sites: Sequence[Site] | None = None,
    start: Any = None,
    end: Any = None,
    region: Any = None,
    features: Any = None,
    n_sites: int | None = None,
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    layout: Literal["acquisitions", "composites"] = "acquisitions",
    composite: str = "monthly",
    reducer: str = "median",
    bands: Mapping[str, Sequence[str]] | None = None,
    cloud_mask: str = "auto",
    cs_threshold: float = 0.5,
    same_pass_s: float = 120.0,
    path: Literal["interactive", "batch", "convert"] = "interactive",
    bucket: str | None = None,
    prefix: str = "aef-videos",
    store: BucketStore | None = None,
    max_workers: int = 8,
    tile_size: int | None = None,
    max_concurrent_tasks: int = 10,
    wait: bool = True,
    sites_per_shard: int = 256,
    staging_dir: str | os.PathLike[str] | None = None,
    backend: PixelBackend | None = None,
    progress: bool = True,
) -> ExportResult | BatchResult:
    """Exports training videos; re-running with the same arguments resumes.

    Example::

        import aef_ee
        from aef_ee.videos.export.api import export_videos
        aef_ee.initialize(backend="local")
        export_videos("videos/", sources="s2,s1,era5,dem", region=(4.0, 50.5, 5.0, 51.0), n_sites=10,
                      start="2021-01-01", end="2022-01-01")

    Args:
      out: dataset directory, or ``gs://bucket/prefix`` (written under ``staging_dir`` then uploaded).
      sources: names from :mod:`aef_ee.videos.sources` (a list or a comma-separated string).
      sites: explicit sites; otherwise made by :func:`make_sites` from ``region``/``features``.
      path: ``interactive`` (computePixels), ``batch`` (start export tasks; with ``wait`` also converts) or
        ``convert`` (ingest a batch export's finished GeoTIFFs).
      bucket, prefix, store: batch outputs ``gs://<bucket>/<prefix>/<tile>.tif``, read through ``store``
        (default: google-cloud-storage with a cache under the staging directory).

    Returns:
      ExportResult of the written shards, or BatchResult when batch tasks were started without waiting.
    """
    request = ExportRequest(
        sources=tuple(sources.split(",")) if isinstance(sources, str) else tuple(sources), layout=layout,
        composite=composite, reducer=reducer, bands={k: tuple(v) for k, v in (bands or {}).items()},
        cloud_mask=cloud_mask, cs_threshold=cs_threshold, same_pass_s=same_pass_s,
    )
    upload_to = str(out) if str(out).startswith("gs://") else None
    local_out = Path(staging_dir or _staging_for(str(out))) if upload_to else Path(out)
    if path == "convert":
        result: ExportResult | BatchResult = convert_batch(local_out, store=_store(store, local_out),
                                                           sites_per_shard=sites_per_shard, progress=progress)
    else:
        if sites is None:
            sites = make_sites(start=start, end=end, region=region, features=features, n_sites=n_sites, size=size,
                               resolution_m=resolution_m, context_days=context_days, seed=seed)
        if path == "interactive":
            result = export_interactive(sites, request, local_out, backend=backend, max_workers=max_workers,
                                        tile_size=tile_size or 8, sites_per_shard=sites_per_shard, progress=progress)
        elif path == "batch":
            if not bucket:
                raise AefValueError("the batch path needs a bucket for Earth Engine's export tasks")
            bucket_store = _store(store, local_out)
            result = submit_batch(sites, request, local_out, bucket=bucket, prefix=prefix, store=bucket_store,
                                  tile_size=tile_size or 4, max_concurrent_tasks=max_concurrent_tasks, wait=wait,
                                  backend=backend, progress=progress)
            if wait:
                result = convert_batch(local_out, store=bucket_store, sites_per_shard=sites_per_shard,
                                       progress=progress)
        else:
            raise AefValueError(f"path must be 'interactive', 'batch' or 'convert'; got {path!r}")
    if upload_to and isinstance(result, ExportResult):
        upload_dir(local_out, upload_to)
    return result


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


