"""Drawing vector features onto a pixel grid, for ``Collection.style`` / ``Collection.draw`` / ``Image.paint``.

Each feature contributes, in collection order, a filled area (polygons; point markers) and a stroke (polygon
outlines, lines, marker outlines); later marks cover earlier ones. Sizes are in output pixels, whatever the grid's
scale: a width of 2 is a 2-pixel line at every zoom level, as on Earth Engine's maps. Marks are burned with
rasterio's pixel-centre rule; strokes are the geometry buffered by half their width (at least half a pixel).

The engine's masks are boolean, so a colour's alpha only decides whether a mark is drawn (alpha > 0) or not;
partial opacity is not blended.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument, Unimplemented
from aef_ee.local.projection import Grid, transformer
from aef_ee.local.rendering import parse_color
from aef_ee.local.values import Feature

__all__ = ["Mark", "MarkStyle", "parse_rgba", "burn", "feature_marks", "POINT_SHAPES"]

RGBA = tuple[int, int, int, int]
POINT_SHAPES = ("circle", "square")
# Earth Engine's default fill is the stroke colour at 0.66 opacity.
DEFAULT_FILL_OPACITY = 0.66


def parse_rgba(text: str) -> RGBA:
    """A CSS colour or hex string, with an optional alpha ('FF000088'), as (r, g, b, a) in 0..255."""
    if not isinstance(text, str):
        raise InvalidArgument(f"Invalid color {text!r}: expected a CSS color name or a hex string.")
    key = text.strip().lower()
    digits = key[1:] if key.startswith("#") else key[2:] if key.startswith("0x") else key
    r, g, b = parse_color(text)
    if len(digits) == 8 and all(c in "0123456789abcdef" for c in digits):
        return r, g, b, int(digits[6:8], 16)
    return r, g, b, 255


@dataclasses.dataclass(frozen=True)
class MarkStyle:
    """How to draw one feature. Sizes in output pixels."""

    color: RGBA = (0, 0, 0, 255)
    fill: RGBA | None = None  # None: the colour at 0.66 opacity
    width: float = 2.0
    point_size: float = 3.0
    point_shape: str = "circle"

    def __post_init__(self) -> None:
        if self.point_shape not in POINT_SHAPES:
            raise Unimplemented(
                f"pointShape '{self.point_shape}' is not supported by the local Earth Engine; use one of "
                f"{list(POINT_SHAPES)}.")
        if self.width < 0 or self.point_size < 0:
            raise InvalidArgument(f"width and pointSize must not be negative; got {self.width}, {self.point_size}.")

    @property
    def fill_color(self) -> RGBA:
        if self.fill is not None:
            return self.fill
        r, g, b, a = self.color
        return r, g, b, int(round(a * DEFAULT_FILL_OPACITY))


@dataclasses.dataclass(frozen=True)
class Mark:
    """A shape in the grid's CRS and the value it burns (a colour index or a paint value)."""

    shape: Any
    value: float


def _pixel_size(grid: Grid) -> float:
    a, b, _, d, e, _ = grid.transform
    return math.sqrt(abs(a * e - b * d))


def feature_marks(
    geometry: Any, grid: Grid, *, fill: bool, stroke_width: float | None, point_size: float, square: bool = False
) -> tuple[Any | None, Any | None]:
    """The fill and stroke shapes (grid CRS) of one shapely geometry already in the grid's CRS.

    Args:
      geometry: a shapely geometry in the grid's CRS.
      fill: whether polygons and point markers are filled.
      stroke_width: the outline / line width in pixels, or None for no stroke.
      point_size: the marker diameter in pixels.
      square: square point markers instead of circles.

    Returns:
      (fill shape or None, stroke shape or None).
    """
    import shapely
    from shapely.geometry import box

    px = _pixel_size(grid)
    areas, strokes = [], []
    for part in getattr(geometry, "geoms", [geometry]):
        kind = part.geom_type
        if kind in ("Polygon", "MultiPolygon"):
            if fill:
                areas.append(part)
            if stroke_width is not None:
                strokes.append(part.boundary)
        elif kind in ("LineString", "LinearRing", "MultiLineString"):
            if stroke_width is not None or not fill:
                strokes.append(part)
        elif kind == "Point":
            half = max(point_size, 1.0) * px / 2
            marker = box(part.x - half, part.y - half, part.x + half, part.y + half) if square else \
                part.buffer(half, quad_segs=8)
            if fill:
                areas.append(marker)
            if stroke_width is not None:
                strokes.append(marker.boundary)
        elif kind == "GeometryCollection":
            a, s = feature_marks(part, grid, fill=fill, stroke_width=stroke_width, point_size=point_size,
                                 square=square)
            areas += [a] if a is not None else []
            strokes += [s] if s is not None else []
    area = shapely.union_all(areas) if areas else None
    stroke = None
    if strokes:
        half_width = max(stroke_width if stroke_width is not None else 1.0, 1.0) * px / 2
        stroke = shapely.union_all(strokes).buffer(half_width, quad_segs=4)
    return area, stroke


def features_near(features: Sequence[Feature], grid: Grid) -> list[tuple[int, Any]]:
    """(index, shapely geometry in the grid's CRS) of the features whose EPSG:4326 bounds meet the grid's area."""
    from shapely.geometry import box

    xmin, ymin, xmax, ymax = grid.bounds()
    margin = 16 * _pixel_size(grid)  # room for strokes and markers that reach into the grid
    xs = np.linspace(xmin - margin, xmax + margin, 9)
    ys = np.linspace(ymin - margin, ymax + margin, 9)
    gx, gy = np.meshgrid(xs, ys)
    if grid.crs != "EPSG:4326":
        gx, gy = transformer(grid.crs, "EPSG:4326").transform(gx, gy)
    finite = np.isfinite(gx) & np.isfinite(gy)
    area = box(gx[finite].min(), gy[finite].min(), gx[finite].max(), gy[finite].max()) if finite.any() else None
    out = []
    for i, feature in enumerate(features):
        if feature.geometry is None:
            continue
        if area is not None and not feature.geometry.in_crs("EPSG:4326").intersects(area):
            continue
        shape = feature.geometry.in_crs(grid.crs)
        if not shape.is_empty:
            out.append((i, shape))
    return out


def burn(marks: Sequence[Mark], grid: Grid, *, fill_value: float = 0, dtype: Any = np.int32) -> np.ndarray:
    """Burns marks in order (later ones cover earlier ones) onto an (H, W) array of ``dtype``."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    shapes = [(m.shape, m.value) for m in marks if m.shape is not None and not m.shape.is_empty]
    if not shapes:
        return np.full(grid.shape, fill_value, dtype=dtype)
    a, b, c, d, e, f = grid.transform
    return rasterize(shapes, out_shape=grid.shape, transform=Affine(a, b, c, d, e, f), fill=fill_value,
                     all_touched=False, dtype=dtype)
