"""Asset endpoints: ``assets.get``, ``listAssets``, ``listImages`` and ``getPixels`` over the catalog.

Asset names follow Earth Engine: a public asset ``X`` is ``projects/earthengine-public/assets/X``; a user asset is
``projects/<project>/assets/<path>``.
"""

from __future__ import annotations

import base64
import datetime
import operator
import re
from collections.abc import Callable
from typing import Any

from aef_ee.local.algorithms.image import image_from_record
from aef_ee.local.api.compute import _image_resource, render_pixels
from aef_ee.local.api.routes import Request, route
from aef_ee.local.errors import AlreadyExists, InvalidArgument
from aef_ee.local.ingest import bands_from_files, bands_from_manifest, resolve_uri
from aef_ee.local.operation_registry import registry_of
from aef_ee.local.values import Geometry

PUBLIC_PREFIX = "projects/earthengine-public/assets/"
ASSET_NAME = r"/v1/(?P<name>projects/[^/:]+/assets/[^:]*)"
PARENT_NAME = r"/v1/(?P<name>projects/[^/:]+(?:/assets/[^:]*)?)"


def asset_name(asset_id: str) -> str:
    return asset_id if asset_id.startswith("projects/") else PUBLIC_PREFIX + asset_id


def _rfc3339(millis: float) -> str:
    dt = datetime.datetime.fromtimestamp(float(millis) / 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_rfc3339(value: str) -> float:
    """Milliseconds since the epoch of an RFC 3339 timestamp."""
    try:
        dt = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidArgument(f"Invalid timestamp {value!r}; expected RFC 3339 like 2020-01-01T00:00:00Z.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp() * 1000


def asset_resource(catalog: Any, record: Any, settings: Any = None) -> dict[str, Any]:
    """The EarthEngineAsset JSON of a catalog record."""
    manifest = record.manifest
    resource: dict[str, Any] = {
        "type": record.type,
        "name": asset_name(record.id),
        "id": record.id,
        "updateTime": record.update_time,
    }
    props = dict(manifest.get("properties") or {})
    for key in ("title", "description"):
        if key in manifest:
            resource[key] = manifest[key]
    if record.type == "IMAGE":
        image = image_from_record(catalog, record, settings or {})
        image_json = _image_resource(image)
        uris = sorted({b.get("path") for b in manifest.get("bands", []) if str(b.get("path", "")).startswith("gs://")})
        if uris:
            resource["cloudStorageLocation"] = {"uris": uris}
        resource["bands"] = image_json["bands"]
        if image.footprint is not None:
            resource["geometry"] = Geometry(image.footprint, geodesic=False).to_geojson()
        if "system:time_start" in props:
            resource["startTime"] = _rfc3339(props["system:time_start"])
        if "system:time_end" in props:
            resource["endTime"] = _rfc3339(props["system:time_end"])
    resource["properties"] = {k: v for k, v in props.items() if not k.startswith("system:time")}
    return resource


def _page(items: list[Any], request: Request) -> tuple[list[Any], str | None]:
    try:
        size = int(request.param("pageSize") or 1000)
        token = request.param("pageToken")
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
    except (ValueError, TypeError):
        raise InvalidArgument("Invalid pageSize or pageToken.") from None
    end = start + max(1, size)
    return items[start:end], (base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None)


@route("GET", ASSET_NAME)
def get_asset(request: Request) -> dict[str, Any]:
    catalog = request.server.catalog
    return asset_resource(catalog, catalog.get(request.match["name"]), request.server.settings)


@route("GET", PARENT_NAME + r":listAssets")
def list_assets(request: Request) -> dict[str, Any]:
    catalog = request.server.catalog
    name = request.match["name"]
    parent = name if "/assets/" in name else name + "/assets/"
    if parent.endswith("/assets/") and not catalog.exists(parent.rstrip("/")):
        return {"assets": []}
    records = catalog.list_children(parent.rstrip("/"))
    query = request.param("filter")
    if query:
        keep = list_filter(query, catalog, request.server.settings)
        records = [r for r in records if keep(r)]
    page, token = _page(records, request)
    result: dict[str, Any] = {"assets": [asset_resource(catalog, r, request.server.settings) for r in page]}
    if token:
        result["nextPageToken"] = token
    return result


_TERM = re.compile(r'^\s*(startTime|endTime|properties\.[\w:.-]+)\s*(>=|<=|!=|=|<|>)\s*(.+?)\s*$')
_INTERSECTS = re.compile(r'^\s*intersects\((.*)\)\s*$', re.S)
_OPS = {">=": operator.ge, "<=": operator.le, "!=": operator.ne, "=": operator.eq, "<": operator.lt, ">": operator.gt}


def list_filter(query: str, catalog: Any, settings: Any = None) -> Callable[[Any], bool]:
    """A predicate for the AIP-160 filter subset that ee.data.listImages sends (terms joined by AND).

    Supported terms: ``startTime``/``endTime`` comparisons with RFC 3339 strings, ``properties.NAME`` comparisons
    with numbers or quoted strings, and ``intersects("GeoJSON")``.
    """
    tests: list[Callable[[Any], bool]] = []
    for term in re.split(r"\s+AND\s+", query.strip()):
        m = _INTERSECTS.match(term)
        if m:
            tests.append(_intersects_test(m.group(1), catalog, settings))
            continue
        m = _TERM.match(term)
        if not m:
            raise InvalidArgument(f"Unsupported filter term {term!r} in {query!r}.")
        field, op, raw = m.groups()
        value: Any = raw[1:-1] if raw[:1] in "\"'" and raw[-1:] == raw[:1] else _number(raw)
        if field in ("startTime", "endTime"):
            key = "system:time_start" if field == "startTime" else "system:time_end"
            bound = parse_rfc3339(str(value))
            tests.append(_compare(key, _OPS[op], bound))
        else:
            tests.append(_compare(field[len("properties."):], _OPS[op], value))
    return lambda record: all(t(record) for t in tests)


def _number(raw: str) -> Any:
    try:
        return float(raw)
    except ValueError:
        return raw


def _compare(key: str, op: Callable[[Any, Any], bool], bound: Any) -> Callable[[Any], bool]:
    def test(record: Any) -> bool:
        value = (record.manifest.get("properties") or {}).get(key)
        if value is None:
            return False
        try:
            return bool(op(value, bound))
        except TypeError:
            return False

    return test


def _intersects_test(raw: str, catalog: Any, settings: Any = None) -> Callable[[Any], bool]:
    import json

    from shapely.geometry import shape

    text = raw.strip()
    if text[:1] in "\"'":
        text = text[1:-1]
    try:
        region = shape(json.loads(text.replace("'", '"')))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"Invalid region in filter: {exc}") from None

    def test(record: Any) -> bool:
        if record.type != "IMAGE":
            return False
        image = image_from_record(catalog, record, settings)
        return image.footprint is not None and image.footprint.intersects(region)

    return test


@route("GET", ASSET_NAME + r":listImages")
def list_images(request: Request) -> dict[str, Any]:
    catalog = request.server.catalog
    records = catalog.list_images(request.match["name"])
    start = request.param("startTime")
    end = request.param("endTime")
    lo = parse_rfc3339(start) if start else None
    hi = parse_rfc3339(end) if end else None
    chosen = []
    for record in records:
        t = (record.manifest.get("properties") or {}).get("system:time_start")
        if lo is not None and (t is None or t < lo):
            continue
        if hi is not None and (t is None or t >= hi):
            continue
        chosen.append(record)
    page, token = _page(chosen, request)
    result: dict[str, Any] = {"images": [asset_resource(catalog, r, request.server.settings) for r in page]}
    if token:
        result["nextPageToken"] = token
    return result


@route("POST", ASSET_NAME + r":getPixels", compute=True)
def get_pixels(request: Request):
    catalog = request.server.catalog
    record = catalog.get(request.match["name"])
    if record.type != "IMAGE":
        raise InvalidArgument(f"Asset '{record.id}' is not an image.")
    return render_pixels(image_from_record(catalog, record, request.server.settings), request.json())


# --- writing ---------------------------------------------------------------------------------------------

def _times_to_properties(asset: dict[str, Any]) -> dict[str, Any]:
    props = dict(asset.get("properties") or {})
    if asset.get("startTime"):
        props["system:time_start"] = int(parse_rfc3339(asset["startTime"]))
    if asset.get("endTime"):
        props["system:time_end"] = int(parse_rfc3339(asset["endTime"]))
    return props


@route("POST", r"/v1/projects/(?P<project>[^/:]+)/assets")
def create_asset(request: Request) -> dict[str, Any]:
    catalog = request.server.catalog
    asset_id = request.param("assetId")
    if not asset_id:
        raise InvalidArgument("createAsset: the assetId parameter is required.")
    asset = request.json()
    kind = str(asset.get("type", "")).upper()
    if kind in ("FOLDER", "IMAGE_COLLECTION"):
        record = catalog.create_container(asset_id, kind, _times_to_properties(asset))
    elif kind == "IMAGE":
        location = asset.get("cloudStorageLocation") or asset.get("cloud_storage_location") \
            or asset.get("gcsLocation") or asset.get("gcs_location") or {}
        uris = location.get("uris") or []
        if len(uris) != 1:
            raise InvalidArgument("createAsset: an IMAGE needs cloudStorageLocation.uris with exactly one GeoTIFF.")
        path = resolve_uri(uris[0], request.server.settings, catalog)  # must exist now; read in place later
        bands = bands_from_files([path], [b["id"] for b in asset["bands"]] if asset.get("bands") else None)
        if uris[0].startswith("gs://"):
            for band in bands:
                band["path"] = uris[0]
        record = catalog.write_image(asset_id, bands, _times_to_properties(asset))
    else:
        raise InvalidArgument(f"createAsset: unsupported asset type {asset.get('type')!r}; "
                              "use FOLDER, IMAGE_COLLECTION or IMAGE (Cloud GeoTIFF).")
    return asset_resource(catalog, record, request.server.settings)


@route("PATCH", ASSET_NAME)
def update_asset(request: Request) -> dict[str, Any]:
    catalog = request.server.catalog
    body = request.json()
    asset = body.get("asset") or {}
    paths = (body.get("updateMask") or {}).get("paths") or []
    record = catalog.get(request.match["name"])
    new_props = _times_to_properties(asset)
    changes: dict[str, Any] = {}
    removals: list[str] = []
    replace_all = False
    for path in paths:
        if path in ("start_time", "startTime"):
            key = "system:time_start"
        elif path in ("end_time", "endTime"):
            key = "system:time_end"
        elif path == "properties":
            replace_all = True
            continue
        elif path.startswith("properties."):
            key = path[len("properties."):].strip('"')
        elif path in ("title", "description"):
            key = path
        else:
            raise InvalidArgument(f"updateAsset: unsupported update mask path {path!r}.")
        if key in new_props:
            changes[key] = new_props[key]
        elif key in (asset.get("properties") or {}) or key in ("title", "description"):
            changes[key] = asset.get(key)
        else:
            removals.append(key)
    if replace_all:
        keep = {k: v for k, v in (record.manifest.get("properties") or {}).items() if k.startswith("system:")}
        keep.update(new_props)
        keep.update(changes)
        record = catalog.update_properties(record.id, keep, replace=True)
    else:
        props = dict(record.manifest.get("properties") or {})
        props.update(changes)
        for key in removals:
            props.pop(key, None)
        record = catalog.update_properties(record.id, props, replace=True)
    return asset_resource(catalog, record, request.server.settings)


@route("DELETE", ASSET_NAME)
def delete_asset(request: Request) -> dict[str, Any]:
    request.server.catalog.delete(request.match["name"])
    return {}


def _transfer(request: Request, *, keep_source: bool) -> dict[str, Any]:
    catalog = request.server.catalog
    body = request.json()
    destination = body.get("destinationName")
    if not destination:
        raise InvalidArgument("destinationName is required.")
    # One commit, also with overwrite: the destination is replaced, never deleted first and then written.
    transfer = catalog.copy if keep_source else catalog.move
    record = transfer(request.match["name"], destination, overwrite=bool(body.get("overwrite")))
    return asset_resource(catalog, record, request.server.settings)


@route("POST", ASSET_NAME + r":copy")
def copy_asset(request: Request) -> dict[str, Any]:
    return _transfer(request, keep_source=True)


@route("POST", ASSET_NAME + r":move")
def move_asset(request: Request) -> dict[str, Any]:
    return _transfer(request, keep_source=False)


def _manifest_name_and_overwrite(request: Request) -> tuple[dict[str, Any], str, bool]:
    body = request.json()
    manifest = body.get("imageManifest") or {}
    name = manifest.get("name")
    if not name:
        raise InvalidArgument("imageManifest.name is required.")
    overwrite = bool(body.get("overwrite"))
    if request.server.catalog.exists(name) and not overwrite:
        raise AlreadyExists(f"Cannot overwrite asset '{request.server.catalog.canonical_id(name)}'.")
    return manifest, name, overwrite


@route("POST", r"/v1/projects/(?P<project>[^/:]+)/image:importExternal")
def import_external_image(request: Request) -> dict[str, Any]:
    """External image ingestion: the GeoTIFFs stay where they are and the asset exists at once (no operation)."""
    server = request.server
    manifest, name, overwrite = _manifest_name_and_overwrite(request)
    bands = bands_from_manifest(manifest, server.settings, server.catalog)
    uris = [u for tileset in manifest.get("tilesets", []) for src in tileset.get("sources", [])
            for u in src.get("uris", [])]
    if len(uris) == 1 and uris[0].startswith("gs://"):
        for band in bands:  # read in place, resolved when loaded
            band["path"] = uris[0]
    server.catalog.write_image(name, bands, _times_to_properties(manifest), overwrite=overwrite)
    return {}


@route("POST", r"/v1/projects/(?P<project>[^/:]+)/image:import")
def import_image(request: Request) -> dict[str, Any]:
    """Image ingestion from a manifest, as a long-running INGEST_IMAGE operation."""
    server = request.server
    manifest, name, overwrite = _manifest_name_and_overwrite(request)
    settings = dict(server.settings)

    def work(op) -> None:
        bands = bands_from_manifest(manifest, settings, server.catalog)
        op.check_cancelled()
        server.catalog.write_image(name, bands, _times_to_properties(manifest), overwrite=overwrite)
        op.destination_uris.append(asset_name(server.catalog.canonical_id(name)))

    op = registry_of(server).submit(request.match["project"], "INGEST_IMAGE",
                                    f"Ingest image: \"{name}\"", work)
    return op.to_json()
