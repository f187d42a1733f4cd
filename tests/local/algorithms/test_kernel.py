"""ee.Kernel through the real client: the weight matrices printed on Earth Engine's apidocs pages (ee-kernel-*)."""

from __future__ import annotations

import numpy as np
import pytest


def _weights(kernel) -> np.ndarray:
    return np.asarray(kernel.getInfo()["weights"])


def _shape_count(ee, name: str, radius: float = 3) -> tuple[int, float]:
    w = _weights(getattr(ee.Kernel, name)(radius))
    nonzero = w[w != 0]
    assert np.allclose(nonzero, nonzero[0]) and w.sum() == pytest.approx(1.0)
    return int((w != 0).sum()), float(nonzero[0])


def test_boolean_shapes_match_the_apidocs_matrices(ee):
    # Cells and (truncated) weights printed for radius 3: circle 0.034, cross/plus 0.076, diamond 0.04, octagon
    # 0.027, square 0.02.
    assert _shape_count(ee, "circle") == (29, pytest.approx(1 / 29))
    assert _shape_count(ee, "cross") == (13, pytest.approx(1 / 13))
    assert _shape_count(ee, "plus") == (13, pytest.approx(1 / 13))
    assert _shape_count(ee, "diamond") == (25, pytest.approx(1 / 25))
    assert _shape_count(ee, "octagon") == (37, pytest.approx(1 / 37))
    assert _shape_count(ee, "square") == (49, pytest.approx(1 / 49))
    circle = _weights(ee.Kernel.circle(3)) != 0
    assert circle[0].tolist() == [False, False, False, True, False, False, False]
    assert circle[1].tolist() == [False, True, True, True, True, True, False]
    octagon = _weights(ee.Kernel.octagon(3)) != 0
    assert octagon[0].tolist() == [False, False, True, True, True, False, False]
    rectangle = _weights(ee.Kernel.rectangle(2, 1))
    assert rectangle.shape == (3, 5) and rectangle[0, 0] == pytest.approx(1 / 15)
    assert _weights(ee.Kernel.square(1, "pixels", False, 100)).tolist() == [[100.0] * 3] * 3


def test_distance_kernels(ee):
    r = np.arange(-3, 4)
    dx, dy = np.meshgrid(r, r)
    np.testing.assert_allclose(_weights(ee.Kernel.euclidean(3)), np.hypot(dx, dy))
    np.testing.assert_array_equal(_weights(ee.Kernel.manhattan(3)), np.abs(dx) + np.abs(dy))
    np.testing.assert_array_equal(_weights(ee.Kernel.chebyshev(3)), np.maximum(np.abs(dx), np.abs(dy)))


def test_gaussian_matches_the_apidocs_matrix(ee):
    w = _weights(ee.Kernel.gaussian(3))
    # The page prints a 5 x 5 matrix (to 1/1000, truncated) with centre 0.162 and corners 0.002.
    assert w.shape == (5, 5)
    assert np.floor(w * 1000).astype(int)[2].tolist() == [21, 98, 162, 98, 21]
    assert np.floor(w * 1000).astype(int)[0].tolist() == [2, 13, 21, 13, 2]
    assert w.sum() == pytest.approx(1.0)


def test_edge_kernels_rotate_inverse_add(ee):
    sobel = ee.Kernel.sobel()
    assert _weights(sobel).tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert _weights(sobel.rotate(1)).tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert _weights(sobel.rotate(-2)).tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    assert _weights(sobel.inverse()).tolist() == [[-1, 0, 1], [-0.5, 0, 0.5], [-1, 0, 1]]
    assert _weights(ee.Kernel.laplacian8()).tolist() == [[1, 1, 1], [1, -8, 1], [1, 1, 1]]
    roberts = ee.Kernel.roberts().getInfo()
    assert roberts["weights"] == [[1, 0], [0, -1]] and (roberts["x"], roberts["y"]) == (1, 1)
    summed = _weights(ee.Kernel.chebyshev(3).add(ee.Kernel.square(1, "pixels", False, 100)))
    assert summed[3].tolist() == [3, 2, 101, 100, 101, 2, 3] and summed[0].tolist() == [3] * 7
    fixed = ee.Kernel.fixed(weights=[[4, 3, 2, 1, 2, 3, 4]] * 3).getInfo()
    assert fixed["weights"] == [[4, 3, 2, 1, 2, 3, 4]] * 3 and (fixed["x"], fixed["y"]) == (3, 1)


def test_bad_kernel_arguments_are_refused(ee):
    with pytest.raises(ee.EEException, match="units must be 'pixels' or 'meters'"):
        ee.Kernel.circle(2, "feet").getInfo()
    with pytest.raises(ee.EEException, match="rectangular 2-D list|non-empty 2-D list"):
        ee.Kernel.fixed(weights=[[1, 2], [3]]).getInfo()
