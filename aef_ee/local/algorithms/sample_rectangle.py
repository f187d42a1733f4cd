"""``Image.sampleRectangle``: the pixels of a rectangle, one 2-D array per band, in a feature.

Earth Engine: "Extracts a rectangular region of pixels from an image into a ND array per band. The arrays are
returned in a feature retaining the same properties as the image and a geometry the same as that used to sample the
image (or the image footprint if unspecified). Each band is sampled in its input projection". The pixels are those
of the band's own pixel lattice meeting the region's bounding box (in the band's CRS), rows from north to south. A
masked pixel, or one outside the band's data, takes ``defaultValue``; without one the request fails, as Earth Engine's
does. At most :data:`MAX_PIXELS` pixels per band (Earth Engine's limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, ResourceExhausted
from aef_ee.local.geometry_raster import as_geometry
from aef_ee.local.projection import covering_grid
from aef_ee.local.values import Feature, Geometry

__all__ = ["sample_rectangle", "MAX_PIXELS"]

# Earth Engine refuses more: "Image.sampleRectangle: Too many pixels in sample; must be <= 262144."
MAX_PIXELS = 262144


@algorithm("Image.sampleRectangle")
def sample_rectangle(image: Any, region: Any = None, properties: Sequence[str] | None = None,
                     defaultValue: float | None = None, defaultArrayValue: Any = None) -> Feature:
    """Earth Engine's ``Image.sampleRectangle`` (see the module docstring).

    Returns:
      A Feature: the region (or the image's footprint) and, besides the image's properties (the non-system ones,
      or ``properties``), one property per band holding its pixels as a list of rows.
    """
    src = as_image(image)
    if defaultArrayValue is not None:
        raise InvalidArgument("Image.sampleRectangle: array bands are not supported by the local engine; "
                              "defaultArrayValue must be unset.")
    if region is None:
        if src.footprint is None:
            raise InvalidArgument("Image.sampleRectangle: the image is unbounded; give a region.")
        geometry = Geometry(src.footprint, geodesic=False)
    else:
        geometry = as_geometry(region)
    if properties is None:
        props = {k: v for k, v in src.properties.items() if not k.startswith("system:")}
    else:
        props = {k: src.properties[k] for k in properties if k in src.properties}
    for index, band in enumerate(src.bands):
        a, b, _, d, e, _ = band.projection.transform
        if b or d:
            raise InvalidArgument(f"Image.sampleRectangle: band '{band.name}' has a rotated projection.")
        xmin, ymin, xmax, ymax = geometry.in_crs(band.projection.crs).bounds
        # Shrink by a hair so a box lying exactly on pixel edges does not gain a row or column.
        eps = 1e-6 * min(abs(a), abs(e))
        grid = covering_grid(band.projection, (xmin + eps, ymin + eps, xmax - eps, ymax - eps))
        if grid.width * grid.height > MAX_PIXELS:
            raise ResourceExhausted(f"Image.sampleRectangle: Too many pixels in sample; must be <= {MAX_PIXELS}. "
                                    f"Got {grid.width * grid.height} for band '{band.name}'.")
        values, mask = src.compute(grid, [index])[0]
        values = np.asarray(values)
        mask = np.broadcast_to(np.asarray(mask), values.shape)
        if not mask.all():
            if defaultValue is None:
                raise InvalidArgument(
                    f"Image.sampleRectangle: Fully masked pixels / pixels outside of the image footprint when "
                    f"sampling band '{band.name}' with no default value set. Note that calling sampleRectangle() "
                    "on an image after ee.Image.clip() may result in a sampling bounding box outside the geometry "
                    "passed to clip().")
            dtype = np.result_type(values.dtype, np.asarray(defaultValue).dtype)  # -1 next to uint16: int64
            values = np.where(mask, values.astype(dtype), defaultValue)
        props[band.name] = values.tolist()
    return Feature(geometry, props)
