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

from collections.abc import Sequence
from typing import Any

from aef_ee.local.algorithms.reducer_base import Reducer, as_reducer, histogram_key, widen_types
from aef_ee.local.algorithms.reducer_compound import Combined, ForEach, Grouped, Repeat
from aef_ee.local.algorithms.reducer_kinds import (
    Boolean,
    Count,
    CountDistinct,
    CountEvery,
    Extreme,
    FixedHistogram,
    FrequencyHistogram,
    Histogram,
    LinearFit,
    LinearRegression,
    Mean,
    MinMax,
    Mode,
    Moments,
    Pearson,
    Percentile,
    Pick,
    Product,
    Shape,
    Sum,
    ToList,
)
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument

__all__ = ["Reducer", "as_reducer", "histogram_key", "widen_types"]


# --- registration ----------------------------------------------------------------------------------------

@algorithm("Reducer.mean")
def mean() -> Reducer:
    return Mean(["mean"])


@algorithm("Reducer.sum")
def sum_() -> Reducer:
    return Sum(["sum"])


@algorithm("Reducer.min")
def min_(numInputs: int = 1) -> Reducer:
    n = int(numInputs)
    return Extreme(["min"] + [f"min{i}" for i in range(1, n)], largest=False, n_inputs=n)


@algorithm("Reducer.max")
def max_(numInputs: int = 1) -> Reducer:
    n = int(numInputs)
    return Extreme(["max"] + [f"max{i}" for i in range(1, n)], largest=True, n_inputs=n)


@algorithm("Reducer.minMax")
def min_max() -> Reducer:
    return MinMax(["min", "max"])


@algorithm("Reducer.count")
def count() -> Reducer:
    r = Count(["count"], weighted=False)
    return r


@algorithm("Reducer.stdDev")
def std_dev() -> Reducer:
    return Moments(["stdDev"], root=True, sample=False)


@algorithm("Reducer.variance")
def variance() -> Reducer:
    return Moments(["variance"], root=False, sample=False)


@algorithm("Reducer.sampleStdDev")
def sample_std_dev() -> Reducer:
    return Moments(["stdDev"], root=True, sample=True)


@algorithm("Reducer.sampleVariance")
def sample_variance() -> Reducer:
    return Moments(["variance"], root=False, sample=True)


@algorithm("Reducer.median")
def median(maxBuckets: int | None = None, minBucketWidth: float | None = None,
           maxRaw: int | None = None) -> Reducer:
    r = Percentile(["median"], [50])
    r.name = "Reducer.median"
    return r


@algorithm("Reducer.percentile")
def percentile(percentiles: Sequence[float], outputNames: Sequence[str] | None = None,
               maxBuckets: int | None = None, minBucketWidth: float | None = None,
               maxRaw: int | None = None) -> Reducer:
    if not isinstance(percentiles, (list, tuple)) or not percentiles:
        raise InvalidArgument(f"Reducer.percentile: percentiles must be a non-empty list; got {percentiles!r}.")
    if outputNames is not None:
        names = list(outputNames)
        if len(names) != len(percentiles):
            raise InvalidArgument(
                f"Reducer.percentile: {len(names)} output names for {len(percentiles)} percentiles.")
    else:
        names = [f"p{histogram_key(p)}" for p in percentiles]
    return Percentile(names, percentiles, args={"percentiles": list(percentiles)})


@algorithm("Reducer.mode")
def mode(maxBuckets: int | None = None, minBucketWidth: float | None = None,
         maxRaw: int | None = None) -> Reducer:
    return Mode(["mode"])


@algorithm("Reducer.first")
def first() -> Reducer:
    return Pick(["first"], last=False, name="Reducer.first")


@algorithm("Reducer.last")
def last() -> Reducer:
    return Pick(["last"], last=True, name="Reducer.last")


@algorithm("Reducer.firstNonNull")
def first_non_null() -> Reducer:
    return Pick(["first"], last=False, name="Reducer.firstNonNull")


@algorithm("Reducer.lastNonNull")
def last_non_null() -> Reducer:
    return Pick(["last"], last=True, name="Reducer.lastNonNull")


@algorithm("Reducer.anyNonZero")
def any_non_zero() -> Reducer:
    return Boolean(["any"], every=False, name="Reducer.anyNonZero")


@algorithm("Reducer.allNonZero")
def all_non_zero() -> Reducer:
    return Boolean(["all"], every=True, name="Reducer.allNonZero")


@algorithm("Reducer.and")
def and_() -> Reducer:
    return Boolean(["and"], every=True, name="Reducer.and")


@algorithm("Reducer.or")
def or_() -> Reducer:
    return Boolean(["or"], every=False, name="Reducer.or")


@algorithm("Reducer.product")
def product() -> Reducer:
    return Product(["product"])


@algorithm("Reducer.toList")
def to_list(tupleSize: int | None = None, numOptional: int = 0) -> Reducer:
    return ToList(["list"], None if tupleSize is None else int(tupleSize))


@algorithm("Reducer.frequencyHistogram")
def frequency_histogram() -> Reducer:
    return FrequencyHistogram(["histogram"])


@algorithm("Reducer.countDistinct", "Reducer.countDistinctNonNull")
def count_distinct() -> Reducer:
    return CountDistinct(["count"], weighted=False)


@algorithm("Reducer.histogram", "Reducer.autoHistogram")
def histogram(maxBuckets: int | None = None, minBucketWidth: float | None = None,
              maxRaw: int | None = None, cumulative: bool = False) -> Reducer:
    return Histogram(["histogram"], maxBuckets, minBucketWidth)


@algorithm("Reducer.fixedHistogram")
def fixed_histogram(min: float, max: float, steps: int, cumulative: bool = False) -> Reducer:
    return FixedHistogram(["histogram"], min, max, steps, cumulative)


@algorithm("Reducer.linearFit")
def linear_fit() -> Reducer:
    return LinearFit(["scale", "offset"])


@algorithm("Reducer.linearRegression")
def linear_regression(numX: int, numY: int = 1) -> Reducer:
    """Least squares of numY dependent on numX independent inputs: outputs 'coefficients' (numX x numY) and
    'residuals' (the RMS residual of each dependent variable)."""
    return LinearRegression(int(numX), int(numY))


@algorithm("Reducer.robustLinearRegression")
def robust_linear_regression(numX: int, numY: int = 1, beta: float | None = None) -> Reducer:
    """Iteratively reweighted least squares with the Talwar cost (outliers: residuals beyond ``beta``, by default
    2.795 robust standard deviations); outputs as linearRegression."""
    return LinearRegression(int(numX), int(numY), robust=True, beta=None if beta is None else float(beta))


@algorithm("Reducer.countEvery")
def count_every() -> Reducer:
    return CountEvery(["count"], weighted=False)


@algorithm("Reducer.skew")
def skew() -> Reducer:
    return Shape(["skew"], kurtosis=False)


@algorithm("Reducer.kurtosis")
def kurtosis() -> Reducer:
    return Shape(["kurtosis"], kurtosis=True)


@algorithm("Reducer.pearsonsCorrelation")
def pearsons_correlation() -> Reducer:
    return Pearson(["correlation", "p-value"])


@algorithm("Reducer.combine")
def combine(reducer1: Any, reducer2: Any, outputPrefix: str = "", sharedInputs: bool = False) -> Reducer:
    return Combined(as_reducer(reducer1), as_reducer(reducer2), outputPrefix or "", bool(sharedInputs))


@algorithm("Reducer.group")
def group(reducer: Any, groupField: int = 0, groupName: str = "group") -> Reducer:
    return Grouped(as_reducer(reducer), int(groupField), groupName)


@algorithm("Reducer.forEach")
def for_each(reducer: Any, outputNames: Sequence[str]) -> Reducer:
    return ForEach(as_reducer(reducer), outputNames)


@algorithm("Reducer.forEachBand")
def for_each_band(reducer: Any, image: Any) -> Reducer:
    """The reducer repeated for each band of ``image``, outputs named after the bands."""
    names = getattr(image, "band_names", None)
    if names is None:
        raise InvalidArgument(f"Reducer.forEachBand: expected an Image; got {type(image).__name__}.")
    return ForEach(as_reducer(reducer), names)


@algorithm("Reducer.repeat")
def repeat(reducer: Any, count: int) -> Reducer:
    return Repeat(as_reducer(reducer), int(count))


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
