"""The demo catalog: its pixels equal numpy computed from the source files in data/ after the documented
conversion, its properties and times are those documented, and it builds once."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from aef_ee.demo.catalog import (
    CATALOG_ENV,
    DEMO_CATALOG_VERSION,
    STAMP_NAME,
    build_demo_catalog,
    default_catalog_dir,
    is_built,
)
from aef_ee.local.catalog import Catalog
from aef_ee.paths import data_dir

DATA = data_dir()
BEN_S2 = DATA / "bigearthnet_examples" / "BigEarthNet-S2-Example"
BEN_S1 = DATA / "bigearthnet_examples" / "BigEarthNet-S1-Example"
SLOVENIA = DATA / "eolearn_slovenia"


def _ms(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def catalog(demo_catalog_dir: Path) -> Catalog:
    return Catalog(demo_catalog_dir)


@pytest.fixture(scope="module")
def worldcereal() -> dict[str, np.ndarray]:
    """The WorldCereal cube's variables as uint16 (t, y, x), read straight with netCDF4."""
    import netCDF4

    with netCDF4.Dataset(DATA / "worldcereal" / "worldcereal_preprocessed_inputs.nc") as ds:
        ds.set_auto_maskandscale(False)
        return {name: np.asarray(ds[name][:]).view(np.uint16) for name in ds.variables
                if ds[name].ndim == 3}


def _band(catalog: Catalog, image_id: str, band_id: str) -> tuple[np.ndarray, dict, rasterio.Affine, str]:
    """(pixels, band entry, transform, crs) of one band, read with rasterio from the file the manifest names."""
    record = catalog.get(image_id)
    band = next(b for b in record.manifest["bands"] if b["id"] == band_id)
    with rasterio.open(catalog.band_path(record, band)) as src:
        assert src.dtypes[band["band"] - 1] == band["data_type"]
        return src.read(band["band"]), band, src.transform, src.crs.to_string()


def _table(catalog: Catalog, asset_id: str) -> dict:
    record = catalog.get(asset_id)
    assert record.type == "TABLE"
    return json.loads(Path(catalog.table_path(record)).read_text())


# ----- Belgium -----

@pytest.mark.parametrize("t, month", [(0, "2020-11-01"), (1, "2020-12-01"), (8, "2021-07-01"), (11, "2021-10-01")])
def test_belgium_s2_equals_the_cube(catalog: Catalog, worldcereal: dict, t: int, month: str) -> None:
    image_id = f"COPERNICUS/S2_SR_HARMONIZED/{month.replace('-', '')}_BE"
    record = catalog.get(image_id)
    assert [b["id"] for b in record.manifest["bands"]] == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B11", "B12"]
    for band_id, variable in (("B2", "S2-L2A-B02"), ("B8", "S2-L2A-B08"), ("B12", "S2-L2A-B12")):
        pixels, band, transform, crs = _band(catalog, image_id, band_id)
        np.testing.assert_array_equal(pixels, worldcereal[variable][t])
        assert band["nodata"] == 65535 and band["data_type"] == "uint16"
        assert crs == "EPSG:32631"
        assert tuple(transform)[:6] == (10.0, 0.0, 664000.0, 0.0, -10.0, 5612120.0)
    masked = worldcereal["S2-L2A-B02"][t] == 65535
    props = record.manifest["properties"]
    assert props["CLOUDY_PIXEL_PERCENTAGE"] == pytest.approx(masked.mean() * 100)
    assert props["system:time_start"] == _ms(month)
    assert props["MGRS_TILE"] == "31UFS"


def test_belgium_s2_nodata_months_are_fully_masked(catalog: Catalog) -> None:
    # December 2020 and January 2021 have no clear observation anywhere in the patch.
    for month in ("20201201", "20210101"):
        pixels, band, _, _ = _band(catalog, f"COPERNICUS/S2_SR_HARMONIZED/{month}_BE", "B4")
        assert (pixels == band["nodata"]).all()
        assert catalog.get(f"COPERNICUS/S2_SR_HARMONIZED/{month}_BE").manifest["properties"][
            "CLOUDY_PIXEL_PERCENTAGE"] == 100.0
    pixels, band, _, _ = _band(catalog, "COPERNICUS/S2_SR_HARMONIZED/20210201_BE", "B4")
    assert not (pixels == band["nodata"]).any()


@pytest.mark.parametrize("t", [0, 5, 11])
def test_belgium_s1_is_decoded_to_db(catalog: Catalog, worldcereal: dict, t: int) -> None:
    month = ["20201101", "20201201", "20210101", "20210201", "20210301", "20210401", "20210501", "20210601",
             "20210701", "20210801", "20210901", "20211001"][t]
    record = catalog.get(f"COPERNICUS/S1_GRD/{month}_BE")
    for band_id in ("VV", "VH"):
        pixels, band, _, _ = _band(catalog, record.id, band_id)
        dn = worldcereal[f"S1-SIGMA0-{band_id}"][t].astype(np.float64)
        np.testing.assert_array_equal(pixels, (20 * np.log10(dn) - 83).astype(np.float32))
        assert band["data_type"] == "float32"
    assert -30 < float(pixels.mean()) < -5  # VH backscatter of farmland, dB
    props = record.manifest["properties"]
    assert props["transmitterReceiverPolarisation"] == ["VV", "VH"]
    assert (props["instrumentMode"], props["resolution_meters"]) == ("IW", 10)
    assert props["orbitProperties_pass"] in ("ASCENDING", "DESCENDING")


def test_belgium_era5_land_units(catalog: Catalog, worldcereal: dict) -> None:
    images = catalog.list_images("ECMWF/ERA5_LAND/MONTHLY_AGGR")
    assert [r.id.rsplit("/", 1)[1] for r in images][:3] == ["202011", "202012", "202101"]
    for t in (0, 8):
        image_id = images[t].id
        temperature, _, _, _ = _band(catalog, image_id, "temperature_2m")
        precipitation, _, _, _ = _band(catalog, image_id, "total_precipitation_sum")
        np.testing.assert_array_equal(
            temperature, (worldcereal["AGERA5-TMEAN"][t].astype(np.float64) / 100).astype(np.float32))
        np.testing.assert_array_equal(
            precipitation, (worldcereal["AGERA5-PRECIP"][t].astype(np.float64) / 1e5).astype(np.float32))
    assert 270 < float(temperature.mean()) < 300  # K
    assert 0.01 < float(precipitation.mean()) < 0.3  # m per month


def test_dem_patches(catalog: Catalog, worldcereal: dict) -> None:
    belgium, band, _, _ = _band(catalog, "COPERNICUS/DEM/GLO30/BE_worldcereal_31UFS", "DEM")
    np.testing.assert_array_equal(belgium, worldcereal["elevation"][0].astype(np.float32))
    assert band["data_type"] == "float32"
    slovenia, _, _, crs = _band(catalog, "COPERNICUS/DEM/GLO30/SI_eolearn_33TVL", "DEM")
    np.testing.assert_array_equal(slovenia, np.load(SLOVENIA / "TestEOPatch/data_timeless/DEM.npy")[..., 0])
    assert crs == "EPSG:32633"


# ----- BigEarthNet -----

def test_bigearthnet_s2_keeps_native_resolutions(catalog: Catalog) -> None:
    image_id = "COPERNICUS/S2_SR_HARMONIZED/20170924T093020_20170924T093132_T35VPK_69_24"
    record = catalog.get(image_id)
    assert [b["id"] for b in record.manifest["bands"]] == [
        "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    patch = BEN_S2 / "S2B_MSIL2A_20170924T93020_69_24"
    for band_id, suffix, size, resolution in (("B1", "B01", 20, 60.0), ("B4", "B04", 120, 10.0),
                                             ("B8A", "B8A", 60, 20.0), ("B12", "B12", 60, 20.0)):
        pixels, band, transform, crs = _band(catalog, image_id, band_id)
        with rasterio.open(patch / f"S2B_MSIL2A_20170924T93020_69_24_{suffix}.tif") as src:
            np.testing.assert_array_equal(pixels, src.read(1))
            assert transform == src.transform
        assert pixels.shape == (size, size) and transform.a == resolution
        assert crs == "EPSG:32635"
    props = record.manifest["properties"]
    assert props["system:time_start"] == _ms("2017-09-24T09:30:20")
    assert (props["MGRS_TILE"], props["SPACECRAFT_NAME"]) == ("35VPK", "Sentinel-2B")
    assert "Coniferous forest" in props["BIGEARTHNET_LABELS"]


def test_bigearthnet_six_patches_each(catalog: Catalog) -> None:
    s2 = [r for r in catalog.list_images("COPERNICUS/S2_SR_HARMONIZED") if not r.id.endswith("_BE")]
    s1 = [r for r in catalog.list_images("COPERNICUS/S1_GRD") if not r.id.endswith("_BE")]
    assert len(s2) == 6 and len(s1) == 6
    # Two patches come from one scene: the patch suffix keeps their ids apart.
    assert len({r.id for r in s2}) == 6


def test_bigearthnet_s1_values_and_pass(catalog: Catalog) -> None:
    scene = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017018_01C579_7EEC"
    image_id = f"COPERNICUS/S1_GRD/{scene}_87_48"
    patch = BEN_S1 / "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
    for band_id in ("VV", "VH"):
        pixels, _, _, crs = _band(catalog, image_id, band_id)
        with rasterio.open(patch / f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48_{band_id}.tif") as src:
            np.testing.assert_array_equal(pixels, src.read(1))
    props = catalog.get(image_id).manifest["properties"]
    assert props["orbitProperties_pass"] == "ASCENDING"  # 16:50 UTC over Austria: an evening pass
    assert props["system:time_start"] == _ms("2017-06-13T16:50:43")
    descending = catalog.get(
        "COPERNICUS/S1_GRD/S1A_IW_GRDH_1SDV_20170925T043256_20170925T043321_018527_01F38C_31E2_69_24")
    assert descending.manifest["properties"]["orbitProperties_pass"] == "DESCENDING"  # 04:32 UTC over Finland


# ----- Slovenia -----

def test_slovenia_l1c_scenes(catalog: Catalog) -> None:
    scenes = np.load(SLOVENIA / "REFERENCE_SCENES.npy")
    images = catalog.list_images("COPERNICUS/S2_HARMONIZED")
    assert len(images) == 5
    # Scene k's date (found by matching its NDVI against the patch's NDVI series):
    dates = {0: "2015-08-20T10:07:28", 1: "2015-07-31T10:00:09", 2: "2015-09-09T10:00:17",
             3: "2015-08-30T10:05:47", 4: "2015-07-11T10:00:08"}
    bands = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    for k, date in dates.items():
        image_id = f"COPERNICUS/S2_HARMONIZED/{date.replace('-', '').replace(':', '')}_T33TVL"
        record = catalog.get(image_id)
        assert [b["id"] for b in record.manifest["bands"]] == bands
        assert record.manifest["properties"]["system:time_start"] == _ms(date)
        for index in (0, 3, 7, 10, 12):
            pixels, _, transform, crs = _band(catalog, image_id, bands[index])
            np.testing.assert_array_equal(pixels, np.rint(scenes[k, ..., index].astype(np.float64) * 1e4))
        assert crs == "EPSG:32633" and pixels.shape == (101, 100)
        assert transform.c == pytest.approx(465181.0522318204) and transform.f == pytest.approx(5080254.63349641)
    cloudy = catalog.get("COPERNICUS/S2_HARMONIZED/20150820T100728_T33TVL").manifest["properties"]
    assert cloudy["CLOUDY_PIXEL_PERCENTAGE"] == 100.0


def test_slovenia_cloud_probability_is_the_patch_s2cloudless_output(catalog: Catalog) -> None:
    timestamps = json.loads((SLOVENIA / "TestEOPatch/timestamps.json").read_text())
    clp = np.load(SLOVENIA / "TestEOPatch/data/CLP.npy")[..., 0]
    images = catalog.list_images("COPERNICUS/S2_CLOUD_PROBABILITY")
    assert len(images) == len(timestamps) == 68
    harmonized = {r.id.rsplit("/", 1)[-1] for r in catalog.list_images("COPERNICUS/S2_HARMONIZED")}
    ids = {f"{t.replace('-', '').replace(':', '')}_T33TVL" for t in timestamps}
    assert harmonized < ids  # the five L1C scenes share their system:index with their cloud probabilities
    for k in (0, 2, 31, 67):
        image_id = f"COPERNICUS/S2_CLOUD_PROBABILITY/{timestamps[k].replace('-', '').replace(':', '')}_T33TVL"
        record = catalog.get(image_id)
        assert [b["id"] for b in record.manifest["bands"]] == ["probability"]
        assert record.manifest["properties"]["system:time_start"] == _ms(timestamps[k])
        pixels, band, transform, crs = _band(catalog, image_id, "probability")
        # Earth Engine stores the 0..1 probability scaled to 0..100 as uint8.
        np.testing.assert_array_equal(pixels, np.rint(clp[k].astype(np.float64) * 100))
        assert pixels.dtype == np.uint8 and crs == "EPSG:32633" and pixels.shape == (101, 100)
        assert transform.c == pytest.approx(465181.0522318204) and transform.f == pytest.approx(5080254.63349641)


def test_slovenia_land_cover(catalog: Catalog) -> None:
    import geopandas as gpd
    from pyproj import Transformer

    raster, band, _, _ = _band(catalog, "projects/local/assets/slovenia_lulc_raster", "LULC")
    np.testing.assert_array_equal(raster, np.load(SLOVENIA / "TestEOPatch/mask_timeless/LULC.npy")[..., 0])
    assert band["nodata"] == 0
    table = _table(catalog, "projects/local/assets/slovenia_lulc")
    source = gpd.read_file(SLOVENIA / "TestEOPatch/vector_timeless/LULC.gpkg")
    assert len(table["features"]) == len(source) == 88
    to_lonlat = Transformer.from_crs(32633, 4326, always_xy=True)
    first = table["features"][0]
    x, y = source.geometry[0].exterior.coords[0]
    np.testing.assert_allclose(first["geometry"]["coordinates"][0][0], to_lonlat.transform(x, y), atol=1e-9)
    assert first["properties"]["LULC_NAME"] == source["LULC_NAME"][0]


# ----- ERA5 hourly -----

def test_era5_hourly_has_744_hours(catalog: Catalog) -> None:
    images = catalog.list_images("ECMWF/ERA5/HOURLY")
    assert len(images) == 744
    assert images[0].id == "ECMWF/ERA5/HOURLY/20190301T00" and images[-1].id == "ECMWF/ERA5/HOURLY/20190331T23"
    assert images[0].manifest["properties"] == {"system:time_start": _ms("2019-03-01T00:00:00"),
                                                "system:time_end": _ms("2019-03-01T01:00:00")}
    assert images[-1].manifest["properties"]["system:time_start"] == _ms("2019-03-31T23:00:00")
    assert len({catalog.band_path(r, r.manifest["bands"][0]) for r in images}) == 1  # one shared file
    assert [r.manifest["bands"][0]["band"] for r in images] == list(range(1, 745))


def test_era5_hourly_values_equal_cfgrib(catalog: Catalog, tmp_path: Path) -> None:
    # cfgrib (eccodes) crashes this interpreter at exit on this machine, so it decodes the GRIB in a child
    # process and the exit status is not checked; the arrays it saved are.
    grib = DATA / "era5_uk" / "era5-2mt-2019-03-uk.grib"
    script = ("import sys, numpy as np, cfgrib\n"
              "ds = cfgrib.open_dataset(sys.argv[1], indexpath='')\n"
              "np.save(sys.argv[2], ds['t2m'].values)\n"
              "np.save(sys.argv[3], ds['latitude'].values)\n"
              "np.save(sys.argv[4], ds['longitude'].values)\n")
    out = [tmp_path / f"{name}.npy" for name in ("t2m", "lat", "lon")]
    subprocess.run([sys.executable, "-c", script, str(grib), *map(str, out)], timeout=120, capture_output=True)
    t2m, lat, lon = (np.load(path) for path in out)
    assert t2m.shape == (744, 33, 49)
    for hour, image_id in ((0, "20190301T00"), (13, "20190301T13"), (743, "20190331T23")):
        pixels, band, transform, crs = _band(catalog, f"ECMWF/ERA5/HOURLY/{image_id}", "temperature_2m")
        np.testing.assert_array_equal(pixels, t2m[hour])
    assert crs == "EPSG:4326" and band["data_type"] == "float32"
    # Pixel centres on the GRIB's 0.25 deg grid.
    assert transform @ (0.5, 0.5) == (lon[0], lat[0])
    assert transform @ (48.5, 32.5) == (lon[-1], lat[-1])
    assert 260 < float(t2m.mean()) < 290  # Kelvin, not Celsius


# ----- Landsat and labels -----

def test_landsat_scene(catalog: Catalog) -> None:
    image_id = "LANDSAT/LC08/C02/T1/LC08_224078_20200518"
    with rasterio.open(DATA / "landsat8_brazil" / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF") as src:
        source = src.read()
        source_transform = src.transform
    for index, band_id in enumerate(("B2", "B3", "B4")):
        pixels, band, transform, crs = _band(catalog, image_id, band_id)
        np.testing.assert_array_equal(pixels, source[index])
        assert band["nodata"] == 0 and transform == source_transform and crs == "EPSG:32621"
    props = catalog.get(image_id).manifest["properties"]
    assert (props["WRS_PATH"], props["WRS_ROW"], props["SPACECRAFT_ID"]) == (224, 78, "LANDSAT_8")
    assert props["DATE_ACQUIRED"] == "2020-05-18"
    assert 0 <= props["CLOUD_COVER"] < 1
    assert datetime.datetime.fromtimestamp(props["system:time_start"] / 1000,
                                           tz=datetime.timezone.utc).date() == datetime.date(2020, 5, 18)
    record = catalog.get(image_id)
    with rasterio.open(catalog.band_path(record, record.manifest["bands"][0])) as cog:
        assert cog.overviews(1) and cog.profile["tiled"] and cog.compression.name == "deflate"


def test_brazil_labels(catalog: Catalog) -> None:
    points = _table(catalog, "projects/local/assets/brazil_label_points")
    polygons = _table(catalog, "projects/local/assets/brazil_label_polygons")
    assert len(points["features"]) == 6 and len(polygons["features"]) == 4
    classes = {"water": 0, "crop": 1, "tree": 2, "developed": 3}
    for feature in points["features"] + polygons["features"]:
        assert feature["properties"]["class"] == classes[feature["properties"]["name"]]
    lon, lat = points["features"][0]["geometry"]["coordinates"]
    assert -56 < lon < -53 and -26 < lat < -24


def test_alphaearth_samples(catalog: Catalog) -> None:
    import pandas as pd

    for region in ("sf_bay_urban", "iowa_ag", "california_coast"):
        table = _table(catalog, f"projects/local/assets/alphaearth_samples_{region}")
        frame = pd.read_csv(DATA / "alphaearth_samples" / f"alphaearth_s1_dw_samples_{region}_2024.csv")
        assert len(table["features"]) == len(frame) == 720
        feature = table["features"][100]
        assert feature["geometry"]["coordinates"] == json.loads(frame[".geo"][100])["coordinates"]
        embedding = [feature["properties"][f"A{i:02d}"] for i in range(64)]
        np.testing.assert_array_equal(embedding, frame[[f"A{i:02d}" for i in range(64)]].iloc[100].to_numpy())
        assert feature["properties"]["dw_label"] == frame["dw_label"][100]


def test_worldcereal_points(catalog: Catalog) -> None:
    import pandas as pd

    table = _table(catalog, "projects/local/assets/worldcereal_points")
    frame = pd.read_parquet(DATA / "worldcereal" / "test_public_extractions.parquet").reset_index(drop=True)
    assert len(table["features"]) == 500
    feature = table["features"][42]
    assert feature["id"] == frame["sample_id"][42]
    assert feature["geometry"]["coordinates"] == [frame["lon"][42], frame["lat"][42]]
    assert feature["properties"]["ewoc_code"] == frame["ewoc_code"][42]
    assert feature["properties"]["OPTICAL-B04-ts3-10m"] == frame["OPTICAL-B04-ts3-10m"][42]


# ----- building -----

def test_builds_once_and_rebuilds_a_half_built_catalog(demo_catalog_dir: Path, tmp_path: Path) -> None:
    assert is_built(demo_catalog_dir)
    stamp = json.loads((demo_catalog_dir / STAMP_NAME).read_text())
    assert stamp["version"] == DEMO_CATALOG_VERSION
    manifest = demo_catalog_dir / "COPERNICUS" / "S2_SR_HARMONIZED" / "20201101_BE.image.json"
    before = manifest.stat().st_mtime_ns
    build_demo_catalog(demo_catalog_dir, progress=False)
    assert manifest.stat().st_mtime_ns == before  # finished: not rebuilt
    # A half-built catalog (no stamp, a stray image) is rebuilt from scratch; the user's own assets stay.
    root = tmp_path / "half"
    catalog = Catalog(root)
    catalog.create_container("COPERNICUS/S1_GRD", "IMAGE_COLLECTION", make_parents=True)
    catalog.write_image("COPERNICUS/S1_GRD/stray", [{"id": "b", "path": "x.tif", "band": 1,
                                                     "data_type": "uint8"}], {})
    catalog.write_table("projects/mine/assets/keep", "keep.geojson")
    assert not is_built(root)
    build_demo_catalog(root, progress=False)
    assert is_built(root)
    assert not catalog.exists("COPERNICUS/S1_GRD/stray")
    assert catalog.exists("projects/mine/assets/keep")
    assert len(catalog.list_images("COPERNICUS/S1_GRD")) == 18


def test_default_catalog_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "mine"))
    assert default_catalog_dir() == tmp_path / "mine"
    monkeypatch.delenv(CATALOG_ENV)
    # The catalog lives in the state folder: $AEF_EE_HOME (tests/conftest.py sets a private one), else the cache.
    monkeypatch.setenv("AEF_EE_HOME", str(tmp_path / "home"))
    assert default_catalog_dir() == tmp_path / "home" / f"demo-catalog-v{DEMO_CATALOG_VERSION}"
    monkeypatch.delenv("AEF_EE_HOME")
    monkeypatch.setenv("AEF_EE_CACHE", str(tmp_path / "cache"))
    assert default_catalog_dir() == tmp_path / "cache" / f"demo-catalog-v{DEMO_CATALOG_VERSION}"
