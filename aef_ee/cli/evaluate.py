"""``aef-ee evaluate``: the low-shot protocol on the user's own labels.

    aef-ee evaluate --labels points.csv --class-property landcover \\
        --representations google=columns:A00..A63 xy=columns:longitude,latitude --baselines xy --out results/

A representation is ``NAME=SOURCE``, where SOURCE is one of
``columns:SPEC`` (columns of the labels table, ``A00..A63`` ranges allowed), ``table:PATH`` (every numeric
column of another table with the same rows in the same order), ``npy:PATH`` (an (n_samples, n_features)
array in row order), ``ee:IMAGE_ID`` or ``ee:COLLECTION_ID@YEAR`` (sampled at the label points through Earth
Engine or the local engine, see ``--ee-backend``). Baselines (``--baselines NAME ...``) are z-scored.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from aef_ee.errors import AefKeyError, AefValueError
from aef_ee.evaluation import report
from aef_ee.evaluation.protocol import MAX_SHOT, ProtocolConfig, evaluate_classification, evaluate_regression
from aef_ee.evaluation.representations import (
    Representation,
    from_array,
    from_ee_image,
    from_table,
    read_table,
    standardize_columns,
)

__all__ = ["add_arguments", "main", "run"]

logger = logging.getLogger(__name__)

SOURCE_KINDS = ("columns", "table", "npy", "ee")


def _shot(value: str) -> int | str:
    if value == MAX_SHOT:
        return MAX_SHOT
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shot is an integer or {MAX_SHOT!r}, got {value!r}") from None


HELP = "run the low-shot evaluation protocol on labelled points"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` options to a (sub)parser."""
    parser.add_argument("--labels", required=True, type=Path, help="CSV or Parquet table, one row per sample")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--class-property", help="column with the class labels (classification)")
    target.add_argument("--regression-property", help="column with numeric targets (regression)")
    parser.add_argument("--representations", nargs="+", required=True, metavar="NAME=SOURCE",
                        help=f"sources: {', '.join(k + ':...' for k in SOURCE_KINDS)}")  # fmt: skip
    parser.add_argument("--baselines", nargs="*", default=[], metavar="NAME", help="representations to z-score")
    parser.add_argument("--out", required=True, type=Path, help="folder for scores.csv, caveats.csv and the plot")
    parser.add_argument("--dataset", default=None, help="dataset name in the results (default: labels file stem)")
    parser.add_argument("--shots", nargs="+", type=_shot, default=None,
                        help="default: 1 10 max (10 max for regression)")  # fmt: skip
    parser.add_argument("--max-shots", type=int, default=100, help="cap of the 'max' shot")
    parser.add_argument("--max-repeats", type=int, default=1000, help="repeat cap (decides the 1-shot count)")
    parser.add_argument("--min-class-size", type=int, default=2, help="smaller classes are dropped and reported")
    parser.add_argument("--min-eval-per-class", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lon-property", default="longitude", help="longitude column (else the .geo column)")
    parser.add_argument("--lat-property", default="latitude", help="latitude column (else the .geo column)")
    parser.add_argument("--ee-backend", choices=("local", "earthengine"), default="local")
    parser.add_argument("--ee-project", default=None, help="Cloud project for --ee-backend earthengine")
    parser.add_argument("--ee-scale", type=float, default=10.0, help="sampling scale of ee: sources (m)")
    parser.add_argument("--no-plot", action="store_true")


def _coordinates(table: pd.DataFrame, lon: str, lat: str) -> tuple[np.ndarray, np.ndarray]:
    if lon in table.columns and lat in table.columns:
        return table[lon].to_numpy(dtype=np.float64), table[lat].to_numpy(dtype=np.float64)
    if ".geo" in table.columns:  # Earth Engine CSV exports carry GeoJSON points
        points = [json.loads(g)["coordinates"] for g in table[".geo"]]
        return np.array([p[0] for p in points], dtype=np.float64), np.array([p[1] for p in points], dtype=np.float64)
    raise AefKeyError(f"no coordinates: columns {lon!r}/{lat!r} or '.geo' are not in the labels table")


def _ee_image(source: str):
    import ee

    image_id, _, year = source.partition("@")
    if not year:
        return ee.Image(image_id)
    year = int(year)
    return ee.ImageCollection(image_id).filterDate(f"{year}-01-01", f"{year + 1}-01-01").mosaic()


def _load_representation(spec: str, table: pd.DataFrame, args: argparse.Namespace) -> Representation:
    name, sep, source = spec.partition("=")
    kind, sep2, value = source.partition(":")
    if not sep or not sep2 or not name or kind not in SOURCE_KINDS:
        raise AefValueError(f"representation must be NAME=KIND:VALUE with KIND in {SOURCE_KINDS}, got {spec!r}")
    role = "baseline" if name in args.baselines else "embedding"
    z = role == "baseline"
    if kind == "columns":
        return from_table(table, value, name=name, kind=role, standardize=z, note=f"columns {value}")
    if kind == "table":
        other = read_table(value).select_dtypes("number")
        if len(other) != len(table):
            raise AefValueError(f"table {value!r} has {len(other)} rows, the labels have {len(table)}")
        return from_table(other, list(other.columns), name=name, kind=role, standardize=z, note=f"table {value}")
    if kind == "npy":
        values = np.load(value)
        if values.shape[0] != len(table):
            raise AefValueError(f"array {value!r} has {values.shape[0]} rows, the labels have {len(table)}")
        return from_array(name, values, kind=role, standardize=z, note=f"array {value}")
    lons, lats = _coordinates(table, args.lon_property, args.lat_property)
    rep = from_ee_image(_ee_image(value), lons, lats, name=name, scale=args.ee_scale, kind=role,
                        note=f"{value} sampled at {args.ee_scale:g} m ({args.ee_backend})")  # fmt: skip
    if z:
        values, _ = standardize_columns(np.where(rep.valid_rows[:, None], rep.values, np.nan))
        values[~rep.valid_rows] = np.nan  # masked points stay missing rather than imputed
        rep = Representation(rep.name, values, rep.feature_names, rep.kind, rep.note)
    return rep


def run(args: argparse.Namespace) -> int:
    """Run ``aef-ee evaluate`` with parsed arguments; returns the exit status."""
    table = read_table(args.labels)
    if any(spec.partition("=")[2].startswith("ee:") for spec in args.representations):
        from aef_ee.backend import initialize

        initialize(args.ee_backend, project=args.ee_project)
    representations = [_load_representation(spec, table, args) for spec in args.representations]
    unknown = sorted(set(args.baselines) - {r.name for r in representations})
    if unknown:
        raise AefValueError(f"--baselines names {unknown} are not among the representations")
    dataset = args.dataset or args.labels.stem
    settings = dict(max_shots=args.max_shots, max_repeats=args.max_repeats, min_class_size=args.min_class_size,
                    min_eval_per_class=args.min_eval_per_class, seed=args.seed, progress=True)  # fmt: skip
    if args.class_property is not None:
        if args.class_property not in table.columns:
            raise AefKeyError(f"class property {args.class_property!r} is not a column of {str(args.labels)!r}")
        config = ProtocolConfig(**settings, **({"shots": tuple(args.shots)} if args.shots else {}))
        labels = table[args.class_property].to_numpy(dtype=object)
        result = evaluate_classification(dataset, labels, representations, config)
    else:
        if args.regression_property not in table.columns:
            raise AefKeyError(
                f"regression property {args.regression_property!r} is not a column of {str(args.labels)!r}"
            )
        config = ProtocolConfig(**settings, shots=tuple(args.shots) if args.shots else (10, MAX_SHOT))
        targets = pd.to_numeric(table[args.regression_property], errors="coerce").to_numpy(dtype=np.float64)
        result = evaluate_regression(dataset, targets, representations, config)
    for path in report.write_result(result, args.out, plot=not args.no_plot):
        logger.info("wrote %s", path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m aef_ee.cli.evaluate`` (the same as ``aef-ee evaluate``)."""
    parser = argparse.ArgumentParser(prog="aef-ee evaluate", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main(sys.argv[1:]))
