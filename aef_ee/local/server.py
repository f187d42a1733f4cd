"""The loopback HTTP server that speaks Earth Engine's REST API (v1) to the unmodified earthengine-api client.

Routes are registered by the modules of :mod:`aef_ee.local.api` (see :mod:`aef_ee.local.api.routes`); this module
owns the HTTP plumbing and the one place where errors become Earth Engine's JSON error body
(``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``): :func:`error_body`.

A request goes: read the request line and headers (within the read deadline) -> Host, Origin and token checks
(:mod:`aef_ee.local.security`) -> the body, streamed within the size limit (:mod:`aef_ee.local.http_io`) -> the
route, on the bounded compute pool for routes that compute (:mod:`aef_ee.local.workers`; beyond it: 429), under a
per-request budget (:mod:`aef_ee.local.limits`) -> the answer. Connections are served one thread each, at most
:attr:`Limits.max_connections` at once; more wait in the listen backlog.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aef_ee.local import http_io
from aef_ee.local.algorithms.registry import load_all as load_algorithms
from aef_ee.local.api.routes import Request, Response, load_routes, resolve, runs_on_workers
from aef_ee.local.catalog import Catalog
from aef_ee.local.context import EngineContext
from aef_ee.local.errors import EngineError, InvalidArgument, RequestTimeout, UnsafeBinding
from aef_ee.local.ingest import clean_gcs_cache
from aef_ee.local.limits import MAX_REQUEST_BYTES, Limits, request_budget
from aef_ee.local.security import (
    TOKEN_ENV,
    SecurityPolicy,
    is_loopback,
    register_token,
    unregister_token,
)
from aef_ee.local.workers import ComputePool
from aef_ee.servers import settle_heap

__all__ = ["LocalServer", "Limits", "serve", "error_body", "connection_message", "MAX_REQUEST_BYTES"]

log = logging.getLogger(__name__)

# A connection thread waits this long past a request's compute budget before answering "Computation timed out."
# itself: the computation stops at its next budget checkpoint, which a long numpy call can delay.
_RESULT_GRACE_S = 5.0
# After refusing a request whose body was not read, discard up to this much of it (for at most this long) before
# closing: closing a socket with unread input sends a reset, which can destroy the answer before the client reads it.
_DRAIN_BYTES = 16 * 2**20
_DRAIN_S = 2.0
# Most query strings have a handful of parameters; parse_qs would otherwise build any number.
_MAX_QUERY_FIELDS = 100
_STATUS_OF_HTTP_ERROR = {400: "INVALID_ARGUMENT", 405: "INVALID_ARGUMENT", 408: "DEADLINE_EXCEEDED",
                         413: "INVALID_ARGUMENT", 414: "INVALID_ARGUMENT", 431: "INVALID_ARGUMENT"}


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


def _as_response(result: Response | dict | list) -> Response:
    return result if isinstance(result, Response) else Response.of_json(result)


class _Handler(BaseHTTPRequestHandler):
    server_version = "aef-ee-local/0.2"
    protocol_version = "HTTP/1.1"

    @property
    def local(self) -> "LocalServer":
        return self.server.local  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        # Replace the base class's socket file with one that gives every read only the time left to the deadline.
        self.rfile.close()
        self._reader = http_io.DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, 65536)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small JSON answers: no Nagle wait

    def handle_one_request(self) -> None:
        # An idle keep-alive connection may wait this long for its next request line ...
        self._reader.deadline = time.monotonic() + self.local.limits.idle_timeout_s
        super().handle_one_request()

    def parse_request(self) -> bool:
        # ... and once a request line has come, the headers and body must follow within the read timeout.
        self._reader.deadline = time.monotonic() + self.local.limits.read_timeout_s
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.client_address[0], *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long, an unknown method) in Earth
        Engine's JSON shape. An unknown method is 405, not http.server's 501: the client retries 5xx answers."""
        if code == 501:
            code, message = 405, f"Method {getattr(self, 'command', '')!r:.40} is not allowed."
        # http.server would answer a line it could not parse as HTTP/0.9 (a bare body); this server speaks 1.1.
        self.request_version = self.protocol_version
        status = _STATUS_OF_HTTP_ERROR.get(code, "INVALID_ARGUMENT")
        text = message or self.responses.get(code, ("Bad request",))[0]
        self._send(Response.of_json({"error": {"code": code, "message": text, "status": status}}, code),
                   None, close=True)

    # --- requests ------------------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        local = self.local
        origin = None
        unread_body = http_io.has_body(self.headers)
        try:
            parsed = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parsed.path)
            try:
                query = urllib.parse.parse_qs(parsed.query, max_num_fields=_MAX_QUERY_FIELDS)
            except ValueError as exc:
                raise InvalidArgument(f"Invalid query string: {exc}") from None
            security = local.security
            security.check_host(self.headers)
            origin = security.allowed_origin(self.headers)
            security.check_token(method, path, query, self.headers)
            security.check_content_type(self.headers, unread_body)
            body = http_io.read_body(self.rfile, self.headers, limit=local.limits.max_request_bytes)
            unread_body = False
            response = self._route(method, path, query, body, local)
        except BaseException as exc:  # every failure becomes an Earth Engine error body; the server keeps serving
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if not isinstance(exc, EngineError):
                log.error("unexpected error on %s %s\n%s", method, self.path[:200], traceback.format_exc())
            if isinstance(exc, RequestTimeout):
                unread_body = True  # where the client is in its body is unknown: close
            code, payload = error_body(exc)
            response = Response.of_json(payload, code)
        self._send(response, origin, close=unread_body)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               local: "LocalServer") -> Response:
        handler, match = resolve(method, path)
        request = Request(method, path, query, body, match, local)
        if runs_on_workers(handler):
            return local.compute(lambda: _as_response(handler(request)))
        with request_budget(local.limits):
            return _as_response(handler(request))

    def _send(self, response: Response, origin: str | None, *, close: bool) -> None:
        self.connection.settimeout(self.local.limits.write_timeout_s)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in {**self.local.security.cors_headers(origin), **response.headers}.items():
            self.send_header(key, value)
        if response.status == 429:
            self.send_header("Retry-After", "1")
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        if close:
            self._drain()

    def _drain(self) -> None:
        """Half-closes the connection and discards what the client still sends, so that it reads the answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self._reader.deadline = time.monotonic() + _DRAIN_S
            left = _DRAIN_BYTES
            while left > 0 and (chunk := self.rfile.read1(min(left, 65536))):
                left -= len(chunk)
        except (OSError, ValueError):  # the client went away or stopped sending: nothing left to protect
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:
        """CORS preflight: answered only for origins the user allowed (no token: browsers send none here)."""
        try:
            self.local.security.check_host(self.headers)
            response = Response(204, "text/plain", b"", self.local.security.preflight_headers(self.headers))
        except EngineError as exc:
            code, payload = error_body(exc)
            response = Response.of_json(payload, code)
        self._send(response, None, close=http_io.has_body(self.headers))


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog: a burst of connections waits in the kernel (capped by net.core.somaxconn) instead of
    # being reset.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], max_connections: int) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self.closing = threading.Event()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Beyond max_connections, accepting pauses here; new connections wait in the listen backlog.
        while not self._connection_slots.acquire(timeout=0.25):
            if self.closing.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connection_slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):  # a client that went away or stalled
            log.debug("connection from %s ended: %r", client_address, exc)
        else:
            log.error("unexpected error on a connection from %s", client_address, exc_info=True)


class LocalServer:
    """The local Earth Engine server.

    Args:
      catalog_dir: the catalog directory (see :mod:`aef_ee.local.catalog`).
      host: the address to bind; 127.0.0.1 unless told otherwise.
      port: the port; 0 picks a free one.
      settings: engine settings (``drive_dir``, ``bucket_dir``, ``gcs_endpoint``, ``image_dirs``, ...).
      token: the token every request must carry (default: a fresh random one; see :mod:`aef_ee.local.security`).
      allowed_origins: browser origins allowed to call the API and read its answers (``http://localhost:3000``).
      allow_remote: allow a ``host`` other machines can reach.
      limits: budgets, sizes, timeouts and the worker pool (default :class:`Limits`).

    Raises:
      UnsafeBinding: ``host`` is not loopback and ``allow_remote`` is false.
      EngineStartupError: an API module or algorithm family is missing or broken, or an algorithm alias names
        an algorithm no family registers.
    """

    def __init__(
        self,
        catalog_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: Mapping[str, Any] | None = None,
        token: str | None = None,
        allowed_origins: Iterable[str] = (),
        allow_remote: bool = False,
        limits: Limits | None = None,
    ) -> None:
        if not is_loopback(host) and not allow_remote:  # before anything listens on it
            SecurityPolicy.for_server(host, port, allow_remote=False)
        # Both tables are loaded and checked now (every listed module imports, every alias names a registered
        # algorithm), so a missing or broken module stops the server instead of answering 404/400 later.
        load_routes()
        load_algorithms()
        self.catalog = Catalog(catalog_dir)  # finishes or undoes writes a killed server left half-done
        clean_gcs_cache(self.catalog.root)
        self.settings: dict[str, Any] = dict(settings or {})
        self.limits = limits or Limits()
        self.state: dict[str, Any] = {}  # per-server state owned by API modules (maps, operations)
        self.state_lock = threading.Lock()
        self._httpd = _ThreadingServer((host, port), self.limits.max_connections)
        self._httpd.local = self  # type: ignore[attr-defined]
        try:
            self.security = SecurityPolicy.for_server(self.host, self.port, token=token,
                                                      allowed_origins=allowed_origins, allow_remote=allow_remote)
        except (UnsafeBinding, ValueError):
            self._httpd.server_close()
            raise
        self.workers = ComputePool(self.limits.workers, self.limits.queue)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, without the token (``http://127.0.0.1:PORT``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str:
        """The token every request must carry."""
        return self.security.token

    @property
    def url_with_token(self) -> str:
        """What ``aef_ee.initialize("local", url=...)`` takes in another process (``http://...:PORT/?token=T``)."""
        return f"{self.url}/?token={self.token}"

    def context(self) -> EngineContext:
        """The evaluation context of a request to this server: its catalog and settings (``server`` included)."""
        return EngineContext(catalog=self.catalog, settings={**self.settings, "server": self})

    def compute(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on a compute worker under a fresh request budget; waits for it.

        Raises:
          TooManyRequests: every worker is busy and the queue is full (429).
          ComputationTimedOut: no result within the compute budget (and a grace period).
        """
        def budgeted() -> Any:
            with request_budget(self.limits):
                return fn()

        return self.workers.call(budgeted, timeout_s=self.limits.compute_timeout_s + _RESULT_GRACE_S)

    def start(self) -> "LocalServer":
        """Serves in a daemon thread and returns at once."""
        register_token(self.url, self.token)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="aef-ee-local", daemon=True)
        self._thread.start()
        log.info("local Earth Engine serving %s at %s", self.catalog.root, self.url)
        return self

    def serve_forever(self) -> None:
        register_token(self.url, self.token)
        self._httpd.serve_forever()

    def stop(self) -> None:
        unregister_token(self.url)
        self._httpd.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self.workers.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def connection_message(server: LocalServer) -> str:
    """What ``aef-ee serve`` prints: the URL and the two ways to connect, both carrying the token."""
    return (
        f"Local Earth Engine at {server.url} (catalog {server.catalog.root}).\n"
        "The token below lets whoever has it read and change the catalog; keep it as you would a password.\n"
        "Connect with aef-ee:\n"
        f"  aef_ee.initialize('local', url={server.url_with_token!r})\n"
        "or with the ee client alone:\n"
        f"  ee.Initialize(credentials=google.auth.credentials.AnonymousCredentials(), url={server.url!r}, "
        f"cloud_api_key={server.token!r}, project='local')"
    )


def remote_warning(server: LocalServer) -> str:
    """The warning printed when the server listens on an address other machines can reach."""
    return (
        f"WARNING: the local Earth Engine listens on {server.host}, which other machines can reach. Its token is "
        "the only protection of the catalog and of every file the engine may read: anyone who sees it (in a URL, a "
        "notebook, a log, over plain HTTP on the network) can use them. Prefer 127.0.0.1 and an SSH tunnel.")


def serve(catalog_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          allowed_origins: Iterable[str] = (), allow_remote: bool = False, limits: Limits | None = None,
          **settings: Any) -> None:
    """Serves in the foreground until interrupted (what ``aef-ee serve`` runs).

    The token is ``token``, else ``$AEF_EE_TOKEN``, else a fresh random one.
    """
    server = LocalServer(catalog_dir, host=host, port=port, settings=settings,
                         token=token or os.environ.get(TOKEN_ENV) or None, allowed_origins=allowed_origins,
                         allow_remote=allow_remote, limits=limits)
    print(connection_message(server), flush=True)
    if not is_loopback(host):
        print(remote_warning(server), file=sys.stderr, flush=True)
    settle_heap()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
