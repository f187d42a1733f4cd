"""Running the API with uvicorn: in the foreground (``aef-ee api``) or in a background thread (tests, benchmarks,
notebooks)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from aef_ee.api.settings import ApiSettings
from aef_ee.errors import AefError
from aef_ee.servers import settle_heap

__all__ = ["ApiServer", "serve", "start_url"]

log = logging.getLogger(__name__)
# How long a background server may take to start listening.
START_TIMEOUT_S = 30.0
# Pending connections the socket queues (uvicorn's own default).
LISTEN_BACKLOG = 2048


def start_url(settings: ApiSettings, port: int) -> str:
    """The URL to open, with the token (what the start-up line prints, as Jupyter does)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    query = f"?token={settings.token}" if settings.auth else ""
    return f"http://{host}:{port}/docs{query}"


def _bind(settings: ApiSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
        # Listening before uvicorn starts: a client that reads the start-up line and connects at once is queued,
        # not refused.
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise AefError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from exc
    return sock


def _server(app: Any, settings: ApiSettings) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            proxy_headers=False, server_header=False, timeout_keep_alive=30)
    return uvicorn.Server(config)


def serve(settings: ApiSettings, app: Any = None) -> None:
    """Serves the API in the foreground until interrupted; prints the URL with the token first."""
    from aef_ee.api.app import create_app

    app = app if app is not None else create_app(settings)
    settle_heap()  # this process is the server (aef-ee api): start-up objects out of the collector's way
    sock = _bind(settings)
    port = sock.getsockname()[1]
    print(f"aef-ee embeddings API on {settings.host}:{port}; open {start_url(settings, port)}", flush=True)
    if settings.auth:
        print(f"token: {settings.token}  (send 'Authorization: Bearer <token>' or '?token=<token>')", flush=True)
    _server(app, settings).run(sockets=[sock])


class ApiServer:
    """The API in a daemon thread on its own socket (port 0: a free one); ``with ApiServer(settings) as s:``.

    Attributes:
      url: ``http://127.0.0.1:<port>`` once started.
      app: the ASGI application served.
    """

    def __init__(self, settings: ApiSettings, app: Any = None) -> None:
        from aef_ee.api.app import create_app

        self.settings = settings
        self.app = app if app is not None else create_app(settings)
        self._server = _server(self.app, settings)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> ApiServer:
        self._socket = _bind(self.settings)
        port = self._socket.getsockname()[1]
        host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="aef-ee-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AefError(f"the API did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
