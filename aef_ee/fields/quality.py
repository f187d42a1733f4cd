"""Seam and checkerboard metrics of an embedding field (numpy only).

- :func:`seam_ratio`: mean cosine discontinuity ``1 - <e(p), e(q)>`` between 4-neighbours that straddle an inference
  window border, divided by the same mean over neighbours inside windows (at the same pixel parity as the borders,
  for even windows: 20 m data resampled to 10 m changes mostly between 2-pixel blocks). 1 means the window grid is
  invisible; a field stitched from independently embedded windows shows values well above 1.
- :func:`period2_energy`: the fraction of the field's variance (mean removed per channel) in the 2 x 2 phase
  pattern, i.e. at the Nyquist frequencies (pi, 0), (0, pi), (pi, pi). A depth-to-space upsampler leaves a fixed
  2-pixel checkerboard here; white noise over N pixels gives about 3 / N.

Fields are (H, W, E) float arrays of unit vectors; NaN marks nodata pixels, which are left out.
"""

from __future__ import annotations

import numpy as np

from aef_ee.errors import AefValueError

__all__ = ["seam_ratio", "period2_energy", "neighbour_discontinuity"]


def _check(field: np.ndarray) -> np.ndarray:
    field = np.asarray(field, np.float64)
    if field.ndim != 3 or min(field.shape[:2]) < 2:
        raise AefValueError(f"field must be (H, W, E) with H, W >= 2; got shape {field.shape!r}")
    return field


def neighbour_discontinuity(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 - cos`` between each pixel and its right neighbour (H, W-1) and its lower neighbour (H-1, W); NaN where
    either pixel is nodata."""
    field = _check(field)
    norm = np.linalg.norm(field, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = field / norm
    horizontal = 1.0 - np.sum(unit[:, 1:] * unit[:, :-1], axis=-1)
    vertical = 1.0 - np.sum(unit[1:] * unit[:-1], axis=-1)
    return horizontal, vertical


def seam_ratio(field: np.ndarray, window: int, *, origin: tuple[int, int] = (0, 0)) -> float:
    """Border / interior mean cosine discontinuity for windows of ``window`` pixels starting at ``origin`` (y, x).

    Raises:
      AefValueError: ``window`` < 2, no border or no interior pair in the field, or a field without variation
        inside windows.
    """
    if window < 2:
        raise AefValueError(f"window must be >= 2 pixels; got {window!r}")
    horizontal, vertical = neighbour_discontinuity(field)
    h, w = horizontal.shape[0], vertical.shape[1]
    # A pair (x, x + 1) straddles a border when x + 1 is a window start.
    across_x = ((np.arange(w - 1) + 1 - origin[1]) % window) == 0
    across_y = ((np.arange(h - 1) + 1 - origin[0]) % window) == 0
    # Interior pairs at the borders' pixel parity only: data on a 20 m grid resampled to 10 m (Sentinel-2's 20 m
    # bands, Sentinel-1) changes mostly between 2-pixel blocks, which would otherwise read as seams at even borders.
    same_x = ((np.arange(w - 1) + 1 - origin[1]) % 2) == 0 if window % 2 == 0 else np.ones(w - 1, bool)
    same_y = ((np.arange(h - 1) + 1 - origin[0]) % 2) == 0 if window % 2 == 0 else np.ones(h - 1, bool)
    border = np.concatenate([horizontal[:, across_x].ravel(), vertical[across_y, :].ravel()])
    interior = np.concatenate([horizontal[:, ~across_x & same_x].ravel(), vertical[~across_y & same_y, :].ravel()])
    border, interior = border[np.isfinite(border)], interior[np.isfinite(interior)]
    if not border.size or not interior.size:
        raise AefValueError(f"a {h} x {w} field has no {'border' if not border.size else 'interior'} pairs for "
                            f"windows of {window} px")
    inside = float(interior.mean())
    if inside <= 0:
        raise AefValueError("the field does not vary inside windows; the ratio is undefined")
    return float(border.mean()) / inside


def period2_energy(field: np.ndarray) -> float:
    """Fraction of the field's variance in its 2 x 2 phase pattern (0: none; 1: a pure checkerboard)."""
    field = _check(field)
    h, w = field.shape[0] // 2 * 2, field.shape[1] // 2 * 2
    x = field[:h, :w]
    valid = np.all(np.isfinite(x), axis=-1)
    if valid.sum() < 4:
        raise AefValueError("the field has fewer than 4 valid pixels")
    x = np.where(valid[..., None], x, 0.0)
    x = x - x[valid].mean(axis=0)
    x = np.where(valid[..., None], x, 0.0)
    total = float(np.sum(x**2))
    if total == 0:
        return 0.0
    # Projection onto the patterns (+-1 on the pixel parity), i.e. the three Nyquist bins of the 2-D DFT.
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    energy = 0.0
    for pattern in ((-1.0) ** yy, (-1.0) ** xx, (-1.0) ** (yy + xx)):
        p = np.where(valid, pattern, 0.0)
        coeff = np.tensordot(p, x, axes=([0, 1], [0, 1])) / max(float(np.sum(p * p)), 1.0)  # (E,)
        energy += float(np.sum(coeff**2)) * float(np.sum(p * p))
    return energy / total
