"""``aef-ee demo``: the mission end to end, offline, on the embedded local Earth Engine.

Stages run so far: start the local engine on the demo catalog and run the worked Earth Engine example
(:mod:`aef_ee.quickstart`). The export -> train -> embed -> register -> use stages are added as they land.
"""

from __future__ import annotations

import argparse
import time

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog, built on first use)")
    parser.add_argument("--out", default="outputs/demo", help="where the demo writes its outputs")


def run(args: argparse.Namespace) -> int:
    from aef_ee.backend import initialize
    from aef_ee.quickstart import run_quickstart

    started = time.time()
    server = initialize("local", catalog=args.catalog)
    print(f"[1/1] local Earth Engine at {server.url} serving {server.catalog.root}")
    run_quickstart()
    print(f"done in {time.time() - started:.1f} s")
    return 0
