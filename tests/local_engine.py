"""The one helper that starts a local Earth Engine for a test and points the ``ee`` client at it.

    from local_engine import running_engine

    @pytest.fixture()
    def engine(tmp_path):
        with running_engine(tmp_path / "catalog", bucket_dir=str(tmp_path / "buckets")) as server:
            yield server

(tests/ is on ``sys.path`` because it holds the root conftest.py.) The session-wide demo-catalog engine is the
``local_server`` / ``ee_local`` fixture pair in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["running_engine", "connect", "auth_headers", "write_band_image"]


def write_band_image(root: str | os.PathLike[str], asset_id: str, values: Any, *, band: str, crs: str,
                     origin: tuple[float, float], pixel: float = 10.0) -> None:
    """Writes a one-band north-up GeoTIFF (``values`` (H, W), its own dtype) next to the catalog entry ``asset_id``
    (``FOLDER/NAME``, the folder created if missing) and registers it as that image with band ``band``."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from aef_ee.local.catalog import Catalog

    values = np.asarray(values)
    folder, name = asset_id.rsplit("/", 1)
    catalog = Catalog(Path(root))
    if not (Path(root) / folder).is_dir():
        catalog.create_container(folder, "FOLDER")
    with rasterio.open(Path(root) / folder / f"{name}.tif", "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype=values.dtype.name, crs=crs,
                       transform=from_origin(*origin, pixel, pixel)) as ds:
        ds.write(values, 1)
    catalog.write_image(asset_id, [{"id": band, "path": f"{name}.tif", "band": 1, "data_type": values.dtype.name}],
                        {})


def connect(server: Any) -> None:
    """Initialises the ``ee`` client against a running local engine (with its token)."""
    from aef_ee.backend import initialize

    initialize("local", url=server.url, token=server.token)


def auth_headers(server: Any, **extra: str) -> dict[str, str]:
    """Headers of a raw HTTP request to ``server``: its token (``Authorization: Bearer``) and ``extra``."""
    return {"Authorization": f"Bearer {server.token}", **extra}


@contextlib.contextmanager
def running_engine(catalog_root: str | os.PathLike[str], *, connect_client: bool = True,
                   server_options: dict[str, Any] | None = None, **settings: Any) -> Iterator[Any]:
    """A :class:`~aef_ee.local.server.LocalServer` on ``catalog_root`` (created if missing), stopped on exit.

    Args:
      catalog_root: the catalog directory.
      connect_client: also initialise ``ee`` against it (default).
      server_options: other LocalServer arguments (``limits``, ``allowed_origins``, ``token``).
      settings: engine settings (``drive_dir``, ``bucket_dir``, ...).
    """
    from aef_ee.local.server import LocalServer

    server = LocalServer(Path(catalog_root), settings=settings, **(server_options or {})).start()
    try:
        if connect_client:
            connect(server)
        yield server
    finally:
        server.stop()
