"""The server's route table imports every API module it lists and refuses to start when one is missing or broken."""

from __future__ import annotations

import sys

import pytest

from aef_ee.local.api import routes
from aef_ee.local.errors import EngineStartupError, InvalidArgument, NotFound


def test_every_listed_api_module_is_imported():
    routes.load_routes()
    for name in routes.API_MODULES:
        assert f"aef_ee.local.api.{name}" in sys.modules, name
    handler, match = routes.resolve("POST", "/v1/projects/p1/value:compute")
    assert handler.__module__ == "aef_ee.local.api.compute" and match == {"project": "p1"}
    owners = {fn.__module__.rsplit(".", 1)[-1] for _, fn in routes._ROUTES.values()}
    assert owners == set(routes.API_MODULES)


def test_resolve_refuses_unknown_paths_and_methods():
    routes.load_routes()
    with pytest.raises(NotFound, match="no endpoint GET /v1/nowhere"):
        routes.resolve("GET", "/v1/nowhere")
    with pytest.raises(InvalidArgument, match="Method DELETE is not allowed"):
        routes.resolve("DELETE", "/v1/projects/p1/value:compute")


def test_a_missing_api_module_stops_the_server(monkeypatch, tmp_path):
    from aef_ee.local.server import LocalServer

    monkeypatch.setattr(routes, "API_MODULES", (*routes.API_MODULES, "no_such_api"))
    monkeypatch.setattr(routes, "_loaded", False)
    with pytest.raises(EngineStartupError, match=r"aef_ee\.local\.api\.no_such_api") as info:
        LocalServer(tmp_path)
    assert info.value.name == "aef_ee.local.api.no_such_api"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
