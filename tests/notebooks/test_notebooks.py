"""Every notebook in notebooks/ runs top to bottom on a real Jupyter kernel against the local engine, in any order.

Each notebook is executed with nbclient (the ``python3`` kernel of this interpreter), with ``AEF_EE_BACKEND=local``,
a private ``$AEF_EE_HOME`` and a demo catalog built for this module, so the notebooks' registrations never touch a
developer's state. They run in reverse order (05 first), all started in one shared folder, as a reader who opens
them side by side: each must write only to its own temporary folder and leave the shared one empty. A cell that
raises fails the test; the printed values the notebooks exist to show are checked too. JAX's compilation cache lives
in pytest's cache folder, so repeated runs skip recompiling the training step (the first run of notebook 05 compiles
it).

The first code cell of each notebook is the Colab install; in the kernel aef_ee is importable, so its guard skips
the install (and with the repository placeholder it would refuse rather than reach a package index).
``test_install_cell`` runs that cell with aef_ee hidden, pip replaced by a recorder.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 600

# Lines each notebook must print: evidence that it computed real values, not just that no cell raised.
EXPECTED = {
    "01_quickstart": ["backend: local", "images: 7", "NDVI min", "'Sentinel-2, summer 2021', 'NDVI', 'fields'"],
    "02_similarity_search": ["native projection: EPSG:32615", "length: 1.0", "at least 0.8 similar",
                             "similarity search: done"],
    "03_classification_and_export": ["overall accuracy 1.00", "COMPLETED", "EPSG:32615 (10.0, 10.0) (40, 40) uint8",
                                     "agreement with the sample field's true classes:",
                                     "'classification', 'labels'"],
    "04_export_training_videos": ["3 sites written", "second run: 0 written, 3 skipped",
                                  "temperature_2m (K), monthly:"],
    "05_train_and_register_embeddings": ["64 bands int8 EPSG:32631", "registered codes equal the COG's: True",
                                         "second run created: []", "native projection: EPSG:32631",
                                         "our embeddings 2021"],
}


def _changed_pixels(threshold: float = 0.8) -> int:
    """Pixels of the sample field whose de-quantised 2023 and 2024 vectors have a dot product below ``threshold``
    (what notebook 02's change detection counts), computed with numpy from the source vectors."""
    import numpy as np

    from aef_ee.demo.sample_embeddings import sample_embedding_field
    from aef_ee.fields.collection import dequantize_array, quantize_array

    fields = sample_embedding_field((2023, 2024))
    a, b = (dequantize_array(quantize_array(fields[y])).astype(np.float64) for y in (2023, 2024))
    return int(((a * b).sum(axis=-1) < threshold).sum())


def _ensure_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNEL], check=True)


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment of the kernels: the local backend, a fresh demo catalog, a private state folder, temporary
    folders (the notebooks' working folders) under the test's own temporary folder."""
    from aef_ee.demo.catalog import build_demo_catalog

    _ensure_kernel()
    catalog = build_demo_catalog(tmp_path_factory.mktemp("notebook-catalog"), progress=False)
    jax_cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if not jax_cache:  # pytest's cache folder outlives the run (absent with -p no:cacheprovider)
        cache = getattr(request.config, "cache", None)
        jax_cache = str(cache.mkdir("jax-notebooks") if cache else tmp_path_factory.mktemp("jax-notebooks"))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AEF_EE_")}
    return {
        **inherited,
        "AEF_EE_BACKEND": "local",
        "AEF_EE_HOME": str(tmp_path_factory.mktemp("notebook-home")),
        "AEF_EE_CATALOG": str(catalog),
        "TMPDIR": str(tmp_path_factory.mktemp("notebook-tmp")),
        "JAX_COMPILATION_CACHE_DIR": jax_cache,
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        "MPLBACKEND": "agg",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }


@pytest.fixture(scope="module")
def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one folder every notebook is started in, as when a reader opens them all from one place."""
    return tmp_path_factory.mktemp("opened-from")


def _text_outputs(nb: nbformat.NotebookNode) -> str:
    """Each cell's stdout as one text (a stderr write, e.g. a progress bar, can split it into several stream outputs
    mid-line), then its other text outputs."""
    parts = []
    for cell in nb.cells:
        stdout, others = [], []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                (stdout if out.get("name") == "stdout" else others).append(out.get("text", ""))
            elif "data" in out:
                others.append(out["data"].get("text/plain", ""))
        parts.extend(["".join(stdout), *others])
    return "\n".join(parts)


def test_there_are_five_notebooks() -> None:
    assert [p.stem for p in NOTEBOOKS] == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert nb.nbformat == 4
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "clear the outputs before committing"
    assert 'find_spec("aef_ee") is None' in code[0].source, "the first code cell is the guarded pip install"
    assert "git+https://github.com/OWNER/REPO" in code[0].source, "install from the repository (a marked placeholder)"
    setup = code[1].source
    assert "ee.Authenticate()" in setup and "aef_ee.initialize(project=PROJECT)" in setup
    assert 'aef_ee.initialize(backend="local"' in setup and "AEF_EE_BACKEND" in setup
    assert "WORK = Path(tempfile.mkdtemp(" in setup, "the notebook works in a temporary folder of its own"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_install_cell(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where aef_ee is missing (a fresh Colab runtime) the first cell pip-installs AEF_EE_PIP, and refuses while
    it is still the placeholder."""
    source = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code").source
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aef_ee" else find_spec(name, *a))
    installs: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: installs.append(command))
    monkeypatch.delenv("AEF_EE_PIP", raising=False)
    with pytest.raises(RuntimeError, match="set AEF_EE_PIP above to its repository"):
        exec(source, {})
    assert installs == []
    spec = "aef-ee[all] @ git+https://github.com/someone/aef-ee"
    monkeypatch.setenv("AEF_EE_PIP", spec)
    exec(source, {})
    assert installs == [[sys.executable, "-m", "pip", "install", "-q", spec]]


# Reverse order: 05 (which trains on its videos) before 04 (which writes videos too), 01 last.
@pytest.mark.parametrize("path", NOTEBOOKS[::-1], ids=[p.stem for p in NOTEBOOKS[::-1]])
def test_notebook_runs(path: Path, notebook_env: dict[str, str], shared_folder: Path,
                       record_property: pytest.RecordProperty) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(shared_folder)}})
    started = time.perf_counter()
    client.execute(env=notebook_env)  # raises CellExecutionError, naming the cell, on the first error
    seconds = time.perf_counter() - started
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s")
    assert sorted(p.name for p in shared_folder.iterdir()) == [], f"{path.name} wrote into the folder it was opened in"
    text = _text_outputs(nb)
    expected = list(EXPECTED[path.stem])
    if path.stem == "02_similarity_search":
        expected.append(f"{_changed_pixels()} pixels changed;")
    missing = [line for line in expected if line not in text]
    assert not missing, f"{path.name} did not print {missing}; its output was:\n{text[-3000:]}"
