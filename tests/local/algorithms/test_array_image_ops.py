"""``Image.arrayReduce`` and ``Image.arrayCat`` on array images (``ee.Image(ee.Array(...))``, ``Image.toArray``)
through the real client, read back with arrayFlatten and reduceRegion / sampleRectangle."""

from __future__ import annotations

import numpy as np
import pytest

POINT = [10.5, 20.5]


def _at(ee, image) -> dict:
    """The image's bands at one point (a 1-degree pixel of the constant images' default projection)."""
    return image.reduceRegion(ee.Reducer.first(), ee.Geometry.Point(POINT), 111319.49).getInfo()


def _flat(ee, image, shape: tuple[int, ...]) -> np.ndarray:
    """A one-band image of (rows, cols) arrays read back as a numpy array of that shape."""
    labels = [[f"r{i}" for i in range(shape[0])], [f"c{j}" for j in range(shape[1])]]
    values = _at(ee, image.arrayFlatten(labels))
    return np.array([[values[f"r{i}_c{j}"] for j in range(shape[1])] for i in range(shape[0])])


def test_array_reduce_sums_along_each_axis(ee):
    image = ee.Image(ee.Array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(_flat(ee, image, (2, 2)), [[1, 2], [3, 4]])
    # Axis 0 collapses the rows (the axis keeps length 1), axis 1 the columns, both every element.
    np.testing.assert_array_equal(_flat(ee, image.arrayReduce(ee.Reducer.sum(), [0]), (1, 2)), [[4, 6]])
    np.testing.assert_array_equal(_flat(ee, image.arrayReduce(ee.Reducer.sum(), [1]), (2, 1)), [[3], [7]])
    np.testing.assert_array_equal(_flat(ee, image.arrayReduce(ee.Reducer.sum(), [0, 1]), (1, 1)), [[10]])
    np.testing.assert_allclose(_flat(ee, image.arrayReduce(ee.Reducer.mean(), [1]), (2, 1)), [[1.5], [3.5]])
    np.testing.assert_array_equal(_flat(ee, image.arrayReduce(ee.Reducer.max(), [0]), (1, 2)), [[3, 4]])
    # The same through the client's own read of a projected 1-D array.
    summed = image.arrayReduce(ee.Reducer.sum(), [0]).arrayProject([1]).arrayFlatten([["a", "b"]])
    assert _at(ee, summed) == {"a": 4, "b": 6}


def test_array_reduce_with_a_field_axis(ee):
    image = ee.Image(ee.Array([[1, 2], [3, 5], [6, 9]]))
    # Two outputs (min, max) written along the field axis 1: an input of length 1 there.
    column = ee.Image(ee.Array([[1], [3], [6]]))
    minmax = column.arrayReduce(ee.Reducer.minMax(), [0], 1)
    np.testing.assert_array_equal(_flat(ee, minmax, (1, 2)), [[1, 6]])
    # A reducer of two inputs reads them along the field axis: y (column 1) fitted on x (column 0).
    fit = _flat(ee, image.arrayReduce(ee.Reducer.linearFit(), [0], 1), (1, 2))
    scale, offset = np.polyfit([1, 3, 6], [2, 5, 9], 1)
    np.testing.assert_allclose(fit, [[scale, offset]])
    with pytest.raises(ee.EEException, match="fieldAxis"):
        _at(ee, column.arrayReduce(ee.Reducer.minMax(), [0]).arrayFlatten([["x"], ["y"]]))


def test_array_reduce_on_to_array_pixels(ee):
    bands = ee.Image.constant([1, 5, 2]).toArray()
    assert _at(ee, bands.arrayReduce(ee.Reducer.sum(), [0]).arrayFlatten([["s"]])) == {"s": 8}
    ranked = bands.arrayReduce(ee.Reducer.median(), [0]).arrayFlatten([["m"]])
    assert _at(ee, ranked) == {"m": 2}


def test_array_cat_along_each_axis(ee):
    a = ee.Image(ee.Array([[1, 2], [3, 4]]))
    b = ee.Image(ee.Array([[5, 6], [7, 8]]))
    np.testing.assert_array_equal(_flat(ee, a.arrayCat(b, 0), (4, 2)), [[1, 2], [3, 4], [5, 6], [7, 8]])
    np.testing.assert_array_equal(_flat(ee, a.arrayCat(b, 1), (2, 4)), [[1, 2, 5, 6], [3, 4, 7, 8]])
    np.testing.assert_array_equal(_flat(ee, a.arrayCat(b, -1), (2, 4)), [[1, 2, 5, 6], [3, 4, 7, 8]])
    mixed = a.arrayCat(ee.Image(ee.Array([[0.5, 1.5]])), 0)
    np.testing.assert_allclose(_flat(ee, mixed, (3, 2)), [[1, 2], [3, 4], [0.5, 1.5]])
    assert mixed.getInfo()["bands"][0]["data_type"]["precision"] == "double"
    # 1-D arrays from bands.
    joined = ee.Image.constant([1, 2]).toArray().arrayCat(ee.Image.constant([3]).toArray(), 0)
    assert _at(ee, joined.arrayFlatten([["a", "b", "c"]])) == {"a": 1, "b": 2, "c": 3}
    with pytest.raises(ee.EEException, match="do not match off axis"):
        _at(ee, a.arrayCat(ee.Image(ee.Array([[1, 2, 3]])), 0).arrayFlatten([["x"], ["y"]]))
