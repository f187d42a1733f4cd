"""The documentation runs: every code block of README.md and docs/*.md, as written, against the local engine.

What a doc's reader gets is what this test runs, so the rules are few and visible in the Markdown itself:

- The ```python and ```bash blocks of one file run in order, as one Python script (bash blocks through
  ``bash -e -c``, at their place), in a fresh interpreter whose working folder and ``$AEF_EE_HOME`` are new empty
  temporary folders: the state of a new machine. Nothing else is prepared; the local engine builds its demo
  catalog on first use, as it does for a reader.
- A block right after ``<!-- not run: REASON -->`` is not run (a command with placeholders, one that needs Earth
  Engine, or one that takes many minutes); the test counts these and prints each with its reason. Blocks inside the
  generated results of docs/evaluation.md (``<!-- results:start ... -->`` .. ``<!-- results:end -->``) are output,
  not instructions, and are not run either.
- ``<!-- prerequisite: COMMAND -->`` before a block says the reader ran COMMAND first; the doc's text must say so
  too. The test runs it once per session, exactly as written, in its own temporary working folder, and every doc
  that needs it shares its ``$AEF_EE_HOME``. The only prerequisite today is ``aef-ee demo`` (about 1.5 minutes
  on two cores), which registers ``projects/local/assets/aef_demo_embeddings``.
- Other fences (```json, untyped) are data, not instructions.

The script of ``docs/x.md`` is written as ``x.md.py`` with every block at its line in the Markdown, so a traceback's
line number is the doc's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_LANGUAGES = ("python", "bash")
DOC_TIMEOUT_S = 1200
PREREQUISITES = {"aef-ee demo": ["aef-ee", "demo"]}
FENCE = re.compile(r"^```(\S*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->\s*$")
PREREQUISITE = re.compile(r"^<!--\s*prerequisite:\s*(.+?)\s*-->\s*$")

# Docs whose owners have yet to mark the blocks a reader cannot run as written (reported; remove the entry then).
AWAITING_MARKERS: dict[str, str] = {}

# Lines each doc must print: evidence that its blocks computed what the doc says, not only that none raised.
EXPECTED = {
    "README.md": ["AccuracyReport(", "COMPLETED"],
    "catalog.md": ["COPERNICUS/S2_SR_HARMONIZED/20170613T101031_20170613T101608_T33UUP_87_48", "1604188800000",
                   "20201101_BE.tif"],
    "classifiers.md": ["accuracy"],
    "embedding_fields.md": ["64 bands, EPSG:32631"],
    "evaluation.md": ["balanced_accuracy"],
    "workflows.md": ["EPSG:32615", "m2 at least 0.8 similar", "COMPLETED", "export: done"],
}

# GeoTIFFs a doc's blocks write, relative to its working folder, with the CRS and pixel size the doc promises:
# evidence that an export wrote what the doc describes, not only that its task said COMPLETED.
EXPECTED_GEOTIFFS = {
    "workflows.md": {"drive/aef-ee/iowa_classes.tif": ("EPSG:32615", (10.0, 10.0)),
                     "drive/aef-ee/explorer_classes.tif": ("EPSG:32615", (10.0, 10.0))},
}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason, when the doc marks it
    prerequisite: str | None


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of ``doc`` with their markers."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    in_results = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("<!-- results:start"):
            in_results = True
        elif line.startswith("<!-- results:end"):
            in_results = False
        fence = FENCE.match(line)
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"{doc.name}:{i + 1}: a fence that is never closed"
        previous = lines[i - 1].strip() if i else ""
        not_run = NOT_RUN.match(previous)
        prerequisite = PREREQUISITE.match(previous)
        reason = not_run.group(1) if not_run else ("generated results, not instructions" if in_results else None)
        found.append(Block(doc, i + 1, fence.group(1), "\n".join(lines[i + 1:end]), reason,
                           prerequisite.group(1) if prerequisite else None))
        i = end + 1
    return found


def runnable(doc: Path) -> list[Block]:
    return [b for b in blocks(doc) if b.language in RUN_LANGUAGES and b.not_run is None]


def script(doc: Path) -> str:
    """The doc as a Python script: its runnable blocks at their own lines, everything else blank."""
    total = len(doc.read_text(encoding="utf-8").splitlines())
    out = [""] * total
    out[0] = "import subprocess  # noqa: E401 (bash blocks of the doc run through bash -e -c)"
    for block in runnable(doc):
        first = block.line  # 0-based index of the line after the fence
        if block.language == "python":
            for k, code_line in enumerate(block.code.splitlines()):
                out[first + k] = code_line
        else:
            out[first] = f"subprocess.run(['bash', '-e', '-c', {block.code!r}], check=True)"
    return "\n".join(out) + "\n"


def _fresh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEF_EE_")}
    env["AEF_EE_HOME"] = str(home)
    env["MPLBACKEND"] = "agg"
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An $AEF_EE_HOME where ``aef-ee demo`` ran, exactly as a reader runs it (in its own working folder)."""
    home = tmp_path_factory.mktemp("docs-demo-home")
    cwd = tmp_path_factory.mktemp("docs-demo-cwd")
    started = time.perf_counter()
    done = subprocess.run(PREREQUISITES["aef-ee demo"], cwd=cwd, env=_fresh_env(home), capture_output=True,
                          text=True, timeout=DOC_TIMEOUT_S)
    assert done.returncode == 0, f"aef-ee demo failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"aef-ee demo (prerequisite of the docs): {time.perf_counter() - started:.0f} s")
    return home


def _visible_text(doc: Path) -> str:
    text = doc.read_text(encoding="utf-8")
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


@pytest.mark.parametrize("doc", [
    pytest.param(d, marks=pytest.mark.xfail(reason=AWAITING_MARKERS[d.name], strict=False))
    if d.name in AWAITING_MARKERS else d for d in DOCS], ids=[d.name for d in DOCS])
def test_doc_runs_as_written(doc: Path, tmp_path: Path, request: pytest.FixtureRequest,
                             record_property: pytest.RecordProperty) -> None:
    todo = runnable(doc)
    skipped = [b for b in blocks(doc) if b.language in RUN_LANGUAGES and b.not_run is not None]
    for block in skipped:
        print(f"not run: {doc.name}:{block.line} ({block.language}): {block.not_run}")
    if not todo:
        pytest.skip(f"{doc.name}: no runnable block ({len(skipped)} marked not run)")
    needs = {b.prerequisite for b in blocks(doc) if b.prerequisite}
    unknown = needs - set(PREREQUISITES)
    assert not unknown, f"{doc.name}: unknown prerequisites {unknown}; known: {list(PREREQUISITES)}"
    for command in needs:
        assert f"`{command}`" in _visible_text(doc), f"{doc.name} needs `{command}` first but its text never says so"
    if needs:
        home = request.getfixturevalue("demo_home")
    else:
        home = tmp_path / "aef-ee-home"
        home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    path = cwd / f"{doc.name}.py"
    path.write_text(script(doc), encoding="utf-8")

    started = time.perf_counter()
    done = subprocess.run([sys.executable, path.name], cwd=cwd, env=_fresh_env(home), capture_output=True,
                          text=True, timeout=DOC_TIMEOUT_S)
    seconds = time.perf_counter() - started
    record_property("seconds", round(seconds, 1))
    print(f"{doc.name}: {len(todo)} blocks run, {len(skipped)} marked not run, {seconds:.1f} s")
    assert done.returncode == 0, (
        f"{doc.relative_to(REPO)} failed (line numbers are the doc's):\n{done.stderr[-4000:]}")
    missing = [text for text in EXPECTED.get(doc.name, []) if text not in done.stdout]
    assert not missing, f"{doc.name} did not print {missing}; it printed:\n{done.stdout[-3000:]}"
    for relative, (crs, resolution) in EXPECTED_GEOTIFFS.get(doc.name, {}).items():
        import rasterio

        assert (cwd / relative).is_file(), f"{doc.name} did not write {relative}"
        with rasterio.open(cwd / relative) as ds:
            assert (ds.crs.to_string(), ds.res) == (crs, resolution), relative


def test_every_excluded_block_says_why() -> None:
    for doc in DOCS:
        for block in blocks(doc):
            if block.language in RUN_LANGUAGES and block.not_run is not None:
                assert len(block.not_run) > 10, f"{doc.name}:{block.line}: say why the block is not run"


def test_the_script_keeps_the_docs_line_numbers(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# x\n\n```python\nprint(1)\n```\n\n<!-- not run: needs Earth Engine -->\n```python\n"
                   "ee.Authenticate()\n```\n\n```bash\necho hi\n```\n")
    lines = script(doc).splitlines()
    assert lines[3] == "print(1)" and "Authenticate" not in script(doc)
    assert lines[12].startswith("subprocess.run(['bash', '-e', '-c', 'echo hi']")
    assert [b.not_run for b in blocks(doc)] == [None, "needs Earth Engine", None]
