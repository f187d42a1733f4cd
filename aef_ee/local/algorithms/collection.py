"""Collections: loading image collections and tables from the catalog, composites (mosaic, reduce, toBands), and the
shared ``Collection.*`` / ``AggregateFeatureCollection.*`` algorithms over images and features alike.

Composites follow Earth Engine: their bands are in the default projection (WGS84 at 1 degree) whatever the inputs'
projection, so a ``reduceRegion`` or export of a composite needs an explicit ``scale``/``crs`` — the classic pitfall,
reproduced on purpose. Pixels of a composite are pulled for the requested grid from only the images whose footprint
meets it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms.image import as_image, image_from_record
from aef_ee.local.algorithms.reducer import Reducer, as_reducer, histogram_key
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.evaluator import current_context
from aef_ee.local.projection import DEFAULT_PROJECTION, Grid, transformer
from aef_ee.local.raster import BandSpec, Image, PixelType, file_image
from aef_ee.local.values import Feature, FeatureCollection, Geometry, ImageCollection

__all__ = ["composite", "compute_many", "load_image_collection", "load_table", "collection_of", "elements"]

# The denominators of 2^53 used to turn a hash into a uniform double in [0, 1).
_HASH_BITS = 53
# Layer values a composite holds at once (2^23 float64 values: 64 MiB), whatever the collection's depth.
STACK_VALUES = 2**23


# --- loading ---------------------------------------------------------------------------------------------

@algorithm("ImageCollection.load")
def load_image_collection(id: str, version: int | None = None) -> ImageCollection:  # noqa: A002
    """The images of a catalog IMAGE_COLLECTION, sorted by id (Earth Engine's listing order)."""
    catalog = current_context().catalog
    record = catalog.get(id)
    if record.type != "IMAGE_COLLECTION":
        raise InvalidArgument(f"Asset '{id}' is not an ImageCollection (it is a {record.type}).")
    images = [image_from_record(catalog, r) for r in catalog.list_images(record.id)]
    properties = dict(record.manifest.get("properties") or {})
    properties["system:id"] = record.id
    return ImageCollection(images, properties)


@algorithm("ImageCollection.fromImages")
def from_images(images: Sequence[Any]) -> ImageCollection:
    return ImageCollection([as_image(i) for i in images or []], {})


@algorithm("Collection.loadTable")
def load_table(tableId: str, geometryColumn: str | None = None, version: int | None = None  # noqa: N803
               ) -> FeatureCollection:
    """A catalog TABLE (GeoJSON or GeoParquet) as features; feature ids become ``system:index``."""
    catalog = current_context().catalog
    record = catalog.get(tableId)
    if record.type != "TABLE":
        raise InvalidArgument(f"Asset '{tableId}' is not a table (it is a {record.type}).")
    path = catalog.table_path(record)
    features = _read_table(path, _mtime(path), geometryColumn)
    properties = dict(record.manifest.get("properties") or {})
    properties["system:id"] = record.id
    return FeatureCollection(list(features), properties)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError as exc:
        raise NotFound(f"Cannot read table file {path!r}: {exc}") from exc


@functools.lru_cache(maxsize=32)
def _read_table(path: str, mtime: float, geometry_column: str | None) -> tuple[Feature, ...]:
    from shapely.geometry import shape

    if path.lower().endswith(".parquet"):
        return _read_parquet(path, geometry_column)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("type") != "FeatureCollection":
        raise InvalidArgument(f"Table file {path!r} is not a GeoJSON FeatureCollection.")
    out = []
    for i, feat in enumerate(data.get("features") or []):
        geom = feat.get("geometry")
        geometry = None
        if geom:
            geometry = Geometry(shape(geom), "EPSG:4326", bool(geom.get("geodesic", False)))
        props = dict(feat.get("properties") or {})
        props["system:index"] = str(feat["id"]) if feat.get("id") is not None else str(i)
        out.append(Feature(geometry, props))
    return tuple(out)


def _read_parquet(path: str, geometry_column: str | None) -> tuple[Feature, ...]:
    import geopandas

    frame = geopandas.read_parquet(path)
    if geometry_column:
        frame = frame.set_geometry(geometry_column)
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geom_name = frame.geometry.name
    columns = [c for c in frame.columns if c != geom_name]
    out = []
    for i, row in enumerate(frame.itertuples(index=False)):
        values = row._asdict() if hasattr(row, "_asdict") else dict(zip(frame.columns, row))
        props = {c: _plain(values.get(c)) for c in columns if c in values}
        props.setdefault("system:index", str(props.pop("id", i)) if "id" in props else str(i))
        geom = values.get(geom_name)
        out.append(Feature(Geometry(geom, "EPSG:4326", False) if geom is not None else None, props))
    return tuple(out)


def _plain(value: Any) -> Any:
    """A table cell as a JSON-able Python value (NaN -> None, timestamps -> ISO 8601 strings)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- element helpers -------------------------------------------------------------------------------------

def elements(collection: Any) -> list[Any]:
    """The elements (images or features) of a collection value."""
    if isinstance(collection, ImageCollection):
        return list(collection.images)
    if isinstance(collection, FeatureCollection):
        return list(collection.features)
    raise InvalidArgument(f"Expected a collection; got {type(collection).__name__}.")


def collection_of(items: Sequence[Any], like: Any = None) -> ImageCollection | FeatureCollection:
    """A collection holding ``items``: an ImageCollection of images, else a FeatureCollection.

    Collection-level properties are kept from ``like`` when given.
    """
    props = dict(like.properties) if like is not None else {}
    items = list(items)
    if items and all(isinstance(i, Image) for i in items):
        return ImageCollection(items, props)
    if not items and isinstance(like, ImageCollection):
        return ImageCollection([], props)
    return FeatureCollection(items, props)


def _props(element: Any) -> dict[str, Any]:
    return element.properties


def _with_index(element: Any, index: str) -> Any:
    props = dict(element.properties)
    props["system:index"] = index
    return element.with_properties(props)


# --- composites ------------------------------------------------------------------------------------------

def _grid_box_4326(grid: Grid) -> Any:
    """The grid's outline in EPSG:4326 (a shapely polygon), for footprint tests."""
    from shapely.geometry import Polygon, box

    xmin, ymin, xmax, ymax = grid.bounds()
    if grid.crs == "EPSG:4326":
        return box(xmin, ymin, xmax, ymax)
    xs = np.concatenate([np.linspace(xmin, xmax, 9), np.full(9, xmax), np.linspace(xmax, xmin, 9), np.full(9, xmin)])
    ys = np.concatenate([np.full(9, ymin), np.linspace(ymin, ymax, 9), np.full(9, ymax), np.linspace(ymax, ymin, 9)])
    lon, lat = transformer(grid.crs, "EPSG:4326").transform(xs, ys)
    ring = Polygon(zip(lon, lat))
    return ring if ring.is_valid else ring.buffer(0)


def _relevant(images: Sequence[Image], grid: Grid) -> list[int]:
    """Indexes of the images whose footprint meets the grid (unbounded images always do)."""
    if all(img.footprint is None for img in images):
        return list(range(len(images)))
    outline = _grid_box_4326(grid)
    return [i for i, img in enumerate(images) if img.footprint is None or img.footprint.intersects(outline)]


def _union_footprint(images: Sequence[Image]) -> Any:
    if not images or any(img.footprint is None for img in images):
        return None
    from shapely.ops import unary_union

    return unary_union([img.footprint for img in images])


def _band_sources(images: Sequence[Image], names: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Per output band name, the (image index, band index) pairs of the images holding that band."""
    sources: list[list[tuple[int, int]]] = []
    for name in names:
        pairs = []
        for i, img in enumerate(images):
            bn = img.band_names
            if name in bn:
                pairs.append((i, bn.index(name)))
        sources.append(pairs)
    return sources


def compute_many(images: Sequence[Image], requests: Sequence[tuple[int, int]], grid: Grid
                 ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Pixels of many (image index, band index) pairs on ``grid``.

    Bands of images loaded straight from files are read together, one read per file and projection (744 hourly
    ERA5 images stored as the bands of one file cost one read); other images are computed one by one.
    """
    out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    by_image: dict[int, list[int]] = {}
    for i, b in requests:
        if b not in by_image.setdefault(i, []):
            by_image[i].append(b)
    batch: list[tuple[int, int]] = []
    for i, bands in by_image.items():
        if getattr(images[i], "_file_bands", None) is not None and getattr(images[i], "_resampling", "") == "nearest":
            batch.extend((i, b) for b in bands)
        else:
            for b, px in zip(bands, images[i].compute(grid, bands)):
                out[(i, b)] = px
    if batch:
        specs = []
        for n, (i, b) in enumerate(batch):
            location, projection, dims = images[i]._file_bands[b]  # type: ignore[attr-defined]
            specs.append((f"b{n}", location, images[i].bands[b].pixel_type, projection, dims))
        combined = file_image(specs, {})
        for key, px in zip(batch, combined.compute(grid)):
            out[key] = px
    return out


def _gather(images: Sequence[Image], sources: list[list[tuple[int, int]]], wanted: Sequence[int], grid: Grid,
            keep: set[int]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """For each wanted output band, the (values, mask) of that band in every relevant image, in image order."""
    requests = [(i, b) for w in wanted for i, b in sources[w] if i in keep]
    pixels = compute_many(images, requests, grid)
    return [[pixels[(i, b)] for i, b in sources[w] if i in keep] for w in wanted]


def composite(
    collection: ImageCollection,
    reducer: Reducer,
    output_names: Callable[[str, list[str]], list[str]],
) -> Image:
    """Per-pixel reduction of each band over the images of ``collection``.

    Args:
      collection: the images; output bands follow the first image's band names.
      reducer: a single-input reducer (its raw outputs, e.g. ['p10', 'p90']).
      output_names: (band name, raw outputs) -> the output band names for that band.

    Returns:
      An image in the default projection (WGS84, 1 degree), as Earth Engine gives composites.
    """
    images = list(collection.images)
    if not images:
        return Image([], lambda grid, idx: [], {})
    if reducer.n_inputs != 1:
        return _composite_inputs(images, reducer)
    names = images[0].band_names
    sources = _band_sources(images, names)
    specs: list[BandSpec] = []
    owner: list[tuple[int, int]] = []  # (band position, output position)
    for pos, name in enumerate(names):
        types = [images[i].bands[b].pixel_type for i, b in sources[pos]]
        outs = output_names(name, reducer.output_names([name]))
        for k, (out_name, ptype) in enumerate(zip(outs, reducer.output_types(types))):
            specs.append(BandSpec(out_name, ptype, DEFAULT_PROJECTION, None, True))
            owner.append((pos, k))

    def read(grid: Grid, wanted: Sequence[int]):
        keep = set(_relevant(images, grid))
        bands = sorted({owner[w][0] for w in wanted})
        stacks = dict(zip(bands, _gather(images, sources, bands, grid, keep)))
        results: dict[int, list] = {}
        out = []
        for w in wanted:
            pos, k = owner[w]
            if pos not in results:
                stack = stacks[pos]
                if not stack:
                    empty = np.zeros(grid.shape, specs[w].pixel_type.dtype)
                    results[pos] = [(empty, np.zeros(grid.shape, bool))] * len(reducer.outputs)
                else:
                    results[pos] = reducer.reduce_stack([v for v, _ in stack], [m for _, m in stack])
            values, mask = results[pos][k]
            out.append((np.asarray(values).astype(specs[w].pixel_type.dtype, copy=False), mask))
        return out

    return Image(specs, _in_row_chunks(read, len(images) * max(1, len(names)), specs), {},
                 footprint=_union_footprint(images))


def _in_row_chunks(read: Callable, depth: int, specs: Sequence[BandSpec]) -> Callable:
    """A reader that computes a deep stack (``depth`` layers per pixel) a few rows at a time, so that at most
    ``STACK_VALUES`` layer values are held at once, whatever the requested grid."""

    def chunked(grid: Grid, wanted: Sequence[int]):
        rows = max(1, STACK_VALUES // max(1, depth * grid.width))
        if rows >= grid.height:
            return read(grid, wanted)
        values = [np.empty(grid.shape, specs[w].pixel_type.dtype) for w in wanted]
        masks = [np.empty(grid.shape, bool) for _ in wanted]
        for r0 in range(0, grid.height, rows):
            r1 = min(r0 + rows, grid.height)
            for k, (v, m) in enumerate(read(grid.window(r0, r1), wanted)):
                values[k][r0:r1] = v
                masks[k][r0:r1] = m
        return list(zip(values, masks))

    return chunked


def _composite_inputs(images: list[Image], reducer: Reducer) -> Image:
    """A reducer of k inputs over a collection of k-band images (``linearFit`` of [x, y] bands): raw output names."""
    names = images[0].band_names
    if len(names) != reducer.n_inputs:
        raise InvalidArgument(
            f"ImageCollection.reduce: Need {reducer.n_inputs} bands for {reducer.name}, but the images have "
            f"{len(names)} bands ({names}).")
    sources = _band_sources(images, names)
    specs = [BandSpec(o, t, DEFAULT_PROJECTION, None, True)
             for o, t in zip(reducer.outputs, reducer.output_types([b.pixel_type for b in images[0].bands]))]

    def read(grid: Grid, wanted: Sequence[int]):
        keep = set(_relevant(images, grid))
        complete = [i for i in sorted(keep) if all(any(j == i for j, _ in src) for src in sources)]
        stacks = _gather(images, sources, range(len(names)), grid, set(complete))
        if not complete:
            return [(np.zeros(grid.shape, specs[w].pixel_type.dtype), np.zeros(grid.shape, bool)) for w in wanted]
        outs = reducer.reduce_inputs([[v for v, _ in st] for st in stacks], [[m for _, m in st] for st in stacks])
        return [(np.asarray(outs[w][0]).astype(specs[w].pixel_type.dtype, copy=False), outs[w][1]) for w in wanted]

    return Image(specs, _in_row_chunks(read, len(images) * len(names), specs), {},
                 footprint=_union_footprint(images))


@algorithm("ImageCollection.reduce")
def reduce_collection(collection: ImageCollection, reducer: Any, parallelScale: float = 1) -> Image:  # noqa: N803
    """Bands named ``<band>_<output>`` (``B4_mean``, ``B4_p10``)."""
    return composite(_images(collection), as_reducer(reducer), lambda band, outs: [f"{band}_{o}" for o in outs])


def _register_shortcut(op: str, factory: Callable[[], Reducer]) -> None:
    def impl(collection: ImageCollection) -> Image:
        reducer = factory()
        return composite(_images(collection), reducer,
                         lambda band, outs: [band] if len(outs) == 1 else [f"{band}_{o}" for o in outs])

    impl.__name__ = f"reduce_{op}"
    algorithm(f"reduce.{op}")(impl)


def _shortcuts() -> None:
    from aef_ee.local.algorithms import reducer as r

    for op, factory in (("mean", r.mean), ("median", r.median), ("min", r.min_), ("max", r.max_), ("sum", r.sum_),
                        ("count", r.count), ("product", r.product), ("mode", r.mode), ("and", r.and_),
                        ("or", r.or_)):
        _register_shortcut(op, factory)


_shortcuts()


def _images(collection: Any) -> ImageCollection:
    if isinstance(collection, ImageCollection):
        return collection
    if isinstance(collection, Image):
        return ImageCollection([collection])
    if isinstance(collection, (list, tuple)):
        return ImageCollection([as_image(i) for i in collection])
    raise InvalidArgument(f"Expected an ImageCollection; got {type(collection).__name__}.")


@algorithm("ImageCollection.mosaic")
def mosaic(collection: ImageCollection) -> Image:
    """Later images on top: each pixel takes the last image (in collection order) where it is unmasked."""
    images = list(_images(collection).images)
    if not images:
        return Image([], lambda grid, idx: [], {})
    names = images[0].band_names
    sources = _band_sources(images, names)
    specs = [BandSpec(n, _widen_types([images[i].bands[b].pixel_type for i, b in sources[p]]), DEFAULT_PROJECTION,
                      None, True) for p, n in enumerate(names)]

    def read(grid: Grid, wanted: Sequence[int]):
        keep = set(_relevant(images, grid))
        values = [np.zeros(grid.shape, specs[w].pixel_type.dtype) for w in wanted]
        masks = [np.zeros(grid.shape, bool) for _ in wanted]
        for i in sorted(keep, reverse=True):
            todo = [(k, w) for k, w in enumerate(wanted) if not masks[k].all()]
            if not todo:
                break
            need = [(k, names[w]) for k, w in todo if names[w] in images[i].band_names]
            if not need:
                continue
            idx = [images[i].band_names.index(n) for _, n in need]
            for (k, _), (v, m) in zip(need, images[i].compute(grid, idx)):
                fill = np.broadcast_to(m, grid.shape) & ~masks[k]
                np.copyto(values[k], np.broadcast_to(v, grid.shape), where=fill, casting="unsafe")
                masks[k] |= fill
        return list(zip(values, masks))

    return Image(specs, read, {}, footprint=_union_footprint(images))


def _widen_types(types: Sequence[PixelType]) -> PixelType:
    from aef_ee.local.algorithms.reducer import _widen

    return _widen(types)


@algorithm("ImageCollection.qualityMosaic")
def quality_mosaic(collection: ImageCollection, qualityBand: str) -> Image:  # noqa: N803
    """Each pixel from the image with the highest ``qualityBand`` value there (the first such image on ties)."""
    images = list(_images(collection).images)
    if not images:
        return Image([], lambda grid, idx: [], {})
    names = images[0].band_names
    if qualityBand not in names:
        raise NotFound(f"ImageCollection.qualityMosaic: Band '{qualityBand}' not found. Available bands: {names}")
    sources = _band_sources(images, names)
    specs = [BandSpec(n, _widen_types([images[i].bands[b].pixel_type for i, b in sources[p]]), DEFAULT_PROJECTION,
                      None, True) for p, n in enumerate(names)]

    def read(grid: Grid, wanted: Sequence[int]):
        values = [np.zeros(grid.shape, specs[w].pixel_type.dtype) for w in wanted]
        masks = [np.zeros(grid.shape, bool) for _ in wanted]
        best = np.full(grid.shape, -np.inf)
        have = np.zeros(grid.shape, bool)
        for i in _relevant(images, grid):
            bn = images[i].band_names
            if qualityBand not in bn:
                continue
            idx = [bn.index(names[w]) if names[w] in bn else None for w in wanted]
            q_idx = bn.index(qualityBand)
            fetch = [q_idx] + [j for j in idx if j is not None]
            px = images[i].compute(grid, fetch)
            qv, qm = px[0]
            better = np.broadcast_to(qm, grid.shape) & (~have | (np.asarray(qv, np.float64) > best))
            if not better.any():
                continue
            best = np.where(better, qv, best)
            have |= better
            rest = iter(px[1:])
            for k, j in enumerate(idx):
                if j is None:
                    continue
                v, m = next(rest)
                np.copyto(values[k], np.broadcast_to(v, grid.shape), where=better, casting="unsafe")
                masks[k] = np.where(better, np.broadcast_to(m, grid.shape), masks[k])
        return list(zip(values, masks))

    return Image(specs, read, {}, footprint=_union_footprint(images))


@algorithm("ImageCollection.toBands")
def to_bands(collection: ImageCollection) -> Image:
    """One image holding every band of every image, named ``<system:index>_<band>``, each in its own projection."""
    images = list(_images(collection).images)
    specs: list[BandSpec] = []
    where: list[tuple[int, int]] = []
    for i, img in enumerate(images):
        prefix = str(img.properties.get("system:index", i))
        for b, band in enumerate(img.bands):
            specs.append(band.renamed(f"{prefix}_{band.name}"))
            where.append((i, b))

    def read(grid: Grid, wanted: Sequence[int]):
        pixels = compute_many(images, [where[w] for w in wanted], grid)
        return [pixels[where[w]] for w in wanted]

    return Image(specs, read, {}, footprint=_union_footprint(images))


@algorithm("ImageCollection.merge")
def image_collection_merge(collection1: ImageCollection, collection2: ImageCollection) -> ImageCollection:
    return _merge(collection1, collection2)  # type: ignore[return-value]


@algorithm("ImageCollection.combine")
def image_collection_combine(primary: ImageCollection, secondary: ImageCollection,
                             overwrite: bool = False) -> ImageCollection:
    """Each primary image with the bands of the secondary image of the same ``system:index`` added (primary
    images without a match are dropped)."""
    from aef_ee.local.algorithms.image import add_bands

    by_index = {img.properties.get("system:index"): img for img in _images(secondary).images}
    out = []
    for img in _images(primary).images:
        match = by_index.get(img.properties.get("system:index"))
        if match is not None:
            out.append(add_bands(img, match, None, bool(overwrite)))
    return ImageCollection(out, dict(primary.properties))


def _merge(a: Any, b: Any) -> Any:
    """Earth Engine prefixes ids with '1_' and '2_' so they stay unique."""
    first = [_with_index(e, f"1_{_props(e).get('system:index', i)}") for i, e in enumerate(elements(a))]
    second = [_with_index(e, f"2_{_props(e).get('system:index', i)}") for i, e in enumerate(elements(b))]
    if isinstance(a, ImageCollection) and isinstance(b, ImageCollection):
        return ImageCollection(first + second, dict(a.properties))
    return FeatureCollection(first + second, {})


# --- the shared Collection.* algorithms ------------------------------------------------------------------

@algorithm("Collection.merge")
def collection_merge(collection1: Any, collection2: Any) -> Any:
    return _merge(collection1, collection2)


@algorithm("Collection.filter")
def collection_filter(collection: Any, filter: Any) -> Any:  # noqa: A002
    if not callable(filter):
        raise InvalidArgument(f"Collection.filter: expected a Filter; got {type(filter).__name__}.")
    return collection.with_features([e for e in elements(collection) if filter(e)])


@algorithm("Collection.map")
def collection_map(collection: Any, baseAlgorithm: Callable[[Any], Any], dropNulls: bool = False) -> Any:  # noqa: N803
    """Applies the function to every element; images that lost ``system:index`` get their source's back."""
    out = []
    for element in elements(collection):
        result = baseAlgorithm(element)
        if result is None:
            if dropNulls:
                continue
            raise InvalidArgument("Collection.map: A mapped algorithm must return a Feature or Image (got null); "
                                  "use dropNulls=true to drop null results.")
        if isinstance(result, (Image, Feature)) and "system:index" not in result.properties \
                and "system:index" in element.properties:
            result = _with_index(result, element.properties["system:index"])
        out.append(result)
    if out and not all(isinstance(r, (Image, Feature, FeatureCollection)) for r in out):
        raise InvalidArgument("Collection.map: A mapped algorithm must return a Feature or Image.")
    return collection_of(out, collection)


@algorithm("Collection.iterate")
def collection_iterate(collection: Any, function: Callable[[Any, Any], Any], first: Any = None) -> Any:
    state = first
    for element in elements(collection):
        state = function(element, state)
    return state


@algorithm("Collection.size")
def collection_size(collection: Any) -> int:
    return len(elements(collection))


@algorithm("Collection.first")
def collection_first(collection: Any) -> Any:
    items = elements(collection)
    return items[0] if items else None


@algorithm("Collection.toList")
def collection_to_list(collection: Any, count: int, offset: int = 0) -> list[Any]:
    items = elements(collection)
    start = int(offset or 0)
    return items[start:start + int(count)]


def _sort_key(value: Any) -> tuple:
    """Nulls last; numbers before strings."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, (int, float, np.number, bool)):
        return (0, float(value), "")
    return (1, 0, str(value))


@algorithm("Collection.limit")
def collection_limit(collection: Any, limit: int | None = None, key: str | None = None,
                     ascending: bool = True) -> Any:
    """Sorts by ``key`` (stable; nulls last) when given, then keeps the first ``limit`` elements."""
    items = elements(collection)
    if key is not None:
        present = [e for e in items if _props(e).get(key) is not None]
        missing = [e for e in items if _props(e).get(key) is None]
        present.sort(key=lambda e: _sort_key(_props(e).get(key)), reverse=not ascending)
        items = present + missing
    if limit is not None:
        items = items[:max(0, int(limit))]
    return collection.with_features(items)


@algorithm("Collection.distinct")
def collection_distinct(collection: Any, properties: Any) -> Any:
    names = [properties] if isinstance(properties, str) else list(properties)
    seen: set[str] = set()
    out = []
    for e in elements(collection):
        key = json.dumps([_jsonable(_props(e).get(n)) for n in names], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return collection.with_features(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return value
    return repr(value)


@algorithm("Collection.flatten")
def collection_flatten(collection: Any) -> FeatureCollection:
    out = []
    for e in elements(collection):
        if isinstance(e, (FeatureCollection, ImageCollection)):
            out.extend(elements(e))
        else:
            raise InvalidArgument("Collection.flatten: the collection's elements must be collections.")
    return collection_of(out, None)  # type: ignore[return-value]


def _uniform(seed: float, key: str) -> float:
    """A uniform double in [0, 1) determined by the seed and the row key (independent of row order)."""
    digest = hashlib.blake2b(f"{int(seed)}|{key}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> (64 - _HASH_BITS)) / float(1 << _HASH_BITS)


@algorithm("Collection.randomColumn")
def random_column(collection: Any, columnName: str = "random", seed: float = 0,  # noqa: N803
                  distribution: str = "uniform", rowKeys: Sequence[str] | None = None) -> Any:  # noqa: N803
    """Adds a deterministic pseudo-random column: a hash of (seed, row keys), uniform on [0, 1) or N(0, 1).

    The values differ from Earth Engine's generator but are stable across runs, orders and filters.
    """
    if distribution not in ("uniform", "normal"):
        raise InvalidArgument(
            f"Collection.randomColumn: Unknown distribution '{distribution}'; use 'uniform' or 'normal'.")
    keys = list(rowKeys) if rowKeys else ["system:index"]
    normal = statistics.NormalDist()
    out = []
    for i, e in enumerate(elements(collection)):
        row = "|".join(str(_props(e).get(k, i)) for k in keys)
        u = _uniform(seed, row)
        value = u if distribution == "uniform" else normal.inv_cdf(min(max(u, 1e-16), 1 - 1e-16))
        props = dict(_props(e))
        props[columnName] = value
        out.append(e.with_properties(props))
    return collection.with_features(out)


def _geometries(collection: Any) -> list[Any]:
    shapes = []
    for e in elements(collection):
        if isinstance(e, Feature):
            if e.geometry is not None:
                shapes.append(e.geometry.in_crs("EPSG:4326"))
        elif isinstance(e, Image) and e.footprint is not None:
            shapes.append(e.footprint)
    return shapes


@algorithm("Collection.geometry")
def collection_geometry(collection: Any, maxError: Any = None) -> Geometry:  # noqa: N803
    """All the elements' geometries as one multi-geometry (not dissolved), in EPSG:4326."""
    from shapely.geometry import GeometryCollection, MultiLineString, MultiPoint, MultiPolygon

    parts = []
    for shape in _geometries(collection):
        parts.extend(getattr(shape, "geoms", [shape]))
    kinds = {p.geom_type for p in parts}
    if not parts:
        return Geometry(GeometryCollection(), geodesic=False)
    if kinds == {"Point"}:
        return Geometry(MultiPoint(parts) if len(parts) > 1 else parts[0])
    if kinds == {"LineString"}:
        return Geometry(MultiLineString(parts) if len(parts) > 1 else parts[0], geodesic=False)
    if kinds == {"Polygon"}:
        return Geometry(MultiPolygon(parts) if len(parts) > 1 else parts[0], geodesic=False)
    return Geometry(GeometryCollection(parts), geodesic=False)


@algorithm("Collection.bounds")
def collection_bounds(collection: Any, maxError: Any = None, proj: Any = None) -> Geometry:  # noqa: N803
    from shapely.geometry import box

    shapes = _geometries(collection)
    if not shapes:
        raise InvalidArgument("Collection.bounds: the collection has no geometries.")
    bounds = np.array([s.bounds for s in shapes])
    return Geometry(box(bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()),
                    geodesic=False)


# --- aggregates and column reductions --------------------------------------------------------------------

def _column(collection: Any, prop: str) -> list[Any]:
    return [_props(e).get(prop) for e in elements(collection) if _props(e).get(prop) is not None]


def _numbers(collection: Any, prop: str) -> np.ndarray:
    values = _column(collection, prop)
    try:
        return np.asarray(values, np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Property '{prop}' holds non-numeric values.") from None


@algorithm("AggregateFeatureCollection.array")
def aggregate_array(collection: Any, property: str) -> list[Any]:  # noqa: A002
    return _column(collection, property)


@algorithm("AggregateFeatureCollection.first")
def aggregate_first(collection: Any, property: str) -> Any:  # noqa: A002
    items = elements(collection)
    return _props(items[0]).get(property) if items else None


@algorithm("AggregateFeatureCollection.count")
def aggregate_count(collection: Any, property: str) -> int:  # noqa: A002
    return len(_column(collection, property))


@algorithm("AggregateFeatureCollection.count_distinct")
def aggregate_count_distinct(collection: Any, property: str) -> int:  # noqa: A002
    return len({histogram_key(v) for v in _column(collection, property)})


@algorithm("AggregateFeatureCollection.min")
def aggregate_min(collection: Any, property: str) -> Any:  # noqa: A002
    values = _column(collection, property)
    return min(values, key=_sort_key) if values else None


@algorithm("AggregateFeatureCollection.max")
def aggregate_max(collection: Any, property: str) -> Any:  # noqa: A002
    values = _column(collection, property)
    return max(values, key=_sort_key) if values else None


@algorithm("AggregateFeatureCollection.sum")
def aggregate_sum(collection: Any, property: str) -> Any:  # noqa: A002
    values = _column(collection, property)
    if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return int(sum(int(v) for v in values))
    return float(_numbers(collection, property).sum())


@algorithm("AggregateFeatureCollection.product")
def aggregate_product(collection: Any, property: str) -> float:  # noqa: A002
    return float(np.prod(_numbers(collection, property)))


@algorithm("AggregateFeatureCollection.mean")
def aggregate_mean(collection: Any, property: str) -> float | None:  # noqa: A002
    x = _numbers(collection, property)
    return float(x.mean()) if len(x) else None


def _var(x: np.ndarray, sample: bool) -> float | None:
    if len(x) < (2 if sample else 1):
        return None
    return float(x.var(ddof=1 if sample else 0))


@algorithm("AggregateFeatureCollection.sample_var")
def aggregate_sample_var(collection: Any, property: str) -> float | None:  # noqa: A002
    return _var(_numbers(collection, property), True)


@algorithm("AggregateFeatureCollection.total_var")
def aggregate_total_var(collection: Any, property: str) -> float | None:  # noqa: A002
    return _var(_numbers(collection, property), False)


@algorithm("AggregateFeatureCollection.sample_sd")
def aggregate_sample_sd(collection: Any, property: str) -> float | None:  # noqa: A002
    v = _var(_numbers(collection, property), True)
    return None if v is None else math.sqrt(v)


@algorithm("AggregateFeatureCollection.total_sd")
def aggregate_total_sd(collection: Any, property: str) -> float | None:  # noqa: A002
    v = _var(_numbers(collection, property), False)
    return None if v is None else math.sqrt(v)


@algorithm("AggregateFeatureCollection.stats")
def aggregate_stats(collection: Any, property: str) -> dict[str, Any]:  # noqa: A002
    """Earth Engine's statistics dictionary (unit weights)."""
    x = _numbers(collection, property)
    n = len(x)
    if n == 0:
        return {"max": None, "mean": None, "min": None, "sample_sd": None, "sample_var": None, "sum": 0,
                "sum_sq": 0, "total_count": 0, "total_sd": None, "total_var": None, "valid_count": 0,
                "weight_sum": 0, "weighted_sum": 0}
    sample_var = _var(x, True)
    return {
        "max": float(x.max()), "mean": float(x.mean()), "min": float(x.min()),
        "sample_sd": None if sample_var is None else math.sqrt(sample_var), "sample_var": sample_var,
        "sum": float(x.sum()), "sum_sq": float((x * x).sum()), "total_count": len(elements(collection)),
        "total_sd": math.sqrt(float(x.var())), "total_var": float(x.var()), "valid_count": n,
        "weight_sum": float(n), "weighted_sum": float(x.sum()),
    }


@algorithm("AggregateFeatureCollection.histogram")
def aggregate_histogram(collection: Any, property: str) -> dict[str, int]:  # noqa: A002
    tally: dict[str, int] = {}
    for v in _column(collection, property):
        key = histogram_key(v)
        tally[key] = tally.get(key, 0) + 1
    return tally


@algorithm("Collection.reduceColumns")
def reduce_columns(collection: Any, reducer: Any, selectors: Sequence[str],
                   weightSelectors: Sequence[str] | None = None) -> dict[str, Any]:  # noqa: N803
    """Reduces the selected properties (rows with a null in any of them are left out); raw output names."""
    reducer = as_reducer(reducer)
    selectors = [selectors] if isinstance(selectors, str) else list(selectors)
    rows, weights = [], []
    for e in elements(collection):
        props = _props(e)
        row = [props.get(s) for s in selectors]
        if any(v is None for v in row):
            continue
        rows.append(row)
        if weightSelectors:
            weights.append(float(props.get(weightSelectors[0]) or 0.0))
    values = np.empty((len(rows), len(selectors)), dtype=object)
    for i, row in enumerate(rows):
        values[i, :] = row
    values = _tighten(values)
    return reducer.reduce_samples(values, np.asarray(weights) if weightSelectors else None)


def _tighten(values: np.ndarray) -> np.ndarray:
    """An object table as int64 / float64 when every cell is such a number (keeps strings as objects)."""
    flat = values.ravel()
    if flat.size and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
        return values.astype(np.int64)
    if flat.size and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in flat):
        return values.astype(np.float64)
    return values
