"""Where an image's pixels are computed: ``Image.reproject``, ``setDefaultProjection``, ``resample`` (interpolated
reads of computed images) and the grid's own values, ``pixelArea`` and ``pixelLonLat``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import pixel_areas
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, Projection, covering_grid, normalize_crs, transformer
from aef_ee.local.raster import (
    BandSpec,
    Image,
    PixelType,
    interpolate_array_onto,
    read_array_onto,
    true_mask,
    with_resampling,
)

__all__ = ["reproject", "set_default_projection", "resample", "pixel_area", "pixel_lon_lat"]


def _projection_arg(crs: Any, crsTransform: Any = None, scale: Any = None) -> Projection:
    if isinstance(crs, Projection):
        proj = crs
    else:
        proj = Projection(normalize_crs(str(crs)))
    if crsTransform is not None:
        if len(crsTransform) != 6:
            raise InvalidArgument(f"crsTransform must have 6 numbers; got {list(crsTransform)!r}")
        proj = Projection(proj.crs, tuple(crsTransform))
    elif scale is not None:
        proj = proj.at_scale(float(scale))
    elif not isinstance(crs, Projection):
        raise InvalidArgument("A projection needs a crsTransform or a scale.")
    return proj


@algorithm("Image.reproject")
def reproject(image: Any, crs: Any, crsTransform: Any = None, scale: Any = None) -> Image:
    """Forces computation on ``crs`` at the given scale: pixels are computed on that grid, then resampled."""
    src = as_image(image)
    proj = _projection_arg(crs, crsTransform, scale)
    specs = [BandSpec(b.name, b.pixel_type, proj, None, False) for b in src.bands]

    def read(grid, wanted):
        # The part of the forced grid covering the request, plus a pixel of margin.
        xmin, ymin, xmax, ymax = _bounds_in(grid, proj.crs)
        a = abs(proj.transform[0])
        inner = covering_grid(proj, (xmin - a, ymin - a, xmax + a, ymax + a))
        pixels = src.compute(inner, wanted)
        return [read_array_onto(v, m, inner, grid) for v, m in pixels]

    return src.with_bands(specs, read)


def _bounds_in(grid: Grid, crs: str) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = grid.bounds()
    if grid.crs == crs:
        return xmin, ymin, xmax, ymax
    xs = np.linspace(xmin, xmax, 21)
    ys = np.linspace(ymin, ymax, 21)
    gx, gy = np.meshgrid(xs, ys)
    tx, ty = transformer(grid.crs, crs).transform(gx.ravel(), gy.ravel())
    return float(np.nanmin(tx)), float(np.nanmin(ty)), float(np.nanmax(tx)), float(np.nanmax(ty))


@algorithm("Image.setDefaultProjection")
def set_default_projection(image: Any, crs: Any, crsTransform: Any = None, scale: Any = None) -> Image:
    src = as_image(image)
    proj = _projection_arg(crs, crsTransform, scale)
    specs = [BandSpec(b.name, b.pixel_type, proj, b.dimensions, False) for b in src.bands]
    return src.with_bands(specs, lambda grid, wanted: src.compute(grid, wanted))


@algorithm("Image.resample")
def resample(image: Any, mode: str = "bilinear") -> Image:
    """Earth Engine's ``Image.resample``: the same image, interpolated (bilinear; bicubic is computed as bilinear)
    instead of nearest-neighbour wherever it is requested on another grid than its own.

    An image read from files is read interpolated. Any other image is computed on its bands' default projection
    around the request (coarsened by a whole factor when the request is coarser, as a pyramid level would be) and
    that is interpolated onto the request. Bands without a meaningful default projection (constants, composites:
    "cannot be used on composites", as documented) are returned unchanged.
    """
    if mode not in ("bilinear", "bicubic", "nearest"):
        raise InvalidArgument(f"Image.resample: Unknown resampling mode '{mode}'. Use 'bilinear' or 'bicubic'.")
    src = as_image(image)
    if getattr(src, "_file_bands", None) is not None:
        return with_resampling(src, mode)
    if mode == "nearest":
        return src
    groups: dict[Projection, list[int]] = {}
    for i, band in enumerate(src.bands):
        if not band.is_default_projection:
            groups.setdefault(band.projection, []).append(i)

    def read(grid, wanted):
        out: dict[int, Any] = {}
        plain = [w for w in wanted if src.bands[w].is_default_projection]
        for w, px in zip(plain, src.compute(grid, plain), strict=True):
            out[w] = px
        for projection, members in groups.items():
            needed = [w for w in wanted if w in members]
            if not needed:
                continue
            native = _native_grid_around(projection, grid)
            for w, (v, m) in zip(needed, src.compute(native, needed), strict=True):
                out[w] = interpolate_array_onto(v, m, native, grid)
        return [out[w] for w in wanted]

    return src.with_bands(src.bands, read)


def _native_grid_around(projection: Projection, grid: Grid) -> Grid:
    """The part of ``projection``'s pixel lattice covering ``grid`` with a pixel of margin, coarsened by a whole
    factor when ``grid``'s pixels are coarser (so a zoomed-out request reads about as many pixels as it returns)."""
    a, b, _, d, e, _ = projection.transform
    if b or d:
        raise InvalidArgument("Image.resample: rotated or sheared projections are not supported.")
    xmin, ymin, xmax, ymax = _bounds_in(grid, projection.crs)
    cell = math.sqrt(abs(a * e))
    out_cell = math.sqrt((xmax - xmin) * (ymax - ymin) / (grid.width * grid.height))
    factor = max(1, int(out_cell / cell))
    coarse = projection.scaled(factor, factor)
    ca, ce = abs(coarse.transform[0]), abs(coarse.transform[4])
    return covering_grid(coarse, (xmin - 2 * ca, ymin - 2 * ce, xmax + 2 * ca, ymax + 2 * ce))


@algorithm("Image.pixelArea")
def pixel_area() -> Image:
    """Area of each pixel of the requested grid, in square metres (geodesic, per pixel corners)."""
    spec = BandSpec("area", PixelType("double"), DEFAULT_PROJECTION, None, True)

    def read(grid, wanted):
        return [(pixel_areas(grid), true_mask(grid.shape)) for _ in wanted]

    return Image([spec], read)


@algorithm("Image.pixelLonLat")
def pixel_lon_lat() -> Image:
    specs = [BandSpec("longitude", PixelType("double"), DEFAULT_PROJECTION, None, True),
             BandSpec("latitude", PixelType("double"), DEFAULT_PROJECTION, None, True)]

    def read(grid, wanted):
        x, y = grid.pixel_centers()
        if grid.crs != "EPSG:4326":
            lon, lat = transformer(grid.crs, "EPSG:4326").transform(np.asarray(x), np.asarray(y))
        else:
            lon, lat = np.asarray(x, np.float64), np.asarray(y, np.float64)
        arrays = [np.ascontiguousarray(lon), np.ascontiguousarray(lat)]
        return [(arrays[w], true_mask(grid.shape)) for w in wanted]

    return Image(specs, read)
