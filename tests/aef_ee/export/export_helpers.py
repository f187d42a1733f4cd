"""Belgium and BigEarthNet sites of the demo catalog, and its files read directly (independently of the exporter)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from aef_ee.videos.sites import Site, parse_period

# The demo catalog's Belgium grid (WorldCereal cube): EPSG:32631, 100 x 100 px at 10 m, top-left (664000, 5612120).
BELGIUM_PERIOD = parse_period("2020-11-01", "2021-11-01")
BIGEARTHNET_PERIOD = parse_period("2017-06-01", "2018-03-01")


def belgium_sites(size: int = 32) -> list[Site]:
    """Six sites inside the Belgium grid plus two straddling its north and east edges (nodata there)."""
    step = size * 10.0
    inside = [Site(32631, 664000.0 + i * step, 5611840.0 - j * step, size, 10.0, BELGIUM_PERIOD)
              for j in range(2) for i in range(3)]
    edges = [Site(32631, 664000.0, 5611840.0 + step, size, 10.0, BELGIUM_PERIOD),
             Site(32631, 664000.0 + 3 * step, 5611840.0, size, 10.0, BELGIUM_PERIOD)]
    return inside + edges


def bigearthnet_sites(catalog: Path, size: int = 32) -> list[Site]:
    """For each BigEarthNet S2 patch, the grid site holding its centre (patches are 120 px, sites straddle edges)."""
    out = []
    folder = catalog / "COPERNICUS" / "S2_SR_HARMONIZED"
    for path in sorted(folder.glob("*_*_T*.B2.tif")):
        with rasterio.open(path) as src:
            cx, cy = src.xy(src.height // 2, src.width // 2)
            epsg = src.crs.to_epsg()
        step = size * 10.0
        out.append(Site(epsg, np.floor(cx / step) * step, np.floor(cy / step) * step + step, size, 10.0,
                        BIGEARTHNET_PERIOD))
    return out


def read_window(path: Path, band: int, site: Site, fill: float) -> np.ndarray:
    """The site's window of a file on the same 10 m grid, read independently of the exporter (full read, slice)."""
    with rasterio.open(path) as src:
        data = src.read(band).astype(np.float64)
        a, _, c, _, e, f = src.transform[:6]
    factor = int(round(a / site.resolution_m))
    data = np.repeat(np.repeat(data, factor, axis=0), factor, axis=1)  # 20/60 m -> 10 m, nearest
    out = np.full((site.size, site.size), fill, np.float64)
    r0 = int(round((f - site.y0) / site.resolution_m))
    c0 = int(round((site.x0 - c) / site.resolution_m))
    for r in range(site.size):
        for col in range(site.size):
            rr, cc = r + r0, col + c0
            if 0 <= rr < data.shape[0] and 0 <= cc < data.shape[1]:
                out[r, col] = data[rr, cc]
    return out


def image_manifest(catalog: Path, image_id: str) -> dict:
    return json.loads((catalog / f"{image_id}.image.json").read_text())
