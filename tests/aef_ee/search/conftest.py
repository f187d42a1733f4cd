"""Indexes of the workflow tests' embedding collection (tests/aef_ee/embedding_field.py), built once per module."""

from __future__ import annotations

import numpy as np
import pytest
from embedding_field import COLLECTION, SIZE

from aef_ee.fields.collection import dequantize_array
from aef_ee.search import IvfParams, Sampling, build_index


def unit_values(field, year: int) -> np.ndarray:
    """(SIZE, SIZE, 64) float64 de-quantised embeddings of ``year``, re-normalised as the index stores them."""
    values = dequantize_array(field.codes[year].transpose(1, 2, 0)).astype(np.float64)
    return values / np.linalg.norm(values, axis=-1, keepdims=True)


def exact_scores(field, query: np.ndarray, years=(2023, 2024)) -> np.ndarray:
    """Every pixel's similarity to ``query``, the rows of a stride-10 m index in its order (year, row, column)."""
    return np.concatenate([(unit_values(field, y) @ query).ravel() for y in years])


@pytest.fixture(scope="module")
def pixel_index(embedding_field, tmp_path_factory):
    """Every pixel of both years (stride sampling at 10 m) in a FAISS IVF index: 3200 rows."""
    from local_engine import connect

    connect(embedding_field.server)
    return build_index(COLLECTION, years=[2023, 2024], sampling=Sampling("stride", 10),
                       path=tmp_path_factory.mktemp("index") / "pixels", method="ivf", ivf=IvfParams(probes=8))


__all__ = ["SIZE", "exact_scores", "unit_values"]
