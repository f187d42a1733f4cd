"""The house rules that keep the architecture visible, checked on the source tree.

- No import cycles between modules (every ``import`` counts, also the ones inside functions: a lazy import only
  hides a cycle until the day someone moves it to the top).
- Dependencies run one way: the model package (``aef_ee_training``) may use the plugin's data model, but the
  plugin (``aef_ee``) imports the model only in its command layer (``aef_ee.cli``), and nothing imports the
  command layer except itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Import name -> source folder (pyproject.toml maps aef_ee_training to training/).
PACKAGES = {"aef_ee": ROOT / "aef_ee", "aef_ee_training": ROOT / "training"}


def _modules() -> dict[str, Path]:
    modules = {}
    for name, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([name, *parts])] = path
    return modules


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> set[str]:
    """The project modules that ``module`` imports anywhere in its file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_tree_is_found() -> None:
    expected = {"aef_ee", "aef_ee.cli", "aef_ee.local.server", "aef_ee_training.train", "aef_ee.videos.format"}
    assert expected <= set(GRAPH)


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _importers_of(prefix: str) -> dict[str, set[str]]:
    return {m: {t for t in targets if t == prefix or t.startswith(prefix + ".")} for m, targets in GRAPH.items()}


def test_the_plugin_imports_the_model_only_in_its_command_layer() -> None:
    offenders = {m: t for m, t in _importers_of("aef_ee_training").items()
                 if t and m.startswith("aef_ee.") and not m.startswith("aef_ee.cli")}
    assert offenders == {}


def test_nothing_outside_the_command_layer_imports_it() -> None:
    offenders = {m: t for m, t in _importers_of("aef_ee.cli").items() if t and not m.startswith("aef_ee.cli")}
    assert offenders == {}


def test_the_engine_does_not_import_the_products_built_on_it() -> None:
    products = ("aef_ee.videos", "aef_ee.fields", "aef_ee.ops", "aef_ee.maps", "aef_ee.demo", "aef_ee.evaluation")
    offenders = {m: {t for t in targets if t.startswith(products)} for m, targets in GRAPH.items()
                 if m.startswith("aef_ee.local")}
    assert {m: t for m, t in offenders.items() if t} == {}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= 800, f"{module} has {lines} lines; split it along a concept"
