"""Confusion matrices: ``ee.ConfusionMatrix``, ``Collection.errorMatrix`` and the accuracy measures.

A confusion matrix is a square count array whose rows are the actual classes and whose columns are the predicted
classes, both in the order given by ``order`` (class values). As in Earth Engine:

- ``accuracy`` is the trace over the total;
- ``producersAccuracy`` (recall) is the diagonal over each row's total, returned as an n x 1 array;
- ``consumersAccuracy`` (precision) is the diagonal over each column's total, returned as a 1 x n array;
- ``fscore(beta)`` is ``(1 + beta^2) * precision * recall / (beta^2 * precision + recall)`` per class (1-D);
- ``kappa`` is Cohen's kappa;
- a ratio whose denominator is zero (a class never seen) is 0.

``getInfo()`` of a confusion matrix is its nested list of counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument

__all__ = ["ConfusionMatrix", "confusion_from_labels", "as_number_array"]


class ConfusionMatrix:
    """A square count matrix (rows: actual, columns: predicted) and the class value of each row/column.

    Attributes:
      matrix: (n, n) float64 or int64 counts.
      order: the n class values, in row (and column) order.
    """

    def __init__(self, matrix: np.ndarray, order: Sequence[int]) -> None:
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise InvalidArgument(f"ConfusionMatrix: the array must be square and 2-D; got shape {list(matrix.shape)}.")
        if len(order) != matrix.shape[0]:
            raise InvalidArgument(
                f"ConfusionMatrix: 'order' has {len(order)} values but the matrix is {matrix.shape[0]} x "
                f"{matrix.shape[0]}.")
        self.matrix = matrix
        self.order = [int(v) for v in order]

    def to_info(self) -> list[list[float]]:
        return self.matrix.tolist()

    def __repr__(self) -> str:
        return f"ConfusionMatrix(order={self.order}, matrix={self.matrix.tolist()})"

    # --- measures ---------------------------------------------------------------------------------------
    @property
    def _counts(self) -> np.ndarray:
        return self.matrix.astype(np.float64)

    def accuracy(self) -> float:
        total = self._counts.sum()
        return float(np.trace(self._counts) / total) if total else 0.0

    def producers_accuracy(self) -> np.ndarray:
        """(n, 1): correct over the row (actual class) totals."""
        return _ratio(np.diag(self._counts), self._counts.sum(axis=1))[:, None]

    def consumers_accuracy(self) -> np.ndarray:
        """(1, n): correct over the column (predicted class) totals."""
        return _ratio(np.diag(self._counts), self._counts.sum(axis=0))[None, :]

    def kappa(self) -> float:
        m = self._counts
        total = m.sum()
        if not total:
            return 0.0
        observed = np.trace(m) / total
        expected = float((m.sum(axis=1) * m.sum(axis=0)).sum()) / total**2
        if expected == 1.0:
            return math.nan
        return float((observed - expected) / (1.0 - expected))

    def fscore(self, beta: float = 1.0) -> np.ndarray:
        """(n,): the F-beta score of each class."""
        precision = self.consumers_accuracy()[0]
        recall = self.producers_accuracy()[:, 0]
        b2 = float(beta) ** 2
        return _ratio((1.0 + b2) * precision * recall, b2 * precision + recall)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(numerator), np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def as_number_array(value: Any, what: str) -> np.ndarray:
    """An engine array value (nested lists, a numpy array, or an object exposing ``__array__``) as numpy."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what}: expected a numeric array; got {str(value)[:200]!r}.") from None
    return array


def _as_class(value: Any, prop: str, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{where}: property '{prop}' must be a number; got {value!r}.") from None
    if not math.isfinite(number) or number != math.floor(number):
        raise InvalidArgument(f"{where}: property '{prop}' must hold integer class values; got {value!r}.")
    return int(number)


def confusion_from_labels(actual: Sequence[int], predicted: Sequence[int],
                          order: Sequence[int] | None = None) -> ConfusionMatrix:
    """Counts (actual, predicted) pairs; without ``order`` the classes are 0..max (Earth Engine's errorMatrix).

    Pairs with a value outside ``order`` are not counted.
    """
    actual_arr = np.asarray(actual, np.int64)
    predicted_arr = np.asarray(predicted, np.int64)
    if order is None:
        if actual_arr.size and min(actual_arr.min(), predicted_arr.min()) < 0:
            raise InvalidArgument(
                "errorMatrix: class values must be non-negative integers when no 'order' is given; got "
                f"{int(min(actual_arr.min(), predicted_arr.min()))}.")
        n = int(max(actual_arr.max(), predicted_arr.max())) + 1 if actual_arr.size else 0
        order = list(range(n))
    order = [int(v) for v in order]
    if len(set(order)) != len(order):
        raise InvalidArgument(f"errorMatrix: 'order' has repeated values: {order}.")
    index = {value: i for i, value in enumerate(order)}
    matrix = np.zeros((len(order), len(order)), np.int64)
    for a, p in zip(actual_arr.tolist(), predicted_arr.tolist()):
        if a in index and p in index:
            matrix[index[a], index[p]] += 1
    return ConfusionMatrix(matrix, order)


# --- algorithms ------------------------------------------------------------------------------------------

def _matrix(value: Any, name: str) -> ConfusionMatrix:
    if not isinstance(value, ConfusionMatrix):
        raise InvalidArgument(f"{name}: expected a ConfusionMatrix; got {type(value).__name__}.")
    return value


@algorithm("ConfusionMatrix")
def confusion_matrix(array: Any, order: Sequence[int] | None = None) -> ConfusionMatrix:
    matrix = as_number_array(array, "ConfusionMatrix")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InvalidArgument(f"ConfusionMatrix: the array must be square and 2-D; got shape {list(matrix.shape)}.")
    if (matrix < 0).any():
        raise InvalidArgument("ConfusionMatrix: counts must be non-negative.")
    if np.all(matrix == np.round(matrix)):
        matrix = matrix.astype(np.int64)
    return ConfusionMatrix(matrix, list(order) if order is not None else list(range(matrix.shape[0])))


@algorithm("Collection.errorMatrix")
def error_matrix(collection: Any, actual: str, predicted: str,
                 order: Sequence[int] | None = None) -> ConfusionMatrix:
    """Counts each feature's (actual, predicted) pair; features missing either value are left out."""
    features = getattr(collection, "features", None)
    if features is None:
        raise InvalidArgument(f"Collection.errorMatrix: expected a FeatureCollection; got {type(collection).__name__}.")
    actual_values: list[int] = []
    predicted_values: list[int] = []
    seen_actual = seen_predicted = False
    for feature in features:
        props = feature.properties
        seen_actual |= actual in props
        seen_predicted |= predicted in props
        a, p = props.get(actual), props.get(predicted)
        if a is None or p is None:
            continue
        actual_values.append(_as_class(a, actual, "Collection.errorMatrix"))
        predicted_values.append(_as_class(p, predicted, "Collection.errorMatrix"))
    for prop, seen in ((actual, seen_actual), (predicted, seen_predicted)):
        if features and not seen:
            available = sorted({k for f in features for k in f.properties})
            raise InvalidArgument(
                f"Collection.errorMatrix: property '{prop}' is not in the collection. Available properties: "
                f"{available}")
    return confusion_from_labels(actual_values, predicted_values, order)


@algorithm("ConfusionMatrix.accuracy")
def cm_accuracy(confusionMatrix: Any) -> float:
    return _matrix(confusionMatrix, "ConfusionMatrix.accuracy").accuracy()


@algorithm("ConfusionMatrix.kappa")
def cm_kappa(confusionMatrix: Any) -> float:
    return _matrix(confusionMatrix, "ConfusionMatrix.kappa").kappa()


@algorithm("ConfusionMatrix.producersAccuracy")
def cm_producers(confusionMatrix: Any) -> np.ndarray:
    return _matrix(confusionMatrix, "ConfusionMatrix.producersAccuracy").producers_accuracy()


@algorithm("ConfusionMatrix.consumersAccuracy")
def cm_consumers(confusionMatrix: Any) -> np.ndarray:
    return _matrix(confusionMatrix, "ConfusionMatrix.consumersAccuracy").consumers_accuracy()


@algorithm("ConfusionMatrix.fscore")
def cm_fscore(confusionMatrix: Any, beta: float = 1.0) -> np.ndarray:
    return _matrix(confusionMatrix, "ConfusionMatrix.fscore").fscore(beta)


@algorithm("ConfusionMatrix.array")
def cm_array(confusionMatrix: Any) -> np.ndarray:
    return _matrix(confusionMatrix, "ConfusionMatrix.array").matrix.copy()


@algorithm("ConfusionMatrix.order")
def cm_order(confusionMatrix: Any) -> list[int]:
    return list(_matrix(confusionMatrix, "ConfusionMatrix.order").order)
