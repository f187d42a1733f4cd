"""The reducer interface the engine uses (:class:`Reducer`), and the helpers its implementations share.

See :mod:`aef_ee.local.algorithms.reducer` for what reducers are and how the engine applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.raster import PixelType, true_mask

__all__ = [
    "Reducer",
    "BandPixels",
    "as_reducer",
    "histogram_key",
    "widen_types",
    "all_true",
    "as_numbers",
    "mask_from",
    "nan_stack",
    "plain_scalar",
    "real_type",
    "sample_table",
    "sorted_percentiles",
    "stack_shape",
    "valid_count",
]

BandPixels = tuple[np.ndarray, np.ndarray]  # values (H, W), mask (H, W) bool


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


def all_true(mask: np.ndarray) -> bool:
    """Cheap test for the broadcast all-True masks of unmasked bands (a full scan otherwise)."""
    if mask.ndim and all(s == 0 for s in mask.strides):
        return bool(mask.flat[0])
    return bool(np.all(mask))


def widen_types(types: Sequence[PixelType]) -> PixelType:
    """The smallest type holding every input type (int ranges united, float beats int, double beats float)."""
    if not types:
        return PixelType("double")
    if all(t.precision == "int" for t in types):
        return PixelType("int", min(t.min for t in types), max(t.max for t in types))
    if any(t.precision == "double" for t in types):
        return PixelType("double")
    return PixelType("float")


def real_type(types: Sequence[PixelType]) -> PixelType:
    """Float for float inputs, double otherwise (statistics of ints are not ints)."""
    return PixelType("float") if types and all(t.precision == "float" for t in types) else PixelType("double")


def as_numbers(column: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument("Reducer: expected numeric inputs; got non-numeric values.") from None


def plain_scalar(value: Any) -> Any:
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

    def reduce_bands(self, values: np.ndarray, valid: np.ndarray, weights: np.ndarray | None = None, *,
                     inside: np.ndarray | None = None) -> list[dict[str, Any]]:
        """A single-input reducer applied to each of k bands on its own: one ``reduce_samples`` result per band.

        Args:
          values: (N, k) samples of k bands.
          valid: (N, k) whether each sample of each band counts (band j reduces ``values[valid[:, j], j]``).
          weights, inside: (N,) as in :meth:`reduce_samples`.
        """
        out = []
        for j in range(values.shape[1]):
            ok = valid[:, j]
            out.append(self.reduce_samples(values[ok, j][:, None], None if weights is None else weights[ok],
                                           inside=None if inside is None else inside[ok]))
        return out

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

def valid_count(masks: list[np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray | None, bool]:
    """(count of valid layers per pixel or None when all are valid, whether every layer is fully valid)."""
    if all(all_true(m) for m in masks):
        return None, True
    count = np.zeros(shape, np.int32)
    for m in masks:
        count += np.broadcast_to(m, shape)
    return count, False


def nan_stack(values: list[np.ndarray], masks: list[np.ndarray]) -> np.ndarray:
    """The layers as one float64 (n, H, W) array with NaN where masked (or not finite)."""
    shape = np.broadcast_shapes(*[np.shape(v) for v in values])
    out = np.empty((len(values),) + shape, np.float64)
    for i, (v, m) in enumerate(zip(values, masks)):
        out[i] = v
        if not all_true(m):
            out[i][~np.broadcast_to(m, shape)] = np.nan
    return out


def sorted_percentiles(data: np.ndarray, percentiles: Sequence[float]) -> tuple[list[np.ndarray], np.ndarray]:
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


def mask_from(count: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    return true_mask(shape) if count is None else count > 0


def stack_shape(values: list[np.ndarray], masks: list[np.ndarray]) -> tuple[int, int]:
    return np.broadcast_shapes(*[np.shape(v) for v in values], *[np.shape(m) for m in masks])


def sample_table(values: Any, reducer: Reducer) -> np.ndarray:
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
