"""Feature algorithms: the ``Feature`` and ``Collection`` constructors, geometry access, the ``Feature.*`` variants
of the geometry operations (which keep the feature's properties), and ``Feature.select``.

Properties are read and written through the shared ``Element.*`` algorithms in ``image.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.local.algorithms import geometry as geo
from aef_ee.local.algorithms import geometry_ops as geo_ops
from aef_ee.local.algorithms._selectors import match_names
from aef_ee.local.algorithms.registry import algorithm
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.geometry_raster import as_geometry
from aef_ee.local.raster import Image
from aef_ee.local.semantics import number_arg
from aef_ee.local.values import Feature, FeatureCollection, Geometry

__all__ = ["make_feature", "as_feature", "feature_collection"]


def _geometry_or_none(value: Any) -> Geometry | None:
    if value is None:
        return None
    if isinstance(value, Geometry):
        return value
    if isinstance(value, Feature):
        return value.geometry
    if isinstance(value, Mapping):
        return geo.geometry_from_geojson(dict(value))
    return as_geometry(value)


def make_feature(geometry: Any = None, metadata: Mapping[str, Any] | None = None) -> Feature:
    """A feature from a geometry (or GeoJSON geometry, or GeoJSON Feature) and a property dict."""
    if isinstance(geometry, Mapping) and geometry.get("type") == "Feature":
        props = dict(geometry.get("properties") or {})
        if "id" in geometry:
            props.setdefault("system:index", str(geometry["id"]))
        props.update(metadata or {})
        return Feature(_geometry_or_none(geometry.get("geometry")), props)
    if isinstance(geometry, Feature):
        props = dict(geometry.properties)
        props.update(metadata or {})
        return Feature(geometry.geometry, props)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidArgument(f"Feature: metadata must be a dictionary; got {type(metadata).__name__}.")
    return Feature(_geometry_or_none(geometry), dict(metadata or {}))


@algorithm("Feature")
def feature(
    geometry: Any = None, metadata: Mapping[str, Any] | None = None, geometryKey: str | None = None,
) -> Feature:
    if geometryKey is not None:
        raise InvalidArgument("Feature: geometryKey is not supported by the local Earth Engine.")
    return make_feature(geometry, metadata)


def as_feature(value: Any) -> Feature:
    """A Feature from a Feature or a bare Geometry (Earth Engine promotes geometries where features are wanted)."""
    if isinstance(value, Feature):
        return value
    if isinstance(value, (Geometry, Mapping)):
        return make_feature(value)
    raise InvalidArgument(f"Expected a Feature; got {type(value).__name__}.")


def feature_collection(features: Sequence[Any]) -> FeatureCollection:
    """A collection of features (geometries are wrapped); features without an id get their position as id."""
    if not isinstance(features, (list, tuple)):
        raise InvalidArgument(f"Collection: features must be a list; got {type(features).__name__}.")
    out = []
    for i, item in enumerate(features):
        f = as_feature(item)
        if "system:index" not in f.properties:
            f = f.with_properties({**f.properties, "system:index": str(i)})
        out.append(f)
    return FeatureCollection(out)


@algorithm("Collection")
def collection(features: Sequence[Any]) -> FeatureCollection:
    return feature_collection(features)


# --- geometry access -----------------------------------------------------------------------------------------

@algorithm("Feature.geometry")
def feature_geometry(
    feature: Any, maxError: Any = None, proj: Any = None, geodesics: bool | None = None,
) -> Geometry:
    if isinstance(feature, Image):
        return as_geometry(feature) if feature.footprint is not None else geo.bbox(-180, -90, 180, 90)
    f = as_feature(feature)
    if f.geometry is None:
        raise InvalidArgument("Feature.geometry: Feature has no geometry.")
    if proj is None and geodesics is None:
        return f.geometry
    return geo_ops.transform(f.geometry, proj if proj is not None else f.geometry.crs, maxError, geodesics)


@algorithm("Feature.setGeometry")
def set_geometry(feature: Any, geometry: Any = None) -> Feature:
    f = as_feature(feature)
    return Feature(_geometry_or_none(geometry), dict(f.properties))


@algorithm("Feature.id")
def feature_id(element: Any) -> str | None:
    value = element.properties.get("system:index")
    return None if value is None else str(value)


@algorithm("Feature.toArray")
def feature_to_array(feature: Any, properties: Sequence[str]) -> np.ndarray:
    props = as_feature(feature).properties
    missing = [p for p in properties if p not in props]
    if missing:
        raise InvalidArgument(f"Feature.toArray: Property {missing[0]!r} is missing.")
    return np.asarray([props[p] for p in properties], dtype=np.float64)


# --- Feature.* variants of geometry operations ----------------------------------------------------------------

def _geom(f: Feature, name: str) -> Geometry:
    if f.geometry is None:
        raise InvalidArgument(f"Feature.{name}: Feature has no geometry.")
    return f.geometry


def _unary_feature(name: str, op) -> None:
    def impl(feature: Any, maxError: Any = None, proj: Any = None) -> Feature:
        f = as_feature(feature)
        return Feature(op(_geom(f, name), maxError, proj), dict(f.properties))

    impl.__name__ = f"feature_{name}"
    algorithm(f"Feature.{name}")(impl)


_unary_feature("bounds", lambda g, e, p: geo_ops.bounds(g, e, p))
_unary_feature("centroid", lambda g, e, p: geo_ops.centroid(g, e, p))
_unary_feature("convexHull", lambda g, e, p: geo_ops.convex_hull(g, e, p))
_unary_feature("dissolve", lambda g, e, p: geo_ops.dissolve(g, e, p))


def _measure_feature(name: str, op) -> None:
    def impl(feature: Any, maxError: Any = None, proj: Any = None) -> float:
        return op(_geom(as_feature(feature), name), maxError, proj)

    impl.__name__ = f"feature_{name}"
    algorithm(f"Feature.{name}")(impl)


_measure_feature("area", geo_ops.area)
_measure_feature("length", geo_ops.length)
_measure_feature("perimeter", geo_ops.perimeter)


@algorithm("Feature.buffer")
def feature_buffer(feature: Any, distance: float, maxError: Any = None, proj: Any = None) -> Feature:
    f = as_feature(feature)
    return Feature(geo_ops.buffer(_geom(f, "buffer"), distance, maxError, proj), dict(f.properties))


@algorithm("Feature.simplify")
def feature_simplify(feature: Any, maxError: Any, proj: Any = None) -> Feature:
    f = as_feature(feature)
    return Feature(geo_ops.simplify(_geom(f, "simplify"), maxError, proj), dict(f.properties))


@algorithm("Feature.transform")
def feature_transform(
    feature: Any, proj: Any = None, maxError: Any = None, geodesic: bool | None = None,
) -> Feature:
    f = as_feature(feature)
    return Feature(geo_ops.transform(_geom(f, "transform"), proj, maxError, geodesic), dict(f.properties))


def _other_geometry(value: Any, name: str) -> Geometry:
    if isinstance(value, Feature):
        return _geom(value, name)
    return as_geometry(value) if not isinstance(value, Mapping) else geo.geometry_from_geojson(dict(value))


def _binary_feature(name: str, returns_feature: bool) -> None:
    geometry_op = geo_ops.lookup_geometry_op(name)

    def impl(left: Any, right: Any, maxError: Any = None, proj: Any = None) -> Any:
        f = as_feature(left)
        result = geometry_op(_geom(f, name), _other_geometry(right, name), maxError, proj)
        return Feature(result, dict(f.properties)) if returns_feature else result

    impl.__name__ = f"feature_{name}"
    algorithm(f"Feature.{name}")(impl)


for _name in ("intersection", "union", "difference", "symmetricDifference"):
    _binary_feature(_name, True)
for _name in ("intersects", "disjoint", "contains", "containedIn"):
    _binary_feature(_name, False)


@algorithm("Feature.distance")
def feature_distance(
    left: Any, right: Any, maxError: Any = None, proj: Any = None, spherical: bool = False,
) -> float:
    return geo_ops.geometry_distance(_geom(as_feature(left), "distance"), _other_geometry(right, "distance"), proj,
                                 spherical)


@algorithm("Feature.withinDistance")
def feature_within_distance(left: Any, right: Any, distance: float, maxError: Any = None,
                            proj: Any = None) -> bool:
    d = geo_ops.geometry_distance(_geom(as_feature(left), "withinDistance"), _other_geometry(right, "withinDistance"),
                              proj)
    return d <= number_arg(distance, "Feature.withinDistance")


# --- properties ----------------------------------------------------------------------------------------------

def _select_keys(names: Sequence[str], selectors: Sequence[Any], what: str) -> list[str]:
    chosen: list[str] = []
    for sel in selectors:
        sel = str(sel)
        found = match_names(sel, names)
        if not found:
            raise InvalidArgument(f"{what}: Selector '{sel}' did not match any properties. "
                                  f"Available properties: {list(names)}")
        chosen.extend(n for n in found if n not in chosen)
    return chosen


@algorithm("Feature.select")
def feature_select(
    input: Any, propertySelectors: Sequence[Any], newProperties: Sequence[str] | None = None,
    retainGeometry: bool = True,
) -> Feature:
    """Keeps the properties matching the selectors (names or regexes), optionally renamed, plus system:index."""
    f = as_feature(input)
    if isinstance(propertySelectors, str):
        propertySelectors = [propertySelectors]
    names = [k for k in f.properties]
    chosen = _select_keys(names, propertySelectors, "Feature.select")
    if newProperties is not None and len(newProperties) != len(chosen):
        raise InvalidArgument(f"Feature.select: {len(newProperties)} new names for {len(chosen)} selected "
                              f"properties.")
    targets = list(newProperties) if newProperties is not None else chosen
    props = {t: f.properties[c] for c, t in zip(chosen, targets)}
    if "system:index" in f.properties:
        props.setdefault("system:index", f.properties["system:index"])
    return Feature(f.geometry if retainGeometry else None, props)
