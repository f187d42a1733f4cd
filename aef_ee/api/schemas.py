"""Request bodies of the embeddings API (pydantic models: validated before any Earth Engine call, and shown in the
OpenAPI schema) and the parsing of query-string points."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aef_ee.api.settings import MAX_K, MAX_LABELS
from aef_ee.errors import AefValueError
from aef_ee.ops.classification import CLASSIFIERS

__all__ = ["SimilarityRequest", "ClassifyRequest", "UpdateRequest", "parse_point"]

_GEOMETRIES = ("Point", "MultiPoint", "Polygon", "MultiPolygon")


def parse_point(text: str) -> tuple[float, float]:
    """``"lon,lat"`` -> (lon, lat) in degrees.

    Raises:
      AefValueError: not two numbers, or outside [-180, 180] x [-90, 90].
    """
    parts = text.split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError as exc:
        raise AefValueError(f"a point is 'lon,lat' in degrees, e.g. '-96.01,41.87'; got {text!r}") from exc
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise AefValueError(f"point {text!r} is outside [-180, 180] x [-90, 90]")
    return lon, lat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimilarityRequest(_Strict):
    """Find places similar to a point, a polygon (its mean embedding) or a vector, in the vector index."""

    point: tuple[float, float] | None = Field(None, description="[lon, lat] in degrees")
    polygon: dict[str, Any] | None = Field(None, description="a GeoJSON Polygon: its mean embedding is the query")
    vector: list[float] | None = Field(None, min_length=64, max_length=64, description="a 64-number embedding")
    year: int | None = Field(None, ge=1900, le=2200, description="year of the query's embedding (default: latest)")
    k: int | None = Field(10, ge=1, le=MAX_K, description="neighbours to return")
    threshold: float | None = Field(None, ge=-1, le=1, description="keep neighbours with similarity >= threshold")
    years: list[int] | None = Field(None, min_length=1, max_length=50, description="only these years")
    region: list[float] | dict[str, Any] | None = Field(
        None, description="only within [west, south, east, north] or a GeoJSON Polygon")
    refine: bool = Field(False, description="exact best pixel around each hit, computed by Earth Engine")
    map: Literal["tiles", "geotiff"] | None = Field(None, description="refined similarity map: tile URL or GeoTIFFs")

    @model_validator(mode="after")
    def _one_query(self) -> SimilarityRequest:
        given = [name for name in ("point", "polygon", "vector") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of point, polygon, vector; got {given or 'none'}")
        if self.k is None and self.threshold is None:
            raise ValueError("give k, a threshold, or both")
        if self.point is not None and not (-180 <= self.point[0] <= 180 and -90 <= self.point[1] <= 90):
            raise ValueError(f"point {list(self.point)} is outside [-180, 180] x [-90, 90]")
        if self.polygon is not None and self.polygon.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"polygon must be a GeoJSON Polygon or MultiPolygon; got {self.polygon.get('type')!r}")
        if isinstance(self.region, list) and len(self.region) != 4:
            raise ValueError("region as a list is [west, south, east, north]")
        return self

    def where(self) -> Any:
        return self.vector if self.vector is not None else (self.polygon if self.polygon is not None
                                                            else tuple(self.point))


class ClassifyRequest(_Strict):
    """Labels in, classified map out: trains a classifier on the embeddings under the labels, as the ops do."""

    labels: dict[str, Any] = Field(..., description="a GeoJSON FeatureCollection of labelled points or polygons")
    label_property: str = Field("class", min_length=1, max_length=64, description="the integer class property")
    year: int = Field(..., ge=1900, le=2200)
    region: list[float] = Field(..., min_length=4, max_length=4, description="[west, south, east, north] to map")
    method: str = Field("knn", description=f"one of {list(CLASSIFIERS)}")
    k: int = Field(3, ge=1, le=50, description="neighbours for kNN")
    scale: float = Field(10.0, ge=10, le=1000, description="metres per pixel of the map")
    output: Literal["tiles", "geotiff"] = "tiles"

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in CLASSIFIERS:
            raise ValueError(f"method must be one of {list(CLASSIFIERS)}; got {value!r}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: list[float]) -> list[float]:
        west, south, east, north = value
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError(f"region is [west, south, east, north] with west < east, south < north; got {value}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "FeatureCollection" or not isinstance(value.get("features"), list):
            raise ValueError("labels must be a GeoJSON FeatureCollection")
        features = value["features"]
        if not features:
            raise ValueError("labels has no features")
        if len(features) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} label features; got {len(features)}")
        for i, feature in enumerate(features):
            geometry = (feature or {}).get("geometry") or {}
            if geometry.get("type") not in _GEOMETRIES:
                raise ValueError(f"feature {i}: geometry must be one of {list(_GEOMETRIES)}; got "
                                 f"{geometry.get('type')!r}")
        return value

    @model_validator(mode="after")
    def _classes(self) -> ClassifyRequest:
        for i, feature in enumerate(self.labels["features"]):
            value = (feature.get("properties") or {}).get(self.label_property)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"feature {i}: property {self.label_property!r} must be an integer class; got "
                                 f"{value!r}")
        return self


class UpdateRequest(_Strict):
    """Add the collection's new tiles (and these years) to the vector index."""

    years: list[int] | None = Field(None, max_length=50)
