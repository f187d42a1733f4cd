"""``aef-ee index build|update|query|info``: the vector index of an embedding collection (``aef_ee.search``)."""

from __future__ import annotations

import argparse
import json

__all__ = ["HELP", "add_arguments", "run"]

HELP = "build, update and query the vector index of an embedding collection"


def _backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", help="Earth Engine project (default: the local engine)")
    parser.add_argument("--url", help="URL of a running local engine (aef-ee serve)")
    parser.add_argument("--catalog", help="local engine catalog directory (default: the demo catalog)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="index_command", required=True)
    build = sub.add_parser("build", help="sample a collection and index it")
    build.add_argument("collection", help="e.g. projects/local/assets/sample_embeddings or "
                                          "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL")
    build.add_argument("--years", type=int, nargs="+", required=True)
    build.add_argument("--path", help="index folder (default: under the aef-ee cache)")
    build.add_argument("--sampling", choices=["stride", "mean"], default="mean",
                       help="the pixel at each cell's centre, or each cell's mean vector (default)")
    build.add_argument("--scale", type=float, default=100.0, help="cell size in metres, 10 to 1000 (default 100)")
    build.add_argument("--region", type=float, nargs=4, metavar=("W", "S", "E", "N"),
                       help="only tiles touching this box (degrees); needed for Google's global collection")
    build.add_argument("--method", choices=["auto", "exact", "ivf"], default="auto")
    build.add_argument("--probes", type=int, default=16, help="IVF cells scanned per query (default 16)")
    build.add_argument("--overwrite", action="store_true")
    _backend(build)
    build.set_defaults(index_func=_build)
    update = sub.add_parser("update", help="add the collection's new tiles (and --years) to an index")
    update.add_argument("path")
    update.add_argument("--years", type=int, nargs="+")
    _backend(update)
    update.set_defaults(index_func=_update)
    query = sub.add_parser("query", help="the places most similar to a point (through ee) or a vector")
    query.add_argument("path")
    where = query.add_mutually_exclusive_group(required=True)
    where.add_argument("--point", type=float, nargs=2, metavar=("LON", "LAT"))
    where.add_argument("--vector", help="64 comma-separated numbers (--vector=-0.1,0.2,... when it starts with -)")
    query.add_argument("--year", type=int, help="year of the point's embedding (default: the latest)")
    query.add_argument("-k", type=int, default=10)
    query.add_argument("--threshold", type=float)
    query.add_argument("--years", type=int, nargs="+", help="only hits of these years")
    query.add_argument("--region", type=float, nargs=4, metavar=("W", "S", "E", "N"))
    _backend(query)
    query.set_defaults(index_func=_query)
    info = sub.add_parser("info", help="print an index's manifest summary")
    info.add_argument("path")
    info.set_defaults(index_func=_info)


def run(args: argparse.Namespace) -> int:
    return int(args.index_func(args) or 0)


def _connect(args: argparse.Namespace) -> None:
    from aef_ee.backend import initialize

    if args.project:
        initialize("earthengine", project=args.project)
    else:
        initialize("local", url=args.url, catalog=args.catalog)


def _build(args: argparse.Namespace) -> int:
    from aef_ee.search import IvfParams, Sampling, build_index

    _connect(args)
    index = build_index(args.collection, years=args.years, path=args.path,
                        sampling=Sampling(args.sampling, args.scale), region=args.region, method=args.method,
                        ivf=IvfParams(probes=args.probes), overwrite=args.overwrite, progress=True)
    print(f"{index.path}: {len(index)} rows from {len(index.tiles)} tiles, years {index.years}, "
          f"search {index.ann.method}")
    return 0


def _update(args: argparse.Namespace) -> int:
    from aef_ee.search import update_index

    _connect(args)
    report = update_index(args.path, years=args.years, progress=True)
    print(f"{args.path}: {len(report.added)} tiles added ({report.rows_added} rows), generation "
          f"{report.generation}" + (f"; removed (no longer in the collection): {report.removed}"
                                     if report.removed else ""))
    return 0


def _query(args: argparse.Namespace) -> int:
    from aef_ee.errors import AefValueError
    from aef_ee.search import open_index

    index = open_index(args.path)
    if args.vector:
        try:
            where = [float(v) for v in args.vector.split(",")]
        except ValueError as exc:
            raise AefValueError(f"--vector must be 64 comma-separated numbers: {exc}") from exc
    else:
        _connect(args)
        where = tuple(args.point)
    result = index.query(where, year=args.year, k=args.k, threshold=args.threshold, years=args.years,
                         region=args.region)
    print(json.dumps(result.to_json(), indent=1))
    return 0


def _info(args: argparse.Namespace) -> int:
    from aef_ee.search.store import read_manifest

    manifest = read_manifest(args.path)
    summary = {k: manifest[k] for k in ("collection", "years", "sampling", "rows", "generation", "search",
                                        "created", "updated")}
    summary["tiles"] = len(manifest["tiles"])
    print(json.dumps(summary, indent=1))
    return 0
