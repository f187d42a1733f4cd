"""Baselines against numpy computed directly, on constructed and real inputs."""

from __future__ import annotations

import numpy as np
import pytest

from aef_ee.errors import AefValueError
from aef_ee.evaluation import baselines


def test_composites_ignore_missing_observations() -> None:
    rng = np.random.default_rng(0)
    series = rng.normal(size=(6, 12, 2))
    series[0, :5, 0] = np.nan
    series[1, :, 1] = np.nan
    features, names = baselines.composite_features(series, ["red", "nir"], percentiles=(10, 50, 90))
    assert names == ["red_p10", "red_p50", "red_p90", "nir_p10", "nir_p50", "nir_p90"]
    np.testing.assert_allclose(features[0, 1], np.median(series[0, 5:, 0]))
    np.testing.assert_allclose(features[2, 3], np.percentile(series[2, :, 1], 10))
    assert np.isnan(features[1, 3:]).all()  # a band with no observation has no composite


def test_seasonal_composites() -> None:
    series = np.arange(2 * 12 * 1, dtype=float).reshape(2, 12, 1)
    features, names = baselines.seasonal_composite_features(series, ["b"], {"early": [0, 1, 2], "late": [9, 10]})
    assert names == ["b_early_median", "b_late_median"]
    np.testing.assert_array_equal(features, [[1.0, 9.5], [13.0, 21.5]])
    with pytest.raises(AefValueError, match="outside"):
        baselines.seasonal_composite_features(series, ["b"], {"bad": [12]})


def test_coordinates() -> None:
    features, names = baselines.coordinate_features([1.0, 2.0], [3.0, 4.0], [100.0, 200.0])
    assert names == ["x", "y", "z"]
    np.testing.assert_array_equal(features, [[1, 3, 100], [2, 4, 200]])


def test_random_conv_image_features_match_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((12, 10, 3))
    rows, cols = np.array([0, 5, 11]), np.array([0, 4, 9])
    features, names = baselines.random_conv_image_features(image, rows, cols, n_filters=4, kernel=3, pool=3, seed=2)
    assert features.shape == (3, 8) and len(names) == 8
    again, _ = baselines.random_conv_image_features(image, rows, cols, n_filters=4, kernel=3, pool=3, seed=2)
    np.testing.assert_array_equal(features, again)
    # Direct: standardise, convolve every pixel with the same filters, ReLU, mean over the clipped window.
    z = (image - image.mean(axis=(0, 1))) / image.std(axis=(0, 1))
    padded = np.pad(z, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(0, 1)).reshape(120, -1)
    filters, offsets = baselines._random_filters(windows, 4, np.random.default_rng(2))
    responses = (windows @ filters.T).reshape(12, 10, 4)
    act = np.concatenate([np.maximum(responses - offsets, 0), np.maximum(-responses - offsets, 0)], axis=2)
    for i, (r, c) in enumerate(zip(rows, cols)):
        expected = act[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].mean(axis=(0, 1))
        np.testing.assert_allclose(features[i], expected, rtol=1e-10, atol=1e-12)
    # ReLU(r - b) and ReLU(-r - b) are never both positive when b >= 0; features are non-negative.
    assert (features >= 0).all()


def test_random_conv_series_features() -> None:
    rng = np.random.default_rng(3)
    series = rng.normal(size=(20, 12, 4))
    series[0, 3, 2] = np.nan
    features, names = baselines.random_conv_series_features(series, n_filters=5, window=3, seed=0)
    assert features.shape == (20, 10) and np.isfinite(features).all()
    other, _ = baselines.random_conv_series_features(series, n_filters=5, window=3, seed=1)
    assert not np.allclose(features, other)


def test_pca_features_recover_the_leading_directions() -> None:
    # 300 samples of 4 times x 3 bands driven by two latent factors of different variance, plus missing values.
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 2)) * np.array([5.0, 1.0])
    loadings = rng.normal(size=(2, 12))
    series = (latent @ loadings + 0.01 * rng.normal(size=(300, 12))).reshape(300, 4, 3)
    series[::7, 1, 2] = np.nan
    series[:, :, 0] += 100.0  # an offset PCA must not see
    features, names = baselines.pca_features(series, n_components=64)
    assert names[:3] == ["pc01", "pc02", "pc03"] and features.shape == (300, 12)  # capped at the feature count
    variance = features.var(axis=0)
    assert np.all(np.diff(variance) <= 1e-9)  # ordered by explained variance
    assert variance[:2].sum() / variance.sum() > 0.99  # two factors explain the data
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-9)
    # the first component is the stronger factor, up to sign
    assert abs(np.corrcoef(features[:, 0], latent[:, 0])[0, 1]) > 0.95


def test_pca_features_reject_bad_input() -> None:
    with pytest.raises(AefValueError, match="n_components"):
        baselines.pca_features(np.ones((5, 3)), n_components=0)
    with pytest.raises(AefValueError, match="constant"):
        baselines.pca_features(np.ones((5, 3)))
    with pytest.raises(AefValueError, match=r"shape \(1, 3\)"):
        baselines.pca_features(np.ones((1, 3)))
