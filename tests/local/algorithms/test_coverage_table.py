"""docs/algorithms.md (which of Earth Engine's algorithms the local engine implements) is the output of
scripts/algorithm_coverage.py for the installed client and the current registry."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _script():
    spec = importlib.util.spec_from_file_location("algorithm_coverage", ROOT / "scripts" / "algorithm_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_table_is_up_to_date():
    import ee

    script = _script()
    checked_in = (ROOT / "docs" / "algorithms.md").read_text()
    version = re.search(r"earthengine-api (\S+) ", checked_in)
    if version is None or version.group(1) != ee.__version__:
        pytest.skip(f"docs/algorithms.md was generated with earthengine-api {version and version.group(1)}, "
                    f"this is {ee.__version__}")
    assert checked_in == script.render(), "run python scripts/algorithm_coverage.py"


def test_the_table_lists_every_algorithm_once_with_its_module():
    text = _script().render()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]
    assert len(names) == len(set(names)) > 900
    row = next(r for r in rows if r.startswith("| `Image.divide`"))
    assert row.endswith("| yes | image_ops |")
    assert any(r.startswith("| `Image.toByte`") and "alias of `Image.uint8`" in r for r in rows)
    assert any(r.startswith("| `Image.focalMean`") and r.endswith("| neighborhood |") for r in rows)
