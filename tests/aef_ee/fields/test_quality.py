"""The seam and checkerboard metrics on synthetic fields with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from aef_ee.errors import AefValueError
from aef_ee.fields.quality import period2_energy, seam_ratio


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _smooth(h: int = 64, w: int = 64, e: int = 8) -> np.ndarray:
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    k = np.arange(1, e + 1)
    return _unit(np.stack([np.cos(0.05 * k[i] * yy + 0.03 * k[i] * xx + i) for i in range(e)], -1) + 2.0)


def test_smooth_field_has_no_seam_and_no_checkerboard() -> None:
    field = _smooth()
    assert seam_ratio(field, 16) == pytest.approx(1.0, abs=0.05)
    assert period2_energy(field) < 1e-3


def test_pure_checkerboard_has_period2_energy_one() -> None:
    yy, xx = np.meshgrid(np.arange(10), np.arange(12), indexing="ij")
    field = np.stack([(-1.0) ** (yy + xx), (-1.0) ** yy, np.zeros_like(yy, float)], -1)
    assert period2_energy(field) == pytest.approx(1.0)


def test_checkerboard_share_is_the_variance_fraction() -> None:
    """Half the variance in a checkerboard, half in a pattern orthogonal to it -> 0.5."""
    yy, xx = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    smooth = np.cos(2 * np.pi * xx / 16)  # variance 0.5
    checker = np.sqrt(0.5) * (-1.0) ** (yy + xx)  # variance 0.5
    assert period2_energy(np.stack([smooth, checker], -1)) == pytest.approx(0.5, abs=1e-9)


def test_windows_with_offsets_show_seams_at_their_borders_only() -> None:
    rng = np.random.default_rng(0)
    base = _smooth(64, 64, 8)
    offsets = rng.normal(size=(4, 4, 8)) * 0.3
    field = _unit(base + np.repeat(np.repeat(offsets, 16, 0), 16, 1))
    assert seam_ratio(field, 16) > 5
    # The same field read with windows that are not its own shows no seam at those borders.
    assert seam_ratio(field, 16, origin=(8, 8)) < seam_ratio(field, 16) / 3


def test_two_pixel_blocks_of_the_data_are_not_seams() -> None:
    """A field made of 2 x 2 blocks (20 m data on a 10 m grid) changes only between blocks: no seam at 16 px."""
    rng = np.random.default_rng(1)
    field = _unit(np.repeat(np.repeat(rng.normal(size=(32, 32, 8)), 2, 0), 2, 1) + 3.0)
    assert seam_ratio(field, 16) == pytest.approx(1.0, abs=0.1)


def test_nodata_pixels_are_left_out() -> None:
    field = _smooth()
    field[:5] = np.nan
    assert np.isfinite(seam_ratio(field, 16)) and np.isfinite(period2_energy(field))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(AefValueError, match="window"):
        seam_ratio(_smooth(), 1)
    with pytest.raises(AefValueError, match="border"):
        seam_ratio(_smooth(8, 8), 16)
    with pytest.raises(AefValueError, match="shape"):
        period2_energy(np.zeros((4, 4)))
