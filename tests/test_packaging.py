"""What the wheel holds: every package folder of the tree, the package data found through importlib.resources,
and no top-level name but the project's own."""

from __future__ import annotations

import os
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
    assert "aef_ee_training/checkpoints/tiny-belgium/inference.json" in names  # what inference needs, in one file


def test_the_demo_catalog_builds_from_the_wheel_s_data_alone(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """Every file the demo catalog reads is in the wheel (an installed package has no data/ beside it)."""
    prefix = "aef_ee/demo/data/"
    for name in wheel.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = tmp_path / "data" / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(wheel.read(name))
    script = ("from aef_ee.demo.catalog import build_demo_catalog; import sys; "
              "build_demo_catalog(sys.argv[1], progress=False)")
    env = {**os.environ, "AEF_EE_DATA": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "catalog")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
