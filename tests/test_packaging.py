"""What the wheel holds: every package folder of the tree, the package data found through importlib.resources,
and no top-level name but the project's own."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_folders() -> set[str]:
    names = set()
    for import_name, folder in SETUPTOOLS["package-dir"].items():
        root = ROOT / folder
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            names.add(".".join([import_name, *relative]))
    return names


def test_the_package_list_names_every_package_folder() -> None:
    assert set(SETUPTOOLS["packages"]) == _package_folders()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (path,) = out.glob("aef_ee-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_installs_only_the_project_s_own_top_level_names(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"aef_ee", "aef_ee_training"}


def test_the_wheel_carries_its_package_data(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert {"aef_ee/fields/templates/collection.json", "aef_ee/fields/templates/image_manifest.json"} <= names
    checkpoint = [n for n in names if n.startswith("aef_ee_training/checkpoints/tiny-belgium/")]
    assert any(n.endswith("_CHECKPOINT_METADATA") for n in checkpoint)
    assert "aef_ee_training/checkpoints/tiny-belgium/data/index.json" in names
