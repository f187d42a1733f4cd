"""ee.Classifier on the local engine, through the real earthengine-api client, checked against scikit-learn fitted
directly on the same samples."""

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


def _table(rows, cols) -> np.ndarray:
    return scene_bands()[:, rows, cols].T.astype(np.float64)


def _all_pixels() -> np.ndarray:
    return scene_bands().reshape(3, -1).T.astype(np.float64)


@pytest.fixture(scope="module")
def split():
    rows, cols, labels = sample_pixels(150, seed=1)
    return (rows[:100], cols[:100], labels[:100]), (rows[100:], cols[100:], labels[100:])


def test_knn_classifies_image_like_sklearn(ee, split):
    from sklearn.neighbors import KNeighborsClassifier

    (rows, cols, labels), _ = split
    classifier = ee.Classifier.smileKNN(3).train(training_features(ee, rows, cols, labels), "zone", list(BANDS))
    image = ee.Image("ML/scene").classify(classifier)
    got = pixels(ee, image.unmask(255), "classification")
    expected = KNeighborsClassifier(3).fit(_table(rows, cols), labels).predict(_all_pixels()).reshape(got.shape)
    assert got[0, 0] == 255  # the nodata pixel stays masked
    np.testing.assert_array_equal(got.ravel()[1:], expected.ravel()[1:])
    assert (got == zone_map()).mean() > 0.95
    assert image.bandNames().getInfo() == ["classification"]


def test_random_forest_matches_sklearn_and_is_repeatable(ee, split):
    from sklearn.ensemble import RandomForestClassifier

    (rows, cols, labels), _ = split
    fc = training_features(ee, rows, cols, labels)
    classifier = ee.Classifier.smileRandomForest(numberOfTrees=15, seed=7).train(fc, "zone")
    image = ee.Image("ML/scene").classify(classifier, "lc")
    first = pixels(ee, image, "lc")
    again = pixels(ee, ee.Image("ML/scene").classify(
        ee.Classifier.smileRandomForest(numberOfTrees=15, seed=7).train(fc, "zone"), "lc"), "lc")
    np.testing.assert_array_equal(first, again)
    # Earth Engine's defaults expressed in scikit-learn: sqrt(d) variables per split, bags of half the samples.
    model = RandomForestClassifier(n_estimators=15, max_features=1, max_samples=0.5, random_state=7, oob_score=True)
    expected = model.fit(_table(rows, cols), labels).predict(_all_pixels()).reshape(first.shape)
    np.testing.assert_array_equal(first.ravel()[1:], expected.ravel()[1:])
    explained = classifier.explain().getInfo()
    assert explained["numberOfTrees"] == 15
    assert set(explained["importance"]) == set(BANDS)
    assert explained["outOfBagErrorEstimate"] == pytest.approx(1 - model.oob_score_)
    assert classifier.schema().getInfo() == list(BANDS)


@pytest.mark.parametrize("make, build", [
    ("cart", lambda: __import__("sklearn.tree", fromlist=["x"]).DecisionTreeClassifier(random_state=0)),
    ("svm_rbf", lambda: __import__("sklearn.svm", fromlist=["x"]).SVC(kernel="rbf", gamma=2.0, C=10.0)),
    ("svm_linear", lambda: __import__("sklearn.svm", fromlist=["x"]).SVC(kernel="linear", gamma="auto")),
    ("gtb", lambda: __import__("sklearn.ensemble", fromlist=["x"]).GradientBoostingClassifier(
        n_estimators=20, learning_rate=0.1, subsample=0.7, random_state=3)),
    ("bayes", lambda: __import__("sklearn.naive_bayes", fromlist=["x"]).MultinomialNB(alpha=1e-6)),
])
def test_feature_collection_classify_matches_sklearn(ee, split, make, build):
    (rows, cols, labels), (trows, tcols, tlabels) = split
    constructors = {
        "cart": lambda: ee.Classifier.smileCart(),
        "svm_rbf": lambda: ee.Classifier.libsvm(kernelType="RBF", gamma=2.0, cost=10.0),
        "svm_linear": lambda: ee.Classifier.libsvm(),
        "gtb": lambda: ee.Classifier.smileGradientTreeBoost(20, shrinkage=0.1, seed=3),
        "bayes": lambda: ee.Classifier.smileNaiveBayes(),
    }
    classifier = constructors[make]().train(training_features(ee, rows, cols, labels), "zone", list(BANDS))
    test = training_features(ee, trows, tcols, tlabels)
    got = test.classify(classifier).aggregate_array("classification").getInfo()
    x, q = _table(rows, cols), _table(trows, tcols)
    if make == "bayes":  # Smile's multinomial model discards negative inputs
        x, q = np.maximum(x, 0), np.maximum(q, 0)
    expected = build().fit(x, labels).predict(q)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("metric", ["MANHATTAN", "BRAYCURTIS", "MAHALANOBIS"])
def test_knn_metrics(ee, split, metric):
    from sklearn.neighbors import KNeighborsClassifier

    (rows, cols, labels), (trows, tcols, tlabels) = split
    x, q = _table(rows, cols), _table(trows, tcols)
    kwargs = {"metric": metric.lower()}
    if metric == "MAHALANOBIS":
        kwargs.update(algorithm="brute", metric_params={"VI": np.linalg.pinv(np.cov(x, rowvar=False))})
    classifier = ee.Classifier.smileKNN(3, "KD_TREE" if metric == "MANHATTAN" else "AUTO", metric)
    trained = classifier.train(training_features(ee, rows, cols, labels), "zone")
    got = training_features(ee, trows, tcols, tlabels).classify(trained).aggregate_array("classification").getInfo()
    np.testing.assert_array_equal(got, KNeighborsClassifier(3, **kwargs).fit(x, labels).predict(q))


def test_one_class_svm_and_raw_distances(ee, split):
    from sklearn.svm import OneClassSVM

    (rows, cols, labels), (trows, tcols, tlabels) = split
    x, q = _table(rows, cols), _table(trows, tcols)
    fc, test = training_features(ee, rows, cols, labels), training_features(ee, trows, tcols, tlabels)
    one = ee.Classifier.libsvm(svmType="ONE_CLASS", kernelType="RBF", gamma=10.0, nu=0.1, oneClass=1)
    got = test.classify(one.train(fc, "zone")).aggregate_array("classification").getInfo()
    reference = OneClassSVM(kernel="rbf", gamma=10.0, nu=0.1).fit(x[labels == 1])
    np.testing.assert_array_equal(got, (reference.predict(q) > 0).astype(int))
    raw = test.classify(ee.Classifier.minimumDistance().setOutputMode("RAW").train(fc, "zone")).aggregate_array(
        "classification").getInfo()
    means = np.stack([x[labels == c].mean(axis=0) for c in (0, 1, 2)])
    np.testing.assert_allclose(raw, np.linalg.norm(q[:, None] - means[None], axis=2), rtol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "mahalanobis", "manhattan"])
def test_minimum_distance(ee, split, metric):
    (rows, cols, labels), (trows, tcols, tlabels) = split
    x = _table(rows, cols)
    means = np.stack([x[labels == c].mean(axis=0) for c in (0, 1, 2)])
    q = _table(trows, tcols)
    diff = q[:, None, :] - means[None]
    if metric == "euclidean":
        dist = np.linalg.norm(diff, axis=2)
    elif metric == "manhattan":
        dist = np.abs(diff).sum(axis=2)
    elif metric == "cosine":
        cos = (q @ means.T) / np.linalg.norm(q, axis=1)[:, None] / np.linalg.norm(means, axis=1)[None]
        dist = np.arccos(np.clip(cos, -1, 1))
    else:
        inv = [np.linalg.pinv(np.cov(x[labels == c], rowvar=False)) for c in (0, 1, 2)]
        dist = np.sqrt(np.stack([np.einsum("ni,ij,nj->n", diff[:, c], inv[c], diff[:, c]) for c in range(3)], 1))
    classifier = ee.Classifier.minimumDistance(metric).train(training_features(ee, rows, cols, labels), "zone")
    test = training_features(ee, trows, tcols, tlabels)
    got = test.classify(classifier).aggregate_array("classification").getInfo()
    np.testing.assert_array_equal(got, np.argmin(dist, axis=1))
    distance = test.classify(classifier.setOutputMode("REGRESSION")).aggregate_array("classification").getInfo()
    np.testing.assert_allclose(distance, dist.min(axis=1), rtol=1e-9)


def test_output_modes(ee, split):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    (rows, cols, labels), (trows, tcols, tlabels) = split
    fc = training_features(ee, rows, cols, labels)
    test = training_features(ee, trows, tcols, tlabels)
    base = ee.Classifier.smileRandomForest(10, seed=2)
    x, q = _table(rows, cols), _table(trows, tcols)
    forest = RandomForestClassifier(n_estimators=10, max_features=1, max_samples=0.5, random_state=2,
                                    oob_score=True).fit(x, labels)

    multi = test.classify(base.setOutputMode("MULTIPROBABILITY").train(fc, "zone")).aggregate_array(
        "classification").getInfo()
    np.testing.assert_allclose(multi, forest.predict_proba(q))
    prob = test.classify(base.train(fc, "zone").setOutputMode("PROBABILITY")).aggregate_array(
        "classification").getInfo()
    np.testing.assert_allclose(prob, forest.predict_proba(q).max(axis=1))
    # Regression on a continuous property: the B1 reflectance from B2 and B3.
    regression = base.setOutputMode("REGRESSION").train(fc, "B1", ["B2", "B3"])
    assert regression.mode().getInfo() == "REGRESSION"
    got = test.classify(regression).aggregate_array("classification").getInfo()
    expected = RandomForestRegressor(n_estimators=10, max_features=1, max_samples=0.5, random_state=2,
                                     oob_score=True).fit(x[:, 1:], x[:, 0]).predict(q[:, 1:])
    np.testing.assert_allclose(got, expected)
    # A binary problem: PROBABILITY is the probability of class 1.
    binary = (labels == 2).astype(int)
    bfc = training_features(ee, rows, cols, binary)
    bprob = test.classify(base.setOutputMode("PROBABILITY").train(bfc, "zone")).aggregate_array(
        "classification").getInfo()
    bforest = RandomForestClassifier(n_estimators=10, max_features=1, max_samples=0.5, random_state=2,
                                     oob_score=True).fit(x, binary)
    np.testing.assert_allclose(bprob, bforest.predict_proba(q)[:, 1])
    # The probability image is a float band.
    prob_image = ee.Image("ML/scene").classify(base.setOutputMode("PROBABILITY").train(bfc, "zone"))
    values = pixels(ee, prob_image, "classification")
    assert values.dtype == np.float64 and 0 <= values.min() and values.max() <= 1


@pytest.mark.parametrize("make", ["knn", "svr", "gtb", "cart"])
def test_regressors_match_sklearn(ee, split, make):
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    (rows, cols, labels), (trows, tcols, tlabels) = split
    x, q = _table(rows, cols), _table(trows, tcols)
    cases = {
        "knn": (ee.Classifier.smileKNN(4), KNeighborsRegressor(4)),
        "svr": (ee.Classifier.libsvm(svmType="EPSILON_SVR", kernelType="RBF", gamma=3.0, cost=5.0, lossEpsilon=0.01),
                SVR(kernel="rbf", gamma=3.0, C=5.0, epsilon=0.01)),
        "gtb": (ee.Classifier.smileGradientTreeBoost(30, shrinkage=0.1, samplingRate=1.0, loss="LeastSquares"),
                GradientBoostingRegressor(n_estimators=30, learning_rate=0.1, subsample=1.0, random_state=0)),
        "cart": (ee.Classifier.smileCart(maxNodes=8), DecisionTreeRegressor(max_leaf_nodes=8, random_state=0)),
    }
    classifier, reference = cases[make]
    trained = classifier.setOutputMode("REGRESSION").train(training_features(ee, rows, cols, labels), "B1",
                                                           ["B2", "B3"])
    got = training_features(ee, trows, tcols, tlabels).classify(trained, "b1").aggregate_array("b1").getInfo()
    np.testing.assert_allclose(got, reference.fit(x[:, 1:], x[:, 0]).predict(q[:, 1:]), rtol=1e-9, atol=1e-12)


def test_training_confusion_matrix_is_resubstitution(ee, split):
    from sklearn.metrics import confusion_matrix
    from sklearn.tree import DecisionTreeClassifier

    (rows, cols, labels), _ = split
    classifier = ee.Classifier.smileCart(maxNodes=3).train(training_features(ee, rows, cols, labels), "zone")
    got = classifier.confusionMatrix().getInfo()
    x = _table(rows, cols)
    predicted = DecisionTreeClassifier(max_leaf_nodes=3, random_state=0).fit(x, labels).predict(x)
    np.testing.assert_array_equal(got, confusion_matrix(labels, predicted, labels=[0, 1, 2]))


def test_subsampling_is_seeded(ee, split):
    (rows, cols, labels), _ = split
    fc = training_features(ee, rows, cols, labels)

    def trained(seed):
        return ee.Classifier.smileKNN(1).train(fc, "zone", subsampling=0.5, subsamplingSeed=seed)

    n = trained(1).explain().getInfo()["numberOfTrainingFeatures"]
    keep = np.random.default_rng(1).random(100) < 0.5
    assert n == keep.sum()
    a = pixels(ee, ee.Image("ML/scene").classify(trained(1)), "classification")
    b = pixels(ee, ee.Image("ML/scene").classify(trained(1)), "classification")
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_fail_clearly_and_server_keeps_serving(ee, split):
    (rows, cols, labels), _ = split
    fc = training_features(ee, rows, cols, labels)
    with pytest.raises(ee.EEException, match="class property 'nope' is not in the training features"):
        ee.Classifier.smileKNN().train(fc, "nope").schema().getInfo()
    with pytest.raises(ee.EEException, match="property 'B9' is not in the training features"):
        ee.Classifier.smileKNN().train(fc, "zone", ["B1", "B9"]).schema().getInfo()
    single = training_features(ee, rows[:5], cols[:5], np.zeros(5, int))
    with pytest.raises(ee.EEException, match="single class"):
        single.classify(ee.Classifier.smileRandomForest(5).train(single, "zone")).getInfo()
    with pytest.raises(ee.EEException, match="has no band 'B1'"):
        ee.Image("ML/zones").classify(ee.Classifier.smileKNN().train(fc, "zone")).getInfo()
    with pytest.raises(ee.EEException, match="not been trained"):
        ee.Image("ML/scene").classify(ee.Classifier.smileKNN()).getInfo()
    with pytest.raises(ee.EEException, match="unknown mode"):
        ee.Classifier.smileKNN().setOutputMode("FANCY").mode().getInfo()
    assert ee.Classifier.smileKNN(1).train(fc, "zone").schema().getInfo() == list(BANDS)


# --- end to end on the demo catalog: Slovenia land cover --------------------------------------------------

SLOVENIA_POLYGONS = "projects/local/assets/slovenia_lulc"
SLOVENIA_SCENES = "COPERNICUS/S2_HARMONIZED"


def _table_of(features: list[dict], names: list[str], label: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[f["properties"][n] for n in names] for f in features], np.float64)
    y = np.array([f["properties"][label] for f in features], np.int64)
    return x, y


def _scene_pixels(local_server, image_id: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The scene's bands read straight from its GeoTIFF: (H*W, d) float64 and the valid mask (H, W)."""
    import rasterio

    record = local_server.catalog.get(image_id)
    bands = {b["id"]: b for b in record.manifest["bands"]}
    with rasterio.open(local_server.catalog.band_path(record, bands[names[0]])) as ds:
        data = ds.read([bands[n]["band"] for n in names]).astype(np.float64)
    valid = (data != 0).all(axis=0)  # nodata 0 in any input masks the pixel
    return data.reshape(len(names), -1).T, valid


def test_slovenia_knn_and_random_forest_match_sklearn(ee_local, local_server):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, confusion_matrix
    from sklearn.neighbors import KNeighborsClassifier

    ee = ee_local
    scene = ee.ImageCollection(SLOVENIA_SCENES).first()
    names = scene.bandNames().getInfo()
    samples = scene.sampleRegions(collection=ee.FeatureCollection(SLOVENIA_POLYGONS), properties=["LULC_ID"],
                                  scale=20).randomColumn("random", 7)
    train = samples.filter(ee.Filter.lt("random", 0.7))
    test = samples.filter(ee.Filter.gte("random", 0.7))
    x, y = _table_of(train.getInfo()["features"], names, "LULC_ID")
    tx, ty = _table_of(test.getInfo()["features"], names, "LULC_ID")
    assert len(y) > 1000 and len(ty) > 500 and len(np.unique(y)) >= 4
    labels = list(range(int(max(y.max(), ty.max())) + 1))
    models = {
        "knn": (ee.Classifier.smileKNN(5), KNeighborsClassifier(5)),
        "forest": (ee.Classifier.smileRandomForest(20, seed=3),
                   RandomForestClassifier(n_estimators=20, max_features=int(np.sqrt(len(names))), max_samples=0.5,
                                          random_state=3, oob_score=True)),
    }
    image_id = scene.get("system:id").getInfo()
    all_x, valid = _scene_pixels(local_server, image_id, names)
    for name, (classifier, reference) in models.items():
        trained = classifier.train(train, "LULC_ID", names)
        matrix = test.classify(trained).errorMatrix("LULC_ID", "classification")
        reference.fit(x, y)
        predicted = reference.predict(tx)
        np.testing.assert_array_equal(matrix.getInfo(), confusion_matrix(ty, predicted, labels=labels), name)
        assert matrix.accuracy().getInfo() == pytest.approx(accuracy_score(ty, predicted)), name
        assert matrix.accuracy().getInfo() > 0.6, name
        # The whole scene, classified on its own grid, against scikit-learn on the GeoTIFF's pixels.
        classified = ee.data.computePixels({"expression": scene.classify(trained).unmask(255),
                                            "fileFormat": "NUMPY_NDARRAY"})["classification"]
        expected = np.full(valid.shape, 255)
        expected[valid] = reference.predict(all_x[valid.ravel()])
        np.testing.assert_array_equal(classified, expected, name)


def test_deprecated_names_run_the_smile_implementations(ee, split):
    (rows, cols, labels), (trows, tcols, tlabels) = split
    fc, test = training_features(ee, rows, cols, labels), training_features(ee, trows, tcols, tlabels)
    pairs = [(ee.Classifier.randomForest(10, seed=4), ee.Classifier.smileRandomForest(10, seed=4)),
             (ee.Classifier.svm(kernelType="RBF", gamma=2.0), ee.Classifier.libsvm(kernelType="RBF", gamma=2.0)),
             (ee.Classifier.cart(maxDepth=30), ee.Classifier.smileCart())]
    for old, new in pairs:
        got = test.classify(old.train(fc, "zone")).aggregate_array("classification").getInfo()
        assert got == test.classify(new.train(fc, "zone")).aggregate_array("classification").getInfo()
