"""Shared fixtures of the algorithm tests: a local engine on an empty catalog, and ``ee`` initialised against it.

Modules that need data define their own ``server`` fixture, which overrides this one.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from aef_ee.local.catalog import Catalog
    from aef_ee.local.server import LocalServer

    root = tmp_path_factory.mktemp("empty-catalog")
    Catalog(root)
    srv = LocalServer(root).start()
    yield srv
    srv.stop()


@pytest.fixture()
def ee(server):
    import ee as ee_module

    from aef_ee.backend import initialize

    initialize("local", url=server.url)
    return ee_module
