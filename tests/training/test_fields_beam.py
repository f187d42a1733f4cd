"""The embedding-field pipeline on Beam's local runner writes the loop's COGs, byte for byte, and resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee_training import fields

beam = pytest.importorskip(
    "apache_beam", reason="the embedding-field pipeline needs apache-beam (pip install apache-beam)")

from aef_ee.videos.export.beam import EngineConnection  # noqa: E402
from aef_ee_training.fields_beam import embed_region_beam  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[2] / "training" / "checkpoints" / "tiny-belgium"
REGION = (5.3189, 50.6289, 5.3334, 50.6375)  # the demo patch: 6 tiles of 64 px


def _assert_same_cog(a: Path, b: Path) -> None:
    with rasterio.open(a) as da, rasterio.open(b) as db:
        assert da.profile == db.profile and da.tags() == db.tags() and da.descriptions == db.descriptions
        assert da.overviews(1) == db.overviews(1)
        np.testing.assert_array_equal(da.read(), db.read(), err_msg=a.name)
    assert a.read_bytes() == b.read_bytes(), a.name


def test_beam_pipeline_writes_the_loop_s_cogs_and_resumes(ee_local, local_server, tmp_path: Path) -> None:
    common = dict(workdir=CHECKPOINT, region=REGION, year=2021, progress=False)
    loop = fields.embed_region(out_dir=tmp_path / "loop", staging_dir=tmp_path / "loop-videos", **common)
    connection = EngineConnection("local", url=local_server.url, token=local_server.token)
    run = dict(out_dir=tmp_path / "beam", staging_dir=tmp_path / "beam-videos", runner="direct", max_workers=2,
               connection=connection, **common)
    piped = embed_region_beam(**run)

    names = sorted(p.name for p in loop.written)
    assert len(names) == 6 and sorted(p.name for p in piped.written) == names
    assert sorted(p.name for p in (tmp_path / "beam").glob("*.tif")) == names
    for name in names:
        _assert_same_cog(tmp_path / "beam" / name, tmp_path / "loop" / name)
    assert piped.pixels == loop.pixels and piped.empty == loop.empty

    # A run that lost two tiles: the re-run writes exactly those, the same bytes, and leaves the rest untouched.
    for name in names[:2]:
        (tmp_path / "beam" / name).unlink()
    stamps = {name: (tmp_path / "beam" / name).stat().st_mtime_ns for name in names[2:]}
    again = embed_region_beam(**run)
    assert sorted(p.name for p in again.written) == names[:2] and len(again.skipped) == 4
    assert {name: (tmp_path / "beam" / name).stat().st_mtime_ns for name in names[2:]} == stamps
    for name in names:
        _assert_same_cog(tmp_path / "beam" / name, tmp_path / "loop" / name)
    assert embed_region_beam(**run).written == []  # finished: a no-op
