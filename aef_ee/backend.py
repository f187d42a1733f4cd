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

__all__ = ["initialize", "local_server", "local_settings", "require_extra", "LocalTransport", "LOCAL_PROJECT",
           "LOCAL_POOL_SIZE", "EXTRA_MODULES"]

log = logging.getLogger(__name__)

LOCAL_PROJECT = "local"
_BACKENDS = ("local", "earthengine")
# The modules each optional extra of pyproject.toml provides that aef-ee imports first (a sample, not the list).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "local": ("rasterio", "pyproj", "shapely", "PIL"),
    "maps": ("geemap", "ipywidgets"),
    "training": ("jax", "flax", "optax", "orbax.checkpoint", "grain"),
    "beam": ("apache_beam",),
}
# Connections the local transport keeps open to the engine. requests' default pool holds 10, and a connection
# returned to a full pool is discarded with urllib3's "Connection pool is full" warning; an interactive export runs
# max_workers computePixels requests (default 8; Earth Engine allows 40 per user) plus one listing thread per source,
# and a map fetches its tiles in parallel besides, so the pool holds more than any of them uses.
LOCAL_POOL_SIZE = 64
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
    token: str | None = None,
    **settings: Any,
) -> Any:
    """Initialises the ``ee`` client against Earth Engine or the local engine.

    Args:
      backend: "local" (the embedded engine on a free 127.0.0.1 port) or "earthengine". Defaults to
        "earthengine" when ``project`` is given; with neither, nothing is started and an error explains the choice.
      project: the Google Cloud project for Earth Engine.
      catalog: the local engine's catalog directory (default: the demo catalog in the state folder, built on first
        use; see :func:`aef_ee.demo.catalog.default_catalog_dir`).
      url: connect to an already running local engine (``aef-ee serve``) instead of starting one: the URL it prints,
        ``http://127.0.0.1:8765/?token=TOKEN``.
      token: the running engine's token, when ``url`` does not carry it. Without either, the token of a server
        this process runs at ``url``, else ``$AEF_EE_TOKEN``.
      settings: local engine settings (``drive_dir``, ``bucket_dir``, ...; defaults: :func:`local_settings`).

    Returns:
      The local server (with ``.url``) for the local backend, else None.

    Raises:
      BackendError: neither ``backend`` nor ``project`` given; an extra the backend needs is not installed; Earth
        Engine could not be initialised; no token for ``url``.
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
        url, token = server.url, server.token
    else:
        url, token = _url_and_token(url, token)
    # The token travels as the client's API key: the client appends ?key=TOKEN to every call and to the tile and
    # thumbnail URLs it builds (see aef_ee.local.security).
    ee.Initialize(credentials=google.auth.credentials.AnonymousCredentials(), url=url, cloud_api_key=token,
                  project=LOCAL_PROJECT, http_transport=LocalTransport())
    # The client would retry every 5xx answer five times with back-off; the local engine's errors are final, and
    # its one transient answer, 429 (all compute workers busy), is retried by LocalTransport.
    if hasattr(ee.data, "setMaxRetries"):
        ee.data.setMaxRetries(0)
    return server


def _url_and_token(url: str, token: str | None) -> tuple[str, str]:
    from aef_ee.local.security import TOKEN_ENV, split_token, token_for

    base, in_url = split_token(url)
    found = token or in_url or token_for(base) or os.environ.get(TOKEN_ENV)
    if not found:
        raise BackendError(
            f"the local Earth Engine at {base} needs its token: pass the URL `aef-ee serve` printed "
            f"(initialize('local', url='{base}/?token=...')), token=..., or set ${TOKEN_ENV}.")
    return base, found


class LocalTransport:
    """The ee client's HTTP transport for the local engine (``ee.Initialize(http_transport=...)``): one
    ``requests`` session whose connection pool holds ``pool_size`` connections, and answers 429 ("Too many
    concurrent requests.": every compute worker busy) retried with exponential back-off and jitter. Nothing else is
    retried: the engine's other errors are final.

    Args:
      attempts: tries of one request before its 429 is returned to the client.
      first_delay_s, max_delay_s: the back-off's first and largest wait (it doubles between them).
      timeout_s: a socket timeout per request (None: none; the engine bounds computations itself).
      pool_size: connections kept open to the engine, at least the requests made in parallel (default
        :data:`LOCAL_POOL_SIZE`); more are still made, but closed after use with a warning from urllib3.

    Raises:
      AefValueError: ``pool_size`` < 1.
    """

    def __init__(self, *, attempts: int = 20, first_delay_s: float = 0.05, max_delay_s: float = 2.0,
                 timeout_s: float | None = None, pool_size: int = LOCAL_POOL_SIZE) -> None:
        import requests
        import requests.adapters

        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise AefValueError(f"pool_size must be an int >= 1; got pool_size={pool_size!r}")
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.timeout_s = timeout_s
        self.retried = 0  # 429 answers retried so far

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None,
                redirections: Any = None, connection_type: Any = None) -> tuple[Any, bytes]:
        """httplib2's ``Http.request``, which googleapiclient calls: returns (httplib2.Response, content)."""
        import random
        import time

        import httplib2
        import requests

        delay = self.first_delay_s
        for attempt in range(self.attempts):
            try:
                response = self._session.request(method, uri, data=body, headers=headers, timeout=self.timeout_s)
            except requests.exceptions.ConnectionError as exc:  # googleapiclient knows the builtin kinds
                raise ConnectionError(exc) from exc
            except requests.exceptions.Timeout as exc:
                raise TimeoutError(exc) from exc
            if response.status_code != 429 or attempt == self.attempts - 1:
                break
            self.retried += 1
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(2 * delay, self.max_delay_s)
        info = dict(response.headers)
        info["status"] = response.status_code
        return httplib2.Response(info), response.content


def local_settings(**settings: Any) -> dict[str, Any]:
    """The local engine's settings with the state folder's defaults filled in.

    ``bucket_dir`` (local Cloud Storage) defaults to :func:`aef_ee.paths.bucket_dir` and ``drive_dir`` (local Google
    Drive) to :func:`aef_ee.paths.drive_dir`, i.e. ``buckets/`` and ``drive/`` in ``$AEF_EE_HOME``. ``image_dirs``
    (the folders whose GeoTIFFs requests may name, besides the catalog and the bucket folder; see
    :mod:`aef_ee.local.ingest`) gets the state folder and the Drive folder added, where aef-ee itself writes the
    files it registers. None values are treated as not given.
    """
    from aef_ee import paths

    filled = {k: v for k, v in settings.items() if v is not None}
    filled.setdefault("bucket_dir", str(paths.bucket_dir()))
    filled.setdefault("drive_dir", str(paths.drive_dir()))
    given = filled.get("image_dirs") or []
    given = [given] if isinstance(given, (str, os.PathLike)) else list(given)
    filled["image_dirs"] = [str(d) for d in given] + [str(paths.state_dir()), str(filled["drive_dir"])]
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
