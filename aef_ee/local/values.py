"""The value types the evaluator passes between algorithms (besides numbers, strings, lists, dicts and images).

Geometries are shapely geometries in their CRS (EPSG:4326 by default); features carry a geometry and properties;
collections are lists with collection-level properties. Everything here is immutable in spirit: algorithms return
new values and never mutate their inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.local.projection import transformer
from aef_ee.local.raster import Image

__all__ = [
    "Geometry",
    "Feature",
    "FeatureCollection",
    "ImageCollection",
    "Date",
    "DateRange",
    "Filter",
    "Element",
]


@dataclasses.dataclass(frozen=True)
class Geometry:
    """A shapely geometry with its CRS and Earth Engine's geodesic flag."""

    shape: Any
    crs: str = "EPSG:4326"
    geodesic: bool = True

    def in_crs(self, crs: str) -> Any:
        """The shapely geometry transformed to ``crs``."""
        if crs == self.crs:
            return self.shape
        import shapely

        t = transformer(self.crs, crs)

        def project(coords):
            x, y = t.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(self.shape, project)

    def to_geojson(self, *, keep_crs: bool = False) -> dict[str, Any]:
        """GeoJSON in EPSG:4326, or with ``keep_crs`` in the geometry's own CRS with a ``crs`` member (what
        Earth Engine's getInfo returns for a projected geometry)."""
        from shapely.geometry import mapping

        native = keep_crs and self.crs != "EPSG:4326"
        shape = self.shape if native else self.in_crs("EPSG:4326")
        gj = _lists(mapping(shape))
        if native:
            gj["crs"] = {"type": "name", "properties": {"name": self.crs}}
        if gj["type"] != "Point" and gj["type"] != "MultiPoint":
            gj["geodesic"] = self.geodesic
        return gj


def _lists(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class Feature:
    geometry: Geometry | None
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def with_properties(self, properties: Mapping[str, Any]) -> "Feature":
        return Feature(self.geometry, dict(properties))


@dataclasses.dataclass(frozen=True)
class FeatureCollection:
    features: Sequence[Feature]
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def with_features(self, features: Sequence[Feature]) -> "FeatureCollection":
        return FeatureCollection(list(features), self.properties)

    def with_properties(self, properties: Mapping[str, Any]) -> "FeatureCollection":
        return FeatureCollection(self.features, dict(properties))


@dataclasses.dataclass(frozen=True)
class ImageCollection:
    images: Sequence[Image]
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def with_images(self, images: Sequence[Image]) -> "ImageCollection":
        return ImageCollection(list(images), self.properties)

    def with_properties(self, properties: Mapping[str, Any]) -> "ImageCollection":
        return ImageCollection(self.images, dict(properties))

    # Collections expose elements uniformly for the shared Collection.* algorithms.
    @property
    def features(self) -> Sequence[Image]:
        return self.images

    def with_features(self, elements: Sequence[Image]) -> "ImageCollection":
        return self.with_images(elements)


Element = Image | Feature


@dataclasses.dataclass(frozen=True, order=True)
class Date:
    """An instant, milliseconds since 1970-01-01T00:00:00Z."""

    millis: float


@dataclasses.dataclass(frozen=True)
class DateRange:
    """The half-open interval [start, end) in ms since the epoch."""

    start: float
    end: float


@dataclasses.dataclass(frozen=True)
class Filter:
    """A predicate over collection elements (images or features).

    ``predicate(element)`` tests one element; filters that compare two elements (a join's condition) also take
    ``predicate(primary, secondary)``. ``measure(primary, secondary)``, where given, is the join measure Earth Engine
    defines for ``withinDistance`` (the distance) and ``maxDifference`` (the difference).
    """

    predicate: Callable[..., bool]
    description: str = "Filter"
    measure: Callable[[Any, Any], float | None] | None = None

    def __call__(self, element: Any) -> bool:
        return bool(self.predicate(element))
