"""Shared fixtures of the algorithm tests: a local engine on an empty catalog, and ``ee`` initialised against it.

Modules that need data define their own ``server`` fixture, which overrides this one.
"""

from __future__ import annotations

import pytest
from local_engine import connect, running_engine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("empty-catalog"), connect_client=False) as srv:
        yield srv


@pytest.fixture()
def ee(server):
    import ee as ee_module

    connect(server)
    return ee_module
