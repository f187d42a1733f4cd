"""Neighbourhood operations: ``Image.convolve``, ``reduceNeighborhood``, the focal filters (``focalMean`` / ``Max`` /
``Min`` / ``Median`` / ``Mode``), ``entropy``, ``connectedPixelCount``, ``connectedComponents``, ``distance`` and
``fastDistanceTransform``.

Like Earth Engine, the engine computes a neighbourhood in the grid the pixels are requested on (a kernel of 2 pixels
is 2 pixels of that grid; a kernel in metres is sized by the grid's pixel size): the reader asks its input for the
grid grown by the kernel's reach on each side, so tiles and strips agree at their seams. Pixels outside the input's
data are masked, as every reader masks them. The rules for masks:

- ``reduceNeighborhood`` and the focal filters reduce the valid pixels under the kernel's non-zero cells (weights from
  the kernel, the mask, or the smaller of the two: ``inputWeight``); a pixel with none is masked, and with
  ``skipMasked`` (the default) so is every pixel whose own input is masked.
- ``convolve`` is the weighted sum of the pixels under the kernel's non-zero cells (the kernel is applied as given, not
  flipped: a Sobel kernel's right column weighs the pixels to the right); it is masked wherever one of those is
  masked, so an image loses the kernel's reach at its edges (as Earth Engine documents for ``Terrain``: "missing
  values will occur around the edges").

scipy.ndimage does the filtering (imported when first used).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.kernel import Kernel, as_kernel, named_kernel
from aef_ee.local.algorithms.pixel_types import float_of
from aef_ee.local.algorithms.reducer_base import Reducer, as_reducer, nan_stack
from aef_ee.local.algorithms.reducer_kinds import Count, Extreme, Mean, Sum
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid
from aef_ee.local.raster import BandSpec, Image, PixelType, true_mask

__all__ = ["neighborhood_read", "expanded_grid", "pixel_size_m", "box_mean"]

BandPixels = tuple[np.ndarray, np.ndarray]
_INPUT_WEIGHTS = ("kernel", "mask", "min")
# connectedPixelCount / connectedComponents look this many pixels beyond the grid at most (a maxSize of 1024 would
# otherwise grow every strip by 1024 pixels on each side). Earth Engine caps maxSize at 1024 too.
MAX_OBJECT_SIZE = 1024


def pixel_size_m(grid: Grid) -> float:
    """The grid's pixel size in metres (degrees converted at the equator, as Earth Engine's nominal scale)."""
    return grid.projection.nominal_scale


def expanded_grid(grid: Grid, left: int, top: int, right: int, bottom: int) -> Grid:
    """``grid`` grown by the given numbers of pixels on each side (same lattice)."""
    return grid.window(-top, grid.height + bottom, -left, grid.width + right)


def _is_true(mask: np.ndarray) -> bool:
    mask = np.asarray(mask)
    return mask.ndim == 0 or (all(s == 0 for s in mask.strides) and bool(mask.flat[0])) or bool(mask.all())


def neighborhood_read(src: Image, kernel_weights: Callable[[Grid], tuple[np.ndarray, int, int]],
                      per_band: Callable[..., list[BandPixels]], outputs_per_band: int):
    """A reader computing ``per_band(values, mask, weights, x, y, grid, band)`` on each input band read over the grid
    grown by the kernel (focus at (x, y)); ``per_band`` returns ``outputs_per_band`` (values (H, W), mask (H, W)) for
    input band ``band``."""

    def read(grid: Grid, wanted: Sequence[int]) -> list[BandPixels]:
        weights, x, y = kernel_weights(grid)
        kh, kw = weights.shape
        big = expanded_grid(grid, x, y, kw - 1 - x, kh - 1 - y)
        bands = sorted({w // outputs_per_band for w in wanted})
        inputs = dict(zip(bands, src.compute(big, bands), strict=True))
        results: dict[int, list[BandPixels]] = {}
        out = []
        with np.errstate(all="ignore"):
            for w in wanted:
                band, k = divmod(w, outputs_per_band)
                if band not in results:
                    values, mask = inputs[band]
                    results[band] = per_band(np.asarray(values), np.asarray(mask), weights, x, y, grid, band)
                out.append(results[band][k])
        return out

    return read


def _kernel_weights(kernel: Kernel) -> Callable[[Grid], tuple[np.ndarray, int, int]]:
    return lambda grid: kernel.weights_for(pixel_size_m(grid))


def _crop(array: np.ndarray, weights: np.ndarray, grid: Grid) -> np.ndarray:
    """The (H, W) part of a same-size filter output over the grown grid (scipy centres a size-k window at k // 2)."""
    kh, kw = weights.shape
    return array[kh // 2:kh // 2 + grid.height, kw // 2:kw // 2 + grid.width]


def _centre(array: np.ndarray, x: int, y: int, grid: Grid) -> np.ndarray:
    """The grown grid's pixels under the output pixels."""
    return array[y:y + grid.height, x:x + grid.width]


def _views(array: np.ndarray, weights: np.ndarray, grid: Grid) -> list[np.ndarray]:
    """One (H, W) view of ``array`` per non-zero kernel cell, shifted by the cell's offset."""
    return [array[r:r + grid.height, c:c + grid.width] for r, c in zip(*np.nonzero(weights), strict=True)]


def _is_box(weights: np.ndarray) -> bool:
    return bool(np.all(weights == weights.flat[0])) and weights.flat[0] != 0


def _valid_rectangle(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1) when the valid pixels are exactly that rectangle (a read reaching past a file's
    edge), else None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return (r0, r1, c0, c1) if mask[r0:r1, c0:c1].all() else None


def box_mean(values: np.ndarray, mask: np.ndarray, size: tuple[int, int], out_dtype: np.dtype,
             grid: Grid, x: int, y: int) -> BandPixels:
    """The mean of the valid pixels of every (kh, kw) box, for the output pixels whose own pixel is valid (the
    others are masked): a box filter (scipy's uniform_filter) at the cost of one filter pass, also near the edge
    of the data when the valid pixels form a rectangle (what a read reaching past a file gives)."""
    from scipy import ndimage

    kh, kw = size
    if _is_true(mask):
        mean = ndimage.uniform_filter(values, size, output=out_dtype, mode="nearest")
        return _crop(mean, np.empty(size), grid), true_mask(grid.shape)
    centre_mask = _centre(mask, x, y, grid)
    rect = _valid_rectangle(mask)
    if rect is not None:
        r0, r1, c0, c1 = rect
        sub = values[r0:r1, c0:c1]
        # Zeros beyond the data: each box sums its valid pixels; then divide by how many there were (the count of
        # valid rows times valid columns, as the valid pixels form a rectangle) instead of by the box size.
        mean = np.zeros(values.shape, out_dtype)
        ndimage.uniform_filter(sub, size, output=mean[r0:r1, c0:c1], mode="constant", cval=0.0)
        hy, hx = kh // 2, kw // 2
        for axis, (lo, hi, half, k, n) in enumerate(((r0, r1, hy, kh, values.shape[0]),
                                                     (c0, c1, hx, kw, values.shape[1]))):
            index = np.arange(n)
            start, stop = index - half, index - half + k  # the box's extent along this axis
            inside = np.clip(np.minimum(stop, hi) - np.maximum(start, lo), 1, None)
            factor = (k / inside).astype(out_dtype)
            fix = np.flatnonzero(factor != 1)
            if len(fix):
                if axis == 0:
                    mean[fix] *= factor[fix][:, None]
                else:
                    mean[:, fix] *= factor[fix][None, :]
        return _crop(mean, np.empty(size), grid), centre_mask
    weight = ndimage.uniform_filter(mask.astype(np.float32), size, mode="constant")
    total = ndimage.uniform_filter(np.where(mask, values, 0).astype(out_dtype), size, mode="constant")
    weight, total = _crop(weight, np.empty(size), grid), _crop(total, np.empty(size), grid)
    mean = np.where(weight > 0, total / np.where(weight > 0, weight, 1), 0).astype(out_dtype)
    return mean, centre_mask & (weight > 0)


# --- reduceNeighborhood and the focal filters --------------------------------------------------------------

def _reduce_band(reducer: Reducer, input_weight: str, skip_masked: bool, out_types: list[PixelType]):
    """per_band for reduceNeighborhood: the reducer over the valid pixels under the kernel."""

    def per_band(values: np.ndarray, mask: np.ndarray, weights: np.ndarray, x: int, y: int,
                 grid: Grid, band: int = 0) -> list[BandPixels]:
        centre = _centre(mask, x, y, grid) if skip_masked else None
        kind = type(reducer)
        weighted_mean = kind in (Mean, Sum) and reducer.weighted
        if weighted_mean and _is_box(weights) and kind is Mean and skip_masked:
            result = [box_mean(values, mask, weights.shape, out_types[0].dtype, grid, x, y)]
        elif weighted_mean:
            result = [_weighted(kind is Mean, values, mask, weights, input_weight, out_types[0].dtype, grid)]
        elif kind is Extreme and reducer.n_inputs == 1:
            result = [_extreme(reducer.largest, values, mask, weights, grid)]
        elif kind is Count:
            count = sum(np.asarray(v, np.int32) for v in _views(mask, weights, grid))
            result = [(np.asarray(count, np.int32), true_mask(grid.shape))]
        else:
            layers = _views(values, weights, grid)
            masks = _views(mask, weights, grid)
            result = reducer.reduce_stack(layers, masks)
        out = []
        for (v, m), t in zip(result, out_types, strict=True):
            m = np.asarray(m)
            if centre is not None:
                m = m & centre if not _is_true(centre) else m
            out.append((np.asarray(v).astype(t.dtype, copy=False), np.broadcast_to(m, grid.shape)))
        return out

    return per_band


def _weighted(mean: bool, values: np.ndarray, mask: np.ndarray, weights: np.ndarray, input_weight: str,
              dtype: np.dtype, grid: Grid) -> BandPixels:
    """Weighted sum or mean of the valid pixels under the kernel (scipy.ndimage.correlate)."""
    from scipy import ndimage

    w = {"kernel": weights, "mask": (weights != 0).astype(np.float64),
         "min": np.minimum(weights, 1.0)}[input_weight]
    full = _is_true(mask)
    data = np.asarray(values, np.float64) if full else np.where(mask, values, 0).astype(np.float64)
    total = _crop(ndimage.correlate(data, w, mode="constant"), w, grid)
    if full:
        wsum = np.full(grid.shape, w.sum())
        any_valid = true_mask(grid.shape)
    else:
        wsum = _crop(ndimage.correlate(mask.astype(np.float64), w, mode="constant"), w, grid)
        any_valid = _crop(ndimage.correlate(mask.astype(np.float64), (w != 0).astype(np.float64),
                                            mode="constant"), w, grid) > 0
    if not mean:
        return total.astype(dtype), any_valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum != 0, total / wsum, 0).astype(dtype), any_valid & (wsum != 0)


def _extreme(largest: bool, values: np.ndarray, mask: np.ndarray, weights: np.ndarray, grid: Grid) -> BandPixels:
    from scipy import ndimage

    footprint = weights != 0
    dtype = values.dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        fill = info.min if largest else info.max
    else:
        fill = -np.inf if largest else np.inf
    full = _is_true(mask)
    data = values if full else np.where(mask, values, np.asarray(fill, dtype))
    op = ndimage.maximum_filter if largest else ndimage.minimum_filter
    result = _crop(op(data, footprint=footprint, mode="constant", cval=fill), footprint, grid)
    if full:
        return result, true_mask(grid.shape)
    any_valid = _crop(ndimage.maximum_filter(mask, footprint=footprint, mode="constant", cval=False), footprint,
                      grid)
    return result, any_valid


def _output_specs(src: Image, reducer: Reducer, prefix_names: bool, cells: int) -> tuple[list[BandSpec], int]:
    """The output bands: per input band, one per reducer output, typed for up to ``cells`` inputs per pixel."""
    n_out = len(reducer.outputs)
    specs = []
    for band in src.bands:
        types = reducer.output_types([band.pixel_type] * cells)
        for name, t in zip(reducer.outputs, types, strict=True):
            out_name = f"{band.name}_{name}" if prefix_names else band.name
            specs.append(BandSpec(out_name, t, band.projection, None, band.is_default_projection))
    return specs, n_out


def reduce_neighborhood_image(image: Any, reducer: Reducer, kernel: Kernel, input_weight: str = "kernel",
                              skip_masked: bool = True, *, keep_names: bool = False) -> Image:
    """The reducer over each pixel's neighbourhood, per band (single-input reducers)."""
    src = as_image(image)
    if input_weight not in _INPUT_WEIGHTS:
        raise InvalidArgument(f"Image.reduceNeighborhood: inputWeight must be one of {list(_INPUT_WEIGHTS)}; "
                              f"got {input_weight!r}.")
    if reducer.n_inputs != 1:
        raise InvalidArgument(
            f"Image.reduceNeighborhood: the local engine applies single-input reducers; {reducer.name} takes "
            f"{reducer.n_inputs} inputs.")
    # Kernel cells per output pixel (a count's range); a kernel in metres is sized later, so allow for many.
    cells = int(np.count_nonzero(kernel.weights_for(None)[0])) if kernel.units == "pixels" else 2**16
    specs, n_out = _output_specs(src, reducer, not keep_names, cells)
    per_band = [_reduce_band(reducer, input_weight, skip_masked,
                             [s.pixel_type for s in specs[b * n_out:(b + 1) * n_out]])
                for b in range(len(src.bands))]

    def dispatch(values, mask, weights, x, y, grid, band):
        return per_band[band](values, mask, weights, x, y, grid)

    return src.with_bands(specs, neighborhood_read(src, _kernel_weights(kernel), dispatch, n_out))


@algorithm("Image.reduceNeighborhood")
def reduce_neighborhood(image: Any, reducer: Any, kernel: Any, inputWeight: str = "kernel",
                        skipMasked: bool = True, optimization: str | None = None) -> Image:
    """Earth Engine's ``Image.reduceNeighborhood``: the reducer over the kernel's neighbourhood of each pixel, per
    band, output bands named ``<band>_<output>``. ``optimization`` ('boxcar', 'window') changes only speed in Earth
    Engine; the engine picks its own (a box filter for the mean of a box kernel)."""
    if optimization not in (None, "boxcar", "window"):
        raise InvalidArgument(f"Image.reduceNeighborhood: optimization must be 'boxcar' or 'window'; got "
                              f"{optimization!r}.")
    return reduce_neighborhood_image(image, as_reducer(reducer), as_kernel(kernel, "Image.reduceNeighborhood"),
                                     inputWeight, bool(skipMasked))


def _focal_kernel(name: str, radius: Any, kernelType: str, units: str, kernel: Any) -> Kernel:
    if kernel is not None:
        return as_kernel(kernel, name)
    return named_kernel(kernelType, radius, units, normalize=True)


def _register_focal(name: str, make_reducer: Callable[[], Reducer]) -> None:
    def impl(image: Any, radius: float = 1.5, kernelType: str = "circle", units: str = "pixels",
             iterations: int = 1, kernel: Any = None) -> Image:
        algorithm_name = f"Image.{name}"
        k = _focal_kernel(algorithm_name, radius, kernelType, units, kernel)
        if int(iterations) < 1:
            raise InvalidArgument(f"{algorithm_name}: iterations must be at least 1; got {iterations!r}.")
        result = as_image(image)
        for _ in range(int(iterations)):
            result = reduce_neighborhood_image(result, make_reducer(), k, "kernel", True, keep_names=True)
        return result

    impl.__name__ = f"image_{name}"
    impl.__doc__ = (f"Earth Engine's ``Image.{name}``: a morphological filter with a named or custom kernel (default "
                    "a circle of radius 1.5 pixels), applied ``iterations`` times; band names are kept.")
    algorithm(f"Image.{name}")(impl)


def _reducer(name: str) -> Callable[[], Reducer]:
    def make() -> Reducer:
        from aef_ee.local.algorithms.registry import lookup

        return lookup(f"Reducer.{name}")()

    return make


for _focal, _red in (("focalMean", "mean"), ("focalMax", "max"), ("focalMin", "min"), ("focalMedian", "median"),
                     ("focalMode", "mode")):
    _register_focal(_focal, _reducer(_red))


# --- convolution -------------------------------------------------------------------------------------------

@algorithm("Image.convolve")
def convolve(image: Any, kernel: Any) -> Image:
    """Earth Engine's ``Image.convolve``: per band, the sum of the kernel's weights times the pixels under them
    (the kernel as given, focus over the output pixel). Float (double for double bands); masked where a pixel under
    a non-zero weight is masked."""
    src = as_image(image)
    k = as_kernel(kernel, "Image.convolve")
    specs = [BandSpec(b.name, float_of(b.pixel_type), b.projection, None, b.is_default_projection)
             for b in src.bands]

    def per_band(values, mask, weights, x, y, grid, band=0):
        from scipy import ndimage

        dtype = np.float64 if values.dtype == np.float64 else np.float32
        footprint = weights != 0
        if _is_box(weights):
            box, _ = box_mean(values.astype(dtype, copy=False), true_mask(values.shape), weights.shape,
                              np.dtype(dtype), grid, x, y)
            result = box * dtype(weights.sum())
        else:
            result = _crop(ndimage.correlate(values.astype(np.float64, copy=False), weights, mode="constant"),
                           weights, grid).astype(dtype)
        if _is_true(mask):
            return [(result, true_mask(grid.shape))]
        all_valid = _crop(ndimage.minimum_filter(mask, footprint=footprint, mode="constant", cval=False),
                          footprint, grid)
        return [(result, all_valid)]

    return src.with_bands(specs, neighborhood_read(src, _kernel_weights(k), per_band, 1))


# --- entropy -----------------------------------------------------------------------------------------------

@algorithm("Image.entropy")
def entropy(image: Any, kernel: Any) -> Image:
    """Earth Engine's ``Image.entropy``: -sum(p log2 p) of the values in each pixel's window, p each value's share
    of the window's (kernel-weighted) valid pixels. Float; masked where the window has no valid pixel."""
    src = as_image(image)
    k = as_kernel(kernel, "Image.entropy")
    specs = [BandSpec(b.name, PixelType("float"), b.projection, None, b.is_default_projection) for b in src.bands]

    def per_band(values, mask, weights, x, y, grid, band=0):
        layers = _views(values, weights, grid)
        masks = _views(mask, weights, grid)
        cell_weights = weights[weights != 0]
        data = nan_stack(layers, masks)
        order = np.argsort(data, axis=0, kind="stable")
        data = np.take_along_axis(data, order, axis=0)
        w = np.take_along_axis(np.broadcast_to(np.abs(cell_weights)[:, None, None], data.shape), order, axis=0)
        w = np.where(np.isnan(data), 0.0, w)
        total = w.sum(axis=0)
        result = np.zeros(grid.shape)
        run = w[0].copy()
        for i in range(1, len(data)):
            same = data[i] == data[i - 1]
            closing = ~same
            p = np.where(closing & (total > 0), run / np.where(total > 0, total, 1), 0)
            result -= np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)
            run = np.where(same, run + w[i], w[i])
        p = np.where(total > 0, run / np.where(total > 0, total, 1), 0)
        result -= np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0)
        return [(result.astype(np.float32), total > 0)]

    return src.with_bands(specs, neighborhood_read(src, _kernel_weights(k), per_band, 1))


# --- connected pixels --------------------------------------------------------------------------------------

def _components(values: np.ndarray, mask: np.ndarray, offsets: Sequence[tuple[int, int]]) -> tuple[np.ndarray, int]:
    """Labels (H, W) of the groups of valid pixels joined through ``offsets`` (dy, dx) with equal values (-1 where
    masked), and the number of groups."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    h, w = values.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols = [], []
    for dy, dx in offsets:
        if (dy, dx) <= (0, 0) and not (dy == 0 and dx > 0):
            continue  # each undirected edge once: offsets pointing forward in raster order
        a = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
        b = (slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx)))
        link = mask[a] & mask[b] & (values[a] == values[b])
        rows.append(index[a][link])
        cols.append(index[b][link])
    r = np.concatenate(rows) if rows else np.zeros(0, np.intp)
    c = np.concatenate(cols) if cols else np.zeros(0, np.intp)
    graph = coo_matrix((np.ones(len(r), np.int8), (r, c)), shape=(h * w, h * w))
    n, labels = connected_components(graph, directed=False)
    labels = labels.reshape(h, w)
    return np.where(mask, labels, -1), n


def _neighbour_offsets(weights: np.ndarray, x: int, y: int) -> list[tuple[int, int]]:
    offsets = [(int(r) - y, int(c) - x) for r, c in zip(*np.nonzero(weights), strict=True)]
    both = set(offsets) | {(-dy, -dx) for dy, dx in offsets}
    return sorted(o for o in both if o != (0, 0))


def _size_kernel(reach: int) -> Callable[[Grid], tuple[np.ndarray, int, int]]:
    """A (2 reach + 1)^2 window: how far a neighbourhood of objects of at most ``reach`` pixels can extend."""
    return lambda grid: (np.ones((2 * reach + 1, 2 * reach + 1)), reach, reach)


@algorithm("Image.connectedPixelCount")
def connected_pixel_count(input: Any, maxSize: int = 100, eightConnected: bool = True) -> Image:
    """Earth Engine's ``Image.connectedPixelCount``: per band, how many pixels (itself included) are connected to each
    pixel through 4- or 8-neighbours of the same value, counted up to ``maxSize`` (larger groups give maxSize).
    Int in [0, maxSize]; masked where the input is."""
    src = as_image(input)
    limit = int(maxSize)
    if not 1 <= limit <= MAX_OBJECT_SIZE:
        raise InvalidArgument(f"Image.connectedPixelCount: maxSize must be in [1, {MAX_OBJECT_SIZE}]; got "
                              f"{maxSize!r}.")
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
               if (dy, dx) != (0, 0) and (eightConnected or dy == 0 or dx == 0)]
    out_type = PixelType("int", 0, limit)
    specs = [BandSpec(b.name, out_type, b.projection, None, b.is_default_projection) for b in src.bands]

    def per_band(values, mask, weights, x, y, grid, band=0):
        mask = np.broadcast_to(mask, values.shape)
        labels, n = _components(values, mask, offsets)
        sizes = np.bincount(labels[labels >= 0].ravel(), minlength=n)
        count = np.where(labels >= 0, np.minimum(sizes[np.maximum(labels, 0)], limit), 0)
        centre = _centre(mask, x, y, grid)
        return [(_centre(count, x, y, grid).astype(out_type.dtype), centre)]

    # A group of at most maxSize pixels reaches at most maxSize - 1 pixels away.
    return src.with_bands(specs, neighborhood_read(src, _size_kernel(limit), per_band, 1))


@algorithm("Image.connectedComponents")
def connected_components(image: Any, connectedness: Any, maxSize: int) -> Image:
    """Earth Engine's ``Image.connectedComponents``: the input with a ``labels`` band labelling the groups of pixels of
    equal value of the first band, joined through the connectedness kernel's non-zero cells. Groups over ``maxSize``
    pixels are background (masked). A label is the same wherever the group is computed (tiles agree): the index of
    the group's first pixel in raster order on the grid's pixel lattice."""
    src = as_image(image)
    k = as_kernel(connectedness, "Image.connectedComponents")
    limit = int(maxSize)
    if not 1 <= limit <= MAX_OBJECT_SIZE:
        raise InvalidArgument(f"Image.connectedComponents: maxSize must be in [1, {MAX_OBJECT_SIZE}]; got "
                              f"{maxSize!r}.")
    if not src.bands:
        raise InvalidArgument("Image.connectedComponents: the image has no bands.")
    first = src.bands[0]
    label_spec = BandSpec("labels", PixelType.from_dtype(np.int64), first.projection, None,
                          first.is_default_projection)

    def labels_per_band(values, mask, weights, x, y, grid, band=0):
        kw, kx, ky = k.weights_for(pixel_size_m(grid))
        offsets = _neighbour_offsets(kw, kx, ky)
        mask = np.broadcast_to(mask, values.shape)
        labels, n = _components(values, mask, offsets)
        valid = labels >= 0
        sizes = np.bincount(labels[valid].ravel(), minlength=n)
        # Global index of each pixel on the grid's lattice: rows and columns counted from the CRS origin.
        a, _, c, _, e, f = grid.transform
        col0 = int(round(c / a)) - x
        row0 = int(round(f / e)) - y
        gr, gc = np.indices(values.shape)
        global_index = (gr + row0).astype(np.int64) * (1 << 31) + (gc + col0)
        first_pixel = np.full(n, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(first_pixel, labels[valid], global_index[valid])
        safe = np.maximum(labels, 0)
        out = np.where(valid, first_pixel[safe], 0)
        keep = valid & (sizes[safe] <= limit)
        return [(_centre(out, x, y, grid), _centre(keep, x, y, grid))]

    label_image = src.with_bands([label_spec], neighborhood_read(
        _first_band(src), _size_kernel(limit), labels_per_band, 1))

    def read(grid, wanted):
        n = len(src.bands)
        from_src = [w for w in wanted if w < n]
        src_px = iter(src.compute(grid, from_src))
        labels = label_image.compute(grid, [0])[0] if n in wanted else None
        return [next(src_px) if w < n else labels for w in wanted]

    return src.with_bands(list(src.bands) + [label_spec], read)


def _first_band(image: Image) -> Image:
    from aef_ee.local.algorithms.image import select_by_names

    return select_by_names(image, [0])


# --- distances ---------------------------------------------------------------------------------------------

_METRICS = {"euclidean": "euclidean", "manhattan": "taxicab", "chebyshev": "chessboard"}


def _distance_to_nonzero(values: np.ndarray, mask: np.ndarray, metric: str) -> np.ndarray:
    """Distance in pixels from every pixel to the nearest valid non-zero pixel (inf when there is none)."""
    from scipy import ndimage

    target = mask & (values != 0)
    if not target.any():
        return np.full(values.shape, np.inf)
    if metric == "squared_euclidean":
        return ndimage.distance_transform_edt(~target) ** 2
    if metric == "euclidean":
        return ndimage.distance_transform_edt(~target)
    return ndimage.distance_transform_cdt(~target, metric=_METRICS[metric]).astype(np.float64)


@algorithm("Image.distance")
def distance(image: Any, kernel: Any = None, skipMasked: bool = True) -> Image:
    """Earth Engine's ``Image.distance``: per band, the distance to the nearest non-zero pixel within the distance
    kernel (euclidean, manhattan or chebyshev; in the kernel's units, so metres for a kernel in metres), masked
    where there is none within the kernel's radius (and, with ``skipMasked``, where the input is masked).
    Without a kernel: euclidean, 256 pixels (not documented; fastDistanceTransform's default neighbourhood)."""
    from aef_ee.local.algorithms.registry import lookup

    src = as_image(image)
    k = as_kernel(kernel, "Image.distance") if kernel is not None else lookup("Kernel.euclidean")(radius=256)
    if k.name not in _METRICS:
        raise InvalidArgument(f"Image.distance: the kernel must be euclidean, manhattan or chebyshev; got {k.name}.")
    specs = [BandSpec(b.name, PixelType("float"), b.projection, None, b.is_default_projection) for b in src.bands]

    def per_band(values, mask, weights, x, y, grid, band=0):
        mask = np.broadcast_to(mask, values.shape)
        pixels = _distance_to_nonzero(values, mask, k.name)
        unit = pixel_size_m(grid) if k.units == "meters" else 1.0
        radius_px = k.radius / unit  # the kernel's radius in pixels of this grid
        result = _centre(pixels, x, y, grid)
        ok = result <= radius_px + 1e-9
        if skipMasked:
            ok = ok & _centre(mask, x, y, grid)
        return [((result * unit).astype(np.float32), ok)]

    return src.with_bands(specs, neighborhood_read(src, _kernel_weights(k), per_band, 1))


@algorithm("Image.fastDistanceTransform")
def fast_distance_transform(image: Any, neighborhood: int = 256, units: str = "pixels",
                            metric: str = "squared_euclidean") -> Image:
    """Earth Engine's ``Image.fastDistanceTransform``: per band, the distance in pixels to the nearest non-zero
    valid pixel, by ``metric`` (``squared_euclidean`` by default: squared distance, as documented), for every pixel
    within ``neighborhood`` pixels of one regardless of its own mask; masked beyond. Float."""
    src = as_image(image)
    if units != "pixels":
        raise InvalidArgument(f"Image.fastDistanceTransform: units must be 'pixels'; got {units!r}.")
    if metric not in ("squared_euclidean", "manhattan", "chebyshev"):
        raise InvalidArgument(f"Image.fastDistanceTransform: unknown metric {metric!r}; use squared_euclidean, "
                              "manhattan or chebyshev.")
    reach = int(neighborhood)
    if not 1 <= reach <= 4096:
        raise InvalidArgument(f"Image.fastDistanceTransform: neighborhood must be in [1, 4096]; got {neighborhood}.")
    specs = [BandSpec(b.name, PixelType("float"), b.projection, None, b.is_default_projection) for b in src.bands]

    def per_band(values, mask, weights, x, y, grid, band=0):
        mask = np.broadcast_to(mask, values.shape)
        result = _centre(_distance_to_nonzero(values, mask, metric), x, y, grid)
        limit = reach * reach if metric == "squared_euclidean" else reach
        return [(np.where(np.isfinite(result), result, 0).astype(np.float32), result <= limit)]

    return src.with_bands(specs, neighborhood_read(src, _size_kernel(reach), per_band, 1))

