"""Similarity search: the dot product of every pixel's embedding with a reference embedding.

Embeddings are unit vectors, so the dot product is the cosine similarity (1 = same direction, 0 = unrelated). The
reference is the mean of the embeddings at the reference locations, re-normalised to unit length (the mean of unit
vectors is shorter than 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M
from aef_ee.errors import EmbeddingError

__all__ = ["reference_vector", "similarity", "similar_areas"]


def _reference_geometry(references: Any) -> Any:
    import ee

    if isinstance(references, ee.Geometry):
        return references
    if isinstance(references, (ee.Feature, ee.FeatureCollection)):
        return references.geometry()
    if isinstance(references, (list, tuple)) and references and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in references):
        return ee.Geometry.MultiPoint([list(map(float, p)) for p in references])
    raise EmbeddingError(
        "references must be an ee.Geometry, Feature, FeatureCollection, a list of [lon, lat] points, or a "
        f"64-number vector; got {type(references).__name__}")


def reference_vector(embeddings: Any, references: Any, *, scale: float = NATIVE_SCALE_M, check: bool = True) -> Any:
    """The unit-length mean embedding at the references, as an ``ee.List`` of 64 numbers.

    Args:
      embeddings: an ``ee.Image`` with bands A00..A63 (see :func:`aef_ee.fields.collection.open_embeddings`).
      references: points, polygons, features, or a vector of 64 numbers (used as is, re-normalised).
      scale: sampling scale in metres (the embeddings' native 10 m by default).
      check: compute the vector now (one small request) and raise if no reference touches a valid embedding;
        the result is then a plain list of 64 floats.

    Raises:
      EmbeddingError: every reference lies outside the embeddings (or on masked pixels).
    """
    import ee

    if _is_vector(references):
        values = [float(v) for v in references]
        norm = sum(v * v for v in values) ** 0.5
        if norm == 0:
            raise EmbeddingError("the reference vector is all zeros")
        return [v / norm for v in values]
    geometry = _reference_geometry(references)
    means = ee.Image(embeddings).select(EMBEDDING_BANDS).reduceRegion(
        reducer=ee.Reducer.mean(), geometry=geometry, scale=scale, maxPixels=1e9)
    values = ee.List(EMBEDDING_BANDS).map(lambda band: means.get(band))
    if check:
        means_info = values.getInfo()
        if any(v is None for v in means_info):
            raise EmbeddingError(
                "no valid embedding under the references: they lie outside the embedding collection's coverage "
                "(or on masked pixels)")
        return reference_vector(embeddings, means_info)
    norm = ee.Number(values.map(lambda v: ee.Number(v).pow(2)).reduce(ee.Reducer.sum())).sqrt()
    return values.map(lambda v: ee.Number(v).divide(norm))


def _is_vector(value: Any) -> bool:
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return value.ndim == 1 and value.shape[0] == len(EMBEDDING_BANDS)
    except ImportError:  # numpy is a core dependency; kept defensive for minimal installs
        pass
    return isinstance(value, Sequence) and len(value) == len(EMBEDDING_BANDS) and all(
        isinstance(v, (int, float)) for v in value)


def similarity(embeddings: Any, reference: Any, *, name: str = "similarity") -> Any:
    """Per-pixel dot product with ``reference`` (an ``ee.List`` / list of 64 numbers): an ``ee.Image`` band."""
    import ee

    if _is_vector(reference):
        reference = [float(v) for v in reference]
    ref_image = ee.Image.constant(reference).rename(EMBEDDING_BANDS)
    return ee.Image(embeddings).select(EMBEDDING_BANDS).multiply(ref_image).reduce(ee.Reducer.sum()).rename(name)


def similar_areas(
    similarity_image: Any,
    region: Any,
    *,
    threshold: float = 0.9,
    scale: float = NATIVE_SCALE_M,
    max_pixels: float = 1e9,
    eight_connected: bool = True,
) -> Any:
    """Polygons of connected pixels with similarity >= ``threshold``, each with its ``area_m2`` and mean similarity.

    Returns:
      ``ee.FeatureCollection`` of polygons with properties ``area_m2`` and ``mean_similarity``.
    """
    import ee

    if not -1.0 <= threshold <= 1.0:
        raise EmbeddingError(f"threshold must be within [-1, 1]; got {threshold!r}")
    sim = ee.Image(similarity_image)
    mask = sim.gte(threshold).selfMask().rename("label")
    vectors = mask.addBands(sim.rename("mean_similarity")).reduceToVectors(
        reducer=ee.Reducer.mean(), geometry=region, scale=scale, geometryType="polygon",
        eightConnected=eight_connected, labelProperty="label", maxPixels=max_pixels)
    return vectors.map(lambda f: f.set("area_m2", f.geometry().area(1)))
