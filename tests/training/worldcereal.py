"""The WorldCereal Belgium cube in ``data/`` as real site videos, for the training tests and benchmarks.

``worldcereal_preprocessed_inputs.nc`` (openEO/WorldCereal test resource, see ``data/PROVENANCE.md``) holds 12
monthly composites (2020-11 .. 2021-10) of Sentinel-2 L2A (9 bands), Sentinel-1 VV/VH, AgERA5 and a DEM on a
100 x 100 grid of 10 m pixels in EPSG:32631. We cut 9 overlapping 48 x 48 sites, decode each variable to the physical
units of the video format, mask nodata (65535), attach a short text made from the WorldCereal crop-type
probabilities over the same site (``worldcereal_croptype_classification.nc``) with its embedding from our local
deterministic text encoder (the decoder itself is
:mod:`aef_ee.demo.belgium_cube`); ``conftest.py`` writes them with the real :class:`aef_ee.videos.format.VideoWriter`.
"""

from __future__ import annotations

import netCDF4
import numpy as np
from pyproj import Transformer

from aef_ee.videos.format import SiteVideo, SourceFrames
from aef_ee.demo.belgium_cube import NODATA, PERIOD, S2_BANDS, cube_path, day_ms, decode_sources, read_cube

__all__ = ["CUBE", "NODATA", "OFFSETS", "PERIOD", "S2_BANDS", "SITE", "build_videos", "crop_texts",
           "decode_sources", "read_cube"]

CROPTYPE = cube_path("worldcereal_croptype_classification.nc")
CUBE = cube_path()
SITE = 48
OFFSETS = (0, 26, 52)
_ms = day_ms


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
