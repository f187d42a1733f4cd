"""The index of every pixel of the test collection: queries checked against exact numpy search on the same vectors,
filters, thresholds, the saved files, and the errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from embedding_field import COLLECTION, CRS, LEFT, TOP

from aef_ee.errors import AefValueError, EmbeddingError
from aef_ee.search import IndexFormatError, Sampling, build_index, open_index
from aef_ee.search import index as index_module

from .conftest import SIZE, exact_scores, unit_values


def _recall(hits, scores: np.ndarray, k: int) -> float:
    """Share of the exact top-k found; ties (the field repeats vectors) count by score, not by row."""
    kth = np.sort(scores)[::-1][k - 1]
    return sum(h.score >= kth - 1e-3 for h in hits) / k


def _queries(field, n: int, seed: int) -> np.ndarray:
    """Pixels of either year plus noise, re-normalised: near the data but never on it."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([unit_values(field, 2023).reshape(-1, 64), unit_values(field, 2024).reshape(-1, 64)])
    q = values[rng.integers(0, len(values), n)] + rng.normal(0, 0.05, (n, 64))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_rows_are_the_pixels(pixel_index, embedding_field):
    assert len(pixel_index) == 2 * SIZE * SIZE and pixel_index.years == [2023, 2024]
    assert pixel_index.ann.method == "ivf"
    stored = pixel_index.vectors(np.arange(len(pixel_index)))
    expected = np.concatenate([unit_values(embedding_field, y).reshape(-1, 64) for y in (2023, 2024)])
    np.testing.assert_allclose(stored, expected, atol=2e-3)  # float16 storage
    assert (pixel_index.lon[SIZE + 3], pixel_index.lat[SIZE + 3]) == pytest.approx(embedding_field.lonlat(1, 3))


def test_recall_against_exact_search(pixel_index, embedding_field):
    recalls = []
    for query in _queries(embedding_field, 50, seed=1):
        result = pixel_index.search(query, k=10)
        assert not result.exact and len(result.hits) == 10
        scores = exact_scores(embedding_field, query)
        np.testing.assert_allclose([h.score for h in result.hits], scores[[h.row for h in result.hits]], atol=2e-3)
        assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
        recalls.append(_recall(result.hits, scores, 10))
    assert np.mean(recalls) >= 0.95


def test_year_and_region_filters(pixel_index, embedding_field, monkeypatch):
    query = _queries(embedding_field, 1, seed=2)[0]
    # Filters answered inside FAISS (IDSelectorBitmap) and by an exact scan of the rows left must agree.
    for exact_rows in (0, index_module.EXACT_FILTERED_ROWS):
        monkeypatch.setattr(index_module, "EXACT_FILTERED_ROWS", exact_rows)
        result = pixel_index.search(query, k=20, years=[2023])
        assert result.exact == bool(exact_rows)
        assert {h.year for h in result.hits} == {2023}
        scores = exact_scores(embedding_field, query, years=(2023,))
        assert _recall(result.hits, scores, 20) >= 0.95
        # The north-east quadrant as a box in degrees: every hit lies in it.
        west, north = embedding_field.lonlat(0, SIZE // 2)
        east, south = embedding_field.lonlat(SIZE // 2 - 1, SIZE - 1)
        box = [west - 1e-5, south - 1e-5, east + 1e-5, north + 1e-5]
        boxed = pixel_index.search(query, k=20, region=box, years=[2024])
        assert len(boxed.hits) == 20
        assert all(box[0] <= h.lon <= box[2] and box[1] <= h.lat <= box[3] and h.year == 2024 for h in boxed.hits)
        # The same quadrant as a GeoJSON polygon.
        ring = [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]], [box[0], box[1]]]
        polygon = pixel_index.search(query, k=20, region={"type": "Polygon", "coordinates": [ring]}, years=[2024])
        assert [h.row for h in polygon.hits] == [h.row for h in boxed.hits]
    empty = pixel_index.search(query, k=5, region=[10.0, 45.0, 10.1, 45.1])
    assert empty.hits == []


def test_threshold_returns_every_row_above_it(pixel_index, embedding_field):
    query = _queries(embedding_field, 1, seed=3)[0]
    scores = exact_scores(embedding_field, query)
    threshold = float(np.quantile(scores, 0.97))
    result = pixel_index.search(query, k=None, threshold=threshold)
    assert all(h.score >= threshold for h in result.hits)
    clear = (scores >= threshold + 2e-3).sum()  # rows far enough above it that float16 cannot move them below
    assert clear * 0.95 <= len(result.hits) <= (scores >= threshold - 2e-3).sum()
    top = pixel_index.search(query, k=3, threshold=threshold)
    np.testing.assert_allclose([h.score for h in top.hits], [h.score for h in result.hits[:3]], atol=1e-6)


def test_query_by_point_and_polygon(ee_emb, pixel_index, embedding_field):
    ee = ee_emb
    values = unit_values(embedding_field, 2024)
    lon, lat = embedding_field.lonlat(25, 7)  # a crops pixel
    result = pixel_index.query((lon, lat), year=2024, k=10, years=[2024])
    np.testing.assert_allclose(result.query, values[25, 7], atol=1e-5)
    assert result.hits[0].score == pytest.approx(1.0, abs=2e-3)
    classes = embedding_field.classes[2024].ravel()
    assert all(classes[h.row - SIZE * SIZE] == 4 for h in result.hits)  # crops finds crops
    # A polygon: the mean of the pixels it covers (rows 22-24, columns 2-4, edges on pixel edges), re-normalised.
    rectangle = ee.Geometry.Rectangle([LEFT + 20, TOP - 250, LEFT + 50, TOP - 220], CRS, False)
    polygon = pixel_index.query(rectangle, year=2024, k=5)
    from aef_ee.fields.collection import dequantize_array

    raw = dequantize_array(embedding_field.codes[2024].transpose(1, 2, 0))[22:25, 2:5].reshape(-1, 64)
    mean = raw.mean(axis=0)
    np.testing.assert_allclose(polygon.query, mean / np.linalg.norm(mean), atol=1e-5)
    # GeoJSON works as well as ee geometries; a place outside the collection is a clear error.
    geojson = pixel_index.query({"type": "Point", "coordinates": [lon, lat]}, year=2024, k=1, years=[2024])
    np.testing.assert_array_equal(geojson.query, result.query)
    with pytest.raises(EmbeddingError, match="no embeddings for 2024 over the region"):
        pixel_index.query((10.0, 45.0), year=2024)


def test_saved_index_is_versioned_and_reopens(pixel_index, embedding_field, tmp_path):
    folder = pixel_index.path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "aef-ee-embedding-index" and manifest["format_version"] == 1
    assert manifest["generation"] == 1 and manifest["rows"] == 3200
    assert manifest["sampling"] == {"method": "stride", "scale": 10.0}
    assert manifest["search"]["library"] == "faiss" and manifest["search"]["probes"] == 8
    assert [t["rows"] for t in manifest["tiles"]] == [1600, 1600]
    assert sorted(p.name for p in folder.iterdir()) == ["ann-000001.faiss", "manifest.json", "segment-000001.npz"]
    reopened = open_index(folder)
    query = _queries(embedding_field, 1, seed=4)[0]
    assert [h.row for h in reopened.search(query, k=10).hits] == [h.row for h in pixel_index.search(query, k=10).hits]
    with pytest.raises(AefValueError, match="already exists"):
        build_index(COLLECTION, years=[2024], sampling=Sampling("stride", 10), path=folder)
    with pytest.raises(IndexFormatError, match="no embedding index"):
        open_index(tmp_path / "nothing")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(dict(manifest, format_version=99)))
    with pytest.raises(IndexFormatError, match="version 99"):
        open_index(tmp_path / "old")


def test_small_indexes_search_exactly(ee_emb, embedding_field, tmp_path):
    index = build_index(COLLECTION, years=[2024], sampling=Sampling("mean", 40), path=tmp_path / "exact")
    assert index.ann.method == "exact" and len(index) == 100
    query = _queries(embedding_field, 1, seed=5)[0]
    result = index.search(query, k=100)
    assert result.exact
    expected = np.sort(index.vectors(np.arange(100)) @ query)[::-1]
    np.testing.assert_allclose([h.score for h in result.hits], expected, atol=1e-6)
    assert {h.pixels for h in result.hits} == {16}
    reopened = open_index(tmp_path / "exact")
    assert [h.row for h in reopened.search(query, k=5).hits] == [h.row for h in result.hits[:5]]


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "k must be"), ({"k": 10**6}, "k must be"), ({"k": None}, "give k, a threshold"),
    ({"threshold": 1.5}, "threshold must be"), ({"years": []}, "at least one year"),
    ({"region": [0, 10, 1, 5]}, "south < north"), ({"region": {"type": "LineString", "coordinates": []}}, "Polygon"),
])
def test_bad_queries_are_refused(pixel_index, kwargs, message):
    with pytest.raises(AefValueError, match=message):
        pixel_index.search(np.ones(64), **kwargs)


@pytest.mark.parametrize("vector, message", [([1.0, 2.0], "64 numbers"), (np.zeros(64), "not all zeros"),
                                             ([float("nan")] * 64, "finite")])
def test_bad_vectors_are_refused(pixel_index, vector, message):
    with pytest.raises(AefValueError, match=message):
        pixel_index.search(vector)


def test_overwrite_writes_a_new_generation(ee_emb, tmp_path):
    first = build_index(COLLECTION, years=[2024], sampling=Sampling("mean", 40), path=tmp_path / "idx")
    second = build_index(COLLECTION, years=[2023], sampling=Sampling("mean", 40), path=tmp_path / "idx",
                         overwrite=True)
    assert (first.generation, second.generation) == (1, 2)
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["manifest.json", "segment-000002.npz"]
    reopened = open_index(tmp_path / "idx")
    assert reopened.years == [2023] and len(reopened) == 100
