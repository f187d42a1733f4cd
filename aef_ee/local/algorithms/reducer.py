"""Reducers: Earth Engine's ``ee.Reducer.*`` as objects that reduce pixel stacks and sample tables.

A reducer takes ``n_inputs`` inputs and produces named outputs (``mean``; ``min`` and ``max``; ``p10`` ...). It is
used two ways:

- ``reduce_stack(values, masks)``: pixel-wise over a stack of (H, W) layers (the bands of one image for
  ``Image.reduce``, one band across the images of a collection for ``ImageCollection.reduce``). Masked layers are
  left out of each pixel; a pixel with no valid layer is masked in every output.
- ``reduce_samples(values (N, k), weights (N,))``: over a table of N samples of its k inputs (region reductions,
  ``reduceColumns``, ``aggregate_*``), returning ``{output name: value}``.

Naming across bands (``B4_mean`` ...) is the caller's business; a reducer only knows its raw output names.

Differences from Earth Engine, on purpose: ``median``, ``percentile`` and ``mode`` are exact (Earth Engine switches
to a histogram past ``maxRaw`` inputs); percentiles interpolate linearly between order statistics, so the median of
an even count is the mean of the two middle values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import PixelType, true_mask

__all__ = ["Reducer", "histogram_key", "as_reducer"]

BandPixels = tuple[np.ndarray, np.ndarray]
# Earth Engine's Reducer.histogram default bucket count (a power of two).
DEFAULT_MAX_BUCKETS = 256


def histogram_key(value: Any) -> str:
    """A value as Earth Engine writes it as a frequency-histogram key (integral numbers without '.0')."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def _all_true(mask: np.ndarray) -> bool:
    """Cheap test for the broadcast all-True masks of unmasked bands (a full scan otherwise)."""
    if mask.ndim and all(s == 0 for s in mask.strides):
        return bool(mask.flat[0])
    return bool(np.all(mask))


def _widen(types: Sequence[PixelType]) -> PixelType:
    """The smallest type holding every input type (int ranges united, float beats int, double beats float)."""
    if not types:
        return PixelType("double")
    if all(t.precision == "int" for t in types):
        return PixelType("int", min(t.min for t in types), max(t.max for t in types))
    if any(t.precision == "double" for t in types):
        return PixelType("double")
    return PixelType("float")


def _real(types: Sequence[PixelType]) -> PixelType:
    """Float for float inputs, double otherwise (statistics of ints are not ints)."""
    return PixelType("float") if types and all(t.precision == "float" for t in types) else PixelType("double")


def _numeric(column: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument("Reducer: expected numeric inputs; got non-numeric values.") from None


def _scalar(value: Any) -> Any:
    """A numpy scalar as a plain Python number (ints stay ints)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class Reducer:
    """Base class: a reducer of ``n_inputs`` inputs with named ``outputs``.

    Subclasses implement ``_samples`` (and ``_stack`` where a pixel-wise form exists).
    """

    name = "Reducer"
    n_inputs = 1
    # Earth Engine weights region pixels by their coverage for statistics (mean, sum, stdDev, percentiles,
    # histograms); order statistics and lists (min, max, count, first, toList, ...) take whole pixels.
    WEIGHTED = True

    def __init__(self, outputs: Sequence[str], *, weighted: bool | None = None, args: dict[str, Any] | None = None):
        self.outputs = list(outputs)
        self.weighted = self.WEIGHTED if weighted is None else weighted
        self.args = dict(args or {})

    # --- the interface the engine uses ------------------------------------------------------------------
    def output_names(self, input_names: Sequence[str]) -> list[str]:
        """The raw output names (the inputs only matter to the caller's band naming)."""
        return list(self.outputs)

    def output_types(self, input_pixel_types: Sequence[PixelType]) -> list[PixelType]:
        return [PixelType("double")] * len(self.outputs)

    def reduce_stack(self, values: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[BandPixels]:
        """Pixel-wise reduction of n layers, each (H, W); returns per output (values (H, W), mask (H, W))."""
        if self.n_inputs != 1:
            raise InvalidArgument(
                f"{self.name}: a reducer of {self.n_inputs} inputs cannot reduce pixels over a stack; "
                "use a single-input reducer.")
        if not values:
            raise InvalidArgument(f"{self.name}: nothing to reduce.")
        return self._stack(list(values), [np.asarray(m) for m in masks])

    def reduce_inputs(self, inputs: Sequence[Sequence[np.ndarray]], masks: Sequence[Sequence[np.ndarray]]
                      ) -> list[BandPixels]:
        """Pixel-wise reduction of a reducer of k inputs over n layers: ``inputs[j][i]`` is input j of layer i
        (each (H, W)); a layer counts at a pixel where all its inputs are valid. Only some reducers have it."""
        if self.n_inputs == 1:
            return self.reduce_stack(list(inputs[0]), list(masks[0]))
        raise InvalidArgument(f"{self.name} cannot be applied pixel-wise to {self.n_inputs} inputs.")

    def reduce_samples(self, values: np.ndarray, weights: np.ndarray | None = None, *,
                       inside: np.ndarray | None = None) -> dict[str, Any]:
        """Reduces N samples of the inputs.

        Args:
          values: (N, k) with k == n_inputs (a (N,) column for one input).
          weights: (N,) >= 0, e.g. the fraction of each pixel inside a region; None means 1 each.
          inside: (N,) bool, e.g. whether each pixel's centre is inside the region. Earth Engine's rules for the
            pixels of a region: statistics (mean, sum, histograms, ...) use the rows of positive weight, weighted
            (weight 1 each after ``unweighted()``); count, min, max, toList, first, ... use the ``inside`` rows.
        """
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[1] != self.n_inputs:
            raise InvalidArgument(
                f"{self.name}: Need {self.n_inputs} inputs, but got {values.shape[1]}.")
        rows, w = self._rows(values.shape[0], weights, inside)
        if rows is not None:
            values = values[rows]
        return dict(zip(self.outputs, self._samples(values, w)))

    def _rows(self, n: int, weights: np.ndarray | None, inside: np.ndarray | None
              ) -> tuple[np.ndarray | None, np.ndarray]:
        """(rows to use or None for all, their weights) under this reducer's rule for region pixels."""
        if not self.WEIGHTED and inside is not None:  # count, min, max, toList, ...: pixel centres inside
            rows = np.asarray(inside, bool)
            return (None, np.ones(n)) if rows.all() else (rows, np.ones(int(rows.sum())))
        if weights is not None:  # pixels at least partly inside; weight 1 after unweighted()
            w = np.asarray(weights, np.float64)
            rows = w > 0
            kept = w if rows.all() else w[rows]
            return (None if rows.all() else rows), (kept if self.weighted else np.ones(len(kept)))
        if inside is not None:
            rows = np.asarray(inside, bool)
            return (None, np.ones(n)) if rows.all() else (rows, np.ones(int(rows.sum())))
        return None, np.ones(n)

    def to_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "Reducer", "algorithm": self.name, "outputs": list(self.outputs)}
        if self.args:
            info["arguments"] = {k: v for k, v in self.args.items() if not isinstance(v, Reducer)}
        return info

    # --- what subclasses implement ----------------------------------------------------------------------
    def _samples(self, values: np.ndarray, weights: np.ndarray) -> list[Any]:
        raise NotImplementedError

    def _stack(self, values: list[np.ndarray], masks: list[np.ndarray]) -> list[BandPixels]:
        """Default pixel-wise form: every pixel's valid layers through ``_samples`` would be too slow, so
        reducers without a vectorised form refuse."""
        raise InvalidArgument(f"{self.name} cannot be applied pixel-wise (its outputs are not numbers).")

    def renamed(self, outputs: Sequence[str]) -> "Reducer":
        import copy

        clone = copy.copy(self)
        clone.outputs = list(outputs)
        return clone

    def __repr__(self) -> str:
        return f"{self.name}(outputs={self.outputs})"


# --- helpers for stacks ----------------------------------------------------------------------------------

def _valid_count(masks: list[np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray | None, bool]:
    """(count of valid layers per pixel or None when all are valid, whether every layer is fully valid)."""
    if all(_all_true(m) for m in masks):
        return None, True
    count = np.zeros(shape, np.int32)
    for m in masks:
        count += np.broadcast_to(m, shape)
    return count, False


def _nan_stack(values: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
    """The layers as one float64 (n, H, W) array with NaN where masked (or not finite)."""
    shape = np.broadcast_shapes(*[np.shape(v) for v in values])
    out = np.empty((len(values),) + shape, np.float64)
    for i, (v, m) in enumerate(zip(values, masks)):
        out[i] = v
        if not _all_true(m):
            out[i][~np.broadcast_to(m, shape)] = np.nan
    return out


def _sorted_percentiles(data: np.ndarray, percentiles: Sequence[float]) -> tuple[list[np.ndarray], np.ndarray]:
    """Linear-interpolated percentiles along axis 0 of a NaN-holed (n, H, W) array; (per percentile, count)."""
    data = np.sort(data, axis=0)  # NaN sorts last
    count = np.sum(~np.isnan(data), axis=0)
    last = np.maximum(count - 1, 0)
    out = []
    for p in percentiles:
        pos = last * (float(p) / 100.0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, last)
        frac = pos - lo
        v_lo = np.take_along_axis(data, lo[None], axis=0)[0]
        v_hi = np.take_along_axis(data, hi[None], axis=0)[0]
        with np.errstate(invalid="ignore"):
            out.append(np.where(frac > 0, v_lo + (v_hi - v_lo) * frac, v_lo))
    return out, count


def _mask_from(count: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    return true_mask(shape) if count is None else count > 0


def _shape(values: list[np.ndarray], masks: list[np.ndarray]) -> tuple[int, int]:
    return np.broadcast_shapes(*[np.shape(v) for v in values], *[np.shape(m) for m in masks])


# --- simple reducers -------------------------------------------------------------------------------------

class _Sum(Reducer):
    name = "Reducer.sum"

    def output_types(self, types):
        if types and all(t.precision == "int" for t in types):
            lo, hi = sum(min(t.min, 0) for t in types), sum(max(t.max, 0) for t in types)
            if -(2**63) <= lo and hi < 2**63:
                return [PixelType("int", lo, hi)]
        return [_widen(types) if types and not all(t.precision == "int" for t in types) else PixelType("double")]

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        dtype = np.result_type(*[np.asarray(v).dtype for v in values])
        if np.issubdtype(dtype, np.integer):
            dtype = np.dtype(np.int64)
        elif dtype == np.float16:
            dtype = np.dtype(np.float32)
        acc = np.zeros(shape, dtype)
        count, full = _valid_count(masks, shape)
        for v, m in zip(values, masks):
            if full or _all_true(m):
                np.add(acc, v, out=acc, casting="unsafe")
            else:
                np.add(acc, v, out=acc, where=np.broadcast_to(m, shape), casting="unsafe")
        return [(acc, _mask_from(count, shape))]

    def _samples(self, values, weights):
        col = values[:, 0]
        if col.dtype.kind in "iub" and (weights == 1).all():
            return [int(np.sum(col.astype(np.int64)))]
        return [float(np.sum(_numeric(col) * weights))]


class _Mean(Reducer):
    name = "Reducer.mean"

    def output_types(self, types):
        return [_real(types)]

    def _stack(self, values, masks):
        (total, _), = _Sum(["sum"])._stack(values, masks)
        shape = total.shape
        count, full = _valid_count(masks, shape)
        if full:
            return [(total / len(values), true_mask(shape))]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / np.maximum(count, 1)
        return [(mean, count > 0)]

    def _samples(self, values, weights):
        if len(values) == 0 or weights.sum() == 0:
            return [None]
        return [float(np.sum(_numeric(values[:, 0]) * weights) / weights.sum())]


class _Count(Reducer):
    WEIGHTED = False
    name = "Reducer.count"

    def output_types(self, types):
        return [PixelType("int", 0, max(1, len(types)))]

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        count, _ = _valid_count(masks, shape)
        if count is None:
            count = np.full(shape, len(values), np.int32)
        return [(count, true_mask(shape))]

    def _samples(self, values, weights):
        return [int(len(values))]


class _Extreme(Reducer):
    WEIGHTED = False
    """min or max; with numInputs > 1 the other inputs' values at the extreme are outputs too."""

    def __init__(self, outputs, *, largest: bool, n_inputs: int = 1, args=None):
        super().__init__(outputs, args=args)
        self.largest = largest
        self.n_inputs = n_inputs
        self.name = "Reducer.max" if largest else "Reducer.min"

    def output_types(self, types):
        return [_widen(types)] + [PixelType("double")] * (self.n_inputs - 1)

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        count, full = _valid_count(masks, shape)
        dtype = np.result_type(*[np.asarray(v).dtype for v in values])
        pick = np.maximum if self.largest else np.minimum
        acc = None
        for v, m in zip(values, masks):
            v = np.broadcast_to(np.asarray(v, dtype), shape)
            if acc is None:
                acc = np.array(v, dtype)
                if not full and not _all_true(m):
                    seen = np.broadcast_to(m, shape).copy()
                else:
                    seen = np.ones(shape, bool)
                continue
            mm = np.ones(shape, bool) if (full or _all_true(m)) else np.broadcast_to(m, shape)
            better = mm & (~seen | (v > acc if self.largest else v < acc))
            if full:
                pick(acc, v, out=acc)
            else:
                np.copyto(acc, v, where=better)
                seen |= mm
        return [(acc, _mask_from(count, shape))]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None] * self.n_inputs
        first = _numeric(values[:, 0])
        i = int(np.argmax(first) if self.largest else np.argmin(first))
        return [_scalar(values[i, 0])] + [_scalar(values[i, j]) for j in range(1, self.n_inputs)]


class _MinMax(Reducer):
    WEIGHTED = False
    name = "Reducer.minMax"

    def output_types(self, types):
        return [_widen(types)] * 2

    def _stack(self, values, masks):
        lo = _Extreme(["min"], largest=False)._stack(values, masks)
        hi = _Extreme(["max"], largest=True)._stack(values, masks)
        return lo + hi

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None, None]
        col = _numeric(values[:, 0])
        return [_scalar(values[int(np.argmin(col)), 0]), _scalar(values[int(np.argmax(col)), 0])]


class _Moments(Reducer):
    """variance / stdDev, population (``sample=False``) or sample."""

    def __init__(self, outputs, *, root: bool, sample: bool, args=None):
        super().__init__(outputs, args=args)
        self.root = root
        self.sample = sample
        self.name = "Reducer." + ("sample" if sample else "") + (
            ("StdDev" if sample else "stdDev") if root else ("Variance" if sample else "variance"))

    def output_types(self, types):
        return [_real(types)]

    def _finish(self, var: np.ndarray) -> np.ndarray:
        var = np.maximum(var, 0)
        return np.sqrt(var) if self.root else var

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        count, full = _valid_count(masks, shape)
        total = np.zeros(shape)
        total_sq = np.zeros(shape)
        for v, m in zip(values, masks):
            v = np.asarray(v, np.float64)
            where = None if (full or _all_true(m)) else np.broadcast_to(m, shape)
            np.add(total, v, out=total, where=True if where is None else where)
            np.add(total_sq, v * v, out=total_sq, where=True if where is None else where)
        n = np.full(shape, float(len(values))) if count is None else count.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
            var = total_sq / n - mean * mean
            if self.sample:
                var = var * n / (n - 1)
        ok = n > (1 if self.sample else 0)
        return [(np.where(ok, self._finish(var), 0.0), ok if not (full and ok.all()) else true_mask(shape))]

    def _samples(self, values, weights):
        col = _numeric(values[:, 0])
        wsum = weights.sum()
        if len(col) == 0 or (self.sample and len(col) < 2):
            return [None]
        mean = np.sum(col * weights) / wsum
        var = np.sum(weights * (col - mean) ** 2) / wsum
        if self.sample:
            var = var * len(col) / (len(col) - 1)
        return [float(self._finish(np.asarray(var)))]


class _Shape(Reducer):
    """skew / kurtosis (excess), population moments as Earth Engine computes them."""

    def __init__(self, outputs, *, kurtosis: bool, args=None):
        super().__init__(outputs, args=args)
        self.kurtosis = kurtosis
        self.name = "Reducer.kurtosis" if kurtosis else "Reducer.skew"

    def _moment(self, data: np.ndarray, w: np.ndarray | None, axis: int):
        mean = np.average(data, axis=axis, weights=w) if w is not None else np.nanmean(data, axis=axis)
        dev = data - np.expand_dims(mean, axis)
        avg = (lambda a: np.average(a, axis=axis, weights=w)) if w is not None else (
            lambda a: np.nanmean(a, axis=axis))
        m2 = avg(dev ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return avg(dev ** 4) / m2 ** 2 - 3 if self.kurtosis else avg(dev ** 3) / m2 ** 1.5

    def _stack(self, values, masks):
        import warnings

        data = _nan_stack(values, masks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = self._moment(data, None, 0)
        ok = np.isfinite(result)
        return [(np.where(ok, result, 0.0), ok)]

    def _samples(self, values, weights):
        col = _numeric(values[:, 0])
        if len(col) < 2:
            return [None]
        result = float(self._moment(col, weights, 0))
        return [result if math.isfinite(result) else None]


class _Percentile(Reducer):
    name = "Reducer.percentile"

    def __init__(self, outputs, percentiles: Sequence[float], args=None):
        super().__init__(outputs, args=args)
        self.percentiles = [float(p) for p in percentiles]
        for p in self.percentiles:
            if not 0 <= p <= 100:
                raise InvalidArgument(f"Reducer.percentile: percentiles must be between 0 and 100; got {p}.")

    def output_types(self, types):
        return [_real(types)] * len(self.outputs)

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        results, count = _sorted_percentiles(_nan_stack(values, masks), self.percentiles)
        mask = count > 0
        return [(r, mask) for r in results]

    def _samples(self, values, weights):
        col = _numeric(values[:, 0])
        if len(col) == 0:
            return [None] * len(self.percentiles)
        if np.all(weights == weights[0]):
            return [float(v) for v in np.percentile(col, self.percentiles)]
        # Weighted order statistics: element i sits at (weights before it) / (total weight - last weight), which
        # is i / (n - 1) -- numpy's linear rule -- when the weights are equal.
        order = np.argsort(col, kind="stable")
        col, w = col[order], weights[order]
        before = np.cumsum(w) - w
        span = before[-1] if before[-1] > 0 else 1.0
        return [float(np.interp(p / 100.0, before / span, col)) for p in self.percentiles]


class _Mode(Reducer):
    name = "Reducer.mode"

    def output_types(self, types):
        return [_widen(types)]

    def _stack(self, values, masks):
        data = np.sort(_nan_stack(values, masks), axis=0)
        n = data.shape[0]
        counts = np.zeros(data.shape, np.int32)
        for j in range(n):
            counts += data == data[j][None]
        counts[np.isnan(data)] = 0
        best = np.argmax(counts, axis=0)  # first (smallest) value among the most frequent
        mode = np.take_along_axis(data, best[None], axis=0)[0]
        return [(mode, ~np.isnan(mode))]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None]
        col = _numeric(values[:, 0])
        uniq, inverse = np.unique(col, return_inverse=True)
        tally = np.bincount(inverse, weights=weights)
        return [_scalar(uniq[int(np.argmax(tally))])]


class _Pick(Reducer):
    WEIGHTED = False
    """first / last (of the valid inputs, in order)."""

    def __init__(self, outputs, *, last: bool, name: str, args=None):
        super().__init__(outputs, args=args)
        self.last = last
        self.name = name

    def output_types(self, types):
        return [_widen(types)]

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        order = list(zip(values, masks))
        if not self.last:
            order.reverse()  # later layers are overwritten by earlier ones
        dtype = np.result_type(*[np.asarray(v).dtype for v in values])
        out = np.zeros(shape, dtype)
        seen = np.zeros(shape, bool)
        for v, m in order:
            mm = np.broadcast_to(m, shape)
            np.copyto(out, np.broadcast_to(v, shape), where=mm, casting="unsafe")
            seen |= mm
        return [(out, seen)]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None]
        return [_scalar(values[-1 if self.last else 0, 0])]


class _Boolean(Reducer):
    WEIGHTED = False
    """anyNonZero / allNonZero / and / or."""

    def __init__(self, outputs, *, every: bool, name: str, args=None):
        super().__init__(outputs, args=args)
        self.every = every
        self.name = name

    def output_types(self, types):
        return [PixelType("int", 0, 1)]

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        count, full = _valid_count(masks, shape)
        acc = np.full(shape, self.every)
        for v, m in zip(values, masks):
            nz = np.asarray(v) != 0
            if self.every:
                acc &= nz | ~np.broadcast_to(m, shape)
            else:
                acc |= nz & np.broadcast_to(m, shape)
        return [(acc.astype(np.uint8), _mask_from(count, shape))]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None]
        nz = _numeric(values[:, 0]) != 0
        return [int(nz.all() if self.every else nz.any())]


class _Product(Reducer):
    WEIGHTED = False
    name = "Reducer.product"

    def _stack(self, values, masks):
        shape = _shape(values, masks)
        count, _ = _valid_count(masks, shape)
        acc = np.ones(shape)
        for v, m in zip(values, masks):
            acc = np.where(np.broadcast_to(m, shape), acc * np.asarray(v, np.float64), acc)
        return [(acc, _mask_from(count, shape))]

    def _samples(self, values, weights):
        return [float(np.prod(_numeric(values[:, 0])))]


class _ToList(Reducer):
    WEIGHTED = False
    name = "Reducer.toList"

    def __init__(self, outputs, tuple_size: int | None = None, args=None):
        super().__init__(outputs, weighted=False, args=args)
        self.tuple_size = tuple_size
        self.n_inputs = tuple_size or 1

    def _samples(self, values, weights):
        if self.tuple_size is None:
            return [[_scalar(v) for v in values[:, 0]]]
        return [[[_scalar(v) for v in row] for row in values]]


class _FrequencyHistogram(Reducer):
    name = "Reducer.frequencyHistogram"

    def _samples(self, values, weights):
        tally: dict[str, float] = {}
        for v, w in zip(values[:, 0], weights):
            key = histogram_key(_scalar(v))
            tally[key] = tally.get(key, 0) + w
        return [{k: int(c) if float(c).is_integer() else float(c) for k, c in sorted(tally.items(), key=_sort_key)}]


def _sort_key(item: tuple[str, Any]) -> tuple[int, float, str]:
    try:
        return (0, float(item[0]), "")
    except ValueError:
        return (1, 0.0, item[0])


class _CountDistinct(Reducer):
    WEIGHTED = False
    name = "Reducer.countDistinct"

    def output_types(self, types):
        return [PixelType("int", 0, max(1, len(types)))]

    def _stack(self, values, masks):
        data = np.sort(_nan_stack(values, masks), axis=0)
        valid = ~np.isnan(data)
        new = valid.copy()
        new[1:] &= data[1:] != data[:-1]
        return [(new.sum(axis=0).astype(np.int32), true_mask(data.shape[1:]))]

    def _samples(self, values, weights):
        return [len({histogram_key(_scalar(v)) for v in values[:, 0]})]


class _Histogram(Reducer):
    """Reducer.histogram: power-of-two bucket widths, at most ``maxBuckets`` buckets.

    Output ``{'bucketMeans', 'bucketMin', 'bucketWidth', 'histogram'}``. Earth Engine refines the histogram as values
    stream in; this computes it from all values at once with the same bucket rule.
    """

    name = "Reducer.histogram"

    def __init__(self, outputs, max_buckets=None, min_bucket_width=None, args=None):
        super().__init__(outputs, args=args)
        self.max_buckets = int(max_buckets or DEFAULT_MAX_BUCKETS)
        self.min_bucket_width = min_bucket_width

    def _samples(self, values, weights):
        col = _numeric(values[:, 0])
        if len(col) == 0:
            return [None]
        lo, hi = float(col.min()), float(col.max())
        width = 2.0 ** math.ceil(math.log2(max((hi - lo) / self.max_buckets, 2.0**-20))) if hi > lo else 1.0
        if self.min_bucket_width is not None:
            width = max(width, float(self.min_bucket_width))
        start = math.floor(lo / width) * width
        n = max(1, int(math.floor((hi - start) / width)) + 1)
        idx = np.clip(((col - start) // width).astype(np.int64), 0, n - 1)
        counts = np.bincount(idx, weights=weights, minlength=n)
        sums = np.bincount(idx, weights=weights * col, minlength=n)
        with np.errstate(invalid="ignore"):
            means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), start + width * (np.arange(n) + 0.5))
        return [{"bucketMeans": means.tolist(), "bucketMin": start, "bucketWidth": width,
                 "histogram": [float(c) for c in counts]}]


class _FixedHistogram(Reducer):
    name = "Reducer.fixedHistogram"

    def __init__(self, outputs, lo, hi, steps, cumulative=False, args=None):
        super().__init__(outputs, args=args)
        self.lo, self.hi, self.steps, self.cumulative = float(lo), float(hi), int(steps), bool(cumulative)
        if self.steps <= 0 or self.hi <= self.lo:
            raise InvalidArgument(f"Reducer.fixedHistogram: need max > min and steps > 0; got {lo}, {hi}, {steps}.")

    def _samples(self, values, weights):
        col = _numeric(values[:, 0])
        width = (self.hi - self.lo) / self.steps
        inside = (col >= self.lo) & (col < self.hi)
        idx = ((col[inside] - self.lo) // width).astype(np.int64)
        counts = np.bincount(np.clip(idx, 0, self.steps - 1), weights=weights[inside], minlength=self.steps)
        if self.cumulative:
            counts = np.cumsum(counts)
        return [[[self.lo + i * width, float(c)] for i, c in enumerate(counts)]]


class _LinearFit(Reducer):
    """Least-squares y = scale * x + offset of input 1 (y) on input 0 (x)."""

    name = "Reducer.linearFit"
    n_inputs = 2

    def reduce_inputs(self, inputs, masks):
        shape = _shape(list(inputs[0]) + list(inputs[1]), list(masks[0]) + list(masks[1]))
        n = np.zeros(shape)
        sx, sy, sxx, sxy = (np.zeros(shape) for _ in range(4))
        for x, y, mx, my in zip(inputs[0], inputs[1], masks[0], masks[1]):
            ok = np.broadcast_to(mx, shape) & np.broadcast_to(my, shape)
            x = np.where(ok, np.asarray(x, np.float64), 0.0)
            y = np.where(ok, np.asarray(y, np.float64), 0.0)
            n += ok
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = n * sxx - sx * sx
            scale = (n * sxy - sx * sy) / denominator
            offset = (sy - scale * sx) / n
        ok = (n >= 2) & (denominator != 0)
        return [(np.where(ok, scale, 0.0), ok), (np.where(ok, offset, 0.0), ok)]

    def _samples(self, values, weights):
        x, y = _numeric(values[:, 0]), _numeric(values[:, 1])
        if len(x) < 2:
            return [None, None]
        xm, ym = np.average(x, weights=weights), np.average(y, weights=weights)
        sxx = np.sum(weights * (x - xm) ** 2)
        scale = float(np.sum(weights * (x - xm) * (y - ym)) / sxx) if sxx else None
        return [scale, None if scale is None else float(ym - scale * xm)]


class _Pearson(Reducer):
    name = "Reducer.pearsonsCorrelation"
    n_inputs = 2

    def _samples(self, values, weights):
        x, y = _numeric(values[:, 0]), _numeric(values[:, 1])
        if len(x) < 3:
            return [None, None]
        from scipy import stats

        r, p = stats.pearsonr(x, y)
        return [float(r), float(p)]


# --- compound reducers -----------------------------------------------------------------------------------

class _Combined(Reducer):
    name = "Reducer.combine"

    def __init__(self, first: Reducer, second: Reducer, prefix: str, shared: bool):
        if shared and first.n_inputs != second.n_inputs:
            raise InvalidArgument(
                "Reducer.combine: with sharedInputs both reducers must take the same number of inputs "
                f"({first.n_inputs} vs {second.n_inputs}).")
        super().__init__([prefix + o for o in first.outputs] + [prefix + o for o in second.outputs],
                         args={"outputPrefix": prefix, "sharedInputs": shared})
        self.first, self.second, self.shared = first, second, shared
        self.n_inputs = first.n_inputs if shared else first.n_inputs + second.n_inputs

    def output_types(self, types):
        return self.first.output_types(types) + self.second.output_types(types)

    def _stack(self, values, masks):
        if not self.shared:
            raise InvalidArgument("Reducer.combine: pixel-wise reduction needs sharedInputs=true.")
        return self.first._stack(values, masks) + self.second._stack(values, masks)

    def reduce_stack(self, values, masks):
        if not self.shared:
            raise InvalidArgument("Reducer.combine: pixel-wise reduction needs sharedInputs=true.")
        return self.first.reduce_stack(values, masks) + self.second.reduce_stack(values, masks)

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = _table(values, self)
        if self.shared:
            a, b = values, values
        else:
            a, b = values[:, :self.first.n_inputs], values[:, self.first.n_inputs:]
        out = list(self.first.reduce_samples(a, weights, inside=inside).values()) + list(
            self.second.reduce_samples(b, weights, inside=inside).values())
        return dict(zip(self.outputs, out))


class _Grouped(Reducer):
    name = "Reducer.group"

    def __init__(self, inner: Reducer, group_field: int, group_name: str):
        super().__init__(["groups"], args={"groupField": group_field, "groupName": group_name})
        self.inner, self.group_field, self.group_name = inner, int(group_field), group_name
        self.n_inputs = inner.n_inputs + 1
        if not 0 <= self.group_field < self.n_inputs:
            raise InvalidArgument(f"Reducer.group: groupField {group_field} out of range for {self.n_inputs} inputs.")

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = _table(values, self)
        rows, _ = self._rows(values.shape[0], weights, inside)
        keys = values[:, self.group_field]
        rest = np.delete(values, self.group_field, axis=1)
        used = np.ones(len(keys), bool) if rows is None else rows
        groups = []
        uniq = sorted({_scalar(k) for k in keys[used]}, key=lambda k: (isinstance(k, str), k))
        for key in uniq:
            member = np.asarray([_scalar(k) == key for k in keys], bool)
            entry = {self.group_name: key}
            entry.update(self.inner.reduce_samples(
                rest[member], None if weights is None else np.asarray(weights)[member],
                inside=None if inside is None else np.asarray(inside)[member]))
            groups.append(entry)
        return {self.outputs[0]: groups}


class _ForEach(Reducer):
    name = "Reducer.forEach"

    def __init__(self, inner: Reducer, names: Sequence[str]):
        names = list(names)
        outputs = names if len(inner.outputs) == 1 else [f"{n}_{o}" for n in names for o in inner.outputs]
        super().__init__(outputs, args={"outputNames": names})
        self.inner, self.names = inner, names
        self.n_inputs = inner.n_inputs * len(names)

    def output_types(self, types):
        return self.inner.output_types(types) * len(self.names)

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = _table(values, self)
        k = self.inner.n_inputs
        out = []
        for i in range(len(self.names)):
            out.extend(self.inner.reduce_samples(values[:, i * k:(i + 1) * k], weights, inside=inside).values())
        return dict(zip(self.outputs, out))


class _Repeat(Reducer):
    """The reducer applied to ``count`` groups of inputs; each output is the list of the groups' results."""

    name = "Reducer.repeat"

    def __init__(self, inner: Reducer, count: int):
        if count < 1:
            raise InvalidArgument(f"Reducer.repeat: count must be positive; got {count}.")
        super().__init__(inner.outputs, args={"count": count})
        self.inner, self.count = inner, count
        self.n_inputs = inner.n_inputs * count

    def reduce_samples(self, values, weights=None, *, inside=None):
        values = _table(values, self)
        k = self.inner.n_inputs
        results = [self.inner.reduce_samples(values[:, i * k:(i + 1) * k], weights, inside=inside)
                   for i in range(self.count)]
        return {o: [r[o] for r in results] for o in self.outputs}


def _table(values: Any, reducer: Reducer) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[1] != reducer.n_inputs:
        raise InvalidArgument(f"{reducer.name}: Need {reducer.n_inputs} inputs, but got {values.shape[1]}.")
    return values


def as_reducer(value: Any) -> Reducer:
    if not isinstance(value, Reducer):
        raise InvalidArgument(f"Expected a Reducer; got {type(value).__name__}.")
    return value


# --- registration ----------------------------------------------------------------------------------------

@algorithm("Reducer.mean")
def mean() -> Reducer:
    return _Mean(["mean"])


@algorithm("Reducer.sum")
def sum_() -> Reducer:
    return _Sum(["sum"])


@algorithm("Reducer.min")
def min_(numInputs: int = 1) -> Reducer:  # noqa: N803
    n = int(numInputs)
    return _Extreme(["min"] + [f"min{i}" for i in range(1, n)], largest=False, n_inputs=n)


@algorithm("Reducer.max")
def max_(numInputs: int = 1) -> Reducer:  # noqa: N803
    n = int(numInputs)
    return _Extreme(["max"] + [f"max{i}" for i in range(1, n)], largest=True, n_inputs=n)


@algorithm("Reducer.minMax")
def min_max() -> Reducer:
    return _MinMax(["min", "max"])


@algorithm("Reducer.count")
def count() -> Reducer:
    r = _Count(["count"], weighted=False)
    return r


@algorithm("Reducer.stdDev")
def std_dev() -> Reducer:
    return _Moments(["stdDev"], root=True, sample=False)


@algorithm("Reducer.variance")
def variance() -> Reducer:
    return _Moments(["variance"], root=False, sample=False)


@algorithm("Reducer.sampleStdDev")
def sample_std_dev() -> Reducer:
    return _Moments(["stdDev"], root=True, sample=True)


@algorithm("Reducer.sampleVariance")
def sample_variance() -> Reducer:
    return _Moments(["variance"], root=False, sample=True)


@algorithm("Reducer.median")
def median(maxBuckets: int | None = None, minBucketWidth: float | None = None,  # noqa: N803
           maxRaw: int | None = None) -> Reducer:
    r = _Percentile(["median"], [50])
    r.name = "Reducer.median"
    return r


@algorithm("Reducer.percentile")
def percentile(percentiles: Sequence[float], outputNames: Sequence[str] | None = None,  # noqa: N803
               maxBuckets: int | None = None, minBucketWidth: float | None = None,  # noqa: N803
               maxRaw: int | None = None) -> Reducer:  # noqa: N803
    if not isinstance(percentiles, (list, tuple)) or not percentiles:
        raise InvalidArgument(f"Reducer.percentile: percentiles must be a non-empty list; got {percentiles!r}.")
    if outputNames is not None:
        names = list(outputNames)
        if len(names) != len(percentiles):
            raise InvalidArgument(
                f"Reducer.percentile: {len(names)} output names for {len(percentiles)} percentiles.")
    else:
        names = [f"p{histogram_key(p)}" for p in percentiles]
    return _Percentile(names, percentiles, args={"percentiles": list(percentiles)})


@algorithm("Reducer.mode")
def mode(maxBuckets: int | None = None, minBucketWidth: float | None = None,  # noqa: N803
         maxRaw: int | None = None) -> Reducer:  # noqa: N803
    return _Mode(["mode"])


@algorithm("Reducer.first")
def first() -> Reducer:
    return _Pick(["first"], last=False, name="Reducer.first")


@algorithm("Reducer.last")
def last() -> Reducer:
    return _Pick(["last"], last=True, name="Reducer.last")


@algorithm("Reducer.firstNonNull")
def first_non_null() -> Reducer:
    return _Pick(["first"], last=False, name="Reducer.firstNonNull")


@algorithm("Reducer.lastNonNull")
def last_non_null() -> Reducer:
    return _Pick(["last"], last=True, name="Reducer.lastNonNull")


@algorithm("Reducer.anyNonZero")
def any_non_zero() -> Reducer:
    return _Boolean(["any"], every=False, name="Reducer.anyNonZero")


@algorithm("Reducer.allNonZero")
def all_non_zero() -> Reducer:
    return _Boolean(["all"], every=True, name="Reducer.allNonZero")


@algorithm("Reducer.and")
def and_() -> Reducer:
    return _Boolean(["and"], every=True, name="Reducer.and")


@algorithm("Reducer.or")
def or_() -> Reducer:
    return _Boolean(["or"], every=False, name="Reducer.or")


@algorithm("Reducer.product")
def product() -> Reducer:
    return _Product(["product"])


@algorithm("Reducer.toList")
def to_list(tupleSize: int | None = None, numOptional: int = 0) -> Reducer:  # noqa: N803
    return _ToList(["list"], None if tupleSize is None else int(tupleSize))


@algorithm("Reducer.frequencyHistogram")
def frequency_histogram() -> Reducer:
    return _FrequencyHistogram(["histogram"])


@algorithm("Reducer.countDistinct", "Reducer.countDistinctNonNull")
def count_distinct() -> Reducer:
    return _CountDistinct(["count"], weighted=False)


@algorithm("Reducer.histogram", "Reducer.autoHistogram")
def histogram(maxBuckets: int | None = None, minBucketWidth: float | None = None,  # noqa: N803
              maxRaw: int | None = None, cumulative: bool = False) -> Reducer:  # noqa: N803
    return _Histogram(["histogram"], maxBuckets, minBucketWidth)


@algorithm("Reducer.fixedHistogram")
def fixed_histogram(min: float, max: float, steps: int, cumulative: bool = False) -> Reducer:  # noqa: A002
    return _FixedHistogram(["histogram"], min, max, steps, cumulative)


@algorithm("Reducer.linearFit")
def linear_fit() -> Reducer:
    return _LinearFit(["scale", "offset"])


@algorithm("Reducer.skew")
def skew() -> Reducer:
    return _Shape(["skew"], kurtosis=False)


@algorithm("Reducer.kurtosis")
def kurtosis() -> Reducer:
    return _Shape(["kurtosis"], kurtosis=True)


@algorithm("Reducer.pearsonsCorrelation")
def pearsons_correlation() -> Reducer:
    return _Pearson(["correlation", "p-value"])


@algorithm("Reducer.combine")
def combine(reducer1: Any, reducer2: Any, outputPrefix: str = "", sharedInputs: bool = False) -> Reducer:  # noqa: N803
    return _Combined(as_reducer(reducer1), as_reducer(reducer2), outputPrefix or "", bool(sharedInputs))


@algorithm("Reducer.group")
def group(reducer: Any, groupField: int = 0, groupName: str = "group") -> Reducer:  # noqa: N803
    return _Grouped(as_reducer(reducer), int(groupField), groupName)


@algorithm("Reducer.forEach")
def for_each(reducer: Any, outputNames: Sequence[str]) -> Reducer:  # noqa: N803
    return _ForEach(as_reducer(reducer), outputNames)


@algorithm("Reducer.forEachBand")
def for_each_band(reducer: Any, image: Any) -> Reducer:
    """The reducer repeated for each band of ``image``, outputs named after the bands."""
    names = getattr(image, "band_names", None)
    if names is None:
        raise InvalidArgument(f"Reducer.forEachBand: expected an Image; got {type(image).__name__}.")
    return _ForEach(as_reducer(reducer), names)


@algorithm("Reducer.repeat")
def repeat(reducer: Any, count: int) -> Reducer:
    return _Repeat(as_reducer(reducer), int(count))


@algorithm("Reducer.setOutputs")
def set_outputs(reducer: Any, outputs: Sequence[str]) -> Reducer:
    r = as_reducer(reducer)
    if len(outputs) != len(r.outputs):
        raise InvalidArgument(f"Reducer.setOutputs: {len(outputs)} names for {len(r.outputs)} outputs.")
    return r.renamed(outputs)


@algorithm("Reducer.unweighted")
def unweighted(reducer: Any) -> Reducer:
    import copy

    r = copy.copy(as_reducer(reducer))
    r.weighted = False
    return r


@algorithm("Reducer.getOutputs")
def get_outputs(reducer: Any) -> list[str]:
    return list(as_reducer(reducer).outputs)
