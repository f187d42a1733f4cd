"""Similar places anywhere, in milliseconds: a vector index over an embedding collection.

Entry points: :func:`build_index` samples a collection through Earth Engine (or the local engine) and indexes
the samples; :func:`open_index` opens a saved one; :func:`update_index` adds tiles added since;
:meth:`EmbeddingIndex.query` finds the rows most similar to a point, a polygon or a vector; :func:`refine` sends
the candidates' neighbourhoods back to Earth Engine for the exact per-pixel similarity map.

- :mod:`aef_ee.search.sampling`: tiles -> vectors (every Nth pixel, or the mean per cell, 10 m to 1 km).
- :mod:`aef_ee.search.ann`: the search engines (FAISS IVF, and exact numpy search, the floor).
- :mod:`aef_ee.search.store`: the versioned, atomically written files.
- :mod:`aef_ee.search.index`: the index: build, open, update, query.
- :mod:`aef_ee.search.regions`: region filters on sample locations.
- :mod:`aef_ee.search.refine`: exact similarity around the candidates, server-side.

The ``search`` extra installs FAISS (``faiss-cpu``); exact search needs numpy only.
"""

from __future__ import annotations

from aef_ee.search.ann import ExactSearch, IvfParams, IvfSearch
from aef_ee.search.index import (
    EmbeddingIndex,
    Hit,
    SearchResult,
    UpdateReport,
    build_index,
    default_index_path,
    open_index,
    update_index,
)
from aef_ee.search.refine import Refinement, RefinedHit, refine
from aef_ee.search.sampling import Sampling, Samples, Tile, list_tiles, sample_tiles
from aef_ee.search.store import IndexFormatError

__all__ = [
    "EmbeddingIndex",
    "ExactSearch",
    "Hit",
    "IndexFormatError",
    "IvfParams",
    "IvfSearch",
    "RefinedHit",
    "Refinement",
    "Samples",
    "Sampling",
    "SearchResult",
    "Tile",
    "UpdateReport",
    "build_index",
    "default_index_path",
    "list_tiles",
    "open_index",
    "refine",
    "sample_tiles",
    "update_index",
]
