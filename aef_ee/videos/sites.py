"""Sites: where training videos are cut, as L x L pixel patches on the grid of their UTM zone.

A site's top-left corner is snapped to multiples of ``L * resolution`` metres in its zone's UTM coordinates, so two
neighbouring sites of the same zone tile exactly (no gap, no overlap) and a site's ID (EPSG code and corner) is the
same whichever sampler produced it.

Samplers (all return ``list[Site]``, deterministic for a seed):

* :func:`sample_uniform` - uniform over a region's area;
* :func:`sample_stratified` - a number of sites per class of a class raster (a land-cover map);
* :func:`sites_from_features` - one site per feature of a user FeatureCollection (GeoJSON or ``ee``), with its
  properties.

Each site has a valid period (default: one calendar year) and optional context before and after it, during which
frames are also exported (``Site.window_ms``).

:class:`SiteSampling` describes a sampling as one value (period, region or features, count, size, seed);
``SiteSampling(...).sites()`` draws the sites. ``aef_ee.videos.export.export_videos`` takes it in place of a list of
sites; an export directory records its sites, so a resumed run that draws other ones is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.backend import require_extra
from aef_ee.errors import AefValueError, SiteError
from aef_ee.npy import compute_pixels

__all__ = [
    "Site",
    "SiteSampling",
    "DEFAULT_SITE_SIZE",
    "DEFAULT_RESOLUTION_M",
    "utm_epsg",
    "snap_site",
    "year_period",
    "parse_period",
    "sample_uniform",
    "sample_stratified",
    "sample_stratified_ee",
    "sites_from_features",
    "region_geometry",
]

log = logging.getLogger(__name__)

# AlphaEarth Foundations trained on 128 x 128 px sites at 10 m.
DEFAULT_SITE_SIZE = 128
DEFAULT_RESOLUTION_M = 10.0
# UTM is defined from 80 deg S to 84 deg N; the poles use UPS, which sites do not support.
UTM_SOUTH_LIMIT = -80.0
UTM_NORTH_LIMIT = 84.0
_DAY_MS = 86_400_000


def utm_epsg(lon: float, lat: float) -> int:
    """The EPSG code of the WGS 84 / UTM zone holding (lon, lat), with the Norway and Svalbard exceptions.

    Raises:
      SiteError: ``lat`` is outside UTM's band [-80, 84) or the coordinates are not finite.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise SiteError(f"site coordinates must be finite; got lon={lon!r}, lat={lat!r}")
    if not UTM_SOUTH_LIMIT <= lat < UTM_NORTH_LIMIT:
        raise SiteError(
            f"site at lat={lat:.4f}, lon={lon:.4f} lies outside every UTM zone's latitude band "
            f"[{UTM_SOUTH_LIMIT}, {UTM_NORTH_LIMIT}) (polar sites would need UPS, which is not supported)"
        )
    lon = ((lon + 180.0) % 360.0) - 180.0
    zone = int((lon + 180.0) // 6.0) + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32  # south-west Norway
    elif 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:  # Svalbard: zones 31, 33, 35, 37 only
        zone = 31 if lon < 9.0 else 33 if lon < 21.0 else 35 if lon < 33.0 else 37
    zone = min(zone, 60)
    return (32600 if lat >= 0 else 32700) + zone


@functools.lru_cache(maxsize=128)
def _transformers(epsg: int) -> tuple[Any, Any]:
    require_extra("local", "site grids (UTM transforms)", ("pyproj",))
    from pyproj import Transformer

    forward = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    inverse = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    return forward, inverse


@dataclasses.dataclass(frozen=True)
class Site:
    """An L x L pixel patch on its UTM zone's grid, with a valid period.

    Attributes:
      epsg: the UTM zone's EPSG code (326zz north, 327zz south).
      x0, y0: the top-left corner, metres in that CRS (multiples of ``size * resolution_m``).
      size: L, pixels per side.
      resolution_m: pixel size, metres.
      period_ms: the valid period [start, end), ms since the epoch.
      context_ms: (before, after) extra time around the period whose frames are also exported, ms.
      properties: JSON-serialisable metadata (stratum, feature properties, sampler).
    """

    epsg: int
    x0: float
    y0: float
    size: int
    resolution_m: float
    period_ms: tuple[int, int]
    context_ms: tuple[int, int] = (0, 0)
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise AefValueError(f"site size must be >= 1 pixel; got {self.size!r}")
        if not self.resolution_m > 0:
            raise AefValueError(f"site resolution_m must be > 0; got {self.resolution_m!r}")
        if self.period_ms[1] <= self.period_ms[0]:
            raise AefValueError(f"empty site period {self.period_ms!r}")
        if min(self.context_ms) < 0:
            raise AefValueError(f"context must be >= 0 ms; got {self.context_ms!r}")

    @property
    def site_id(self) -> str:
        """``"<epsg>_<x0>_<y0>"`` plus ``"_<L>x<res>m"`` when not the default 128 px at 10 m."""
        base = f"{self.epsg}_{self.x0:.0f}_{self.y0:.0f}"
        if self.size == DEFAULT_SITE_SIZE and self.resolution_m == DEFAULT_RESOLUTION_M:
            return base
        return f"{base}_{self.size}x{self.resolution_m:g}m"

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    @property
    def extent_m(self) -> float:
        return self.size * self.resolution_m

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine (a, b, c, d, e, f) in rasterio order: x = a*col + b*row + c, y = d*col + e*row + f."""
        return (self.resolution_m, 0.0, float(self.x0), 0.0, -self.resolution_m, float(self.y0))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top), metres."""
        return (self.x0, self.y0 - self.extent_m, self.x0 + self.extent_m, self.y0)

    @property
    def center_lonlat(self) -> tuple[float, float]:
        _, inverse = _transformers(self.epsg)
        lon, lat = inverse.transform(self.x0 + self.extent_m / 2, self.y0 - self.extent_m / 2)
        return (float(lon), float(lat))

    @property
    def window_ms(self) -> tuple[int, int]:
        """The period widened by the context: frames in [start, end) are exported."""
        return (self.period_ms[0] - self.context_ms[0], self.period_ms[1] + self.context_ms[1])

    def footprint_lonlat(self, points_per_side: int = 4) -> list[tuple[float, float]]:
        """The site's outline in lon/lat (closed ring, densified: UTM edges are curved in lon/lat)."""
        left, bottom, right, top = self.bounds
        t = np.linspace(0.0, 1.0, points_per_side + 1)[:-1]
        xs = np.concatenate([left + (right - left) * t, np.full_like(t, right), right - (right - left) * t,
                             np.full_like(t, left)])
        ys = np.concatenate([np.full_like(t, top), top - (top - bottom) * t, np.full_like(t, bottom),
                             bottom + (top - bottom) * t])
        _, inverse = _transformers(self.epsg)
        lons, lats = inverse.transform(xs, ys)
        ring = [(float(a), float(b)) for a, b in zip(lons, lats)]
        return ring + [ring[0]]

    def ee_grid(self) -> dict[str, Any]:
        """The site's pixel grid as Earth Engine's ``PixelGrid`` JSON (for ``ee.data.computePixels``)."""
        return {
            "crsCode": self.crs,
            "affineTransform": {
                "scaleX": self.resolution_m, "shearX": 0.0, "translateX": float(self.x0),
                "shearY": 0.0, "scaleY": -self.resolution_m, "translateY": float(self.y0),
            },
            "dimensions": {"width": self.size, "height": self.size},
        }

    def ee_geometry(self) -> Any:
        """The site rectangle as an ``ee.Geometry`` in its UTM CRS (planar)."""
        import ee

        left, bottom, right, top = self.bounds
        return ee.Geometry.Rectangle([left, bottom, right, top], proj=self.crs, geodesic=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "epsg": self.epsg, "x0": self.x0, "y0": self.y0, "size": self.size, "resolution_m": self.resolution_m,
            "period_ms": list(self.period_ms), "context_ms": list(self.context_ms),
            "properties": dict(self.properties),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "Site":
        return cls(
            epsg=int(value["epsg"]), x0=float(value["x0"]), y0=float(value["y0"]), size=int(value["size"]),
            resolution_m=float(value["resolution_m"]), period_ms=tuple(value["period_ms"]),  # type: ignore[arg-type]
            context_ms=tuple(value.get("context_ms", (0, 0))),  # type: ignore[arg-type]
            properties=dict(value.get("properties", {})),
        )


# ----------------------------------------------------------------------------------------------------------------
# Periods


def _to_ms(value: str | dt.date | dt.datetime | int) -> int:
    if isinstance(value, bool):
        raise AefValueError(f"not a date: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise AefValueError(f"not an ISO date: {value!r}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    else:
        raise AefValueError(f"not a date: {value!r}")
    return int(moment.timestamp() * 1000)


def parse_period(start: str | dt.date | int, end: str | dt.date | int) -> tuple[int, int]:
    """ISO dates (UTC) or ms -> [start, end) in ms.

    Raises:
      AefValueError: unparsable dates or ``end <= start``.
    """
    period = (_to_ms(start), _to_ms(end))
    if period[1] <= period[0]:
        raise AefValueError(f"period end {end!r} is not after its start {start!r}")
    return period


def year_period(year: int) -> tuple[int, int]:
    """One calendar year [Jan 1, Jan 1 next year) in ms, the default valid period."""
    return parse_period(f"{year:04d}-01-01", f"{year + 1:04d}-01-01")


# ----------------------------------------------------------------------------------------------------------------
# Snapping


def snap_site(
    lon: float,
    lat: float,
    *,
    period_ms: tuple[int, int],
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
    epsg: int | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Site:
    """The site of the UTM grid holding (lon, lat).

    Args:
      lon, lat: degrees, WGS 84.
      epsg: force a UTM zone (default: the point's own zone, :func:`utm_epsg`).

    Raises:
      SiteError: the point lies outside every UTM zone's latitude band.
    """
    code = utm_epsg(lon, lat) if epsg is None else int(epsg)
    if epsg is not None:
        utm_epsg(lon, lat)  # still refuse polar points
    forward, _ = _transformers(code)
    x, y = forward.transform(lon, lat)
    step = size * resolution_m
    x0 = math.floor(x / step) * step
    y0 = math.floor(y / step) * step + step  # the top edge of the cell holding y
    context = (int(round(context_days[0] * _DAY_MS)), int(round(context_days[1] * _DAY_MS)))
    return Site(
        epsg=code, x0=float(x0), y0=float(y0), size=size, resolution_m=resolution_m,
        period_ms=tuple(period_ms), context_ms=context, properties=dict(properties or {}),  # type: ignore[arg-type]
    )


def _dedupe(sites: Iterable[Site]) -> list[Site]:
    seen: dict[str, Site] = {}
    for site in sites:
        seen.setdefault(site.site_id, site)
    return list(seen.values())


# ----------------------------------------------------------------------------------------------------------------
# Regions


def region_geometry(region: Any) -> Any:
    """A lon/lat shapely geometry from a bbox ``(west, south, east, north)``, a GeoJSON geometry / Feature /
    FeatureCollection dict, a shapely geometry or an ``ee.Geometry`` / ``ee.Feature`` / ``ee.FeatureCollection``.

    Raises:
      SiteError: the region is empty.
    """
    require_extra("local", "site regions (aef_ee.videos.sites.region_geometry)", ("shapely",))
    import shapely.geometry
    from shapely.ops import unary_union

    geom: Any
    if hasattr(region, "getInfo") and hasattr(region, "serialize"):
        import ee

        if isinstance(region, (ee.Feature, ee.FeatureCollection)):
            region = region.geometry()
        region = region.getInfo()
    if isinstance(region, (tuple, list)) and len(region) == 4 and all(isinstance(v, (int, float)) for v in region):
        west, south, east, north = (float(v) for v in region)
        if not (west < east and south < north):
            raise SiteError(f"bbox (west, south, east, north) is empty: {tuple(region)!r}")
        geom = shapely.geometry.box(west, south, east, north)
    elif isinstance(region, Mapping):
        kind = region.get("type")
        if kind == "FeatureCollection":
            geom = unary_union([shapely.geometry.shape(f["geometry"]) for f in region.get("features", [])])
        elif kind == "Feature":
            geom = shapely.geometry.shape(region["geometry"])
        else:
            geom = shapely.geometry.shape(region)
    elif hasattr(region, "geom_type"):
        geom = region
    else:
        raise SiteError(f"cannot read a region from {type(region).__name__}: {region!r:.200}")
    if geom.is_empty:
        raise SiteError("the region is empty")
    return geom


# ----------------------------------------------------------------------------------------------------------------
# Samplers


def sample_uniform(
    region: Any,
    n: int,
    *,
    period_ms: tuple[int, int],
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    max_draws: int | None = None,
) -> list[Site]:
    """``n`` distinct sites whose centres are drawn uniformly over ``region``'s area.

    Points are drawn uniformly on the sphere inside the region's bounding box (uniform in longitude and in
    sin(latitude)), kept if inside the region, and snapped; duplicates (two points in one site) are drawn again.

    Raises:
      SiteError: the region lies outside UTM's band, or fewer than ``n`` distinct sites were found in
        ``max_draws`` draws (default ``1000 * n``): the region is too small for that many sites.
    """
    require_extra("local", "site sampling (aef_ee.videos.sites.sample_uniform)", ("shapely", "pyproj"))
    import shapely

    if n < 1:
        raise AefValueError(f"number of sites must be >= 1; got {n!r}")
    geom = region_geometry(region)
    west, south, east, north = geom.bounds
    if south >= UTM_NORTH_LIMIT or north < UTM_SOUTH_LIMIT:
        raise SiteError(f"region {geom.bounds} lies outside every UTM zone's latitude band")
    rng = np.random.default_rng(seed)
    sin_lo, sin_hi = math.sin(math.radians(south)), math.sin(math.radians(north))
    draws_left = max_draws if max_draws is not None else 1000 * n
    found: dict[str, Site] = {}
    batch = max(64, 4 * n)
    while len(found) < n and draws_left > 0:
        k = min(batch, draws_left)
        draws_left -= k
        lons = rng.uniform(west, east, k) if east > west else np.full(k, west)
        lats = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, k)))
        inside = shapely.contains_xy(geom, lons, lats) if geom.area > 0 else np.ones(k, bool)
        for lon, lat in zip(lons[inside], lats[inside]):
            site = snap_site(float(lon), float(lat), period_ms=period_ms, size=size, resolution_m=resolution_m,
                             context_days=context_days, properties={"sampler": "uniform"})
            found.setdefault(site.site_id, site)
            if len(found) == n:
                break
    if len(found) < n:
        raise SiteError(
            f"found only {len(found)} distinct {size} px sites at {resolution_m:g} m in the region "
            f"{tuple(round(v, 4) for v in geom.bounds)}; asked for {n}"
        )
    return list(found.values())


def sample_stratified(
    classes: np.ndarray,
    transform: Sequence[float],
    crs: str,
    n_per_class: int,
    *,
    period_ms: tuple[int, int],
    class_values: Sequence[int] | None = None,
    nodata: int | None = None,
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> list[Site]:
    """Up to ``n_per_class`` distinct sites centred on random pixels of each class of a class raster.

    Args:
      classes: (H, W) integer class raster (a land-cover map).
      transform: its affine (a, b, c, d, e, f) in rasterio order.
      crs: its CRS (``"EPSG:4326"``, ``"EPSG:32631"``, ...).
      class_values: the classes to sample (default: every value present but ``nodata``).

    Returns:
      Sites with ``properties["stratum"]`` set to the class; classes with fewer distinct sites than asked give
      what they have (logged).
    """
    require_extra("local", "site sampling (aef_ee.videos.sites.sample_stratified)", ("shapely", "pyproj"))
    from pyproj import Transformer

    classes = np.asarray(classes)
    if classes.ndim != 2:
        raise AefValueError(f"class raster must be (H, W); got shape {classes.shape}")
    if n_per_class < 1:
        raise AefValueError(f"n_per_class must be >= 1; got {n_per_class!r}")
    a, b, c, d, e, f = (float(v) for v in transform)
    values = class_values if class_values is not None else [v for v in np.unique(classes) if v != nodata]
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(seed)
    sites: list[Site] = []
    taken: set[str] = set()
    for value in values:
        rows, cols = np.nonzero(classes == value)
        if rows.size == 0:
            log.warning("class %s has no pixel in the class raster", value)
            continue
        got = 0
        for k in rng.permutation(rows.size):
            x = a * (cols[k] + 0.5) + b * (rows[k] + 0.5) + c
            y = d * (cols[k] + 0.5) + e * (rows[k] + 0.5) + f
            lon, lat = to_lonlat.transform(x, y)
            site = snap_site(float(lon), float(lat), period_ms=period_ms, size=size, resolution_m=resolution_m,
                             context_days=context_days,
                             properties={"sampler": "stratified", "stratum": int(value)})
            if site.site_id in taken:
                continue
            taken.add(site.site_id)
            sites.append(site)
            got += 1
            if got == n_per_class:
                break
        if got < n_per_class:
            log.warning("class %s yields only %d distinct sites (asked %d)", value, got, n_per_class)
    if not sites:
        raise SiteError("the class raster holds no sampleable class")
    return sites


def sites_from_features(
    features: Any,
    *,
    period_ms: tuple[int, int],
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
) -> list[Site]:
    """One site per feature (at its geometry's centroid), carrying the feature's properties.

    Args:
      features: a GeoJSON FeatureCollection dict, a list of GeoJSON features, an ``ee.FeatureCollection``, or a
        list of (lon, lat) pairs.

    Returns:
      Distinct sites in feature order (a second feature in an existing site is dropped, logged).

    Raises:
      SiteError: no feature, or a feature outside UTM's band (the message names its index).
    """
    require_extra("local", "sites from features (aef_ee.videos.sites.sites_from_features)", ("shapely", "pyproj"))
    import shapely.geometry

    if hasattr(features, "getInfo") and hasattr(features, "serialize"):
        features = features.getInfo()
    if isinstance(features, Mapping):
        features = features.get("features", [])
    points: list[tuple[float, float, dict[str, Any]]] = []
    for i, feature in enumerate(features):
        if isinstance(feature, Mapping):
            geom = shapely.geometry.shape(feature["geometry"])
            props = dict(feature.get("properties") or {})
            if "id" in feature:
                props.setdefault("feature_id", str(feature["id"]))
            centre = geom.centroid
            points.append((centre.x, centre.y, props))
        else:
            lon, lat = feature
            points.append((float(lon), float(lat), {"feature_index": i}))
    if not points:
        raise SiteError("the feature collection is empty")
    sites = []
    for i, (lon, lat, props) in enumerate(points):
        try:
            site = snap_site(lon, lat, period_ms=period_ms, size=size, resolution_m=resolution_m,
                             context_days=context_days, properties={"sampler": "features", **props})
        except SiteError as exc:
            raise SiteError(f"feature {i}: {exc}") from exc
        sites.append(site)
    distinct = _dedupe(sites)
    if len(distinct) < len(sites):
        log.info("%d features share a site with an earlier feature; kept the first", len(sites) - len(distinct))
    return distinct


# ----------------------------------------------------------------------------------------------------------------
# A sampling as one value


@dataclasses.dataclass(frozen=True)
class SiteSampling:
    """Where the sites come from: one site per feature, or ``n_sites`` drawn uniformly over a region.

    Give exactly one of ``region`` (with ``n_sites``) or ``features``. Deterministic: the same fields give the same
    sites (the resume of an export relies on it).

    Example::

        SiteSampling(start="2021-01-01", end="2022-01-01", region=(4.0, 50.5, 5.0, 51.0), n_sites=10).sites()
        SiteSampling(start="2021-01-01", end="2022-01-01", features=[(4.35, 50.85), (5.32, 50.63)], size=64)

    Attributes:
      start, end: the sites' valid period [start, end): ISO dates or datetimes (UTC unless they carry a zone),
        ``datetime.date`` objects, or ms since the epoch; ``end`` after ``start``.
      region: where sites are drawn: a bbox ``(west, south, east, north)`` in degrees, a GeoJSON geometry /
        Feature / FeatureCollection dict, a shapely geometry, or an ``ee.Geometry`` / ``ee.Feature`` /
        ``ee.FeatureCollection`` (see :func:`region_geometry`). Needs ``n_sites``.
      features: one site per feature, at its centroid, carrying its properties: a GeoJSON FeatureCollection dict,
        a list of GeoJSON features or of (lon, lat) pairs in degrees, or an ``ee.FeatureCollection``.
      n_sites: with ``region``, how many distinct sites to draw (>= 1).
      size: L, pixels per site side (>= 1; default 128, as AlphaEarth Foundations).
      resolution_m: pixel size in metres (> 0; default 10).
      context_days: days (>= 0) of frames also exported before and after the valid period: a (before, after) pair,
        or one number for both.
      seed: the sampling seed (an int); keep it to resume an export of a region.

    Raises:
      AefValueError: a value outside the ones above (the message quotes it and says the fix).
    """

    start: str | dt.date | int
    end: str | dt.date | int
    region: Any = None
    features: Any = None
    n_sites: int | None = None
    size: int = DEFAULT_SITE_SIZE
    resolution_m: float = DEFAULT_RESOLUTION_M
    context_days: tuple[float, float] | float = (0.0, 0.0)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            try:
                _to_ms(getattr(self, name))
            except AefValueError as exc:
                raise AefValueError(f"{name}: {exc}; give an ISO date such as '2021-01-01', a datetime.date or ms "
                                    f"since the epoch") from exc
        parse_period(self.start, self.end)  # end after start
        if self.region is None and self.features is None:
            raise AefValueError("give region=... with n_sites=..., or features=...; got neither")
        if self.region is not None and self.features is not None:
            raise AefValueError(f"give region or features, not both; got region={self.region!r:.100} and "
                                f"features={self.features!r:.100}")
        if self.region is not None and not _is_int(self.n_sites, minimum=1):
            raise AefValueError(f"a region needs n_sites, the number of sites to draw (an int >= 1); "
                                f"got n_sites={self.n_sites!r}")
        if self.features is not None and self.n_sites is not None:
            raise AefValueError(f"features give one site per feature: drop n_sites (got n_sites={self.n_sites!r})")
        if not _is_int(self.size, minimum=1):
            raise AefValueError(f"size is the pixels per site side, an int >= 1; got size={self.size!r}")
        if not (_is_number(self.resolution_m) and math.isfinite(self.resolution_m) and self.resolution_m > 0):
            raise AefValueError(f"resolution_m is the pixel size in metres, a number > 0; "
                                f"got resolution_m={self.resolution_m!r}")
        context = self.context_days
        if _is_number(context):
            context = (context, context)  # type: ignore[assignment]
        if not (isinstance(context, (tuple, list)) and len(context) == 2
                and all(_is_number(d) and math.isfinite(d) and d >= 0 for d in context)):
            raise AefValueError(f"context_days must be days >= 0, one number or a (before, after) pair; "
                                f"got context_days={self.context_days!r}")
        object.__setattr__(self, "context_days", (float(context[0]), float(context[1])))
        if not _is_int(self.seed):
            raise AefValueError(f"seed must be an int; got seed={self.seed!r}")

    @property
    def period_ms(self) -> tuple[int, int]:
        """The valid period [start, end) in ms since the epoch."""
        return parse_period(self.start, self.end)

    def sites(self) -> list[Site]:
        """The sites, in sampling order (feature order, or draw order over the region).

        Raises:
          SiteError: an empty region or feature collection, a site outside UTM's latitude band, or a region too
            small for ``n_sites`` distinct sites.
        """
        context = self.context_days
        assert isinstance(context, tuple)  # normalised in __post_init__
        if self.features is not None:
            return sites_from_features(self.features, period_ms=self.period_ms, size=self.size,
                                       resolution_m=self.resolution_m, context_days=context)
        assert self.n_sites is not None
        return sample_uniform(self.region, self.n_sites, period_ms=self.period_ms, size=self.size,
                              resolution_m=self.resolution_m, context_days=context, seed=self.seed)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_int(value: Any, *, minimum: int | None = None) -> bool:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    return ok and (minimum is None or value >= minimum)


# computePixels answers at most 48 MiB; a uint16/float class raster of 2048 x 2048 stays well under it.
_MAX_CLASS_RASTER_PX = 2048


def sample_stratified_ee(
    image: Any,
    region: Any,
    n_per_class: int,
    *,
    period_ms: tuple[int, int],
    band: str | None = None,
    scale_m: float = 100.0,
    class_values: Sequence[int] | None = None,
    size: int = DEFAULT_SITE_SIZE,
    resolution_m: float = DEFAULT_RESOLUTION_M,
    context_days: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> list[Site]:
    """Like :func:`sample_stratified`, with the class raster an ``ee.Image`` (a land-cover map) over ``region``.

    The class band is fetched once with ``ee.data.computePixels`` on a grid of ``scale_m`` metres in the UTM zone
    of the region's centre (coarsened so the grid stays within 2048 x 2048 px); masked pixels are not sampled.

    Raises:
      SiteError: the region lies outside UTM's band, or the image has no class pixel there.
    """
    import ee

    geom = region_geometry(region)
    centre = geom.centroid
    epsg = utm_epsg(centre.x, centre.y)
    forward, _ = _transformers(epsg)
    ring = np.asarray(geom.envelope.exterior.coords)
    xs, ys = forward.transform(ring[:, 0], ring[:, 1])
    left, right, bottom, top = min(xs), max(xs), min(ys), max(ys)
    scale = max(scale_m, (right - left) / _MAX_CLASS_RASTER_PX, (top - bottom) / _MAX_CLASS_RASTER_PX)
    width, height = max(1, int(math.ceil((right - left) / scale))), max(1, int(math.ceil((top - bottom) / scale)))
    selected = ee.Image(image).select([band] if band else [0]).rename("class")
    nodata = -1
    grid = {"crsCode": f"EPSG:{epsg}", "dimensions": {"width": width, "height": height},
            "affineTransform": {"scaleX": scale, "shearX": 0.0, "translateX": left,
                                "shearY": 0.0, "scaleY": -scale, "translateY": top}}
    pixels = compute_pixels({"expression": selected.toInt32().unmask(nodata, False), "grid": grid})
    classes = np.asarray(pixels["class"])
    return sample_stratified(classes, (scale, 0.0, left, 0.0, -scale, top), f"EPSG:{epsg}", n_per_class,
                             period_ms=period_ms, class_values=class_values, nodata=nodata, size=size,
                             resolution_m=resolution_m, context_days=context_days, seed=seed)
