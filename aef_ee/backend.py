"""Connecting the ``ee`` client to Earth Engine or to the embedded local Earth Engine."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from pathlib import Path
from typing import Any

from aef_ee.errors import AefValueError, BackendError

__all__ = ["initialize", "local_server", "LOCAL_PROJECT"]

log = logging.getLogger(__name__)

LOCAL_PROJECT = "local"
_BACKENDS = ("local", "earthengine")
_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def initialize(
    backend: str | None = None,
    *,
    project: str | None = None,
    catalog: str | os.PathLike[str] | None = None,
    url: str | None = None,
    **settings: Any,
) -> Any:
    """Initialises the ``ee`` client against Earth Engine or the local engine.

    Args:
      backend: "local" (the embedded engine on a free 127.0.0.1 port) or "earthengine". Defaults to
        "earthengine" when ``project`` is given, else "local".
      project: the Google Cloud project for Earth Engine.
      catalog: the local engine's catalog directory (default: the demo catalog, built on first use).
      url: connect to an already running local engine (``aef-ee serve``) instead of starting one.
      settings: local engine settings (``drive_dir``, ``bucket_dir``, ...).

    Returns:
      The local server (with ``.url``) for the local backend, else None.

    Raises:
      AefValueError: an unknown backend name.
      BackendError: Earth Engine could not be initialised.
    """
    import ee
    import google.auth.credentials

    backend = backend or ("earthengine" if project else "local")
    if backend not in _BACKENDS:
        raise AefValueError(f"unknown backend {backend!r}; expected one of {list(_BACKENDS)}")
    if backend == "earthengine":
        try:
            ee.Initialize(project=project)
        except Exception as exc:  # ee raises bare Exceptions for auth problems; keep the cause
            raise BackendError(f"could not initialise Earth Engine for project {project!r}: {exc}") from exc
        return None

    server = None
    if url is None:
        server = local_server(catalog, **settings)
        url = server.url
    ee.Initialize(credentials=google.auth.credentials.AnonymousCredentials(), url=url, project=LOCAL_PROJECT)
    # The client retries 5xx errors with back-off by default; the local engine's errors are final.
    ee.data.setMaxRetries(0) if hasattr(ee.data, "setMaxRetries") else None
    return server


def local_server(catalog: str | os.PathLike[str] | None = None, **settings: Any) -> Any:
    """The process's local engine for ``catalog``, started on first use (one per catalog; others keep running)."""
    from aef_ee.local.server import LocalServer

    with _lock:
        if catalog is None:
            from aef_ee.demo.catalog import build_demo_catalog, default_catalog_dir

            catalog = build_demo_catalog(default_catalog_dir())
        key = Path(catalog).resolve()
        server = _servers.get(key)
        if server is not None:
            server.settings.update(settings)
            return server
        server = LocalServer(key, settings=settings).start()
        _servers[key] = server
        atexit.register(server.stop)
        return server
