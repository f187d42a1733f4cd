"""Collections: loading image collections and tables from the catalog, and the shared ``Collection.*`` /
``AggregateFeatureCollection.*`` algorithms over images and features alike.

Composites (mosaic, reduce, toBands) are the :mod:`aef_ee.local.algorithms.composite` family.
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
from aef_ee.local.algorithms.reducer import as_reducer, histogram_key
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.context import current_context
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.raster import Image
from aef_ee.local.values import Feature, FeatureCollection, Geometry, ImageCollection

__all__ = ["load_image_collection", "load_table", "collection_of", "elements"]

# The denominators of 2^53 used to turn a hash into a uniform double in [0, 1).
_HASH_BITS = 53


# --- loading ---------------------------------------------------------------------------------------------

@algorithm("ImageCollection.load")
def load_image_collection(id: str, version: int | None = None) -> ImageCollection:
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
def load_table(tableId: str, geometryColumn: str | None = None, version: int | None = None
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


@algorithm("ImageCollection.merge")
def image_collection_merge(collection1: ImageCollection, collection2: ImageCollection) -> ImageCollection:
    return _merge(collection1, collection2)  # type: ignore[return-value]


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
def collection_filter(collection: Any, filter: Any) -> Any:
    if not callable(filter):
        raise InvalidArgument(f"Collection.filter: expected a Filter; got {type(filter).__name__}.")
    return collection.with_features([e for e in elements(collection) if filter(e)])


@algorithm("Collection.map")
def collection_map(collection: Any, baseAlgorithm: Callable[[Any], Any], dropNulls: bool = False) -> Any:
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
def random_column(collection: Any, columnName: str = "random", seed: float = 0,
                  distribution: str = "uniform", rowKeys: Sequence[str] | None = None) -> Any:
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
def collection_geometry(collection: Any, maxError: Any = None) -> Geometry:
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
def collection_bounds(collection: Any, maxError: Any = None, proj: Any = None) -> Geometry:
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
def aggregate_array(collection: Any, property: str) -> list[Any]:
    return _column(collection, property)


@algorithm("AggregateFeatureCollection.first")
def aggregate_first(collection: Any, property: str) -> Any:
    items = elements(collection)
    return _props(items[0]).get(property) if items else None


@algorithm("AggregateFeatureCollection.count")
def aggregate_count(collection: Any, property: str) -> int:
    return len(_column(collection, property))


@algorithm("AggregateFeatureCollection.count_distinct")
def aggregate_count_distinct(collection: Any, property: str) -> int:
    return len({histogram_key(v) for v in _column(collection, property)})


@algorithm("AggregateFeatureCollection.min")
def aggregate_min(collection: Any, property: str) -> Any:
    values = _column(collection, property)
    return min(values, key=_sort_key) if values else None


@algorithm("AggregateFeatureCollection.max")
def aggregate_max(collection: Any, property: str) -> Any:
    values = _column(collection, property)
    return max(values, key=_sort_key) if values else None


@algorithm("AggregateFeatureCollection.sum")
def aggregate_sum(collection: Any, property: str) -> Any:
    values = _column(collection, property)
    if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return int(sum(int(v) for v in values))
    return float(_numbers(collection, property).sum())


@algorithm("AggregateFeatureCollection.product")
def aggregate_product(collection: Any, property: str) -> float:
    return float(np.prod(_numbers(collection, property)))


@algorithm("AggregateFeatureCollection.mean")
def aggregate_mean(collection: Any, property: str) -> float | None:
    x = _numbers(collection, property)
    return float(x.mean()) if len(x) else None


def _var(x: np.ndarray, sample: bool) -> float | None:
    if len(x) < (2 if sample else 1):
        return None
    return float(x.var(ddof=1 if sample else 0))


@algorithm("AggregateFeatureCollection.sample_var")
def aggregate_sample_var(collection: Any, property: str) -> float | None:
    return _var(_numbers(collection, property), True)


@algorithm("AggregateFeatureCollection.total_var")
def aggregate_total_var(collection: Any, property: str) -> float | None:
    return _var(_numbers(collection, property), False)


@algorithm("AggregateFeatureCollection.sample_sd")
def aggregate_sample_sd(collection: Any, property: str) -> float | None:
    v = _var(_numbers(collection, property), True)
    return None if v is None else math.sqrt(v)


@algorithm("AggregateFeatureCollection.total_sd")
def aggregate_total_sd(collection: Any, property: str) -> float | None:
    v = _var(_numbers(collection, property), False)
    return None if v is None else math.sqrt(v)


@algorithm("AggregateFeatureCollection.stats")
def aggregate_stats(collection: Any, property: str) -> dict[str, Any]:
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
def aggregate_histogram(collection: Any, property: str) -> dict[str, int]:
    tally: dict[str, int] = {}
    for v in _column(collection, property):
        key = histogram_key(v)
        tally[key] = tally.get(key, 0) + 1
    return tally


@algorithm("Collection.reduceColumns")
def reduce_columns(collection: Any, reducer: Any, selectors: Sequence[str],
                   weightSelectors: Sequence[str] | None = None) -> dict[str, Any]:
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
