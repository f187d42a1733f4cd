"""The export pipeline (planning, assembly, shards, resume) from the demo catalog's files, without an engine.

Pixel values are compared with the catalog's GeoTIFFs read independently (helpers.read_window) after the
registry's documented scaling; masks with the files' nodata.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from aef_ee.errors import ExportManifestError
from aef_ee.videos.export import ExportRequest, export_interactive
from aef_ee.videos.export.files import CatalogFilesBackend, reduce_frames
from aef_ee.videos.format import VideoDataset

from export_helpers import BELGIUM_PERIOD, belgium_sites, bigearthnet_sites, image_manifest, read_window


@pytest.fixture()
def catalog(demo_catalog_dir: Path) -> Path:
    """The demo catalog (built once per session by tests/conftest.py)."""
    return demo_catalog_dir

S2_BELGIUM = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12")  # the cube has no B8A


def _belgium_image(catalog: Path, collection: str, t_ms: int) -> tuple[str, dict]:
    import datetime as dt

    day = dt.datetime.fromtimestamp(t_ms / 1000, dt.timezone.utc)
    image_id = f"{collection}/{day:%Y%m}" if "ERA5" in collection else f"{collection}/{day:%Y%m%d}_BE"
    return image_id, image_manifest(catalog, image_id)


def test_belgium_acquisitions_match_the_files(catalog: Path, tmp_path: Path) -> None:
    request = ExportRequest(sources=("s2", "s1", "era5", "dem"), bands={"era5": ("temperature_2m",
                                                                                   "total_precipitation_sum")})
    sites = belgium_sites()
    result = export_interactive(sites, request, tmp_path / "out", backend=CatalogFilesBackend(catalog),
                                max_workers=2, sites_per_shard=3, progress=False)
    assert result.sites_written == len(sites) and result.sites_empty == 0
    ds = VideoDataset(tmp_path / "out")
    assert sorted(ds.site_ids) == sorted(s.site_id for s in sites)
    by_id = {s.site_id: s for s in sites}
    checked_masked = 0
    for video in ds:
        site = by_id[video.site_id]
        assert video.crs == "EPSG:32631" and video.transform == site.transform
        s2 = video.sources["s2"]
        assert s2.bands == ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
        assert np.all(np.diff(s2.timestamps_ms) > 0) and BELGIUM_PERIOD[0] <= s2.timestamps_ms[0]
        for t, frame, mask in zip(s2.timestamps_ms, s2.frames, s2.mask):
            image_id, manifest = _belgium_image(catalog, "COPERNICUS/S2_SR_HARMONIZED", int(t))
            path = catalog / "COPERNICUS/S2_SR_HARMONIZED" / manifest["bands"][0]["path"]
            raw = np.stack([read_window(path, i + 1, site, 65535) for i in range(9)], axis=-1)
            expected_mask = (raw != 65535).all(axis=-1)
            np.testing.assert_array_equal(mask, expected_mask)
            keep = [s2.bands.index(b) for b in S2_BELGIUM]
            np.testing.assert_allclose(frame[..., keep][mask], (raw * 1e-4)[mask], rtol=1e-6)
            assert np.all(frame[~mask] == 0) and np.all(frame[..., s2.bands.index("B8A")] == 0)
            checked_masked += int((~mask).sum())
        s1 = video.sources["s1"]
        for t, frame, mask in zip(s1.timestamps_ms, s1.frames, s1.mask):
            _, manifest = _belgium_image(catalog, "COPERNICUS/S1_GRD", int(t))
            path = catalog / "COPERNICUS/S1_GRD" / manifest["bands"][0]["path"]
            raw = np.stack([read_window(path, i, site, -9999.0) for i in (1, 2)], axis=-1)
            np.testing.assert_array_equal(mask, (raw != -9999.0).all(axis=-1))
            np.testing.assert_allclose(frame[mask], raw[mask], rtol=1e-6)  # S1_GRD is stored in dB already
        dem = video.sources["dem"]
        assert dem.num_frames == 1 and dem.timestamps_ms[0] == BELGIUM_PERIOD[0]
        raw = read_window(catalog / "COPERNICUS/DEM/GLO30/BE_worldcereal_31UFS.tif", 1, site, -9999.0)
        np.testing.assert_array_equal(dem.mask[0], raw != -9999.0)
        np.testing.assert_allclose(dem.frames[0, ..., 0][dem.mask[0]], raw[raw != -9999.0], rtol=1e-6)
        assert video.sources["era5"].bands == ("temperature_2m", "total_precipitation_sum")
        assert video.properties["roles"] == {"s2": "input", "s1": "input", "era5": "target", "dem": "target"}
    assert checked_masked > 0  # the edge sites and the cloudy months exercise the mask
    # Normalisation statistics were accumulated on the registry's normalised values.
    stats = ds.stats["s2"]
    assert stats["bands"][0] == "B2" and 5.0 < stats["mean"][0] < 8.0  # log1p(reflectance x 1e4)


def test_composites_match_numpy_reducers(catalog: Path, tmp_path: Path) -> None:
    """Two-month median composites of the monthly Belgium images equal numpy's nanmedian of the files."""
    request = ExportRequest(sources=("s1",), layout="composites", composite="61d", reducer="median")
    site = belgium_sites()[0]
    export_interactive([site], request, tmp_path / "c", backend=CatalogFilesBackend(catalog), progress=False)
    video = VideoDataset(tmp_path / "c")[0]
    s1 = video.sources["s1"]
    bins = np.arange(BELGIUM_PERIOD[0], BELGIUM_PERIOD[1], 61 * 86_400_000)
    np.testing.assert_array_equal(s1.timestamps_ms, bins)
    import glob

    files = sorted(glob.glob(str(catalog / "COPERNICUS/S1_GRD/*_BE.tif")))
    for k, lo in enumerate(bins):
        hi = lo + 61 * 86_400_000
        members = [f for f in files if lo <= _month_ms(f) < hi]
        stack = np.stack([np.stack([read_window(Path(f), b, site, -9999.0) for b in (1, 2)], -1) for f in members])
        valid = stack != -9999.0
        expected = np.where(valid.any(0), np.nanmedian(np.where(valid, stack, np.nan), axis=0), 0.0)
        np.testing.assert_allclose(s1.frames[k], expected, rtol=1e-6)
        np.testing.assert_array_equal(s1.mask[k], valid.any(0).all(-1))


def _month_ms(path: str) -> int:
    import datetime as dt

    day = dt.datetime.strptime(Path(path).name[:8], "%Y%m%d").replace(tzinfo=dt.timezone.utc)
    return int(day.timestamp() * 1000)


def test_reduce_frames_mosaic_takes_the_last_valid() -> None:
    stack = np.array([[[[1.0]]], [[[2.0]]], [[[3.0]]]])  # (3, 1, 1, 1)
    valid = np.array([[[[True]]], [[[True]]], [[[False]]]])
    values, ok = reduce_frames(stack, valid, "mosaic")
    assert values[0, 0, 0] == 2.0 and ok[0, 0, 0]
    values, ok = reduce_frames(stack, valid, "median")
    assert values[0, 0, 0] == 1.5


def test_bigearthnet_multiresolution_bands(catalog: Path, tmp_path: Path) -> None:
    """20 m and 60 m bands land on the 10 m site grid by nearest neighbour; outside the patch is masked."""
    sites = bigearthnet_sites(catalog)
    request = ExportRequest(sources=("s2", "s1"))
    export_interactive(sites, request, tmp_path / "ben", backend=CatalogFilesBackend(catalog), progress=False)
    ds = VideoDataset(tmp_path / "ben")
    assert len(ds) == 6
    by_id = {s.site_id: s for s in sites}
    for video in ds:
        site = by_id[video.site_id]
        s2 = video.sources["s2"]
        assert s2.num_frames == 1  # one patch per site
        image_id = s2_id = video.properties["frames"]["s2"][0]["images"][0]
        manifest = image_manifest(catalog, s2_id)
        folder = (catalog / image_id).parent
        raw = {b["id"]: read_window(folder / b["path"], 1, site, 0) for b in manifest["bands"]}
        expected_mask = np.all([raw[b] != 0 for b in s2.bands], axis=0)
        np.testing.assert_array_equal(s2.mask[0], expected_mask)
        assert 0 < expected_mask.sum() < site.size**2 or expected_mask.all()
        for c, band in enumerate(s2.bands):
            np.testing.assert_allclose(s2.frames[0, ..., c][expected_mask], raw[band][expected_mask] * 1e-4,
                                       rtol=1e-6)


class _Interrupt(RuntimeError):
    pass


class _FailingBackend(CatalogFilesBackend):
    """Fails the pixel fetch of the ``fail_at``-th site: an export killed half-way."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.calls = 0
        self.fail_at = fail_at

    def fetch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_at:
            raise _Interrupt("injected failure")
        return super().fetch(*args, **kwargs)


def test_interrupted_export_resumes_with_every_site_once(catalog: Path, tmp_path: Path) -> None:
    request = ExportRequest(sources=("s2", "s1"))
    sites = belgium_sites()
    with pytest.raises(_Interrupt):
        export_interactive(sites, request, tmp_path / "r", backend=_FailingBackend(catalog, 5), max_workers=1,
                           sites_per_shard=2, progress=False)
    partial = VideoDataset(tmp_path / "r").site_ids
    assert 0 < len(partial) < len(sites)
    result = export_interactive(sites, request, tmp_path / "r", backend=CatalogFilesBackend(catalog),
                                max_workers=2, sites_per_shard=2, progress=False)
    assert result.sites_skipped == len(partial) and result.sites_written == len(sites) - len(partial)
    ids = VideoDataset(tmp_path / "r").site_ids
    assert sorted(ids) == sorted(s.site_id for s in sites) and len(ids) == len(set(ids))
    # Identical to an uninterrupted export, site by site.
    export_interactive(sites, request, tmp_path / "ref", backend=CatalogFilesBackend(catalog), progress=False)
    _assert_same_sites(tmp_path / "r", tmp_path / "ref")
    # A third run has nothing left to do.
    again = export_interactive(sites, request, tmp_path / "r", backend=CatalogFilesBackend(catalog), progress=False)
    assert again.sites_written == 0 and again.sites_skipped == len(sites)
    with pytest.raises(ExportManifestError, match="another request"):
        export_interactive(sites, ExportRequest(sources=("s1",)), tmp_path / "r",
                           backend=CatalogFilesBackend(catalog), progress=False)


def _assert_same_sites(a: Path, b: Path) -> None:
    da, db = VideoDataset(a), VideoDataset(b)
    index_b = {sid: i for i, sid in enumerate(db.site_ids)}
    assert sorted(da.site_ids) == sorted(db.site_ids)
    for i, sid in enumerate(da.site_ids):
        va, vb = da[i], db[index_b[sid]]
        assert va.sources.keys() == vb.sources.keys()
        for name in va.sources:
            np.testing.assert_array_equal(va.sources[name].frames, vb.sources[name].frames)
            np.testing.assert_array_equal(va.sources[name].mask, vb.sources[name].mask)
            np.testing.assert_array_equal(va.sources[name].timestamps_ms, vb.sources[name].timestamps_ms)


def test_hard_kill_then_restart(catalog: Path, tmp_path: Path) -> None:
    """A process killed outright (os._exit, no cleanup) mid-export; the restart writes every site once."""
    out = tmp_path / "k"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from export_helpers import belgium_sites
        from aef_ee.videos.export import ExportRequest, export_interactive
        from aef_ee.videos.export.files import CatalogFilesBackend

        class Dying(CatalogFilesBackend):
            calls = 0
            def fetch(self, *a, **k):
                Dying.calls += 1
                if Dying.calls == 6:
                    os._exit(9)
                return super().fetch(*a, **k)

        export_interactive(belgium_sites(), ExportRequest(sources=("s1",)), {str(out)!r},
                           backend=Dying({str(catalog)!r}), max_workers=1, sites_per_shard=2, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    assert proc.returncode == 9, proc.stderr
    partial = VideoDataset(out).site_ids
    assert len(partial) == 4  # two finished shards of two sites; the fifth site's shard was never closed
    sites = belgium_sites()
    result = export_interactive(sites, ExportRequest(sources=("s1",)), out, backend=CatalogFilesBackend(catalog),
                                sites_per_shard=2, progress=False)
    assert result.sites_written == len(sites) - 4
    ids = VideoDataset(out).site_ids
    assert sorted(ids) == sorted(s.site_id for s in sites) and len(ids) == len(set(ids))


def test_geotagged_text_from_real_place_names(catalog: Path, tmp_path: Path) -> None:
    """Place names within a margin of each site become the site's text (Natural Earth cities near Belgium)."""
    from aef_ee.videos.export.text import GeoText, attach_text, read_csv_text

    cities = read_csv_text(str(Path(__file__).resolve().parents[3] / "data/geotext/world_cities_naturalearth.csv"),
                           lon="longitude", lat="latitude", columns=["name"])
    assert len(cities) > 1000
    sites = belgium_sites()
    # No Natural Earth place lies inside these 320 m sites; a wide margin brings in the nearby cities.
    assert all("text" not in s.properties for s in attach_text(sites, cities))
    near = attach_text(sites, cities, margin_m=150_000)
    names = near[0].properties["text"]
    assert names and all(isinstance(n, str) for n in names)
    lon, lat = sites[0].center_lonlat
    here = attach_text(sites[:1], [GeoText(lon, lat, "a field near Liege"), GeoText(lon, lat, "a field near Liege")])
    assert here[0].properties["text"] == ["a field near Liege"]
    export_interactive(here, ExportRequest(sources=("s1",)), tmp_path / "t", backend=CatalogFilesBackend(catalog),
                       progress=False)
    video = VideoDataset(tmp_path / "t")[0]
    assert video.text == ("a field near Liege",) and "text" not in video.properties


def test_images_of_one_pass_make_one_acquisition_frame() -> None:
    """Granules starting within same_pass_s of a pass's first image are one frame; a revisit is another."""
    from aef_ee.videos import sources as registry
    from aef_ee.videos.export.plan import ImageInfo, plan_frames

    t0 = 1_600_000_000_000
    images = [ImageInfo("C/a", t0, ("VV",)), ImageInfo("C/b", t0 + 25_000, ("VV",)),
              ImageInfo("C/c", t0 + 100_000, ("VV",)), ImageInfo("C/d", t0 + 6 * 86_400_000, ("VV",))]
    window = (t0 - 1, t0 + 10 * 86_400_000)
    s1 = registry.get_source("s1")
    frames = plan_frames(s1, images, ExportRequest(sources=("s1",)), window)
    assert [[i.id for i in f.images] for f in frames] == [["C/a", "C/b", "C/c"], ["C/d"]]
    assert [f.timestamp_ms for f in frames] == [t0, t0 + 6 * 86_400_000]
    apart = plan_frames(s1, images, ExportRequest(sources=("s1",), same_pass_s=0), window)
    assert len(apart) == 4
