"""Lazy images: named bands, each with its own projection, pixel type and mask, evaluated on a requested grid.

An :class:`Image` knows its bands' metadata without reading pixels. ``image.compute(grid)`` pulls only the source
windows the grid needs (rasterio windowed reads, one read per file for all its requested bands), resamples them
nearest-neighbour (or bilinear / bicubic after ``resample``) onto the grid, and applies the chain of operations
band by band. Each band yields ``(values (H, W), mask (H, W) bool)``; a masked pixel's value is meaningless.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, Projection, transformer

__all__ = [
    "PixelType",
    "BandSpec",
    "Image",
    "BandPixels",
    "constant_image",
    "file_image",
    "true_mask",
]

BandPixels = tuple[np.ndarray, np.ndarray]  # values (H, W), mask (H, W) bool
Reader = Callable[[Grid, Sequence[int]], list[BandPixels]]


@dataclasses.dataclass(frozen=True)
class PixelType:
    """Earth Engine's pixel type: a precision ('int', 'float', 'double') and, for ints, a value range."""

    precision: str
    min: float | None = None
    max: float | None = None

    @classmethod
    def from_dtype(cls, dtype: np.dtype | str) -> "PixelType":
        dtype = np.dtype(dtype)
        if dtype == np.bool_:
            return cls("int", 0, 1)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return cls("int", int(info.min), int(info.max))
        if dtype == np.float64:
            return cls("double")
        return cls("float")

    @property
    def dtype(self) -> np.dtype:
        if self.precision == "double":
            return np.dtype(np.float64)
        if self.precision == "float":
            return np.dtype(np.float32)
        lo, hi = self.min, self.max
        for candidate in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64):
            info = np.iinfo(candidate)
            if info.min <= lo and hi <= info.max:
                return np.dtype(candidate)
        return np.dtype(np.float64)

    def to_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "PixelType", "precision": self.precision}
        if self.precision == "int":
            info["min"] = int(self.min)  # type: ignore[arg-type]
            info["max"] = int(self.max)  # type: ignore[arg-type]
        return info


@dataclasses.dataclass(frozen=True)
class BandSpec:
    """A band's metadata: name, pixel type, projection, and (for source bands) its pixel dimensions."""

    name: str
    pixel_type: PixelType
    projection: Projection = DEFAULT_PROJECTION
    dimensions: tuple[int, int] | None = None  # (width, height) of the source raster, None for computed/unbounded
    is_default_projection: bool = False

    def renamed(self, name: str) -> "BandSpec":
        return dataclasses.replace(self, name=name)

    def to_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.name,
            "data_type": self.pixel_type.to_info(),
            "crs": self.projection.crs,
            "crs_transform": list(self.projection.transform),
        }
        if self.dimensions is not None:
            info["dimensions"] = list(self.dimensions)
        return info


def true_mask(shape: tuple[int, int]) -> np.ndarray:
    """A read-only all-True mask of ``shape`` that costs no memory."""
    return np.broadcast_to(np.True_, shape)


class Image:
    """A lazy image: band metadata, properties, and a reader producing pixels for a grid.

    Attributes:
      bands: the band specs, in order.
      properties: image properties (``system:time_start`` in ms, ``system:index``, ...).
      footprint: the area with data, as a shapely geometry in EPSG:4326, or None when unbounded.
    """

    def __init__(
        self,
        bands: Sequence[BandSpec],
        reader: Reader,
        properties: Mapping[str, Any] | None = None,
        *,
        footprint: Any = None,
    ) -> None:
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InvalidArgument(f"Image has duplicate band names: {dupes}.")
        self.bands = tuple(bands)
        self._reader = reader
        self.properties = dict(properties or {})
        self.footprint = footprint

    # --- metadata ----------------------------------------------------------------------------------------
    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band_index(self, name: str) -> int:
        for i, band in enumerate(self.bands):
            if band.name == name:
                return i
        raise NotFound(f"Image.select: Pattern '{name}' did not match any bands. Available bands: {self.band_names}")

    def default_projection(self) -> Projection:
        """The first band's projection, as Earth Engine's ``Image.projection()`` (errors on mixed projections)."""
        if not self.bands:
            return DEFAULT_PROJECTION
        return self.bands[0].projection

    def with_properties(self, properties: Mapping[str, Any]) -> "Image":
        return Image(self.bands, self._reader, properties, footprint=self.footprint)

    def with_bands(self, bands: Sequence[BandSpec], reader: Reader) -> "Image":
        return Image(bands, reader, self.properties, footprint=self.footprint)

    # --- pixels ------------------------------------------------------------------------------------------
    def compute(self, grid: Grid, band_indexes: Sequence[int] | None = None) -> list[BandPixels]:
        """Pixels of the given bands (all by default) on ``grid``."""
        indexes = list(range(len(self.bands))) if band_indexes is None else list(band_indexes)
        if not indexes:
            return []
        out = self._reader(grid, indexes)
        if len(out) != len(indexes):  # an internal invariant of every reader
            raise RuntimeError(f"reader returned {len(out)} bands for {len(indexes)} requested")
        return out

    def compute_band(self, grid: Grid, index: int) -> BandPixels:
        return self.compute(grid, [index])[0]

    def __repr__(self) -> str:
        return f"Image(bands={self.band_names}, properties={sorted(self.properties)})"


# --- constant images -------------------------------------------------------------------------------------

def constant_image(values: Sequence[float | int], names: Sequence[str] | None = None) -> Image:
    """Constant bands in the default projection (WGS84, 1 degree), unbounded, never masked."""
    values = list(values)
    names = list(names) if names is not None else (
        ["constant"] if len(values) == 1 else [f"constant_{i}" for i in range(len(values))]
    )
    specs = []
    arrays = []
    for value in values:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, np.integer)):
            arr = np.asarray(value, dtype=PixelType("int", int(value), int(value)).dtype)
            ptype = PixelType("int", int(value), int(value))
        else:
            arr = np.asarray(float(value), dtype=np.float64)
            ptype = PixelType("double")
        specs.append(BandSpec("", ptype, DEFAULT_PROJECTION, None, True))
        arrays.append(arr)
    specs = [s.renamed(n) for s, n in zip(specs, names)]

    def read(grid: Grid, indexes: Sequence[int]) -> list[BandPixels]:
        return [(np.broadcast_to(arrays[i], grid.shape), true_mask(grid.shape)) for i in indexes]

    return Image(specs, read)


# --- images backed by raster files -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FileBand:
    """Where one band's pixels live: a raster file path (local or ``/vsigs/``), a 1-based band index, nodata."""

    path: str
    index: int
    nodata: float | None = None


_RESAMPLING = ("nearest", "bilinear", "bicubic")
# Idle datasets kept per file, and files kept open. Opening a 64-band COG costs 10-30 ms (header and IFD parsing),
# more than computing a map tile from it, and the HTTP server runs each request on a fresh thread, so datasets are
# pooled across threads rather than kept per thread.
_IDLE_PER_FILE = 4
_MAX_OPEN_FILES = 64


def _signature(path: str) -> tuple[int, int, int] | None:
    """Identity of a local file's current content (inode, size, mtime), so a replaced file is opened afresh;
    None for GDAL virtual paths (``/vsigs/...``) and missing files (opening then reports the error)."""
    if path.startswith("/vsi"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class _DatasetPool:
    """Open rasterio datasets shared by all threads; each is lent to one thread at a time (datasets are not
    thread-safe) and comes back for the next request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: collections.OrderedDict[tuple[str, Any], list[Any]] = collections.OrderedDict()

    @contextlib.contextmanager
    def borrow(self, path: str) -> Iterator[Any]:
        import rasterio

        key = (path, _signature(path))
        dataset = None
        with self._lock:
            stale = [k for k in self._idle if k[0] == path and k != key]
            for k in stale:  # the file was replaced: its old datasets read the old content
                for old in self._idle.pop(k):
                    old.close()
            stack = self._idle.get(key)
            if stack:
                dataset = stack.pop()
        if dataset is None or dataset.closed:
            try:
                dataset = rasterio.open(path)
            except rasterio.errors.RasterioIOError as exc:
                raise NotFound(f"Cannot read raster file {path!r}: {exc}") from exc
        try:
            yield dataset
        except BaseException:
            dataset.close()
            raise
        self._give_back(key, dataset)

    def _give_back(self, key: tuple[str, Any], dataset: Any) -> None:
        with self._lock:
            stack = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(stack) < _IDLE_PER_FILE:
                stack.append(dataset)
                dataset = None
            while len(self._idle) > _MAX_OPEN_FILES:
                for old in self._idle.popitem(last=False)[1]:
                    old.close()
        if dataset is not None:
            dataset.close()

    def close(self, path: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._idle if path is None or k[0] == path]:
                for old in self._idle.pop(key):
                    old.close()


_DATASETS = _DatasetPool()


def invalidate_open_files(path: str | None = None) -> None:
    """Closes the idle pooled datasets (all, or one path) after the file was replaced or deleted."""
    _DATASETS.close(path)


def _source_indices(
    grid: Grid, src_projection: Projection, src_width: int, src_height: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Fractional source (col, row) of every grid pixel centre; separable when both grids are axis-aligned.

    Returns (cols, rows, separable): with ``separable`` cols is (W,) and rows is (H,); otherwise both are (H, W).
    """
    ia, ib, ic, id_, ie, if_ = _inverse(src_projection.transform)
    same_crs = grid.crs == src_projection.crs
    if same_crs and grid.is_axis_aligned() and ib == 0.0 and id_ == 0.0:
        xs, ys = grid.axis_centers()
        return ia * xs + ic, ie * ys + if_, True
    if not same_crs:
        approx = _approximate_centers(grid, src_projection.crs, _pixel_size(src_projection))
        if approx is not None:
            x, y = approx
            return ia * x + ib * y + ic, id_ * x + ie * y + if_, False
    x, y = grid.pixel_centers()
    if not same_crs:
        x, y = transformer(grid.crs, src_projection.crs).transform(np.asarray(x), np.asarray(y))
    return ia * x + ib * y + ic, id_ * x + ie * y + if_, False


_LATTICE_STEP = 16
# Largest error of the interpolated coordinates accepted, in source pixels (GDAL's approximate transformer: 0.125).
_LATTICE_MAX_ERROR_PX = 0.125


def _approximate_centers(grid: Grid, crs: str, pixel_size: float):
    """Pixel centres of ``grid`` in ``crs``: transformed exactly on a lattice every 16 pixels and interpolated
    bilinearly in between, as GDAL's approximate transformer does. None when the grid is small or the check of the
    interpolation at the lattice's cell centres finds an error over 0.125 source pixels."""
    if grid.width < 2 * _LATTICE_STEP or grid.height < 2 * _LATTICE_STEP:
        return None
    cols = np.unique(np.r_[np.arange(0, grid.width, _LATTICE_STEP), grid.width - 1]).astype(np.float64)
    rows = np.unique(np.r_[np.arange(0, grid.height, _LATTICE_STEP), grid.height - 1]).astype(np.float64)
    a, b, c, d, e, f = grid.transform
    t = transformer(grid.crs, crs)

    def exact(cc, rr):
        return t.transform(a * (cc + 0.5) + b * (rr + 0.5) + c, d * (cc + 0.5) + e * (rr + 0.5) + f)

    lx, ly = exact(*np.meshgrid(cols, rows))
    if not (np.isfinite(lx).all() and np.isfinite(ly).all()):
        return None

    def interpolate(lattice, at_cols, at_rows):
        ci = np.clip(np.searchsorted(cols, at_cols, side="right") - 1, 0, len(cols) - 2)
        ri = np.clip(np.searchsorted(rows, at_rows, side="right") - 1, 0, len(rows) - 2)
        fc = (at_cols - cols[ci]) / (cols[ci + 1] - cols[ci])
        fr = ((at_rows - rows[ri]) / (rows[ri + 1] - rows[ri]))[:, None]
        top = lattice[ri][:, ci] * (1 - fc) + lattice[ri][:, ci + 1] * fc
        bottom = lattice[ri + 1][:, ci] * (1 - fc) + lattice[ri + 1][:, ci + 1] * fc
        return top * (1 - fr) + bottom * fr

    mid_cols, mid_rows = (cols[:-1] + cols[1:]) / 2, (rows[:-1] + rows[1:]) / 2
    ex, ey = exact(*np.meshgrid(mid_cols, mid_rows))
    error = np.hypot(interpolate(lx, mid_cols, mid_rows) - ex, interpolate(ly, mid_cols, mid_rows) - ey).max()
    if not error <= _LATTICE_MAX_ERROR_PX * pixel_size:
        return None
    all_cols, all_rows = np.arange(grid.width, dtype=np.float64), np.arange(grid.height, dtype=np.float64)
    return interpolate(lx, all_cols, all_rows), interpolate(ly, all_cols, all_rows)


def _pixel_size(projection: Projection) -> float:
    a, b, _, d, e, _ = projection.transform
    return math.sqrt(abs(a * e - b * d))


def _inverse(t):
    a, b, c, d, e, f = t
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f)


def read_file_bands(
    bands: Sequence[FileBand],
    src_projection: Projection,
    src_shape: tuple[int, int],
    grid: Grid,
    resampling: str = "nearest",
) -> list[BandPixels]:
    """Reads bands of one file onto ``grid``.

    Args:
      bands: bands of the same file (same path).
      src_projection: the file's projection.
      src_shape: the file's (width, height).
      grid: the output grid.
      resampling: 'nearest' (Earth Engine's default), 'bilinear' or 'bicubic' (bicubic falls back to bilinear).

    Returns:
      Per band, values (H, W) in the file's dtype (float32/float64 after interpolation) and the validity mask.
    """
    import rasterio.windows

    width, height = src_shape
    cols, rows, separable = _source_indices(grid, src_projection, width, height)
    interpolate = resampling in ("bilinear", "bicubic")
    if interpolate:
        cols = cols - 0.5
        rows = rows - 0.5
    finite = np.isfinite(cols) & np.isfinite(rows) if not separable else None
    c_lo = np.floor(np.nanmin(cols)) if np.isfinite(cols).any() else 0
    c_hi = np.floor(np.nanmax(cols)) + (1 if interpolate else 0) if np.isfinite(cols).any() else -1
    r_lo = np.floor(np.nanmin(rows)) if np.isfinite(rows).any() else 0
    r_hi = np.floor(np.nanmax(rows)) + (1 if interpolate else 0) if np.isfinite(rows).any() else -1
    col0, col1 = int(max(c_lo, 0)), int(min(c_hi, width - 1))
    row0, row1 = int(max(r_lo, 0)), int(min(r_hi, height - 1))
    out_shape = grid.shape
    if col1 < col0 or row1 < row0:  # no overlap: everything masked
        empty = np.zeros(out_shape, dtype=np.float32)
        return [(empty, np.zeros(out_shape, bool)) for _ in bands]

    # Decimate the read when the grid is much coarser than the file (GDAL then uses overviews).
    step_c = float(np.abs(np.diff(cols[:2] if separable else cols[0, :2]))[0]) if (grid.width > 1) else 1.0
    step_r = float(np.abs(np.diff(rows[:2] if separable else rows[:2, 0]))[0]) if (grid.height > 1) else 1.0
    factor = max(1, int(math.floor(min(step_c, step_r) + 1e-9))) if not interpolate else 1

    window = rasterio.windows.Window(col0, row0, col1 - col0 + 1, row1 - row0 + 1)
    indexes = [b.index for b in bands]
    with _DATASETS.borrow(bands[0].path) as dataset:
        if factor > 1:
            shape = (len(indexes), math.ceil(window.height / factor), math.ceil(window.width / factor))
            data = dataset.read(indexes, window=window, out_shape=shape)
        else:
            data = dataset.read(indexes, window=window)

    if interpolate:
        return [_interpolate(data[i], bands[i], cols, rows, col0, row0, separable, width, height)
                for i in range(len(bands))]

    ci = np.floor(cols)
    ri = np.floor(rows)
    if separable:
        col_ok = (ci >= 0) & (ci < width)
        row_ok = (ri >= 0) & (ri < height)
        cidx = ((np.clip(ci, col0, col1) - col0) // factor).astype(np.intp)
        ridx = ((np.clip(ri, row0, row1) - row0) // factor).astype(np.intp)
        inside = row_ok[:, None] & col_ok[None, :]
        contiguous = (
            factor == 1 and len(cidx) == data.shape[2] and len(ridx) == data.shape[1]
            and (np.diff(cidx) == 1).all() and (np.diff(ridx) == 1).all() and cidx[0] == 0 and ridx[0] == 0
        )
        out = []
        for i, band in enumerate(bands):
            values = data[i] if contiguous else data[i][np.ix_(ridx, cidx)]
            mask = _valid(values, band.nodata)
            if not inside.all():
                mask = mask & inside
            out.append((values, mask))
        return out

    ok = finite & (ci >= 0) & (ci < width) & (ri >= 0) & (ri < height)
    cidx = ((np.clip(np.nan_to_num(ci), col0, col1) - col0) // factor).astype(np.intp)
    ridx = ((np.clip(np.nan_to_num(ri), row0, row1) - row0) // factor).astype(np.intp)
    # One np.take over the flattened window gathers all bands at once (much faster than fancy indexing per band).
    flat = ridx * data.shape[2] + cidx
    gathered = np.take(data.reshape(data.shape[0], -1), flat, axis=1)
    out = []
    for i, band in enumerate(bands):
        values = gathered[i]
        out.append((values, _valid(values, band.nodata) & ok))
    return out


def _valid(values: np.ndarray, nodata: float | None) -> np.ndarray:
    mask = None
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        mask = values != np.asarray(nodata).astype(values.dtype)
    if np.issubdtype(values.dtype, np.floating):
        finite = np.isfinite(values)
        mask = finite if mask is None else mask & finite
    return true_mask(values.shape) if mask is None else mask


def _interpolate(data, band, cols, rows, col0, row0, separable, width, height) -> BandPixels:
    """Bilinear interpolation of ``data`` (a window starting at col0,row0) at fractional (cols, rows)."""
    if separable:
        cols, rows = np.meshgrid(cols, rows)
    c0 = np.floor(cols)
    r0 = np.floor(rows)
    fc = (cols - c0).astype(np.float32)
    fr = (rows - r0).astype(np.float32)
    valid_src = _valid(data, band.nodata)
    h, w = data.shape
    acc = np.zeros(cols.shape, np.float64)
    weight = np.zeros(cols.shape, np.float64)
    inside_any = np.zeros(cols.shape, bool)
    for dr, dc, wgt in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        rr = (r0 + dr - row0).astype(np.intp)
        cc = (c0 + dc - col0).astype(np.intp)
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr_c = np.clip(rr, 0, h - 1)
        cc_c = np.clip(cc, 0, w - 1)
        good = ok & valid_src[rr_c, cc_c]
        acc += np.where(good, data[rr_c, cc_c].astype(np.float64) * wgt, 0.0)
        weight += np.where(good, wgt, 0.0)
        inside_any |= good
    values = np.where(weight > 0, acc / np.maximum(weight, 1e-12), 0.0)
    out_dtype = np.float64 if data.dtype == np.float64 else np.float32
    return values.astype(out_dtype), inside_any & (weight > 1e-9)


def file_image(
    bands: Sequence[tuple[str, FileBand, PixelType, Projection, tuple[int, int]]],
    properties: Mapping[str, Any] | None = None,
    *,
    footprint: Any = None,
    resampling: str = "nearest",
) -> Image:
    """An image whose bands are read from raster files.

    Args:
      bands: per band (name, where it lives, pixel type, the file's projection, the file's (width, height)).
      properties: image properties.
      footprint: shapely geometry in EPSG:4326 covering the data, or None.
      resampling: how to resample onto a requested grid.
    """
    if resampling not in _RESAMPLING:
        raise InvalidArgument(f"Unknown resampling method {resampling!r}; expected one of {list(_RESAMPLING)}")
    specs = [BandSpec(name, ptype, proj, dims) for name, _, ptype, proj, dims in bands]
    locations = [fb for _, fb, _, _, _ in bands]
    projections = [proj for _, _, _, proj, _ in bands]
    dims = [d for _, _, _, _, d in bands]

    def read(grid: Grid, indexes: Sequence[int]) -> list[BandPixels]:
        # Group the requested bands by file (and projection) so each file is read once.
        groups: dict[tuple[str, Projection], list[int]] = {}
        for pos, idx in enumerate(indexes):
            groups.setdefault((locations[idx].path, projections[idx]), []).append(pos)
        out: list[BandPixels | None] = [None] * len(indexes)
        for (_, proj), positions in groups.items():
            file_bands = [locations[indexes[p]] for p in positions]
            pixels = read_file_bands(file_bands, proj, dims[indexes[positions[0]]], grid, resampling)
            for p, px in zip(positions, pixels):
                out[p] = px
        return out  # type: ignore[return-value]

    image = Image(specs, read, properties, footprint=footprint)
    image._file_bands = list(zip(locations, projections, dims))  # type: ignore[attr-defined]
    image._resampling = resampling  # type: ignore[attr-defined]
    return image


def read_array_onto(values: np.ndarray, mask: np.ndarray, src: Grid, dst: Grid) -> BandPixels:
    """Nearest-neighbour resampling of an in-memory band on grid ``src`` onto grid ``dst``."""
    cols, rows, separable = _source_indices(dst, src.projection, src.width, src.height)
    ci = np.floor(cols)
    ri = np.floor(rows)
    mask = np.broadcast_to(mask, values.shape)
    if separable:
        col_ok = (ci >= 0) & (ci < src.width)
        row_ok = (ri >= 0) & (ri < src.height)
        cidx = np.clip(ci, 0, src.width - 1).astype(np.intp)
        ridx = np.clip(ri, 0, src.height - 1).astype(np.intp)
        inside = row_ok[:, None] & col_ok[None, :]
        return values[np.ix_(ridx, cidx)], mask[np.ix_(ridx, cidx)] & inside
    ok = np.isfinite(ci) & np.isfinite(ri) & (ci >= 0) & (ci < src.width) & (ri >= 0) & (ri < src.height)
    cidx = np.clip(np.nan_to_num(ci), 0, src.width - 1).astype(np.intp)
    ridx = np.clip(np.nan_to_num(ri), 0, src.height - 1).astype(np.intp)
    return values[ridx, cidx], mask[ridx, cidx] & ok


def with_resampling(image: Image, mode: str) -> Image:
    """The same file-backed image read with another resampling method ('nearest', 'bilinear', 'bicubic')."""
    file_bands = getattr(image, "_file_bands", None)
    if file_bands is None:
        raise InvalidArgument(
            "Image.resample: the local engine resamples images loaded from assets; apply resample() before "
            "computing on the image.")
    bands = [(spec.name, fb, spec.pixel_type, proj, dims)
             for spec, (fb, proj, dims) in zip(image.bands, file_bands)]
    return file_image(bands, image.properties, footprint=image.footprint, resampling=mode)
