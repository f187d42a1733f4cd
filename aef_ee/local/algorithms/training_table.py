"""Turning features into a numeric table, and applying a fitted model to an image's pixels or to features.

Shared by classifiers and clusterers: ``feature_table`` reads the input properties of every feature into an
(n, d) float64 array; ``model_image`` evaluates a model pixel by pixel on whatever grid the image is computed on
(one strip at a time, as ``image.compute(grid)`` is called), masked where any input band is masked.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import BandSpec, Image, PixelType
from aef_ee.local.values import FeatureCollection

__all__ = ["feature_table", "training_features", "default_inputs", "model_image", "predict_features", "subsample",
           "digest", "FitCache"]

log = logging.getLogger(__name__)

# Pixels predicted per model call: bounds the float64 input table (65536 x 64 bands = 32 MiB) whatever the strip
# size; scikit-learn's nearest-neighbour search chunks its distance matrices itself. Smaller chunks made kNN slower.
PREDICT_CHUNK = 65536


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def default_inputs(features: Sequence[Any], exclude: Sequence[str] = ()) -> list[str]:
    """Numeric properties of the features (first feature's order), without ``system:`` ones and ``exclude``."""
    names: list[str] = []
    for feature in features[:1000]:
        for key, value in feature.properties.items():
            if key in names or key in exclude or key.startswith("system:"):
                continue
            if _is_number(value):
                names.append(key)
    return names


def feature_table(features: Sequence[Any], names: Sequence[str], *, where: str,
                  extra: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The values of ``names`` (and of ``extra`` columns) of every feature that has them all.

    Args:
      features: the features (each with ``.properties``).
      names: the input property names, in column order.
      where: the algorithm name, for messages.
      extra: further properties to read (the class property); returned separately.

    Returns:
      (X (n, len(names)) float64, E (n, len(extra)) float64, the indexes of the features kept). Features with a
      missing or null value are left out (a masked sample); a property no feature has is an error.

    Raises:
      InvalidArgument: a property is absent from every feature, or holds a non-numeric value.
    """
    columns = list(names) + list(extra)
    present = {name: False for name in columns}
    rows: list[list[float]] = []
    kept: list[int] = []
    for i, feature in enumerate(features):
        props = feature.properties
        row = []
        for name in columns:
            value = props.get(name)
            if name in props:
                present[name] = True
            if value is None:
                break
            if not _is_number(value):
                raise InvalidArgument(f"{where}: property '{name}' of feature {i} is not a number: {value!r}.")
            row.append(float(value))
        else:
            if all(math.isfinite(v) for v in row):
                rows.append(row)
                kept.append(i)
    missing = [name for name, seen in present.items() if not seen]
    if missing and features:
        available = sorted({k for f in features[:1000] for k in f.properties if not k.startswith("system:")})
        raise InvalidArgument(
            f"{where}: property '{missing[0]}' is not in the training features. Available properties: {available}")
    table = np.asarray(rows, np.float64).reshape(len(rows), len(columns))
    if len(kept) < len(features):
        log.debug("%s: %d of %d features have a missing value and are left out", where, len(features) - len(kept),
                  len(features))
    return table[:, :len(names)], table[:, len(names):], kept


def subsample(n: int, fraction: float, seed: int, *, where: str) -> np.ndarray:
    """Indexes of a seeded random ``fraction`` of ``n`` rows (all rows when fraction >= 1)."""
    if not 0 < fraction <= 1:
        raise InvalidArgument(f"{where}: subsampling must be in (0, 1]; got {fraction!r}.")
    if fraction >= 1:
        return np.arange(n)
    keep = np.random.default_rng(int(seed)).random(n) < fraction
    return np.flatnonzero(keep)


def digest(*arrays: np.ndarray, extra: Hashable = ()) -> str:
    """A content hash of arrays and a hashable description, to key fitted models across requests."""
    h = hashlib.sha1(repr(extra).encode())
    for array in arrays:
        a = np.ascontiguousarray(array)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class FitCache:
    """A small thread-safe LRU of fitted models keyed by training-data digest and settings.

    Map tiles evaluate the same expression once per tile; without this every tile would refit the model.
    Fitting happens under a per-key lock, so concurrent requests fit a model once.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def get(self, key: str, fit: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            model = fit()
            with self._lock:
                self._models[key] = model
                while len(self._models) > self._size:
                    self._models.popitem(last=False)
                self._key_locks.pop(key, None)
            return model


def model_image(image: Image, names: Sequence[str], predict: Callable[[np.ndarray], np.ndarray], *,
                output_name: str, pixel_type: PixelType, array_length: int | None = None,
                where: str) -> Image:
    """An image with one band: ``predict`` applied to the ``names`` bands of every unmasked pixel.

    Args:
      image: the input image; it must have every band in ``names``.
      names: the model's inputs, in column order.
      predict: maps X (n, d) float64 to (n,) values, or to (n, k) for an array output.
      output_name: the output band's name.
      pixel_type: the output band's pixel type.
      array_length: k for an array-valued output (each pixel holds k values, stored as (H, W, k)).
      where: the algorithm name, for messages.

    Raises:
      InvalidArgument: a band in ``names`` is missing from the image.
    """
    band_names = image.band_names
    missing = [n for n in names if n not in band_names]
    if missing:
        raise InvalidArgument(
            f"{where}: the image has no band '{missing[0]}' (the model's inputs are {list(names)}). "
            f"Available bands: {band_names}")
    indexes = [band_names.index(n) for n in names]
    first = image.bands[indexes[0]] if indexes else BandSpec(output_name, pixel_type)
    spec = BandSpec(output_name, pixel_type, first.projection, first.dimensions, first.is_default_projection)
    dtype = pixel_type.dtype

    def read(grid, wanted):
        pixels = image.compute(grid, indexes)
        mask = np.ones(grid.shape, bool)
        for _, m in pixels:
            mask &= np.asarray(m)
        values = np.zeros(grid.shape + ((array_length,) if array_length else ()), dtype)
        arrays = [np.asarray(v) for v, _ in pixels]
        rows, cols = np.nonzero(mask)
        for start in range(0, len(rows), PREDICT_CHUNK):
            r, c = rows[start:start + PREDICT_CHUNK], cols[start:start + PREDICT_CHUNK]
            x = np.stack([a[r, c] for a in arrays], axis=1).astype(np.float64, copy=False)
            finite = np.isfinite(x).all(axis=1)
            if not finite.all():  # NaN / inf inputs behave as masked pixels
                mask[r[~finite], c[~finite]] = False
                r, c, x = r[finite], c[finite], x[finite]
            if len(x):
                values[r, c] = np.asarray(predict(x)).astype(dtype, copy=False)
        return [(values, mask) for _ in wanted]

    out = Image([spec], read, image.properties, footprint=image.footprint)
    if array_length:
        out.array_length = array_length  # type: ignore[attr-defined]
    return out


def training_features(value: Any, where: str) -> list[Any]:
    """The features of a FeatureCollection argument.

    Raises:
      InvalidArgument: ``value`` is not a FeatureCollection.
    """
    if not isinstance(value, FeatureCollection):
        raise InvalidArgument(f"{where}: expected a FeatureCollection of training features; got "
                              f"{type(value).__name__}.")
    return list(value.features)


def predict_features(features: Any, names: Sequence[str], predict: Callable[[np.ndarray], np.ndarray],
                     output_name: str, where: str, cast: Callable[[Any], Any]) -> FeatureCollection:
    """Sets ``output_name`` on every feature to the model's output (null where an input is missing)."""
    rows = training_features(features, where)
    out = list(rows)
    if rows:
        x, _, kept = feature_table(rows, names, where=where)
        values = predict(x) if len(x) else np.zeros((0,))
        results: list[Any] = [None] * len(rows)
        for i, value in zip(kept, values):
            results[i] = cast(value)
        out = [f.with_properties({**f.properties, output_name: r}) for f, r in zip(rows, results)]
    return features.with_features(out)
