"""Each optional extra of pyproject.toml makes its modules importable, and importing them exits cleanly.

- Statically, on the source tree: every module's top-level third-party imports are declared by the base
  dependencies or by the extras the module belongs to, so a light install (``pip install aef-ee``, or one extra)
  cannot die importing a module with a bare ``ModuleNotFoundError``. Building one virtual environment per extra
  would take minutes per extra; the declarations are what such an environment would install.
- Dynamically, in this environment (every extra installed): every module of each extra is imported in a fresh
  interpreter, which must exit with 0 and print no traceback. The netCDF4 and eccodes wheels' bundled libraries once
  made the interpreter abort at exit (``double free or corruption``), which only a child process shows.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Import name -> source folder (pyproject.toml maps aef_ee_training to training/).
PACKAGES = {"aef_ee": ROOT / "aef_ee", "aef_ee_training": ROOT / "training"}
# What each extra is meant to make importable, as module-name prefixes. A module belongs to every extra with a
# prefix of its name; one under none needs only the base dependencies. As aef_ee.backend's require_extra calls
# have it: the local engine and the demo catalog it serves need "local", the explorer "maps", the model "training".
EXTRA_PACKAGES: dict[str, tuple[str, ...]] = {
    "local": ("aef_ee.local", "aef_ee.demo"),
    "maps": ("aef_ee.maps",),
    "training": ("aef_ee_training",),
    "search": ("aef_ee.search",),
    "api": ("aef_ee.api",),
    "beam": ("aef_ee.videos.export.beam", "aef_ee_training.fields_beam"),
    "text": ("aef_ee_training.text",),
}
# Extras that bundle the others rather than make modules of their own importable.
BUNDLES = ("dev", "all")
# The decoders of the dev extra that tests compare the demo catalog against; with them installed, xarray's backend
# discovery loads eccodes and netCDF4 side by side.
DEV_DECODERS = ("xarray", "netCDF4", "cfgrib")
SUBPROCESS_TIMEOUT_S = 120


def _normalise(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if any(not part.isidentifier() for part in parts):  # not importable: scratch folders, e.g. ".videos-2021"
                continue
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def _extras_of(module: str) -> set[str]:
    return {extra for extra, prefixes in EXTRA_PACKAGES.items()
            if any(module == p or module.startswith(p + ".") for p in prefixes)}


def _declared(extras: set[str]) -> set[str]:
    """The distributions the base dependencies and ``extras`` declare (``aef-ee[x]`` expanded)."""
    optional = PROJECT["optional-dependencies"]
    names: set[str] = set()
    todo = [*PROJECT["dependencies"], *(f"aef-ee[{extra}]" for extra in extras)]
    seen: set[str] = set()
    while todo:
        requirement = Requirement(todo.pop())
        if _normalise(requirement.name) != "aef-ee":
            names.add(_normalise(requirement.name))
            continue
        for extra in requirement.extras - seen:
            seen.add(extra)
            todo.extend(optional[extra])
    return names


def top_level_imports(source: str) -> Iterator[tuple[str, int]]:
    """(module, line) of the absolute imports ``source`` runs when it is imported.

    Function bodies do not run at import; class bodies, ``if`` and ``with`` blocks do. Skipped: ``if
    TYPE_CHECKING:`` blocks and the body of a ``try`` that catches ``ImportError`` (an optional import, handled).
    """

    def visit(body: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in body:
            if isinstance(node, ast.Import):
                yield from ((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    yield node.module, node.lineno
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    yield from visit(node.body)
                yield from visit(node.orelse)
            elif isinstance(node, ast.Try):
                caught = " ".join(ast.unparse(h.type) for h in node.handlers if h.type is not None)
                if "ImportError" not in caught and "ModuleNotFoundError" not in caught:
                    yield from visit(node.body)
                for handler in node.handlers:
                    yield from visit(handler.body)
                yield from visit(node.orelse)
                yield from visit(node.finalbody)
            elif isinstance(node, (ast.With, ast.ClassDef)):
                yield from visit(node.body)

    yield from visit(ast.parse(source).body)


def _third_party(module: str) -> bool:
    top = module.partition(".")[0]
    return top not in sys.stdlib_module_names and top not in PACKAGES and top != "__future__"


def _distributions(module: str) -> set[str]:
    """The installed distributions that provide ``module`` (several for a namespace such as ``google``)."""
    top = module.partition(".")[0]
    candidates = importlib.metadata.packages_distributions().get(top, [])
    if len(candidates) <= 1:
        return {_normalise(d) for d in candidates}
    prefix = module.replace(".", "/")
    found = {_normalise(name) for name in candidates
             if any(str(f).startswith((prefix + "/", prefix + ".")) for f in importlib.metadata.files(name) or ())}
    return found or {_normalise(d) for d in candidates}


def undeclared_imports(module: str, source: str) -> list[str]:
    """The top-level third-party imports of ``module`` that its extras and the base dependencies do not declare."""
    extras = _extras_of(module)
    declared = _declared(extras)
    problems = []
    for name, line in top_level_imports(source):
        if not _third_party(name):
            continue
        provided_by = _distributions(name)
        if not provided_by:
            problems.append(f"{module}:{line} imports {name!r}, which no installed distribution provides")
        elif not provided_by & declared:
            where = f"extras {sorted(extras)}" if extras else "no extra (base dependencies only)"
            problems.append(f"{module}:{line} imports {name!r} (from {sorted(provided_by)}) at import time; "
                            f"the module belongs to {where}, which do not declare it")
    return problems


def test_every_extra_is_mapped_to_its_modules() -> None:
    assert set(PROJECT["optional-dependencies"]) == set(EXTRA_PACKAGES) | set(BUNDLES)
    for extra, prefixes in EXTRA_PACKAGES.items():
        for prefix in prefixes:
            assert prefix in MODULES, f"extra {extra!r} names {prefix!r}, which is no module of the tree"


def test_the_bundles_declare_every_extra() -> None:
    for bundle in BUNDLES:
        assert _declared({bundle}) >= _declared(set(EXTRA_PACKAGES) - {"text"}), bundle


def test_top_level_imports_are_declared_by_the_modules_extras() -> None:
    problems = [p for module, path in MODULES.items() for p in undeclared_imports(module, path.read_text())]
    assert not problems, "\n".join(problems)


def test_the_check_finds_an_undeclared_import() -> None:
    source = textwrap.dedent("""
        from typing import TYPE_CHECKING
        import numpy
        if TYPE_CHECKING:
            import sklearn
        try:
            import regex
        except ImportError:
            regex = None

        class Reader:
            import rasterio

        def later():
            import jax
    """)
    assert [name for name, _ in top_level_imports(source)] == ["typing", "numpy", "rasterio"]
    # Outside every extra, rasterio (local) is undeclared; inside the local engine it is declared.
    assert len(undeclared_imports("aef_ee.videos.sites", source)) == 1
    assert "rasterio" in undeclared_imports("aef_ee.videos.sites", source)[0]
    assert undeclared_imports("aef_ee.local.raster", source) == []


def _groups() -> dict[str, list[str]]:
    groups = {extra: sorted(m for m in MODULES if extra in _extras_of(m)) for extra in EXTRA_PACKAGES}
    groups["base"] = sorted(m for m in MODULES if not _extras_of(m))
    return groups


def _import_in_child(modules: list[str], extra_code: str = "") -> subprocess.CompletedProcess[str]:
    script = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n{extra_code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          timeout=SUBPROCESS_TIMEOUT_S)


@pytest.mark.parametrize("group", sorted(_groups()))
def test_every_module_of_the_extra_imports_and_the_interpreter_exits_cleanly(group: str) -> None:
    modules = _groups()[group]
    assert modules, group
    done = _import_in_child(modules)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (group, done.returncode, done.stderr[-3000:])


def test_every_module_with_the_dev_decoders_exits_cleanly() -> None:
    # The whole project's environment at once: every module, then xarray's backend discovery, which loads netCDF4
    # and cfgrib (eccodes) side by side.
    code = f"for name in {DEV_DECODERS!r}:\n    importlib.import_module(name)\n" \
           "import xarray\nprint(sorted(xarray.backends.list_engines()))\n"
    done = _import_in_child(sorted(MODULES), code)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (done.returncode, done.stderr[-3000:])
    assert "netcdf4" in done.stdout and "cfgrib" in done.stdout
