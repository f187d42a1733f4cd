"""Indexes of real AlphaEarth vectors: the sample embedding collection (served by a local engine) and the 2160
sample points of data/alphaearth_samples (three regions, Dynamic World labels), checked against exact search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from local_engine import running_engine

from aef_ee.demo.sample_embeddings import SAMPLE_COLLECTION, build_sample_embedding_collection, sample_embedding_field
from aef_ee.fields.collection import EMBEDDING_BANDS, dequantize_array, quantize_array
from aef_ee.paths import data_dir
from aef_ee.search import IvfParams, Samples, Sampling, Tile, build_index
from aef_ee.search.ann import exact_top_k

REGIONS = ("iowa_ag", "california_coast", "sf_bay_urban")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frames = [pd.read_csv(data_dir() / "alphaearth_samples" / f"alphaearth_s1_dw_samples_{r}_2024.csv")
              for r in REGIONS]
    return pd.concat(frames, ignore_index=True)


def _recall_by_score(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k scores reached (equal vectors make row ids ambiguous; scores are not)."""
    kth = exact[:, -1:]
    return float(np.mean(found >= kth - 1e-3))


def test_sample_collection_index_recall(tmp_path, table):
    with running_engine(tmp_path / "catalog"):
        build_sample_embedding_collection(tmp_path / "catalog" / ".sample-cogs")  # under the served folder
        index = build_index(SAMPLE_COLLECTION, years=[2023, 2024], sampling=Sampling("stride", 10),
                            path=tmp_path / "index", method="ivf", ivf=IvfParams(probes=8))
    fields = sample_embedding_field()
    # What the collection holds: the vectors as its int8 COGs store them, re-normalised.
    expected = dequantize_array(quantize_array(np.concatenate([fields[y].reshape(-1, 64) for y in (2023, 2024)])))
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(index.vectors(np.arange(len(index))), expected, atol=1e-3)  # float16 storage
    # Queries: every real sample vector of the three regions (most lie far from this Iowa field).
    queries = table[EMBEDDING_BANDS].to_numpy(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact, _ = exact_top_k(queries, lambda a, b: expected[a:b].astype(np.float32), len(expected), 10)
    found = np.array([[h.score for h in index.search(q, k=10).hits] for q in queries])
    recall = _recall_by_score(found, exact)
    print(f"recall@10 on the sample collection, {len(queries)} real queries: {recall:.4f}")
    assert recall >= 0.95


def test_real_sample_points_index(tmp_path, table):
    vectors = table[EMBEDDING_BANDS].to_numpy(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    n = len(table)
    samples = Samples(vectors, table.longitude.to_numpy(), table.latitude.to_numpy(),
                      np.full(n, 2024, np.int16), np.zeros(n, np.int32), np.ones(n, np.uint16))
    tile = Tile("alphaearth_samples", 2024, "EPSG:4326", (1.0, 0.0, 0.0, 0.0, -1.0, 0.0), 1, 1, False)
    index = build_index("alphaearth_samples", years=[2024], path=tmp_path / "points", method="ivf",
                        samples=([tile], samples), ivf=IvfParams(probes=6))
    exact_scores, exact_rows = exact_top_k(vectors, lambda a, b: index.vectors(np.arange(a, b)), n, 11)
    results = [index.search(v, k=11) for v in vectors]
    found = np.array([[h.score for h in r.hits] for r in results])
    recall = _recall_by_score(found, exact_scores)
    print(f"recall@10 on {n} real sample points: {recall:.4f}")
    assert recall >= 0.95
    # Each point finds itself first.
    assert np.mean([r.hits[0].score > 0.999 for r in results]) == 1.0
    # Real embeddings carry meaning: a point's nearest other points mostly share its Dynamic World class and region.
    labels, regions = table.dw_label.to_numpy(), table.region.to_numpy()
    same_class = np.mean([[labels[h.row] == labels[i] for h in r.hits[1:]] for i, r in enumerate(results)])
    same_region = np.mean([[regions[h.row] == regions[i] for h in r.hits[1:]] for i, r in enumerate(results)])
    print(f"neighbours sharing the class: {same_class:.3f}; the region: {same_region:.3f}")
    assert same_class > 0.5 and same_region > 0.8
    # Region filter: the San Francisco Bay box holds only the sf_bay_urban points.
    bay = index.search(vectors[0], k=50, region=[-122.7, 37.1, -121.6, 38.0])
    assert len(bay.hits) == 50 and {regions[h.row] for h in bay.hits} == {"sf_bay_urban"}
