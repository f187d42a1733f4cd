"""Visualization algorithms: ``Image.visualize``, ``Image.randomVisualizer``, ``Image.blend``, vector drawing
(``Collection.style``, ``Collection.draw``, ``Image.paint``) and ``Image.clipToBoundsAndScale`` (thumbnails).

The pixel math lives in :mod:`aef_ee.local.rendering` (shared with the REST ``VisualizationOptions`` path) and
:mod:`aef_ee.local.drawing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local import drawing, rendering
from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.image_ops import masked_and
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, Unimplemented
from aef_ee.local.geometry_raster import as_geometry, geometry_mask
from aef_ee.local.projection import DEFAULT_PROJECTION, Projection, covering_grid
from aef_ee.local.raster import BandPixels, BandSpec, Image, PixelType
from aef_ee.local.values import Feature, FeatureCollection, Geometry

__all__ = [
    "image_visualize",
    "image_random_visualizer",
    "random_colors",
    "RANDOM_VIS_BANDS",
    "clip_to_bounds_and_scale",
    "collection_style",
    "collection_draw",
    "image_paint",
    "image_blend",
]

# Earth Engine names randomVisualizer's colour bands with a "viz-" prefix (visualize uses "vis-").
RANDOM_VIS_BANDS = ("viz-red", "viz-green", "viz-blue")
# Multipliers of a 64-bit integer hash (SplitMix64's finaliser): each distinct value gets a stable colour, the same
# in every tile and every request.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@algorithm("Image.visualize")
def image_visualize(image: Image, **options: Any) -> Image:
    """Earth Engine's ``Image.visualize``: uint8 vis-red/vis-green/vis-blue (or vis-gray) bands.

    ``options`` are Earth Engine's arguments (bands, gain, bias, min, max, gamma, opacity, palette, forceRgbOutput),
    parsed by :func:`aef_ee.local.rendering.params_from_arguments`, whose signature names them.
    """
    if not isinstance(image, Image):
        raise InvalidArgument(f"Image.visualize: 'image' must be an Image, not {type(image).__name__}.")
    return rendering.visualize(image, rendering.params_from_arguments(**options))


def random_colors(values: np.ndarray) -> list[np.ndarray]:
    """A stable pseudo-random colour per distinct value: three (H, W) uint8 arrays (r, g, b).

    Values are hashed by their float64 bit pattern (so 3 and 3.0 share a colour; -0.0 is folded onto 0.0).
    """
    v = np.asarray(values, dtype=np.float64) + 0.0
    x = v.view(np.uint64).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _MIX1
        x ^= x >> np.uint64(27)
        x *= _MIX2
        x ^= x >> np.uint64(31)
    return [((x >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.uint8) for shift in (0, 8, 16)]


@algorithm("Image.randomVisualizer")
def image_random_visualizer(image: Image) -> Image:
    """Earth Engine's ``Image.randomVisualizer``: a random colour per distinct value of the first band.

    Returns viz-red, viz-green, viz-blue (uint8, masked where the first band is), then all the input bands.
    """
    if not isinstance(image, Image) or not image.bands:
        raise InvalidArgument("Image.randomVisualizer: the image must have at least one band.")
    first = image.bands[0]
    specs = [BandSpec(n, rendering.UINT8, first.projection, first.dimensions, first.is_default_projection)
             for n in RANDOM_VIS_BANDS]
    color_count = len(specs)

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        source = sorted({0} | {w - color_count for w in wanted if w >= color_count})
        pixels = dict(zip(source, image.compute(grid, source)))
        values, mask = pixels[0]
        colors = random_colors(values) if any(w < color_count for w in wanted) else []
        return [(colors[w], mask) if w < color_count else pixels[w - color_count] for w in wanted]

    return Image(specs + list(image.bands), read, image.properties, footprint=image.footprint)


# --- thumbnail shaping ---------------------------------------------------------------------------------------
# ``getThumbURL`` and ``getDownloadURL`` wrap the image in Image.clipToBoundsAndScale (region / dimensions / scale);
# it lives beside the visualizers because thumbnails are its only caller.

@algorithm("Image.clipToBoundsAndScale")
def clip_to_bounds_and_scale(
    input: Any,
    geometry: Any = None,
    width: Any = None,
    height: Any = None,
    maxDimension: Any = None,
    scale: Any = None,
) -> Image:
    """Earth Engine's ``Image.clipToBoundsAndScale``: the bounding box of ``geometry`` in the image's projection,
    as a grid of ``width`` x ``height`` pixels, or ``maxDimension`` pixels on the longer side, or ``scale`` metres
    per pixel (default: the projection's own pixel size).

    With ``scale`` (or the projection's own pixel size) the grid is the projection's pixel lattice at that size, so
    its origin is at a multiple of the pixel size from the projection's origin (``Export.image`` with ``crs`` and
    ``scale``, which the client sends as a projection of origin 0: multiples of ``scale`` in the CRS), not at the
    region's corner; it covers every lattice pixel the box touches. With ``width``/``height`` or ``maxDimension``
    the box is divided exactly. Every band gets that grid as its projection and dimensions, so the result has a
    native grid (what exports, thumbnails and downloads render); pixels are sampled nearest-neighbour from the input
    and masked outside the box.
    """
    from shapely.geometry import box

    src = as_image(input)
    if not src.bands:
        raise InvalidArgument("Image.clipToBoundsAndScale: the image has no bands.")
    projection = src.default_projection()
    if geometry is None:
        if src.footprint is None:
            raise InvalidArgument("Image.clipToBoundsAndScale: the image is unbounded; provide a geometry.")
        region = Geometry(src.footprint, geodesic=False)
    else:
        region = as_geometry(geometry)
    xmin, ymin, xmax, ymax = region.in_crs(projection.crs).bounds
    box_bounds = (xmin, ymin, xmax, ymax)
    box_w, box_h = xmax - xmin, ymax - ymin
    if not (box_w > 0 and box_h > 0):
        raise InvalidArgument("Image.clipToBoundsAndScale: the geometry's bounding box is empty.")
    given = [name for name, v in (("width/height", width if width is not None else height),
                                  ("maxDimension", maxDimension), ("scale", scale)) if v is not None]
    if len(given) > 1:
        raise InvalidArgument(f"Image.clipToBoundsAndScale: {' and '.join(given)} are mutually exclusive.")
    if width is not None or height is not None:
        if width is None or height is None:
            raise InvalidArgument("Image.clipToBoundsAndScale: width and height must be given together.")
        w, h = int(width), int(height)
        size_x, size_y = box_w / max(w, 1), box_h / max(h, 1)
    elif maxDimension is not None:
        longest = int(maxDimension)
        w = longest if box_w >= box_h else max(1, round(longest * box_w / box_h))
        h = longest if box_h >= box_w else max(1, round(longest * box_h / box_w))
        size_x, size_y = box_w / max(w, 1), box_h / max(h, 1)
    else:
        a, b, c, d, e, f = projection.transform
        if scale is not None:
            # Earth Engine's atScale scales the projection's units about its origin: the lattice keeps the origin
            # (so a crs-only projection, origin 0, snaps to multiples of the scale).
            a = e = projection.at_scale(float(scale)).transform[0]
        if b or d:
            raise InvalidArgument("Image.clipToBoundsAndScale: rotated or sheared projections are not supported.")
        # North-up pixels of the lattice's size, on the lattice: the origin moves by whole pixels only.
        north_up = Projection(projection.crs, (abs(a), 0.0, c, 0.0, -abs(e), f))
        # Shrink by a hair so a box lying exactly on pixel edges does not gain a row or column.
        eps = 1e-9 * max(abs(a), abs(e))
        snapped = covering_grid(north_up, (xmin + eps, ymin + eps, xmax - eps, ymax - eps))
        xmin_s, _, _, ymax_s = snapped.bounds()
        size_x, size_y, w, h = abs(a), abs(e), snapped.width, snapped.height
        xmin, ymax = xmin_s, ymax_s
    if w <= 0 or h <= 0:
        raise InvalidArgument(f"Image.clipToBoundsAndScale: invalid dimensions {w} x {h}.")
    target = Projection(projection.crs, (size_x, 0.0, xmin, 0.0, -size_y, ymax))
    specs = [BandSpec(b.name, b.pixel_type, target, (w, h), False) for b in src.bands]
    clip_box = Geometry(box(*box_bounds), crs=projection.crs, geodesic=False)

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        inside = geometry_mask(clip_box, grid)
        return [(v, masked_and(np.asarray(m), inside)) for v, m in src.compute(grid, wanted)]

    footprint = clip_box.in_crs("EPSG:4326")
    if src.footprint is not None:
        footprint = footprint.intersection(src.footprint)
    return Image(specs, read, src.properties, footprint=footprint)


# --- drawing vectors and blending --------------------------------------------------------------------------------

def _features(collection: Any, name: str) -> list:
    if isinstance(collection, FeatureCollection):
        return list(collection.features)
    if isinstance(collection, Feature):
        return [collection]
    if isinstance(collection, Geometry):
        return [Feature(collection, {})]
    raise InvalidArgument(f"{name}: expected a FeatureCollection, not {type(collection).__name__}.")


def _style_of(base: dict[str, Any], feature: Any, style_property: str | None):
    values = dict(base)
    if style_property:
        override = feature.properties.get(style_property)
        if isinstance(override, dict):
            values.update(override)
    line_type = str(values.get("lineType") or "solid")
    if line_type != "solid":
        raise Unimplemented(f"lineType '{line_type}' is not supported by the local Earth Engine; use 'solid'.")
    color = drawing.parse_rgba(str(values.get("color") or "black"))
    fill = values.get("fillColor")
    return drawing.MarkStyle(color=color, fill=None if fill is None else drawing.parse_rgba(str(fill)),
                             width=float(values.get("width", 2.0)), point_size=float(values.get("pointSize", 3.0)),
                             point_shape=str(values.get("pointShape") or "circle"))


def _rgb_drawing(features: list, styles: list) -> Image:
    """A lazy vis-red/vis-green/vis-blue image of features drawn with per-feature styles (default projection)."""
    specs = [BandSpec(n, rendering.UINT8, DEFAULT_PROJECTION, None, True) for n in rendering.VIS_RGB_BANDS]

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        marks, colors = [], [(0, 0, 0, 0)]
        for i, shape in drawing.features_near(features, grid):
            style = styles[i]
            fill_color, stroke_color = style.fill_color, style.color
            area, stroke = drawing.feature_marks(
                shape, grid, fill=fill_color[3] > 0, stroke_width=style.width if style.width > 0 else None,
                point_size=style.point_size, square=style.point_shape == "square")
            for part, color in ((area, fill_color), (stroke, stroke_color)):
                if part is not None and color[3] > 0:
                    colors.append(color)
                    marks.append(drawing.Mark(part, len(colors) - 1))
        index = drawing.burn(marks, grid)
        table = np.asarray(colors, dtype=np.uint8)
        mask = index > 0
        return [(table[index, w], mask) for w in wanted]

    return Image(specs, read, {})


@algorithm("Collection.style")
def collection_style(
    collection: Any,
    color: str = "black",
    pointSize: Any = 3,
    pointShape: str = "circle",
    width: Any = 2.0,
    fillColor: str | None = None,
    styleProperty: str | None = None,
    neighborhood: Any = 5,
    lineType: str = "solid",
) -> Image:
    """Earth Engine's ``Collection.style``: an RGB drawing of the features (fill, outline, point markers).

    Colours may carry an alpha ('FF000088'); a mark with alpha 0 is not drawn and any other alpha is drawn opaque
    (the engine's masks are boolean). ``neighborhood`` only matters for Earth Engine's tiling and is ignored.
    """
    features = _features(collection, "Collection.style")
    base = {"color": color, "pointSize": pointSize, "pointShape": pointShape, "width": width,
            "fillColor": fillColor, "lineType": lineType}
    styles = [_style_of(base, f, styleProperty) for f in features]
    return _rgb_drawing(features, styles)


@algorithm("Collection.draw")
def collection_draw(collection: Any, color: str, pointRadius: Any = 3, strokeWidth: Any = 2) -> Image:
    """Earth Engine's ``Collection.draw``: features filled and outlined in one colour, points as discs."""
    features = _features(collection, "Collection.draw")
    rgba = drawing.parse_rgba(str(color))
    style = drawing.MarkStyle(color=rgba, fill=rgba, width=float(strokeWidth), point_size=2 * float(pointRadius))
    return _rgb_drawing(features, [style] * len(features))


def _union_type(types: Sequence[Any]) -> Any:
    if all(t.precision == "int" for t in types):
        return PixelType("int", min(t.min for t in types), max(t.max for t in types))
    return PixelType("double") if any(t.precision == "double" for t in types) else PixelType("float")


def _value_type(values: Sequence[float]) -> Any:
    if all(float(v).is_integer() for v in values):
        return PixelType("int", int(min(values)), int(max(values)))
    return PixelType("double")


def _per_feature(value: Any, features: list, name: str) -> list[float]:
    """A number for all features, or the named numeric property of each feature."""
    if isinstance(value, str):
        try:
            return [float(f.properties[value]) for f in features]
        except KeyError:
            raise InvalidArgument(f"Image.paint: property '{value}' is missing from a feature.") from None
        except (TypeError, ValueError):
            raise InvalidArgument(f"Image.paint: property '{value}' must be numeric for every feature.") from None
    try:
        return [float(value)] * len(features)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Image.paint: {name} must be a number or a property name; got {value!r}.") from None


@algorithm("Image.paint")
def image_paint(image: Any, featureCollection: Any, color: Any = 0, width: Any = None) -> Image:
    """Earth Engine's ``Image.paint``: burns ``color`` into every band where the features (or, with ``width``,
    their outlines of that many pixels) cover pixel centres; painted pixels become unmasked."""
    src = as_image(image)
    features = _features(featureCollection, "Image.paint")
    values = _per_feature(color, features, "color")
    widths = None if width is None else _per_feature(width, features, "width")
    paint_type = _value_type(values) if values else None
    specs = [BandSpec(b.name, _union_type([b.pixel_type, paint_type]) if paint_type else b.pixel_type,
                      b.projection, b.dimensions, b.is_default_projection) for b in src.bands]

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        marks = []
        for i, shape in drawing.features_near(features, grid):
            area, stroke = drawing.feature_marks(
                shape, grid, fill=widths is None, stroke_width=None if widths is None else widths[i], point_size=1)
            marks.append(drawing.Mark(area if widths is None else stroke, values[i]))
        painted = drawing.burn(marks, grid, fill_value=np.nan, dtype=np.float64)
        covered = ~np.isnan(painted)
        out = []
        for w, (v, m) in zip(wanted, src.compute(grid, wanted)):
            dtype = specs[w].pixel_type.dtype
            merged = np.where(covered, painted, np.asarray(v, dtype=np.float64)).astype(dtype)
            out.append((merged, np.asarray(m) | covered))
        return out

    return Image(specs, read, src.properties, footprint=src.footprint)


@algorithm("Image.blend")
def image_blend(bottom: Any, top: Any) -> Image:
    """Earth Engine's ``Image.blend``: ``top`` over ``bottom`` where top is unmasked (masks are boolean here, so
    no partial opacity); a 1-band image is repeated to match the other's band count. Bands are named as bottom's."""
    lower, upper = as_image(bottom), as_image(top)
    n_lower, n_upper = len(lower.bands), len(upper.bands)
    if n_lower != n_upper and 1 not in (n_lower, n_upper):
        raise InvalidArgument(
            f"Image.blend: the images must have the same number of bands or one band; got {n_lower} and {n_upper}.")
    count = max(n_lower, n_upper)
    names = lower.band_names if n_lower == count else upper.band_names
    specs = []
    for k in range(count):
        lo_band = lower.bands[k if n_lower > 1 else 0]
        up_band = upper.bands[k if n_upper > 1 else 0]
        specs.append(BandSpec(names[k], _union_type([lo_band.pixel_type, up_band.pixel_type]), lo_band.projection,
                              lo_band.dimensions, lo_band.is_default_projection))

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        lower_px = dict(zip(sorted({w if n_lower > 1 else 0 for w in wanted}),
                            lower.compute(grid, sorted({w if n_lower > 1 else 0 for w in wanted}))))
        upper_px = dict(zip(sorted({w if n_upper > 1 else 0 for w in wanted}),
                            upper.compute(grid, sorted({w if n_upper > 1 else 0 for w in wanted}))))
        out = []
        for w in wanted:
            lv, lm = lower_px[w if n_lower > 1 else 0]
            uv, um = upper_px[w if n_upper > 1 else 0]
            um, lm = np.asarray(um), np.asarray(lm)
            dtype = specs[w].pixel_type.dtype
            out.append((np.where(um, uv, lv).astype(dtype), um | lm))
        return out

    footprint = lower.footprint if upper.footprint is None or lower.footprint is None else \
        lower.footprint.union(upper.footprint)
    if lower.footprint is None or upper.footprint is None:
        footprint = None
    return Image(specs, read, lower.properties, footprint=footprint)
