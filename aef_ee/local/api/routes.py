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

__all__ = ["API_MODULES", "Request", "Response", "Handler", "route", "load_routes", "resolve", "runs_on_workers",
           "parse_duration"]

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
        except RecursionError:
            raise InvalidArgument("Invalid JSON payload received: nested too deeply.") from None
        except (ValueError, UnicodeDecodeError) as exc:  # a number of more than 4300 digits, bytes that are not UTF-8
            raise InvalidArgument(f"Invalid JSON payload received: {str(exc)[:200]}") from None
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
# Handlers that compute (evaluate expressions, render pixels): the server runs them on its bounded worker pool.
_ON_WORKERS: set[Handler] = set()
_loaded = False


def route(method: str, pattern: str, *, compute: bool = False) -> Callable[[Handler], Handler]:
    """Registers a handler for ``method`` and a path regex (named groups become ``request.match``).

    Args:
      compute: the handler evaluates an expression or renders pixels, so the server runs it on its bounded pool
        of compute workers (beyond it: 429). Others (metadata, operations, long polls) run on the connection's
        thread.
    """

    def register(fn: Handler) -> Handler:
        # Keyed by (method, pattern): a module re-imported after a failed import replaces its own routes.
        _ROUTES[(method, pattern)] = (re.compile(pattern + r"\Z"), fn)
        if compute:
            _ON_WORKERS.add(fn)
        return fn

    return register


def runs_on_workers(handler: Handler) -> bool:
    """Whether ``handler`` was registered with ``compute=True``."""
    return handler in _ON_WORKERS


def parse_duration(value: Any, field: str, *, default_s: float, max_s: float) -> float:
    """A protobuf Duration (``"60s"``, ``"1.5s"``) or a number of seconds, clamped to [0, ``max_s``].

    Raises:
      InvalidArgument: anything else (``"abc"``, NaN, a list), naming ``field``.
    """
    if value is None or value == "":
        return default_s
    text = str(value).strip()
    try:
        seconds = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        raise InvalidArgument(f"Invalid value for {field}: {text[:40]!r} is not a duration such as '60s'.") from None
    if seconds != seconds:
        raise InvalidArgument(f"Invalid value for {field}: {text[:40]!r} is not a duration such as '60s'.")
    return min(max(seconds, 0.0), max_s)


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
