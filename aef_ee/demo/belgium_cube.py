"""The WorldCereal Belgium cube (100 x 100 px of 10 m, 12 months): read from its netCDF files, as video sources
(the shipped model's training data and evaluation grid) and as the labels of the evaluation.

``worldcereal_preprocessed_inputs.nc`` (openEO/WorldCereal test resource, see ``data/PROVENANCE.md``) holds 12
monthly composites (2020-11 .. 2021-10) of Sentinel-2 L2A (9 bands), Sentinel-1 VV/VH, AgERA5 and a DEM on a
100 x 100 grid of 10 m pixels in EPSG:32631. :class:`WorldCerealCube` reads the raw variables with rasterio (GDAL's
netCDF driver); :func:`decode_sources` turns them into :class:`~aef_ee.videos.format.SourceFrames` in the video
format's physical units, nodata (65535) masked. Files come from :func:`aef_ee.paths.data_dir` (the package data,
or ``$AEF_EE_DATA``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from aef_ee.errors import AefIOError
from aef_ee.paths import data_dir
from aef_ee.videos.format import SiteVideo, SourceFrames

__all__ = [
    "NODATA",
    "PERIOD",
    "S1_VARIABLES",
    "S2_BANDS",
    "S2_VARIABLES",
    "WorldCerealCube",
    "cropland_labels",
    "cube_path",
    "cube_video",
    "day_ms",
    "decode_sources",
    "netcdf_list",
    "netcdf_variable",
    "read_cube",
]

NODATA = 65535
PERIOD = ("2020-11-01", "2021-11-01")
#: the cube's variable suffix -> the video format's (Earth Engine's) Sentinel-2 band name
S2_BANDS = {"B02": "B2", "B03": "B3", "B04": "B4", "B05": "B5", "B06": "B6", "B07": "B7", "B08": "B8",
            "B11": "B11", "B12": "B12"}
#: Earth Engine band name -> the cube's variable
S2_VARIABLES = {band: f"S2-L2A-{suffix}" for suffix, band in S2_BANDS.items()}
S1_VARIABLES = {"VV": "S1-SIGMA0-VV", "VH": "S1-SIGMA0-VH"}
OTHER_VARIABLES = ("AGERA5-TMEAN", "AGERA5-PRECIP", "elevation")


def cube_path(name: str = "worldcereal_preprocessed_inputs.nc") -> Path:
    """A file of the WorldCereal folder of the data directory."""
    return data_dir() / "worldcereal" / name


def day_ms(day: str) -> int:
    """``YYYY-MM-DD`` (UTC midnight) in milliseconds since the epoch."""
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def netcdf_list(value: str) -> list[str]:
    """GDAL's rendering of a netCDF dimension's values, ``{a,b,c}``, as a list of strings."""
    return [v.strip() for v in value.strip().removeprefix("{").removesuffix("}").split(",")]


@contextlib.contextmanager
def netcdf_variable(path: Path, variable: str | None = None) -> Iterator[object]:
    """One netCDF variable as a rasterio dataset (the extra dimension, e.g. time, as bands).

    Rows stay in the file's order (``GDAL_NETCDF_BOTTOMUP=NO``): GDAL flips a file without a geotransform
    (the cropland map's coordinates carry a NaN fill value) as if it were stored south-up.
    """
    import rasterio

    source = f'NETCDF:"{path}":{variable}' if variable else f'NETCDF:"{path}"'
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"):
        with rasterio.open(source) as src:
            yield src


class WorldCerealCube:
    """The cube's raw variables (12 months x 100 x 100 uint16), its grid and its months, read with rasterio.

    GDAL rather than netCDF4 or xarray: rasterio is already a dependency of the local engine, and in an environment
    holding both the netCDF4 and the eccodes (cfgrib) wheels their bundled libraries crash the interpreter at exit.

    Attributes:
      variables: variable name -> (T, H, W) uint16, 65535 = no data.
      transform: the grid's affine transform (rasterio); crs: its CRS.
      months: the T composite start dates (UTC).
    """

    def __init__(self, path: str | Path | None = None):
        path = Path(path) if path else cube_path()
        self.variables: dict[str, np.ndarray] = {}
        first = None
        for name in [*S2_VARIABLES.values(), *S1_VARIABLES.values(), *OTHER_VARIABLES]:
            with netcdf_variable(path, name) as src:
                raw = src.read()  # (t, y, x); the file's int16 with _Unsigned = "true" comes back as uint16
                if first is None:
                    first = (src.tags(), src.transform, src.crs)
                elif (src.transform, src.crs) != first[1:]:
                    raise AefIOError(f"{str(path)!r}: variable {name!r} is not on the cube's grid")
            # GDAL already honours _Unsigned; the view keeps the bits if it ever hands back int16.
            self.variables[name] = raw.view(np.uint16) if raw.dtype == np.int16 else raw.astype(np.uint16)
        tags, self.transform, self.crs = first
        units = tags.get("t#units", "")
        match = re.fullmatch(r"days since (\d{4})-(\d{2})-(\d{2})", units)
        if match is None:
            raise AefIOError(f"{str(path)!r}: unexpected time units {units!r}")
        epoch = dt.datetime(*map(int, match.groups()), tzinfo=dt.timezone.utc)
        self.months = [epoch + dt.timedelta(days=int(d)) for d in netcdf_list(tags["NETCDF_DIM_t_VALUES"])]
        if len(self.months) != len(next(iter(self.variables.values()))):
            raise AefIOError(f"{str(path)!r}: {len(self.months)} times for a cube of another length")


def read_cube(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Raw uint16 variables (T, 100, 100) plus ``t_ms`` (T,), ``x`` and ``y`` pixel-centre coordinates (m)."""
    cube = WorldCerealCube(path)
    out = dict(cube.variables)
    height, width = out["elevation"].shape[1:]
    a, _, x0, _, e, y0 = tuple(cube.transform)[:6]
    out["x"] = x0 + a * (np.arange(width) + 0.5)
    out["y"] = y0 + e * (np.arange(height) + 0.5)
    out["t_ms"] = np.array([int(m.timestamp() * 1000) for m in cube.months], np.int64)
    return out


def decode_sources(cube: dict[str, np.ndarray]) -> dict[str, SourceFrames]:
    """The whole grid as video sources: S2 reflectance (0-1), S1 dB, AgERA5 K and m, DEM m (one frame)."""
    t = cube["t_ms"]
    s2_raw = np.stack([cube[v] for v in S2_VARIABLES.values()], axis=-1)
    s2_mask = np.all(s2_raw != NODATA, axis=-1)
    s1_raw = np.stack([cube[v] for v in S1_VARIABLES.values()], axis=-1)
    s1_mask = np.all((s1_raw != NODATA) & (s1_raw > 0), axis=-1)
    with np.errstate(divide="ignore"):
        s1_db = np.where(s1_mask[..., None], 20.0 * np.log10(np.maximum(s1_raw, 1).astype(np.float64)) - 83.0, 0.0)
    era_raw = np.stack([cube["AGERA5-TMEAN"], cube["AGERA5-PRECIP"]], axis=-1)
    era_mask = np.all(era_raw != NODATA, axis=-1)
    # AgERA5 is stored x100: kelvin and millimetres; the video format wants K and metres.
    era = np.where(era_mask[..., None], era_raw.astype(np.float64) / 100.0 * np.array([1.0, 1e-3]), 0.0)
    elev_raw = cube["elevation"]
    first = int(np.argmax(np.any(elev_raw != NODATA, axis=(1, 2))))
    dem_mask = elev_raw[first : first + 1] != NODATA
    return {
        "s2": SourceFrames(np.where(s2_mask[..., None], s2_raw / 1e4, 0.0), s2_mask, t, tuple(S2_VARIABLES)),
        "s1": SourceFrames(s1_db, s1_mask, t, tuple(S1_VARIABLES)),
        "era5": SourceFrames(era, era_mask, t, ("temperature_2m", "total_precipitation_sum")),
        "dem": SourceFrames(
            np.where(dem_mask, elev_raw[first : first + 1], 0).astype(np.float32)[..., None], dem_mask, t[:1],
            ("elevation",),
        ),
    }


def cube_video(path: str | Path | None = None) -> SiteVideo:
    """The whole 100 x 100 cube as one site video (no text)."""
    cube = read_cube(path)
    x0, y0 = cube["x"][0] - 5.0, cube["y"][0] + 5.0  # pixel centres -> the grid's upper-left corner
    return SiteVideo(
        site_id="32631_cube", crs="EPSG:32631", transform=(10.0, 0.0, x0, 0.0, -10.0, y0),
        center_lonlat=(5.32, 50.63), period_ms=(day_ms(PERIOD[0]), day_ms(PERIOD[1])),
        sources=decode_sources(cube), text=(), text_embedding=np.zeros((0, 384), np.float32),
        properties={"origin": "worldcereal_preprocessed_inputs.nc"})


def cropland_labels(path: str | Path | None = None) -> np.ndarray:
    """(100, 100) uint8: WorldCereal's own cropland map of the cube's grid (1 cropland, 0 other; a model output
    used as a reference, the ``classification`` band of ``worldcereal_cropland_classification.nc``)."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    path = Path(path) if path else cube_path("worldcereal_cropland_classification.nc")
    with warnings.catch_warnings():
        # Expected: the file's georeference is the cube's (same grid).
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with netcdf_variable(path, "__xarray_dataarray_variable__") as src:
            # The 'bands' dimension (classification, probability, ...) comes back as rasterio bands, in file order.
            names = netcdf_list(src.tags().get("NETCDF_DIM_bands_VALUES", ""))
            stack = src.read()
    if "classification" not in names or len(names) != len(stack):
        raise AefIOError(f"{str(path)!r}: unexpected bands {names!r}")
    return stack[names.index("classification")].astype(np.uint8)
