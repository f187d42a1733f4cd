"""``image:export`` and ``table:export``: start an export as a long-running operation.

Starting one evaluates the expression and checks the grid and ``maxPixels`` (so a bad request fails at
``task.start()``, as on Earth Engine), on a compute worker; the export itself then runs on the operation's thread.
"""

from __future__ import annotations

from typing import Any

from aef_ee.local import pixels
from aef_ee.local.api.compute import PROJECT, evaluate_request
from aef_ee.local.api.routes import Request, route
from aef_ee.local.errors import InvalidArgument
from aef_ee.local.export_writers import check_max_pixels, export_image, export_table
from aef_ee.local.operation_registry import registry_of
from aef_ee.local.raster import Image
from aef_ee.local.values import FeatureCollection


@route("POST", PROJECT + r"/image:export", compute=True)
def start_image_export(request: Request) -> dict[str, Any]:
    body = request.json()
    image = evaluate_request(request, body)
    if not isinstance(image, Image):
        raise InvalidArgument("image:export: the expression must evaluate to an Image.")
    server = request.server
    # Validate the grid and limits now, so a bad request fails at start() as on Earth Engine.
    check_max_pixels(pixels.grid_from_json(body.get("grid"), image), body)
    settings = dict(server.settings)
    op = registry_of(server).submit(
        request.match["project"], "EXPORT_IMAGE", body.get("description") or "myExportImageTask",
        lambda op: export_image(op, image, body, settings, server.catalog))
    return op.to_json()


@route("POST", PROJECT + r"/table:export", compute=True)
def start_table_export(request: Request) -> dict[str, Any]:
    body = request.json()
    table = evaluate_request(request, body)
    if not isinstance(table, FeatureCollection):
        raise InvalidArgument("table:export: the expression must evaluate to a FeatureCollection.")
    server = request.server
    settings = dict(server.settings)
    op = registry_of(server).submit(
        request.match["project"], "EXPORT_FEATURES", body.get("description") or "myExportTableTask",
        lambda op: export_table(op, table, body, settings, server.catalog))
    return op.to_json()
