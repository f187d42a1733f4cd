"""The Beam pipeline of the interactive path (DirectRunner, the local engine over HTTP, demo catalog): the same
videos as ``export_interactive``; a run killed half-way (SIGKILL) and re-run writes every site exactly once."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from engine_process import kill_when
from export_helpers import belgium_sites

from aef_ee.videos.export import ExportRequest, export_interactive
from aef_ee.videos.format import VideoDataset

beam_module = pytest.importorskip("apache_beam")

from aef_ee.videos.export.beam import PARTS_DIR, EngineConnection, export_beam  # noqa: E402

REQUEST = ExportRequest(sources=("s2", "s1", "dem"))
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _assert_same_videos(a: Path, b: Path) -> None:
    da, db = VideoDataset(a), VideoDataset(b)
    assert da.site_ids == db.site_ids  # same sites, in the same order
    assert da.index["stats"] == db.index["stats"]
    for va, vb in zip(da, db):
        assert va.sources.keys() == vb.sources.keys()
        for name, sa in va.sources.items():
            sb = vb.sources[name]
            np.testing.assert_array_equal(sa.timestamps_ms, sb.timestamps_ms)
            np.testing.assert_array_equal(sa.mask, sb.mask)
            np.testing.assert_array_equal(sa.frames, sb.frames)
        assert (va.crs, va.transform, va.period_ms, va.properties) == (vb.crs, vb.transform, vb.period_ms,
                                                                       vb.properties)


@pytest.fixture(scope="module")
def reference(local_server, tmp_path_factory) -> Path:
    from local_engine import connect

    connect(local_server)
    out = tmp_path_factory.mktemp("interactive")
    export_interactive(belgium_sites(), REQUEST, out, max_workers=2, sites_per_shard=3, progress=False)
    return out


def test_beam_pipeline_equals_the_interactive_path(ee_local, local_server, reference, tmp_path: Path) -> None:
    result = export_beam(belgium_sites(), REQUEST, tmp_path / "beam", runner="direct", max_workers=2,
                         connection=EngineConnection("local", url=local_server.url, token=local_server.token),
                         sites_per_shard=3, progress=False)
    assert result.sites_written + result.sites_empty == len(belgium_sites()) and result.sites_written > 0
    _assert_same_videos(tmp_path / "beam", reference)
    assert (tmp_path / "beam" / "export.json").read_text() == (reference / "export.json").read_text()
    assert not (tmp_path / "beam" / PARTS_DIR).exists()
    again = export_beam(belgium_sites(), REQUEST, tmp_path / "beam", sites_per_shard=3, progress=False)
    assert again.sites_written == 0 and again.sites_skipped == len(belgium_sites())  # idempotent


_KILLED_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {helpers!r})
    from export_helpers import belgium_sites
    from aef_ee.backend import initialize
    from aef_ee.videos.export import ExportRequest
    from aef_ee.videos.export.beam import EngineConnection, export_beam

    initialize("local", url={url!r}, token={token!r})
    export_beam(belgium_sites(), ExportRequest(sources=("s2", "s1", "dem")), {out!r}, max_workers=1,
                connection=EngineConnection("local", url={url!r}, token={token!r}), sites_per_shard=3,
                progress=False)
""")


def test_killed_pipeline_resumes_without_duplicates_or_losses(ee_local, local_server, reference,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "killed"
    script = _KILLED_RUN.format(helpers=str(HERE), url=local_server.url, token=local_server.token, out=str(out))
    kill_when(script, lambda: len(list((out / PARTS_DIR).glob("*.site"))) >= 2, cwd=REPO, timeout_s=240)
    fetched = {p.stem for p in (out / PARTS_DIR).glob("*.site")}
    assert 2 <= len(fetched) < len(belgium_sites())  # killed half-way, with sites done

    result = export_beam(belgium_sites(), REQUEST, out, max_workers=2, sites_per_shard=3, progress=False,
                         connection=EngineConnection("local", url=local_server.url, token=local_server.token))
    assert result.sites_written + result.sites_empty == len(belgium_sites())
    ids = VideoDataset(out).site_ids
    assert len(ids) == len(set(ids))  # nothing twice
    _assert_same_videos(out, reference)  # nothing lost


def test_cli_runner_direct_selects_the_pipeline(local_server, tmp_path: Path, capsys) -> None:
    from aef_ee.cli import main

    out = tmp_path / "cli"
    argv = ["export-videos", "--backend", "local", "--url", local_server.url, "--region",
            "5.319,50.6287,5.333,50.6378", "--sources", "s2,dem", "--start", "2020-11-01", "--end", "2021-11-01",
            "--sites", "2", "--site-size", "16", "--workers", "2", "--out", str(out), "--runner", "direct"]
    assert main(argv) == 0
    assert "2 sites written" in capsys.readouterr().out
    assert len(VideoDataset(out)) == 2 and not (out / PARTS_DIR).exists()


def test_files_progress_counts_the_files_workers_write(tmp_path: Path, capsys) -> None:
    """The bar of a pipeline run counts the files that appear, not the ones there before."""
    from aef_ee.videos.export.beam import files_progress

    (tmp_path / "old.site").write_bytes(b"")  # from an earlier run: not counted
    with files_progress(tmp_path, "*.site", 4, desc="fetch videos", unit="site", enabled=True, interval_s=0.01):
        for i in range(4):
            (tmp_path / f"{i}.site").write_bytes(b"")
            time.sleep(0.05)
    err = capsys.readouterr().err
    assert "fetch videos" in err and "4/4" in err and "5/4" not in err
    with files_progress(tmp_path, "*.site", 4, desc="quiet", unit="site", enabled=False):
        pass
    assert "quiet" not in capsys.readouterr().err
