"""``aef-ee embed``: annual embedding-field COGs from a checkpoint (needs the ``training`` extra)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="tiny", help="model config the checkpoint was trained with")
    parser.add_argument("--workdir", required=True, help="training workdir with checkpoints/")
    parser.add_argument("--data", required=True, help="the training video dataset (normalisation statistics)")
    parser.add_argument("--region", required=True, help="west,south,east,north in degrees")
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--out", required=True, help="output folder of COGs")
    parser.add_argument("--core", type=int, default=None, help="kept tile size, pixels")
    parser.add_argument("--margin", type=int, default=None, help="trimmed margin, pixels")
    parser.add_argument("--float32", action="store_true", help="write float32 instead of int8 codes")
    parser.add_argument("--project", help="Earth Engine project (default: the local engine)")


def run(args: argparse.Namespace) -> int:
    from aef_ee.errors import BackendError

    try:
        from training import fields
    except ImportError as exc:
        raise BackendError(f"aef-ee embed needs the model: pip install 'aef-ee[training]' ({exc})") from exc
    fields.run(args)
    return 0
