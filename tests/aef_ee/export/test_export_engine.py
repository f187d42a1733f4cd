"""End to end through the real earthengine-api client and the local Earth Engine over HTTP (demo catalog).

- The interactive path (computePixels) and the batch path (Export.image.toCloudStorage + conversion) yield
  identical shards over the Belgium and BigEarthNet areas.
- Both equal the reference built from the catalog's files with numpy (itself checked against the files in
  test_export_files.py), and shard values equal the files after the documented scaling.
- Killing an export half-way and restarting it writes every site exactly once.
- The trainer's readers (VideoDataset, grain's ArrayRecordDataSource) load the shards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from export_helpers import belgium_sites, bigearthnet_sites, image_manifest, read_window

from aef_ee.videos import sources as registry
from aef_ee.errors import NoDataError, SiteError, UnknownSourceError
from aef_ee.videos.export import (ExportOptions, ExportRequest, SiteSampling, convert_batch, export_interactive,
                                  export_videos, submit_batch)
from aef_ee.videos.export.files import CatalogFilesBackend
from aef_ee.videos.export.interactive import EarthEngineBackend
from aef_ee.videos.export.storage import LocalBucketStore
from aef_ee.videos.sources import BitmaskQuality, S2CloudMask, ValueSetQuality
from aef_ee.videos.format import VideoDataset, decode_site


@pytest.fixture()
def catalog(demo_catalog_dir: Path) -> Path:
    return demo_catalog_dir


def _same(a: Path, b: Path, *, properties: bool = True, rtol: float = 0.0) -> int:
    """Asserts two datasets hold the same sites with identical videos (values within ``rtol``); returns the
    number of frames."""
    da, db = VideoDataset(a), VideoDataset(b)
    assert sorted(da.site_ids) == sorted(db.site_ids)
    index_b = {sid: i for i, sid in enumerate(db.site_ids)}
    frames = 0
    for i, sid in enumerate(da.site_ids):
        va, vb = da[i], db[index_b[sid]]
        assert va.sources.keys() == vb.sources.keys(), sid
        for name in va.sources:
            sa, sb = va.sources[name], vb.sources[name]
            np.testing.assert_array_equal(sa.timestamps_ms, sb.timestamps_ms, err_msg=f"{sid} {name}")
            np.testing.assert_array_equal(sa.mask, sb.mask, err_msg=f"{sid} {name}")
            if rtol:
                np.testing.assert_allclose(sa.frames, sb.frames, rtol=rtol, err_msg=f"{sid} {name}")
            else:
                np.testing.assert_array_equal(sa.frames, sb.frames, err_msg=f"{sid} {name}")
            frames += sa.num_frames
        assert (va.crs, va.transform, va.period_ms) == (vb.crs, vb.transform, vb.period_ms)
        if properties:
            assert va.properties == vb.properties
    return frames


AREAS = {
    "belgium": (lambda catalog: belgium_sites(), ("s2", "s1", "era5", "dem")),
    "bigearthnet": (lambda catalog: bigearthnet_sites(catalog), ("s2", "s1")),
}


@pytest.mark.parametrize("area", sorted(AREAS))
def test_interactive_and_batch_paths_yield_identical_shards(area: str, ee_local, local_server, catalog: Path,
                                                            tmp_path: Path) -> None:
    make_sites, names = AREAS[area]
    sites = make_sites(catalog)
    request = ExportRequest(sources=names)
    # The same tiles in both paths: sites are written tile by tile, so the shards hold them in the same order.
    interactive = export_interactive(sites, request, tmp_path / "interactive", max_workers=4, tile_size=2,
                                     sites_per_shard=3, progress=False)
    assert interactive.sites_written == len(sites)

    bucket_root = Path(local_server.settings["bucket_dir"])
    store = LocalBucketStore(bucket_root)
    started = submit_batch(sites, request, tmp_path / "batch", bucket="aef-test", prefix=f"{area}/{tmp_path.name}",
                           store=store, tile_size=2, max_concurrent_tasks=2, poll_s=0.2, progress=False)
    assert started.tiles_started == started.tiles_total > 0 and started.tiles_active == 0
    converted = convert_batch(tmp_path / "batch", store=store, sites_per_shard=3, progress=False)
    assert converted.sites_written == len(sites)

    frames = _same(tmp_path / "interactive", tmp_path / "batch")
    assert frames == interactive.frames_written == converted.frames_written
    # Identical shards, byte for byte, and the same index (site order, normalisation statistics).
    shards = sorted(p.name for p in (tmp_path / "interactive").glob("shard-*.array_record"))
    assert shards == sorted(p.name for p in (tmp_path / "batch").glob("shard-*.array_record")) and shards
    for name in shards + ["index.json"]:
        assert (tmp_path / "interactive" / name).read_bytes() == (tmp_path / "batch" / name).read_bytes(), name
    # The reference from the files (numpy decoding and masking) holds the same pixels; its frame metadata may
    # list fewer images per composite (it filters footprints locally), so properties are not compared.
    export_interactive(sites, request, tmp_path / "files", backend=CatalogFilesBackend(catalog), progress=False)
    _same(tmp_path / "interactive", tmp_path / "files", properties=False)


def test_shard_values_equal_the_files_after_scaling(ee_local, catalog: Path, tmp_path: Path) -> None:
    sites = belgium_sites()[:1] + bigearthnet_sites(catalog)[:2]
    export_interactive(sites, ExportRequest(sources=("s2",)), tmp_path / "v", progress=False)
    by_id = {s.site_id: s for s in sites}
    for video in VideoDataset(tmp_path / "v"):
        site = by_id[video.site_id]
        s2 = video.sources["s2"]
        for k, meta in enumerate(video.properties["frames"]["s2"]):
            (image_id,) = meta["images"]
            manifest = image_manifest(catalog, image_id)
            folder = (catalog / image_id).parent
            raw = {b["id"]: read_window(folder / b["path"], b["band"], site, b["nodata"]) for b in manifest["bands"]}
            nodata = {b["id"]: b["nodata"] for b in manifest["bands"]}
            present = [b for b in s2.bands if b in raw]
            expected_mask = np.all([raw[b] != nodata[b] for b in present], axis=0)
            np.testing.assert_array_equal(s2.mask[k], expected_mask)
            for band in present:
                c = s2.bands.index(band)
                np.testing.assert_allclose(s2.frames[k, ..., c][expected_mask], raw[band][expected_mask] * 1e-4,
                                           rtol=1e-6)
            assert np.all(s2.frames[k][~expected_mask] == 0)


def test_composites_through_the_engine_equal_numpy_reducers(ee_local, catalog: Path, tmp_path: Path) -> None:
    sites = belgium_sites()[:2]
    for reducer in ("median", "mosaic"):
        request = ExportRequest(sources=("s2", "s1"), layout="composites", composite="61d", reducer=reducer)
        export_interactive(sites, request, tmp_path / f"ee-{reducer}", progress=False)
        export_interactive(sites, request, tmp_path / f"np-{reducer}", backend=CatalogFilesBackend(catalog),
                           progress=False)
        # The engine reduces in float32 where numpy works in float64: one ulp apart at most.
        _same(tmp_path / f"ee-{reducer}", tmp_path / f"np-{reducer}", properties=False, rtol=1e-6)
        video = VideoDataset(tmp_path / f"ee-{reducer}")[0]
        assert video.sources["s1"].num_frames == 6  # 365 days in 61-day bins


class _Interrupt(RuntimeError):
    pass


class _DyingBackend(EarthEngineBackend):
    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.fail_at = fail_at

    def fetch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_at:
            raise _Interrupt("killed half-way")
        return super().fetch(*args, **kwargs)


def test_killed_export_restarts_and_writes_every_site_once(ee_local, catalog: Path, tmp_path: Path) -> None:
    sites = belgium_sites() + bigearthnet_sites(catalog)[:2]
    request = ExportRequest(sources=("s2", "s1"))
    with pytest.raises(_Interrupt):
        export_interactive(sites, request, tmp_path / "k", backend=_DyingBackend(len(sites) // 2), max_workers=1,
                           sites_per_shard=2, progress=False)
    before = VideoDataset(tmp_path / "k").site_ids
    assert 0 < len(before) < len(sites)
    result = export_interactive(sites, request, tmp_path / "k", sites_per_shard=2, progress=False)
    assert result.sites_skipped == len(before) and result.sites_written == len(sites) - len(before)
    after = VideoDataset(tmp_path / "k").site_ids
    assert sorted(after) == sorted(s.site_id for s in sites) and len(after) == len(set(after))
    export_interactive(sites, request, tmp_path / "ref", progress=False)
    _same(tmp_path / "k", tmp_path / "ref")


def test_trainer_readers_load_the_shards(ee_local, tmp_path: Path) -> None:
    import grain.python as grain

    export_interactive(belgium_sites(), ExportRequest(sources=("s2", "s1", "dem")), tmp_path / "d",
                       sites_per_shard=3, progress=False)
    ds = VideoDataset(tmp_path / "d")
    assert len(ds) == 8 and len(ds.shard_paths) == 3 and ds.sources == ["s2", "s1", "dem"]
    source = grain.ArrayRecordDataSource(ds.shard_paths)
    assert len(source) == len(ds)
    for i in range(len(ds)):
        video = decode_site(source[i])
        assert video.site_id == ds.site_ids[i]
        assert video.sources["s2"].frames.shape[1:] == (32, 32, 10)
    # Stats are of the normalised values: optical log1p(reflectance x 1e4), SAR dB standardised.
    s1 = ds.stats["s1"]
    assert s1["bands"] == ["VV", "VH"] and all(-3 < m < 3 for m in s1["mean"])
    assert 5.0 < ds.stats["s2"]["mean"][0] < 9.0


def _pixel(image, ee) -> list[float]:  # type: ignore[no-untyped-def]
    grid = {"crsCode": "EPSG:4326", "affineTransform": {"scaleX": 1e-4, "shearX": 0, "translateX": 0,
                                                        "shearY": 0, "scaleY": -1e-4, "translateY": 0},
            "dimensions": {"width": 1, "height": 1}}
    out = ee.data.computePixels({"expression": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})
    return [float(out[name][0, 0]) for name in out.dtype.names]


def test_ee_expressions_agree_with_numpy(ee_local) -> None:
    """The registry's server-side scaling and masks compute what its numpy equivalents compute."""
    ee = ee_local
    landsat = registry.get_source("landsat")
    for band, dn in ((landsat.band("SR_B4"), 7273), (landsat.band("SR_B4"), 43636), (landsat.band("ST_B10"), 44000)):
        (value,) = _pixel(band.decode_ee(ee.Image.constant(dn)).rename("v"), ee)
        np.testing.assert_allclose(value, band.decode_numpy(np.array([dn]))[0], rtol=1e-6, atol=1e-9)
    palsar = registry.get_source("palsar").band("HH")
    (value,) = _pixel(palsar.decode_ee(ee.Image.constant(3000)).rename("v"), ee)
    np.testing.assert_allclose(value, palsar.decode_numpy(np.array([3000]))[0], rtol=1e-5)
    qa = BitmaskQuality("QA_PIXEL", (0, 1, 2, 3, 4))
    for bits in (21824, 22280, 21824 | (1 << 4), 21824 | (1 << 5)):
        (value,) = _pixel(qa.to_ee(ee.Image.constant(bits).rename("QA_PIXEL"), ["QA_PIXEL"]).rename("v"), ee)
        assert bool(value) == bool(qa.to_numpy({"QA_PIXEL": np.array(bits)}, ["QA_PIXEL"]))
    scl = ValueSetQuality("SCL", (0, 1, 3, 8, 9, 10))
    for cls in (4, 9):
        (value,) = _pixel(scl.to_ee(ee.Image.constant(cls).rename("SCL"), ["SCL"]).rename("v"), ee)
        assert bool(value) == bool(scl.to_numpy({"SCL": np.array(cls)}, ["SCL"]))
    cs = S2CloudMask("cs_plus", 0.6)
    for score in (0.5, 0.7):
        (value,) = _pixel(cs.to_ee(ee.Image.constant(score).rename("cs_cdf"), ["cs_cdf"]).rename("v"), ee)
        assert bool(value) == bool(cs.to_numpy({"cs_cdf": np.array(score)}, ["cs_cdf"]))


def test_clear_errors(ee_local, tmp_path: Path) -> None:
    belgium = SiteSampling(start="2021-01-01", end="2022-01-01", region=(4.0, 50.5, 5.0, 51.0), n_sites=2)
    quiet = ExportOptions(progress=False)
    with pytest.raises(UnknownSourceError, match="'sentinel9'"):
        export_videos(tmp_path / "a", ExportRequest(sources="s2,sentinel9"), belgium, options=quiet)
    with pytest.raises(KeyError, match="'B99'"):
        export_videos(tmp_path / "b", ExportRequest(sources="s2", bands={"s2": ["B2", "B99"]}), belgium,
                      options=quiet)
    with pytest.raises(SiteError, match="outside every UTM zone"):
        export_videos(tmp_path / "c", ExportRequest(sources="s2"),
                      SiteSampling(start="2021-01-01", end="2022-01-01", features=[(10.0, 85.5)]), options=quiet)
    # The Sahara holds no demo image: a clear error, not an empty dataset.
    with pytest.raises(NoDataError, match="no|none"):
        export_videos(tmp_path / "d", ExportRequest(sources="s2,s1"),
                      SiteSampling(start="2021-01-01", end="2022-01-01", region=(5.0, 23.0, 6.0, 24.0), n_sites=2,
                                   size=16), options=quiet)


def test_cli_export_videos(local_server, catalog: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from aef_ee.cli import main

    with rasterio.open(catalog / "COPERNICUS/S2_SR_HARMONIZED/20201101_BE.tif") as src:
        from rasterio.warp import transform_bounds

        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    code = main(["export-videos", "--url", local_server.url, "--region", f"{west},{south},{east},{north}",
                 "--sources", "s2,s1,era5,dem", "--start", "2020-11-01", "--end", "2021-11-01", "--sites", "3",
                 "--site-size", "16", "--out", str(tmp_path / "cli")])
    assert code == 0
    assert "3 sites written" in capsys.readouterr().out
    ds = VideoDataset(tmp_path / "cli")
    assert len(ds) == 3 and set(ds.sources) == {"s2", "s1", "era5", "dem"}


def test_stratified_sites_from_an_ee_land_cover_image(ee_local, catalog: Path) -> None:
    from rasterio.warp import transform_bounds

    from aef_ee.videos.sites import sample_stratified_ee, year_period

    path = catalog / "projects/local/assets/slovenia_lulc_raster.tif"
    with rasterio.open(path) as src:
        lulc = src.read(1)
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        transform = src.transform
    image = ee_local.Image("projects/local/assets/slovenia_lulc_raster")
    sites = sample_stratified_ee(image, bounds, 2, period_ms=year_period(2017), scale_m=10.0, size=8)
    present = set(np.unique(lulc)) - {0}
    assert {s.properties["stratum"] for s in sites} == present
    for site in sites:
        # The stratum is the raster's class at some pixel of the site (read back from the file).
        rows, cols = rasterio.transform.rowcol(transform, [site.x0 + 5 + 10 * i for i in range(8)],
                                               [site.y0 - 5 - 10 * i for i in range(8)])
        window = lulc[max(min(rows), 0):max(rows) + 1, max(min(cols), 0):max(cols) + 1]
        assert (window == site.properties["stratum"]).any()


def test_sites_from_an_ee_feature_collection_and_geometry(ee_local, tmp_path: Path) -> None:
    """Sites from a table asset equal those from the same points read with geopandas; an ee.Geometry region works."""
    import json

    import geopandas as gpd

    from aef_ee.videos.sites import sample_uniform, sites_from_features, year_period

    gpkg = next((Path(__file__).resolve().parents[3] / "data/landsat8_brazil").glob("*points.gpkg"))
    local = sites_from_features(json.loads(gpd.read_file(gpkg).to_crs(4326).to_json()), period_ms=year_period(2020),
                                size=32, resolution_m=30.0)
    remote = sites_from_features(ee_local.FeatureCollection("projects/local/assets/brazil_label_points"),
                                 period_ms=year_period(2020), size=32, resolution_m=30.0)
    assert [s.site_id for s in remote] == [s.site_id for s in local]
    assert [s.properties["name"] for s in remote] == [s.properties["name"] for s in local]
    region = ee_local.Geometry.Rectangle([4.0, 50.5, 4.2, 50.6])
    assert [s.site_id for s in sample_uniform(region, 5, period_ms=year_period(2020))] == \
        [s.site_id for s in sample_uniform((4.0, 50.5, 4.2, 50.6), 5, period_ms=year_period(2020))]


def test_quota_errors_are_retried_with_backoff(ee_local, monkeypatch, tmp_path: Path) -> None:
    """computePixels answering 429 / "Too many concurrent aggregations" is retried; the export completes intact."""
    import aef_ee.videos.export.interactive as interactive

    real = interactive._compute_pixels
    failures = {"left": 3}

    def flaky(image, site):  # type: ignore[no-untyped-def]
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ee_local.EEException("Too many concurrent aggregations.")
        return real(image, site)

    monkeypatch.setattr(interactive, "_compute_pixels", flaky)
    sites = belgium_sites()[:3]
    request = ExportRequest(sources=("s1",))
    result = export_interactive(sites, request, tmp_path / "q", backend=EarthEngineBackend(base_delay_s=0.01),
                                max_workers=1, progress=False)
    assert failures["left"] == 0 and result.sites_written == 3
    monkeypatch.setattr(interactive, "_compute_pixels", real)
    export_interactive(sites, request, tmp_path / "ref", progress=False)
    _same(tmp_path / "q", tmp_path / "ref")
    # A permanent error is not retried: it propagates at once.
    monkeypatch.setattr(interactive, "_compute_pixels",
                        lambda image, site: (_ for _ in ()).throw(ee_local.EEException("Band 'B99' not found.")))
    with pytest.raises(ee_local.EEException, match="B99"):
        export_interactive(sites, request, tmp_path / "p", progress=False)
