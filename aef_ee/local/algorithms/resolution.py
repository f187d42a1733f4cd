"""``Image.reduceResolution``: aggregating the pixels of an image's own projection into coarser output pixels.

Earth Engine: "Enables reprojection using the given reducer to combine all input pixels corresponding to each output
pixel. ... Reducer input weights will be the product of the input mask and the fraction of the output pixel covered
by the input pixel." When the image is requested on a grid coarser than a band's default projection (typically
through ``reproject``), each output pixel reduces the input pixels of that projection overlapping it: weighted
reducers (mean, sum, ...) weigh each by the fraction of the output pixel it covers, the others (count, min, max,
median, ...) take every overlapping pixel. On a grid as fine as the input or finer, the image is computed as usual.
More than ``maxPixels`` input pixels per output pixel is an error, unless ``bestEffort`` (then the input is read at a
coarser level first, as from a pyramid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.reducer_base import Reducer, as_reducer
from aef_ee.local.algorithms.reducer_kinds import Mean, Sum
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, Unimplemented
from aef_ee.local.projection import Grid, Projection, covering_grid, transformer
from aef_ee.local.raster import BandSpec, Image, read_array_onto

__all__ = ["reduce_resolution"]

BandPixels = tuple[np.ndarray, np.ndarray]


def _bounds_in(grid: Grid, crs: str) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = grid.bounds()
    if grid.crs == crs:
        return xmin, ymin, xmax, ymax
    xs, ys = np.meshgrid(np.linspace(xmin, xmax, 21), np.linspace(ymin, ymax, 21))
    tx, ty = transformer(grid.crs, crs).transform(xs.ravel(), ys.ravel())
    return float(np.nanmin(tx)), float(np.nanmin(ty)), float(np.nanmax(tx)), float(np.nanmax(ty))


def _target_in(native: Projection, grid: Grid) -> Grid:
    """``grid`` itself when it is a north-up grid in the native CRS; else a grid in the native CRS covering it at
    about its pixel size (the aggregation is done there and read onto ``grid`` nearest-neighbour)."""
    a, b, _, d, e, _ = grid.transform
    if grid.crs == native.crs and not b and not d:
        return grid
    xmin, ymin, xmax, ymax = _bounds_in(grid, native.crs)
    size = math.sqrt((xmax - xmin) * (ymax - ymin) / (grid.width * grid.height))
    return covering_grid(Projection(native.crs, (size, 0.0, 0.0, 0.0, -size, 0.0)), (xmin, ymin, xmax, ymax))


def _overlaps(out_edges: np.ndarray, in_edges: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output interval [out_edges[j], out_edges[j+1]] (increasing), the indexes of the ``span`` input
    intervals starting at the first overlapping one (n_out, span), and the fraction of the output interval each
    covers (n_out, span; 0 past the overlap)."""
    lo, hi = out_edges[:-1], out_edges[1:]
    first = np.searchsorted(in_edges, lo, side="right") - 1
    index = first[:, None] + np.arange(span)[None, :]
    idx = np.clip(index, 0, len(in_edges) - 2)
    start, stop = in_edges[idx], in_edges[idx + 1]
    cover = np.clip(np.minimum(stop, hi[:, None]) - np.maximum(start, lo[:, None]), 0, None)
    cover = np.where((index >= 0) & (index <= len(in_edges) - 2), cover, 0.0)
    return idx, cover / (hi - lo)[:, None]


def _edges(grid: Grid, axis: int) -> np.ndarray:
    """Increasing pixel-edge coordinates of a north-up grid along x (axis 1) or y (axis 0), and whether reversed."""
    a, _, c, _, e, f = grid.transform
    if axis == 1:
        return c + a * np.arange(grid.width + 1)
    return f + e * np.arange(grid.height + 1)


def _aggregate(reducer: Reducer, values: np.ndarray, mask: np.ndarray, native: Grid, target: Grid
               ) -> list[BandPixels]:
    """The reducer over the native pixels overlapping each target pixel (both grids north-up, one CRS)."""
    outputs = []
    ex_in, ey_in = _edges(native, 1), _edges(native, 0)
    ex_out, ey_out = _edges(target, 1), _edges(target, 0)
    flip_x, flip_y = ex_in[1] < ex_in[0], ey_in[1] < ey_in[0]
    if flip_x:
        ex_in = ex_in[::-1]
    if flip_y:
        ey_in = ey_in[::-1]
    out_x_rev, out_y_rev = ex_out[1] < ex_out[0], ey_out[1] < ey_out[0]
    if out_x_rev:
        ex_out = ex_out[::-1]
    if out_y_rev:
        ey_out = ey_out[::-1]
    span_x = int(math.ceil(np.max(np.diff(ex_out)) / np.min(np.diff(ex_in)))) + 1
    span_y = int(math.ceil(np.max(np.diff(ey_out)) / np.min(np.diff(ey_in)))) + 1
    cols, wx = _overlaps(ex_out, ex_in, span_x)
    rows, wy = _overlaps(ey_out, ey_in, span_y)
    if flip_x:
        cols = native.width - 1 - cols
    if flip_y:
        rows = native.height - 1 - rows
    if out_x_rev:
        cols, wx = cols[::-1], wx[::-1]
    if out_y_rev:
        rows, wy = rows[::-1], wy[::-1]
    mask = np.broadcast_to(mask, values.shape)
    layers, masks, weights = [], [], []
    for i in range(span_y):
        for j in range(span_x):
            w = wy[:, i][:, None] * wx[:, j][None, :]
            if not (w > 0).any():
                continue
            index = np.ix_(rows[:, i], cols[:, j])
            layers.append(values[index])
            masks.append(mask[index] & (w > 0))
            weights.append(w)
    if type(reducer) in (Mean, Sum) and reducer.weighted:
        total = np.zeros(target.shape)
        weight = np.zeros(target.shape)
        for v, m, w in zip(layers, masks, weights, strict=True):
            ww = np.where(m, w, 0.0)
            total += ww * np.where(m, v, 0)
            weight += ww
        valid = weight > 0
        result = total / np.where(valid, weight, 1) if type(reducer) is Mean else total
        outputs.append((result, valid))
        return outputs
    return reducer.reduce_stack(layers, masks)


@algorithm("Image.reduceResolution")
def reduce_resolution(image: Any, reducer: Any, bestEffort: bool = False, maxPixels: int = 64) -> Image:
    """Earth Engine's ``Image.reduceResolution`` (see the module docstring). Band names: a single-output reducer
    keeps them, a multi-output one gives ``<band>_<output>``; reducers of several inputs are not supported."""
    src = as_image(image)
    red = as_reducer(reducer)
    if red.n_inputs != 1:
        raise Unimplemented(f"Image.reduceResolution: reducers of {red.n_inputs} inputs are not supported by the "
                            "local engine; use a single-input reducer.")
    limit = int(maxPixels)
    if limit < 1:
        raise InvalidArgument(f"Image.reduceResolution: maxPixels must be positive; got {maxPixels!r}.")
    n_out = len(red.outputs)
    specs = []
    for band in src.bands:
        # As many inputs as maxPixels at most (a count's range depends on it).
        for name, ptype in zip(red.outputs, red.output_types([band.pixel_type] * limit), strict=True):
            specs.append(BandSpec(band.name if n_out == 1 else f"{band.name}_{name}", ptype, band.projection,
                                  band.dimensions if n_out == 1 else None, band.is_default_projection))

    def read(grid: Grid, wanted: Sequence[int]) -> list[BandPixels]:
        results: dict[int, list[BandPixels]] = {}
        plain_cache: dict[int, BandPixels] = {}
        out = []
        for w in wanted:
            band_index, k = divmod(w, n_out)
            if band_index not in results:
                results[band_index] = _band(src, band_index, red, grid, limit, bool(bestEffort), plain_cache)
            out.append(results[band_index][k])
        return out

    return src.with_bands(specs, read)


def _band(src: Image, index: int, reducer: Reducer, grid: Grid, limit: int, best_effort: bool,
          plain_cache: dict[int, BandPixels]) -> list[BandPixels]:
    band = src.bands[index]
    native_proj = band.projection
    a, b, _, d, e, _ = native_proj.transform
    if band.is_default_projection or b or d:
        return _passthrough(src, index, reducer, grid)
    target = _target_in(native_proj, grid)
    ta, te = abs(target.transform[0]), abs(target.transform[4])
    ratio_x, ratio_y = ta / abs(a), te / abs(e)
    if ratio_x <= 1 + 1e-9 and ratio_y <= 1 + 1e-9:
        return _passthrough(src, index, reducer, grid)
    per_pixel = math.ceil(ratio_x - 1e-9) * math.ceil(ratio_y - 1e-9)
    if per_pixel > limit:
        if not best_effort:
            raise InvalidArgument(
                f"Image.reduceResolution: Too many input pixels per output pixel. Need: {per_pixel}, Max: {limit}. "
                "Raise maxPixels or set bestEffort.")
        factor = math.ceil(math.sqrt(per_pixel / limit))
        native_proj = native_proj.scaled(factor, factor)
    native = covering_grid(native_proj, target.bounds())
    values, mask = src.compute(native, [index])[0]
    with np.errstate(all="ignore"):
        reduced = _aggregate(reducer, np.asarray(values), np.asarray(mask), native, target)
    out = []
    for (v, m), ptype in zip(reduced, reducer.output_types([band.pixel_type] * limit), strict=True):
        v = np.asarray(v).astype(ptype.dtype, copy=False)
        if target is not grid:
            v, m = read_array_onto(v, np.asarray(m), target, grid)
        out.append((v, np.asarray(m)))
    return out


def _passthrough(src: Image, index: int, reducer: Reducer, grid: Grid) -> list[BandPixels]:
    """Not coarser than the input: every output of the reducer of the one pixel (min, max, mean... are the value)."""
    values, mask = src.compute(grid, [index])[0]
    return reducer.reduce_stack([values], [mask])
