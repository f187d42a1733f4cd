"""``aef-ee serve``: the local Earth Engine in the foreground."""

from __future__ import annotations

import argparse

HELP = "run the local Earth Engine in the foreground"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog, built on first use)")
    parser.add_argument("--drive-dir", help="folder standing in for Google Drive (default: $AEF_EE_HOME/drive)")
    parser.add_argument("--bucket-dir", help="folder standing in for Cloud Storage (default: $AEF_EE_HOME/buckets)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.local.server import serve

    catalog = args.catalog
    if catalog is None:
        from aef_ee.demo.catalog import build_demo_catalog, default_catalog_dir

        catalog = build_demo_catalog(default_catalog_dir())
    from aef_ee.backend import local_settings

    settings = local_settings(drive_dir=args.drive_dir, bucket_dir=args.bucket_dir)
    serve(catalog, host=args.host, port=args.port, **settings)
    return 0
