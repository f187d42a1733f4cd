"""The loopback HTTP server that speaks Earth Engine's REST API (v1) to the unmodified earthengine-api client.

Routes are registered by the modules of :mod:`aef_ee.local.api` (see :mod:`aef_ee.local.api.routes`); this module
owns the HTTP plumbing and the one place where errors become Earth Engine's JSON error body
(``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``): :func:`error_body`.
"""

from __future__ import annotations

import logging
import threading
import traceback
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aef_ee.local.algorithms.registry import load_all as load_algorithms
from aef_ee.local.api.routes import Request, Response, load_routes, resolve
from aef_ee.local.catalog import Catalog
from aef_ee.local.context import EngineContext
from aef_ee.local.errors import EngineError, InvalidArgument

__all__ = ["LocalServer", "serve", "error_body", "MAX_REQUEST_BYTES"]

log = logging.getLogger(__name__)

# Request bodies larger than this are refused before parsing (Earth Engine's own request limit is 10 MB).
MAX_REQUEST_BYTES = 64 * 2**20


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Earth Engine's error JSON for an exception; the one place where errors are mapped."""
    if isinstance(exc, EngineError):
        code, status, message = exc.http_status, exc.status, str(exc)
    elif isinstance(exc, MemoryError):
        code, status, message = 400, "RESOURCE_EXHAUSTED", "User memory limit exceeded."
    else:
        code, status = 500, "INTERNAL"
        message = f"Internal error in the local Earth Engine: {type(exc).__name__}: {exc}"
    return code, {"error": {"code": code, "message": message, "status": status}}


class _Handler(BaseHTTPRequestHandler):
    server_version = "aef-ee-local/0.1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.client_address[0], *args)

    def _dispatch(self, method: str) -> None:
        local: LocalServer = self.server.local  # type: ignore[attr-defined]
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        query = urllib.parse.parse_qs(parsed.query)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                raise InvalidArgument(f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.")
            body = self.rfile.read(length) if length else b""
            response = self._route(method, path, query, body, local)
        except BaseException as exc:  # every failure becomes an Earth Engine error body; the server keeps serving
            if not isinstance(exc, EngineError):
                log.error("unexpected error on %s %s\n%s", method, path, traceback.format_exc())
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            code, payload = error_body(exc)
            response = Response.of_json(payload, code)
        self._send(response)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               local: "LocalServer") -> Response:
        handler, match = resolve(method, path)
        result = handler(Request(method, path, query, body, match, local))
        return result if isinstance(result, Response) else Response.of_json(result)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._send(Response(204, "text/plain", b"", {
            "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE",
            "Access-Control-Allow-Headers": "*",
        }))


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LocalServer:
    """The local Earth Engine server.

    Args:
      catalog_dir: the catalog directory (see :mod:`aef_ee.local.catalog`).
      host: the address to bind; 127.0.0.1 unless told otherwise.
      port: the port; 0 picks a free one.
      settings: engine settings (``drive_dir``, ``bucket_dir``, ``gcs_endpoint``, ...).
    """

    def __init__(
        self,
        catalog_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        # Both tables are loaded now, so a missing or broken module stops the server instead of answering 404/501.
        load_routes()
        load_algorithms()
        self.catalog = Catalog(catalog_dir)
        self.settings: dict[str, Any] = dict(settings or {})
        self.state: dict[str, Any] = {}  # per-server state owned by API modules (maps, operations)
        self.state_lock = threading.Lock()
        self._httpd = _ThreadingServer((host, port), _Handler)
        self._httpd.local = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def context(self) -> EngineContext:
        """The evaluation context of a request to this server: its catalog and settings (``server`` included)."""
        return EngineContext(catalog=self.catalog, settings={**self.settings, "server": self})

    def start(self) -> "LocalServer":
        """Serves in a daemon thread and returns at once."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="aef-ee-local", daemon=True)
        self._thread.start()
        log.info("local Earth Engine serving %s at %s", self.catalog.root, self.url)
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(catalog_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8765, **settings: Any) -> None:
    """Serves in the foreground until interrupted (what ``aef-ee serve`` runs)."""
    server = LocalServer(catalog_dir, host=host, port=port, settings=settings)
    print(f"Local Earth Engine at {server.url} (catalog {catalog_dir}). Connect with:\n"  # noqa: T201 - CLI output
          f"  ee.Initialize(credentials=google.auth.credentials.AnonymousCredentials(), url={server.url!r}, "
          f"project='local')")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
