"""The algorithm registry imports every family module it lists and fails loudly when one is missing or broken."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from aef_ee.local.algorithms import registry
from aef_ee.local.errors import EngineStartupError


def test_every_listed_family_is_imported_and_every_family_module_is_listed():
    registry.load_all()
    for family in registry.FAMILIES:
        assert f"aef_ee.local.algorithms.{family}" in sys.modules, family
    # Every module that registers algorithms is listed (a module left off the list would register nothing).
    package = Path(registry.__file__).parent
    registers = re.compile(r"^@algorithm\(|^\s+algorithm\(f?\"", re.MULTILINE)
    registering = {p.stem for p in package.glob("*.py") if registers.search(p.read_text())}
    assert registering == set(registry.FAMILIES)
    # Each family registers at least one algorithm under its own module.
    owners = {fn.__module__.rsplit(".", 1)[-1] for fn in map(registry.lookup, registry.implemented())}
    assert owners == set(registry.FAMILIES)


def test_a_missing_family_module_raises_naming_it(monkeypatch):
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, "no_such_family"))
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(EngineStartupError, match=r"aef_ee\.local\.algorithms\.no_such_family") as info:
        registry.load_all()
    assert isinstance(info.value, ImportError) and info.value.name == "aef_ee.local.algorithms.no_such_family"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_broken_family_module_raises_naming_it(monkeypatch):
    def broken_import(name, *args, **kwargs):
        if name == "aef_ee.local.algorithms.vectors":
            raise NameError("name 'shapley' is not defined")
        return real_import(name, *args, **kwargs)

    real_import = importlib.import_module
    monkeypatch.setattr(registry.importlib, "import_module", broken_import)
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(EngineStartupError, match=r"'aef_ee\.local\.algorithms\.vectors'.*NameError: name 'shapley'"):
        registry.load_all()


def test_an_alias_of_an_unregistered_algorithm_raises(monkeypatch):
    monkeypatch.setattr(registry, "ALIASES", {**registry.ALIASES, "Image.no_such_alias": "Image.noSuchAlgorithm"})
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(EngineStartupError, match="'Image.no_such_alias' names 'Image.noSuchAlgorithm'"):
        registry.load_all()


def test_an_unknown_algorithm_is_unimplemented():
    from aef_ee.local.errors import Unimplemented

    with pytest.raises(Unimplemented, match="Algorithm 'Image.noSuchThing' is not implemented"):
        registry.lookup("Image.noSuchThing")
