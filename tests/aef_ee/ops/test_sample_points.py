"""Workflows on the real AlphaEarth sample points of the demo catalog (Google's 2024 embeddings, Dynamic World
labels), against scikit-learn and numpy on the same split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from aef_ee import ops
from aef_ee.fields.collection import EMBEDDING_BANDS
from aef_ee.ops.classification import few_shot_split, train_on_samples
from aef_ee.paths import data_dir

TABLE = "projects/local/assets/alphaearth_samples_iowa_ag"


def _matrix(features):
    x = np.array([[f["properties"][b] for b in EMBEDDING_BANDS] for f in features])
    y = np.array([f["properties"]["dw_label"] for f in features])
    return x, y


@pytest.mark.parametrize("k", [1, 3])
def test_few_shot_knn_equals_scikit_learn(ee_local, k):
    ee = ee_local
    table = ee.FeatureCollection(TABLE)
    train, validation = few_shot_split(table, "dw_label", per_class=10, seed=42)
    classifier = train_on_samples(train, "dw_label", k=k)
    report = ops.accuracy_report(classifier, validation, "dw_label")
    xt, yt = _matrix(train.getInfo()["features"])
    xv, yv = _matrix(validation.getInfo()["features"])
    assert len(yt) == 10 * len(np.unique(yt))
    assert len(yt) + len(yv) == 720
    predicted = KNeighborsClassifier(n_neighbors=k).fit(xt, yt).predict(xv)
    assert report.n == len(yv)
    assert report.overall == pytest.approx(float((predicted == yv).mean()), abs=1e-12)
    recalls = [float((predicted[yv == c] == c).mean()) for c in np.unique(yv)]
    assert report.balanced == pytest.approx(float(np.mean(recalls)), abs=1e-12)
    print(f"k={k}: overall {report.overall:.3f}, balanced {report.balanced:.3f} on {report.n} validation points")


def test_similarity_to_class_mean_ranks_same_class_first(ee_local):
    """For every point, its similarity to its own class mean versus the other classes' means (reported rate)."""
    ee = ee_local
    frame = pd.read_csv(data_dir() / "alphaearth_samples" / "alphaearth_s1_dw_samples_iowa_ag_2024.csv")
    x = frame[EMBEDDING_BANDS].to_numpy()
    y = frame["dw_label"].to_numpy()
    classes = np.unique(y)
    # Class means through the library (re-normalised), from the table served by the local engine.
    table = ee.FeatureCollection(TABLE)
    means = {}
    for c in classes:
        subset = table.filter(ee.Filter.eq("dw_label", int(c)))
        values = ee.List([subset.aggregate_mean(b) for b in EMBEDDING_BANDS]).getInfo()
        means[c] = np.asarray(ops.reference_vector(None, values))
    for c in classes:
        expected = x[y == c].mean(axis=0)
        np.testing.assert_allclose(means[c], expected / np.linalg.norm(expected), atol=1e-9)
    centroids = np.stack([means[c] for c in classes])
    sims = x @ centroids.T
    own = sims[np.arange(len(y)), np.searchsorted(classes, y)]
    rate = float((own[:, None] >= sims).all(axis=1).mean())
    print(f"points most similar to their own class mean: {rate:.3f} (Dynamic World labels are model output)")
    assert rate > 0.5
