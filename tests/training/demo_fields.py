"""The demo patch's embedding field, as the field tests share it: the shipped checkpoint, the region, and a check
that two COGs are the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

__all__ = ["REPO", "CHECKPOINT", "REGION", "assert_same_cog"]

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "training" / "checkpoints" / "tiny-belgium"
REGION = (5.3189, 50.6289, 5.3334, 50.6375)  # the demo patch: 6 tiles of 64 px


def assert_same_cog(a: Path, b: Path) -> None:
    """Same profile, tags, band names, overviews and pixels, and then the same bytes."""
    with rasterio.open(a) as da, rasterio.open(b) as db:
        assert da.profile == db.profile and da.tags() == db.tags() and da.descriptions == db.descriptions
        assert da.overviews(1) == db.overviews(1)
        np.testing.assert_array_equal(da.read(), db.read(), err_msg=a.name)
    assert a.read_bytes() == b.read_bytes(), a.name
