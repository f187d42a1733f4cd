"""Geotagged text for sites: the strings of a point table (GBIF occurrences, place names) falling in each site.

:func:`attach_text` returns the sites with ``properties["text"]`` set; the exporter moves it into
:attr:`aef_ee.videos.format.SiteVideo.text`. Points are matched in each site's own UTM coordinates, optionally with a
margin, so a place name a little outside a site still describes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from aef_ee.errors import AefValueError
from aef_ee.videos.sites import Site, _transformers

__all__ = ["GeoText", "attach_text", "read_csv_text"]


@dataclasses.dataclass(frozen=True)
class GeoText:
    """One geotagged string: ``lon``, ``lat`` in degrees (WGS 84) and the ``text``."""

    lon: float
    lat: float
    text: str


def read_csv_text(path: str, *, lon: str, lat: str, columns: Sequence[str], sep: str = "; ") -> list[GeoText]:
    """Reads geotagged text from a CSV: each row's non-empty ``columns`` joined with ``sep``.

    Example: ``read_csv_text("gbif.csv", lon="decimalLongitude", lat="decimalLatitude",
    columns=["species", "habitat", "locality"])``.

    Raises:
      AefValueError: a named column is missing.
    """
    import pandas as pd

    frame = pd.read_csv(path)
    missing = [c for c in (lon, lat, *columns) if c not in frame.columns]
    if missing:
        raise AefValueError(f"{path} has no columns {missing}; it has {list(frame.columns)}")
    out = []
    for row in frame.itertuples(index=False):
        values = row._asdict()
        parts = [str(values[c]).strip() for c in columns if isinstance(values[c], str) and values[c].strip()]
        x, y = values[lon], values[lat]
        if parts and np.isfinite(x) and np.isfinite(y):
            out.append(GeoText(float(x), float(y), sep.join(parts)))
    return out


def attach_text(sites: Sequence[Site], texts: Iterable[GeoText], *, margin_m: float = 0.0,
                max_per_site: int = 16) -> list[Site]:
    """Sites with ``properties["text"]``: the texts whose point lies in the site (widened by ``margin_m``).

    Returns:
      New Site values in the same order; sites without text get none (no ``"text"`` key). At most
      ``max_per_site`` distinct strings per site, in table order.
    """
    texts = list(texts)
    lons = np.array([t.lon for t in texts], np.float64)
    lats = np.array([t.lat for t in texts], np.float64)
    by_zone: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for site in sites:
        if site.epsg not in by_zone:
            forward, _ = _transformers(site.epsg)
            by_zone[site.epsg] = forward.transform(lons, lats) if texts else (lons, lats)
        xs, ys = by_zone[site.epsg]
        left, bottom, right, top = site.bounds
        inside = ((xs >= left - margin_m) & (xs < right + margin_m)
                  & (ys > bottom - margin_m) & (ys <= top + margin_m))
        strings: list[str] = []
        for i in np.flatnonzero(inside):
            if texts[i].text not in strings:
                strings.append(texts[i].text)
            if len(strings) == max_per_site:
                break
        if strings:
            site = dataclasses.replace(site, properties={**site.properties, "text": strings})
        out.append(site)
    return out
