"""``aef-ee`` and Ctrl-C: one line saying the command was interrupted (and, where it resumes, how), exit code 130."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aef_ee import cli

RESUME = "; re-run the same command to resume (finished work is kept)"
# The console script pip installs next to this interpreter (what a user types).
AEF_EE = Path(sys.executable).with_name("aef-ee")


@pytest.mark.parametrize(("argv", "module", "line"), [
    (["register", "projects/local/assets/x", "gs://b/a.tif"], "register",
     f"aef-ee register: interrupted{RESUME}"),
    (["catalog", "list"], "catalog", "aef-ee catalog: interrupted"),
])
def test_ctrl_c_prints_one_line_and_exits_130(argv, module, line, monkeypatch, capsys):
    import importlib

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"aef_ee.cli.{module}"), "run", interrupted)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip() == line


def _wait_for(process: subprocess.Popen, text: str, timeout: float) -> str:
    """Reads the process's stderr until ``text`` appears; returns what it read."""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"{text!r} did not appear in {timeout} s; stderr so far:\n{seen.decode()[-2000:]}")
        if selector.select(timeout=1.0):
            seen += os.read(process.stderr.fileno(), 65536)
    return seen.decode()


def test_sigint_to_a_running_export_videos(demo_catalog_dir: Path, tmp_path: Path):
    # 120 small sites over the demo patch, 20 s or more of work, so the signal lands mid-export. Sentinel-1 and the DEM
    # log nothing (Sentinel-2 warns that the demo catalog lacks Cloud Score+), so stderr holds the bar and the line.
    command = [str(AEF_EE), "export-videos", "--backend", "local",
               "--catalog", str(demo_catalog_dir), "--region", "5.319,50.6287,5.333,50.6378",
               "--sources", "s1,dem", "--start", "2021-03-01", "--end", "2021-10-01",
               "--sites", "120", "--site-size", "8", "--workers", "2", "--out", str(tmp_path / "videos")]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        before = _wait_for(process, "site/s]", timeout=300)  # the progress bar counts sites: the export runs
        process.send_signal(signal.SIGINT)
        out, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    after = rest.decode()
    assert process.returncode == 130, (before + after)[-3000:]
    assert "Traceback" not in before + after
    # After the signal: the bar's last redraw (carriage returns, no newline) and the one line.
    lines = [line for line in after.replace("\r", "\n").splitlines() if line.strip() and "site/s" not in line]
    assert lines == [f"aef-ee export-videos: interrupted{RESUME}"], after[-3000:]
    assert out == b""


@pytest.mark.parametrize("runner", ["loop", "direct"])
def test_embed_labels_its_progress_bars_for_its_own_work(tmp_path, capsys, runner):
    # `aef-ee embed` fetches its input videos with export_videos: the bars say what they count, not "export-videos".
    # With --runner direct the same command runs both maps as Beam pipelines, with the same bars.
    pytest.importorskip("aef_ee_training.fields", reason="aef-ee embed needs the training extra")
    if runner != "loop":
        pytest.importorskip("apache_beam", reason='--runner needs Apache Beam (pip install "aef-ee[beam]")')
    checkpoint = Path(__file__).resolve().parents[2] / "training" / "checkpoints" / "tiny-belgium"
    collection = f"projects/local/assets/cli_fields_{runner}"
    argv = ["embed", "--workdir", str(checkpoint), "--region", "5.3189,50.6289,5.3334,50.6375", "--year", "2021",
            "--out", str(tmp_path / "fields"), "--runner", runner, "--register", collection]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "6 tiles written" in captured.out
    assert f"{collection}: 6 registered, 0 already there (collection created)" in captured.out
    import ee

    images = ee.ImageCollection(collection).filterDate("2021-01-01", "2022-01-01")
    assert images.size().getInfo() == 6 and images.first().bandNames().size().getInfo() == 64
    bars = {line.split(":")[0].strip() for line in captured.err.replace("\r", "\n").splitlines() if "it/s" in line
            or "/s]" in line}
    assert "export-videos" not in captured.err, captured.err[-2000:]
    assert {"fetch videos", "embed 2021"} <= bars, bars


@pytest.mark.parametrize(("project", "out", "message"), [
    ("my-project", "fields", "Earth Engine registers COGs from Cloud Storage"),
    (None, "gs://b/fields", "the local engine: it reads local files"),
])
def test_embed_refuses_a_registration_its_engine_cannot_read(tmp_path, capsys, project, out, message):
    # Refused before any engine starts or any tile is embedded (the workdir is empty: nothing else was looked at).
    pytest.importorskip("aef_ee_training.fields", reason="aef-ee embed needs the training extra")
    argv = ["embed", "--workdir", str(tmp_path), "--region", "5.3,50.6,5.4,50.7", "--year", "2021", "--out", out,
            "--register", "projects/x/assets/y"] + (["--project", project] if project else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("aef-ee: error: --register") and message in err, err
