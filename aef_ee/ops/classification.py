"""Classification and regression on embeddings from labelled points or polygons, with accuracy assessment.

On unit vectors, Euclidean and cosine distances rank neighbours identically, so the default kNN (Euclidean) is a
cosine kNN. Labels are split into training and validation *features* before sampling, so pixels of one labelled
polygon never land on both sides.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M
from aef_ee.errors import AefValueError

__all__ = [
    "CLASSIFIERS",
    "AccuracyReport",
    "RegressionReport",
    "split_labels",
    "few_shot_split",
    "sample_labels",
    "train_on_samples",
    "labels_from_points",
    "train_classifier",
    "classify",
    "accuracy_report",
    "regression_report",
]

CLASSIFIERS = ("knn", "random_forest", "svm", "min_distance")


def split_labels(labels: Any, *, fraction: float = 0.7, seed: int = 0) -> tuple[Any, Any]:
    """Random split of the label features: (training, validation) ``ee.FeatureCollection``s."""
    import ee

    if not 0 < fraction < 1:
        raise AefValueError(f"fraction must be between 0 and 1; got {fraction!r}")
    with_random = ee.FeatureCollection(labels).randomColumn("split_random", seed)
    return (with_random.filter(ee.Filter.lt("split_random", fraction)),
            with_random.filter(ee.Filter.gte("split_random", fraction)))


def few_shot_split(labels: Any, label_property: str, *, per_class: int = 10, seed: int = 0) -> tuple[Any, Any]:
    """Training = ``per_class`` random features of each class; validation = all the others.

    One small request lists the classes. Classes with ``per_class`` or fewer features put them all in training
    and none in validation.
    """
    import ee

    if per_class < 1:
        raise AefValueError(f"per_class must be at least 1; got {per_class!r}")
    table = ee.FeatureCollection(labels).randomColumn("split_random", seed)
    classes = sorted((table.aggregate_histogram(label_property).getInfo() or {}), key=_class_key)
    if len(classes) < 2:
        raise AefValueError(f"labels in {label_property!r} have {len(classes)} class(es); need at least two")
    parts = [table.filter(ee.Filter.eq(label_property, _class_value(c))).sort("split_random").limit(per_class)
             for c in classes]
    training = parts[0]
    for part in parts[1:]:
        training = training.merge(part)
    # merge() renames system:index, so the split is keyed on the random column itself (unique per feature).
    chosen = training.aggregate_array("split_random")
    validation = table.filter(ee.Filter.inList("split_random", chosen).Not())
    return training, validation


def _class_key(value: str) -> Any:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def _class_value(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def sample_labels(embeddings: Any, labels: Any, label_property: str, *, scale: float = NATIVE_SCALE_M,
                  geometries: bool = False) -> Any:
    """The embedding of every pixel under each label (points: one pixel; polygons: each pixel centre inside)."""
    import ee

    return ee.Image(embeddings).select(EMBEDDING_BANDS).sampleRegions(
        collection=ee.FeatureCollection(labels), properties=[label_property], scale=scale, geometries=geometries)


def _make_classifier(method: str, *, k: int, trees: int, seed: int) -> Any:
    import ee

    if method == "knn":
        return ee.Classifier.smileKNN(k)
    if method == "random_forest":
        return ee.Classifier.smileRandomForest(numberOfTrees=trees, seed=seed)
    if method == "svm":
        return ee.Classifier.libsvm(kernelType="LINEAR")
    if method == "min_distance":
        return ee.Classifier.minimumDistance("cosine")
    raise AefValueError(f"unknown classifier {method!r}; expected one of {list(CLASSIFIERS)}")


def train_classifier(
    embeddings: Any,
    labels: Any,
    label_property: str,
    *,
    method: str = "knn",
    k: int = 3,
    trees: int = 100,
    seed: int = 0,
    mode: str = "CLASSIFICATION",
    scale: float = NATIVE_SCALE_M,
    check: bool = True,
) -> tuple[Any, Any]:
    """Trains a classifier (or regressor, ``mode="REGRESSION"``) on the embeddings under the labels.

    Args:
      embeddings: ``ee.Image`` with bands A00..A63.
      labels: ``ee.FeatureCollection`` of points or polygons with ``label_property`` (integer classes, or numbers
        for regression).
      method: "knn" (default), "random_forest", "svm" (linear libsvm) or "min_distance" (cosine).
      k: neighbours for kNN.
      mode: "CLASSIFICATION", "PROBABILITY", "MULTIPROBABILITY" or "REGRESSION".
      check: one small request to refuse labels with a single class, or a class whose labels all fall outside the
        embeddings (nothing is trained then).

    Returns:
      (trained ``ee.Classifier``, the training samples ``ee.FeatureCollection``).

    Raises:
      AefValueError: bad method or mode; a single class; a class with no samples.
    """
    samples = sample_labels(embeddings, labels, label_property, scale=scale)
    return train_on_samples(samples, label_property, method=method, k=k, trees=trees, seed=seed, mode=mode,
                            check=check, labels=labels), samples


def train_on_samples(
    samples: Any,
    label_property: str,
    *,
    method: str = "knn",
    k: int = 3,
    trees: int = 100,
    seed: int = 0,
    mode: str = "CLASSIFICATION",
    check: bool = True,
    labels: Any = None,
) -> Any:
    """Trains on a table whose features already hold the embedding (properties A00..A63), e.g. sampled points or
    a CSV of Google's embeddings; same arguments as :func:`train_classifier`."""
    import ee

    if mode not in ("CLASSIFICATION", "PROBABILITY", "MULTIPROBABILITY", "REGRESSION"):
        raise AefValueError(f"unknown output mode {mode!r}")
    if method == "knn" and k < 1:
        raise AefValueError(f"k must be at least 1; got {k!r}")
    classifier = _make_classifier(method, k=k, trees=trees, seed=seed)
    samples = ee.FeatureCollection(samples)
    if check and mode != "REGRESSION":
        histograms = ee.Dictionary({
            "labels": ee.FeatureCollection(labels if labels is not None else samples).aggregate_histogram(
                label_property),
            "samples": samples.aggregate_histogram(label_property),
        }).getInfo()
        label_classes = sorted(histograms["labels"] or {})
        if len(label_classes) < 2:
            raise AefValueError(
                f"labels in {label_property!r} have {len(label_classes)} class(es) {label_classes}; "
                "a classifier needs at least two")
        empty = [c for c in label_classes if not (histograms["samples"] or {}).get(c)]
        if empty:
            raise AefValueError(
                f"class(es) {empty} of {label_property!r} have no embedding samples: their labels fall outside "
                "the embeddings' coverage or region")
    if mode != "CLASSIFICATION":
        classifier = classifier.setOutputMode(mode)
    return classifier.train(samples, label_property, EMBEDDING_BANDS)


def classify(embeddings: Any, classifier: Any, *, output_name: str = "classification") -> Any:
    """The classified ``ee.Image`` (band ``output_name``)."""
    import ee

    return ee.Image(embeddings).select(EMBEDDING_BANDS).classify(classifier, output_name)


@dataclasses.dataclass(frozen=True)
class AccuracyReport:
    """Accuracy of a classification on validation samples.

    Attributes:
      order: the class values, the row/column order of ``matrix``.
      matrix: confusion matrix, rows = actual, columns = predicted.
      overall: overall accuracy (0..1).
      balanced: mean of the per-class producer's accuracies (recall) over classes present in the validation set.
      kappa: Cohen's kappa.
      producers: class -> producer's accuracy (recall). consumers: class -> consumer's accuracy (precision).
      n: number of validation samples.
    """

    order: list[int]
    matrix: list[list[int]]
    overall: float
    balanced: float
    kappa: float
    producers: dict[int, float]
    consumers: dict[int, float]
    n: int

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"class": self.order,
                             "producers_accuracy": [self.producers[c] for c in self.order],
                             "consumers_accuracy": [self.consumers[c] for c in self.order],
                             "validation_samples": [int(sum(row)) for row in self.matrix]})


def accuracy_report(classifier: Any, validation_samples: Any, label_property: str) -> AccuracyReport:
    """Classifies the validation samples server-side and returns the error-matrix statistics (one request)."""
    import ee

    predicted = ee.FeatureCollection(validation_samples).classify(classifier, "classification")
    matrix = predicted.errorMatrix(label_property, "classification")
    info = ee.Dictionary({"matrix": matrix.array(), "order": matrix.order(), "overall": matrix.accuracy(),
                          "kappa": matrix.kappa()}).getInfo()
    rows = [[int(v) for v in row] for row in info["matrix"]]
    order = [int(v) for v in info["order"]]
    # Earth Engine indexes the matrix by class value 0..max; keep the classes that occur as actual or predicted.
    keep = [i for i in range(len(order)) if sum(rows[i]) or sum(r[i] for r in rows)]
    rows = [[rows[i][j] for j in keep] for i in keep]
    order = [order[i] for i in keep]
    producers: dict[int, float] = {}
    consumers: dict[int, float] = {}
    for i, cls in enumerate(order):
        row_total = sum(rows[i])
        col_total = sum(r[i] for r in rows)
        producers[cls] = rows[i][i] / row_total if row_total else math.nan
        consumers[cls] = rows[i][i] / col_total if col_total else math.nan
    present = [producers[c] for c, row in zip(order, rows) if sum(row)]
    return AccuracyReport(order, rows, float(info["overall"]), sum(present) / len(present) if present else math.nan,
                          float(info["kappa"]), producers, consumers, int(sum(map(sum, rows))))


@dataclasses.dataclass(frozen=True)
class RegressionReport:
    rmse: float
    r2: float
    n: int


def regression_report(regressor: Any, validation_samples: Any, label_property: str) -> RegressionReport:
    """RMSE and R² of a regressor on validation samples (pulls the two columns, one request)."""
    import ee
    import numpy as np

    predicted = ee.FeatureCollection(validation_samples).classify(regressor, "prediction")
    cols = ee.Dictionary({"y": predicted.aggregate_array(label_property),
                          "p": predicted.aggregate_array("prediction")}).getInfo()
    y = np.asarray(cols["y"], dtype=float)
    p = np.asarray(cols["p"], dtype=float)
    if y.size == 0:
        raise AefValueError("no validation samples to assess the regression")
    rmse = float(np.sqrt(np.mean((y - p) ** 2)))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - p) ** 2)) / ss_tot if ss_tot else math.nan
    return RegressionReport(rmse, r2, int(y.size))


def labels_from_points(points: Sequence[tuple[float, float, int]], label_property: str = "class") -> Any:
    """An ``ee.FeatureCollection`` from (lon, lat, class) triples, e.g. points drawn on a map."""
    import ee

    return ee.FeatureCollection([ee.Feature(ee.Geometry.Point([float(lon), float(lat)]), {label_property: int(c)})
                                 for lon, lat, c in points])
