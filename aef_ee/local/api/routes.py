"""The route table of the REST API: :class:`Request`, :class:`Response`, the :func:`route` decorator, and
:func:`load_routes`, which imports the explicit list of endpoint modules (:data:`API_MODULES`).

Each endpoint module registers its handlers on import with ``@route("POST", PROJECT + r"/value:compute")``; the
server (:mod:`aef_ee.local.server`) loads them once at start-up and asks :func:`resolve` which handler serves a
request. A listed module that is missing or broken stops the server from starting
(:class:`~aef_ee.local.errors.EngineStartupError`), rather than turning its endpoints into 404s.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aef_ee.local.errors import EngineStartupError, InvalidArgument, NotFound

__all__ = ["API_MODULES", "Request", "Response", "Handler", "route", "load_routes", "resolve"]

_PACKAGE = "aef_ee.local.api"
# The modules of aef_ee.local.api holding endpoints, one per REST resource family.
API_MODULES: tuple[str, ...] = ("discovery", "compute", "assets", "maps", "operations", "exports")


@dataclasses.dataclass
class Request:
    """One HTTP request as a handler sees it.

    Attributes:
      method: ``GET``, ``POST``, ``PATCH`` or ``DELETE``.
      path: the URL path, percent-decoded.
      query: the query parameters (each a list, as ``urllib.parse.parse_qs`` gives them).
      body: the raw request body.
      match: the named groups of the route's path pattern.
      server: the :class:`~aef_ee.local.server.LocalServer` serving it (catalog, settings, per-server state).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    match: dict[str, str]
    server: Any

    def json(self) -> dict[str, Any]:
        """The body parsed as a JSON object ({} when empty).

        Raises:
          InvalidArgument: the body is not JSON, or not an object.
        """
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"Invalid JSON payload received. {exc.msg} at position {exc.pos}.") from None
        if not isinstance(value, dict):
            raise InvalidArgument("Invalid JSON payload received: expected an object.")
        return value

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclasses.dataclass
class Response:
    """What a handler answers; a handler may also return a dict or list, sent as JSON with status 200."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of_json(cls, value: Any, status: int = 200) -> "Response":
        return cls(status, "application/json; charset=UTF-8", json.dumps(value, allow_nan=False).encode())


Handler = Callable[[Request], "Response | dict | list"]
# (method, path pattern) -> handler, in registration order (the first matching pattern wins).
_ROUTES: dict[tuple[str, str], tuple[re.Pattern[str], Handler]] = {}
_loaded = False


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Registers a handler for ``method`` and a path regex (named groups become ``request.match``)."""

    def register(fn: Handler) -> Handler:
        # Keyed by (method, pattern): a module re-imported after a failed import replaces its own routes.
        _ROUTES[(method, pattern)] = (re.compile(pattern + r"\Z"), fn)
        return fn

    return register


def load_routes() -> None:
    """Imports every module in :data:`API_MODULES` (each registers its endpoints).

    Raises:
      EngineStartupError: a listed module is missing or fails to import (the message names it).
    """
    global _loaded
    if _loaded:
        return
    for name in API_MODULES:
        module = f"{_PACKAGE}.{name}"
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise EngineStartupError(
                f"API module {module!r} (listed in {__name__}.API_MODULES) failed to import: "
                f"{type(exc).__name__}: {exc}", name=module) from exc
    _loaded = True


def resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler for ``method`` on ``path`` and the named groups of its pattern.

    Raises:
      InvalidArgument: a route matches the path but not the method.
      NotFound: no route matches the path.
    """
    allowed = False
    for (route_method, _), (pattern, fn) in _ROUTES.items():
        m = pattern.match(path)
        if not m:
            continue
        allowed = True
        if route_method == method:
            return fn, m.groupdict()
    if allowed:
        raise InvalidArgument(f"Method {method} is not allowed on {path}.")
    raise NotFound(f"The local Earth Engine has no endpoint {method} {path}.")
