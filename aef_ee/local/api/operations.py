"""Operations: get, list, cancel, wait, delete (what ``ee.batch.Task`` and ``ee.data.listOperations`` call)."""

from __future__ import annotations

from typing import Any

from aef_ee.local.api.routes import Request, parse_duration, route
from aef_ee.local.operation_registry import registry_of

OPERATION = r"/v1/projects/(?P<project>[^/:]+)/operations/(?P<op>[A-Za-z0-9_-]+)"
# operations.wait without a timeout waits this long; no wait is longer than MAX_WAIT_S (a request thread is held).
DEFAULT_WAIT_S = 60.0
MAX_WAIT_S = 600.0


@route("GET", r"/v1/projects/(?P<project>[^/:]+)/operations")
def list_operations(request: Request) -> dict[str, Any]:
    ops = registry_of(request.server).list()
    return {"operations": [op.to_json() for op in ops]} if ops else {}


@route("GET", OPERATION)
def get_operation(request: Request) -> dict[str, Any]:
    return registry_of(request.server).get(request.match["op"]).to_json()


@route("DELETE", OPERATION)
def delete_operation(request: Request) -> dict[str, Any]:
    registry_of(request.server).delete(request.match["op"])
    return {}


@route("POST", OPERATION + r":cancel")
def cancel_operation(request: Request) -> dict[str, Any]:
    registry_of(request.server).get(request.match["op"]).request_cancel()
    return {}


@route("POST", OPERATION + r":wait")
def wait_operation(request: Request) -> dict[str, Any]:
    op = registry_of(request.server).get(request.match["op"])
    op.wait(parse_duration(request.json().get("timeout"), "timeout", default_s=DEFAULT_WAIT_S, max_s=MAX_WAIT_S))
    return op.to_json()
