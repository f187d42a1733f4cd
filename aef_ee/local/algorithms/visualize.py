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
