"""The ``aef-ee`` command line: one module per command, each with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``.

This is the only layer that may import the model package (``aef_ee_training``); the library never imports
``aef_ee.cli``. Every command module is imported when the parser is built, so a broken module fails at once
rather than disappearing from ``--help``; commands that need an optional extra import it inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

DESCRIPTION = "AlphaEarth-style embedding fields for Earth Engine, with an embedded local Earth Engine."
# Command name -> module under aef_ee.cli.
COMMANDS = {
    "serve": "serve",
    "catalog": "catalog",
    "quickstart": "quickstart",
    "demo": "demo",
    "export-videos": "export_videos",
    "embed": "embed",
    "register": "register",
    "evaluate": "evaluate",
}


def build_parser() -> argparse.ArgumentParser:
    """The full parser; raises ImportError if any command module cannot be imported."""
    parser = argparse.ArgumentParser(prog="aef-ee", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        command = sub.add_parser(name, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
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
