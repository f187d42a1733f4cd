"""``aef-ee register COLLECTION_ID URI...``: register embedding COGs as an ImageCollection."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


HELP = "register embedding COGs as an Earth Engine ImageCollection"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("collection_id", help="e.g. projects/my-project/assets/aef_embeddings")
    parser.add_argument("uris", nargs="+", help="gs://bucket/path.tif (or local paths on the local engine)")
    parser.add_argument("--project", help="Earth Engine project (default: the local engine)")
    parser.add_argument("--url", help="URL of a running local engine (aef-ee serve)")
    parser.add_argument("--bucket-dir", help="local folder holding gs:// buckets (local engine)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.fields.register import register_embeddings
    from aef_ee.backend import initialize

    if args.project:
        initialize("earthengine", project=args.project)
    else:
        initialize("local", url=args.url, bucket_dir=args.bucket_dir)
    report = register_embeddings(args.collection_id, args.uris, bucket_dir=args.bucket_dir)
    print(f"{args.collection_id}: {len(report.created)} registered, {len(report.skipped)} already there"
          + (" (collection created)" if report.collection_created else ""))
    return 0
