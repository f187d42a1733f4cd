"""``value:compute``, ``image:computePixels``, ``imageCollection:computeImages`` and ``table:computeFeatures``."""

from __future__ import annotations

import base64
from typing import Any

from aef_ee.local import pixels, rendering
from aef_ee.local.algorithms.image import select_by_names
from aef_ee.local.api.routes import Request, Response, route
from aef_ee.local.encoding import feature_info, image_info, to_json
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.evaluator import evaluate
from aef_ee.local.limits import check_value_size
from aef_ee.local.raster import Image
from aef_ee.local.values import FeatureCollection, ImageCollection

PROJECT = r"/v1/projects/(?P<project>[^/:]+)"
DEFAULT_PAGE_SIZE = 1000


def evaluate_request(request: Request, body: dict[str, Any] | None = None) -> Any:
    body = request.json() if body is None else body
    if "expression" not in body:
        raise InvalidArgument("Request is missing the required field 'expression'.")
    return evaluate(body["expression"], request.server.context())


@route("POST", PROJECT + r"/value:compute", compute=True)
def compute_value(request: Request) -> dict[str, Any]:
    value = evaluate_request(request)
    # A list may repeat one large value many times; encoding would expand every copy.
    check_value_size(value, "getInfo")
    return {"result": to_json(value)}


def select_bands(image: Image, band_ids: list[str] | None) -> Image:
    if not band_ids:
        return image
    return select_by_names(image, band_ids)


def render_pixels(image: Image, body: dict[str, Any]) -> Response:
    """Encodes ``image`` on the request's grid in the requested file format (shared with getPixels)."""
    image = select_bands(image, body.get("bandIds"))
    file_format = str(body.get("fileFormat") or "AUTO_JPEG_PNG").upper()
    vis = body.get("visualizationOptions")
    if vis or file_format in ("PNG", "JPEG", "AUTO_JPEG_PNG"):
        image = rendering.apply_options(image, vis or {})
    grid = pixels.grid_from_json(body.get("grid"), image)
    pixels.check_request_size(grid, pixels.output_dtypes(image))
    values, masks = pixels.compute_pixels(image, grid)
    names = image.band_names
    if file_format in ("NPY", "NUMPY_NDARRAY"):
        return Response(200, "application/octet-stream", pixels.to_npy(names, values))
    if file_format in ("GEO_TIFF", "GEOTIFF"):
        return Response(200, "image/tiff", pixels.to_geotiff(grid, names, values, masks))
    if file_format in ("PNG", "JPEG", "AUTO_JPEG_PNG"):
        data, content_type = rendering.encode_image(values, masks, file_format)
        return Response(200, content_type, data)
    raise InvalidArgument(f"Unsupported file format '{file_format}'. Supported: NPY, GEO_TIFF, PNG, JPEG.")


@route("POST", PROJECT + r"/image:computePixels", compute=True)
def compute_pixels(request: Request) -> Response:
    body = request.json()
    image = evaluate_request(request, body)
    if not isinstance(image, Image):
        raise InvalidArgument(f"computePixels: the expression must evaluate to an Image, not {type(image).__name__}.")
    return render_pixels(image, body)


def _page(items: list[Any], body: dict[str, Any]) -> tuple[list[Any], str | None]:
    try:
        size = int(body.get("pageSize") or DEFAULT_PAGE_SIZE)
        start = int(base64.urlsafe_b64decode(body["pageToken"]).decode()) if body.get("pageToken") else 0
    except (ValueError, TypeError, OverflowError):
        raise InvalidArgument(
            f"Invalid pageSize or pageToken: {str(body.get('pageSize'))[:40]!r}, {str(body.get('pageToken'))[:40]!r}"
        ) from None
    end = start + max(1, size)
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


@route("POST", PROJECT + r"/imageCollection:computeImages", compute=True)
def compute_images(request: Request) -> dict[str, Any]:
    body = request.json()
    value = evaluate_request(request, body)
    if not isinstance(value, ImageCollection):
        raise InvalidArgument("computeImages: the expression must evaluate to an ImageCollection.")
    page, token = _page(list(value.images), body)
    result: dict[str, Any] = {"images": [_image_resource(i) for i in page]}
    if token:
        result["nextPageToken"] = token
    return result


def _image_resource(image: Image) -> dict[str, Any]:
    """An image in the EeImage REST shape (as listImages returns)."""
    info = image_info(image)
    resource: dict[str, Any] = {"type": "IMAGE", "bands": []}
    if "id" in info:
        resource["id"] = info["id"]
        resource["name"] = "projects/earthengine-public/assets/" + info["id"]
    for band in info["bands"]:
        b = {"id": band["id"], "dataType": {"precision": band["data_type"]["precision"].upper()},
             "grid": {"crsCode": band["crs"], "affineTransform": dict(zip(
                 ["scaleX", "shearX", "translateX", "shearY", "scaleY", "translateY"], band["crs_transform"]))}}
        if "dimensions" in band:
            b["grid"]["dimensions"] = {"width": band["dimensions"][0], "height": band["dimensions"][1]}
        resource["bands"].append(b)
    props = info.get("properties", {})
    if "system:time_start" in props:
        resource["startTime"] = _rfc3339(props["system:time_start"])
    if "system:time_end" in props:
        resource["endTime"] = _rfc3339(props["system:time_end"])
    resource["properties"] = props
    return resource


def _rfc3339(millis: float) -> str:
    import datetime

    dt = datetime.datetime.fromtimestamp(float(millis) / 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@route("POST", PROJECT + r"/table:computeFeatures", compute=True)
def compute_features(request: Request) -> dict[str, Any]:
    body = request.json()
    value = evaluate_request(request, body)
    if not isinstance(value, FeatureCollection):
        raise InvalidArgument("computeFeatures: the expression must evaluate to a FeatureCollection.")
    page, token = _page(list(value.features), body)
    result: dict[str, Any] = {"type": "FeatureCollection", "features": [feature_info(f) for f in page]}
    if token:
        result["nextPageToken"] = token
    return result
