"""Converts engine values to the JSON that Earth Engine's ``value:compute`` returns (what ``getInfo()`` shows)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.projection import Projection
from aef_ee.local.raster import Image
from aef_ee.local.values import Date, DateRange, Feature, FeatureCollection, Filter, Geometry, ImageCollection

__all__ = ["to_json", "image_info", "feature_info"]


def image_info(image: Image) -> dict[str, Any]:
    info: dict[str, Any] = {"type": "Image", "bands": [b.to_info() for b in image.bands]}
    props = {k: to_json(v) for k, v in image.properties.items() if k != "system:id"}
    if "system:id" in image.properties:
        info["id"] = image.properties["system:id"]
    if image.footprint is not None and "system:footprint" not in props:
        props["system:footprint"] = Geometry(image.footprint, geodesic=False).to_geojson()
    if props:
        info["properties"] = props
    return info


def feature_info(feature: Feature) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": "Feature",
        "geometry": feature.geometry.to_geojson() if feature.geometry is not None else None,
    }
    props = dict(feature.properties)
    if "system:index" in props:
        info["id"] = str(props.pop("system:index"))
    info["properties"] = {k: to_json(v) for k, v in props.items()}
    return info


def _columns(features: list[Feature]) -> dict[str, str]:
    columns: dict[str, str] = {}
    for feature in features[:1000]:
        for key, value in feature.properties.items():
            if key in columns:
                continue
            if isinstance(value, bool) or isinstance(value, (int, np.integer)):
                columns[key] = "Integer"
            elif isinstance(value, (float, np.floating)):
                columns[key] = "Float"
            elif isinstance(value, str):
                columns[key] = "String"
            else:
                columns[key] = "Object"
    columns["system:index"] = "String"
    return columns


def to_json(value: Any) -> Any:
    """The JSON form of any engine value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Image):
        return image_info(value)
    if isinstance(value, ImageCollection):
        info: dict[str, Any] = {"type": "ImageCollection", "bands": [],
                                "features": [image_info(i) for i in value.images]}
        props = dict(value.properties)
        if "system:id" in props:
            info["id"] = props.pop("system:id")
        if props:
            info["properties"] = to_json(props)
        return info
    if isinstance(value, Feature):
        return feature_info(value)
    if isinstance(value, FeatureCollection):
        feats = list(value.features)
        info = {"type": "FeatureCollection", "columns": _columns(feats), "features": [feature_info(f) for f in feats]}
        props = dict(value.properties)
        if "system:id" in props:
            info["id"] = props.pop("system:id")
        if props:
            info["properties"] = to_json(props)
        return info
    if isinstance(value, Geometry):
        return value.to_geojson(keep_crs=True)
    if isinstance(value, Date):
        return {"type": "Date", "value": int(value.millis)}
    if isinstance(value, DateRange):
        return {"type": "DateRange", "dates": [int(value.start), int(value.end)]}
    if isinstance(value, Projection):
        return value.to_info()
    if isinstance(value, Filter):
        return {"type": "Filter", "description": value.description}
    to_info = getattr(value, "to_info", None)
    if callable(to_info):
        return to_json(to_info())
    if callable(value):
        raise InvalidArgument("A function cannot be returned as a value.")
    raise InvalidArgument(f"Cannot return a value of type {type(value).__name__}.")
