"""Refining index hits server-side: the exact per-pixel similarity map around each candidate.

The index answers with cell samples (a mean or one pixel per cell); the pixels that actually match lie somewhere in
the candidates' neighbourhoods. :func:`refine` sends those neighbourhoods back to Earth Engine (or the local
engine): :func:`aef_ee.ops.similarity` of the candidate's year, clipped to the neighbourhoods, plus, in one request,
each neighbourhood's best pixel (its similarity and location), so candidates can be re-ranked by their exact best
pixel and a map can jump to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from aef_ee.errors import AefValueError
from aef_ee.fields.collection import NATIVE_SCALE_M
from aef_ee.search.index import Hit

__all__ = ["MAX_REFINED", "RefinedHit", "Refinement", "neighbourhood_radius", "refine"]

# Neighbourhoods refined in one call: each one is a small reduceRegions and a clip; a map of hundreds is unreadable.
MAX_REFINED = 100


@dataclasses.dataclass(frozen=True)
class RefinedHit:
    """A candidate and the exact best pixel of its neighbourhood (None where the neighbourhood has no valid pixel)."""

    hit: Hit
    best_score: float | None
    best_lon: float | None
    best_lat: float | None

    def to_json(self) -> dict[str, Any]:
        return {**self.hit.to_json(), "best_score": self.best_score, "best_lon": self.best_lon,
                "best_lat": self.best_lat}


@dataclasses.dataclass(frozen=True)
class Refinement:
    """The refined candidates, best exact pixel first, and the similarity maps (one ``ee.Image`` per year).

    Attributes:
      hits: the candidates re-ranked by ``best_score`` (those without a valid pixel last).
      images: year -> ``ee.Image`` band ``similarity``, clipped to that year's neighbourhoods.
      neighbourhoods: year -> ``ee.FeatureCollection`` of the neighbourhood squares (property ``row``).
      radius_m: the half side of each neighbourhood square.
    """

    hits: list[RefinedHit]
    images: dict[int, Any]
    neighbourhoods: dict[int, Any]
    radius_m: float


def neighbourhood_radius(cell_m: float) -> float:
    """Half the side of a candidate's neighbourhood: the cell and one cell around it."""
    return 1.5 * float(cell_m)


def refine(collection: str, hits: Sequence[Hit], reference: Any, *, cell_m: float,
           radius_m: float | None = None, quantized: bool | None = None) -> Refinement:
    """Exact similarity to ``reference`` around each hit, and each neighbourhood's best pixel (one request).

    Args:
      collection: the embedding collection the hits come from.
      hits: index hits (at most :data:`MAX_REFINED`).
      reference: the query vector, 64 numbers.
      cell_m: the index's cell size in metres.
      radius_m: half side of each neighbourhood square (default :func:`neighbourhood_radius`).
      quantized: whether the collection holds int8 codes (None asks Earth Engine, one request per year).

    Raises:
      AefValueError: no hits, too many, or a bad radius.
    """
    import ee

    from aef_ee import ops
    from aef_ee.fields.collection import open_embeddings

    if not hits:
        raise AefValueError("nothing to refine: no hits")
    if len(hits) > MAX_REFINED:
        raise AefValueError(f"refine at most {MAX_REFINED} hits at once; got {len(hits)}")
    radius = neighbourhood_radius(cell_m) if radius_m is None else float(radius_m)
    if not NATIVE_SCALE_M / 2 <= radius <= 50_000:
        raise AefValueError(f"radius_m must be within [{NATIVE_SCALE_M / 2}, 50000]; got {radius_m!r}")
    reference = [float(v) for v in np.asarray(reference, np.float64)]
    images, neighbourhoods, bests = {}, {}, {}
    for year in sorted({h.year for h in hits}):
        of_year = [h for h in hits if h.year == year]
        boxes = ee.FeatureCollection([
            ee.Feature(ee.Geometry.Point([h.lon, h.lat]).buffer(radius, 1).bounds(1), {"row": h.row})
            for h in of_year])
        # Overlapping squares make an invalid multipolygon: tiles are chosen by the hits' bounding box and the
        # map is masked by painting the squares, so no union is ever formed.
        margin = radius / 100_000 + 0.01  # degrees; generous (a degree of longitude is at most ~111 km)
        bounds = ee.Geometry.Rectangle([min(h.lon for h in of_year) - margin, min(h.lat for h in of_year) - margin,
                                        max(h.lon for h in of_year) + margin, max(h.lat for h in of_year) + margin])
        embeddings = open_embeddings(year, bounds, collection=collection, check=False, quantized=quantized)
        inside = ee.Image.constant(0).paint(boxes, 1)
        similarity = ops.similarity(embeddings, reference).updateMask(inside)
        # max over three inputs: the similarity, and the longitude and latitude of the pixel holding it.
        located = similarity.addBands(ee.Image.pixelLonLat())
        bests[year] = located.reduceRegions(collection=boxes, reducer=ee.Reducer.max(3).setOutputs(
            ["best_score", "best_lon", "best_lat"]), scale=NATIVE_SCALE_M, crs=embeddings.projection())
        images[year], neighbourhoods[year] = similarity, boxes
    found = ee.Dictionary({str(y): fc.aggregate_array("row").zip(fc.map(
        lambda f: ee.Feature(None, {"v": [f.get("best_score"), f.get("best_lon"), f.get("best_lat")]})
    ).aggregate_array("v")) for y, fc in bests.items()}).getInfo()
    by_row: dict[tuple[int, int], list[Any]] = {}
    for year, pairs in found.items():
        for row, values in pairs:
            by_row[(int(year), int(row))] = values
    refined = []
    for hit in hits:
        score, lon, lat = by_row.get((hit.year, hit.row)) or (None, None, None)
        refined.append(RefinedHit(hit, None if score is None else float(score), None if lon is None else float(lon),
                                  None if lat is None else float(lat)))
    refined.sort(key=lambda r: np.inf if r.best_score is None else -r.best_score)
    return Refinement(refined, images, neighbourhoods, radius)
