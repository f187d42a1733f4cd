"""The ``aef-ee`` command line: serve, catalog, quickstart, demo, export-videos, evaluate, embed, register."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

# Subcommands implemented in their own modules: name -> (module, help). Each module offers
# add_arguments(parser) and run(args) -> int.
_PLUGGED = {
    "export-videos": ("aef_ee.export.cli", "export training videos from Earth Engine collections"),
    "evaluate": ("aef_ee.evaluation.cli", "run the low-shot evaluation protocol on labelled points"),
    "embed": ("aef_ee.embed_cli", "write annual embedding-field COGs from a checkpoint"),
    "register": ("aef_ee.assets_cli", "register embedding COGs as an Earth Engine ImageCollection"),
    "demo": ("aef_ee.demo", "the whole mission, offline, on the embedded local engine"),
}


def _serve(args: argparse.Namespace) -> int:
    from aef_ee.local.server import serve

    catalog = args.catalog
    if catalog is None:
        from aef_ee.local.demo_catalog import build_demo_catalog, default_catalog_dir

        catalog = build_demo_catalog(default_catalog_dir())
    settings = {k: v for k, v in (("drive_dir", args.drive_dir), ("bucket_dir", args.bucket_dir)) if v}
    serve(catalog, host=args.host, port=args.port, **settings)
    return 0


def _catalog_add(args: argparse.Namespace) -> int:
    from aef_ee.local.catalog_add import add_to_catalog, parse_properties, parse_time_range

    time_start, time_end = parse_time_range(args.time) if args.time else (None, None)
    record = add_to_catalog(
        _catalog_root(args), args.asset_id, args.file, time_start=time_start, time_end=time_end,
        properties=parse_properties(args.property or []), overwrite=args.overwrite,
    )
    print(f"added {record.type} {record.id}")
    return 0


def _catalog_demo(args: argparse.Namespace) -> int:
    from aef_ee.local.demo_catalog import build_demo_catalog

    root = build_demo_catalog(_catalog_root(args), force=args.force)
    print(f"demo catalog ready at {root}")
    return 0


def _catalog_list(args: argparse.Namespace) -> int:
    from aef_ee.local.catalog import Catalog

    catalog = Catalog(_catalog_root(args))
    for record in catalog.list_children(args.parent):
        print(f"{record.type:17s} {record.id}")
    return 0


def _catalog_root(args: argparse.Namespace) -> Path:
    if args.catalog:
        return Path(args.catalog)
    from aef_ee.local.demo_catalog import default_catalog_dir

    return default_catalog_dir()


def _quickstart(args: argparse.Namespace) -> int:
    from aef_ee.backend import initialize
    from aef_ee.quickstart import run_quickstart

    server = initialize("local", catalog=args.catalog)
    print(f"local Earth Engine at {server.url}, catalog {server.catalog.root}")
    run_quickstart()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aef-ee", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local Earth Engine in the foreground")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument("--catalog", help="catalog directory (default: the demo catalog, built on first use)")
    serve.add_argument("--drive-dir", help="folder standing in for Google Drive exports")
    serve.add_argument("--bucket-dir", help="folder standing in for Cloud Storage buckets")
    serve.set_defaults(func=_serve)

    catalog = sub.add_parser("catalog", help="manage the local catalog")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    add = catalog_sub.add_parser("add", help="add a GeoTIFF, CSV (.geo column), GeoJSON or GeoPackage")
    add.add_argument("asset_id", help="e.g. projects/local/assets/my_image")
    add.add_argument("file")
    add.add_argument("--time", help="START[/END] as ISO dates, e.g. 2024-01-01/2025-01-01")
    add.add_argument("--property", action="append", metavar="KEY=VALUE", help="a property (numbers parsed)")
    add.add_argument("--overwrite", action="store_true", help="replace an existing asset with that ID")
    add.add_argument("--catalog", help="catalog directory (default: the demo catalog)")
    add.set_defaults(func=_catalog_add)
    demo = catalog_sub.add_parser("demo", help="build the demo catalog from the repository's data/")
    demo.add_argument("--catalog", help="where to build it (default: the cache directory)")
    demo.add_argument("--force", action="store_true", help="rebuild even if it exists")
    demo.set_defaults(func=_catalog_demo)
    ls = catalog_sub.add_parser("list", help="list the assets under a folder or collection")
    ls.add_argument("parent", nargs="?", default="projects/local/assets")
    ls.add_argument("--catalog")
    ls.set_defaults(func=_catalog_list)

    quick = sub.add_parser("quickstart", help="start the local engine and run a worked Earth Engine example")
    quick.add_argument("--catalog", help="catalog directory (default: the demo catalog)")
    quick.set_defaults(func=_quickstart)

    for name, (module_name, help_text) in _PLUGGED.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of the project is not installed / not built yet
            raise
        plugged = sub.add_parser(name, help=help_text)
        module.add_arguments(plugged)
        plugged.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from aef_ee.errors import AefError

    try:
        return int(args.func(args) or 0)
    except AefError as exc:
        print(f"aef-ee: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
