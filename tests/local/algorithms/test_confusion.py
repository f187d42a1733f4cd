"""ee.ConfusionMatrix and Collection.errorMatrix on the local engine, checked against scikit-learn's metrics."""

from __future__ import annotations

import numpy as np
import pytest
from ml_testdata import ee, ml_server  # noqa: F401 - fixtures

# Earth Engine's documentation example (rows actual, columns predicted).
EXAMPLE = [[32, 0, 0, 0, 1, 0],
           [0, 5, 0, 0, 1, 0],
           [0, 0, 1, 3, 0, 0],
           [0, 1, 4, 26, 8, 0],
           [0, 0, 0, 7, 15, 0],
           [0, 0, 0, 1, 0, 5]]


def _labels_from(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    actual, predicted = [], []
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            actual += [i] * int(count)
            predicted += [j] * int(count)
    return np.array(actual), np.array(predicted)


def test_measures_match_sklearn(ee):
    from sklearn.metrics import accuracy_score, cohen_kappa_score, fbeta_score, precision_score, recall_score

    matrix = ee.ConfusionMatrix(ee.Array(EXAMPLE))
    actual, predicted = _labels_from(np.array(EXAMPLE))
    assert matrix.getInfo() == EXAMPLE
    assert matrix.accuracy().getInfo() == pytest.approx(accuracy_score(actual, predicted))
    assert matrix.kappa().getInfo() == pytest.approx(cohen_kappa_score(actual, predicted))
    producers = matrix.producersAccuracy().getInfo()
    consumers = matrix.consumersAccuracy().getInfo()
    assert np.shape(producers) == (6, 1) and np.shape(consumers) == (1, 6)
    np.testing.assert_allclose(np.ravel(producers), recall_score(actual, predicted, average=None))
    np.testing.assert_allclose(np.ravel(consumers), precision_score(actual, predicted, average=None))
    for beta in (1.0, 0.5, 2.0):
        np.testing.assert_allclose(matrix.fscore(beta).getInfo(),
                                   fbeta_score(actual, predicted, beta=beta, average=None))
    assert matrix.order().getInfo() == list(range(6))
    np.testing.assert_array_equal(matrix.array().getInfo(), EXAMPLE)


def test_error_matrix_with_and_without_order(ee):
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(3)
    actual = rng.integers(1, 5, 200)  # classes 1..4: row and column 0 stay empty
    predicted = np.where(rng.random(200) < 0.7, actual, rng.integers(1, 5, 200))
    fc = ee.FeatureCollection([ee.Feature(None, {"a": int(a), "p": int(p)}) for a, p in zip(actual, predicted)])
    default = fc.errorMatrix("a", "p")
    np.testing.assert_array_equal(default.getInfo(), confusion_matrix(actual, predicted, labels=[0, 1, 2, 3, 4]))
    assert default.order().getInfo() == [0, 1, 2, 3, 4]
    assert default.producersAccuracy().getInfo()[0] == [0]  # an absent class scores 0, not NaN
    ordered = fc.errorMatrix("a", "p", [4, 2, 1, 3])
    np.testing.assert_array_equal(ordered.getInfo(), confusion_matrix(actual, predicted, labels=[4, 2, 1, 3]))
    assert ordered.accuracy().getInfo() == pytest.approx((actual == predicted).mean())


def test_error_matrix_on_held_out_classification(ee):
    """The errorMatrix of a classifier's predictions on held-out features equals scikit-learn's."""
    from sklearn.metrics import accuracy_score, confusion_matrix
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 2))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    fc = [ee.Feature(None, {"u": float(u), "v": float(v), "c": int(c)}) for (u, v), c in zip(x, y)]
    train, test = ee.FeatureCollection(fc[:80]), ee.FeatureCollection(fc[80:])
    classified = test.classify(ee.Classifier.smileKNN(5).train(train, "c", ["u", "v"]))
    matrix = classified.errorMatrix("c", "classification")
    predicted = KNeighborsClassifier(5).fit(x[:80], y[:80]).predict(x[80:])
    np.testing.assert_array_equal(matrix.getInfo(), confusion_matrix(y[80:], predicted, labels=[0, 1, 2]))
    assert matrix.accuracy().getInfo() == pytest.approx(accuracy_score(y[80:], predicted))


def test_bad_matrices_fail_clearly(ee):
    with pytest.raises(ee.EEException, match="square"):
        ee.ConfusionMatrix([[1, 2, 3], [4, 5, 6]]).accuracy().getInfo()
    with pytest.raises(ee.EEException, match="'order' has 3 values"):
        ee.ConfusionMatrix([[1, 2], [3, 4]], [0, 1, 2]).accuracy().getInfo()
    fc = ee.FeatureCollection([ee.Feature(None, {"a": 1, "p": 0})])
    with pytest.raises(ee.EEException, match="property 'q' is not in the collection"):
        fc.errorMatrix("a", "q").getInfo()
    assert ee.ConfusionMatrix([[1, 2], [3, 4]]).accuracy().getInfo() == pytest.approx(0.5)
