"""Per-pixel image operations (aef_ee.local.algorithms.image_ops) through the real earthengine-api client."""

from __future__ import annotations

import math

import pytest


def _first(ee, image) -> dict:
    """The image's value at one point, per band (constant images have the same value everywhere)."""
    return image.reduceRegion(ee.Reducer.first(), ee.Geometry.Point([0.5, 0.5]), 1000).getInfo()


def test_erf_matches_math_erf(ee):
    xs = [-1.5, 0.0, 0.3, 2.0]
    image = ee.Image.constant(xs).erf()
    got = image.reduceRegion(ee.Reducer.first(), ee.Geometry.Point([0.5, 0.5]), 1000).getInfo()
    assert got == pytest.approx({f"constant_{i}": math.erf(x) for i, x in enumerate(xs)}, rel=1e-12)
    assert image.bandTypes().getInfo()["constant_0"] == {"type": "PixelType", "precision": "double"}
    # Double constants stay double; an integer band becomes float32, as Earth Engine's math functions do.
    as_int = ee.Image.constant(1).toUint8().erf()
    assert as_int.bandTypes().getInfo()["constant"] == {"type": "PixelType", "precision": "float"}
    assert _first(ee, as_int)["constant"] == pytest.approx(math.erf(1.0), rel=1e-6)


def test_erf_keeps_the_mask(ee):
    masked = ee.Image.constant(0.5).updateMask(ee.Image.constant(0)).erf()
    assert _first(ee, masked) == {"constant": None}
