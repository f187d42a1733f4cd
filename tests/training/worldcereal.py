"""The WorldCereal Belgium cube in ``data/`` as real site videos, for the training tests and benchmarks.

``worldcereal_preprocessed_inputs.nc`` (openEO/WorldCereal test resource, see ``data/PROVENANCE.md``) holds 12
monthly composites (2020-11 .. 2021-10) of Sentinel-2 L2A (9 bands), Sentinel-1 VV/VH, AgERA5 and a DEM on a
100 x 100 grid of 10 m pixels in EPSG:32631. We cut 9 overlapping 48 x 48 sites, decode each variable to the physical
units of the video format, mask nodata (65535), attach a short text made from the WorldCereal crop-type
probabilities over the same site (``worldcereal_croptype_classification.nc``) with its embedding from our local
deterministic text encoder; ``conftest.py`` writes them with the real :class:`aef_ee.videos.format.VideoWriter`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import netCDF4
import numpy as np
from pyproj import Transformer

from aef_ee.videos.format import SiteVideo, SourceFrames

REPO = Path(__file__).resolve().parents[2]
CUBE = REPO / "data" / "worldcereal" / "worldcereal_preprocessed_inputs.nc"
CROPTYPE = REPO / "data" / "worldcereal" / "worldcereal_croptype_classification.nc"
NODATA = 65535
SITE = 48
OFFSETS = (0, 26, 52)
PERIOD = ("2020-11-01", "2021-11-01")
S2_BANDS = {"B02": "B2", "B03": "B3", "B04": "B4", "B05": "B5", "B06": "B6", "B07": "B7", "B08": "B8",
            "B11": "B11", "B12": "B12"}


def _ms(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def read_cube() -> dict[str, np.ndarray]:
    """Raw uint16 variables (T, 100, 100) plus ``t_ms`` (T,), ``x`` and ``y`` pixel-centre coordinates."""
    with netCDF4.Dataset(CUBE) as ds:
        ds.set_auto_maskandscale(False)
        out = {name: np.asarray(var[:]).astype(np.uint16) for name, var in ds.variables.items() if var.ndim == 3}
        days = np.asarray(ds.variables["t"][:], np.int64)  # days since 1990-01-01
        out["x"] = np.asarray(ds.variables["x"][:], np.float64)
        out["y"] = np.asarray(ds.variables["y"][:], np.float64)
    out["t_ms"] = (days * 86_400_000 + _ms("1990-01-01")).astype(np.int64)
    return out


def decode_sources(cube: dict[str, np.ndarray]) -> dict[str, SourceFrames]:
    """The whole 100 x 100 grid as video sources in physical units."""
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


def crop_texts() -> dict[tuple[int, int], str]:
    """Per site origin, a sentence naming the two crops with the highest mean WorldCereal probability there."""
    with netCDF4.Dataset(CROPTYPE) as ds:
        names = [str(n) for n in ds.variables["bands"][:]]
        probs = np.asarray(ds.variables["__xarray_dataarray_variable__"][:], np.float64)
    crops = [(i, n.removeprefix("probability_").replace("_", " ")) for i, n in enumerate(names)
             if n.startswith("probability_")]
    texts = {}
    for oy in OFFSETS:
        for ox in OFFSETS:
            means = [(probs[i, oy : oy + SITE, ox : ox + SITE].mean(), n) for i, n in crops]
            (p1, c1), (p2, c2) = sorted(means, reverse=True)[:2]
            texts[(oy, ox)] = f"fields in Flanders, mostly {c1} ({p1:.0f}%) and some {c2} ({p2:.0f}%)"
    return texts


def build_videos() -> list[SiteVideo]:
    from aef_ee_training.text import HashingEncoder

    cube = read_cube()
    sources = decode_sources(cube)
    texts = crop_texts()
    encoder = HashingEncoder()
    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    x0 = cube["x"][0] - 5.0  # pixel centres -> the grid's upper-left corner
    y0 = cube["y"][0] + 5.0
    videos = []
    for oy in OFFSETS:
        for ox in OFFSETS:
            window = np.s_[:, oy : oy + SITE, ox : ox + SITE]
            cut = {
                name: SourceFrames(src.frames[window], src.mask[window], src.timestamps_ms, src.bands)
                for name, src in sources.items()
            }
            left, top = x0 + 10.0 * ox, y0 - 10.0 * oy
            lon, lat = to_lonlat.transform(left + 5.0 * SITE, top - 5.0 * SITE)
            text = (texts[(oy, ox)],)
            videos.append(
                SiteVideo(
                    site_id=f"32631_{int(left)}_{int(top)}",
                    crs="EPSG:32631",
                    transform=(10.0, 0.0, left, 0.0, -10.0, top),
                    center_lonlat=(lon, lat),
                    period_ms=(_ms(PERIOD[0]), _ms(PERIOD[1])),
                    sources=cut,
                    text=text,
                    text_embedding=encoder.encode(list(text)),
                    properties={"origin": "worldcereal_preprocessed_inputs.nc", "offset_yx": [oy, ox]},
                )
            )
    return videos
