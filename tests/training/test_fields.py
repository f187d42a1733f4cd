"""Embedding fields from the shipped tiny checkpoint over the demo patch: COGs, resume after a kill, no-op re-run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee.fields.collection import EMBEDDING_BANDS, dequantize_array
from aef_ee.fields.quality import period2_energy, seam_ratio
from aef_ee_training import field_tiles, fields
from aef_ee_training.errors import TrainingError

CHECKPOINT = Path(__file__).resolve().parents[2] / "training" / "checkpoints" / "tiny-belgium"
REGION = (5.3189, 50.6289, 5.3334, 50.6375)
# Issue 13's targets, asserted as they are. Measured with the shipped checkpoint (step 1200, 2 Dec 2026): 0.94 at the
# tile borders and 1.07 at the model's L-pixel windows by `aef-ee embed` (the step-100 checkpoint: 1.116; the old
# model's 32 px windows without overlap-and-blend: 2.1-2.2), period-2 energy below 0.0001.
SEAM_TARGET = 1.1
PERIOD2_TARGET = 0.001


def test_plan_tiles_snaps_to_the_utm_core_grid():
    tiles = field_tiles.plan_tiles(REGION, 2021, core=64, margin=16)
    assert {t.epsg for t in tiles} == {32631}
    assert all(t.core_x0 % 640 == 0 and t.core_y0 % 640 == 0 for t in tiles)
    site = tiles[0].input_site()
    assert site.size == 96 and site.x0 == tiles[0].core_x0 - 160 and site.y0 == tiles[0].core_y0 + 160
    with pytest.raises(TrainingError, match="west < east"):
        field_tiles.plan_tiles((5.4, 50.6, 5.3, 50.7), 2021, core=64, margin=16)


def test_quality_figures_are_skipped_for_a_mosaic_too_large_to_hold():
    # 64 px cores: two neighbours make a 64 x 128 mosaic; two tiles 4096 cores apart would span 64 x 262 208 px,
    # over MAX_MOSAIC_PIXELS, so their fields are neither kept nor read back.
    step = 640.0
    assert fields._measurable([(0.0, step), (step, step)], 64)
    assert fields._mosaic_grid([(0.0, step), (step, step)], 64)[2] == (64, 128)
    assert not fields._measurable([(0.0, step), (4096 * step, step)], 64)
    assert not fields._measurable([], 64)


def test_embed_region_resumes_after_a_kill_and_reruns_as_a_no_op(ee_local, tmp_path, monkeypatch):
    # The checkpoint's inference.json gives the config and the statistics: no training data.
    kwargs = dict(workdir=CHECKPOINT, region=REGION, year=2021, out_dir=tmp_path / "fields",
                  staging_dir=tmp_path / "videos", progress=False)
    real_write = field_tiles.write_embedding_cog
    calls = {"n": 0}

    def dying_write(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed half-way")
        return real_write(*args, **kw)

    monkeypatch.setattr(field_tiles, "write_embedding_cog", dying_write)
    with pytest.raises(KeyboardInterrupt):
        fields.embed_region(**kwargs)
    first = sorted((tmp_path / "fields").glob("*.tif"))
    assert len(first) == 2
    stamps = {p.name: p.stat().st_mtime_ns for p in first}
    monkeypatch.setattr(field_tiles, "write_embedding_cog", real_write)
    report = fields.embed_region(**kwargs)
    assert len(report.skipped) == 2 and len(report.written) == 4
    assert {p.name: p.stat().st_mtime_ns for p in first} == stamps  # finished tiles untouched
    again = fields.embed_region(**kwargs)
    assert again.written == [] and len(again.skipped) == 6
    total_valid = 0
    mosaic = {}
    for path in sorted((tmp_path / "fields").glob("*.tif")):
        with rasterio.open(path) as ds:
            mosaic[(ds.transform.c, ds.transform.f)] = dequantize_array(ds.read().transpose(1, 2, 0))
            assert ds.count == 64 and ds.descriptions == tuple(EMBEDDING_BANDS) and ds.dtypes[0] == "int8"
            assert ds.crs.to_epsg() == 32631 and ds.res == (10.0, 10.0) and (ds.width, ds.height) == (64, 64)
            assert ds.tags()["UTM_ZONE"] == "31N" and ds.tags()["TIME_START_MS"] == "1609459200000"
            values = dequantize_array(ds.read().transpose(1, 2, 0))
        valid = np.isfinite(values[..., 0])
        total_valid += int(valid.sum())
        norms = np.linalg.norm(values[valid], axis=-1)
        assert np.abs(norms - 1).max() < 0.05  # unit vectors up to int8 quantisation
    # The observed pixels are exactly the 1 km x 1 km demo patch (100 x 100 px), wherever the tiles cut it.
    assert 9500 <= total_valid <= 10000, total_valid
    # No seams at the tile borders and no checkerboard.
    xs, ys = sorted({x for x, _ in mosaic}), sorted({y for _, y in mosaic}, reverse=True)
    field = np.concatenate([np.concatenate([mosaic[(x, y)] for x in xs], axis=1) for y in ys], axis=0)
    assert seam_ratio(field, 64) <= SEAM_TARGET
    assert period2_energy(field) <= PERIOD2_TARGET


def test_the_loop_writes_to_cloud_storage_and_uploads_what_a_kill_left(ee_local, loop_fields, tmp_path,
                                                                        monkeypatch):
    """gs:// output (a Cloud Storage emulator): a run killed after writing its third COG and before uploading it;
    the re-run uploads that one, writes the other three, and the bucket then holds the loop's files byte for byte."""
    from demo_fields import assert_same_cog
    from gcs_emulator import gcs_emulator

    from aef_ee.fields.output import FieldsOutput

    loop_dir, _ = loop_fields
    kwargs = dict(workdir=CHECKPOINT, region=REGION, year=2021, out_dir="gs://fields/loop",
                  staging_dir=tmp_path / "videos", progress=False)
    monkeypatch.setenv("AEF_EE_CACHE", str(tmp_path / "cache"))
    real_publish = FieldsOutput.publish
    calls = {"n": 0}

    def dying_publish(self, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed between the write and the upload")
        return real_publish(self, path)

    with gcs_emulator("fields") as gcs:
        monkeypatch.setattr(FieldsOutput, "publish", dying_publish)
        with pytest.raises(KeyboardInterrupt):
            fields.embed_region(**kwargs)
        assert len(list(gcs.list_blobs("fields"))) == 2
        pending = list((tmp_path / "cache").rglob("*.tif"))
        assert len(pending) == 1
        monkeypatch.setattr(FieldsOutput, "publish", real_publish)
        report = fields.embed_region(**kwargs)
        assert len(report.skipped) == 3 and len(report.written) == 3  # two uploaded, one uploaded now; three new
        assert f"gs://fields/loop/{pending[0].name}" in report.skipped
        names = sorted(p.name for p in loop_dir.glob("*.tif"))
        assert sorted(b.name for b in gcs.list_blobs("fields")) == [f"loop/{n}" for n in names]
        for name in names:
            gcs.bucket("fields").blob(f"loop/{name}").download_to_filename(str(tmp_path / name))
            assert_same_cog(tmp_path / name, loop_dir / name)
