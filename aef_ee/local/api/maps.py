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

import collections
import dataclasses
import io
import re
import uuid
import zipfile
from typing import Any

from aef_ee.local import pixels, rendering, tiles
from aef_ee.local.api.compute import PROJECT, evaluate_request, render_pixels, select_bands
from aef_ee.local.api.routes import Request, Response, route
from aef_ee.local.context import use_context
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.export_writers import table_bytes
from aef_ee.local.raster import Image
from aef_ee.local.values import FeatureCollection

__all__ = ["MapLayer", "MAX_KEPT"]

# Map ids and thumbnail ids kept per server; the oldest are forgotten first (Earth Engine's expire too).
MAX_KEPT = 2000
# Tiles are immutable for a map id; let browsers keep them for an hour.
TILE_CACHE_CONTROL = "private, max-age=3600"
ZIP_FORMATS = ("ZIPPED_GEO_TIFF", "ZIPPED_GEO_TIFF_PER_BAND")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclasses.dataclass(frozen=True)
class MapLayer:
    """A created map: the visualization-ready lazy image and the tile format."""

    image: Image
    file_format: str


def _store(request: Request, kind: str, value: Any) -> str:
    """Keeps ``value`` under a fresh id in the server's ``kind`` table and returns the id."""
    key = uuid.uuid4().hex
    with request.server.state_lock:
        table = request.server.state.setdefault(kind, collections.OrderedDict())
        table[key] = value
        while len(table) > MAX_KEPT:
            table.popitem(last=False)
    return key


def _lookup(request: Request, kind: str, key: str, label: str) -> Any:
    with request.server.state_lock:
        value = request.server.state.get(kind, {}).get(key)
    if value is None:
        raise NotFound(f"{label} '{key}' not found (it may have expired when the local server restarted).")
    return value


def _evaluate_image(request: Request, body: dict[str, Any], method: str) -> Image:
    image = evaluate_request(request, body)
    if not isinstance(image, Image):
        raise InvalidArgument(f"{method}: the expression must evaluate to an Image, not {type(image).__name__}.")
    return image


@route("POST", PROJECT + r"/maps")
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


@route("GET", PROJECT + r"/maps/(?P<map>[^/]+)/tiles/(?P<z>\d+)/(?P<x>\d+)/(?P<y>\d+)")
def get_tile(request: Request) -> Response:
    layer: MapLayer = _lookup(request, "maps", request.match["map"], "Map")
    z, x, y = int(request.match["z"]), int(request.match["x"]), int(request.match["y"])
    with use_context(request.server.context()):
        data, content_type = tiles.render_tile(layer.image, z, x, y, file_format=layer.file_format)
    return Response(200, content_type, data, {"Cache-Control": TILE_CACHE_CONTROL})


@route("POST", PROJECT + r"/thumbnails")
def create_thumbnail(request: Request) -> dict[str, Any]:
    body = request.json()
    _evaluate_image(request, body, "thumbnails.create")  # fail now, as Earth Engine does, on a bad expression
    key = _store(request, "thumbnails", body)
    return {"name": f"projects/{request.match['project']}/thumbnails/{key}"}


@route("GET", PROJECT + r"/thumbnails/(?P<thumbnail>[^/:]+):getPixels")
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


@route("POST", PROJECT + r"/tables")
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


@route("GET", PROJECT + r"/tables/(?P<table>[^/:]+):getFeatures")
def get_table_features(request: Request) -> Response:
    body: dict[str, Any] = _lookup(request, "tables", request.match["table"], "Table")
    value = evaluate_request(request, body)
    file_format = str(body.get("fileFormat") or "CSV").upper()
    with use_context(request.server.context()):
        data, extension = table_bytes(value, file_format, body.get("selectors") or None)
    name = _SAFE_NAME.sub("_", str(body.get("filename") or "table")) or "table"
    return Response(200, TABLE_CONTENT_TYPES[file_format], data,
                    {"Content-Disposition": f'attachment; filename="{name}{extension}"'})
