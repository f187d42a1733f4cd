"""Writing an image of any size as a (Cloud-Optimized) GeoTIFF block by block, in bounded memory.

Entry point: :func:`write_blocks`. It takes a function computing one block (all bands) and never holds more than
a few blocks, whatever the image's size.

GDAL cannot append to a COG, and building the overviews of a large many-band file through GDAL's block cache either
needs the whole file in the cache or decompresses every tile once per band (measured: a 2048 x 2048 x 64-band file
took minutes with a 256 MiB cache). So the writer works in three steps:

1. Blocks of ``TILE`` x ``TILE`` pixels are computed in Z (Morton) order and written to a temporary tiled,
   band-interleaved GeoTIFF compressed with ZSTD level 1 (measured on 64 float32 bands: 5x less CPU than pixel
   interleaving, and ZSTD-1 about 5x faster than DEFLATE). Each block is also decimated (nearest: one sample of each
   2 x 2 cell, level after level) into one temporary GeoTIFF per overview level; Z order completes an overview tile soon
   after it starts, so GDAL keeps few partial tiles. The mask (the AND of the bands' masks, 0 or 255) is written
   alike.
2. A VRT names the full-resolution file, its overview files and, when a pixel is masked, the mask files.
3. GDAL's GTiff driver copies the VRT into the final DEFLATE-compressed, band-interleaved file; for a COG with
   ``COPY_SRC_OVERVIEWS=YES``, which lays it out as a Cloud-Optimized GeoTIFF (all IFDs first, then the overviews'
   tiles, smallest first, then full resolution). GDAL 3.10's COG driver would write pixel interleaving only, which
   cost 4-5x the CPU on 64 bands, and it drops the mask's overviews.

GDAL's cache is capped at ``CACHE_MB`` while writing. Peak memory is about ``LOOKAHEAD`` + 1 computed blocks
(``TILE``^2 x bands x bytes per value: 64 MiB for 64 float32 bands) plus that cache.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from aef_ee.local.crash_points import crash_point
from aef_ee.local.projection import Grid

__all__ = ["TILE", "CACHE_MB", "BlockFunction", "write_blocks", "blocks_in_z_order", "overview_factors"]

# The final file's tile size (GDAL's COG default) and the computed block's size.
TILE = 512
# Overview intermediates use small tiles, so a partial tile (waiting for its other blocks) costs little memory.
OVERVIEW_TILE = 128
# GDAL's block cache while writing (its default is 5 % of the machine's memory).
CACHE_MB = 256
# Blocks computed ahead of the writer (threads); each costs one block of memory.
LOOKAHEAD = 2

# compute(window) -> (values (bands, h, w) in the output dtype, mask (h, w) bool or None for all valid)
BlockFunction = Callable[[Grid], tuple[np.ndarray, np.ndarray | None]]


def overview_factors(width: int, height: int) -> list[int]:
    """GDAL's COG default: halve until the overview fits in one tile."""
    factors, factor = [], 2
    while max(width, height) > TILE and math.ceil(max(width, height) / (factor // 2)) > TILE:
        factors.append(factor)
        factor *= 2
    return factors


def blocks_in_z_order(columns: int, rows: int) -> Iterator[tuple[int, int]]:
    """(row, column) of every block of a ``rows`` x ``columns`` grid, in Z (Morton) order."""
    side = 1 << max(0, (max(columns, rows) - 1).bit_length())
    for code in range(side * side):
        x = y = 0
        for bit in range(side.bit_length()):
            x |= ((code >> (2 * bit)) & 1) << bit
            y |= ((code >> (2 * bit + 1)) & 1) << bit
        if x < columns and y < rows:
            yield y, x


def _decimate(array: np.ndarray, factor: int) -> np.ndarray:
    """The centre sample of each ``factor`` x ``factor`` cell of the last two axes (an edge cell: its last)."""
    h, w = array.shape[-2:]
    offset = factor // 2
    if (h - 1 - offset) // factor + 1 == math.ceil(h / factor) and \
            (w - 1 - offset) // factor + 1 == math.ceil(w / factor):
        return array[..., offset::factor, offset::factor]  # a strided view: no gather
    rows = np.minimum(np.arange(math.ceil(h / factor)) * factor + offset, h - 1)
    cols = np.minimum(np.arange(math.ceil(w / factor)) * factor + offset, w - 1)
    return array[..., rows[:, None], cols[None, :]]


def _vrt_band(dtype: str, index: int | None, sources: Sequence[str], band: int, description: str | None) -> str:
    full, *overviews = sources
    text = f'  <VRTRasterBand dataType="{dtype}"' + (f' band="{index}">\n' if index is not None else ">\n")
    if description is not None:
        text += f"    <Description>{escape(description)}</Description>\n"
    text += (f'    <SimpleSource><SourceFilename relativeToVRT="0">{escape(full)}</SourceFilename>'
             f"<SourceBand>{band}</SourceBand></SimpleSource>\n")
    for path in overviews:
        text += (f'    <Overview><SourceFilename relativeToVRT="0">{escape(path)}</SourceFilename>'
                 f"<SourceBand>{band}</SourceBand></Overview>\n")
    return text + "  </VRTRasterBand>\n"


def _write_vrt(path: Path, grid: Grid, gdal_dtype: str, names: Sequence[str], data: Sequence[Path],
               masks: Sequence[Path] | None) -> None:
    import rasterio.crs

    a, b, c, d, e, f = grid.transform
    wkt = rasterio.crs.CRS.from_user_input(grid.crs).to_wkt()
    text = (f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">\n'
            f"  <SRS>{escape(wkt)}</SRS>\n  <GeoTransform>{c!r}, {a!r}, {b!r}, {f!r}, {d!r}, {e!r}</GeoTransform>\n")
    sources = [str(p) for p in data]
    for index, name in enumerate(names, start=1):
        text += _vrt_band(gdal_dtype, index, sources, index, name)
    if masks is not None:
        text += "  <MaskBand>\n" + _vrt_band("Byte", None, [str(p) for p in masks], 1, None).replace(
            "\n", "\n  ").rstrip(" ") + "  </MaskBand>\n"
    path.write_text(text + "</VRTDataset>\n", encoding="utf-8")


def write_blocks(path: str | os.PathLike[str], grid: Grid, names: Sequence[str], dtype: np.dtype | str,
                 compute: BlockFunction, *, cloud_optimized: bool, scratch_dir: str | os.PathLike[str],
                 progress: Callable[[float], None] | None = None,
                 check_cancelled: Callable[[], None] | None = None) -> Path:
    """Computes ``grid`` block by block and writes the bands as a DEFLATE GeoTIFF (a COG with overviews if
    ``cloud_optimized``) at ``path``, band descriptions set to ``names``.

    Args:
        path: the output file (written in place: callers write to a temporary name and rename).
        grid: the output's pixel grid, as given.
        names: band names, one per band.
        dtype: the file's data type (every band).
        compute: computes one block: see :data:`BlockFunction`.
        cloud_optimized: write a COG (with overviews) rather than a plain tiled GeoTIFF.
        scratch_dir: an existing folder for the temporary files (removed before returning).
        progress: called with the fraction done (0..1) after each block.
        check_cancelled: called between blocks; raises to stop.

    Returns:
        ``path``.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.transform import Affine
    from rasterio.windows import Window

    dtype = np.dtype(dtype)
    path, scratch = Path(path), Path(scratch_dir)
    token = secrets.token_hex(4)
    factors = overview_factors(grid.width, grid.height) if cloud_optimized else []
    levels = [1, *factors]
    shapes = [(math.ceil(grid.height / f), math.ceil(grid.width / f)) for f in levels]
    data_files = [scratch / f".tmp-{token}-data-{f}.tif" for f in levels]
    mask_files = [scratch / f".tmp-{token}-mask-{f}.tif" for f in levels]
    vrt = scratch / f".tmp-{token}.vrt"
    crs = rasterio.crs.CRS.from_user_input(grid.crs)
    a, b, c, d, e, f0 = grid.transform

    def profile(level: int, count: int, file_dtype: Any) -> dict[str, Any]:
        factor = levels[level]
        tile = TILE if level == 0 else OVERVIEW_TILE
        height, width = shapes[level]
        return dict(driver="GTiff", width=width, height=height, count=count, dtype=file_dtype, crs=crs,
                    transform=Affine(a * factor, b * factor, c, d * factor, e * factor, f0),
                    tiled=True, blockxsize=tile, blockysize=tile, interleave="band", compress="ZSTD",
                    zstd_level=1, bigtiff="IF_SAFER")

    columns, rows = math.ceil(grid.width / TILE), math.ceil(grid.height / TILE)
    total = columns * rows
    any_masked = False
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=CACHE_MB))
            data_out = [stack.enter_context(rasterio.open(p, "w", **profile(i, len(names), dtype)))
                        for i, p in enumerate(data_files)]
            mask_out = [stack.enter_context(rasterio.open(p, "w", **profile(i, 1, "uint8")))
                        for i, p in enumerate(mask_files)]
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=LOOKAHEAD, thread_name_prefix="aef-ee-cog"))

            def block(position: tuple[int, int]) -> tuple[int, int, np.ndarray, np.ndarray | None]:
                r, k = position
                r0, c0 = r * TILE, k * TILE
                window = grid.window(r0, min(r0 + TILE, grid.height), c0, min(c0 + TILE, grid.width))
                values, mask = compute(window)
                return r0, c0, values, mask

            pending: deque = deque()
            order = blocks_in_z_order(columns, rows)
            done = 0
            for position in order:
                pending.append(pool.submit(block, position))
                if len(pending) < LOOKAHEAD:
                    continue
                any_masked |= _write_block(pending.popleft().result(), levels, data_out, mask_out, Window)
                done += 1
                crash_point("export.block")
                if check_cancelled is not None:
                    check_cancelled()
                if progress is not None:
                    progress(done / total)
            while pending:
                any_masked |= _write_block(pending.popleft().result(), levels, data_out, mask_out, Window)
                done += 1
                crash_point("export.block")
                if progress is not None:
                    progress(done / total)
            for dst in data_out:
                for index, name in enumerate(names, start=1):
                    dst.set_band_description(index, name)
        if check_cancelled is not None:
            check_cancelled()
        gdal_dtype = _gdal_type(dtype)
        _write_vrt(vrt, grid, gdal_dtype, names, data_files, mask_files if any_masked else None)
        tiled = cloud_optimized or grid.width > TILE or grid.height > TILE
        layout = dict(tiled="YES", blockxsize=TILE, blockysize=TILE) if tiled else {}
        if cloud_optimized:
            layout["copy_src_overviews"] = "YES"  # IFDs first, then the overviews' tiles, then full resolution
        with rasterio.Env(GDAL_CACHEMAX=CACHE_MB):
            rasterio.shutil.copy(vrt, path, driver="GTiff", compress="DEFLATE", interleave="band",
                                 bigtiff="IF_SAFER", num_threads="ALL_CPUS", **layout)
        crash_point("export.written")
    finally:
        for p in [*data_files, *mask_files, vrt]:
            p.unlink(missing_ok=True)
    return path


def _write_block(computed: tuple[int, int, np.ndarray, np.ndarray | None], levels: Sequence[int],
                 data_out: Sequence[Any], mask_out: Sequence[Any], window_type: Any) -> bool:
    """Writes one computed block at every level; returns whether any of its pixels is masked."""
    r0, c0, values, mask = computed
    masked = mask is not None and not mask.all()
    mask_bytes = (np.full(values.shape[1:], 255, np.uint8) if not masked
                  else mask.astype(np.uint8) * 255)  # type: ignore[union-attr]
    part, part_mask = values, mask_bytes
    for level, factor in enumerate(levels):
        if level:  # each level from the one above: a quarter of the work each time
            part, part_mask = _decimate(part, 2), _decimate(part_mask, 2)
        window = window_type(c0 // factor, r0 // factor, part.shape[2], part.shape[1])
        data_out[level].write(np.ascontiguousarray(part), window=window)
        mask_out[level].write(np.ascontiguousarray(part_mask)[None], window=window)
    return masked


def _gdal_type(dtype: np.dtype) -> str:
    names = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
             "int32": "Int32", "uint64": "UInt64", "int64": "Int64", "float32": "Float32", "float64": "Float64"}
    return names[np.dtype(dtype).name]
