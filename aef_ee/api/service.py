"""What the endpoints do, without HTTP: the same ops against Earth Engine or the local engine.

:class:`EmbeddingService` holds the collection's opened images (one ``open_embeddings`` check per year, then cached)
and the optional vector index; each method makes as few ``ee`` requests as it can (one for points and trajectories,
two for a window) and raises aef-ee errors that the app turns into 4xx answers.
"""

from __future__ import annotations

import datetime
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.api.batching import GroupCommit
from aef_ee.api.settings import MAX_CLASSIFY_PIXELS, MAX_YEARS
from aef_ee.errors import AefValueError, EmbeddingError
from aef_ee.fields.collection import EMBEDDING_BANDS, NATIVE_SCALE_M, dequantize_array, open_embeddings, year_range
from aef_ee.npy import compute_pixels

__all__ = ["EmbeddingService", "SIMILARITY_PALETTE"]

# Similarity maps: low (dark) to high (bright), as the explorer shows them.
SIMILARITY_PALETTE = ["000004", "51127c", "b73779", "fc8961", "fcfdbf"]


class EmbeddingService:
    """The API's backend.

    Args:
      collection: the embedding collection.
      index: an opened :class:`aef_ee.search.EmbeddingIndex` of it, or None (POST /similarity is then refused).
    """

    def __init__(self, collection: str, index: Any = None) -> None:
        self.collection = collection
        self.index = index
        self._images: dict[int, Any] = {}
        self._stored: dict[int, tuple[Any, bool]] = {}
        self._projections: dict[int, dict[str, Any]] = {}
        self._years: list[int] | None = None
        self._lock = threading.Lock()
        # Concurrent point queries of one year share one Earth Engine request (see aef_ee.api.batching).
        self._point_reads: GroupCommit[tuple[float, float], list[float] | None] = GroupCommit(self._read_points)

    # ------------------------------------------------------------------------------------------------ years

    def years(self) -> list[int]:
        """The collection's years (one request, then cached)."""
        if self._years is None:
            import ee

            starts = ee.ImageCollection(self.collection).aggregate_array("system:time_start").getInfo() or []
            self._years = sorted({datetime.datetime.fromtimestamp(s / 1000, datetime.timezone.utc).year
                                  for s in starts})
        return self._years

    def image(self, year: int) -> Any:
        """The de-quantised embeddings of ``year`` (checked once, then cached).

        Raises:
          EmbeddingError: the collection has no image in ``year``.
        """
        year = int(year)
        with self._lock:
            cached = self._images.get(year)
        if cached is not None:
            return cached
        image = open_embeddings(year, collection=self.collection)
        with self._lock:
            self._images[year] = image
        return image

    def stored(self, year: int) -> tuple[Any, bool]:
        """(the mosaic of ``year`` as stored, whether it holds int8 codes): what point reads ask for.

        The local engine spends about a third of a point query de-quantising 64 bands inside the expression;
        reading the int8 codes and de-quantising them here (:func:`aef_ee.fields.dequantize_array`, the same
        formula) gives the same values faster. Float collections (Google's) are read as they are.
        """
        import ee

        year = int(year)
        with self._lock:
            cached = self._stored.get(year)
        if cached is not None:
            return cached
        self.image(year)  # raises EmbeddingError for a year the collection lacks
        images = ee.ImageCollection(self.collection).filterDate(*year_range(year))
        types = images.first().select(EMBEDDING_BANDS[0]).bandTypes().getInfo()
        quantized = (types.get(EMBEDDING_BANDS[0]) or {}).get("precision") == "int"
        # A mosaic's default projection is WGS84 at 1 degree: give it the tiles' own grid, as open_embeddings does,
        # or a point reads a neighbouring pixel resampled onto a 10 m grid in degrees.
        native = images.first().select(EMBEDDING_BANDS[0]).projection()
        mosaic = images.select(EMBEDDING_BANDS).mosaic().setDefaultProjection(native)
        entry = (mosaic, quantized) if quantized else (self.image(year), False)
        with self._lock:
            self._stored[year] = entry
        return entry

    # ------------------------------------------------------------------------------------------------ embeddings

    def embeddings_at(self, points: Sequence[tuple[float, float]], year: int) -> list[list[float] | None]:
        """The 64 values at each point (None where the collection has no valid pixel): one request, shared with the
        point queries of the same year that arrive while another is in flight."""
        self.stored(year)  # raises EmbeddingError for a year the collection lacks, for this caller alone
        return self._point_reads(int(year), list(points))

    def _read_points(self, year: int, points: list[tuple[float, float]]) -> list[list[float] | None]:
        import ee

        image, quantized = self.stored(year)
        features = ee.FeatureCollection([ee.Feature(ee.Geometry.Point([lon, lat]), {"i": i})
                                         for i, (lon, lat) in enumerate(points)])
        sampled = image.reduceRegions(collection=features, reducer=ee.Reducer.first(),
                                      scale=NATIVE_SCALE_M).getInfo()
        values: list[list[float] | None] = [None] * len(points)
        for feature in sampled["features"]:
            props = feature["properties"]
            values[int(props["i"])] = _vector([props.get(b) for b in EMBEDDING_BANDS], quantized)
        return values

    def window(self, lon: float, lat: float, year: int, size: int) -> dict[str, Any]:
        """The ``size`` x ``size`` native pixels around a point: values (size, size, 64), their lon / lat, and a
        validity mask; two requests (the point in the native grid, then the pixels)."""
        import ee

        image = self.image(year)
        projection = self._projection(year, image)
        crs, (sx, _, x0, _, sy, y0) = projection["crs"], projection["transform"]
        x, y = ee.Geometry.Point([lon, lat]).transform(crs, 0.001).coordinates().getInfo()
        col, row = math.floor((x - x0) / sx), math.floor((y - y0) / sy)
        half = size // 2
        grid = {"crsCode": crs, "dimensions": {"width": size, "height": size},
                "affineTransform": {"scaleX": sx, "shearX": 0, "translateX": x0 + (col - half) * sx,
                                    "shearY": 0, "scaleY": sy, "translateY": y0 + (row - half) * sy}}
        valid = image.select(EMBEDDING_BANDS).mask().reduce(ee.Reducer.min()).gt(0).rename("valid").toUint8()
        out = compute_pixels({"expression": image.unmask(0).addBands(valid).addBands(ee.Image.pixelLonLat()),
                              "grid": grid})
        values = np.stack([out[b] for b in EMBEDDING_BANDS], axis=-1).astype(np.float64)
        ok = out["valid"] > 0
        return {"values": np.where(ok[..., None], values, np.nan), "valid": ok, "lon": out["longitude"],
                "lat": out["latitude"], "crs": crs, "transform": grid["affineTransform"]}

    def _projection(self, year: int, image: Any) -> dict[str, Any]:
        if year not in self._projections:
            info = image.select(EMBEDDING_BANDS[0]).projection().getInfo()
            if "transform" not in info:
                raise EmbeddingError(f"{self.collection} {year} has no affine grid to read a window on")
            self._projections[year] = {"crs": info["crs"], "transform": info["transform"]}
        return self._projections[year]

    # ------------------------------------------------------------------------------------------------ temporal

    def trajectory(self, lon: float, lat: float, years: Sequence[int] | None) -> dict[str, Any]:
        """The point's embedding in each year (one request) and the similarity between consecutive years."""
        import ee

        years = sorted({int(y) for y in years}) if years else self.years()
        if not years:
            raise EmbeddingError(f"{self.collection} has no images")
        if len(years) > MAX_YEARS:
            raise AefValueError(f"at most {MAX_YEARS} years per trajectory; got {len(years)}")
        missing = sorted(set(years) - set(self.years()))
        if missing:
            raise EmbeddingError(f"{self.collection} has no embeddings for {missing}; years it covers: "
                                 f"{self.years()}")
        point = ee.Geometry.Point([lon, lat])
        stored = {y: self.stored(y) for y in years}
        values = ee.Dictionary({str(y): stored[y][0].reduceRegion(ee.Reducer.first(), point, NATIVE_SCALE_M)
                                for y in years}).getInfo()
        vectors = {y: _vector([values[str(y)].get(b) for b in EMBEDDING_BANDS], stored[y][1]) for y in years}
        if all(v is None for v in vectors.values()):
            raise EmbeddingError(f"no valid embedding at ({lon}, {lat}) in {years}: the point lies outside the "
                                 "collection's coverage (or on masked pixels)")
        changes = []
        for a, b in zip(years[:-1], years[1:], strict=True):
            va, vb = vectors[a], vectors[b]
            similarity = None if va is None or vb is None else float(np.dot(va, vb))
            angle = None if similarity is None else math.degrees(math.acos(max(-1.0, min(1.0, similarity))))
            changes.append({"from": a, "to": b, "similarity": similarity, "angle_deg": angle})
        return {"years": years, "vectors": {str(y): v for y, v in vectors.items()}, "changes": changes}

    # ------------------------------------------------------------------------------------------------ similarity

    def similarity(self, *, where: Any, year: int | None, k: int | None, threshold: float | None,
                   years: Sequence[int] | None, region: Any, refine: bool, map_format: str | None) -> dict[str, Any]:
        """Index query (+ optional refinement and map URLs)."""
        if self.index is None:
            raise AefValueError("this API was started without a vector index: start it with --index PATH "
                                "(build one with `aef-ee index build`)")
        result = self.index.query(where, year=year, k=k, threshold=threshold, years=years, region=region)
        answer: dict[str, Any] = {"query": [float(v) for v in result.query], **result.to_json()}
        if (refine or map_format) and result.hits:
            from aef_ee.search.refine import MAX_REFINED
            from aef_ee.search.refine import refine as refine_hits

            refinement = refine_hits(self.collection, result.hits[:MAX_REFINED], result.query,
                                     cell_m=self.index.sampling.scale, quantized=self.index.tiles[0].quantized)
            answer["refined"] = [r.to_json() for r in refinement.hits]
            if map_format == "tiles":
                answer["maps"] = [{"year": y, "tile_url": _tile_url(image, {"min": 0, "max": 1,
                                                                            "palette": SIMILARITY_PALETTE})}
                                  for y, image in refinement.images.items()]
            elif map_format == "geotiff":
                answer["maps"] = [{"year": r.hit.year, "row": r.hit.row, "geotiff_url": _geotiff_url(
                    refinement.images[r.hit.year], r.hit.lon, r.hit.lat, refinement.radius_m)}
                    for r in refinement.hits]
        return answer

    # ------------------------------------------------------------------------------------------------ classify

    def classify(self, *, labels: dict[str, Any], label_property: str, year: int, region: Sequence[float],
                 method: str, k: int, scale: float, output: str) -> dict[str, Any]:
        """Trains on the labels (as :func:`aef_ee.ops.train_classifier`) and returns the classified map's URL."""
        import ee

        from aef_ee import ops

        west, south, east, north = region
        pixels = _region_pixels(west, south, east, north, scale)
        if pixels > MAX_CLASSIFY_PIXELS:
            raise AefValueError(f"the region holds about {pixels:.3g} pixels at {scale} m; the limit is "
                                f"{MAX_CLASSIFY_PIXELS:.3g} (a smaller region or a coarser scale)")
        image = self.image(year)
        table = ee.FeatureCollection(labels)
        classifier, samples = ops.train_classifier(image, table, label_property, method=method, k=k, scale=scale)
        classified = ops.classify(image, classifier).toUint8()
        classes = sorted(int(c) for c in (table.aggregate_histogram(label_property).getInfo() or {}))
        geometry = ee.Geometry.Rectangle([west, south, east, north])
        answer: dict[str, Any] = {"classes": classes, "year": year, "method": method}
        if output == "tiles":
            answer["tile_url"] = _tile_url(classified, {"min": 0, "max": max(classes + [1]),
                                                        "palette": SIMILARITY_PALETTE})
        answer["geotiff_url"] = classified.getDownloadURL({
            "region": geometry, "scale": scale, "format": "GEO_TIFF", "crs": image.projection()})
        return answer


def _vector(values: list[Any], quantized: bool) -> list[float] | None:
    """64 band values (None where masked) -> floats, de-quantised if they are int8 codes; None if any is masked."""
    if any(v is None for v in values):
        return None
    if quantized:
        return [float(v) for v in dequantize_array(np.asarray(values, np.int16).astype(np.int8))]
    return [float(v) for v in values]


def _tile_url(image: Any, vis: dict[str, Any]) -> str:
    return image.getMapId(vis)["tile_fetcher"].url_format


def _geotiff_url(image: Any, lon: float, lat: float, radius_m: float) -> str:
    import ee

    box = ee.Geometry.Point([lon, lat]).buffer(radius_m, 1).bounds(1)
    return image.getDownloadURL({"region": box, "scale": NATIVE_SCALE_M, "format": "GEO_TIFF"})


def _region_pixels(west: float, south: float, east: float, north: float, scale: float) -> float:
    """Approximate pixel count of a lon / lat box at ``scale`` metres."""
    metres_per_degree = 111_320.0
    width = (east - west) * metres_per_degree * math.cos(math.radians((south + north) / 2))
    height = (north - south) * metres_per_degree
    return abs(width * height) / (scale * scale)
