"""Sampling an embedding collection into vectors for the index, through Earth Engine (or the local engine).

Two ways to turn a tile of 10 m pixels into index vectors, both on cells of ``scale`` metres aligned with the tile's
own grid (a cell is ``scale / 10`` native pixels on a side):

- ``"stride"``: every Nth pixel, the one at the centre of each cell (``computePixels`` on a coarse grid of the
  image reprojected to its native grid, so Earth Engine reads the native pixel rather than a pyramid level).
- ``"mean"``: the mean embedding of each cell's valid pixels, re-normalised to unit length (native blocks read with
  ``computePixels`` and averaged here, because ``reduceResolution`` is not served by the local engine).

Each sample keeps its location (longitude and latitude of the cell centre, from ``ee.Image.pixelLonLat``), its
year, its tile and how many valid pixels it stands for. Every request stays under :data:`REQUEST_BYTES`, well below
the 48 MiB that ``computePixels`` answers at most.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from aef_ee.errors import AefValueError, EmbeddingError
from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M, dequantize_array, year_range
from aef_ee.npy import compute_pixels

__all__ = ["SAMPLING_METHODS", "MIN_SCALE_M", "MAX_SCALE_M", "Sampling", "Tile", "Samples", "list_tiles",
           "sample_tile", "sample_tiles"]

log = logging.getLogger(__name__)

SAMPLING_METHODS = ("stride", "mean")
# The range of cell sizes: one native pixel to one kilometre.
MIN_SCALE_M = NATIVE_SCALE_M
MAX_SCALE_M = 1000
# computePixels answers at most 48 MiB (Earth Engine's limit); a third of it keeps every request well clear.
REQUEST_BYTES = 16 * 2**20
_DIMS = len(EMBEDDING_BANDS)


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How tiles become index vectors.

    Attributes:
      method: "stride" (the pixel at each cell's centre) or "mean" (each cell's mean vector, re-normalised).
      scale: the cell size in metres, a multiple of the native 10 m within [10, 1000].
    """

    method: str = "mean"
    scale: float = 100.0

    def __post_init__(self) -> None:
        if self.method not in SAMPLING_METHODS:
            raise AefValueError(f"sampling method must be one of {list(SAMPLING_METHODS)}; got {self.method!r}")
        scale = float(self.scale)
        whole = abs(scale / NATIVE_SCALE_M - round(scale / NATIVE_SCALE_M)) < 1e-9
        if not (MIN_SCALE_M <= scale <= MAX_SCALE_M and whole):
            raise AefValueError(f"sampling scale must be a multiple of {NATIVE_SCALE_M} m within "
                                f"[{MIN_SCALE_M}, {MAX_SCALE_M}]; got {self.scale!r}")
        object.__setattr__(self, "scale", scale)

    @property
    def factor(self) -> int:
        """Native pixels per cell side."""
        return int(round(self.scale / NATIVE_SCALE_M))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "scale": self.scale}


@dataclasses.dataclass(frozen=True)
class Tile:
    """One image of the collection: its asset ID, year and native grid (what ``getInfo`` says of its bands)."""

    id: str
    year: int
    crs: str
    transform: tuple[float, float, float, float, float, float]  # Earth Engine's crs_transform order
    width: int
    height: int
    quantized: bool  # int8 codes (our collections) rather than float values

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "year": self.year, "crs": self.crs, "transform": list(self.transform),
                "width": self.width, "height": self.height, "quantized": self.quantized}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Tile:
        return cls(str(obj["id"]), int(obj["year"]), str(obj["crs"]), tuple(float(v) for v in obj["transform"]),
                   int(obj["width"]), int(obj["height"]), bool(obj["quantized"]))


@dataclasses.dataclass
class Samples:
    """Index rows: unit vectors and where they come from.

    Attributes:
      vectors: (n, 64) float32 unit vectors.
      lon, lat: (n,) float64 degrees of the cell centre.
      year: (n,) int16.
      tile: (n,) int32 position of the row's tile in the list the samples were made from.
      pixels: (n,) uint16 valid native pixels the row stands for (1 for "stride").
    """

    vectors: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    year: np.ndarray
    tile: np.ndarray
    pixels: np.ndarray

    def __len__(self) -> int:
        return len(self.vectors)

    @classmethod
    def empty(cls) -> Samples:
        return cls(np.empty((0, _DIMS), np.float32), np.empty(0), np.empty(0), np.empty(0, np.int16),
                   np.empty(0, np.int32), np.empty(0, np.uint16))

    @classmethod
    def concat(cls, parts: Sequence[Samples]) -> Samples:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))


def list_tiles(collection: str, years: Sequence[int], region: Any = None) -> list[Tile]:
    """The images of ``collection`` in ``years`` (touching ``region``), one request per year.

    Raises:
      EmbeddingError: no image in any of the years.
    """
    import ee

    tiles: list[Tile] = []
    for year in sorted({int(y) for y in years}):
        images = ee.ImageCollection(collection).filterDate(*year_range(year))
        if region is not None:
            images = images.filterBounds(region)
        info = images.select([EMBEDDING_BANDS[0]]).getInfo()
        for feature in info.get("features", []):
            band = feature["bands"][0]
            start = feature.get("properties", {}).get("system:time_start")
            tile_year = year if start is None else datetime.datetime.fromtimestamp(
                start / 1000, datetime.timezone.utc).year
            tiles.append(Tile(feature["id"], tile_year, band["crs"], tuple(float(v) for v in band["crs_transform"]),
                              int(band["dimensions"][0]), int(band["dimensions"][1]),
                              band["data_type"].get("precision") == "int"))
    if not tiles:
        raise EmbeddingError(f"{collection} has no images in {sorted(set(years))}"
                             + (" over the region" if region is not None else ""))
    return tiles


def sample_tiles(tiles: Sequence[Tile], sampling: Sampling, *, progress: bool = False,
                 first_tile_index: int = 0) -> Samples:
    """Samples every tile; row ``tile`` numbers count from ``first_tile_index``."""
    from tqdm.auto import tqdm

    parts = []
    for i, tile in enumerate(tqdm(tiles, desc="sampling tiles", unit="tile", disable=not progress)):
        part = sample_tile(tile, sampling)
        part.tile[:] = first_tile_index + i
        parts.append(part)
    return Samples.concat(parts)


def sample_tile(tile: Tile, sampling: Sampling) -> Samples:
    """The index rows of one tile (its ``tile`` column is 0), cells with no valid pixel left out."""
    if tile.transform[1] or tile.transform[3]:
        raise EmbeddingError(f"tile {tile.id!r} has a rotated grid {tile.transform}; only north-up grids are sampled")
    parts = [_sample_block(tile, sampling, block) for block in _blocks(tile, sampling)]
    return Samples.concat([p for p in parts if len(p)])


@dataclasses.dataclass(frozen=True)
class _Block:
    """A rectangle of whole cells: cell rows [row, row + rows), cell columns [col, col + cols)."""

    row: int
    col: int
    rows: int
    cols: int


def _blocks(tile: Tile, sampling: Sampling) -> Iterator[_Block]:
    n = sampling.factor
    cell_rows, cell_cols = -(-tile.height // n), -(-tile.width // n)
    value_bytes = 1 if tile.quantized else 4
    if sampling.method == "stride":
        per_cell = _DIMS * value_bytes + 16 + 1  # the vector, longitude and latitude, the mask
    else:
        per_cell = n * n * (_DIMS * value_bytes + 1)
    side = max(1, int((REQUEST_BYTES / per_cell) ** 0.5))
    for row in range(0, cell_rows, side):
        for col in range(0, cell_cols, side):
            yield _Block(row, col, min(side, cell_rows - row), min(side, cell_cols - col))


def _grid(tile: Tile, scale_factor: int, block: _Block, *, cells: bool, offset: float = 0.0) -> dict[str, Any]:
    """A computePixels grid over ``block``: one pixel per cell (``cells``) or per native pixel."""
    sx, _, x0, _, sy, y0 = tile.transform
    step = scale_factor if cells else 1
    width, height = (block.cols, block.rows) if cells else (block.cols * scale_factor, block.rows * scale_factor)
    return {"crsCode": tile.crs, "dimensions": {"width": width, "height": height},
            "affineTransform": {"scaleX": sx * step, "shearX": 0, "translateX": x0 + block.col * scale_factor * sx
                                + offset * sx, "shearY": 0, "scaleY": sy * step,
                                "translateY": y0 + block.row * scale_factor * sy + offset * sy}}


def _image(tile: Tile) -> Any:
    import ee

    image = ee.Image(tile.id).select(EMBEDDING_BANDS)
    return image if tile.quantized else image.toFloat()


def _valid(image: Any) -> Any:
    import ee

    # A pixel counts when all 64 bands are valid; mask() is 0 (not masked) outside the tile, so the band is dense.
    return image.mask().reduce(ee.Reducer.min()).gt(0).rename("valid").toUint8()


def _vectors(pixels: np.ndarray, quantized: bool) -> np.ndarray:
    """Structured computePixels result -> (..., 64) float32 embedding values."""
    stacked = np.stack([pixels[b] for b in EMBEDDING_BANDS], axis=-1)
    return dequantize_array(stacked) if quantized else stacked.astype(np.float32)


def _sample_block(tile: Tile, sampling: Sampling, block: _Block) -> Samples:
    import ee

    n = sampling.factor
    image = _image(tile)
    if sampling.method == "stride":
        # The cell-centre pixel: with an even factor the centre falls on a pixel corner; shift half a pixel so that
        # the coarse pixel's centre is the centre of native pixel n // 2 of the cell.
        offset = (n // 2) + 0.5 - n / 2
        native = image.reproject(ee.Image(tile.id).select(EMBEDDING_BANDS[0]).projection())
        request = native.addBands(_valid(image).reproject(native.projection())).addBands(ee.Image.pixelLonLat())
        out = compute_pixels({"expression": request, "grid": _grid(tile, n, block, cells=True, offset=offset)})
        vectors = _vectors(out, tile.quantized)
        ok = (out["valid"] > 0) & np.isfinite(vectors).all(axis=-1)
        # Cells past the tile's edge hold no native pixel centre of this tile.
        rows = block.row + np.arange(block.rows)[:, None]
        cols = block.col + np.arange(block.cols)[None, :]
        ok &= (rows * n + n // 2 < tile.height) & (cols * n + n // 2 < tile.width)
        counts = np.ones(ok.shape, np.uint16)
        lonlat = out
    else:
        out = compute_pixels({"expression": image.addBands(_valid(image)), "grid": _grid(tile, n, block, cells=False)})
        values = _vectors(out, tile.quantized)
        valid = (out["valid"] > 0) & np.isfinite(values).all(axis=-1)
        values = np.where(valid[..., None], values, 0.0)
        cells = values.reshape(block.rows, n, block.cols, n, _DIMS).sum(axis=(1, 3), dtype=np.float64)
        counts = valid.reshape(block.rows, n, block.cols, n).sum(axis=(1, 3))
        ok = counts > 0
        vectors = (cells / np.maximum(counts, 1)[..., None]).astype(np.float32)
        lonlat = compute_pixels({"expression": ee.Image.pixelLonLat(), "grid": _grid(tile, n, block, cells=True)})
        counts = counts.astype(np.uint16)
    vectors = vectors[ok]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    keep = norms[:, 0] > 0
    m = int(keep.sum())
    return Samples((vectors[keep] / norms[keep]).astype(np.float32), lonlat["longitude"][ok][keep].astype(np.float64),
                   lonlat["latitude"][ok][keep].astype(np.float64), np.full(m, tile.year, np.int16),
                   np.zeros(m, np.int32), counts[ok][keep])
