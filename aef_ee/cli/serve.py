"""``aef-ee serve``: the local Earth Engine in the foreground.

It prints the URL with its token and the ``ee.Initialize(...)`` line to connect with; see
:mod:`aef_ee.local.security` for what the token, the Host check and the allowed origins guard.
"""

from __future__ import annotations

import argparse

HELP = "run the local Earth Engine in the foreground"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; another address needs --allow-remote)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog, built on first use)")
    parser.add_argument("--drive-dir", help="folder standing in for Google Drive (default: $AEF_EE_HOME/drive)")
    parser.add_argument("--bucket-dir", help="folder standing in for Cloud Storage (default: $AEF_EE_HOME/buckets)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host that other machines can reach (the token is then the only guard)")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="a browser origin (http://host:port) whose pages may call the API and read its "
                             "answers; repeatable (default: none)")
    parser.add_argument("--allow-dir", action="append", default=[], metavar="DIR",
                        help="a folder whose GeoTIFFs requests may name (ingestion, loadGeoTIFF) besides the "
                             "catalog and the bucket folder; repeatable")
    parser.add_argument("--allow-network-uris", action="store_true",
                        help="let requests name GDAL network and virtual paths (/vsicurl/, https://, ...)")
    parser.add_argument("--workers", type=int, default=None,
                        help="compute workers (default: the number of cores plus one)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.local.server import Limits, serve

    catalog = args.catalog
    if catalog is None:
        from aef_ee.demo.catalog import build_demo_catalog, default_catalog_dir

        catalog = build_demo_catalog(default_catalog_dir())
    from aef_ee.backend import local_settings

    settings = local_settings(drive_dir=args.drive_dir, bucket_dir=args.bucket_dir)
    if args.allow_dir:
        settings["image_dirs"] = list(args.allow_dir)
    if args.allow_network_uris:
        settings["allow_network_uris"] = True
    limits = Limits(workers=args.workers) if args.workers else None
    serve(catalog, host=args.host, port=args.port, allowed_origins=args.allow_origin, allow_remote=args.allow_remote,
          limits=limits, **settings)
    return 0
