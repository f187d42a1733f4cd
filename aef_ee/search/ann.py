"""The nearest-neighbour engines behind an index: exact numpy search (the floor) and FAISS's inverted file.

Both rank unit vectors by inner product (the cosine similarity) and answer ``(scores, rows)`` with ``-1`` rows where
fewer than ``k`` rows qualify. ``allowed`` restricts a search to some rows (the year and region filters):

- :class:`ExactSearch`: a dot product with every (allowed) row, in chunks; exact, and the floor the benchmark
  measures the others against.
- :class:`IvfSearch`: FAISS ``IndexIVFScalarQuantizer`` (int8 codes per dimension, 64 bytes a vector) whose
  candidates are re-scored exactly on the stored vectors. FAISS was chosen over ScaNN and usearch on the measurements
  in ``docs/search.md`` (``benchmarks/similarity_index.py``): it reaches the recall target at the latency target on
  this hardware, builds 10^7 vectors in minutes on two cores, adds vectors to a trained index (incremental
  updates), filters inside the search (``IDSelectorBitmap``) and saves to one file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from aef_ee.errors import AefValueError

__all__ = ["ANN_METHODS", "IvfParams", "ExactSearch", "IvfSearch", "exact_top_k"]

log = logging.getLogger(__name__)

ANN_METHODS = ("exact", "ivf")
_DIMS = 64
# Rows scored per numpy block: (queries x rows) float32 scores stay around 64 MB.
_EXACT_BLOCK_VALUES = 16 * 2**20
# Below this many rows an IVF index gives nothing over an exact scan (and its k-means has too few points per list).
MIN_IVF_ROWS = 10_000


def exact_top_k(queries: np.ndarray, vectors: Callable[[int, int], np.ndarray], n: int, k: int,
                rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The exact top ``k`` rows by inner product, scanning ``vectors(start, stop)`` (float32) in blocks.

    Args:
      queries: (q, 64) float32.
      vectors: returns rows [start, stop) of the candidates as (m, 64) float32.
      n: the number of candidates.
      k: neighbours per query.
      rows: the row number of each candidate (default: 0..n-1).

    Returns:
      (scores (q, k) float32 descending, rows (q, k) int64; -1 and -inf where fewer than k candidates).
    """
    q = len(queries)
    best_s = np.full((q, k), -np.inf, np.float32)
    best_i = np.full((q, k), -1, np.int64)
    block = max(1024, _EXACT_BLOCK_VALUES // max(q, 1))
    for start in range(0, n, block):
        stop = min(n, start + block)
        scores = queries @ vectors(start, stop).T
        kk = min(k, stop - start)
        part = np.argpartition(scores, -kk, axis=1)[:, -kk:] if kk < stop - start else np.broadcast_to(
            np.arange(stop - start), (q, stop - start))
        cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
        found = part + start if rows is None else rows[part + start]
        cand_i = np.concatenate([best_i, found], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
    return best_s, best_i


class ExactSearch:
    """Exact inner-product search over the float32 vectors it is given (kept in memory)."""

    method = "exact"

    def __init__(self, vectors: np.ndarray | None = None) -> None:
        self.vectors = np.empty((0, _DIMS), np.float32) if vectors is None else np.ascontiguousarray(
            vectors, np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def params(self) -> dict[str, Any]:
        return {"method": self.method, "library": "numpy", "library_version": np.__version__}

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, np.float32)])

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            return exact_top_k(queries, lambda a, b: self.vectors[a:b], len(self.vectors), k)
        rows = np.flatnonzero(allowed)
        return exact_top_k(queries, lambda a, b: self.vectors[rows[a:b]], len(rows), k, rows)


@dataclasses.dataclass(frozen=True)
class IvfParams:
    """The inverted file's shape and effort.

    Attributes:
      lists: k-means cells (None: about sqrt(n), FAISS's usual advice, at least 1).
      probes: cells scanned per query (the recall / speed knob).
      rerank: candidates (times k) re-scored exactly on the stored vectors; mends the int8 codes' ties.
      train_size: vectors k-means trains on (at most), a random sample.
    """

    lists: int | None = None
    probes: int = 16
    rerank: int = 4
    train_size: int = 200_000

    def __post_init__(self) -> None:
        if self.lists is not None and self.lists < 1:
            raise AefValueError(f"lists must be at least 1; got {self.lists!r}")
        if self.probes < 1 or self.rerank < 1 or self.train_size < 1:
            raise AefValueError(f"probes, rerank and train_size must be at least 1; got {self!r}")


class IvfSearch:
    """FAISS IVF with int8 scalar-quantised codes and an exact re-score of the best candidates.

    Args:
      params: the index shape (see :class:`IvfParams`).
      vectors: a function giving the stored float32 vectors of some rows (for the exact re-score).
    """

    method = "ivf"

    def __init__(self, params: IvfParams, vectors: Callable[[np.ndarray], np.ndarray], index: Any = None) -> None:
        self.ivf_params = params
        self.vectors = vectors
        self.index = index

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def params(self) -> dict[str, Any]:
        import faiss

        lists = None if self.index is None else int(self.index.nlist)
        return {"method": self.method, "library": "faiss", "library_version": faiss.__version__,
                **dataclasses.asdict(self.ivf_params), "lists": lists}

    def train(self, sample: np.ndarray, n_total: int, *, seed: int = 0) -> None:
        """Trains the coarse k-means and the int8 ranges on ``sample`` (float32 rows)."""
        import faiss

        lists = self.ivf_params.lists or max(1, int(round(n_total ** 0.5)))
        # FAISS needs 39 points per centroid to train without warning; fewer lists when the sample is small.
        lists = max(1, min(lists, len(sample) // 39))
        quantizer = faiss.IndexFlatIP(_DIMS)
        index = faiss.IndexIVFScalarQuantizer(quantizer, _DIMS, lists, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(np.ascontiguousarray(sample, np.float32))
        index.nprobe = self.ivf_params.probes
        self.index = index

    def add(self, vectors: np.ndarray, first_row: int) -> None:
        """Adds rows ``first_row..first_row+len(vectors)-1``."""
        rows = np.arange(first_row, first_row + len(vectors), dtype=np.int64)
        self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), rows)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        fetch = k * self.ivf_params.rerank
        selector = None
        probes = self.ivf_params.probes
        if allowed is not None:
            bits = np.packbits(allowed.astype(np.uint8), bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            # A filter keeping a fraction f of the rows scans 1/f times the cells, so that about as many allowed
            # rows are scored as without a filter.
            fraction = max(float(allowed.mean()), 1e-9)
            probes = min(int(self.index.nlist), int(np.ceil(probes / fraction)))
        params = faiss.SearchParametersIVF(nprobe=probes, sel=selector)
        _, rows = self.index.search(np.ascontiguousarray(queries, np.float32), fetch, params=params)
        return _rescore(queries, rows, self.vectors, k)

    def save(self, path: str) -> None:
        import faiss

        faiss.write_index(self.index, path)

    @classmethod
    def load(cls, path: str, params: IvfParams, vectors: Callable[[np.ndarray], np.ndarray]) -> IvfSearch:
        import faiss

        return cls(params, vectors, faiss.read_index(path))


def _rescore(queries: np.ndarray, rows: np.ndarray, vectors: Callable[[np.ndarray], np.ndarray],
             k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of the candidate rows (-1 = none); the best ``k`` per query."""
    q, fetch = rows.shape
    found = rows >= 0
    scores = np.full((q, fetch), -np.inf, np.float32)
    if found.any():
        flat = rows[found]
        unique, inverse = np.unique(flat, return_inverse=True)
        exact = vectors(unique)[inverse]
        scores[found] = np.einsum("ij,ij->i", exact, np.repeat(queries, found.sum(axis=1), axis=0))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best_s, best_i = np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
    best_i[~np.isfinite(best_s)] = -1
    return best_s, best_i
