"""Opening embedding collections, Google's or ours, as one de-quantised image in its native projection.

Google's ``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`` holds one image per UTM tile and year with bands ``A00``..``A63``.
Collections written by this project hold the same bands, either float32 or int8 quantised as the public dataset is
stored: ``q = round(sign(v) * sqrt(|v|) * 127.5)``, de-quantised as ``v = sign(q) * (q / 127.5) ** 2``, nodata -128.

A plain ``collection.mosaic()`` has Earth Engine's default projection (WGS84 at 1 degree), so a ``reduceRegion`` or
``sample`` without an explicit scale silently works at 1 degree; :func:`open_embeddings` gives the mosaic the native
projection of the collection's first image instead.
"""

from __future__ import annotations

from typing import Any

from aef_ee.errors import EmbeddingError

__all__ = [
    "GOOGLE_EMBEDDINGS",
    "EMBEDDING_BANDS",
    "NATIVE_SCALE_M",
    "QUANTISED_NODATA",
    "open_embeddings",
    "dequantize",
    "quantize_array",
    "dequantize_array",
    "year_range",
]

GOOGLE_EMBEDDINGS = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL"
EMBEDDING_BANDS = [f"A{i:02d}" for i in range(64)]
NATIVE_SCALE_M = 10
QUANTISED_NODATA = -128
_QUANT = 127.5


def year_range(year: int) -> tuple[str, str]:
    """The valid period of an annual embedding: [1 January, next 1 January)."""
    if not isinstance(year, int) or not 1900 <= year <= 2200:
        raise EmbeddingError(f"year must be an integer year such as 2024; got {year!r}")
    return f"{year}-01-01", f"{year + 1}-01-01"


def dequantize(image: Any) -> Any:
    """``ee.Image`` of int8 codes -> float embedding values; -128 becomes masked."""
    import ee

    q = ee.Image(image).select(EMBEDDING_BANDS)
    valid = q.neq(QUANTISED_NODATA)
    values = q.toFloat().divide(_QUANT).pow(2).multiply(q.signum())
    return values.updateMask(valid).rename(EMBEDDING_BANDS)


def quantize_array(values: Any) -> Any:
    """numpy (..., 64) float -> int8 codes (NaN -> -128), as the public dataset stores them."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    q = np.round(np.sign(v) * np.sqrt(np.abs(v)) * _QUANT)
    q = np.clip(q, -127, 127)
    q = np.where(np.isnan(v), QUANTISED_NODATA, q)
    return q.astype(np.int8)


def dequantize_array(codes: Any) -> Any:
    """numpy int8 codes -> float32 values (NaN where -128)."""
    import numpy as np

    q = np.asarray(codes).astype(np.float32)
    v = np.sign(q) * (q / _QUANT) ** 2
    return np.where(q == QUANTISED_NODATA, np.nan, v).astype(np.float32)


def open_embeddings(
    year: int,
    region: Any = None,
    *,
    collection: str = GOOGLE_EMBEDDINGS,
    quantized: bool | None = None,
    check: bool = True,
) -> Any:
    """The embedding field of ``year`` over ``region`` as one ``ee.Image`` with bands A00..A63.

    Args:
      year: the calendar year.
      region: an ``ee.Geometry`` (or Feature / FeatureCollection) to keep the tiles that touch it; None keeps all.
      collection: the embedding ImageCollection ID (Google's, or one registered by ``aef-ee register``).
      quantized: whether the bands are int8 codes to de-quantise; None looks at the first image's band type.
      check: ask Earth Engine (one small request) whether the year and region are covered, and raise if not.

    Returns:
      A float ``ee.Image`` with the 64 embedding bands in the native projection of the first tile.

    Raises:
      EmbeddingError: the collection has no image for that year (and region).
    """
    import ee

    start, end = year_range(year)
    images = ee.ImageCollection(collection).filterDate(start, end)
    if region is not None:
        images = images.filterBounds(_geometry(region))
    first = images.first()
    if check or quantized is None:
        info = ee.Dictionary({
            "count": images.size(),
            "types": ee.Algorithms.If(images.size().gt(0), ee.Image(first).select(EMBEDDING_BANDS[0]).bandTypes(),
                                      None),
            "years": ee.ImageCollection(collection).aggregate_array("system:time_start").map(
                lambda t: ee.Date(t).get("year")).distinct(),
        }).getInfo()
        if check and not info["count"]:
            years = sorted(int(y) for y in (info.get("years") or []))
            where = " over the region" if region is not None else ""
            raise EmbeddingError(
                f"{collection} has no embeddings for {year}{where}; years it covers: {years or 'none'}")
        if quantized is None:
            types = info.get("types") or {}
            precision = (types.get(EMBEDDING_BANDS[0]) or {}).get("precision", "float")
            quantized = precision == "int"
    mosaic = images.select(EMBEDDING_BANDS).mosaic()
    if quantized:
        mosaic = dequantize(mosaic)
    native = ee.Image(first).select(EMBEDDING_BANDS[0]).projection()
    return mosaic.setDefaultProjection(native).set("year", year)


def _geometry(region: Any) -> Any:
    import ee

    if isinstance(region, ee.Geometry):
        return region
    if isinstance(region, (ee.Feature, ee.FeatureCollection)):
        return region.geometry()
    if isinstance(region, (list, tuple)) and len(region) == 4 and all(isinstance(v, (int, float)) for v in region):
        return ee.Geometry.Rectangle(list(region))
    if isinstance(region, ee.ComputedObject):
        return ee.Geometry(region)
    raise EmbeddingError(f"region must be an ee.Geometry, Feature, FeatureCollection or [w, s, e, n]; got {region!r}")

