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

from aef_ee.local.errors import InvalidArgument
from aef_ee.local.server import Request, route

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


def asset_resource(catalog: Any, record: Any) -> dict[str, Any]:
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
        from aef_ee.local.algorithms.image import image_from_record
        from aef_ee.local.api.compute import _image_resource

        image = image_from_record(catalog, record)
        image_json = _image_resource(image)
        resource["bands"] = image_json["bands"]
        if image.footprint is not None:
            from aef_ee.local.values import Geometry

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
    return asset_resource(catalog, catalog.get(request.match["name"]))


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
        keep = list_filter(query, catalog)
        records = [r for r in records if keep(r)]
    page, token = _page(records, request)
    result: dict[str, Any] = {"assets": [asset_resource(catalog, r) for r in page]}
    if token:
        result["nextPageToken"] = token
    return result


_TERM = re.compile(r'^\s*(startTime|endTime|properties\.[\w:.-]+)\s*(>=|<=|!=|=|<|>)\s*(.+?)\s*$')
_INTERSECTS = re.compile(r'^\s*intersects\((.*)\)\s*$', re.S)
_OPS = {">=": operator.ge, "<=": operator.le, "!=": operator.ne, "=": operator.eq, "<": operator.lt, ">": operator.gt}


def list_filter(query: str, catalog: Any) -> Callable[[Any], bool]:
    """A predicate for the AIP-160 filter subset that ee.data.listImages sends (terms joined by AND).

    Supported terms: ``startTime``/``endTime`` comparisons with RFC 3339 strings, ``properties.NAME`` comparisons
    with numbers or quoted strings, and ``intersects("GeoJSON")``.
    """
    tests: list[Callable[[Any], bool]] = []
    for term in re.split(r"\s+AND\s+", query.strip()):
        m = _INTERSECTS.match(term)
        if m:
            tests.append(_intersects_test(m.group(1), catalog))
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


def _intersects_test(raw: str, catalog: Any) -> Callable[[Any], bool]:
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
        from aef_ee.local.algorithms.image import image_from_record

        image = image_from_record(catalog, record)
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
    result: dict[str, Any] = {"images": [asset_resource(catalog, r) for r in page]}
    if token:
        result["nextPageToken"] = token
    return result


@route("POST", ASSET_NAME + r":getPixels")
def get_pixels(request: Request):
    from aef_ee.local.algorithms.image import image_from_record
    from aef_ee.local.api.compute import render_pixels

    catalog = request.server.catalog
    record = catalog.get(request.match["name"])
    if record.type != "IMAGE":
        raise InvalidArgument(f"Asset '{record.id}' is not an image.")
    return render_pixels(image_from_record(catalog, record), request.json())
