"""The WorldCereal Belgium cube (100 x 100 px of 10 m, 12 months) decoded to video sources: the shipped model's
training data, its evaluation grid and a labelled dataset of the evaluation.

``worldcereal_preprocessed_inputs.nc`` (openEO/WorldCereal test resource, see ``data/PROVENANCE.md``) holds 12
monthly composites (2020-11 .. 2021-10) of Sentinel-2 L2A (9 bands), Sentinel-1 VV/VH, AgERA5 and a DEM on a
100 x 100 grid of 10 m pixels in EPSG:32631. :func:`read_cube` reads the raw variables; :func:`decode_sources`
turns them into :class:`~aef_ee.videos.format.SourceFrames` in the video format's physical units, nodata (65535)
masked. The files are read from :func:`aef_ee.paths.data_dir` (the package data, or ``$AEF_EE_DATA``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from aef_ee.paths import data_dir
from aef_ee.videos.format import SiteVideo, SourceFrames

__all__ = ["NODATA", "PERIOD", "S2_BANDS", "cube_path", "cropland_labels", "cube_video", "day_ms", "decode_sources",
           "read_cube"]

NODATA = 65535
PERIOD = ("2020-11-01", "2021-11-01")
#: the cube's variable suffix -> the video format's Sentinel-2 band name
S2_BANDS = {"B02": "B2", "B03": "B3", "B04": "B4", "B05": "B5", "B06": "B6", "B07": "B7", "B08": "B8",
            "B11": "B11", "B12": "B12"}


def cube_path(name: str = "worldcereal_preprocessed_inputs.nc") -> Path:
    """A file of the WorldCereal folder of the data directory."""
    return data_dir() / "worldcereal" / name


def day_ms(day: str) -> int:
    """``YYYY-MM-DD`` (UTC midnight) in milliseconds since the epoch."""
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def read_cube(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Raw uint16 variables (T, 100, 100) plus ``t_ms`` (T,), ``x`` and ``y`` pixel-centre coordinates (m)."""
    import netCDF4

    with netCDF4.Dataset(path or cube_path()) as ds:
        ds.set_auto_maskandscale(False)
        out = {name: np.asarray(var[:]).astype(np.uint16) for name, var in ds.variables.items() if var.ndim == 3}
        days = np.asarray(ds.variables["t"][:], np.int64)  # days since 1990-01-01
        out["x"] = np.asarray(ds.variables["x"][:], np.float64)
        out["y"] = np.asarray(ds.variables["y"][:], np.float64)
    out["t_ms"] = (days * 86_400_000 + day_ms("1990-01-01")).astype(np.int64)
    return out


def decode_sources(cube: dict[str, np.ndarray]) -> dict[str, SourceFrames]:
    """The whole grid as video sources: S2 reflectance (0-1), S1 dB, AgERA5 K and m, DEM m (one frame)."""
    t = cube["t_ms"]
    s2_raw = np.stack([cube[f"S2-L2A-{b}"] for b in S2_BANDS], axis=-1)
    s2_mask = np.all(s2_raw != NODATA, axis=-1)
    s1_raw = np.stack([cube["S1-SIGMA0-VV"], cube["S1-SIGMA0-VH"]], axis=-1)
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
        "s2": SourceFrames(np.where(s2_mask[..., None], s2_raw / 1e4, 0.0), s2_mask, t, tuple(S2_BANDS.values())),
        "s1": SourceFrames(s1_db, s1_mask, t, ("VV", "VH")),
        "era5": SourceFrames(era, era_mask, t, ("temperature_2m", "total_precipitation_sum")),
        "dem": SourceFrames(
            np.where(dem_mask, elev_raw[first : first + 1], 0).astype(np.float32)[..., None], dem_mask, t[:1],
            ("elevation",),
        ),
    }


def cube_video() -> SiteVideo:
    """The whole 100 x 100 cube as one site video (no text)."""
    cube = read_cube()
    x0, y0 = cube["x"][0] - 5.0, cube["y"][0] + 5.0  # pixel centres -> the grid's upper-left corner
    return SiteVideo(
        site_id="32631_cube", crs="EPSG:32631", transform=(10.0, 0.0, x0, 0.0, -10.0, y0),
        center_lonlat=(5.32, 50.63), period_ms=(day_ms(PERIOD[0]), day_ms(PERIOD[1])),
        sources=decode_sources(cube), text=(), text_embedding=np.zeros((0, 384), np.float32),
        properties={"origin": "worldcereal_preprocessed_inputs.nc"})


def cropland_labels(path: str | Path | None = None) -> np.ndarray:
    """(100, 100) int: WorldCereal's own cropland map of the cube's grid (1 cropland, 0 other; a model output
    used as a reference, from ``worldcereal_cropland_classification.nc``)."""
    import netCDF4

    with netCDF4.Dataset(path or cube_path("worldcereal_cropland_classification.nc")) as ds:
        names = [str(n) for n in ds.variables["bands"][:]]
        values = np.asarray(ds.variables["__xarray_dataarray_variable__"][:])
    return values[names.index("classification")].astype(int)
