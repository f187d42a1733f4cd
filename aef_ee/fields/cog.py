"""Writing embedding fields as Cloud-Optimised GeoTIFFs in the form of Google's Satellite Embedding dataset.

64 bands ``A00``..``A63``; int8 quantised (``q = round(sign(v) * sqrt(|v|) * 127.5)``, nodata -128) or float32
(nodata NaN). Overviews hold *re-normalised means*: each 2 x 2 block of unit vectors is averaged and scaled back to
unit length (an average of int8 codes, what GDAL would build, is neither a mean nor on the sphere). GDAL cannot be
handed overview pixels directly, so each level is written to a temporary GeoTIFF, referenced as an explicit overview
of a VRT, and the COG driver copies them with ``OVERVIEWS=FORCE_USE_EXISTING``. The file appears atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from aef_ee.atomic import atomic_path
from aef_ee.fields.collection import EMBEDDING_BANDS, QUANTISED_NODATA, quantize_array
from aef_ee.errors import AefValueError

__all__ = ["write_embedding_cog", "renormalised_mean_pyramid", "BLOCK_SIZE", "COG_TEMP_PREFIX"]

BLOCK_SIZE = 256
# The hidden folder beside the output where a COG's levels are built before the final copy (removed on exit; a
# killed writer leaves it, and a resuming job removes it with aef_ee.atomic.remove_temporaries).
COG_TEMP_PREFIX = ".cog-"
MIN_OVERVIEW_SIZE = 64


def renormalised_mean_pyramid(field: np.ndarray, *, min_size: int = MIN_OVERVIEW_SIZE) -> list[np.ndarray]:
    """Overview levels of an (H, W, 64) field (NaN = no data): 2 x 2 means re-normalised to unit length.

    Returns:
      The levels after the full resolution, each (ceil(h/2), ceil(w/2), 64) of the previous one.
    """
    levels = []
    current = np.asarray(field, np.float32)
    while max(current.shape[:2]) > min_size:
        h, w, c = current.shape
        ph, pw = h % 2, w % 2
        padded = np.pad(current, ((0, ph), (0, pw), (0, 0)), constant_values=np.nan)
        blocks = padded.reshape((h + ph) // 2, 2, (w + pw) // 2, 2, c)
        valid = np.isfinite(blocks[..., 0])
        total = np.nansum(blocks, axis=(1, 3))
        count = valid.sum(axis=(1, 3))
        norm = np.linalg.norm(total, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            level = np.where((count[..., None] > 0) & (norm > 0), total / norm, np.nan).astype(np.float32)
        levels.append(level)
        current = level
    return levels


def _encode(field: np.ndarray, quantize: bool) -> np.ndarray:
    """(H, W, 64) float -> (64, H, W) int8 codes or float32."""
    if quantize:
        return quantize_array(field).transpose(2, 0, 1)
    return np.asarray(field, np.float32).transpose(2, 0, 1)


def write_embedding_cog(
    path: str | os.PathLike[str],
    field: np.ndarray,
    *,
    transform: tuple[float, float, float, float, float, float],
    crs: str,
    tags: Mapping[str, str] | None = None,
    quantize: bool = True,
) -> Path:
    """Writes an (H, W, 64) embedding field (unit vectors, NaN where no data) as a COG.

    Args:
      path: the output ``.tif``; written under a temporary name and renamed into place.
      field: float (H, W, 64).
      transform: affine (a, b, c, d, e, f) of the full-resolution grid, metres.
      crs: e.g. "EPSG:32631".
      tags: GeoTIFF metadata (see :func:`aef_ee.fields.register.cog_tags`).
      quantize: int8 as the public dataset (default) or float32.
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy
    from rasterio.transform import Affine

    field = np.asarray(field)
    if field.ndim != 3 or field.shape[2] != len(EMBEDDING_BANDS):
        raise AefValueError(f"an embedding field is (H, W, 64); got shape {field.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = "int8" if quantize else "float32"
    nodata = QUANTISED_NODATA if quantize else float("nan")
    levels = [field, *renormalised_mean_pyramid(field)]
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=COG_TEMP_PREFIX) as tmp:
        level_paths = []
        for i, level in enumerate(levels):
            scale = 2**i
            a, b, c, d, e, f = transform
            level_path = Path(tmp) / f"level{i}.tif"
            with rasterio.open(level_path, "w", driver="GTiff", width=level.shape[1], height=level.shape[0],
                               count=len(EMBEDDING_BANDS), dtype=dtype, crs=crs, nodata=nodata,
                               transform=Affine(a * scale, b, c, d, e * scale, f), tiled=True,
                               blockxsize=BLOCK_SIZE, blockysize=BLOCK_SIZE) as dst:
                dst.write(_encode(level, quantize))
            level_paths.append(level_path)
        vrt = Path(tmp) / "field.vrt"
        vrt.write_text(_vrt(level_paths, field.shape, transform, crs, dtype, nodata, tags or {}))
        with atomic_path(path) as out_tmp:
            rio_copy(str(vrt), str(out_tmp), driver="COG", OVERVIEWS="FORCE_USE_EXISTING", COMPRESS="DEFLATE",
                     BLOCKSIZE=str(BLOCK_SIZE))
    return path


def _vrt(level_paths: list[Path], shape: tuple[int, ...], transform: tuple[float, ...], crs: str, dtype: str,
         nodata: float, tags: Mapping[str, Any]) -> str:
    """A VRT over level 0 whose bands name their overviews explicitly; band names and tags ride along."""
    from rasterio.crs import CRS

    a, b, c, d, e, f = transform
    gdal_type = {"int8": "Int8", "float32": "Float32"}[dtype]
    nodata_text = "nan" if isinstance(nodata, float) and np.isnan(nodata) else str(nodata)
    bands = []
    for band in range(1, len(EMBEDDING_BANDS) + 1):
        overviews = "".join(
            f"<Overview><SourceFilename relativeToVRT=\"0\">{escape(str(p))}</SourceFilename>"
            f"<SourceBand>{band}</SourceBand></Overview>" for p in level_paths[1:])
        bands.append(
            f"<VRTRasterBand dataType=\"{gdal_type}\" band=\"{band}\">"
            f"<Description>{EMBEDDING_BANDS[band - 1]}</Description><NoDataValue>{nodata_text}</NoDataValue>"
            f"<SimpleSource><SourceFilename relativeToVRT=\"0\">{escape(str(level_paths[0]))}</SourceFilename>"
            f"<SourceBand>{band}</SourceBand></SimpleSource>{overviews}</VRTRasterBand>")
    srs = escape(CRS.from_user_input(crs).to_wkt())
    metadata = "".join(f"<MDI key=\"{escape(str(k))}\">{escape(str(v))}</MDI>" for k, v in tags.items())
    return (f"<VRTDataset rasterXSize=\"{shape[1]}\" rasterYSize=\"{shape[0]}\"><SRS>{srs}</SRS>"
            f"<GeoTransform>{c}, {a}, {b}, {f}, {d}, {e}</GeoTransform><Metadata>{metadata}</Metadata>"
            f"{''.join(bands)}</VRTDataset>")
