"""Embedding COGs: int8 codes of the public dataset, re-normalised-mean overviews, tags, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee.fields.cog import renormalised_mean_pyramid, write_embedding_cog
from aef_ee.fields.collection import EMBEDDING_BANDS, dequantize_array, quantize_array
from aef_ee.errors import AefValueError


def _unit_field(h, w, seed=0):
    rng = np.random.default_rng(seed)
    field = rng.standard_normal((h, w, 64)).astype(np.float32)
    return field / np.linalg.norm(field, axis=-1, keepdims=True)


def test_pyramid_is_renormalised_block_means():
    field = _unit_field(130, 70)
    field[0, 0] = np.nan
    levels = renormalised_mean_pyramid(field, min_size=32)
    assert [lv.shape[:2] for lv in levels] == [(65, 35), (33, 18), (17, 9)]
    block = np.nanmean(field[0:2, 0:2].reshape(-1, 64), axis=0)  # three valid vectors
    np.testing.assert_allclose(levels[0][0, 0], block / np.linalg.norm(block), rtol=1e-5)
    edge = field[128:130, 68:70].reshape(-1, 64).mean(axis=0)
    np.testing.assert_allclose(levels[0][64, 34], edge / np.linalg.norm(edge), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(levels[1], axis=-1), 1.0, rtol=1e-5)


def test_quantisation_round_trip_is_the_public_formula():
    v = np.array([-1.0, -0.25, -1e-4, 0.0, 1e-4, 0.04, 0.5, 1.0, np.nan])
    q = quantize_array(v)
    np.testing.assert_array_equal(q, [-127, -64, -1, 0, 1, 26, 90, 127, -128])
    back = dequantize_array(q)
    np.testing.assert_allclose(back[:-1], np.sign(q[:-1]) * (q[:-1] / 127.5) ** 2, rtol=1e-6)
    assert np.isnan(back[-1])


@pytest.mark.parametrize("quantize", [True, False])
def test_cog_layout_values_and_tags(tmp_path, quantize):
    field = _unit_field(300, 200, seed=1)
    field[:4, :4] = np.nan
    path = write_embedding_cog(tmp_path / "tile.tif", field, transform=(10, 0, 600000, 0, -10, 5600000),
                               crs="EPSG:32631", tags={"UTM_ZONE": "31N"}, quantize=quantize)
    assert [p.name for p in tmp_path.iterdir()] == ["tile.tif"]  # no temporary files left
    with rasterio.open(path) as ds:
        assert ds.count == 64 and ds.descriptions == tuple(EMBEDDING_BANDS)
        assert ds.dtypes[0] == ("int8" if quantize else "float32")
        assert ds.overviews(1) == [2, 4, 8]
        assert ds.is_tiled and ds.tags()["UTM_ZONE"] == "31N"
        assert ds.crs.to_epsg() == 32631 and tuple(ds.transform)[:6] == (10, 0, 600000, 0, -10, 5600000)
        full = ds.read().transpose(1, 2, 0)
        overview = ds.read(out_shape=(64, 150, 100)).transpose(1, 2, 0)
    levels = renormalised_mean_pyramid(field)
    if quantize:
        np.testing.assert_array_equal(full, quantize_array(field))
        np.testing.assert_array_equal(overview, quantize_array(levels[0]))
        assert (full[:4, :4] == -128).all()
    else:
        np.testing.assert_array_equal(full, field)
        np.testing.assert_array_equal(overview, levels[0])


def test_bad_shape_is_refused(tmp_path):
    with pytest.raises(AefValueError, match=r"\(H, W, 64\)"):
        write_embedding_cog(tmp_path / "x.tif", np.zeros((4, 4, 3)), transform=(10, 0, 0, 0, -10, 0),
                            crs="EPSG:32631")


def test_a_resuming_job_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    """A COG writer killed mid-way leaves its level folder and the final copy's temporary; remove_temporaries takes
    exactly those and leaves finished files and other names alone."""
    from aef_ee.atomic import TEMP_PREFIX, remove_temporaries
    from aef_ee.fields.cog import COG_TEMP_PREFIX

    (tmp_path / f"{COG_TEMP_PREFIX}abc123").mkdir()
    (tmp_path / f"{COG_TEMP_PREFIX}abc123" / "level0.tif").write_bytes(b"half")
    (tmp_path / f"{TEMP_PREFIX}tile-1a2b.tif").write_bytes(b"half")
    (tmp_path / "tile.tif").write_bytes(b"done")
    (tmp_path / ".keep").write_text("")
    removed = remove_temporaries(tmp_path, (TEMP_PREFIX, COG_TEMP_PREFIX))
    assert removed == sorted([f"{COG_TEMP_PREFIX}abc123", f"{TEMP_PREFIX}tile-1a2b.tif"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", "tile.tif"]
    assert remove_temporaries(tmp_path / "missing") == []
