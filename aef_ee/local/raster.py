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
import functools
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
    "Lattice",
    "ANY_LATTICE",
    "common_lattice",
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
        elif self.min is not None and self.max is not None:  # a floating constant: double in [v, v]
            info["min"] = float(self.min)
            info["max"] = float(self.max)
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


def true_mask(shape: tuple[int, ...]) -> np.ndarray:
    """A read-only all-True mask of ``shape`` that costs no memory (one shared view per shape)."""
    return _true_mask(tuple(shape))


@functools.lru_cache(maxsize=256)
def _true_mask(shape: tuple[int, ...]) -> np.ndarray:
    # Read-only, so one view can serve every band: a 64-band tile asks for a few hundred of them.
    return np.broadcast_to(np.True_, shape)


@dataclasses.dataclass(frozen=True)
class Lattice:
    """The pixel lattice of source files: a north-up projection and the files' (width, height) in pixels.

    An image is *pixel-wise on a lattice* (``Image.pixelwise``) when each of its pixels is a function of the same
    pixel of its source bands alone, all read nearest-neighbour from files on that lattice (constants fit any
    lattice). Such an image can be computed on the source window and its result resampled, instead of resampling
    every source band first: the values are the same, the work is smaller when the requested grid has more pixels
    than the source window (a zoomed-in map tile).
    """

    projection: Projection
    width: int
    height: int


# Constants: pixel-wise on every lattice.
ANY_LATTICE = Lattice(DEFAULT_PROJECTION, 0, 0)


def common_lattice(*lattices: Lattice | None) -> Lattice | None:
    """The lattice shared by the operands of a pixel-wise operation, or None when they do not share one."""
    found = ANY_LATTICE
    for lattice in lattices:
        if lattice is None:
            return None
        if lattice is ANY_LATTICE:
            continue
        if found is not ANY_LATTICE and lattice != found:
            return None
        found = lattice
    return found


class Image:
    """A lazy image: band metadata, properties, and a reader producing pixels for a grid.

    Attributes:
      bands: the band specs, in order.
      properties: image properties (``system:time_start`` in ms, ``system:index``, ...).
      footprint: the area with data, as a shapely geometry in EPSG:4326, or None when unbounded.
      pixelwise: the :class:`Lattice` on which the image is a pixel-wise function of its source files, or None
        (unknown, or not pixel-wise: neighbourhoods, geometry masks, reprojection...). Only operations that know
        they are pixel-wise set it; ``with_bands`` drops it.
    """

    # File-backed images read their own sources; computing them on the source window gains nothing.
    _reads_files = False

    def __init__(
        self,
        bands: Sequence[BandSpec],
        reader: Reader,
        properties: Mapping[str, Any] | None = None,
        *,
        footprint: Any = None,
        pixelwise: Lattice | None = None,
    ) -> None:
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InvalidArgument(f"Image has duplicate band names: {dupes}.")
        self.bands = tuple(bands)
        self._reader = reader
        self.properties = dict(properties or {})
        self.footprint = footprint
        self.pixelwise = pixelwise

    # --- metadata ----------------------------------------------------------------------------------------
    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band_index(self, name: str) -> int:
        for i, band in enumerate(self.bands):
            if band.name == name:
                return i
        raise InvalidArgument(
            f"Image.select: Pattern '{name}' did not match any bands. Available bands: {self.band_names}")

    def default_projection(self) -> Projection:
        """The first band's projection, as Earth Engine's ``Image.projection()`` (errors on mixed projections)."""
        if not self.bands:
            return DEFAULT_PROJECTION
        return self.bands[0].projection

    def with_properties(self, properties: Mapping[str, Any]) -> "Image":
        return Image(self.bands, self._reader, properties, footprint=self.footprint, pixelwise=self.pixelwise)

    def with_bands(self, bands: Sequence[BandSpec], reader: Reader) -> "Image":
        return Image(bands, reader, self.properties, footprint=self.footprint)

    # --- pixels ------------------------------------------------------------------------------------------
    def compute(self, grid: Grid, band_indexes: Sequence[int] | None = None) -> list[BandPixels]:
        """Pixels of the given bands (all by default) on ``grid``."""
        indexes = list(range(len(self.bands))) if band_indexes is None else list(band_indexes)
        if not indexes:
            return []
        out = None
        if self.pixelwise is not None and self.pixelwise is not ANY_LATTICE and not self._reads_files:
            out = _compute_on_lattice(self._reader, self.pixelwise, grid, indexes)
        if out is None:
            out = self._reader(grid, indexes)
        if len(out) != len(indexes):  # an internal invariant of every reader
            raise RuntimeError(f"reader returned {len(out)} bands for {len(indexes)} requested")
        return out

    def compute_band(self, grid: Grid, index: int) -> BandPixels:
        return self.compute(grid, [index])[0]

    def __repr__(self) -> str:
        return f"Image(bands={self.band_names}, properties={sorted(self.properties)})"


def _compute_on_lattice(reader: Reader, lattice: Lattice, grid: Grid, indexes: list[int]) -> list[BandPixels] | None:
    """Pixels of a pixel-wise image computed on the source window of ``grid`` and resampled nearest-neighbour onto
    it: the same values and masks as resampling the sources first, with less work where the grid has more pixels
    than the window. None when that does not pay (the grid is on the lattice already, or coarser than it) or the
    grid is not entirely over the files."""
    a, b, c, d, e, f = lattice.projection.transform
    if b != 0.0 or d != 0.0:
        return None
    ga, gb, _, gd, ge, _ = grid.transform
    if grid.crs == lattice.projection.crs and (ga, gb, gd, ge) == (a, b, d, e):
        return None  # a plain window (or a shifted one) of the files: nothing to save
    sampling = _nearest_sampling(grid, lattice.projection, (lattice.width, lattice.height))
    # A grid reaching past the files falls back: there the sources' reads mask those pixels before the operations
    # see them, which changes the (meaningless but visible, e.g. in a PNG's RGB under alpha 0) masked values.
    if sampling is None or sampling.factor != 1 or sampling.inside is not None:
        return None
    rows, cols = sampling.read_shape
    if rows * cols > grid.width * grid.height:
        return None
    window = Grid(Projection(lattice.projection.crs,
                             (a, 0.0, c + a * sampling.col0, 0.0, e, f + e * sampling.row0)), cols, rows)
    return [sampling.take(np.asarray(v), np.asarray(m)) for v, m in reader(window, indexes)]


# --- constant images -------------------------------------------------------------------------------------

def constant_image(values: Sequence[float | int], names: Sequence[str] | None = None,
                   types: Sequence[PixelType] | None = None) -> Image:
    """Constant bands in the default projection (WGS84, 1 degree), unbounded, never masked.

    Args:
      values: one number per band.
      names: the band names (default ``constant``, or ``constant_0``, ``constant_1``... for several).
      types: the bands' pixel types (default: int in [v, v] for integers, double otherwise; the algorithms pass
        :func:`aef_ee.local.algorithms.pixel_types.constant_type`).
    """
    values = [int(v) if isinstance(v, (bool, np.bool_)) else v for v in values]
    names = list(names) if names is not None else (
        ["constant"] if len(values) == 1 else [f"constant_{i}" for i in range(len(values))]
    )
    if types is None:
        types = [PixelType("int", int(v), int(v)) if isinstance(v, (int, np.integer)) else PixelType("double")
                 for v in values]
    specs = [BandSpec(n, t, DEFAULT_PROJECTION, None, True) for n, t in zip(names, types)]
    arrays = [np.asarray(v, dtype=t.dtype) for v, t in zip(values, types)]

    def read(grid: Grid, indexes: Sequence[int]) -> list[BandPixels]:
        return [(np.broadcast_to(arrays[i], grid.shape), true_mask(grid.shape)) for i in indexes]

    image = Image(specs, read, pixelwise=ANY_LATTICE)
    image.constant_values = tuple(values)  # type: ignore[attr-defined]  # lets operations fuse (Image.reduce)
    return image


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
# GDAL options read when a dataset opens. Direct I/O reads an uncompressed GeoTIFF window straight into the output
# array instead of through GDAL's block cache: a 157 x 157 window of a 64-band pixel-interleaved COG (what a map tile
# needs) costs 6 ms instead of 23 ms, a 2048 x 56 strip 41 ms instead of 85 ms; compressed files are unaffected.
# (GTIFF_VIRTUAL_MEM_IO would be faster still for large windows, but a file truncated in place while mapped would
# kill the server with SIGBUS.)
_OPEN_OPTIONS = {"GTIFF_DIRECT_IO": "YES"}


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
                with rasterio.Env(**_OPEN_OPTIONS):
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


_DATASETS = _DatasetPool()


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


@dataclasses.dataclass(frozen=True)
class _Sampling:
    """Where the pixel centres of a grid fall in a file, for nearest-neighbour reads.

    The file window [row0, row1] x [col0, col1] is read at 1/``factor`` resolution (``factor`` > 1 when the grid is
    much coarser than the file; GDAL then uses overviews). ``ridx``/``cidx`` index that (decimated) window: (H,) and
    (W,) when ``separable`` (both grids north-up in one CRS), else both (H, W).
    """

    row0: int
    row1: int
    col0: int
    col1: int
    factor: int
    separable: bool
    ridx: np.ndarray
    cidx: np.ndarray
    inside: np.ndarray | None  # (H, W) read-only bool: the centre falls in the file; None when all do
    contiguous: bool  # the grid is exactly the window: no gather needed
    # (row0, row1, col0, col1) of the grid holding the whole window when the grid is the window plus pixels past the
    # file's edges (a neighbourhood's grown grid at the edge): the window is copied in, no gather needed.
    padded: tuple[int, int, int, int] | None = None

    @property
    def read_shape(self) -> tuple[int, int]:
        """(rows, cols) of the window as read."""
        return (math.ceil((self.row1 - self.row0 + 1) / self.factor),
                math.ceil((self.col1 - self.col0 + 1) / self.factor))

    def take(self, values: np.ndarray, mask: np.ndarray) -> BandPixels:
        """A band on the window (``read_shape``) resampled onto the grid; the mask also drops centres outside."""
        return self.take_values(values), self.take_mask(mask)

    def take_values(self, values: np.ndarray) -> np.ndarray:
        if self.contiguous:
            return values
        if self.padded is not None and values.ndim == 2:
            r0, r1, c0, c1 = self.padded
            out = np.zeros(self._shape, values.dtype)
            out[r0:r1, c0:c1] = values
            return out
        if self.separable:
            return values[np.ix_(self.ridx, self.cidx)] if values.ndim == 2 else values[self.ridx][:, self.cidx]
        if values.ndim == 2:
            return np.take(values.reshape(-1), self._flat)
        return values[self.ridx, self.cidx]

    def take_mask(self, mask: np.ndarray) -> np.ndarray:
        if _is_true_mask(mask):
            return true_mask(self._shape) if self.inside is None else self.inside
        mask = self.take_values(np.broadcast_to(mask, self.read_shape))
        return mask if self.inside is None else mask & self.inside

    @functools.cached_property
    def _flat(self) -> np.ndarray:
        return self.ridx * self.read_shape[1] + self.cidx

    @property
    def _shape(self) -> tuple[int, int]:
        return (len(self.ridx), len(self.cidx)) if self.separable else self.ridx.shape


def _is_true_mask(mask: np.ndarray) -> bool:
    """Whether ``mask`` is a broadcast all-True mask (as :func:`true_mask` makes); no scan of real arrays."""
    return mask.ndim == 0 or (all(st == 0 for st in mask.strides) and bool(mask.flat[0]))


def _window_bounds(cols: np.ndarray, rows: np.ndarray, margin: int, width: int, height: int
                   ) -> tuple[int, int, int, int]:
    """(col0, col1, row0, row1) of the file window holding the fractional (cols, rows), ``margin`` pixels more on
    the high side (for interpolation); col1 < col0 or row1 < row0 when it misses the file."""
    c_lo = np.floor(np.nanmin(cols)) if np.isfinite(cols).any() else 0
    c_hi = np.floor(np.nanmax(cols)) + margin if np.isfinite(cols).any() else -1
    r_lo = np.floor(np.nanmin(rows)) if np.isfinite(rows).any() else 0
    r_hi = np.floor(np.nanmax(rows)) + margin if np.isfinite(rows).any() else -1
    return int(max(c_lo, 0)), int(min(c_hi, width - 1)), int(max(r_lo, 0)), int(min(r_hi, height - 1))


def _nearest_sampling(grid: Grid, src_projection: Projection, src_shape: tuple[int, int]) -> _Sampling | None:
    """How to read a file (``src_projection``, (width, height)) onto ``grid`` nearest-neighbour; None when the grid
    misses the file."""
    width, height = src_shape
    cols, rows, separable = _source_indices(grid, src_projection, width, height)
    col0, col1, row0, row1 = _window_bounds(cols, rows, 0, width, height)
    if col1 < col0 or row1 < row0:
        return None
    step_c = float(np.abs(np.diff(cols[:2] if separable else cols[0, :2]))[0]) if (grid.width > 1) else 1.0
    step_r = float(np.abs(np.diff(rows[:2] if separable else rows[:2, 0]))[0]) if (grid.height > 1) else 1.0
    factor = max(1, int(math.floor(min(step_c, step_r) + 1e-9)))
    ci = np.floor(cols)
    ri = np.floor(rows)
    if separable:
        col_ok = (ci >= 0) & (ci < width)
        row_ok = (ri >= 0) & (ri < height)
        cidx = ((np.clip(ci, col0, col1) - col0) // factor).astype(np.intp)
        ridx = ((np.clip(ri, row0, row1) - row0) // factor).astype(np.intp)
        inside = None if (col_ok.all() and row_ok.all()) else row_ok[:, None] & col_ok[None, :]
        contiguous = (
            factor == 1 and len(cidx) == col1 - col0 + 1 and len(ridx) == row1 - row0 + 1
            and (np.diff(cidx) == 1).all() and (np.diff(ridx) == 1).all() and cidx[0] == 0 and ridx[0] == 0
        )
        padded = None
        if (not contiguous and factor == 1 and inside is not None and (np.diff(ci) == 1).all()
                and (np.diff(ri) == 1).all()):
            rows_in, cols_in = np.flatnonzero(row_ok), np.flatnonzero(col_ok)
            padded = (int(rows_in[0]), int(rows_in[-1]) + 1, int(cols_in[0]), int(cols_in[-1]) + 1)
    else:
        ok = np.isfinite(cols) & np.isfinite(rows) & (ci >= 0) & (ci < width) & (ri >= 0) & (ri < height)
        inside = None if ok.all() else ok
        cidx = ((np.clip(np.nan_to_num(ci), col0, col1) - col0) // factor).astype(np.intp)
        ridx = ((np.clip(np.nan_to_num(ri), row0, row1) - row0) // factor).astype(np.intp)
        contiguous = False
    if inside is not None:
        inside.flags.writeable = False  # shared by every band of the read
    return _Sampling(row0, row1, col0, col1, factor, separable, ridx, cidx, inside, contiguous,
                     padded if separable else None)


def _read_window(bands: Sequence[FileBand], col0: int, row0: int, cols: int, rows: int, factor: int = 1
                 ) -> np.ndarray:
    """(n, rows / factor, cols / factor) pixels of ``bands`` (one file) in a window, decimated by ``factor``."""
    import rasterio.windows

    window = rasterio.windows.Window(col0, row0, cols, rows)
    indexes = [b.index for b in bands]
    with _DATASETS.borrow(bands[0].path) as dataset:
        if factor > 1:
            shape = (len(indexes), math.ceil(rows / factor), math.ceil(cols / factor))
            return dataset.read(indexes, window=window, out_shape=shape)
        return dataset.read(indexes, window=window)


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
    if resampling in ("bilinear", "bicubic"):
        return _read_interpolated(bands, src_projection, src_shape, grid)
    sampling = _nearest_sampling(grid, src_projection, src_shape)
    if sampling is None:  # no overlap: everything masked
        empty = np.zeros(grid.shape, dtype=np.float32)
        return [(empty, np.zeros(grid.shape, bool)) for _ in bands]
    s = sampling
    data = _read_window(bands, s.col0, s.row0, s.col1 - s.col0 + 1, s.row1 - s.row0 + 1, s.factor)
    masks = _valid_masks(data, bands)
    if s.separable:
        return [s.take(data[i], masks[i]) for i in range(len(bands))]
    # One np.take over the flattened window gathers all bands at once (much faster than fancy indexing per band).
    gathered = np.take(data.reshape(data.shape[0], -1), s._flat, axis=1)
    return [(gathered[i], s.take_mask(masks[i])) for i in range(len(bands))]


def _read_interpolated(bands: Sequence[FileBand], src_projection: Projection, src_shape: tuple[int, int],
                       grid: Grid) -> list[BandPixels]:
    width, height = src_shape
    cols, rows, separable = _source_indices(grid, src_projection, width, height)
    cols = cols - 0.5
    rows = rows - 0.5
    col0, col1, row0, row1 = _window_bounds(cols, rows, 1, width, height)
    if col1 < col0 or row1 < row0:  # no overlap: everything masked
        empty = np.zeros(grid.shape, dtype=np.float32)
        return [(empty, np.zeros(grid.shape, bool)) for _ in bands]
    data = _read_window(bands, col0, row0, col1 - col0 + 1, row1 - row0 + 1)
    return [_interpolate(data[i], _valid(data[i], bands[i].nodata), cols, rows, col0, row0, separable)
            for i in range(len(bands))]


def _valid_masks(data: np.ndarray, bands: Sequence[FileBand]) -> list[np.ndarray]:
    """Per band of ``data`` (n, h, w), the validity mask: not nodata, and finite for floating-point bands."""
    if np.issubdtype(data.dtype, np.floating) and all(_no_nodata(b.nodata) for b in bands):
        # One summing pass finds the bands without NaN or infinity (a finite sum has neither); only the others
        # need a mask array. (A sum that overflows just falls back to the exact test.)
        with np.errstate(over="ignore", invalid="ignore"):
            sums = data.reshape(data.shape[0], -1).sum(axis=1)
        finite = np.isfinite(sums)
        return [true_mask(data.shape[1:]) if finite[i] else _valid(data[i], None) for i in range(len(bands))]
    return [_valid(data[i], band.nodata) for i, band in enumerate(bands)]


def _no_nodata(nodata: float | None) -> bool:
    return nodata is None or (isinstance(nodata, float) and math.isnan(nodata))


def _valid(values: np.ndarray, nodata: float | None) -> np.ndarray:
    mask = None
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        mask = values != np.asarray(nodata).astype(values.dtype)
    if np.issubdtype(values.dtype, np.floating):
        finite = np.isfinite(values)
        mask = finite if mask is None else mask & finite
    return true_mask(values.shape) if mask is None else mask


def _interpolate(data, valid_src, cols, rows, col0, row0, separable) -> BandPixels:
    """Bilinear interpolation of ``data`` (a window starting at col0,row0; valid where ``valid_src``) at fractional
    (cols, rows) measured from pixel centres; each output is the weighted mean of its valid corners."""
    if separable:
        cols, rows = np.meshgrid(cols, rows)
    c0 = np.floor(cols)
    r0 = np.floor(rows)
    fc = (cols - c0).astype(np.float32)
    fr = (rows - r0).astype(np.float32)
    valid_src = np.broadcast_to(valid_src, data.shape)
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

    lattice = None
    if resampling == "nearest" and len(set(projections)) == 1 and len(set(dims)) == 1 and dims[0] is not None:
        lattice = Lattice(projections[0], int(dims[0][0]), int(dims[0][1]))
    image = Image(specs, read, properties, footprint=footprint, pixelwise=lattice)
    image._reads_files = True  # type: ignore[misc]
    image._file_bands = list(zip(locations, projections, dims))  # type: ignore[attr-defined]
    image._resampling = resampling  # type: ignore[attr-defined]
    return image


def interpolate_array_onto(values: np.ndarray, mask: np.ndarray, src: Grid, dst: Grid) -> BandPixels:
    """Bilinear resampling of an in-memory band on grid ``src`` onto grid ``dst`` (as ``Image.resample`` reads files:
    the weighted mean of the valid source pixels around each centre; masked where none is valid or the centre is
    outside ``src``)."""
    cols, rows, separable = _source_indices(dst, src.projection, src.width, src.height)
    inside = (cols >= 0) & (cols <= src.width) if separable else None
    values, mask = _interpolate(np.asarray(values), np.asarray(mask), cols - 0.5, rows - 0.5, 0, 0, separable)
    if separable:
        row_ok = (rows >= 0) & (rows <= src.height)
        mask = mask & row_ok[:, None] & inside[None, :]
    else:
        mask = mask & (cols >= 0) & (cols <= src.width) & (rows >= 0) & (rows <= src.height)
    return values, mask


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
