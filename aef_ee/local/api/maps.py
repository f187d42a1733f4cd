"""Map tiles, thumbnails and image downloads: ``maps.create`` + tiles, ``thumbnails.create`` + ``getPixels``.

- ``POST /v1/projects/{p}/maps`` (what ``ee.data.getMapId``, ``Image.getMapId`` and geemap's ``Map.add_layer`` call)
  evaluates the expression once, keeps the lazy visualization image under a fresh id in the server's state, and
  answers ``{"name": "projects/{p}/maps/{id}"}``.
- ``GET /v1/projects/{p}/maps/{id}/tiles/{z}/{x}/{y}`` renders exactly that Web Mercator tile (256 x 256 PNG).
- ``POST /v1/projects/{p}/thumbnails`` (``getThumbURL`` and ``getDownloadURL`` both create one) keeps the request;
  ``GET /v1/projects/{p}/thumbnails/{id}:getPixels`` renders it: PNG / JPEG / GEO_TIFF / NPY as computePixels does,
  or ZIPPED_GEO_TIFF / ZIPPED_GEO_TIFF_PER_BAND as a zip of GeoTIFFs (the ``getDownloadURL`` default).
- ``POST /v1/projects/{p}/tables`` (``FeatureCollection.getDownloadURL``) keeps the request;
  ``GET /v1/projects/{p}/tables/{id}:getFeatures`` answers CSV or GeoJSON, written as table exports write them.
"""

from __future__ import annotations

import dataclasses
import io
import re
import secrets
import zipfile
from typing import Any

from aef_ee.local import pixels, rendering, tiles
from aef_ee.local.api.compute import PROJECT, evaluate_request, render_pixels, select_bands
from aef_ee.local.api.routes import Request, Response, route
from aef_ee.local.caches import LruCache, SingleFlight
from aef_ee.local.context import use_context
from aef_ee.local.errors import ComputationTimedOut, InvalidArgument, NotFound
from aef_ee.local.export_writers import table_bytes
from aef_ee.local.raster import Image
from aef_ee.local.values import FeatureCollection

__all__ = ["MapLayer", "MAX_KEPT", "TILE_CACHE_ENTRIES", "TILE_CACHE_BYTES"]

# Map ids and thumbnail ids kept per server; the least recently used are forgotten first (Earth Engine's expire too).
MAX_KEPT = 2000
# Rendered tiles kept per server: a map view is ~20 tiles of 5 to 100 kB; panning back and forth and several
# viewers of one map are served from here.
TILE_CACHE_ENTRIES = 1024
TILE_CACHE_BYTES = 64 * 2**20
# Tiles are immutable for a map id; let browsers keep them for an hour.
TILE_CACHE_CONTROL = "private, max-age=3600"
ZIP_FORMATS = ("ZIPPED_GEO_TIFF", "ZIPPED_GEO_TIFF_PER_BAND")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Tile coordinates: MAX_ZOOM is 24, so x and y have at most 8 digits; longer strings are refused before int().
_MAX_TILE_DIGITS = 9


@dataclasses.dataclass(frozen=True)
class MapLayer:
    """A created map: the visualization-ready lazy image and the tile format."""

    image: Image
    file_format: str


def _table(request: Request, kind: str) -> LruCache:
    with request.server.state_lock:
        table = request.server.state.get(kind)
        if table is None:
            table = request.server.state[kind] = LruCache(MAX_KEPT)
        return table


def _store(request: Request, kind: str, value: Any) -> str:
    """Keeps ``value`` under a fresh id in the server's ``kind`` table and returns the id.

    The id is 128 random bits: download URLs built on it are fetched without the token (see
    :mod:`aef_ee.local.security`), so it must not be guessable.
    """
    key = secrets.token_hex(16)
    _table(request, kind).put(key, value)
    return key


def _lookup(request: Request, kind: str, key: str, label: str) -> Any:
    value = _table(request, kind).get(key)
    if value is None:
        raise NotFound(f"{label} '{key[:100]}' not found (it may have expired, or the local server restarted).")
    return value


def _tile_caches(request: Request) -> tuple[LruCache, SingleFlight]:
    with request.server.state_lock:
        caches = request.server.state.get("tile_caches")
        if caches is None:
            cache = LruCache(TILE_CACHE_ENTRIES, max_bytes=TILE_CACHE_BYTES, size_of=lambda item: len(item[0]))
            caches = request.server.state["tile_caches"] = (cache, SingleFlight())
        return caches


def _tile_index(request: Request, name: str) -> int:
    text = request.match[name]
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_TILE_DIGITS:
        raise InvalidArgument(f"Invalid tile coordinate {name}={text[:20]!r}: expected a small non-negative integer.")
    return int(text)


def _evaluate_image(request: Request, body: dict[str, Any], method: str) -> Image:
    image = evaluate_request(request, body)
    if not isinstance(image, Image):
        raise InvalidArgument(f"{method}: the expression must evaluate to an Image, not {type(image).__name__}.")
    return image


@route("POST", PROJECT + r"/maps", compute=True)
def create_map(request: Request) -> dict[str, Any]:
    body = request.json()
    image = _evaluate_image(request, body, "maps.create")
    image = select_bands(image, body.get("bandIds"))
    with use_context(request.server.context()):
        image = rendering.apply_options(image, body.get("visualizationOptions") or {})
    file_format = str(body.get("fileFormat") or "AUTO_JPEG_PNG").upper()
    # Tiles are PNG unless JPEG is asked for by name: PNG keeps masked pixels transparent and colours exact.
    file_format = "JPEG" if file_format in ("JPEG", "JPG") else "PNG"
    key = _store(request, "maps", MapLayer(image, file_format))
    return {"name": f"projects/{request.match['project']}/maps/{key}"}


@route("GET", PROJECT + r"/maps/(?P<map>[^/]+)/tiles/(?P<z>[^/]+)/(?P<x>[^/]+)/(?P<y>[^/]+)")
def get_tile(request: Request) -> Response:
    """One tile, from the tile cache, or rendered on a compute worker; concurrent requests for the same tile wait
    for one rendering (this route itself runs on the connection's thread, so waiting holds no worker)."""
    z, x, y = (_tile_index(request, name) for name in ("z", "x", "y"))
    tiles.tile_grid(z, x, y)  # 400 for a tile outside the world, before the map id is looked up
    key = (request.match["map"], z, x, y)
    layer: MapLayer = _lookup(request, "maps", key[0], "Map")
    cache, flight = _tile_caches(request)
    found = cache.get(key)
    if found is None:
        server = request.server

        def render() -> tuple[bytes, str]:
            def on_worker() -> tuple[bytes, str]:
                with use_context(server.context()):
                    return tiles.render_tile(layer.image, z, x, y, file_format=layer.file_format)

            rendered = server.compute(on_worker)
            cache.put(key, rendered)
            return rendered

        try:
            found = flight.run(key, render, timeout_s=server.limits.compute_timeout_s)
        except TimeoutError:  # waited on another request's rendering of this tile for the whole budget
            raise ComputationTimedOut() from None
    data, content_type = found
    return Response(200, content_type, data, {"Cache-Control": TILE_CACHE_CONTROL})


@route("POST", PROJECT + r"/thumbnails", compute=True)
def create_thumbnail(request: Request) -> dict[str, Any]:
    body = request.json()
    _evaluate_image(request, body, "thumbnails.create")  # fail now, as Earth Engine does, on a bad expression
    key = _store(request, "thumbnails", body)
    return {"name": f"projects/{request.match['project']}/thumbnails/{key}"}


@route("GET", PROJECT + r"/thumbnails/(?P<thumbnail>[^/:]+):getPixels", compute=True)
def get_thumbnail_pixels(request: Request) -> Response:
    body: dict[str, Any] = _lookup(request, "thumbnails", request.match["thumbnail"], "Thumbnail")
    image = _evaluate_image(request, body, "thumbnails.getPixels")
    file_format = str(body.get("fileFormat") or "AUTO_JPEG_PNG").upper()
    with use_context(request.server.context()):
        if file_format in ZIP_FORMATS:
            return _zipped_geotiffs(image, body, per_band=file_format == "ZIPPED_GEO_TIFF_PER_BAND")
        return render_pixels(image, body)


def _file_prefix(image: Image, body: dict[str, Any]) -> str:
    prefix = body.get("filenamePrefix") or image.properties.get("system:id") or "download"
    return _SAFE_NAME.sub("_", str(prefix).replace("/", "_")) or "download"


def _zipped_geotiffs(image: Image, body: dict[str, Any], *, per_band: bool) -> Response:
    """A zip of one GeoTIFF (``{prefix}.tif``) or one per band (``{prefix}.{band}.tif``, each on its own grid)."""
    image = select_bands(image, body.get("bandIds"))
    prefix = _file_prefix(image, body)
    parts = [select_bands(image, [name]) for name in image.band_names] if per_band else [image]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for part in parts:
            grid = pixels.grid_from_json(body.get("grid"), part)
            pixels.check_request_size(grid, pixels.output_dtypes(part))
            values, masks = pixels.compute_pixels(part, grid)
            name = f"{prefix}.{part.band_names[0]}.tif" if per_band else f"{prefix}.tif"
            archive.writestr(name, pixels.to_geotiff(grid, part.band_names, values, masks))
    return Response(200, "application/zip", buffer.getvalue(),
                    {"Content-Disposition": f'attachment; filename="{prefix}.zip"'})


TABLE_CONTENT_TYPES = {"CSV": "text/csv; charset=utf-8", "GEO_JSON": "application/geo+json"}


@route("POST", PROJECT + r"/tables", compute=True)
def create_table_download(request: Request) -> dict[str, Any]:
    body = request.json()
    value = evaluate_request(request, body)
    if not isinstance(value, FeatureCollection):
        raise InvalidArgument(
            f"tables.create: the expression must evaluate to a FeatureCollection, not {type(value).__name__}.")
    file_format = str(body.get("fileFormat") or "CSV").upper()
    if file_format not in TABLE_CONTENT_TYPES:
        raise InvalidArgument(f"Unsupported table file format '{file_format}'. Supported: CSV, GEO_JSON.")
    key = _store(request, "tables", body)
    return {"name": f"projects/{request.match['project']}/tables/{key}"}


@route("GET", PROJECT + r"/tables/(?P<table>[^/:]+):getFeatures", compute=True)
def get_table_features(request: Request) -> Response:
    body: dict[str, Any] = _lookup(request, "tables", request.match["table"], "Table")
    value = evaluate_request(request, body)
    file_format = str(body.get("fileFormat") or "CSV").upper()
    with use_context(request.server.context()):
        data, extension = table_bytes(value, file_format, body.get("selectors") or None)
    name = _SAFE_NAME.sub("_", str(body.get("filename") or "table")) or "table"
    return Response(200, TABLE_CONTENT_TYPES[file_format], data,
                    {"Content-Disposition": f'attachment; filename="{name}{extension}"'})
