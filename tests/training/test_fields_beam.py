"""The embedding-field pipeline on Beam's local runner writes the loop's COGs, byte for byte, and resumes, also after
a SIGKILL half-way."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from demo_fields import CHECKPOINT, REGION, REPO, assert_same_cog
from engine_process import kill_when

from aef_ee_training import fields

beam = pytest.importorskip(
    "apache_beam", reason='the embedding-field pipeline needs Apache Beam (pip install "aef-ee[beam]")')

from aef_ee.videos.export.beam import EngineConnection  # noqa: E402


def test_beam_pipeline_writes_the_loop_s_cogs_and_resumes(ee_local, local_server, loop_fields, tmp_path: Path) -> None:
    common = dict(workdir=CHECKPOINT, region=REGION, year=2021, progress=False)
    loop_dir, loop = loop_fields
    connection = EngineConnection("local", url=local_server.url, token=local_server.token)
    run = dict(out_dir=tmp_path / "beam", staging_dir=tmp_path / "beam-videos", runner="direct", max_workers=2,
               connection=connection, **common)
    piped = fields.embed_region(**run)

    names = sorted(Path(p).name for p in loop.written)
    assert len(names) == 6 and sorted(Path(p).name for p in piped.written) == names
    assert sorted(p.name for p in (tmp_path / "beam").glob("*.tif")) == names
    for name in names:
        assert_same_cog(tmp_path / "beam" / name, loop_dir / name)
    assert piped.pixels == loop.pixels and piped.empty == loop.empty

    # A run that lost two tiles: the re-run writes exactly those, the same bytes, and leaves the rest untouched.
    for name in names[:2]:
        (tmp_path / "beam" / name).unlink()
    stamps = {name: (tmp_path / "beam" / name).stat().st_mtime_ns for name in names[2:]}
    again = fields.embed_region(**run)
    assert sorted(Path(p).name for p in again.written) == names[:2] and len(again.skipped) == 4
    assert {name: (tmp_path / "beam" / name).stat().st_mtime_ns for name in names[2:]} == stamps
    for name in names:
        assert_same_cog(tmp_path / "beam" / name, loop_dir / name)
    assert fields.embed_region(**run).written == []  # finished: a no-op


_KILLED_RUN = textwrap.dedent("""
    from aef_ee.backend import initialize
    from aef_ee.videos.export.beam import EngineConnection
    from aef_ee_training.fields import embed_region

    initialize("local", url={url!r}, token={token!r})
    embed_region(workdir={checkpoint!r}, region={region!r}, year=2021, progress=False, out_dir={out!r},
                      staging_dir={staging!r}, runner="direct", max_workers=1,
                      connection=EngineConnection("local", url={url!r}, token={token!r}))
""")


def test_killed_pipeline_resumes_without_duplicates_or_losses(ee_local, local_server, loop_fields,
                                                               tmp_path: Path) -> None:
    """SIGKILL once two of the six tiles are written; the re-run writes the other four, and the folder then holds
    exactly the loop's files, byte for byte (no temporaries, nothing twice)."""
    loop_dir, _ = loop_fields
    out, staging = tmp_path / "cogs", tmp_path / "videos"
    script = _KILLED_RUN.format(url=local_server.url, token=local_server.token, checkpoint=str(CHECKPOINT),
                                region=REGION, out=str(out), staging=str(staging))
    kill_when(script, lambda: len(list(out.glob("*.tif"))) >= 2, cwd=REPO)
    done = {p.name for p in out.glob("*.tif")}
    assert 2 <= len(done) < 6  # killed half-way, with tiles written

    connection = EngineConnection("local", url=local_server.url, token=local_server.token)
    again = fields.embed_region(workdir=CHECKPOINT, region=REGION, year=2021, progress=False, out_dir=out,
                              staging_dir=staging, runner="direct", max_workers=2, connection=connection)
    assert {Path(p).name for p in again.written} == {p.name for p in loop_dir.glob("*.tif")} - done
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in loop_dir.iterdir())
    for name in sorted(p.name for p in loop_dir.glob("*.tif")):
        assert_same_cog(out / name, loop_dir / name)


def test_beam_pipeline_writes_the_loop_s_cogs_to_cloud_storage(ee_local, local_server, loop_fields,
                                                                tmp_path: Path) -> None:
    """Each worker uploads its COG to gs:// (a Cloud Storage emulator) and keeps no local copy; the objects are the
    loop's files, byte for byte, and a re-run skips them all."""
    from gcs_emulator import gcs_emulator

    loop_dir, _ = loop_fields
    connection = EngineConnection("local", url=local_server.url, token=local_server.token)
    run = dict(workdir=CHECKPOINT, region=REGION, year=2021, progress=False, out_dir="gs://fields/2021",
               staging_dir=tmp_path / "videos", runner="direct", max_workers=2, connection=connection)
    with gcs_emulator("fields") as gcs, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AEF_EE_CACHE", str(tmp_path / "cache"))
        report = fields.embed_region(**run)
        names = sorted(p.name for p in loop_dir.glob("*.tif"))
        assert sorted(report.written) == [f"gs://fields/2021/{n}" for n in names]
        assert report.seam_ratio_tiles is not None  # measured on the COGs read back from the bucket
        for name in names:
            gcs.bucket("fields").blob(f"2021/{name}").download_to_filename(str(tmp_path / name))
            assert_same_cog(tmp_path / name, loop_dir / name)
        assert list((tmp_path / "cache").rglob("*.tif")) == []  # uploaded, then removed
        again = fields.embed_region(**run)
        assert again.written == [] and sorted(again.skipped) == sorted(report.written)
