"""Visualisation parameters of the explorer's layers (Earth Engine ``visParams``) and their colours."""

from __future__ import annotations

from aef_ee.ops.clustering import DEFAULT_PALETTE

__all__ = [
    "EMBEDDING_VIS",
    "SIMILARITY_VIS",
    "CHANGE_VIS",
    "CLASS_PALETTE",
    "class_vis",
]

# Three embedding axes shown as RGB, as in the dataset's own examples; most values lie within +-0.3.
EMBEDDING_VIS = {"bands": ["A01", "A16", "A09"], "min": -0.3, "max": 0.3}
# Similarity (a cosine) from 0 (unrelated) to 1 (same direction): dark blue to yellow.
SIMILARITY_VIS = {"min": 0.0, "max": 1.0, "palette": ["0d0887", "7e03a8", "cc4778", "f89540", "f0f921"]}
# Changed pixels (band ``changed`` == 1, the rest masked) in red.
CHANGE_VIS = {"min": 0, "max": 1, "palette": ["ff0000", "ff0000"]}
CLASS_PALETTE = list(DEFAULT_PALETTE)


def class_vis(n_classes: int) -> dict[str, object]:
    """``visParams`` for an integer class image with values 0..n_classes-1, one palette colour per class."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive; got {n_classes!r}")
    palette = [CLASS_PALETTE[i % len(CLASS_PALETTE)] for i in range(n_classes)]
    # A one-class palette still needs two stops for Earth Engine.
    return {"min": 0, "max": max(n_classes - 1, 1), "palette": palette if n_classes > 1 else palette * 2}
