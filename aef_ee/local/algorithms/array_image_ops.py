"""Array images combined and reduced per pixel: ``Image.arrayReduce`` and ``Image.arrayCat``.

A band of an array image holds values (H, W, *shape) (see :mod:`~aef_ee.local.algorithms.array_images`); array axes
are counted within the pixel's array, negative ones from the end.

- ``arrayReduce(reducer, axes, fieldAxis)``: the reducer over the elements along ``axes``, which keep length 1 ("The
  output will have a length of 1 in all these axes"). A reducer of several inputs reads them along ``fieldAxis``
  (whose length must be the number of inputs) and a reducer of several outputs writes them along it; the field axis
  is required for either, as documented ("Only required if the reducer has multiple inputs or outputs").
- ``arrayCat(image2, axis)``: each band's arrays joined with the same band of ``image2`` along ``axis`` (a one-band
  image pairs with every band of the other); the arrays must agree on every other axis. The type is the union of
  the two, the mask where both are valid.

The mask stays one per pixel, whatever the array's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms import pixel_types
from aef_ee.local.algorithms.image import as_image
from aef_ee.local.algorithms.reducer_base import Reducer, as_reducer
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Grid
from aef_ee.local.raster import BandSpec, Image, PixelType, true_mask

__all__ = ["array_reduce", "array_cat"]

BandPixels = tuple[np.ndarray, np.ndarray]
# Reducers without a pixel-wise form reduce one array at a time; past this many arrays per read that is refused.
MAX_ARRAYS_ONE_BY_ONE = 65536
_LONG = PixelType.from_dtype(np.int64)


def _array_axis(values: np.ndarray, axis: Any, name: str) -> int:
    """The numpy axis of array axis ``axis`` of the (H, W, *shape) values."""
    dims = values.ndim - 2
    k = int(axis)
    if not -dims <= k < dims:
        raise InvalidArgument(f"{name}: array axis {axis} is out of range for arrays of {dims} dimensions.")
    return 2 + (k % dims)


def _arrays(values: Any, band: str, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim < 3:
        raise InvalidArgument(f"{name}: band '{band}' does not hold arrays; make one with Image.toArray().")
    return values


def _reduce_rows(reducer: Reducer, table: np.ndarray) -> list[np.ndarray]:
    """The reducer over each row of ``table`` (M, n elements, k inputs): one (M,) float64 array per output."""
    m, n, k = table.shape
    if n == 0:
        raise InvalidArgument("Image.arrayReduce: the axes to reduce have no elements.")
    every = true_mask((m, 1))
    try:
        inputs = [[table[:, i, j].reshape(m, 1) for i in range(n)] for j in range(k)]
        masks = [[every] * n for _ in range(k)]
        return [np.asarray(v, np.float64).reshape(m) for v, _ in reducer.reduce_inputs(inputs, masks)]
    except InvalidArgument:
        if m > MAX_ARRAYS_ONE_BY_ONE:
            raise
    out = np.full((len(reducer.outputs), m), np.nan)
    for row in range(m):
        for o, value in enumerate(reducer.reduce_samples(table[row]).values()):
            if value is not None and not isinstance(value, (int, float, np.number)):
                raise InvalidArgument(f"Image.arrayReduce: {reducer.name}'s output '{reducer.outputs[o]}' is not a "
                                      "number; use a reducer of numeric outputs.")
            out[o, row] = np.nan if value is None else value
    return list(out)


@algorithm("Image.arrayReduce")
def array_reduce(input: Any, reducer: Any, axes: Sequence[int], fieldAxis: int | None = None) -> Image:
    """Earth Engine's ``Image.arrayReduce`` (see the module docstring), for every band.

    Raises:
      InvalidArgument: an axis is out of range, the field axis is missing, among ``axes``, or of the wrong length.
    """
    src = as_image(input)
    red = as_reducer(reducer)
    n_out = len(red.outputs)
    if (red.n_inputs > 1 or n_out > 1) and fieldAxis is None:
        raise InvalidArgument(f"Image.arrayReduce: {red.name} has {red.n_inputs} inputs and {n_out} outputs; "
                              "give a fieldAxis to hold them.")
    if not axes:
        raise InvalidArgument("Image.arrayReduce: give at least one axis to reduce.")

    def out_type(band: BandSpec) -> PixelType:
        types = red.output_types([band.pixel_type] * red.n_inputs)
        if all(t.precision == "int" for t in types):
            return _LONG  # a sum over the elements can leave the input's range
        return pixel_types.union(*types)

    specs = [BandSpec(b.name, out_type(b), b.projection, None, b.is_default_projection) for b in src.bands]

    def reduce_band(values: np.ndarray, band: str, dtype: np.dtype) -> np.ndarray:
        name = "Image.arrayReduce"
        reduced = sorted({_array_axis(values, k, name) for k in axes})
        field = None if fieldAxis is None else _array_axis(values, fieldAxis, name)
        if field is not None and field in reduced:
            raise InvalidArgument(f"{name}: the fieldAxis {fieldAxis} is also among the axes to reduce {list(axes)}.")
        width = 1 if field is None else values.shape[field]
        if width != red.n_inputs:
            raise InvalidArgument(f"{name}: {red.name} takes {red.n_inputs} inputs; the arrays of band '{band}' "
                                  f"have {width} along the field axis {fieldAxis}.")
        kept = [k for k in range(2, values.ndim) if k not in reduced and k != field]
        order = [0, 1] + kept + reduced + ([field] if field is not None else [])
        moved = np.transpose(values, order)
        kept_shape = list(values.shape[:2]) + [values.shape[k] for k in kept]
        table = moved.reshape(int(np.prod(kept_shape)), -1, red.n_inputs)
        results = np.stack(_reduce_rows(red, table), axis=-1)  # (M, outputs)
        out_shape = kept_shape + [1] * len(reduced) + ([n_out] if field is not None else [])
        out = np.transpose(results.reshape(out_shape), np.argsort(order))
        if np.issubdtype(dtype, np.integer):
            return np.where(np.isfinite(out), out, 0).astype(dtype)
        return out.astype(dtype)

    def read(grid: Grid, wanted: Sequence[int]) -> list[BandPixels]:
        out = []
        for w, (values, mask) in zip(wanted, src.compute(grid, wanted), strict=True):
            values = _arrays(values, src.bands[w].name, "Image.arrayReduce")
            out.append((reduce_band(values, src.bands[w].name, specs[w].pixel_type.dtype), mask))
        return out

    return src.with_bands(specs, read)


@algorithm("Image.arrayCat")
def array_cat(image1: Any, image2: Any, axis: int) -> Image:
    """Earth Engine's ``Image.arrayCat`` (see the module docstring): band names from ``image1``.

    Raises:
      InvalidArgument: the band counts differ (and neither is 1), or the arrays disagree off ``axis``.
    """
    a, b = as_image(image1), as_image(image2)
    na, nb = len(a.bands), len(b.bands)
    if na != nb and 1 not in (na, nb):
        raise InvalidArgument(f"Image.arrayCat: the images have {na} and {nb} bands; give images of as many bands "
                              "(or one of one band).")
    n = max(na, nb)
    pairs = [(i if na > 1 else 0, i if nb > 1 else 0) for i in range(n)]
    names = a.band_names if na == n else b.band_names
    specs = [BandSpec(names[i],
                      pixel_types.union(a.bands[ia].pixel_type, b.bands[ib].pixel_type),
                      a.bands[ia].projection, None, a.bands[ia].is_default_projection)
             for i, (ia, ib) in enumerate(pairs)]

    def read(grid: Grid, wanted: Sequence[int]) -> list[BandPixels]:
        left = a.compute(grid, [pairs[w][0] for w in wanted])
        right = b.compute(grid, [pairs[w][1] for w in wanted])
        out = []
        for w, (va, ma), (vb, mb) in zip(wanted, left, right, strict=True):
            va, vb = _arrays(va, specs[w].name, "Image.arrayCat"), _arrays(vb, specs[w].name, "Image.arrayCat")
            if va.ndim != vb.ndim:
                raise InvalidArgument(f"Image.arrayCat: arrays of {va.ndim - 2} and {vb.ndim - 2} dimensions in "
                                      f"band '{specs[w].name}'.")
            k = _array_axis(va, axis, "Image.arrayCat")
            if any(va.shape[j] != vb.shape[j] for j in range(2, va.ndim) if j != k):
                raise InvalidArgument(f"Image.arrayCat: arrays of shapes {list(va.shape[2:])} and "
                                      f"{list(vb.shape[2:])} do not match off axis {axis}.")
            dtype = specs[w].pixel_type.dtype
            values = np.concatenate([va.astype(dtype), vb.astype(dtype)], axis=k)
            mask = np.asarray(ma, bool) & np.asarray(mb, bool)
            out.append((values, mask))
        return out

    return a.with_bands(specs, read)
