"""Visualization algorithms: ``Image.visualize`` and ``Image.randomVisualizer``.

The pixel math lives in :mod:`aef_ee.local.visualization` (shared with the REST ``VisualizationOptions`` path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local import visualization
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import BandPixels, BandSpec, Image

__all__ = ["image_visualize", "image_random_visualizer", "random_colors", "RANDOM_VIS_BANDS"]

# Earth Engine names randomVisualizer's colour bands with a "viz-" prefix (visualize uses "vis-").
RANDOM_VIS_BANDS = ("viz-red", "viz-green", "viz-blue")
# Multipliers of a 64-bit integer hash (SplitMix64's finaliser): each distinct value gets a stable colour, the same
# in every tile and every request.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@algorithm("Image.visualize")
def image_visualize(
    image: Image,
    bands: Any = None,
    gain: Any = None,
    bias: Any = None,
    min: Any = None,  # noqa: A002 - Earth Engine's argument name
    max: Any = None,  # noqa: A002
    gamma: Any = None,
    opacity: Any = None,
    palette: Any = None,
    forceRgbOutput: Any = False,  # noqa: N803
) -> Image:
    """Earth Engine's ``Image.visualize``: uint8 vis-red/vis-green/vis-blue (or vis-gray) bands."""
    if not isinstance(image, Image):
        raise InvalidArgument(f"Image.visualize: 'image' must be an Image, not {type(image).__name__}.")
    params = visualization.params_from_arguments(
        bands=bands, gain=gain, bias=bias, min=min, max=max, gamma=gamma, opacity=opacity, palette=palette,
        forceRgbOutput=forceRgbOutput,
    )
    return visualization.visualize(image, params)


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
    specs = [BandSpec(n, visualization.UINT8, first.projection, first.dimensions, first.is_default_projection)
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
    input: Any,  # noqa: A002 - Earth Engine's argument name
    geometry: Any = None,
    width: Any = None,
    height: Any = None,
    maxDimension: Any = None,  # noqa: N803
    scale: Any = None,
) -> Image:
    """Earth Engine's ``Image.clipToBoundsAndScale``: the bounding box of ``geometry`` in the image's projection,
    as a grid of ``width`` x ``height`` pixels, or ``maxDimension`` pixels on the longer side, or ``scale`` metres
    per pixel (default: the projection's own pixel size).

    Every band gets that grid as its projection and dimensions, so the result has a native grid (what thumbnails
    and downloads render); pixels are sampled nearest-neighbour from the input and masked outside the box.
    """
    import math

    from shapely.geometry import box

    from aef_ee.local.algorithms.image import as_image
    from aef_ee.local.algorithms.image_ops import masked_and
    from aef_ee.local.geometry_raster import as_geometry, geometry_mask
    from aef_ee.local.projection import Projection
    from aef_ee.local.values import Geometry

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
        if scale is not None:
            size = projection.at_scale(float(scale)).transform[0]
            size_x = size_y = size
        else:
            a, _, _, _, e, _ = projection.transform
            size_x, size_y = abs(a), abs(e)
        w, h = max(1, math.ceil(box_w / size_x - 1e-9)), max(1, math.ceil(box_h / size_y - 1e-9))
    if w <= 0 or h <= 0:
        raise InvalidArgument(f"Image.clipToBoundsAndScale: invalid dimensions {w} x {h}.")
    # With scale (or the native pixel size) the pixels keep that exact size and the grid may overhang the box.
    target = Projection(projection.crs, (size_x, 0.0, xmin, 0.0, -size_y, ymax))
    specs = [BandSpec(b.name, b.pixel_type, target, (w, h), False) for b in src.bands]
    clip_box = Geometry(box(xmin, ymin, xmax, ymax), crs=projection.crs, geodesic=False)

    def read(grid, wanted: Sequence[int]) -> list[BandPixels]:
        inside = geometry_mask(clip_box, grid)
        return [(v, masked_and(np.asarray(m), inside)) for v, m in src.compute(grid, wanted)]

    footprint = clip_box.in_crs("EPSG:4326")
    if src.footprint is not None:
        footprint = footprint.intersection(src.footprint)
    return Image(specs, read, src.properties, footprint=footprint)
