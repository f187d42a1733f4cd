"""Which images make which frames: listing a source's images over a tile of sites, and planning frames per site.

Both export paths plan the same way: sites are grouped into *tiles* (:func:`tile_sites`); each source's images are
listed once per tile (one ``getInfo``), split into frames (:func:`plan_frames`: one per acquisition, or one per
composite bin) and each site keeps the frames whose images' footprints intersect it (:func:`site_frames`). Frame
keys are indices into the tile's frame list, so a site's bands have the same names whether its pixels come from
``computePixels`` (interactive) or from the tile's exported GeoTIFF (batch).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aef_ee.errors import ExportError
from aef_ee.videos.export.request import ExportRequest, composite_days
from aef_ee.videos.sites import Site
from aef_ee.videos.sources import Source

__all__ = ["ImageInfo", "Frame", "Tile", "tile_sites", "list_images", "plan_frames", "site_frames", "plan_tile"]

log = logging.getLogger(__name__)

FrameKind = Literal["acquisition", "composite", "static"]
_WARNED: set[tuple[str, str]] = set()  # (linked collection, source) already warned about in this process


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """One image as listed by Earth Engine.

    Attributes:
      id: asset ID (``ee.Image(id)`` loads it).
      time_start_ms: ``system:time_start``.
      bands: the image's band names (plus linked bands such as ``cs_cdf``).
      links: (linked image ID, bands) joined by ``system:index`` (Cloud Score+).
      footprint: GeoJSON geometry in lon/lat (``system:footprint``), or None when unknown.
      properties: the source's ``frame_properties`` present on the image.
    """

    id: str
    time_start_ms: int
    bands: tuple[str, ...]
    links: tuple[tuple[str, tuple[str, ...]], ...] = ()
    footprint: Mapping[str, Any] | None = None
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def index(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time_start_ms": self.time_start_ms, "bands": list(self.bands),
                "links": [[i, list(b)] for i, b in self.links], "footprint": self.footprint,
                "properties": dict(self.properties)}

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "ImageInfo":
        return cls(id=v["id"], time_start_ms=int(v["time_start_ms"]), bands=tuple(v["bands"]),
                   links=tuple((i, tuple(b)) for i, b in v.get("links", [])), footprint=v.get("footprint"),
                   properties=dict(v.get("properties", {})))


@dataclasses.dataclass(frozen=True)
class Frame:
    """One frame of a source: an acquisition, or a composite bin (possibly empty), or the static mosaic.

    Attributes:
      key: index in the tile's frame list for this source (names the frame's bands).
      timestamp_ms: acquisition time, or the bin start, or the period start for a static source.
      images: the images combined into the frame (for an acquisition: the granules or slices of one pass).
      end_ms: the bin end for composites and static frames (equal to ``timestamp_ms`` for acquisitions).
      kind: ``"acquisition"``, ``"composite"`` or ``"static"``.
    """

    key: int
    timestamp_ms: int
    images: tuple[ImageInfo, ...]
    end_ms: int
    kind: FrameKind = "acquisition"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "timestamp_ms": self.timestamp_ms, "end_ms": self.end_ms, "kind": self.kind,
                "images": [i.to_json() for i in self.images]}

    @classmethod
    def from_json(cls, v: Mapping[str, Any]) -> "Frame":
        return cls(key=int(v["key"]), timestamp_ms=int(v["timestamp_ms"]), end_ms=int(v["end_ms"]),
                   kind=v["kind"], images=tuple(ImageInfo.from_json(i) for i in v["images"]))


@dataclasses.dataclass(frozen=True)
class Tile:
    """A group of sites of one UTM zone listed (and, in batch, exported) together.

    Attributes:
      tile_id: ``"<epsg>_<col>_<row>"`` on the grid of tiles of ``tile_size`` sites.
      sites: the tile's sites, in the export's site order.
      bounds: (left, bottom, right, top) of the sites' union, metres in the tile's CRS.
    """

    tile_id: str
    epsg: int
    resolution_m: float
    sites: tuple[Site, ...]

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        b = [s.bounds for s in self.sites]
        return (min(v[0] for v in b), min(v[1] for v in b), max(v[2] for v in b), max(v[3] for v in b))

    @property
    def window_ms(self) -> tuple[int, int]:
        return (min(s.window_ms[0] for s in self.sites), max(s.window_ms[1] for s in self.sites))

    def ee_geometry(self) -> Any:
        import ee

        left, bottom, right, top = self.bounds
        return ee.Geometry.Rectangle([left, bottom, right, top], proj=self.crs, geodesic=False)

    def footprint_lonlat(self) -> list[tuple[float, float]]:
        ring: list[tuple[float, float]] = []
        for s in self.sites:
            ring.extend(s.footprint_lonlat()[:-1])
        return ring


def tile_sites(sites: Sequence[Site], tile_size: int = 8) -> list[Tile]:
    """Groups sites by UTM zone, site size and a grid of ``tile_size`` x ``tile_size`` site cells.

    Returns:
      Tiles in order of their first site in ``sites``.
    """
    if tile_size < 1:
        raise ExportError(f"tile_size must be >= 1; got {tile_size!r}")
    groups: dict[tuple[Any, ...], list[Site]] = {}
    for site in sites:
        step = site.extent_m * tile_size
        key = (site.epsg, site.size, site.resolution_m, math.floor(site.x0 / step), math.floor(site.y0 / step))
        groups.setdefault(key, []).append(site)
    tiles = []
    for (epsg, size, res, col, row), members in groups.items():
        suffix = "" if (size, res) == (128, 10.0) else f"_{size}x{res:g}m"
        tiles.append(Tile(tile_id=f"{epsg}_{col}_{row}{suffix}", epsg=epsg, resolution_m=res, sites=tuple(members)))
    return tiles


# ----------------------------------------------------------------------------------------------------------------
# Listing


def list_images(source: Source, tile: Tile) -> list[ImageInfo]:
    """Lists ``source``'s images over the tile's area and time window (one ``getInfo`` per collection).

    Cloud Score+ (or any ``source.links``) is listed the same way and joined by ``system:index``; a linked
    collection the backend does not hold is skipped with a warning when the mask method is ``auto``.

    Returns:
      Images sorted by (time, id).
    """
    import ee

    collection = source.collection().filterBounds(tile.ee_geometry())
    if not source.static:
        collection = collection.filterDate(*tile.window_ms)
    info = collection.getInfo()
    linked: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for link_id, link_bands in source.links:
        if not _asset_exists(link_id):
            if getattr(source.quality, "method", "auto") == "auto":
                if (link_id, source.name) not in _WARNED:
                    _WARNED.add((link_id, source.name))
                    log.warning("%s is not available on this backend; %s falls back to its own mask bands",
                                link_id, source.name)
                continue
            raise ExportError(f"source {source.name!r} needs {link_id}, which this backend does not hold")
        link_col = ee.ImageCollection(link_id).filterBounds(tile.ee_geometry())
        if not source.static:
            link_col = link_col.filterDate(*tile.window_ms)
        for feature in link_col.getInfo().get("features", []):
            linked.setdefault(feature["id"].rsplit("/", 1)[-1], []).append((feature["id"], link_bands))
    images = [_image_info(feature, source, linked) for feature in info.get("features", [])]
    return sorted(images, key=lambda i: (i.time_start_ms, i.id))


def _asset_exists(asset_id: str) -> bool:
    import ee

    try:
        return ee.data.getInfo(asset_id) is not None
    except ee.EEException as exc:
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            return False
        raise


def _image_info(feature: Mapping[str, Any], source: Source, linked: Mapping[str, list[Any]]) -> ImageInfo:
    props = feature.get("properties", {})
    image_id = feature["id"]
    links = tuple(linked.get(image_id.rsplit("/", 1)[-1], ())[:1])
    bands = tuple(b["id"] for b in feature.get("bands", ()))
    for _, link_bands in links:
        bands += tuple(b for b in link_bands if b not in bands)
    if "system:time_start" not in props and not source.static:
        raise ExportError(f"image {image_id} of source {source.name!r} has no system:time_start")
    return ImageInfo(
        id=image_id,
        time_start_ms=int(props.get("system:time_start", 0)),
        bands=bands,
        links=links,
        footprint=props.get("system:footprint"),
        properties={k: props[k] for k in source.frame_properties if k in props},
    )


# ----------------------------------------------------------------------------------------------------------------
# Planning


def _bins(window_ms: tuple[int, int], composite: str) -> list[tuple[int, int]]:
    start, end = window_ms
    days = composite_days(composite)
    if days is not None:
        step = days * 86_400_000
        return [(t, min(t + step, end)) for t in range(start, end, step)]
    bins = []
    moment = dt.datetime.fromtimestamp(start / 1000, dt.timezone.utc)
    month_start = dt.datetime(moment.year, moment.month, 1, tzinfo=dt.timezone.utc)
    while int(month_start.timestamp() * 1000) < end:
        days_in_month = calendar.monthrange(month_start.year, month_start.month)[1]
        nxt = month_start + dt.timedelta(days=days_in_month)
        bins.append((max(int(month_start.timestamp() * 1000), start), min(int(nxt.timestamp() * 1000), end)))
        month_start = nxt
    return bins


def plan_frames(source: Source, images: Sequence[ImageInfo], request: ExportRequest,
                window_ms: tuple[int, int]) -> list[Frame]:
    """A tile's frames for one source.

    * static source: one frame of every image (mosaicked), timestamp = window start;
    * ``acquisitions``: one frame per pass inside the window, in time order: images of one source starting within
      ``request.same_pass_s`` seconds of a pass's first image (neighbouring Sentinel-2 granules, consecutive
      Sentinel-1 slices) are mosaicked into one frame stamped with the first image's time;
    * ``composites``: one frame per bin of the window, holding the images whose time falls in it (maybe none).
    """
    if source.static:
        return [Frame(0, window_ms[0], tuple(images), window_ms[1], "static")] if images else []
    inside = [i for i in images if window_ms[0] <= i.time_start_ms < window_ms[1]]
    if request.layout == "acquisitions":
        passes: list[list[ImageInfo]] = []
        for image in inside:
            if passes and image.time_start_ms - passes[-1][0].time_start_ms <= request.same_pass_s * 1000:
                passes[-1].append(image)
            else:
                passes.append([image])
        return [Frame(k, p[0].time_start_ms, tuple(p), p[0].time_start_ms) for k, p in enumerate(passes)]
    frames = []
    for k, (lo, hi) in enumerate(_bins(window_ms, request.composite)):
        frames.append(Frame(k, lo, tuple(i for i in inside if lo <= i.time_start_ms < hi), hi, "composite"))
    return frames


def _footprint_shape(image: ImageInfo, cache: dict[str, Any] | None) -> Any:
    """The image footprint as a shapely polygon (None when unknown or unreadable), parsed once per cache."""
    if cache is not None and image.id in cache:
        return cache[image.id]
    import shapely.geometry

    shape = None
    if image.footprint:
        try:
            shape = shapely.geometry.shape(image.footprint)
            if shape.geom_type in ("LinearRing", "LineString"):
                shape = shapely.geometry.Polygon(shape.coords)
        except (ValueError, TypeError, KeyError, AttributeError):
            shape = None  # an unreadable footprint does not exclude the image; empty frames are dropped later
    if cache is not None:
        cache[image.id] = shape
    return shape


def site_frames(site: Site, frames: Sequence[Frame], request: ExportRequest,
                footprints: dict[str, Any] | None = None) -> list[Frame]:
    """The tile frames a site keeps, with their images restricted to those whose footprint intersects the site.

    Acquisitions: kept when the image intersects the site and lies in the site's window. Composite bins: all
    kept that overlap the site's window (their timestamps form the regular grid), possibly without images. Static
    frames: kept when any image intersects the site. ``footprints`` caches parsed footprints across sites.
    """
    import shapely.geometry

    area = shapely.geometry.Polygon(site.footprint_lonlat())
    lo, hi = site.window_ms

    def intersects(image: ImageInfo) -> bool:
        shape = _footprint_shape(image, footprints)
        return shape is None or shape.intersects(area)

    out = []
    for frame in frames:
        images = tuple(i for i in frame.images if intersects(i))
        if frame.kind == "acquisition":
            if images and lo <= frame.timestamp_ms < hi:
                out.append(dataclasses.replace(frame, images=images))
        elif frame.kind == "composite":
            if frame.timestamp_ms < hi and frame.end_ms > lo:
                out.append(dataclasses.replace(frame, images=images))
        elif images:
            out.append(dataclasses.replace(frame, images=images))
    return out


def plan_tile(tile: Tile, sources: Mapping[str, Source], request: ExportRequest,
              listings: Mapping[str, Sequence[ImageInfo]]) -> dict[str, list[Frame]]:
    """Source name -> the tile's frames, from the listings (see :func:`list_images`)."""
    return {name: plan_frames(src, listings[name], request, tile.window_ms) for name, src in sources.items()}
