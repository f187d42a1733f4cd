"""The vector index of an embedding collection: build, save, open, update incrementally, and query.

    from aef_ee.search import Sampling, build_index, open_index

    index = build_index("projects/local/assets/sample_embeddings", years=[2023, 2024],
                        sampling=Sampling("mean", 100), path="iowa.aefindex")
    result = index.query((-96.01, 41.87), year=2024, k=10, years=[2024])   # a point: its embedding through ee
    result.hits[0].lon, result.hits[0].lat, result.hits[0].score

Rows are samples of the collection (:mod:`aef_ee.search.sampling`); the search engine is FAISS's inverted file
for large indexes and exact numpy search for small ones (:mod:`aef_ee.search.ann`); the files are a versioned
manifest and append-only segments (:mod:`aef_ee.search.store`). The candidates' neighbourhoods go back to Earth
Engine for the exact per-pixel similarity map with :func:`aef_ee.search.refine.refine`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.errors import AefValueError, EmbeddingError
from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M
from aef_ee.search import store
from aef_ee.search.ann import ANN_METHODS, MIN_IVF_ROWS, ExactSearch, IvfParams, IvfSearch, exact_top_k
from aef_ee.search.regions import as_region, inside
from aef_ee.search.sampling import Sampling, Samples, Tile, list_tiles, sample_tiles

__all__ = ["MAX_K", "EXACT_FILTERED_ROWS", "Hit", "SearchResult", "UpdateReport", "EmbeddingIndex",
           "build_index", "update_index", "open_index", "default_index_path"]

log = logging.getLogger(__name__)

_DIMS = len(EMBEDDING_BANDS)
# The most neighbours one query returns (a threshold query is capped here too).
MAX_K = 10_000
# A filter leaving at most this many rows is answered by an exact scan of those rows (faster, and exact).
EXACT_FILTERED_ROWS = 50_000
# Frozen dataclasses: safe as shared defaults.
DEFAULT_SAMPLING = Sampling()
DEFAULT_IVF = IvfParams()
# Year masks kept per index (a filter by year is the common case; recomputing it scans every row).
_MASK_CACHE = 16


@dataclasses.dataclass(frozen=True)
class Hit:
    """One neighbour: an index row and where its sample lies.

    Attributes:
      row: the row number in the index.
      score: cosine similarity to the query (dot product of unit vectors), in [-1, 1].
      lon, lat: the sample's cell centre, degrees.
      year: the embedding's year.
      tile: the asset ID of the image the sample comes from.
      pixels: valid native pixels averaged into the sample (1 for stride sampling).
    """

    row: int
    score: float
    lon: float
    lat: float
    year: int
    tile: str
    pixels: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """The neighbours of one query, best first, and the query vector used."""

    hits: list[Hit]
    query: np.ndarray  # (64,) float32 unit vector
    exact: bool  # answered by an exact scan (small index or a narrow filter)
    elapsed_ms: float

    def to_json(self) -> dict[str, Any]:
        return {"hits": [h.to_json() for h in self.hits], "exact": self.exact, "elapsed_ms": self.elapsed_ms}


@dataclasses.dataclass(frozen=True)
class UpdateReport:
    """What :func:`update_index` did: the tiles it added (rows each) and the tiles it removed because the collection
    no longer has them (their rows no longer answer queries)."""

    added: dict[str, int]
    removed: list[str]
    generation: int

    @property
    def rows_added(self) -> int:
        return sum(self.added.values())


def default_index_path(collection: str, sampling: Sampling) -> Path:
    """``<cache>/indexes/<collection as a file name>/<method>-<scale>m``: where indexes live by default."""
    from aef_ee.paths import cache_dir

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", collection).strip("_")
    return cache_dir() / "indexes" / slug / f"{sampling.method}-{sampling.scale:g}m"


class EmbeddingIndex:
    """An opened index (use :func:`build_index` or :func:`open_index`; the constructor is internal).

    Attributes:
      path: the index folder.
      collection: the embedding collection it samples.
      sampling: how it samples.
      tiles: the sampled images, in row-tile order (removed ones included: their rows stay stored).
      lon, lat, year, tile, pixels: (n,) columns of the rows (``tile`` indexes ``tiles``).
      removed: indexes into ``tiles`` of the tiles removed from the collection; their rows never answer a query.
    """

    def __init__(self, path: Path, manifest: dict[str, Any], codes: np.ndarray, columns: dict[str, np.ndarray],
                 ann: ExactSearch | IvfSearch) -> None:
        self.path = path
        self.manifest = manifest
        self.collection: str = manifest["collection"]
        self.sampling = Sampling(**manifest["sampling"])
        self.tiles = [Tile.from_json(t) for t in manifest["tiles"]]
        self.codes = codes
        self.lon = columns["lon"].astype(np.float64)
        self.lat = columns["lat"].astype(np.float64)
        self.year = columns["year"].astype(np.int16)
        self.tile = columns["tile"].astype(np.int32)
        self.pixels = columns["pixels"].astype(np.uint16)
        self.ann = ann
        self.removed = frozenset(i for i, t in enumerate(manifest["tiles"]) if t.get("removed"))
        self._live = _live_rows(self.tile, self.removed)
        self._masks: dict[tuple[int, ...], np.ndarray] = {}
        self._lock = threading.Lock()  # updates replace arrays; queries read them

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return (f"EmbeddingIndex({str(self.path)!r}, collection={self.collection!r}, rows={len(self)}, "
                f"years={self.years}, sampling={self.sampling}, search={self.ann.method})")

    @property
    def years(self) -> list[int]:
        return sorted({t.year for i, t in enumerate(self.tiles) if i not in self.removed})

    @property
    def live_rows(self) -> int:
        """Rows that answer queries: all but those of removed tiles."""
        return len(self) if self._live is None else int(self._live.sum())

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    def vectors(self, rows: np.ndarray | slice) -> np.ndarray:
        """(m, 64) float32 stored vectors of ``rows``."""
        return self.codes[rows].astype(np.float32)

    # ------------------------------------------------------------------------------------------------ queries

    def search(self, vector: Any, *, k: int | None = 10, threshold: float | None = None,
               years: Sequence[int] | None = None, region: Any = None) -> SearchResult:
        """The rows most similar to ``vector``.

        Args:
          vector: 64 numbers (re-normalised to unit length).
          k: neighbours to return (at most :data:`MAX_K`); None with a threshold returns up to ``MAX_K``.
          threshold: keep only neighbours with similarity >= threshold (in [-1, 1]).
          years: only rows of these years.
          region: only rows inside ``[w, s, e, n]`` or a polygon (see :mod:`aef_ee.search.regions`).

        Raises:
          AefValueError: a bad vector, k, threshold or region.
        """
        started = time.perf_counter()
        query = _unit_vector(vector)
        k = _check_k(k, threshold)
        allowed = self._allowed(years, region)
        with self._lock:
            if self._live is not None:
                allowed = self._live if allowed is None else allowed & self._live
            exact = allowed is not None and int(allowed.sum()) <= EXACT_FILTERED_ROWS or self.ann.method == "exact"
            if allowed is not None and exact:
                rows = np.flatnonzero(allowed)
                scores, found = exact_top_k(query[None], lambda a, b: self.vectors(rows[a:b]), len(rows), k, rows)
            else:
                scores, found = self.ann.search(query[None], k, allowed)
            hits = [self._hit(int(r), float(s)) for r, s in zip(found[0], scores[0], strict=True)
                    if r >= 0 and (threshold is None or s >= threshold)]
        return SearchResult(hits, query, exact, (time.perf_counter() - started) * 1e3)

    def query(self, where: Any, *, year: int | None = None, k: int | None = 10, threshold: float | None = None,
              years: Sequence[int] | None = None, region: Any = None) -> SearchResult:
        """Like :meth:`search`, with the query given by a place: its embedding of ``year`` through Earth Engine.

        Args:
          where: (lon, lat), a GeoJSON Point / Polygon (the polygon's mean vector), an ``ee.Geometry``, or a
            vector of 64 numbers (used as is).
          year: the year of the query's embedding (default: the index's latest year).
          k, threshold, years, region: as for :meth:`search`.

        Raises:
          EmbeddingError: no valid embedding at ``where`` in ``year``.
        """
        return self.search(self.reference(where, year=year), k=k, threshold=threshold, years=years, region=region)

    def reference(self, where: Any, *, year: int | None = None) -> np.ndarray:
        """The (64,) unit embedding at a point or the mean over a polygon (one request), or ``where`` if a vector."""
        if _looks_like_vector(where):
            return _unit_vector(where)
        from aef_ee import ops
        from aef_ee.fields.collection import open_embeddings

        geometry = _ee_geometry(where)
        year = self.years[-1] if year is None else int(year)
        image = open_embeddings(year, geometry, collection=self.collection)
        return np.asarray(ops.reference_vector(image, geometry, scale=NATIVE_SCALE_M), np.float32)

    def _hit(self, row: int, score: float) -> Hit:
        return Hit(row, score, float(self.lon[row]), float(self.lat[row]), int(self.year[row]),
                   self.tiles[int(self.tile[row])].id, int(self.pixels[row]))

    def _allowed(self, years: Sequence[int] | None, region: Any) -> np.ndarray | None:
        mask = None
        if years is not None:
            key = tuple(sorted({int(y) for y in years}))
            if not key:
                raise AefValueError("years must name at least one year (or be None for all)")
            with self._lock:  # API threads share the cache
                mask = self._masks.get(key)
                if mask is None:
                    mask = np.isin(self.year, np.asarray(key, np.int16))
                    if len(self._masks) >= _MASK_CACHE:
                        self._masks.pop(next(iter(self._masks)))
                    self._masks[key] = mask
        if region is not None:
            in_region = inside(as_region(region), self.lon, self.lat)
            mask = in_region if mask is None else mask & in_region
        return mask

    # ------------------------------------------------------------------------------------------------ writing

    def _append(self, tiles: Sequence[Tile], samples: Samples) -> None:
        """Appends new tiles' rows (``samples.tile`` already numbers them after the existing tiles) and saves a new
        generation: one new segment, the ANN index, then the manifest."""
        folder = self.path
        generation = self.generation + 1
        first_row = len(self)
        new_ann = self.ann
        if isinstance(self.ann, ExactSearch):
            new_ann = ExactSearch(self.ann.vectors)
            new_ann.add(samples.vectors)
        else:
            self.ann.add(samples.vectors, first_row)
        manifest = dict(self.manifest)
        segments = list(manifest["segments"])
        if len(samples):
            segments.append(store.write_segment(folder, generation, samples))
        manifest.update({
            "generation": generation, "updated": store.now_iso(), "rows": first_row + len(samples),
            "tiles": manifest["tiles"] + [dict(t.to_json(), rows=int((samples.tile == len(self.tiles) + i).sum()))
                                          for i, t in enumerate(tiles)],
            "segments": segments, "search": new_ann.params() | {"trained_rows": manifest["search"].get(
                "trained_rows")},
        })
        if isinstance(new_ann, IvfSearch):
            manifest["ann_file"] = store.write_ann_file(folder, generation, new_ann.save)
        store.commit_manifest(folder, manifest)
        with self._lock:
            self.manifest = manifest
            self.tiles = self.tiles + list(tiles)
            self.codes = np.concatenate([self.codes, _codes(samples)])
            for name in ("lon", "lat", "year", "tile", "pixels"):
                setattr(self, name, np.concatenate([getattr(self, name), getattr(samples, name).astype(
                    getattr(self, name).dtype)]))
            self.ann = new_ann
            self._live = _live_rows(self.tile, self.removed)
            self._masks.clear()


    def _remove(self, tile_ids: Sequence[str]) -> None:
        """Marks these tiles removed and saves a new generation (the manifest alone: rows and segments stay, and
        the removed tiles' rows are filtered out of every query)."""
        ids = set(tile_ids)
        manifest = dict(self.manifest)
        tiles = [dict(t, removed=True) if t["id"] in ids and not t.get("removed") else t for t in manifest["tiles"]]
        removed = frozenset(i for i, t in enumerate(tiles) if t.get("removed"))
        live = _live_rows(self.tile, removed)
        manifest.update({"generation": self.generation + 1, "updated": store.now_iso(), "tiles": tiles})
        store.commit_manifest(self.path, manifest)
        with self._lock:
            self.manifest = manifest
            self.removed, self._live = removed, live
            self._masks.clear()


def _live_rows(tile: np.ndarray, removed: frozenset[int]) -> np.ndarray | None:
    """(n,) bool: the rows of tiles not removed; None when no tile is removed (every row answers)."""
    if not removed:
        return None
    return ~np.isin(tile, np.fromiter(removed, np.int32))


def _codes(samples: Samples) -> np.ndarray:
    return store.stored_vectors(samples.vectors)


def _check_k(k: int | None, threshold: float | None) -> int:
    if threshold is not None and not -1.0 <= float(threshold) <= 1.0:
        raise AefValueError(f"threshold must be within [-1, 1]; got {threshold!r}")
    if k is None:
        if threshold is None:
            raise AefValueError("give k, a threshold, or both")
        return MAX_K
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise AefValueError(f"k must be an integer within [1, {MAX_K}]; got {k!r}")
    return int(k)


def _looks_like_vector(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and len(value) == _DIMS
    return isinstance(value, (list, tuple)) and len(value) == _DIMS


def _unit_vector(vector: Any) -> np.ndarray:
    try:
        v = np.asarray(vector, np.float64)
    except (TypeError, ValueError) as exc:
        raise AefValueError(f"a query vector must be {_DIMS} numbers: {exc}") from exc
    if v.shape != (_DIMS,):
        raise AefValueError(f"a query vector must be {_DIMS} numbers; got shape {v.shape}")
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0:
        raise AefValueError("a query vector must be finite and not all zeros")
    return (v / norm).astype(np.float32)


def _ee_geometry(where: Any) -> Any:
    import ee

    if isinstance(where, ee.ComputedObject):
        return ee.Geometry(where)
    if isinstance(where, (list, tuple)) and len(where) == 2 and all(isinstance(v, (int, float)) for v in where):
        lon, lat = float(where[0]), float(where[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise AefValueError(f"a point is (lon, lat) in degrees; got {list(where)!r}")
        return ee.Geometry.Point([lon, lat])
    if isinstance(where, dict):
        geometry = where.get("geometry", where) if where.get("type") == "Feature" else where
        if geometry.get("type") in ("Point", "Polygon", "MultiPolygon"):
            return ee.Geometry(geometry)
    raise AefValueError(f"a query is (lon, lat), a GeoJSON Point or Polygon, an ee.Geometry, or {_DIMS} numbers; "
                        f"got {where!r:.200}")


# ---------------------------------------------------------------------------------------------------- life cycle


def build_index(
    collection: str,
    *,
    years: Sequence[int],
    path: str | os.PathLike[str] | None = None,
    sampling: Sampling = DEFAULT_SAMPLING,
    region: Any = None,
    method: str = "auto",
    ivf: IvfParams = DEFAULT_IVF,
    samples: tuple[Sequence[Tile], Samples] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    seed: int = 0,
) -> EmbeddingIndex:
    """Samples ``collection`` and builds its index at ``path``.

    Args:
      collection: the embedding ImageCollection (ours, or ``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL``).
      years: the years to sample.
      path: the index folder (default :func:`default_index_path`).
      sampling: every Nth pixel or the mean per cell, at a scale of 10 m to 1 km.
      region: only tiles touching this ``ee.Geometry`` (Google's collection covers the globe: give one).
      method: "exact", "ivf" (FAISS), or "auto": ivf from :data:`~aef_ee.search.ann.MIN_IVF_ROWS` rows.
      ivf: the FAISS index's parameters.
      samples: (tiles, samples) already made (e.g. by :func:`~aef_ee.search.sampling.sample_tiles`) instead of
        sampling through ``ee``.
      overwrite: replace an index already at ``path``.
      seed: seeds the k-means training sample.

    Raises:
      AefValueError: bad method; an index already at ``path`` without ``overwrite``.
      EmbeddingError: the collection has no image in the years (over the region).
    """
    if method not in (*ANN_METHODS, "auto"):
        raise AefValueError(f"method must be one of {[*ANN_METHODS, 'auto']}; got {method!r}")
    folder = Path(path) if path is not None else default_index_path(collection, sampling)
    if (folder / store.MANIFEST).exists() and not overwrite:
        raise AefValueError(f"an index already exists at {str(folder)!r}; pass overwrite=True (or use "
                            "update_index to add new tiles)")
    if samples is None:
        tiles = list_tiles(collection, years, _ee_region(region))
        rows = sample_tiles(tiles, sampling, progress=progress)
    else:
        tiles, rows = list(samples[0]), samples[1]
    if not len(rows):
        raise EmbeddingError(f"{collection} has no valid pixel in {sorted(set(years))}")
    if method == "auto":
        method = "ivf" if len(rows) >= MIN_IVF_ROWS else "exact"
    folder.mkdir(parents=True, exist_ok=True)
    # Overwriting writes a new generation beside the old one: readers keep the old files until the manifest moves.
    try:
        generation = store.read_manifest(folder)["generation"] + 1 if overwrite else 1
    except store.IndexFormatError:
        generation = 1
    codes = _codes(rows)
    vectors = codes.astype(np.float32)
    manifest: dict[str, Any] = {
        "format": store.FORMAT, "format_version": store.FORMAT_VERSION, "generation": generation,
        "collection": collection, "years": sorted({int(y) for y in years}), "region": _region_json(region),
        "sampling": sampling.to_json(), "rows": len(rows), "created": store.now_iso(), "updated": store.now_iso(),
        "tiles": [dict(t.to_json(), rows=int((rows.tile == i).sum())) for i, t in enumerate(tiles)],
        "segments": [store.write_segment(folder, generation, rows)],
    }
    index_ref: dict[str, EmbeddingIndex] = {}
    if method == "exact":
        ann: ExactSearch | IvfSearch = ExactSearch(vectors)
        manifest["search"] = ann.params() | {"trained_rows": None}
    else:
        ann = IvfSearch(ivf, lambda r: index_ref["index"].vectors(r))
        pick = np.random.default_rng(seed).choice(len(rows), min(len(rows), ivf.train_size), replace=False)
        started = time.perf_counter()
        ann.train(vectors[np.sort(pick)], len(rows), seed=seed)
        ann.add(vectors, 0)
        log.info("trained and filled the IVF index of %d rows in %.1f s", len(rows), time.perf_counter() - started)
        manifest["search"] = ann.params() | {"trained_rows": len(rows)}
        manifest["ann_file"] = store.write_ann_file(folder, generation, ann.save)
    store.commit_manifest(folder, manifest)
    for segment in folder.glob("segment-*.npz"):  # an overwritten index's segments
        if segment.name not in {s["file"] for s in manifest["segments"]}:
            segment.unlink(missing_ok=True)
    index = EmbeddingIndex(folder, manifest, codes, {c: getattr(rows, c) for c in
                                                     ("lon", "lat", "year", "tile", "pixels")}, ann)
    index_ref["index"] = index
    return index


def open_index(path: str | os.PathLike[str]) -> EmbeddingIndex:
    """Opens the index at ``path`` (its latest generation).

    Raises:
      IndexFormatError: no index there, another format version, or a missing file.
    """
    folder = Path(path)
    manifest = store.read_manifest(folder)
    codes, columns = store.read_segments(folder, manifest)
    index_ref: dict[str, EmbeddingIndex] = {}
    search = manifest["search"]
    if search["method"] == "exact":
        ann: ExactSearch | IvfSearch = ExactSearch(codes.astype(np.float32))
    else:
        params = IvfParams(**{f.name: search[f.name] for f in dataclasses.fields(IvfParams)})
        try:
            ann = IvfSearch.load(str(folder / manifest["ann_file"]), params, lambda r: index_ref["index"].vectors(r))
        except RuntimeError as exc:  # FAISS reports a missing or truncated file as RuntimeError
            raise store.IndexFormatError(f"cannot read the FAISS index of {str(folder)!r}: {exc}") from exc
        if len(ann) != len(codes):
            raise store.IndexFormatError(f"the FAISS index of {str(folder)!r} holds {len(ann)} rows, its segments "
                                         f"{len(codes)}")
    index = EmbeddingIndex(folder, manifest, codes, columns, ann)
    index_ref["index"] = index
    return index


def update_index(index: EmbeddingIndex | str | os.PathLike[str], *, years: Sequence[int] | None = None,
                 progress: bool = False) -> UpdateReport:
    """Brings the index up to the collection: adds the tiles it lacks (new tiles, or new ``years``), with the same
    sampling, and removes the tiles the collection no longer holds.

    Tiles are known by asset ID. A removed tile's rows stay in the segments (they are append-only) and are filtered
    out of every query from then on; a tile added again under the same ID is sampled again. The FAISS index keeps
    its trained cells; rebuild when the index has grown far past ``trained_rows`` (e.g. tenfold), since the cells
    then fit the new data less well, or when many rows are removed (they still take space).

    Returns:
      What was added; the index (when given as an object) holds the new rows afterwards.
    """
    if not isinstance(index, EmbeddingIndex):
        index = open_index(index)
    wanted_years = sorted(set(index.manifest["years"]) | {int(y) for y in (years or [])})
    listed = list_tiles(index.collection, wanted_years, _ee_region(index.manifest.get("region")))
    known = {t.id for i, t in enumerate(index.tiles) if i not in index.removed}
    new = [t for t in listed if t.id not in known]
    listed_ids = {t.id for t in listed}
    gone = [t.id for i, t in enumerate(index.tiles)
            if i not in index.removed and t.id not in listed_ids and t.year in wanted_years]
    samples = sample_tiles(new, index.sampling, progress=progress, first_tile_index=len(index.tiles))
    if gone:
        index._remove(gone)
    if new:
        index.manifest = dict(index.manifest, years=wanted_years)
        index._append(new, samples)
    return UpdateReport({t.id: int((samples.tile == len(index.tiles) - len(new) + i).sum())
                         for i, t in enumerate(new)}, gone, index.generation)


def _region_json(region: Any) -> Any:
    if region is None:
        return None
    try:
        import ee

        if isinstance(region, ee.ComputedObject):
            return ee.Geometry(region).getInfo()
    except ImportError:  # plain lists and dicts need no ee client
        pass
    return list(region) if isinstance(region, tuple) else region


def _ee_region(region: Any) -> Any:
    if region is None:
        return None
    import ee

    if isinstance(region, ee.ComputedObject):
        return region
    if isinstance(region, (list, tuple)) and len(region) == 4:
        return ee.Geometry.Rectangle([float(v) for v in region])
    return ee.Geometry(region)
