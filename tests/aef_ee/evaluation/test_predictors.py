"""Vectorised kNN and least squares equal scikit-learn on the same draws; metrics equal scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from aef_ee.evaluation import metrics, predictors
from aef_ee.evaluation.draws import draw_class_balanced, draw_random


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    codes = np.repeat(np.arange(4), [30, 25, 40, 20])
    centres = rng.normal(scale=1.5, size=(4, 6))
    return centres[codes] + rng.normal(size=(codes.size, 6)), codes


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("shots", [2, 8])
# 20 kB: no Gram matrix, several chunks of repeats; 1 MB: distances gathered from the Gram matrix.
@pytest.mark.parametrize("memory_budget", [20_000, 1_000_000])
def test_knn_classify_equals_sklearn(blobs, k: int, shots: int, memory_budget: int) -> None:
    x, codes = blobs
    draws = draw_class_balanced(codes, shots, 12, seed=(3, shots))
    ours = predictors.knn_classify(x, codes, draws, n_classes=4, k=k, memory_budget=memory_budget)
    for r in range(draws.repeats):
        model = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x[draws.train[r]], codes[draws.train[r]])
        np.testing.assert_array_equal(ours[r], model.predict(x[draws.evaluation[r]]))


def test_linear_classify_equals_least_squares_on_one_hot(blobs) -> None:
    x, codes = blobs
    draws = draw_class_balanced(codes, 8, 10, seed=1)
    ours = predictors.linear_classify(x, codes, draws, n_classes=4, memory_budget=20_000)
    one_hot = np.eye(4)[codes]
    for r in range(draws.repeats):
        model = LinearRegression().fit(x[draws.train[r]], one_hot[draws.train[r]])
        np.testing.assert_array_equal(ours[r], model.predict(x[draws.evaluation[r]]).argmax(axis=1))


def test_regressors_equal_sklearn(blobs) -> None:
    x, _ = blobs
    rng = np.random.default_rng(2)
    y = x @ rng.normal(size=6) + 0.3 * rng.normal(size=x.shape[0])
    draws = draw_random(y.size, 30, 9, seed=5)
    linear = predictors.linear_regress(x, y, draws, memory_budget=20_000)
    knn = predictors.knn_regress(x, y, draws, k=3, memory_budget=20_000)
    for r in range(draws.repeats):
        train, evaluation = draws.train[r], draws.evaluation[r]
        np.testing.assert_allclose(linear[r], LinearRegression().fit(x[train], y[train]).predict(x[evaluation]),
                                   rtol=1e-9, atol=1e-9)  # fmt: skip
        expected = KNeighborsRegressor(n_neighbors=3, algorithm="brute").fit(x[train], y[train]).predict(x[evaluation])
        np.testing.assert_allclose(knn[r], expected, rtol=1e-12)


def test_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, size=(6, 50))
    predicted = np.where(rng.random((6, 50)) < 0.6, truth, rng.integers(0, 5, size=(6, 50)))
    ours = metrics.balanced_accuracy(truth, predicted, 5)
    np.testing.assert_allclose(ours, [balanced_accuracy_score(t, p) for t, p in zip(truth, predicted)])
    y = rng.normal(size=(6, 40))
    p = y + rng.normal(scale=0.5, size=y.shape)
    np.testing.assert_allclose(metrics.r2_score(y, p), [r2_score(a, b) for a, b in zip(y, p)])
