"""Projections and pixel grids: a CRS plus an affine transform, and a grid of W x H pixels in one.

Earth Engine describes a projection by a CRS code (or WKT) and an affine ``crs_transform`` ``[a, b, c, d, e, f]``
mapping pixel (col, row) to CRS coordinates: ``x = a*col + b*row + c``, ``y = d*col + e*row + f`` (rasterio order).
The default projection of constants and computed images without a source is WGS84 at 1 degree per pixel.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np
import pyproj

from aef_ee.local.errors import InvalidArgument

__all__ = ["Projection", "Grid", "DEFAULT_PROJECTION", "transformer", "normalize_crs"]

Affine6 = tuple[float, float, float, float, float, float]


@functools.lru_cache(maxsize=256)
def _crs(crs: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise InvalidArgument(f"Unknown or invalid CRS {crs!r}.") from exc


def normalize_crs(crs: str) -> str:
    """Returns ``EPSG:n`` where the CRS has an EPSG code, else the input (validated)."""
    crs = str(crs)
    if crs.upper().startswith("EPSG:"):
        _crs(crs.upper())
        return crs.upper()
    code = _crs(crs).to_epsg()
    return f"EPSG:{code}" if code else crs


@functools.lru_cache(maxsize=256)
def transformer(src: str, dst: str) -> pyproj.Transformer:
    """A cached, thread-safe-enough (one per pair) always_xy transformer."""
    return pyproj.Transformer.from_crs(_crs(src), _crs(dst), always_xy=True)


@functools.lru_cache(maxsize=64)
def _is_geographic(crs: str) -> bool:
    return _crs(crs).is_geographic


@dataclasses.dataclass(frozen=True)
class Projection:
    """A CRS and the affine transform from pixel (col, row) to CRS coordinates."""

    crs: str
    transform: Affine6 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.transform) != 6:
            raise InvalidArgument(f"crs_transform must have 6 numbers; got {list(self.transform)!r}")
        object.__setattr__(self, "transform", tuple(float(v) for v in self.transform))

    @property
    def is_geographic(self) -> bool:
        return _is_geographic(self.crs)

    @property
    def nominal_scale(self) -> float:
        """Pixel size in metres (degrees converted at the equator, as Earth Engine does)."""
        a, b, _, d, e, _ = self.transform
        size = math.sqrt(abs(a * e - b * d))
        if self.is_geographic:
            return size * 111319.49079327357
        units = _crs(self.crs).axis_info[0].unit_conversion_factor if _crs(self.crs).axis_info else 1.0
        return size * units

    def at_scale(self, scale_m: float) -> "Projection":
        """The same CRS and origin, with square pixels of ``scale_m`` metres (degrees for geographic CRSs)."""
        if scale_m <= 0:
            raise InvalidArgument(f"scale must be positive; got {scale_m!r}")
        size = scale_m / 111319.49079327357 if self.is_geographic else scale_m
        return Projection(self.crs, (size, 0.0, 0.0, 0.0, -size, 0.0))

    def scaled(self, x_factor: float, y_factor: float) -> "Projection":
        a, b, c, d, e, f = self.transform
        return Projection(self.crs, (a * x_factor, b * y_factor, c, d * x_factor, e * y_factor, f))

    def to_info(self) -> dict:
        return {"type": "Projection", "crs": self.crs, "transform": list(self.transform)}

    def wkt(self) -> str:
        return _crs(self.crs).to_wkt()


DEFAULT_PROJECTION = Projection("EPSG:4326", (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))


def _invert(t: Affine6) -> Affine6:
    a, b, c, d, e, f = t
    det = a * e - b * d
    if det == 0:
        raise InvalidArgument(f"singular crs_transform {list(t)!r}")
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return (ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f))


@dataclasses.dataclass(frozen=True)
class Grid:
    """A W x H raster of pixels in a projection: what computePixels, tiles and reductions evaluate on."""

    projection: Projection
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InvalidArgument(f"grid dimensions must be positive; got {self.width} x {self.height}")

    @property
    def crs(self) -> str:
        return self.projection.crs

    @property
    def transform(self) -> Affine6:
        return self.projection.transform

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def is_axis_aligned(self) -> bool:
        a, b, _, d, e, _ = self.transform
        return b == 0.0 and d == 0.0

    def window(self, row0: int, row1: int, col0: int = 0, col1: int | None = None) -> "Grid":
        """The sub-grid of rows [row0, row1) and columns [col0, col1)."""
        col1 = self.width if col1 is None else col1
        a, b, c, d, e, f = self.transform
        t = (a, b, c + a * col0 + b * row0, d, e, f + d * col0 + e * row0)
        return Grid(Projection(self.crs, t), col1 - col0, row1 - row0)

    def strips(self, max_pixels: int) -> list[tuple[int, int]]:
        """Row ranges covering the grid with at most ``max_pixels`` pixels each (at least one row)."""
        rows = max(1, max_pixels // self.width)
        return [(r, min(r + rows, self.height)) for r in range(0, self.height, rows)]

    def pixel_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """CRS coordinates (x, y) of every pixel centre, each (H, W) float64."""
        cols = np.arange(self.width, dtype=np.float64) + 0.5
        rows = np.arange(self.height, dtype=np.float64) + 0.5
        a, b, c, d, e, f = self.transform
        if b == 0.0 and d == 0.0:
            x = np.broadcast_to(a * cols + c, (self.height, self.width))
            y = np.broadcast_to((e * rows + f)[:, None], (self.height, self.width))
            return x, y
        cc, rr = np.meshgrid(cols, rows)
        return a * cc + b * rr + c, d * cc + e * rr + f

    def axis_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """For an axis-aligned grid: x of each column centre (W,) and y of each row centre (H,)."""
        a, _, c, _, e, f = self.transform
        return a * (np.arange(self.width) + 0.5) + c, e * (np.arange(self.height) + 0.5) + f

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the grid's CRS."""
        a, b, c, d, e, f = self.transform
        xs = [c, c + a * self.width, c + b * self.height, c + a * self.width + b * self.height]
        ys = [f, f + d * self.width, f + e * self.height, f + d * self.width + e * self.height]
        return min(xs), min(ys), max(xs), max(ys)

    def inverse(self) -> Affine6:
        return _invert(self.transform)

    def to_json(self) -> dict:
        a, b, c, d, e, f = self.transform
        return {
            "crsCode": self.crs,
            "affineTransform": {"scaleX": a, "shearX": b, "translateX": c, "shearY": d, "scaleY": e, "translateY": f},
            "dimensions": {"width": self.width, "height": self.height},
        }


def covering_grid(projection: Projection, bounds: Sequence[float], *, snap: bool = True) -> Grid:
    """The grid in ``projection`` whose pixels cover ``bounds`` (xmin, ymin, xmax, ymax in that CRS).

    With ``snap`` the grid keeps the projection's pixel lattice (origin), so results align with source pixels.
    """
    a, b, c, d, e, f = projection.transform
    if b != 0.0 or d != 0.0:
        raise InvalidArgument("reductions over a rotated or sheared projection are not supported")
    xmin, ymin, xmax, ymax = bounds
    if snap:
        col0 = math.floor(min((xmin - c) / a, (xmax - c) / a) + 1e-9)
        col1 = math.ceil(max((xmin - c) / a, (xmax - c) / a) - 1e-9)
        row0 = math.floor(min((ymin - f) / e, (ymax - f) / e) + 1e-9)
        row1 = math.ceil(max((ymin - f) / e, (ymax - f) / e) - 1e-9)
        t = (a, 0.0, c + a * col0, 0.0, e, f + e * row0)
        return Grid(Projection(projection.crs, t), max(1, col1 - col0), max(1, row1 - row0))
    width = max(1, math.ceil(abs((xmax - xmin) / a)))
    height = max(1, math.ceil(abs((ymax - ymin) / e)))
    x0 = xmin if a > 0 else xmax
    y0 = ymax if e < 0 else ymin
    return Grid(Projection(projection.crs, (a, 0.0, x0, 0.0, e, y0)), width, height)
