"""``aef-ee export-videos``: training videos from Earth Engine collections, resumable.

Examples::

    # 20 sites over a bbox of Belgium from the local engine's demo catalog, interactive path:
    aef-ee export-videos --backend local --region 4.0,50.5,5.0,51.0 --sources s2,s1,era5,dem \\
        --start 2020-11-01 --end 2021-11-01 --sites 20 --out videos/

    # Earth Engine, batch tasks into a bucket, then conversion to shards (re-run to resume):
    aef-ee export-videos --project my-project --features sites.geojson --sources s2,s1,landsat \\
        --start 2023-01-01 --end 2024-01-01 --path batch --bucket my-bucket --out videos/
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from aef_ee.errors import AefValueError

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def _bbox_or_file(text: str) -> Any:
    parts = text.split(",")
    if len(parts) == 4:
        try:
            return tuple(float(p) for p in parts)
        except ValueError:
            pass
    path = Path(text)
    if path.suffix.lower() in (".json", ".geojson") and path.exists():
        return json.loads(path.read_text())
    return text  # an Earth Engine table asset ID, read once ee is initialised


def _bands(values: list[str] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for value in values or []:
        if "=" not in value:
            raise AefValueError(f"--bands takes SOURCE=BAND,BAND...; got {value!r}")
        source, bands = value.split("=", 1)
        out[source.strip()] = tuple(b.strip() for b in bands.split(",") if b.strip())
    return out


HELP = "export training videos from Earth Engine collections"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the export-videos options to ``parser``."""
    where = parser.add_argument_group("where and when")
    where.add_argument("--region", type=_bbox_or_file,
                       help="west,south,east,north (degrees), a GeoJSON file, or a table asset ID")
    where.add_argument("--features", type=_bbox_or_file,
                       help="one site per feature: a GeoJSON file or a table asset ID (instead of --region)")
    where.add_argument("--sites", type=int, help="number of sites drawn uniformly over --region")
    where.add_argument("--start", help="period start, ISO date (default: Jan 1 of --year)")
    where.add_argument("--end", help="period end (exclusive), ISO date (default: Jan 1 after --year)")
    where.add_argument("--year", type=int, help="one calendar year as the period")
    where.add_argument("--context-days", type=float, default=0.0, help="frames also exported before/after")
    where.add_argument("--site-size", type=int, default=128, help="L, pixels per side (default 128)")
    where.add_argument("--resolution", type=float, default=10.0, help="metres per pixel (default 10)")
    where.add_argument("--seed", type=int, default=0, help="sampling seed (keep it to resume)")

    what = parser.add_argument_group("what")
    what.add_argument("--sources", required=True, help="comma-separated, e.g. s2,s1,landsat,era5,dem")
    what.add_argument("--bands", action="append", metavar="SOURCE=B,B", help="keep only these bands of a source")
    what.add_argument("--layout", choices=("acquisitions", "composites"), default="acquisitions")
    what.add_argument("--composite", default="monthly", help="composites' bin: monthly or <N>d (default monthly)")
    what.add_argument("--reducer", default="median", choices=("median", "mean", "min", "max", "mosaic"))
    what.add_argument("--cloud-mask", default="auto", choices=("auto", "cs_plus", "scl", "qa60", "none"))
    what.add_argument("--cs-threshold", type=float, default=0.5, help="Cloud Score+ cs_cdf threshold")
    what.add_argument("--same-pass-s", type=float, default=120.0,
                      help="acquisitions: images this close in time are one pass, one frame (0: never merge)")

    how = parser.add_argument_group("how")
    how.add_argument("--out", required=True, help="dataset directory or gs://bucket/prefix")
    how.add_argument("--path", choices=("interactive", "batch", "convert"), default="interactive")
    how.add_argument("--workers", type=int, default=8, help="concurrent computePixels requests")
    how.add_argument("--tile-size", type=int, help="sites per tile side (default 8 interactive, 4 batch)")
    how.add_argument("--sites-per-shard", type=int, default=256)
    how.add_argument("--bucket", help="batch: Cloud Storage bucket for the export tasks")
    how.add_argument("--prefix", default="aef-videos", help="batch: object prefix in the bucket")
    how.add_argument("--bucket-dir", help="batch: a local folder standing in for buckets (the local engine's)")
    how.add_argument("--max-tasks", type=int, default=10, help="batch: export tasks running at once")
    how.add_argument("--no-wait", action="store_true", help="batch: start tasks and return")
    how.add_argument("--runner", help="interactive path as an Apache Beam pipeline on this runner: direct, prism "
                     "or dataflow (needs aef-ee[beam]; see docs/scale.md)")
    how.add_argument("--beam-option", action="append", default=[], metavar="--NAME=VALUE",
                     help="with --runner: a Beam pipeline option, e.g. --beam-option=--region=us-central1")

    engine = parser.add_argument_group("engine")
    engine.add_argument("--backend", choices=("local", "earthengine"),
                        help="default: earthengine with --project, else local")
    engine.add_argument("--project", help="Google Cloud project for Earth Engine")
    engine.add_argument("--catalog", help="local engine catalog (default: the demo catalog)")
    engine.add_argument("--url", help="an already running local engine (aef-ee serve)")


def run(args: argparse.Namespace) -> int:
    """Runs the export described by ``args``; prints a one-line summary."""
    from aef_ee.backend import initialize
    from aef_ee.videos.export import (BatchResult, ExportOptions, ExportRequest, LocalBucketStore, SiteSampling,
                                      export_videos)

    # Every option is checked (values quoted) before the engine starts.
    request = ExportRequest(
        sources=args.sources, layout=args.layout, composite=args.composite, reducer=args.reducer,
        bands=_bands(args.bands), cloud_mask=args.cloud_mask, cs_threshold=args.cs_threshold,
        same_pass_s=args.same_pass_s,
    )
    options = ExportOptions(
        path=args.path, bucket=args.bucket, prefix=args.prefix,
        store=LocalBucketStore(args.bucket_dir) if args.bucket_dir else None, max_workers=args.workers,
        tile_size=args.tile_size, max_concurrent_tasks=args.max_tasks, wait=not args.no_wait,
        sites_per_shard=args.sites_per_shard,
    )
    start, end = args.start, args.end
    if args.year is not None:
        start, end = start or f"{args.year:04d}-01-01", end or f"{args.year + 1:04d}-01-01"
    if args.path != "convert" and not (start and end):
        raise AefValueError("give --start and --end, or --year")
    settings = {"bucket_dir": args.bucket_dir} if args.bucket_dir and not args.url else {}
    # As the other commands: Earth Engine with --project, else the local engine (--url: an already running one).
    backend = args.backend or ("earthengine" if args.project else "local")
    server = initialize(backend, project=args.project, catalog=args.catalog, url=args.url, **settings)
    sampling = None
    if args.path != "convert":  # convert reads the sites recorded by the batch run
        region, features = args.region, args.features
        if isinstance(region, str) or isinstance(features, str):
            import ee

            region = ee.FeatureCollection(region) if isinstance(region, str) else region
            features = ee.FeatureCollection(features) if isinstance(features, str) else features
        sampling = SiteSampling(
            start=start, end=end, region=region, features=features, n_sites=args.sites, size=args.site_size,
            resolution_m=args.resolution, context_days=(args.context_days, args.context_days), seed=args.seed,
        )
    if args.runner:
        result = _run_beam(args, request, sampling, server, backend)
    else:
        result = export_videos(args.out, request, sampling, options=options)
    if isinstance(result, BatchResult):
        print(f"batch: {result.tiles_started} tasks started, {result.tiles_skipped} tiles already exported, "
              f"{result.tiles_active} running; re-run with --path convert when they finish")
    else:
        print(f"{result.sites_written} sites written ({result.sites_skipped} already there, {result.sites_empty} "
              f"without data), {result.frames_written} frames, {result.sites_per_second:.2f} sites/s -> "
              f"{result.out_dir}")
    return 0


def _run_beam(args: argparse.Namespace, request: Any, sampling: Any, server: Any, backend: str) -> Any:
    """``--runner``: the interactive path as a Beam pipeline (aef_ee.videos.export.beam), workers reconnected
    to the same engine."""
    from aef_ee.videos.export.beam import EngineConnection, export_beam

    if args.path != "interactive" or sampling is None:
        raise AefValueError(f"--runner runs the interactive path; got --path {args.path}")
    if backend == "earthengine":
        connection = EngineConnection("earthengine", project=args.project)
    elif server is not None:
        connection = EngineConnection("local", url=server.url, token=server.token)
    else:
        connection = EngineConnection("local", url=args.url)
    return export_beam(sampling.sites(), request, args.out, runner=args.runner, pipeline_args=args.beam_option,
                       connection=connection, max_workers=args.workers,
                       tile_size=args.tile_size or 8, sites_per_shard=args.sites_per_shard)
