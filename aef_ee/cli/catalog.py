"""``aef-ee catalog add|demo|list``: manage a local engine's catalog directory."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "manage the local catalog"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="catalog_command", required=True)
    add = sub.add_parser("add", help="add a GeoTIFF, CSV (.geo column), GeoJSON or GeoPackage")
    add.add_argument("asset_id", help="e.g. projects/local/assets/my_image")
    add.add_argument("file")
    add.add_argument("--time", help="START[/END] as ISO dates, e.g. 2024-01-01/2025-01-01")
    add.add_argument("--property", action="append", metavar="KEY=VALUE", help="a property (numbers parsed)")
    add.add_argument("--overwrite", action="store_true", help="replace an existing asset with that ID")
    add.add_argument("--collection", action="store_true",
                     help="the parent is an ImageCollection: create it as one if missing (rasters only)")
    add.add_argument("--catalog", help="catalog directory (default: the demo catalog)")
    add.set_defaults(catalog_func=_add)
    demo = sub.add_parser("demo", help="build the demo catalog from the repository's data/")
    demo.add_argument("--catalog", help="where to build it (default: the cache directory)")
    demo.add_argument("--force", action="store_true", help="rebuild even if it exists")
    demo.set_defaults(catalog_func=_demo)
    listing = sub.add_parser("list", help="list the assets under a folder or collection")
    listing.add_argument("parent", nargs="?", default="projects/local/assets")
    listing.add_argument("--catalog")
    listing.set_defaults(catalog_func=_list)


def run(args: argparse.Namespace) -> int:
    return int(args.catalog_func(args) or 0)


def _add(args: argparse.Namespace) -> int:
    from aef_ee.local.catalog_add import add_to_catalog, parse_properties, parse_time_range

    time_start, time_end = parse_time_range(args.time) if args.time else (None, None)
    record = add_to_catalog(
        _root(args), args.asset_id, args.file, time_start=time_start, time_end=time_end,
        properties=parse_properties(args.property or []), overwrite=args.overwrite, collection=args.collection,
    )
    print(f"added {record.type} {record.id}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from aef_ee.demo.catalog import build_demo_catalog

    root = build_demo_catalog(_root(args), force=args.force)
    print(f"demo catalog ready at {root}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from aef_ee.local.catalog import Catalog

    for record in Catalog(_root(args)).list_children(args.parent):
        print(f"{record.type:17s} {record.id}")
    return 0


def _root(args: argparse.Namespace) -> Path:
    if args.catalog:
        return Path(args.catalog)
    from aef_ee.demo.catalog import default_catalog_dir

    return default_catalog_dir()
