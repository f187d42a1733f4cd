"""``aef-ee quickstart``: start the local engine and run a worked Earth Engine example."""

from __future__ import annotations

import argparse

HELP = "start the local engine and run a worked Earth Engine example"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.backend import initialize
    from aef_ee.demo.quickstart import run_quickstart

    server = initialize("local", catalog=args.catalog)
    print(f"local Earth Engine at {server.url}, catalog {server.catalog.root}")
    run_quickstart()
    return 0
