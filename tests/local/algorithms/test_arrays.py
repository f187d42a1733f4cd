"""ee.Array through the real client, against the outputs printed in Earth Engine's apidocs examples (ee-array-*)
and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest


def test_element_wise_arithmetic_types(ee):
    assert ee.Array([3, 4]).divide(2).getInfo() == [1.5, 2]  # apidocs ee-array-divide
    assert ee.Array(2).divide(0).getInfo() == 0
    assert ee.Array([3, 4]).divide([2, 4]).getInfo() == [1.5, 1]
    assert ee.Array([0, 1, 7, 8, 9]).mod([8] * 5).getInfo() == [0, 1, 7, 0, 1]  # apidocs ee-array-mod
    assert ee.Array([-1, -7, -8, -9]).mod([8] * 4).getInfo() == [-1, -7, 0, -1]
    assert ee.Array([8, 8, 8, 8]).mod([-1, -7, -8, -9]).getInfo() == [0, 1, 0, 8]
    assert ee.Array([-2] * 6).pow([-2, -1, 0, 1, 2, 3]).getInfo() == [0.25, -0.5, 1, -2, 4, -8]
    assert ee.Array([1, 2, 3]).add(10).getInfo() == [11, 12, 13]
    assert ee.Array([[1, 2], [3, 4]]).multiply(ee.Array([[2, 0], [1, 1]])).getInfo() == [[2, 0], [3, 4]]
    assert ee.Array([1, 5, 3]).gt(2).getInfo() == [0, 1, 1]
    assert ee.Array([0, 2]).Not().getInfo() == [1, 0]
    assert ee.Array([6, 5]).bitwiseAnd(3).getInfo() == [2, 1]
    np.testing.assert_allclose(ee.Array([0.5, 1.0]).sqrt().getInfo(), np.sqrt([0.5, 1.0]))
    assert ee.Array([1.7, -1.7, 300]).toUint8().getInfo() == [1, 0, 255]
    assert ee.Array([1.5, -2.5]).round().getInfo() == [2, -3]


def test_shapes(ee):
    six = ee.Array([1, 2, 3, 4, 5, 6])  # apidocs ee-array-slice
    assert six.slice(0, 2).getInfo() == [3, 4, 5, 6]
    assert six.slice(0, 0, -3).getInfo() == [1, 2, 3]
    assert six.slice(0, -2, 6).getInfo() == [5, 6]
    assert six.slice(0, 2, 6, 2).getInfo() == [3, 5]
    a, b = ee.Array([0, 1, 2]), ee.Array([3, 4, 5])  # apidocs ee-array-cat
    assert ee.Array.cat([a, b]).getInfo() == [0, 1, 2, 3, 4, 5]
    assert ee.Array.cat([a, b], 1).getInfo() == [[0, 3], [1, 4], [2, 5]]
    two = ee.Array([[0, 1, 2], [3, 4, 5]])  # apidocs ee-array-cut
    assert two.cut([-1, 0]).getInfo() == [[0], [3]]
    assert two.cut([1, -1]).getInfo() == [[3, 4, 5]]
    assert ee.Array([0, 1, 2, 3]).mask([0, 4, -1, 1.2]).getInfo() == [1, 2, 3]  # apidocs ee-array-mask
    assert ee.Array([[1, 2, 3, 4]]).mask([[1, 0, 1, 1]]).getInfo() == [[1, 3, 4]]
    assert ee.Array([[1], [2], [3], [4]]).mask([[1], [0], [1], [1]]).getInfo() == [[1], [3], [4]]
    assert two.transpose().getInfo() == [[0, 3], [1, 4], [2, 5]]
    assert two.reshape([3, 2]).getInfo() == [[0, 1], [2, 3], [4, 5]]
    assert ee.Array([[1, 2, 3]]).project([1]).getInfo() == [1, 2, 3]
    assert ee.Array([1, 2]).repeat(0, 3).getInfo() == [1, 2, 1, 2, 1, 2]
    assert ee.Array([1, 2]).pad([4], 9).getInfo() == [1, 2, 9, 9]
    assert ee.Array([3, 1, 2]).sort().getInfo() == [1, 2, 3]
    assert ee.Array([10, 20, 30]).sort([3, 1, 2]).getInfo() == [20, 30, 10]
    assert ee.Array.identity(2).getInfo() == [[1, 0], [0, 1]]


def test_reductions(ee):
    assert ee.Array([[3, 4, 2], [6, 5, 7]]).argmax().getInfo() == [1, 2]  # apidocs ee-array-argmax
    assert ee.Array([1, 1, 1, 9, 9, 9]).argmax().getInfo() == [3]
    assert ee.Array([[1, 3], [5, 7]]).accum(0).getInfo() == [[1, 3], [6, 10]]  # apidocs ee-array-accum
    assert ee.Array([[1, 3], [5, 7]]).accum(1).getInfo() == [[1, 4], [5, 12]]
    assert ee.Array([2, -2, 3, 1]).accum(0, ee.Reducer.max()).getInfo() == [2, 2, 3, 3]
    assert ee.Array([2, -2, 3, 1]).accum(0, ee.Reducer.mean()).getInfo() == [2, 0, 1, 1]
    data = [[1, 2, 3], [4, 5, 6]]
    assert ee.Array(data).reduce(ee.Reducer.sum(), [0]).getInfo() == [[5, 7, 9]]
    assert ee.Array(data).reduce(ee.Reducer.mean(), [1]).getInfo() == [[2], [5]]
    assert ee.Array(data).reduce(ee.Reducer.max(), [0, 1]).getInfo() == [[6]]
    assert ee.Array([1, 2, 3]).dotProduct([4, 5, 6]).getInfo() == 32
    assert ee.Array.bitsToArray(5).getInfo() == [1, 0, 1]  # apidocs ee-array-bitstoarray
    assert ee.Array.bitsToArray(0).getInfo() == [0]
    assert ee.Array.bitsToArray(-1).getInfo() == [1] * 64


def test_matrices(ee):
    m = [[4.0, 1.0], [2.0, 3.0]]
    np.testing.assert_allclose(ee.Array(m).matrixMultiply(ee.Array(m)).getInfo(), np.array(m) @ np.array(m))
    np.testing.assert_allclose(ee.Array(m).matrixInverse().getInfo(), np.linalg.inv(m))
    assert ee.Array(m).matrixDeterminant().getInfo() == pytest.approx(10.0)
    assert ee.Array(m).matrixTrace().getInfo() == 7
    np.testing.assert_allclose(ee.Array(m).matrixSolve(ee.Array([[1.0], [2.0]])).getInfo(),
                               np.linalg.solve(m, [[1.0], [2.0]]))
    assert ee.Array(m).matrixDiagonal().getInfo() == [[4], [3]]
    assert ee.Array([[4], [3]]).matrixToDiag().getInfo() == [[4, 0], [0, 3]]
    qr = ee.Array(m).matrixQRDecomposition().getInfo()
    np.testing.assert_allclose(np.array(qr["Q"]) @ np.array(qr["R"]), m, atol=1e-12)
    svd = ee.Array(m).matrixSingularValueDecomposition().getInfo()
    np.testing.assert_allclose(np.array(svd["U"]) @ np.array(svd["S"]) @ np.array(svd["V"]).T, m, atol=1e-12)
    # apidocs ee-array-eigen: [[0, 1], [1, 0]] -> [[1, 1/√2, 1/√2], [-1, 1/√2, -1/√2]] (up to each vector's sign)
    eigen = np.array(ee.Array([[0, 1], [1, 0]]).eigen().getInfo())
    assert eigen[:, 0].tolist() == pytest.approx([1, -1])
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(np.abs(eigen[:, 1:]), [[r, r], [r, r]])
    assert eigen[0, 1] * eigen[0, 2] > 0 and eigen[1, 1] * eigen[1, 2] < 0
