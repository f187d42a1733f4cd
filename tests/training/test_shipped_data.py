"""The shipped model's training videos, built from the repository's real data, against the files they come from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from aef_ee.demo.belgium_cube import cube_video
from aef_ee.paths import data_dir
from aef_ee.videos.format import VideoDataset
from aef_ee_training.shipped_data import MODEL_S2_BANDS, bigearthnet_sites, cube_sites, write_shipped_data


def test_cube_sites_are_windows_of_the_cube() -> None:
    cube = cube_video()
    sites = cube_sites()
    assert len(sites) == 25 and len({s.site_id for s in sites}) == 25
    last = sites[-1]  # offset (52, 52)
    np.testing.assert_array_equal(last.sources["s2"].frames, cube.sources["s2"].frames[:, 52:100, 52:100])
    np.testing.assert_array_equal(last.sources["dem"].frames, cube.sources["dem"].frames[:, 52:100, 52:100])
    assert last.transform[2] == cube.transform[2] + 520.0 and last.transform[5] == cube.transform[5] - 520.0


def test_bigearthnet_sites_read_the_patches_and_pair_sentinel_1() -> None:
    sites = bigearthnet_sites()
    assert len(sites) == 6
    root = data_dir() / "bigearthnet_examples"
    site = next(s for s in sites if s.site_id.endswith("S2A_MSIL2A_20170613T101031_87_48"))
    patch = root / "BigEarthNet-S2-Example" / "S2A_MSIL2A_20170613T101031_87_48"
    s2 = site.sources["s2"]
    assert s2.frames.shape == (1, 120, 120, len(MODEL_S2_BANDS)) and s2.bands == MODEL_S2_BANDS
    with rasterio.open(patch / "S2A_MSIL2A_20170613T101031_87_48_B05.tif") as src:  # 20 m: 60 x 60
        b5 = src.read(1) / 1e4
    b = MODEL_S2_BANDS.index("B5")
    np.testing.assert_allclose(s2.frames[0, 2 * 7, 2 * 9 + 1, b], b5[7, 9], rtol=1e-6)  # each 20 m pixel -> 2 x 2
    # The S1 patch of the same tile, row and column, values unchanged (dB)
    s1_dir = root / "BigEarthNet-S1-Example" / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
    with rasterio.open(s1_dir / f"{s1_dir.name}_VH.tif") as src:
        np.testing.assert_array_equal(site.sources["s1"].frames[0, ..., 1], src.read(1))
    assert site.crs == "EPSG:32633"
    meta = json.loads((patch / "S2A_MSIL2A_20170613T101031_87_48_labels_metadata.json").read_text())
    assert site.properties["labels"] == meta["labels"]
    start, end = site.period_ms
    assert start < int(s2.timestamps_ms[0]) < end and end - start == 300 * 86_400_000


def test_written_dataset_mixes_sources(tmp_path: Path) -> None:
    counts = write_shipped_data(tmp_path / "videos")
    assert counts == {"cube": 25, "slovenia": 25, "bigearthnet": 6}
    dataset = VideoDataset(tmp_path / "videos")
    assert len(dataset) == 56
    kinds = {tuple(sorted(dataset[i].sources)) for i in range(len(dataset))}
    # the cube has all four sources, Slovenia S2 only, BigEarthNet S2 + S1
    assert kinds == {("dem", "era5", "s1", "s2"), ("s2",), ("s1", "s2")}
