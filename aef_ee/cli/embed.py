"""``aef-ee embed``: annual embedding-field COGs from a checkpoint (needs the ``training`` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


HELP = "write annual embedding-field COGs from a checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None,
                        help="model config the checkpoint was trained with (default: the workdir's inference.json)")
    parser.add_argument("--workdir", required=True, help="training workdir with checkpoints/")
    parser.add_argument("--data", default=None,
                        help="a training video dataset for its normalisation statistics (default: the workdir's "
                             "inference.json; needed only for workdirs written without it)")
    parser.add_argument("--region", required=True, help="west,south,east,north in degrees")
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--out", required=True,
                        help="where the COGs go: a folder, or gs://bucket/prefix (written locally, then uploaded)")
    parser.add_argument("--core", type=int, default=None, help="kept tile size, pixels")
    parser.add_argument("--margin", type=int, default=None, help="trimmed margin, pixels")
    parser.add_argument("--float32", action="store_true", help="write float32 instead of int8 codes")
    parser.add_argument("--project", help="Earth Engine project (default: the local engine)")
    parser.add_argument("--runner", default="loop",
                        help="loop (default: this process) or an Apache Beam runner fanning the tiles out over its "
                             "workers: direct, prism or dataflow (needs aef-ee[beam]; same COGs as the loop)")
    parser.add_argument("--workers", type=int, default=2,
                        help="with --runner direct: worker threads (requests in flight, tiles embedded at once)")
    parser.add_argument("--register", metavar="COLLECTION_ID",
                        help="then register every COG of --out as images of this ImageCollection (created if "
                             "needed), e.g. projects/my-project/assets/aef_fields; with --project, --out must be "
                             "gs://")
    parser.add_argument("--beam-option", action="append", default=[], metavar="--NAME=VALUE",
                        help="with --runner: a Beam pipeline option, e.g. --beam-option=--region=us-central1")


def run(args: argparse.Namespace) -> int:
    import aef_ee
    from aef_ee.backend import require_extra
    from aef_ee.errors import BackendError

    try:
        from aef_ee_training.fields import LOOP, embed_region
        from aef_ee_training.train import get_config
    except ImportError as exc:
        raise BackendError(f"aef-ee embed needs the model: pip install 'aef-ee[training]' ({exc})") from exc
    beam = args.runner != LOOP
    if beam:
        require_extra("beam", "aef-ee embed --runner")  # before starting an engine
    _check_registration(args)
    # The local engine reads images only from the folders it is allowed: a local --out is one when it is registered.
    local = {} if args.project or not args.register else {"image_dirs": [str(Path(args.out).resolve())]}
    server = aef_ee.initialize("earthengine" if args.project else "local", project=args.project, **local)
    region = [float(v) for v in args.region.split(",")]
    # A Beam run's workers load the config by name; the loop takes it as an object.
    config = args.config if beam else (get_config(args.config) if args.config else None)
    report = embed_region(workdir=args.workdir, config=config, training_data=args.data, region=region,
                          year=args.year, out_dir=args.out, core=args.core, margin=args.margin,
                          quantize=not args.float32, runner=args.runner, pipeline_args=args.beam_option,
                          connection=_connection(args, server) if beam else None, max_workers=args.workers)
    print(f"{len(report.written)} tiles written, {len(report.skipped)} already there, {len(report.empty)} empty; "
          f"{report.pixels_per_second:.0f} pixels/s")

    def fmt(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    print(f"seams (border / interior discontinuity; 1 = invisible): tiles {fmt(report.seam_ratio_tiles, 2)}, "
          f"model windows {fmt(report.seam_ratio_windows, 2)}; period-2 energy {fmt(report.period2_energy, 4)}")
    if args.register:
        from aef_ee.fields.register import register_embeddings

        registered = register_embeddings(args.register, sorted(report.written + report.skipped))
        print(f"{args.register}: {len(registered.created)} registered, {len(registered.skipped)} already there"
              + (" (collection created)" if registered.collection_created else ""))
    return 0


def _check_registration(args: argparse.Namespace) -> None:
    """--register needs COGs the engine can read: Earth Engine reads Cloud Storage, the local engine local files.

    Raises:
      AefValueError: the pairing cannot work; the message names the fix.
    """
    from aef_ee.errors import AefValueError
    from aef_ee.fields.output import is_gs_url

    if not args.register:
        return
    if args.project and not is_gs_url(args.out):
        raise AefValueError(f"--register with --project: Earth Engine registers COGs from Cloud Storage, and --out "
                            f"{args.out!r} is a local folder; write to --out gs://BUCKET/PREFIX")
    if not args.project and is_gs_url(args.out):
        raise AefValueError(f"--register on the local engine: it reads local files, and --out {args.out!r} is in "
                            "Cloud Storage; write to a local folder, or register on Earth Engine with --project")


def _connection(args: argparse.Namespace, server: Any) -> Any:
    """How the Beam workers reconnect to the engine this command initialised."""
    from aef_ee.videos.export.beam import EngineConnection

    if args.project:
        return EngineConnection("earthengine", project=args.project)
    return EngineConnection("local", url=server.url, token=server.token)
