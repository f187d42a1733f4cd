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
    "embed-points": "embed_points",
    "register": "register",
    "evaluate": "evaluate",
    "index": "index",
    "api": "api",
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
    from aef_ee.errors import AefError

    command = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or 0)
    except AefError as exc:
        print(f"aef-ee: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C is how a long command is stopped, not a bug: one line instead of a traceback through whatever was
        # running (the line starts on its own, after a progress bar or the terminal's ^C). Commands that skip what
        # an earlier run finished say so. 130 = 128 + SIGINT, what a shell reports for it.
        resumable = {"export-videos", "embed", "register", "demo"}
        then = "; re-run the same command to resume (finished work is kept)" if command in resumable else ""
        print(f"\naef-ee{' ' + command if command else ''}: interrupted{then}", file=sys.stderr)
        # Worker threads still finishing the request they were on when the signal came (their results are dropped)
        # may log on their way out; that is noise after the command's last word. Errors still show.
        logging.disable(logging.WARNING)
        return 130


if __name__ == "__main__":
    sys.exit(main())
