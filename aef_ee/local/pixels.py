"""Computing an image's pixels on a grid in strips, and encoding them as NPY, GeoTIFF or PNG.

Strips bound the memory of one request (a 64-band float32 input is read a few hundred rows at a time) and run on a
small thread pool: rasterio and numpy release the GIL, so two cores work on two strips.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from aef_ee.local.errors import InvalidArgument, ResourceExhausted
from aef_ee.local.projection import Grid, Projection, covering_grid, normalize_crs, transformer
from aef_ee.local.raster import Image
from aef_ee.local.values import Geometry

__all__ = [
    "REQUEST_BYTE_LIMIT",
    "MAX_GRID_DIMENSION",
    "compute_pixels",
    "check_request_size",
    "to_npy",
    "to_geotiff",
    "grid_from_json",
    "native_grid",
    "snapped_grid",
]

# Earth Engine refuses computePixels / getPixels responses over 48 MiB ("Total request size (N bytes) must be less
# than or equal to 50331648 bytes.") and grids over 32768 pixels a side.
REQUEST_BYTE_LIMIT = 48 * 2**20
MAX_GRID_DIMENSION = 32768
# Pixels per strip: 2^21 pixels x 64 float32 bands is 512 MiB at most in flight per worker.
STRIP_PIXELS = 2**20
WORKERS = max(1, min(4, os.cpu_count() or 1))
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="aef-ee-pixels")


def grid_from_json(grid: dict | None, image: Image) -> Grid:
    """An Earth Engine ``PixelGrid`` JSON (crsCode, affineTransform, dimensions) as a :class:`Grid`."""
    if not grid:
        return native_grid(image)
    if not isinstance(grid, dict):
        raise InvalidArgument(f"Invalid grid {grid!r}.")
    dims = grid.get("dimensions") or {}
    base = native_grid(image) if (not dims or "affineTransform" not in grid) else None
    crs = grid.get("crsCode") or (base.crs if base else image.default_projection().crs)
    if "crsWkt" in grid and not grid.get("crsCode"):
        crs = grid["crsWkt"]
    if "affineTransform" in grid:
        at = grid["affineTransform"]
        try:
            transform = (float(at.get("scaleX", 1)), float(at.get("shearX", 0)), float(at.get("translateX", 0)),
                         float(at.get("shearY", 0)), float(at.get("scaleY", 1)), float(at.get("translateY", 0)))
        except (TypeError, ValueError, AttributeError):
            raise InvalidArgument(f"Invalid affineTransform {at!r}.") from None
    elif base is not None and normalize_crs(crs) != base.crs:
        # Another CRS without a transform: the image's own extent and pixel size, on that CRS's pixel lattice
        # (origin at multiples of the pixel size, as Earth Engine's exports snap to the CRS's grid).
        base = snapped_grid(base, normalize_crs(crs))
        transform = base.transform
    else:
        transform = base.transform  # type: ignore[union-attr]
    try:
        width = int(dims.get("width", base.width if base else 0))
        height = int(dims.get("height", base.height if base else 0))
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid grid dimensions {dims!r}.") from None
    if width > MAX_GRID_DIMENSION or height > MAX_GRID_DIMENSION:
        raise InvalidArgument(
            f"Grid dimensions {width}x{height} exceed the maximum of {MAX_GRID_DIMENSION} pixels per side.")
    return Grid(Projection(normalize_crs(crs), transform), width, height)


def snapped_grid(grid: Grid, crs: str) -> Grid:
    """The grid in ``crs`` covering ``grid``'s extent at its nominal pixel size (metres; degrees at the equator for
    a geographic ``crs``), snapped to ``crs``'s lattice of that size: pixel edges at multiples of the size."""
    scale = grid.projection.nominal_scale
    lattice = Projection(crs, (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)).at_scale(scale)
    xmin, ymin, xmax, ymax = grid.bounds()
    if grid.crs != crs:
        xs, ys = np.meshgrid(np.linspace(xmin, xmax, 21), np.linspace(ymin, ymax, 21))
        tx, ty = transformer(grid.crs, crs).transform(xs.ravel(), ys.ravel())
        xmin, ymin, xmax, ymax = float(np.nanmin(tx)), float(np.nanmin(ty)), float(np.nanmax(tx)), float(np.nanmax(ty))
    return covering_grid(lattice, (xmin, ymin, xmax, ymax))


def native_grid(image: Image) -> Grid:
    """The first band's own pixel grid; an unbounded (computed) image needs an explicit grid."""
    if not image.bands:
        raise InvalidArgument("Image has no bands.")
    band = image.bands[0]
    if band.dimensions is None and image.footprint is not None and not band.is_default_projection:
        bounds = Geometry(image.footprint, geodesic=False).in_crs(band.projection.crs).bounds
        a, _, c, _, e, f = band.projection.transform
        # Shrink by a hair so a footprint that lies exactly on pixel edges does not gain a row or column.
        eps = 1e-6 * abs(a)
        return covering_grid(band.projection, (bounds[0] + eps, bounds[1] + eps, bounds[2] - eps, bounds[3] - eps))
    if band.dimensions is None:
        raise InvalidArgument(
            "Unable to compute pixels of an unbounded image without an explicit grid (dimensions and transform).")
    return Grid(band.projection, band.dimensions[0], band.dimensions[1])


def check_request_size(grid: Grid, dtypes: Sequence[np.dtype]) -> None:
    total = grid.width * grid.height * sum(np.dtype(d).itemsize for d in dtypes)
    if total > REQUEST_BYTE_LIMIT:
        raise ResourceExhausted(
            f"Total request size ({total} bytes) must be less than or equal to {REQUEST_BYTE_LIMIT} bytes.")


def output_dtypes(image: Image) -> list[np.dtype]:
    return [b.pixel_type.dtype for b in image.bands]


def compute_pixels(image: Image, grid: Grid, *, fill: float = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """All bands of ``image`` on ``grid``: per band values (H, W) in the band's dtype and mask (H, W) bool.

    Masked pixels hold ``fill``.
    """
    dtypes = output_dtypes(image)
    values = [np.empty(grid.shape, dtype=d) for d in dtypes]
    masks = [np.empty(grid.shape, dtype=bool) for _ in dtypes]

    def work(rows: tuple[int, int]) -> None:
        r0, r1 = rows
        for i, (v, m) in enumerate(image.compute(grid.window(r0, r1))):
            if np.ndim(v) != 2:
                raise InvalidArgument(
                    f"Band '{image.bands[i].name}' holds an array per pixel; flatten it with arrayFlatten() "
                    "before computing pixels.")
            m = np.asarray(m)
            values[i][r0:r1] = np.where(m, v, fill) if not m.all() else v
            masks[i][r0:r1] = m

    strips = grid.strips(max(1, STRIP_PIXELS // max(1, len(dtypes) // 8 + 1)))
    if len(strips) == 1:
        work(strips[0])
    else:
        for future in [_POOL.submit(work, s) for s in strips]:
            future.result()
    return values, masks


def to_npy(names: Sequence[str], values: Sequence[np.ndarray]) -> bytes:
    """A structured (H, W) array with one field per band, as Earth Engine's NPY format.

    One band is written as it is (a structured view of it, no copy); several are interleaved once. The bytes are
    assembled with one copy (``np.save`` into a buffer would copy the array twice)."""
    for name, v in zip(names, values):
        if v.ndim != 2:
            raise InvalidArgument(
                f"Band '{name}' holds arrays of shape {v.shape[2:]} per pixel; flatten it with arrayFlatten() "
                "before computing pixels.")
    dtype = np.dtype([(name, v.dtype) for name, v in zip(names, values)])
    if len(values) == 1:
        out = np.ascontiguousarray(values[0]).view(dtype)
    else:
        out = np.empty(values[0].shape, dtype=dtype)
        for name, v in zip(names, values):
            out[name] = v
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(out))
    return b"".join([header.getvalue(), memoryview(out).cast("B")])


def to_geotiff(
    grid: Grid,
    names: Sequence[str],
    values: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
    *,
    cloud_optimized: bool = False,
    nodata: float | None = None,
) -> bytes:
    """A GeoTIFF (optionally Cloud-Optimised) of the bands, with band descriptions set to the band names."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    dtype = np.result_type(*[v.dtype for v in values])
    a, b, c, d, e, f = grid.transform
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": len(values),
        "dtype": dtype,
        "crs": rasterio.crs.CRS.from_user_input(grid.crs),
        "transform": Affine(a, b, c, d, e, f),
        "compress": "deflate",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    if cloud_optimized or grid.width > 512 or grid.height > 512:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            for i, (name, v) in enumerate(zip(names, values), start=1):
                dst.write(v.astype(dtype, copy=False), i)
                dst.set_band_description(i, name)
            if masks is not None and nodata is None:
                combined = np.logical_and.reduce([np.asarray(m) for m in masks])
                if not combined.all():
                    dst.write_mask(combined.astype(np.uint8) * 255)
        if not cloud_optimized:
            return memfile.read()
        return _to_cog(memfile)


def _to_cog(memfile) -> bytes:
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy

    with memfile.open() as src:
        with MemoryFile() as out:
            rio_copy(src, out.name, driver="COG", compress="DEFLATE", overview_resampling="nearest")
            return out.read()
