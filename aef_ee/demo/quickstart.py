"""A worked Earth Engine example on the local engine's demo catalog: what ``aef-ee quickstart`` runs.

It uses nothing but the public ``ee`` API, so the same lines run on Earth Engine (where the Belgium demo images are
replaced by the full Sentinel-2 archive).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["run_quickstart"]

log = logging.getLogger(__name__)

# A block of fields in eastern Belgium (near Huy), inside the demo catalog's 1 km Sentinel-2 patch (EPSG:32631).
BELGIUM_FIELDS = [[5.3218, 50.6304], [5.3305, 50.6304], [5.3305, 50.6356], [5.3218, 50.6356]]


def run_quickstart(*, echo: Any = print) -> dict[str, Any]:
    """Runs the example against the already-initialised ``ee`` client and reports each result through ``echo``.

    Returns:
      The computed values: ``images`` (count), ``ndvi_mean`` (per month), ``median_b8`` (reduceRegion result).
    """
    import ee

    region = ee.Geometry.Polygon([BELGIUM_FIELDS])
    s2 = (
        ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
        .filterDate("2021-01-01", "2021-10-01")
        .filterBounds(region)
    )
    count = s2.size().getInfo()
    echo(f"Sentinel-2 images over the fields, Jan-Sep 2021: {count}")

    def add_ndvi(image: Any) -> Any:
        return image.addBands(image.normalizedDifference(["B8", "B4"]).rename("NDVI"))

    with_ndvi = s2.map(add_ndvi)
    monthly = with_ndvi.map(
        lambda image: ee.Feature(
            None,
            image.select("NDVI").reduceRegion(ee.Reducer.mean(), region, 10).set(
                "month", image.date().format("YYYY-MM")
            ),
        )
    )
    rows = monthly.getInfo()["features"]
    ndvi = {row["properties"]["month"]: row["properties"].get("NDVI") for row in rows}
    for month, value in ndvi.items():
        echo(f"  mean NDVI {month}: {value:.3f}" if value is not None else f"  mean NDVI {month}: (all masked)")
    median = s2.median().select(["B4", "B8"]).reduceRegion(ee.Reducer.mean(), region, 10).getInfo()
    echo(f"Median composite, mean over the fields: B4 = {median['B4']:.1f}, B8 = {median['B8']:.1f} (DN)")
    return {"images": count, "ndvi_mean": ndvi, "median": median}
