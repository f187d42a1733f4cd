"""The reducers themselves: statistics (sum, mean, moments, percentiles, histograms, ...), order statistics and
lists. Each implements the :class:`Reducer` interface; the compound reducers (combine, group, forEach, repeat) are
:mod:`aef_ee.local.algorithms.reducer_compound`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.reducer_base import (
    Reducer,
    all_true,
    as_numbers,
    histogram_key,
    mask_from,
    nan_stack,
    plain_scalar,
    real_type,
    sorted_percentiles,
    stack_shape,
    valid_count,
    widen_types,
)
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import PixelType, true_mask

# Earth Engine's Reducer.histogram default bucket count (a power of two).
DEFAULT_MAX_BUCKETS = 256

# --- simple reducers -------------------------------------------------------------------------------------

class Sum(Reducer):
    name = "Reducer.sum"

    def output_types(self, types):
        if types and all(t.precision == "int" for t in types):
            lo, hi = sum(min(t.min, 0) for t in types), sum(max(t.max, 0) for t in types)
            if -(2**63) <= lo and hi < 2**63:
                return [PixelType("int", lo, hi)]
        return [widen_types(types) if types and not all(t.precision == "int" for t in types) else PixelType("double")]

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        dtype = np.result_type(*[np.asarray(v).dtype for v in values])
        if np.issubdtype(dtype, np.integer):
            dtype = np.dtype(np.int64)
        elif dtype == np.float16:
            dtype = np.dtype(np.float32)
        acc = np.zeros(shape, dtype)
        count, full = valid_count(masks, shape)
        for v, m in zip(values, masks):
            if full or all_true(m):
                np.add(acc, v, out=acc, casting="unsafe")
            else:
                np.add(acc, v, out=acc, where=np.broadcast_to(m, shape), casting="unsafe")
        return [(acc, mask_from(count, shape))]

    def _samples(self, values, weights):
        col = values[:, 0]
        if col.dtype.kind in "iub" and (weights == 1).all():
            return [int(np.sum(col.astype(np.int64)))]
        return [float(np.sum(as_numbers(col) * weights))]


class Mean(Reducer):
    name = "Reducer.mean"

    def output_types(self, types):
        return [real_type(types)]

    def _stack(self, values, masks):
        (total, _), = Sum(["sum"])._stack(values, masks)
        shape = total.shape
        count, full = valid_count(masks, shape)
        if full:
            return [(total / len(values), true_mask(shape))]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / np.maximum(count, 1)
        return [(mean, count > 0)]

    def _samples(self, values, weights):
        if len(values) == 0 or weights.sum() == 0:
            return [None]
        return [float(np.sum(as_numbers(values[:, 0]) * weights) / weights.sum())]


class Count(Reducer):
    WEIGHTED = False
    name = "Reducer.count"

    def output_types(self, types):
        return [PixelType("int", 0, max(1, len(types)))]

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        count, _ = valid_count(masks, shape)
        if count is None:
            count = np.full(shape, len(values), np.int32)
        return [(count, true_mask(shape))]

    def _samples(self, values, weights):
        return [int(len(values))]


class Extreme(Reducer):
    WEIGHTED = False
    """min or max; with numInputs > 1 the other inputs' values at the extreme are outputs too."""

    def __init__(self, outputs, *, largest: bool, n_inputs: int = 1, args=None):
        super().__init__(outputs, args=args)
        self.largest = largest
        self.n_inputs = n_inputs
        self.name = "Reducer.max" if largest else "Reducer.min"

    def output_types(self, types):
        return [widen_types(types)] + [PixelType("double")] * (self.n_inputs - 1)

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        count, full = valid_count(masks, shape)
        dtype = np.result_type(*[np.asarray(v).dtype for v in values])
        pick = np.maximum if self.largest else np.minimum
        acc = None
        for v, m in zip(values, masks):
            v = np.broadcast_to(np.asarray(v, dtype), shape)
            if acc is None:
                acc = np.array(v, dtype)
                if not full and not all_true(m):
                    seen = np.broadcast_to(m, shape).copy()
                else:
                    seen = np.ones(shape, bool)
                continue
            mm = np.ones(shape, bool) if (full or all_true(m)) else np.broadcast_to(m, shape)
            better = mm & (~seen | (v > acc if self.largest else v < acc))
            if full:
                pick(acc, v, out=acc)
            else:
                np.copyto(acc, v, where=better)
                seen |= mm
        return [(acc, mask_from(count, shape))]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None] * self.n_inputs
        first = as_numbers(values[:, 0])
        i = int(np.argmax(first) if self.largest else np.argmin(first))
        return [plain_scalar(values[i, 0])] + [plain_scalar(values[i, j]) for j in range(1, self.n_inputs)]


class MinMax(Reducer):
    WEIGHTED = False
    name = "Reducer.minMax"

    def output_types(self, types):
        return [widen_types(types)] * 2

    def _stack(self, values, masks):
        lo = Extreme(["min"], largest=False)._stack(values, masks)
        hi = Extreme(["max"], largest=True)._stack(values, masks)
        return lo + hi

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None, None]
        col = as_numbers(values[:, 0])
        return [plain_scalar(values[int(np.argmin(col)), 0]), plain_scalar(values[int(np.argmax(col)), 0])]


class Moments(Reducer):
    """variance / stdDev, population (``sample=False``) or sample."""

    def __init__(self, outputs, *, root: bool, sample: bool, args=None):
        super().__init__(outputs, args=args)
        self.root = root
        self.sample = sample
        self.name = "Reducer." + ("sample" if sample else "") + (
            ("StdDev" if sample else "stdDev") if root else ("Variance" if sample else "variance"))

    def output_types(self, types):
        return [real_type(types)]

    def _finish(self, var: np.ndarray) -> np.ndarray:
        var = np.maximum(var, 0)
        return np.sqrt(var) if self.root else var

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        count, full = valid_count(masks, shape)
        total = np.zeros(shape)
        total_sq = np.zeros(shape)
        for v, m in zip(values, masks):
            v = np.asarray(v, np.float64)
            where = None if (full or all_true(m)) else np.broadcast_to(m, shape)
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
        col = as_numbers(values[:, 0])
        wsum = weights.sum()
        if len(col) == 0 or (self.sample and len(col) < 2):
            return [None]
        mean = np.sum(col * weights) / wsum
        var = np.sum(weights * (col - mean) ** 2) / wsum
        if self.sample:
            var = var * len(col) / (len(col) - 1)
        return [float(self._finish(np.asarray(var)))]


class Shape(Reducer):
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

        data = nan_stack(values, masks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = self._moment(data, None, 0)
        ok = np.isfinite(result)
        return [(np.where(ok, result, 0.0), ok)]

    def _samples(self, values, weights):
        col = as_numbers(values[:, 0])
        if len(col) < 2:
            return [None]
        result = float(self._moment(col, weights, 0))
        return [result if math.isfinite(result) else None]


class Percentile(Reducer):
    name = "Reducer.percentile"

    def __init__(self, outputs, percentiles: Sequence[float], args=None):
        super().__init__(outputs, args=args)
        self.percentiles = [float(p) for p in percentiles]
        for p in self.percentiles:
            if not 0 <= p <= 100:
                raise InvalidArgument(f"Reducer.percentile: percentiles must be between 0 and 100; got {p}.")

    def output_types(self, types):
        return [real_type(types)] * len(self.outputs)

    def _stack(self, values, masks):
        results, count = sorted_percentiles(nan_stack(values, masks), self.percentiles)
        mask = count > 0
        return [(r, mask) for r in results]

    def _samples(self, values, weights):
        col = as_numbers(values[:, 0])
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


class Mode(Reducer):
    name = "Reducer.mode"

    def output_types(self, types):
        return [widen_types(types)]

    def _stack(self, values, masks):
        data = np.sort(nan_stack(values, masks), axis=0)  # NaN (masked) last
        # Run lengths along the sorted layers: run[i] counts the equal values ending at i (one pass per layer, not
        # one per pair of layers).
        run = np.ones(data.shape, np.int32)
        for i in range(1, data.shape[0]):
            run[i] = np.where(data[i] == data[i - 1], run[i - 1] + 1, 1)
        run[np.isnan(data)] = 0
        best = np.argmax(run, axis=0)  # the first longest run: the smallest of the most frequent values
        mode = np.take_along_axis(data, best[None], axis=0)[0]
        return [(mode, ~np.isnan(mode))]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None]
        col = as_numbers(values[:, 0])
        uniq, inverse = np.unique(col, return_inverse=True)
        tally = np.bincount(inverse, weights=weights)
        return [plain_scalar(uniq[int(np.argmax(tally))])]


class Pick(Reducer):
    WEIGHTED = False
    """first / last (of the valid inputs, in order)."""

    def __init__(self, outputs, *, last: bool, name: str, args=None):
        super().__init__(outputs, args=args)
        self.last = last
        self.name = name

    def output_types(self, types):
        return [widen_types(types)]

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
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
        return [plain_scalar(values[-1 if self.last else 0, 0])]

    def reduce_bands(self, values, valid, weights=None, *, inside=None):
        """Every band at once (a point query's 64 bands): the first (last) sample each band counts."""
        values, use = np.asarray(values), np.array(valid, bool)
        if values.ndim != 2 or use.shape != values.shape or len(values) == 0:
            return super().reduce_bands(values, valid, weights, inside=inside)
        rows, _ = self._rows(len(values), weights, inside)
        if rows is not None:
            use &= np.asarray(rows, bool)[:, None]
        order = use[::-1] if self.last else use
        at = np.argmax(order, axis=0)
        if self.last:
            at = len(values) - 1 - at
        picked = values[at, np.arange(values.shape[1])].tolist()  # plain Python numbers, as plain_scalar gives
        found = use.any(axis=0).tolist()
        return [{self.outputs[0]: value if ok else None} for value, ok in zip(picked, found, strict=True)]


class Boolean(Reducer):
    WEIGHTED = False
    """anyNonZero / allNonZero / and / or."""

    def __init__(self, outputs, *, every: bool, name: str, args=None):
        super().__init__(outputs, args=args)
        self.every = every
        self.name = name

    def output_types(self, types):
        return [PixelType("int", 0, 1)]

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        count, full = valid_count(masks, shape)
        acc = np.full(shape, self.every)
        for v, m in zip(values, masks):
            nz = np.asarray(v) != 0
            if self.every:
                acc &= nz | ~np.broadcast_to(m, shape)
            else:
                acc |= nz & np.broadcast_to(m, shape)
        return [(acc.astype(np.uint8), mask_from(count, shape))]

    def _samples(self, values, weights):
        if len(values) == 0:
            return [None]
        nz = as_numbers(values[:, 0]) != 0
        return [int(nz.all() if self.every else nz.any())]


class Product(Reducer):
    WEIGHTED = False
    name = "Reducer.product"

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        count, _ = valid_count(masks, shape)
        acc = np.ones(shape)
        for v, m in zip(values, masks):
            acc = np.where(np.broadcast_to(m, shape), acc * np.asarray(v, np.float64), acc)
        return [(acc, mask_from(count, shape))]

    def _samples(self, values, weights):
        return [float(np.prod(as_numbers(values[:, 0])))]


class ToList(Reducer):
    WEIGHTED = False
    name = "Reducer.toList"

    def __init__(self, outputs, tuple_size: int | None = None, args=None):
        super().__init__(outputs, weighted=False, args=args)
        self.tuple_size = tuple_size
        self.n_inputs = tuple_size or 1

    def _samples(self, values, weights):
        if self.tuple_size is None:
            return [[plain_scalar(v) for v in values[:, 0]]]
        return [[[plain_scalar(v) for v in row] for row in values]]


class FrequencyHistogram(Reducer):
    name = "Reducer.frequencyHistogram"

    def _samples(self, values, weights):
        tally: dict[str, float] = {}
        for v, w in zip(values[:, 0], weights):
            key = histogram_key(plain_scalar(v))
            tally[key] = tally.get(key, 0) + w
        return [{k: int(c) if float(c).is_integer() else float(c) for k, c in sorted(tally.items(), key=_sort_key)}]


def _sort_key(item: tuple[str, Any]) -> tuple[int, float, str]:
    try:
        return (0, float(item[0]), "")
    except ValueError:
        return (1, 0.0, item[0])


class CountDistinct(Reducer):
    WEIGHTED = False
    name = "Reducer.countDistinct"

    def output_types(self, types):
        return [PixelType("int", 0, max(1, len(types)))]

    def _stack(self, values, masks):
        data = np.sort(nan_stack(values, masks), axis=0)
        valid = ~np.isnan(data)
        new = valid.copy()
        new[1:] &= data[1:] != data[:-1]
        return [(new.sum(axis=0).astype(np.int32), true_mask(data.shape[1:]))]

    def _samples(self, values, weights):
        return [len({histogram_key(plain_scalar(v)) for v in values[:, 0]})]


class Histogram(Reducer):
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
        col = as_numbers(values[:, 0])
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


class FixedHistogram(Reducer):
    name = "Reducer.fixedHistogram"

    def __init__(self, outputs, lo, hi, steps, cumulative=False, args=None):
        super().__init__(outputs, args=args)
        self.lo, self.hi, self.steps, self.cumulative = float(lo), float(hi), int(steps), bool(cumulative)
        if self.steps <= 0 or self.hi <= self.lo:
            raise InvalidArgument(f"Reducer.fixedHistogram: need max > min and steps > 0; got {lo}, {hi}, {steps}.")

    def _samples(self, values, weights):
        col = as_numbers(values[:, 0])
        width = (self.hi - self.lo) / self.steps
        inside = (col >= self.lo) & (col < self.hi)
        idx = ((col[inside] - self.lo) // width).astype(np.int64)
        counts = np.bincount(np.clip(idx, 0, self.steps - 1), weights=weights[inside], minlength=self.steps)
        if self.cumulative:
            counts = np.cumsum(counts)
        return [[[self.lo + i * width, float(c)] for i, c in enumerate(counts)]]


class LinearFit(Reducer):
    """Least-squares y = scale * x + offset of input 1 (y) on input 0 (x)."""

    name = "Reducer.linearFit"
    n_inputs = 2

    def reduce_inputs(self, inputs, masks):
        shape = stack_shape(list(inputs[0]) + list(inputs[1]), list(masks[0]) + list(masks[1]))
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
        x, y = as_numbers(values[:, 0]), as_numbers(values[:, 1])
        if len(x) < 2:
            return [None, None]
        xm, ym = np.average(x, weights=weights), np.average(y, weights=weights)
        sxx = np.sum(weights * (x - xm) ** 2)
        scale = float(np.sum(weights * (x - xm) * (y - ym)) / sxx) if sxx else None
        return [scale, None if scale is None else float(ym - scale * xm)]


class Pearson(Reducer):
    """Pearson's r of input 0 and input 1 and its two-sided p-value (Student's t with n - 2 degrees of freedom)."""

    name = "Reducer.pearsonsCorrelation"
    n_inputs = 2
    WEIGHTED = False

    def reduce_inputs(self, inputs, masks):
        from scipy import stats

        shape = stack_shape(list(inputs[0]) + list(inputs[1]), list(masks[0]) + list(masks[1]))
        n = np.zeros(shape)
        sx, sy, sxx, syy, sxy = (np.zeros(shape) for _ in range(5))
        for x, y, mx, my in zip(inputs[0], inputs[1], masks[0], masks[1], strict=True):
            ok = np.broadcast_to(mx, shape) & np.broadcast_to(my, shape)
            x = np.where(ok, np.asarray(x, np.float64), 0.0)
            y = np.where(ok, np.asarray(y, np.float64), 0.0)
            n += ok
            sx += x
            sy += y
            sxx += x * x
            syy += y * y
            sxy += x * y
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))
            r = np.clip(r, -1.0, 1.0)
            t = r * np.sqrt((n - 2) / np.maximum(1 - r * r, 1e-300))
            p = 2 * stats.t.sf(np.abs(t), np.maximum(n - 2, 1))
        ok = (n >= 3) & np.isfinite(r)
        return [(np.where(ok, r, 0.0), ok), (np.where(ok, p, 0.0), ok)]

    def _samples(self, values, weights):
        x, y = as_numbers(values[:, 0]), as_numbers(values[:, 1])
        if len(x) < 3:
            return [None, None]
        from scipy import stats

        r, p = stats.pearsonr(x, y)
        return [float(r), float(p)]


class CountEvery(Count):
    """Reducer.countEvery: the number of inputs, masked ones included where the inputs are layers of pixels (a
    region reduction only ever passes the region's pixels, so there it counts what count counts)."""

    name = "Reducer.countEvery"

    def _stack(self, values, masks):
        shape = stack_shape(values, masks)
        return [(np.full(shape, len(values), np.int32), true_mask(shape))]


class LinearRegression(Reducer):
    """Least squares of ``num_y`` dependent variables on ``num_x`` independent ones (Reducer.linearRegression), or
    with ``robust`` iteratively reweighted least squares with the Talwar cost (Reducer.robustLinearRegression).

    Outputs, as documented: ``coefficients``, a (num_x, num_y) array (each column the coefficients of one dependent
    variable), and ``residuals``, the root mean square of the residuals of each dependent variable; both null when
    the system is underdetermined (no more inputs than num_x). No intercept is added: pass a constant input for one.
    """

    WEIGHTED = False
    # Talwar's tuning constant (Holland & Welsch 1977): residuals beyond 2.795 robust standard deviations are
    # outliers when beta is not given; the robust standard deviation is the median absolute residual / 0.6745.
    TALWAR = 2.795
    MAX_ITERATIONS = 50

    def __init__(self, num_x: int, num_y: int, *, robust: bool = False, beta: float | None = None):
        super().__init__(["coefficients", "residuals"], args={"numX": num_x, "numY": num_y})
        if num_x < 1 or num_y < 1:
            raise InvalidArgument(f"Reducer.linearRegression: numX and numY must be at least 1; got {num_x}, "
                                  f"{num_y}.")
        self.num_x, self.num_y = num_x, num_y
        self.n_inputs = num_x + num_y
        self.robust = robust
        self.beta = beta
        self.name = "Reducer.robustLinearRegression" if robust else "Reducer.linearRegression"
        if beta is not None:
            self.args["beta"] = beta

    def reduce_inputs(self, inputs, masks):
        """Per pixel over the layers (ImageCollection.reduce): 'coefficients' (H, W, num_x, num_y) and 'residuals'
        (H, W, num_y), array-valued bands; masked where a pixel has no more valid layers than num_x or a singular
        system. Least squares only (the robust form is for tables)."""
        if self.robust:
            raise InvalidArgument("Reducer.robustLinearRegression: the local engine applies it to tables and "
                                  "regions, not pixel by pixel; use Reducer.linearRegression.")
        k, m = self.num_x, self.num_y
        shape = stack_shape([v for layer in inputs for v in layer], [mk for layer in masks for mk in layer])
        xtx = np.zeros(shape + (k, k))
        xty = np.zeros(shape + (k, m))
        yty = np.zeros(shape + (m,))
        n = np.zeros(shape)
        for i in range(len(inputs[0])):
            ok = np.ones(shape, bool)
            for j in range(self.n_inputs):
                ok &= np.broadcast_to(masks[j][i], shape)
            x = np.stack([np.where(ok, np.asarray(inputs[j][i], np.float64), 0.0) for j in range(k)], axis=-1)
            y = np.stack([np.where(ok, np.asarray(inputs[k + j][i], np.float64), 0.0) for j in range(m)], axis=-1)
            xtx += x[..., :, None] * x[..., None, :]
            xty += x[..., :, None] * y[..., None, :]
            yty += y * y
            n += ok
        with np.errstate(all="ignore"):
            det_ok = np.abs(np.linalg.det(xtx)) > 1e-12 * np.maximum(1.0, np.abs(xtx).max(axis=(-2, -1))) ** k
        valid = (n > k) & det_ok
        safe = np.where(valid[..., None, None], xtx, np.eye(k))
        coefficients = np.linalg.solve(safe, np.where(valid[..., None, None], xty, 0.0))
        sse = yty - 2 * np.einsum("...km,...km->...m", coefficients, xty) + np.einsum(
            "...km,...kl,...lm->...m", coefficients, xtx, coefficients)
        with np.errstate(invalid="ignore", divide="ignore"):
            residuals = np.sqrt(np.maximum(sse, 0.0) / np.maximum(n, 1)[..., None])
        return [(np.where(valid[..., None, None], coefficients, 0.0), valid),
                (np.where(valid[..., None], residuals, 0.0), valid)]

    def _samples(self, values, weights):
        data = as_numbers(values).reshape(len(values), self.n_inputs)
        x, y = data[:, :self.num_x], data[:, self.num_x:]
        if len(data) <= self.num_x:
            return [None, None]
        coefficients, keep = self._fit(x, y)
        if coefficients is None:
            return [None, None]
        residuals = y - x @ coefficients
        rms = np.sqrt(np.mean(np.where(keep, residuals, 0.0) ** 2 * len(keep) / np.maximum(keep.sum(axis=0), 1),
                              axis=0))
        return [coefficients.tolist(), rms.tolist()]

    def _fit(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        keep = np.ones(y.shape, bool)
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        if np.linalg.matrix_rank(x) < self.num_x:
            return None, keep
        if not self.robust:
            return coefficients, keep
        for _ in range(self.MAX_ITERATIONS):
            residuals = y - x @ coefficients
            new_keep = np.empty_like(keep)
            for j in range(self.num_y):
                if self.beta is not None:
                    limit = float(self.beta)
                else:
                    scale = np.median(np.abs(residuals[keep[:, j], j])) / 0.6745
                    limit = self.TALWAR * scale
                new_keep[:, j] = np.abs(residuals[:, j]) <= limit if limit > 0 else True
            if (new_keep == keep).all():
                break
            keep = new_keep
            for j in range(self.num_y):
                rows = keep[:, j]
                if rows.sum() <= self.num_x:
                    return None, keep
                coefficients[:, j], *_ = np.linalg.lstsq(x[rows], y[rows, j], rcond=None)
        return coefficients, keep
