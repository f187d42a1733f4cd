"""docs/workflows.md runs: its Python blocks (all but the Colab setup), in order, as one script in a fresh
interpreter against the local engine, on a catalog holding the test embeddings under the ID the docs use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import rasterio
from embedding_field import CRS, build_embedding_field

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "workflows.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _script() -> str:
    blocks = [b for b in BLOCK.findall(DOC.read_text()) if not b.startswith("# colab")]
    assert len(blocks) >= 9, f"docs/workflows.md has only {len(blocks)} runnable blocks"
    return "\n".join(blocks)


def test_workflow_docs_run_on_the_local_engine(tmp_path):
    build_embedding_field(tmp_path / "catalog", collection="projects/local/assets/embeddings", serve=False)
    (tmp_path / "workflows.py").write_text(_script())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "workflows.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert CRS in out
    assert "COMPLETED" in out
    assert "export: done" in out  # the explorer's status line after its export
    for name in ("iowa_classes", "explorer_classes"):
        with rasterio.open(tmp_path / "drive" / "aef-ee" / f"{name}.tif") as ds:
            assert ds.crs.to_string() == CRS
            assert ds.res == (10.0, 10.0)
