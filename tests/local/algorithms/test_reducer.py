"""Reducers, directly on numpy stacks and sample tables, and through the real client (Image.reduce, reduceColumns)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from aef_ee.local.algorithms import reducer as R  # noqa: N812  (R as in the module's docstring examples)
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import PixelType, true_mask

RNG = np.random.default_rng(7)


def _stack(n=5, shape=(6, 7), masked=True):
    values = [RNG.normal(size=shape).astype(np.float32) for _ in range(n)]
    masks = [RNG.random(shape) > 0.3 if masked else true_mask(shape) for _ in range(n)]
    return values, masks


def _masked(values, masks):
    return np.ma.masked_array(np.stack(values).astype(np.float64), ~np.stack([np.broadcast_to(m, values[0].shape)
                                                                             for m in masks]))


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("factory,expected", [
    (R.sum_, lambda m: m.sum(axis=0)),
    (R.mean, lambda m: m.mean(axis=0)),
    (R.min_, lambda m: m.min(axis=0)),
    (R.max_, lambda m: m.max(axis=0)),
    (R.count, lambda m: m.count(axis=0)),
    (R.std_dev, lambda m: m.std(axis=0)),
    (R.variance, lambda m: m.var(axis=0)),
])
def test_stack_reducers_match_masked_numpy(factory, expected, masked):
    values, masks = _stack(masked=masked)
    (got, mask), = factory().reduce_stack(values, masks)
    want = expected(_masked(values, masks))
    valid = ~np.ma.getmaskarray(want) if factory is not R.count else np.ones(want.shape, bool)
    np.testing.assert_array_equal(np.broadcast_to(mask, valid.shape), valid)
    np.testing.assert_allclose(np.asarray(got)[valid], np.ma.getdata(want)[valid], rtol=1e-5, atol=1e-5)


def test_median_and_percentiles_interpolate_linearly_over_valid_layers():
    values, masks = _stack(n=6)
    data = np.where(np.stack(masks), np.stack(values).astype(np.float64), np.nan)
    outs = R.percentile([10, 50, 90]).reduce_stack(values, masks)
    for (got, mask), p in zip(outs, [10, 50, 90]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
            want = np.nanpercentile(data, p, axis=0)
        np.testing.assert_array_equal(mask, ~np.isnan(want))
        np.testing.assert_allclose(got[mask], want[mask], rtol=1e-6)
    (med, _), = R.median().reduce_stack([np.full((1, 1), v, np.float32) for v in (1, 2, 3, 10)],
                                         [true_mask((1, 1))] * 4)
    assert med[0, 0] == 2.5


def test_first_last_mode_and_boolean_reducers():
    shape = (1, 3)
    values = [np.array([[1, 5, 0]]), np.array([[2, 5, 0]]), np.array([[2, 7, 3]])]
    masks = [np.array([[False, True, True]]), np.array([[True, True, True]]), np.array([[True, False, True]])]
    (first, fm), = R.first().reduce_stack(values, masks)
    (last, _), = R.last().reduce_stack(values, masks)
    (mode, _), = R.mode().reduce_stack(values, masks)
    (anyv, _), = R.any_non_zero().reduce_stack(values, masks)
    (allv, _), = R.all_non_zero().reduce_stack(values, masks)
    assert first.tolist() == [[2, 5, 0]] and fm.all()
    assert last.tolist() == [[2, 5, 3]]
    assert mode.tolist() == [[2, 5, 0]]
    assert anyv.tolist() == [[1, 1, 1]] and allv.tolist() == [[1, 1, 0]]
    assert shape == first.shape


@pytest.mark.parametrize("factory", [R.first, R.last, R.mean, R.max_])
@pytest.mark.parametrize("rows", [0, 1, 4])
def test_reduce_bands_is_reduce_samples_band_by_band(factory, rows):
    """first / last take every band at once (point queries); the result is the per-band loop's, value for value,
    with weights, centres outside and bands with no valid sample."""
    values = RNG.integers(-128, 128, (rows, 64)).astype(np.int8)
    valid = RNG.random((rows, 64)) > 0.4
    valid[:, 5] = False  # a band with nothing valid
    weights = np.where(RNG.random(rows) > 0.3, RNG.random(rows), 0.0)
    inside = RNG.random(rows) > 0.3
    reducer = factory()
    for w, c in ((None, None), (weights, None), (weights, inside), (None, inside)):
        expected = [reducer.reduce_samples(values[valid[:, j], j][:, None], None if w is None else w[valid[:, j]],
                                           inside=None if c is None else c[valid[:, j]]) for j in range(64)]
        got = reducer.reduce_bands(values, valid, w, inside=c)
        assert got == expected
        assert all(type(a) is type(b) for g, e in zip(got, expected) for a, b in zip(g.values(), e.values()))


def test_pixel_with_no_valid_input_is_masked():
    values = [np.ones((2, 2), np.float32)] * 3
    masks = [np.array([[True, False], [False, False]])] * 3
    for factory in (R.mean, R.sum_, R.min_, R.median, R.std_dev):
        outs = factory().reduce_stack(values, masks)
        assert outs[0][1].tolist() == [[True, False], [False, False]], factory


def test_samples_outputs_and_names():
    x = RNG.normal(size=200)
    table = x[:, None]
    assert R.mean().reduce_samples(table) == {"mean": pytest.approx(x.mean())}
    assert R.std_dev().reduce_samples(table)["stdDev"] == pytest.approx(x.std())
    assert R.sample_std_dev().reduce_samples(table)["stdDev"] == pytest.approx(x.std(ddof=1))
    mm = R.min_max().reduce_samples(table)
    assert mm == {"min": x.min(), "max": x.max()}
    p = R.percentile([5, 95], ["low", "high"]).reduce_samples(table)
    assert p == {"low": pytest.approx(np.percentile(x, 5)), "high": pytest.approx(np.percentile(x, 95))}
    combined = R.combine(R.mean(), R.std_dev(), "x_", True)
    assert combined.outputs == ["x_mean", "x_stdDev"]
    assert combined.reduce_samples(table)["x_stdDev"] == pytest.approx(x.std())
    weights = RNG.random(200)
    assert R.mean().reduce_samples(table, weights)["mean"] == pytest.approx(np.average(x, weights=weights))
    assert R.unweighted(R.mean()).reduce_samples(table, weights)["mean"] == pytest.approx(x.mean())


def test_histograms_lists_and_groups():
    labels = np.array([1, 2, 2, 3, 3, 3])
    vals = np.array([10.0, 20.0, 40.0, 1.0, 2.0, 3.0])
    assert R.frequency_histogram().reduce_samples(labels[:, None]) == {"histogram": {"1": 1, "2": 2, "3": 3}}
    assert R.to_list().reduce_samples(labels[:, None]) == {"list": [1, 2, 2, 3, 3, 3]}
    assert R.count_distinct().reduce_samples(labels[:, None]) == {"count": 3}
    grouped = R.group(R.mean(), 1, "class").reduce_samples(np.stack([vals, labels], axis=1))
    assert grouped == {"groups": [{"class": 1, "mean": 10.0}, {"class": 2, "mean": 30.0},
                                  {"class": 3, "mean": 2.0}]}
    fixed = R.fixed_histogram(0, 40, 4).reduce_samples(vals[:, None])
    assert fixed == {"histogram": [[0.0, 3.0], [10.0, 1.0], [20.0, 1.0], [30.0, 0.0]]}
    hist = R.histogram().reduce_samples(vals[:, None])["histogram"]
    assert sum(hist["histogram"]) == 6 and hist["bucketMin"] <= 1.0
    fit = R.linear_fit().reduce_samples(np.stack([vals, 3 * vals + 1], axis=1))
    assert fit == {"scale": pytest.approx(3.0), "offset": pytest.approx(1.0)}


def test_output_types_follow_inputs():
    u16 = PixelType("int", 0, 65535)
    f32 = PixelType("float")
    assert R.sum_().output_types([u16] * 3) == [PixelType("int", 0, 3 * 65535)]
    assert R.mean().output_types([u16]) == [PixelType("double")]
    assert R.mean().output_types([f32, f32]) == [PixelType("float")]
    assert R.min_().output_types([u16, PixelType("int", -5, 3)]) == [PixelType("int", -5, 65535)]
    assert R.count().output_types([f32] * 4) == [PixelType("int", 0, 4)]


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgument, match="between 0 and 100"):
        R.percentile([120])
    with pytest.raises(InvalidArgument, match="output names"):
        R.percentile([10, 20], ["a"])
    with pytest.raises(InvalidArgument, match="Need 2 inputs"):
        R.linear_fit().reduce_samples(np.zeros((3, 1)))
    with pytest.raises(InvalidArgument, match="pixel-wise"):
        R.to_list().reduce_stack([np.zeros((1, 1))], [true_mask((1, 1))])


def test_image_reduce_and_reduce_columns_through_the_client(ee_local):
    ee = ee_local
    image = ee.Image.constant([1, 2, 3, 10])
    bands = image.reduce(ee.Reducer.percentile([50])).bandNames().getInfo()
    assert bands == ["p50"]
    point = ee.Geometry.Point([4.5, 50.5])
    stats = image.reduce(ee.Reducer.mean().combine(ee.Reducer.max(), None, True)).reduceRegion(
        ee.Reducer.first(), point, 1000).getInfo()
    assert stats == {"mean": 4.0, "max": 10}
    median = image.reduce(ee.Reducer.median()).reduceRegion(ee.Reducer.first(), point, 1000).getInfo()
    assert median == {"median": 2.5}
    fc = ee.FeatureCollection([ee.Feature(None, {"v": v, "g": g}) for v, g in [(1, 0), (3, 0), (10, 1)]])
    assert fc.reduceColumns(ee.Reducer.sum(), ["v"]).getInfo() == {"sum": 14}
    grouped = fc.reduceColumns(ee.Reducer.mean().group(1, "g"), ["v", "g"]).getInfo()
    assert grouped == {"groups": [{"g": 0, "mean": 2.0}, {"g": 1, "mean": 10.0}]}
    assert ee.Reducer.percentile([10, 90]).getOutputs().getInfo() == ["p10", "p90"]


def test_skew_kurtosis_and_for_each():
    from scipy import stats

    x = RNG.gamma(2.0, size=500)
    assert R.skew().reduce_samples(x[:, None])["skew"] == pytest.approx(stats.skew(x))
    assert R.kurtosis().reduce_samples(x[:, None])["kurtosis"] == pytest.approx(stats.kurtosis(x))
    values = [np.full((2, 2), v, np.float32) for v in x[:50]]
    (sk, mask), = R.skew().reduce_stack(values, [true_mask((2, 2))] * 50)
    assert mask.all() and sk[0, 0] == pytest.approx(stats.skew(x[:50].astype(np.float32)), rel=1e-5)
    each = R.for_each(R.mean(), ["a", "b"])
    assert each.reduce_samples(np.array([[1.0, 10.0], [3.0, 30.0]])) == {"a": 2.0, "b": 20.0}


def test_repeat_gives_lists_of_per_group_results():
    table = np.array([[1.0, 10.0], [3.0, 30.0]])
    assert R.repeat(R.to_list(), 2).reduce_samples(table) == {"list": [[1.0, 3.0], [10.0, 30.0]]}
    assert R.repeat(R.mean(), 2).reduce_samples(table) == {"mean": [2.0, 20.0]}
