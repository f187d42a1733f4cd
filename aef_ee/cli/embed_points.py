"""``aef-ee embed-points``: per-point time series (a table) -> a row-aligned table of 64-D embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "embed per-point time series (long/wide tables, Earth Engine CSV exports, WorldCereal extractions)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", help=".csv or .parquet of per-point series (see aef_ee_training.points)")
    parser.add_argument("--workdir", default=None,
                        help="checkpoint workdir with inference.json (default: the shipped tiny checkpoint)")
    parser.add_argument("--out", required=True, help="output .parquet or .csv: columns A00..A63, one row per point")
    parser.add_argument("--sensor", default=None, help="source of a long table without a 'sensor' column (e.g. s2)")
    parser.add_argument("--period", default=None, help="START,END ISO dates of the valid period "
                        "(default: the year from each point's first observation)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.atomic import atomic_path
    from aef_ee.errors import BackendError

    try:
        from aef_ee_training.points import embed_points
    except ImportError as exc:
        raise BackendError(f"aef-ee embed-points needs the model: pip install 'aef-ee[training]' ({exc})") from exc
    workdir = args.workdir
    if workdir is None:
        from aef_ee.cli.demo import shipped_checkpoint

        workdir = shipped_checkpoint()
    period = tuple(args.period.split(",")) if args.period else None
    table = embed_points(args.table, workdir=workdir, sensor=args.sensor, period=period, progress=True)
    out = Path(args.out)
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            table.to_csv(tmp)
        else:
            table.to_parquet(tmp)
    missing = int(table.isna().any(axis=1).sum())
    print(f"{len(table)} points embedded ({missing} without a usable observation) -> {out}")
    return 0
