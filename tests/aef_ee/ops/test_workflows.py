"""The embedding workflows end to end through the real ee client against the local engine, checked against numpy
and scikit-learn on the same data."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from sklearn.neighbors import KNeighborsClassifier

from aef_ee import ops
from aef_ee.fields.collection import EMBEDDING_BANDS, dequantize_array, open_embeddings
from aef_ee.errors import AefValueError, EmbeddingError

from .conftest import COLLECTION, CRS, LEFT, SIZE, TOP, pixels, region


def _stack(structured: np.ndarray) -> np.ndarray:
    return np.stack([structured[b] for b in EMBEDDING_BANDS], axis=-1)


def test_open_embeddings_dequantises_in_native_projection(ee_emb, embedding_field):
    ee = ee_emb
    image = open_embeddings(2024, region(ee), collection=COLLECTION)
    proj = image.projection().getInfo()
    assert proj["crs"] == CRS
    assert proj["transform"][0] == 10
    got = _stack(pixels(ee, image))
    expected = dequantize_array(embedding_field.codes[2024].transpose(1, 2, 0))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # The real vectors lie on the quantisation grid: de-quantising the codes gives them back.
    np.testing.assert_allclose(expected, embedding_field.values[2024], atol=1e-6)
    norms = np.linalg.norm(got, axis=-1)
    assert abs(norms.mean() - 1) < 0.01


def test_missing_year_is_a_clear_error(ee_emb):
    with pytest.raises(EmbeddingError, match=r"no embeddings for 2019.*2023, 2024"):
        open_embeddings(2019, collection=COLLECTION)


def test_similarity_search(ee_emb, embedding_field):
    ee = ee_emb
    image = open_embeddings(2024, collection=COLLECTION)
    lon, lat = embedding_field.lonlat(25, 7)  # a south-west (crops) pixel
    reference = ops.reference_vector(image, ee.Geometry.Point([lon, lat]))
    values = embedding_field.values[2024]
    expected_ref = values[25, 7] / np.linalg.norm(values[25, 7])
    np.testing.assert_allclose(reference, expected_ref, atol=1e-6)
    sim = pixels(ee, ops.similarity(image, reference), "similarity")
    np.testing.assert_allclose(sim, values @ expected_ref, atol=1e-5)
    # Polygons of similar areas: their total area is the area of the pixels over the threshold.
    threshold = float(np.quantile(sim, 0.8))
    areas = ops.similar_areas(ops.similarity(image, reference), region(ee), threshold=threshold)
    info = areas.getInfo()
    total = sum(f["properties"]["area_m2"] for f in info["features"])
    assert total == pytest.approx((sim >= threshold).sum() * 100.0, rel=0.01)


def test_reference_outside_the_collection(ee_emb):
    ee = ee_emb
    image = open_embeddings(2024, collection=COLLECTION)
    with pytest.raises(EmbeddingError, match="outside"):
        ops.reference_vector(image, ee.Geometry.Point([10.0, 45.0]))


def test_knn_classification_matches_scikit_learn(ee_emb, embedding_field):
    ee = ee_emb
    image = open_embeddings(2024, collection=COLLECTION)
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(0, SIZE, 60), rng.integers(0, SIZE, 60)
    classes = embedding_field.classes[2024]
    labels = ops.classification.labels_from_points(
        [(*embedding_field.lonlat(r, c), int(classes[r, c])) for r, c in zip(rows, cols, strict=True)],
        "class")
    train, validation = ops.split_labels(labels, fraction=0.5, seed=3)
    classifier, samples = ops.train_classifier(image, train, "class", k=3)
    classified = pixels(ee, ops.classify(image, classifier), "classification")
    # scikit-learn on exactly the training samples Earth Engine used.
    table = samples.getInfo()["features"]
    x = np.array([[f["properties"][b] for b in EMBEDDING_BANDS] for f in table])
    y = np.array([f["properties"]["class"] for f in table])
    knn = KNeighborsClassifier(n_neighbors=3).fit(x, y)
    expected = knn.predict(embedding_field.values[2024].reshape(-1, 64)).reshape(SIZE, SIZE)
    assert (classified == expected).mean() > 0.995, (classified != expected).sum()
    report = ops.accuracy_report(classifier, ops.sample_labels(image, validation, "class"), "class")
    val = ops.sample_labels(image, validation, "class").getInfo()["features"]
    xv = np.array([[f["properties"][b] for b in EMBEDDING_BANDS] for f in val])
    yv = np.array([f["properties"]["class"] for f in val])
    assert report.n == len(yv)
    assert report.overall == pytest.approx(float((knn.predict(xv) == yv).mean()))
    assert report.order == sorted(set(yv) | set(knn.predict(xv)))


def test_bad_labels_are_refused(ee_emb, embedding_field):
    image = open_embeddings(2024, collection=COLLECTION)
    one_class = ops.classification.labels_from_points([(*embedding_field.lonlat(1, 1), 6),
                                                       (*embedding_field.lonlat(2, 2), 6)])
    with pytest.raises(AefValueError, match="at least two"):
        ops.train_classifier(image, one_class, "class")
    outside = ops.classification.labels_from_points([(*embedding_field.lonlat(1, 1), 6), (10.0, 45.0, 1)])
    with pytest.raises(AefValueError, match=r"\['1'\].*no embedding samples"):
        ops.train_classifier(image, outside, "class")


def test_clustering_is_repeatable_and_consistent(ee_emb, embedding_field):
    ee = ee_emb
    image = open_embeddings(2023, collection=COLLECTION)
    result = ops.cluster(image, region(ee), n_clusters=4, num_pixels=400, seed=5)
    first = pixels(ee, result.image, "cluster")
    again = pixels(ee, ops.cluster(image, region(ee), n_clusters=4, num_pixels=400, seed=5).image, "cluster")
    np.testing.assert_array_equal(first, again)
    assert set(np.unique(first)) <= {0, 1, 2, 3}
    # Pixel by pixel, the cluster image agrees with clustering the same pixels as a table.
    points = image.sample(region=region(ee), scale=10, numPixels=60, seed=1, geometries=True)
    clustered = points.cluster(result.clusterer).getInfo()["features"]
    assert len(clustered) >= 30
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    for feature in clustered:
        x, y = to_utm.transform(*feature["geometry"]["coordinates"])
        row, col = int((TOP - y) // 10), int((x - LEFT) // 10)
        assert feature["properties"]["cluster"] == first[row, col]
    areas = ops.cluster_areas(result.image, region(ee)).getInfo()
    counts = np.bincount(first.ravel(), minlength=4)
    for label, area in areas.items():
        assert area == pytest.approx(counts[int(label)] * 100.0, rel=0.005)
    assert len(result.legend()) == 4


def test_change_detection(ee_emb, embedding_field):
    ee = ee_emb
    a = open_embeddings(2023, collection=COLLECTION)
    b = open_embeddings(2024, collection=COLLECTION)
    change = ops.change_image(a, b, threshold=0.8)
    out = pixels(ee, change)
    expected = np.einsum("hwc,hwc->hw", embedding_field.values[2023], embedding_field.values[2024])
    np.testing.assert_allclose(out["similarity"], expected, atol=1e-5)
    np.testing.assert_array_equal(out["changed"], (expected < 0.8).astype(out["changed"].dtype))
    h = SIZE // 2
    assert out["changed"][:h, :h].mean() > 0.9   # water -> built
    assert out["changed"][h:, h:].mean() == 0.0  # unchanged pixels are identical vectors
    areas = ops.change_areas(change, region(ee)).getInfo()
    assert areas["changed_m2"] == pytest.approx((expected < 0.8).sum() * 100.0, rel=0.005)


def test_export_classified_raster_to_drive(ee_emb, embedding_field):
    ee = ee_emb
    image = open_embeddings(2024, collection=COLLECTION)
    classes = embedding_field.classes[2024]
    labels = ops.classification.labels_from_points(
        [(*embedding_field.lonlat(r, c), int(classes[r, c])) for r in (3, 12, 27, 35) for c in (4, 15, 24, 33)])
    classifier, _ = ops.train_classifier(image, labels, "class", k=1)
    classified = ops.classify(image, classifier).toUint8()
    task = ops.export_image_to_drive(classified, region(ee), description="classes", folder="aef-tests",
                                     wait_for=True, progress=False)
    assert task.status()["state"] == "COMPLETED"
    path = embedding_field.root.parent / "drive" / "aef-tests" / "classes.tif"
    with rasterio.open(path) as ds:
        assert ds.crs.to_string() == CRS
        assert tuple(ds.transform)[:6] == (10.0, 0.0, LEFT, 0.0, -10.0, TOP)
        assert (ds.width, ds.height) == (SIZE, SIZE)
        np.testing.assert_array_equal(ds.read(1), pixels(ee, classified, "classification"))
    with pytest.raises(ee.EEException, match="Export too large: specified"):
        ops.export_image_to_drive(classified, region(ee), description="too-big", max_pixels=100, progress=False)
