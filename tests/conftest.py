"""Shared fixtures: the demo catalog (built once per session) and an ``ee`` client initialised against the local
Earth Engine serving it over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def state_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private $AEF_EE_HOME for the session: the tests never read or write the user's state folder."""
    from aef_ee.paths import HOME_ENV

    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("aef-ee-home")
        patch.setenv(HOME_ENV, str(home))
        yield home


@pytest.fixture(scope="session")
def demo_catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalog built from the repository's data/ (reused from AEF_EE_TEST_CATALOG when set)."""
    from aef_ee.demo.catalog import build_demo_catalog

    cached = os.environ.get("AEF_EE_TEST_CATALOG")
    root = Path(cached) if cached else tmp_path_factory.mktemp("demo-catalog")
    return Path(build_demo_catalog(root, progress=False))


@pytest.fixture(scope="session")
def local_server(demo_catalog_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The local engine serving the demo catalog; Drive and bucket exports go to temporary folders."""
    from aef_ee.backend import local_server as start

    outputs = tmp_path_factory.mktemp("engine-outputs")
    return start(demo_catalog_dir, drive_dir=str(outputs / "drive"), bucket_dir=str(outputs / "buckets"))


@pytest.fixture()
def ee_local(local_server):
    """The ``ee`` module, initialised against the local engine."""
    import ee
    from local_engine import connect

    connect(local_server)
    return ee
