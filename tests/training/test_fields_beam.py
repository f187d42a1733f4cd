"""The embedding-field pipeline on Beam's local runner writes the loop's COGs, byte for byte, and resumes, also after
a SIGKILL half-way."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from engine_process import kill_when
import rasterio

from aef_ee_training import fields

beam = pytest.importorskip(
    "apache_beam", reason='the embedding-field pipeline needs Apache Beam (pip install "aef-ee[beam]")')

from aef_ee.videos.export.beam import EngineConnection  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "training" / "checkpoints" / "tiny-belgium"
REGION = (5.3189, 50.6289, 5.3334, 50.6375)  # the demo patch: 6 tiles of 64 px


def _assert_same_cog(a: Path, b: Path) -> None:
    with rasterio.open(a) as da, rasterio.open(b) as db:
        assert da.profile == db.profile and da.tags() == db.tags() and da.descriptions == db.descriptions
        assert da.overviews(1) == db.overviews(1)
        np.testing.assert_array_equal(da.read(), db.read(), err_msg=a.name)
    assert a.read_bytes() == b.read_bytes(), a.name


@pytest.fixture(scope="module")
def loop(local_server, tmp_path_factory) -> tuple[Path, fields.FieldsReport]:
    """The single-process loop's COGs of the demo patch: what every pipeline run must reproduce."""
    from local_engine import connect

    connect(local_server)
    root = tmp_path_factory.mktemp("loop")
    report = fields.embed_region(workdir=CHECKPOINT, region=REGION, year=2021, progress=False, out_dir=root / "cogs",
                                 staging_dir=root / "videos")
    return root / "cogs", report


def test_beam_pipeline_writes_the_loop_s_cogs_and_resumes(ee_local, local_server, loop, tmp_path: Path) -> None:
    common = dict(workdir=CHECKPOINT, region=REGION, year=2021, progress=False)
    loop_dir, loop = loop
    connection = EngineConnection("local", url=local_server.url, token=local_server.token)
    run = dict(out_dir=tmp_path / "beam", staging_dir=tmp_path / "beam-videos", runner="direct", max_workers=2,
               connection=connection, **common)
    piped = fields.embed_region(**run)

    names = sorted(Path(p).name for p in loop.written)
    assert len(names) == 6 and sorted(Path(p).name for p in piped.written) == names
    assert sorted(p.name for p in (tmp_path / "beam").glob("*.tif")) == names
    for name in names:
        _assert_same_cog(tmp_path / "beam" / name, loop_dir / name)
    assert piped.pixels == loop.pixels and piped.empty == loop.empty

    # A run that lost two tiles: the re-run writes exactly those, the same bytes, and leaves the rest untouched.
    for name in names[:2]:
        (tmp_path / "beam" / name).unlink()
    stamps = {name: (tmp_path / "beam" / name).stat().st_mtime_ns for name in names[2:]}
    again = fields.embed_region(**run)
    assert sorted(Path(p).name for p in again.written) == names[:2] and len(again.skipped) == 4
    assert {name: (tmp_path / "beam" / name).stat().st_mtime_ns for name in names[2:]} == stamps
    for name in names:
        _assert_same_cog(tmp_path / "beam" / name, loop_dir / name)
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


def test_killed_pipeline_resumes_without_duplicates_or_losses(ee_local, local_server, loop, tmp_path: Path) -> None:
    """SIGKILL once two of the six tiles are written; the re-run writes the other four, and the folder then holds
    exactly the loop's files, byte for byte (no temporaries, nothing twice)."""
    loop_dir, _ = loop
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
        _assert_same_cog(out / name, loop_dir / name)
