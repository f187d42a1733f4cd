"""Reading Earth Engine GeoTIFF exports with frames flattened into bands (a real CropHarvest export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee.videos import sources as registry
from aef_ee.errors import ExportError
from aef_ee.videos.export.geotiff import read_site_bands, suffixed_band_map, video_from_suffixed_geotiff
from aef_ee.videos.sites import Site, parse_period
from aef_ee.videos.sources import Band, Source
from aef_ee.videos.format import VideoDataset, VideoWriter

TOGO = Path(__file__).resolve().parents[3] / "data/cropharvest_togo/98-togo_2019-02-06_2020-02-01.tif"
DAY_MS = 86_400_000


def _site() -> Site:
    with rasterio.open(TOGO) as src:
        a, _, c, _, _, f = src.transform[:6]
        assert src.width == src.height == 17
    return Site(4326, c, f, 17, a, parse_period("2019-02-06", "2020-02-01"))


def test_suffixed_band_map_reads_ee_deduplicated_names() -> None:
    names = ["VV", "VH", "B11", "VV_1", "B11_1", "temperature_2m", "temperature_2m_11", "total_precipitation_3",
             "slope"]
    mapping = suffixed_band_map(names, {"VV": ("s1", "VV"), "B11": ("s2_l1c", "B11"),
                                        "temperature_2m": ("era5", "temperature_2m"),
                                        "total_precipitation": ("era5", "total_precipitation_sum")})
    assert mapping == {
        "VV": "s1__0000__b__VV", "VV_1": "s1__0001__b__VV", "B11": "s2_l1c__0000__b__B11",
        "B11_1": "s2_l1c__0001__b__B11", "temperature_2m": "era5__0000__b__temperature_2m",
        "temperature_2m_11": "era5__0011__b__temperature_2m",
        "total_precipitation_3": "era5__0003__b__total_precipitation_sum",
    }


def test_cropharvest_export_to_video_and_shards(tmp_path: Path) -> None:
    terrain = Source(name="test_terrain", collections=("COPERNICUS/DEM/GLO30",), resolution_m=30.0, role="target",
                     static=True, bands=(Band("elevation", unit="m"), Band("slope", unit="deg")))
    l1c = registry.get_source("s2_l1c")
    bands = {"VV": ("s1", "VV"), "VH": ("s1", "VH"), "temperature_2m": ("era5", "temperature_2m"),
             "total_precipitation": ("era5", "total_precipitation_sum"),
             "elevation": ("test_terrain", "elevation"), "slope": ("test_terrain", "slope")}
    bands.update({b: ("s2_l1c", b) for b in l1c.band_names})
    era5 = registry.get_source("era5").select(["temperature_2m", "total_precipitation_sum"])
    srcs = {"s1": registry.get_source("s1"), "s2_l1c": l1c, "era5": era5, "test_terrain": terrain}
    start = parse_period("2019-02-06", "2019-02-07")[0]
    monthly = [start + k * 30 * DAY_MS for k in range(12)]
    times = {"s1": monthly, "s2_l1c": monthly, "era5": monthly, "test_terrain": [start]}
    site = _site()
    video = video_from_suffixed_geotiff(str(TOGO), site, bands, srcs, times)

    with rasterio.open(TOGO) as src:
        raw = src.read().astype(np.float64)
        desc = list(src.descriptions)
    s2 = video.sources["s2_l1c"]
    assert s2.frames.shape == (12, 17, 17, 13) and s2.bands == l1c.band_names
    for k in (0, 5, 11):
        suffix = "" if k == 0 else f"_{k}"
        np.testing.assert_allclose(s2.frames[k, ..., l1c.band_names.index("B4")],
                                   raw[desc.index("B4" + suffix)] * 1e-4, rtol=1e-6)
        np.testing.assert_allclose(video.sources["s1"].frames[k, ..., 1], raw[desc.index("VH" + suffix)], rtol=1e-6)
        np.testing.assert_allclose(video.sources["era5"].frames[k, ..., 0], raw[desc.index("temperature_2m" + suffix)],
                                   rtol=1e-6)
    assert s2.mask.all() and video.sources["s1"].mask.all()
    terrain_frames = video.sources["test_terrain"]
    assert terrain_frames.num_frames == 1
    slope = raw[desc.index("slope")]
    # The mask marks exactly the NaN (masked) slope pixels of the export.
    np.testing.assert_array_equal(terrain_frames.mask[0], np.isfinite(slope))
    assert 0 < (~terrain_frames.mask[0]).sum() < 17 * 17
    ok = terrain_frames.mask[0]
    np.testing.assert_allclose(terrain_frames.frames[0, ..., 0][ok], raw[desc.index("elevation")][ok])

    with VideoWriter(tmp_path / "togo") as writer:
        writer.write(video)
    back = VideoDataset(tmp_path / "togo")[0]
    np.testing.assert_array_equal(back.sources["s2_l1c"].frames, s2.frames)
    np.testing.assert_array_equal(back.sources["s2_l1c"].timestamps_ms, monthly)


def test_site_off_the_file_grid_is_refused() -> None:
    site = _site()
    shifted = Site(site.epsg, site.x0 + site.resolution_m / 3, site.y0, 17, site.resolution_m, site.period_ms)
    with pytest.raises(ExportError, match="not on the file's pixel grid"):
        read_site_bands([str(TOGO)], shifted, ["VV"])
    bigger = Site(site.epsg, site.x0, site.y0, 20, site.resolution_m, site.period_ms)
    vv = read_site_bands([str(TOGO)], bigger, ["VV"])["VV"]
    assert np.isfinite(vv[:17, :17]).all() and np.isnan(vv[17:]).all() and np.isnan(vv[:, 17:]).all()


def test_split_export_files_are_pasted_together(tmp_path: Path) -> None:
    """Earth Engine splits large exports into files tiling the region; a site spanning them reads whole."""
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    site = _site()
    with rasterio.open(TOGO) as src:
        full = src.read().astype(np.float32)
        names = list(src.descriptions)
        parts = []
        for k, (r0, c0, h, w) in enumerate([(0, 0, 9, 17), (9, 0, 8, 10), (9, 10, 8, 7)]):
            path = tmp_path / f"togo-{k:010d}-0000000000.tif"
            profile = {**src.profile, "height": h, "width": w, "tiled": False,
                       "transform": window_transform(Window(c0, r0, w, h), src.transform)}
            profile.pop("blockxsize", None)
            profile.pop("blockysize", None)
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(src.read(window=Window(c0, r0, w, h)))
                for i, name in enumerate(names, start=1):
                    dst.set_band_description(i, name)
            parts.append(str(path))
    arrays = read_site_bands(parts, site, ["VV", "B4_5", "elevation"])
    for name in ("VV", "B4_5", "elevation"):
        np.testing.assert_array_equal(arrays[name], full[names.index(name)])
