"""Connecting the ``ee`` client to Earth Engine or to the embedded local Earth Engine.

:func:`initialize` is the entry point; there is no default backend, so a notebook never talks to a local engine it
did not ask for. The local engine keeps its state (catalog, buckets, Drive) in one folder,
:func:`aef_ee.paths.state_dir`, unless told otherwise, so what one process registers or exports the next one finds.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aef_ee.errors import AefValueError, BackendError

__all__ = ["initialize", "local_server", "local_settings", "require_extra", "LOCAL_PROJECT", "EXTRA_MODULES"]

log = logging.getLogger(__name__)

LOCAL_PROJECT = "local"
_BACKENDS = ("local", "earthengine")
# The modules each optional extra of pyproject.toml provides that aef-ee imports first (a sample, not the list).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "local": ("rasterio", "pyproj", "shapely", "PIL"),
    "maps": ("geemap", "ipywidgets"),
    "training": ("jax", "flax", "optax", "orbax.checkpoint", "grain"),
}
_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def require_extra(extra: str, purpose: str, modules: Sequence[str] | None = None) -> None:
    """Imports the modules of an optional extra, or says which ``pip install`` provides them.

    Args:
      extra: the extra's name in pyproject.toml ("local", "maps", "training").
      purpose: what needs them, for the message ("the local Earth Engine").
      modules: the modules to import (default: :data:`EXTRA_MODULES` of ``extra``).

    Raises:
      BackendError: a module is missing; the message names ``pip install "aef-ee[<extra>]"``. Its cause is the
        ImportError.
    """
    for name in modules if modules is not None else EXTRA_MODULES[extra]:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            command = f'pip install "aef-ee[{extra}]"'
            where = f'run `!{command}` in a cell and restart the runtime' if _in_colab() else f"run `{command}`"
            raise BackendError(f"{purpose} needs {name!r}, which is not installed ({exc}); {where}") from exc


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def _no_backend_message() -> str:
    message = ("aef_ee.initialize() needs to know which Earth Engine to use: "
               'initialize(project="my-project") for Google Earth Engine with your Cloud project, or '
               'initialize(backend="local") for the embedded offline engine on the demo catalog '
               '(needs pip install "aef-ee[local]").')
    if _in_colab():
        message += (" In Colab: authenticate with ee.Authenticate() (or google.colab.auth.authenticate_user()) "
                    'and call aef_ee.initialize(project="<your Cloud project with Earth Engine enabled>").')
    return message


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
        "earthengine" when ``project`` is given; with neither, nothing is started and an error explains the choice.
      project: the Google Cloud project for Earth Engine.
      catalog: the local engine's catalog directory (default: the demo catalog in the state folder, built on first
        use; see :func:`aef_ee.demo.catalog.default_catalog_dir`).
      url: connect to an already running local engine (``aef-ee serve``) instead of starting one.
      settings: local engine settings (``drive_dir``, ``bucket_dir``, ...; defaults: :func:`local_settings`).

    Returns:
      The local server (with ``.url``) for the local backend, else None.

    Raises:
      BackendError: neither ``backend`` nor ``project`` given; an extra the backend needs is not installed; Earth
        Engine could not be initialised.
      AefValueError: an unknown backend name.
    """
    if backend is None and project is None:
        raise BackendError(_no_backend_message())
    backend = backend or "earthengine"
    if backend not in _BACKENDS:
        raise AefValueError(f"unknown backend {backend!r}; expected one of {list(_BACKENDS)}")
    import ee
    import google.auth.credentials

    if backend == "earthengine":
        try:
            ee.Initialize(project=project)
        except Exception as exc:  # ee raises bare Exceptions for auth problems; keep the cause
            hint = " (in Colab, run ee.Authenticate() first)" if _in_colab() else " (run `earthengine authenticate`)"
            raise BackendError(f"could not initialise Earth Engine for project {project!r}: {exc}{hint}") from exc
        return None

    server = None
    if url is None:
        server = local_server(catalog, **settings)
        url = server.url
    ee.Initialize(credentials=google.auth.credentials.AnonymousCredentials(), url=url, project=LOCAL_PROJECT)
    # The client retries 5xx errors with back-off by default; the local engine's errors are final.
    if hasattr(ee.data, "setMaxRetries"):
        ee.data.setMaxRetries(0)
    return server


def local_settings(**settings: Any) -> dict[str, Any]:
    """The local engine's settings with the state folder's defaults filled in.

    ``bucket_dir`` (local Cloud Storage) defaults to :func:`aef_ee.paths.bucket_dir` and ``drive_dir`` (local Google
    Drive) to :func:`aef_ee.paths.drive_dir`, i.e. ``buckets/`` and ``drive/`` in ``$AEF_EE_HOME``. None values are
    treated as not given.
    """
    from aef_ee import paths

    filled = {k: v for k, v in settings.items() if v is not None}
    filled.setdefault("bucket_dir", str(paths.bucket_dir()))
    filled.setdefault("drive_dir", str(paths.drive_dir()))
    return filled


def local_server(catalog: str | os.PathLike[str] | None = None, **settings: Any) -> Any:
    """The process's local engine for ``catalog``, started on first use (one per catalog; others keep running).

    A new engine gets :func:`local_settings`; an engine already running for ``catalog`` keeps its settings, updated
    with those given here.

    Raises:
      BackendError: the ``local`` extra is not installed.
    """
    require_extra("local", 'the local Earth Engine (initialize(backend="local"))')
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
        server = LocalServer(key, settings=local_settings(**settings)).start()
        _servers[key] = server
        atexit.register(server.stop)
        return server
