"""Designed-feature baselines the embeddings are compared with: composites, random convolutional features, XY(Z).

All functions are pure numpy, take already-decoded physical values (NaN for missing) and return
(n_samples, n_features) float64 matrices plus feature names. Standardisation for the predictors is done when
the matrix becomes a :class:`~aef_ee.evaluation.representations.Representation`.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Mapping, Sequence

import numpy as np

from aef_ee.errors import AefValueError

__all__ = [
    "DEFAULT_PERCENTILES",
    "composite_features",
    "coordinate_features",
    "pca_features",
    "random_conv_image_features",
    "random_conv_series_features",
    "seasonal_composite_features",
]

# Percentiles of the annual composite; 50 is the median composite.
DEFAULT_PERCENTILES = (10, 25, 50, 75, 90)


def composite_features(
    series: np.ndarray,
    band_names: Sequence[str],
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> tuple[np.ndarray, list[str]]:
    """Per-band percentile composites over time, ignoring missing observations.

    Args:
        series: (n_samples, n_times, n_bands) float values, NaN where an observation is missing or cloudy.
        band_names: n_bands names.
        percentiles: percentiles in [0, 100] (50 is the median composite).

    Returns:
        (n_samples, n_bands * len(percentiles)) float64, NaN where a band has no observation at all, and the
        feature names ``<band>_p<percentile>``, band-major.
    """
    series = _check_series(series, band_names)
    if not percentiles or any(not 0 <= p <= 100 for p in percentiles):
        raise AefValueError(f"percentiles must be in [0, 100], got {percentiles!r}")
    with np.errstate(all="ignore"), _quiet_all_nan():
        stats = np.nanpercentile(series, list(percentiles), axis=1)  # (n_percentiles, n_samples, n_bands)
    features = stats.transpose(1, 2, 0).reshape(series.shape[0], -1)
    names = [f"{band}_p{p:g}" for band in band_names for p in percentiles]
    return features, names


def seasonal_composite_features(
    series: np.ndarray,
    band_names: Sequence[str],
    seasons: Mapping[str, Sequence[int]],
) -> tuple[np.ndarray, list[str]]:
    """Per-band median composite of each season.

    Args:
        series: (n_samples, n_times, n_bands) float, NaN for missing.
        band_names: n_bands names.
        seasons: season name -> time indices into ``series`` (e.g. months of the year).

    Returns:
        (n_samples, n_seasons * n_bands) float64 (NaN where a season has no observation) and names
        ``<band>_<season>_median``.
    """
    series = _check_series(series, band_names)
    parts, names = [], []
    for season, indices in seasons.items():
        indices = np.asarray(list(indices), dtype=np.int64)
        if indices.size == 0 or indices.min() < 0 or indices.max() >= series.shape[1]:
            raise AefValueError(
                f"season {season!r} has time indices {indices.tolist()} outside 0..{series.shape[1] - 1}"
            )
        with np.errstate(all="ignore"), _quiet_all_nan():
            parts.append(np.nanmedian(series[:, indices], axis=1))
        names.extend(f"{band}_{season}_median" for band in band_names)
    return np.concatenate(parts, axis=1), names


def coordinate_features(
    x: np.ndarray, y: np.ndarray, z: np.ndarray | None = None
) -> tuple[np.ndarray, list[str]]:
    """XY (or XYZ with elevation) as features.

    Args:
        x, y: (n_samples,) coordinates (projected metres, or degrees).
        z: optional (n_samples,) elevation in metres.

    Returns:
        (n_samples, 2 or 3) float64 and the names ``x, y[, z]``.
    """
    columns = [np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)]
    if z is not None:
        columns.append(np.asarray(z, dtype=np.float64))
    if len({c.shape for c in columns}) != 1 or columns[0].ndim != 1:
        raise AefValueError(f"coordinates must be equal 1-D arrays, got shapes {[c.shape for c in columns]}")
    return np.stack(columns, axis=1), ["x", "y", "z"][: len(columns)]


def pca_features(series: np.ndarray, *, n_components: int = 64) -> tuple[np.ndarray, list[str]]:
    """The leading principal components of the whole per-sample series: the linear compression of the inputs
    an embedding of the same size has to beat (label-free, fitted on every sample given).

    Args:
        series: (n_samples, n_times, n_bands) or (n_samples, n_features) float, NaN for missing.
        n_components: components kept (fewer if the data has fewer features or samples).

    Returns:
        (n_samples, k) float64 scores on the components of the z-scored features (NaN filled with the feature
        mean, constant features dropped), and the names ``pc01``.. ``pc<k>``.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim not in (2, 3) or x.shape[0] < 2:
        raise AefValueError(f"series must be (n_samples >= 2, n_times, n_bands) or (n_samples, n_features), "
                            f"got shape {x.shape}")
    if n_components < 1:
        raise AefValueError(f"n_components must be >= 1, got {n_components}")
    x = x.reshape(x.shape[0], -1)
    with np.errstate(all="ignore"), _quiet_all_nan():
        mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    keep = np.isfinite(mean) & (std > 0)
    if not keep.any():
        raise AefValueError("every feature is constant or missing: no principal component to compute")
    z = np.nan_to_num((x[:, keep] - mean[keep]) / std[keep])
    _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    k = min(n_components, vt.shape[0])
    return z @ vt[:k].T, [f"pc{i + 1:02d}" for i in range(k)]


def _random_filters(
    windows: np.ndarray, n_filters: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n_filters`` random data windows as filters, each centred and scaled to unit norm.

    Returns:
        (n_filters, window_size) filters and (n_filters,) offsets: the median response of each filter on the
        data, so that the ReLU keeps about half of the responses.
    """
    valid = windows[np.all(np.isfinite(windows), axis=1)]
    if valid.shape[0] < n_filters:
        raise AefValueError(f"only {valid.shape[0]} complete windows in the data for {n_filters} filters")
    filters = valid[rng.choice(valid.shape[0], size=n_filters, replace=False)]
    filters = filters - filters.mean(axis=1, keepdims=True)
    filters /= np.maximum(np.linalg.norm(filters, axis=1, keepdims=True), 1e-12)
    sample = valid[rng.choice(valid.shape[0], size=min(valid.shape[0], 4096), replace=False)]
    return filters, np.median(sample @ filters.T, axis=0)


def _standardise_channels(values: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    mean = np.nanmean(values, axis=axis, keepdims=True)
    std = np.nanstd(values, axis=axis, keepdims=True)
    return (values - mean) / np.where(std > 0, std, 1.0)


def random_conv_image_features(
    image: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    n_filters: int = 128,
    kernel: int = 3,
    pool: int = 7,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """MOSAIKS-style random convolutional features of an image, average-pooled around sample pixels.

    Bands are z-scored over the image; ``n_filters`` random ``kernel x kernel x bands`` patches of the image
    itself are the filters (centred, unit norm); the image is convolved with them ('same' size, reflected
    edges), passed through ``ReLU(r - b)`` and ``ReLU(-r - b)`` (b: the filter's median response), and
    averaged over the ``pool x pool`` window around each sample pixel (clipped at the image edge).

    Args:
        image: (height, width, bands) float, no NaN.
        rows, cols: (n_samples,) integer pixel positions of the samples.
        n_filters: number of random filters; the output has 2 * n_filters features.
        kernel: odd filter size in pixels.
        pool: odd pooling window size in pixels.
        seed: seed of the filter draw.

    Returns:
        (n_samples, 2 * n_filters) float64 and names ``rcf_pos_<i>`` / ``rcf_neg_<i>``.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or not np.all(np.isfinite(image)):
        raise AefValueError(f"image must be a finite (height, width, bands) array, got shape {image.shape}")
    if kernel % 2 != 1 or pool % 2 != 1:
        raise AefValueError(f"kernel and pool must be odd, got kernel={kernel!r}, pool={pool!r}")
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    height, width, _ = image.shape
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= height or cols.max() >= width:
        raise AefValueError(f"sample pixels fall outside the {height} x {width} image")
    image = _standardise_channels(image, axis=(0, 1))
    half = kernel // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)), mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(0, 1))
    windows = windows.reshape(height * width, -1)  # (pixels, bands * kernel * kernel)
    filters, offsets = _random_filters(windows, n_filters, np.random.default_rng(seed))
    responses = (windows @ filters.T).reshape(height, width, n_filters)
    activations = np.concatenate([np.maximum(responses - offsets, 0), np.maximum(-responses - offsets, 0)], axis=2)
    # Average pooling around each sample via a summed-area table.
    table = np.zeros((height + 1, width + 1, activations.shape[2]))
    table[1:, 1:] = activations.cumsum(axis=0).cumsum(axis=1)
    r0, r1 = np.clip(rows - pool // 2, 0, height), np.clip(rows + pool // 2 + 1, 0, height)
    c0, c1 = np.clip(cols - pool // 2, 0, width), np.clip(cols + pool // 2 + 1, 0, width)
    sums = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
    features = sums / ((r1 - r0) * (c1 - c0))[:, None]
    return features, [f"rcf_pos_{i}" for i in range(n_filters)] + [f"rcf_neg_{i}" for i in range(n_filters)]


def random_conv_series_features(
    series: np.ndarray,
    *,
    n_filters: int = 128,
    window: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """Random convolutional features over the time x band matrix of point samples (MOSAIKS over time).

    For point data a spatial patch is one pixel, where MOSAIKS degenerates to a random projection; instead
    the filters are random ``window x bands`` slices of the samples' own time series, convolved along time,
    passed through ``ReLU(r - b)`` / ``ReLU(-r - b)`` and averaged over time. Bands are z-scored over all
    samples and times; missing values are filled with 0 (the band mean) before the convolution.

    Args:
        series: (n_samples, n_times, n_bands) float, NaN for missing.
        n_filters: number of random filters; the output has 2 * n_filters features.
        window: filter length in time steps.
        seed: seed of the filter draw.

    Returns:
        (n_samples, 2 * n_filters) float64 and names ``rcf_pos_<i>`` / ``rcf_neg_<i>``.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 3 or not 1 <= window <= series.shape[1]:
        raise AefValueError(f"series must be (n_samples, n_times, n_bands) with n_times >= window, got {series.shape}")
    with np.errstate(all="ignore"), _quiet_all_nan():
        series = _standardise_channels(series, axis=(0, 1))
    series = np.nan_to_num(series, nan=0.0)
    n_samples, n_times, _ = series.shape
    windows = np.lib.stride_tricks.sliding_window_view(series, window, axis=1)  # (n, t', bands, window)
    windows = windows.reshape(n_samples, n_times - window + 1, -1)
    filters, offsets = _random_filters(windows.reshape(-1, windows.shape[2]), n_filters, np.random.default_rng(seed))
    responses = windows @ filters.T  # (n, t', filters)
    activations = np.concatenate([np.maximum(responses - offsets, 0), np.maximum(-responses - offsets, 0)], axis=2)
    names = [f"rcf_pos_{i}" for i in range(n_filters)] + [f"rcf_neg_{i}" for i in range(n_filters)]
    return activations.mean(axis=1), names


def _check_series(series: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 3 or series.shape[2] != len(band_names):
        raise AefValueError(
            f"series must be (n_samples, n_times, n_bands={len(band_names)}), got shape {series.shape}"
        )
    return series


@contextlib.contextmanager
def _quiet_all_nan() -> Iterator[None]:
    """Silence numpy's 'All-NaN slice' / 'Mean of empty slice' warnings: all-missing gives NaN by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
