"""ee.Clusterer on the local engine, checked against scikit-learn's KMeans on the same (Weka-normalised) samples."""

from __future__ import annotations

import numpy as np
import pytest
from ml_testdata import (  # noqa: F401 - ee and ml_server are fixtures
    BANDS,
    ee,
    ml_server,
    pixels,
    sample_pixels,
    scene_bands,
    training_features,
    zone_map,
)


def _samples(n: int = 120, seed: int = 4):
    rows, cols, labels = sample_pixels(n, seed)
    return rows, cols, labels, scene_bands()[:, rows, cols].T.astype(np.float64)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of pixels on which two labelings agree after the best one-to-one relabeling."""
    from scipy.optimize import linear_sum_assignment

    k = int(max(a.max(), b.max())) + 1
    table = np.zeros((k, k))
    np.add.at(table, (a.ravel(), b.ravel()), 1)
    r, c = linear_sum_assignment(-table)
    return table[r, c].sum() / a.size


def test_kmeans_clusters_image_like_sklearn_and_repeats(ee):
    from sklearn.cluster import KMeans

    rows, cols, labels, x = _samples()
    fc = training_features(ee, rows, cols, labels)
    clusterer = ee.Clusterer.wekaKMeans(3, seed=5).train(fc, list(BANDS))
    got = pixels(ee, ee.Image("ML/scene").cluster(clusterer).unmask(255), "cluster")
    again = pixels(ee, ee.Image("ML/scene").cluster(
        ee.Clusterer.wekaKMeans(3, seed=5).train(fc, list(BANDS))).unmask(255), "cluster")
    np.testing.assert_array_equal(got, again)
    assert got[0, 0] == 255  # nodata stays masked
    lo, span = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
    model = KMeans(3, init="random", n_init=1, max_iter=500, random_state=5).fit((x - lo) / span)
    all_pixels = scene_bands().reshape(3, -1).T.astype(np.float64)
    expected = model.predict((all_pixels - lo) / span).reshape(got.shape)
    np.testing.assert_array_equal(got.ravel()[1:], expected.ravel()[1:])
    assert _agreement(got.ravel()[1:], zone_map().ravel()[1:]) > 0.95
    assert clusterer.schema().getInfo() == list(BANDS)


def test_feature_collection_cluster_and_inits(ee):
    rows, cols, labels, _ = _samples()
    fc = training_features(ee, rows, cols, labels)
    for init in (1, 3):  # k-means++ and farthest-first starts find the three zones
        clusters = fc.cluster(ee.Clusterer.wekaKMeans(3, init=init).train(fc, list(BANDS)), "c")
        got = np.array(clusters.aggregate_array("c").getInfo())
        assert _agreement(got, labels) > 0.95, init
    # A single random start may stop in a local minimum, as Weka's does; it is the same one every time.
    first = fc.cluster(ee.Clusterer.wekaKMeans(3, init=0).train(fc)).aggregate_array("cluster").getInfo()
    second = fc.cluster(ee.Clusterer.wekaKMeans(3, init=0).train(fc)).aggregate_array("cluster").getInfo()
    assert first == second and set(first) == {0, 1, 2}


@pytest.mark.parametrize("make", ["cascade", "xmeans"])
def test_model_selection_finds_three_zones(ee, make):
    rows, cols, labels, _ = _samples()
    fc = training_features(ee, rows, cols, labels)
    clusterer = (ee.Clusterer.wekaCascadeKMeans(2, 6) if make == "cascade" else ee.Clusterer.wekaXMeans(2, 6))
    got = np.array(fc.cluster(clusterer.train(fc, list(BANDS))).aggregate_array("cluster").getInfo())
    assert sorted(set(got.tolist())) == [0, 1, 2]
    assert _agreement(got, labels) > 0.95


def test_clusterer_errors(ee):
    rows, cols, labels, _ = _samples(20)
    fc = training_features(ee, rows, cols, labels)
    with pytest.raises(ee.EEException, match="property 'B7' is not in the training features"):
        ee.Clusterer.wekaKMeans(2).train(fc, ["B1", "B7"]).schema().getInfo()
    with pytest.raises(ee.EEException, match="nClusters=50"):
        fc.cluster(ee.Clusterer.wekaKMeans(50).train(fc)).getInfo()
    with pytest.raises(ee.EEException, match="Manhattan"):
        fc.cluster(ee.Clusterer.wekaKMeans(2, distanceFunction="Manhattan").train(fc)).getInfo()
    with pytest.raises(ee.EEException, match="not been trained"):
        ee.Image("ML/scene").cluster(ee.Clusterer.wekaKMeans(2)).getInfo()


def test_kmeans_on_image_sample_end_to_end(ee_local):
    """wekaKMeans trained on image.sample() clusters the Slovenia scene; the same seed gives the same result."""
    from sklearn.cluster import KMeans

    ee = ee_local
    scene = ee.ImageCollection("COPERNICUS/S2_HARMONIZED").first().select(["B2", "B3", "B4", "B8"])
    samples = scene.sample(region=scene.geometry(), scale=20, numPixels=400, seed=3)
    features = samples.getInfo()["features"]
    names = ["B2", "B3", "B4", "B8"]
    x = np.array([[f["properties"][n] for n in names] for f in features], np.float64)
    assert len(x) > 100

    def clustered(seed):
        clusterer = ee.Clusterer.wekaKMeans(4, init=1, seed=seed).train(samples)
        request = {"expression": scene.cluster(clusterer).addBands(scene), "fileFormat": "NUMPY_NDARRAY"}
        return ee.data.computePixels(request)

    first, again = clustered(11), clustered(11)
    np.testing.assert_array_equal(first["cluster"], again["cluster"])
    lo, span = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
    model = KMeans(4, init="k-means++", n_init=1, max_iter=500, random_state=11).fit((x - lo) / span)
    image_x = np.stack([first[n].astype(np.float64) for n in names], axis=-1).reshape(-1, len(names))
    expected = model.predict((image_x - lo) / span).reshape(first["cluster"].shape)
    np.testing.assert_array_equal(first["cluster"], expected)
    assert len(np.unique(first["cluster"])) == 4
