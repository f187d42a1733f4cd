"""Reading frames flattened into bands back from GeoTIFFs (Earth Engine exports), window by window.

Earth Engine names a GeoTIFF's bands after the image's bands (the GeoTIFF band descriptions), and splits a large
export into several files (``<prefix>-0000000000-0000000000.tif``, ...) that tile the export region. A site's
window may therefore span files; :func:`read_site_bands` pastes the parts together.

:func:`suffixed_band_map` maps the other flattening Earth Engine users meet - ``ee.Image.cat`` / ``toBands`` of
frames with equal band names, which Earth Engine renames ``VV``, ``VV_1``, ``VV_2``, ... (CropHarvest's exports) -
to the exporter's ``<source>__<key>__b__<band>`` names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from aef_ee.errors import ExportError
from aef_ee.videos.export.flatten import data_band
from aef_ee.videos.sites import Site

if TYPE_CHECKING:
    from aef_ee.videos.sources import Source
    from aef_ee.videos.format import SiteVideo

__all__ = ["read_site_bands", "band_names_of", "suffixed_band_map", "video_from_suffixed_geotiff"]

_SUFFIX = re.compile(r"^(?P<base>.+?)(?:_(?P<k>\d+))?$")


def band_names_of(path: str, fallback: Sequence[str] | None = None) -> list[str]:
    """The band names of a GeoTIFF: its band descriptions, else ``fallback`` (same count).

    Raises:
      ExportError: no descriptions and no fallback of the right length.
    """
    import rasterio

    with rasterio.open(path) as src:
        names = list(src.descriptions)
        count = src.count
    if all(names) and len(set(names)) == count:
        return [str(n) for n in names]
    if fallback is not None and len(fallback) == count:
        return list(fallback)
    raise ExportError(f"{path}: {count} bands without unique descriptions, and no band list of that length")


def read_site_bands(paths: Sequence[str], site: Site, names: Sequence[str], *,
                    fallback_names: Sequence[str] | None = None,
                    rename: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """The site's window of the named bands, from GeoTIFFs that tile an export region on the site's grid.

    Args:
      paths: the export's files (one or several tiles of the region).
      site: its grid must align with the files' grid (same CRS and pixel size, integer offset).
      names: band names to read (after ``rename``).
      fallback_names: band names in file order when a file has no descriptions (the exporter's tasks file).
      rename: file band name -> wanted name (e.g. from :func:`suffixed_band_map`).

    Returns:
      name -> (L, L) float32; NaN where no file covers the pixel (Earth Engine crops an export's region to the
      image's footprint, so a site at the data's edge is only partly covered).

    Raises:
      ExportError: a grid mismatch or a missing band.
    """
    import rasterio
    from rasterio.windows import Window

    shape = (site.size, site.size)
    out = {name: np.full(shape, np.nan, np.float32) for name in names}
    for path in paths:
        file_names = band_names_of(path, fallback_names)
        if rename:
            file_names = [rename.get(n, n) for n in file_names]
        index = {n: i + 1 for i, n in enumerate(file_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise ExportError(f"{path} lacks bands {missing[:5]}{'...' if len(missing) > 5 else ''}")
        with rasterio.open(path) as src:
            a, b, c, d, e, f = src.transform[:6]
            epsg = src.crs.to_epsg() if src.crs is not None else None
            if epsg != site.epsg or b != 0 or d != 0 or not np.isclose(a, site.resolution_m) \
                    or not np.isclose(-e, site.resolution_m):
                raise ExportError(f"{path} is on another grid ({src.crs}, {src.transform[:6]}) than site "
                                  f"{site.site_id} ({site.crs}, {site.transform})")
            col, row = (site.x0 - c) / a, (site.y0 - f) / e
            if not (np.isclose(col, round(col)) and np.isclose(row, round(row))):
                raise ExportError(f"{path}: site {site.site_id} is not on the file's pixel grid (offset {col}, {row})")
            col, row = int(round(col)), int(round(row))
            r0, r1 = max(row, 0), min(row + site.size, src.height)
            c0, c1 = max(col, 0), min(col + site.size, src.width)
            if r0 >= r1 or c0 >= c1:
                continue
            data = src.read([index[n] for n in names], window=Window(c0, r0, c1 - c0, r1 - r0)).astype(np.float32)
        for k, name in enumerate(names):
            out[name][r0 - row:r1 - row, c0 - col:c1 - col] = data[k]
    return out


def suffixed_band_map(names: Sequence[str], bands: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Maps Earth Engine's de-duplicated band names (``VV``, ``VV_1``, ...) to flat frame band names.

    Args:
      names: the file's band names, e.g. ``["VV", "VH", "B1", ..., "VV_1", ...]``.
      bands: base name -> (source, band), e.g. ``{"VV": ("s1", "VV"), "total_precipitation":
        ("era5", "total_precipitation_sum")}``. Names whose base is not listed are left out.

    Returns:
      file name -> ``<source>__<k>__b__<band>``, where k is the suffix (0 when there is none).
    """
    out = {}
    for name in names:
        if name in bands:
            base, k = name, 0
        else:
            m = _SUFFIX.match(name)
            if m is None or m.group("base") not in bands or m.group("k") is None:
                continue
            base, k = m.group("base"), int(m.group("k"))
        source, band = bands[base]
        out[name] = data_band(source, k, band)
    return out


def video_from_suffixed_geotiff(
    path: str,
    site: Site,
    bands: Mapping[str, tuple[str, str]],
    sources: Mapping[str, "Source"],
    timestamps_ms: Mapping[str, Sequence[int]],
    *,
    decode: bool = True,
) -> "SiteVideo":
    """A site video from an Earth Engine export whose frames were flattened with de-duplicated band names.

    Args:
      path: the GeoTIFF (e.g. a CropHarvest export).
      site: the window to read, on the file's grid.
      bands: base band name -> (source, band), see :func:`suffixed_band_map`.
      sources: source name -> Source declaring those bands.
      timestamps_ms: source -> frame times; frame k is the suffix ``_k`` (no suffix: k = 0).
      decode: the file holds raw collection values; apply each band's documented scaling.

    Returns:
      The video; a pixel is valid where every band of its frame is finite (Earth Engine writes masked pixels
      of float exports as NaN or leaves them out).
    """
    from aef_ee.videos.export.assemble import assemble_video
    from aef_ee.videos.export.flatten import valid_band
    from aef_ee.videos.export.plan import Frame, ImageInfo

    rename = suffixed_band_map(band_names_of(path), bands)
    arrays = read_site_bands([path], site, sorted(rename.values()), rename=rename)
    frames: dict[str, list[Frame]] = {}
    for name, times in timestamps_ms.items():
        source = sources[name]
        source_frames = []
        for k, t in enumerate(times):
            keys = [data_band(name, k, b) for b in source.band_names]
            present = [key for key in keys if key in arrays]
            if not present:
                continue
            valid = np.ones((site.size, site.size), bool)
            for key, band in zip(keys, source.bands):
                if key not in arrays:
                    raise ExportError(f"{path}: frame {k} of {name!r} lacks band {band.name!r}")
                valid &= np.isfinite(arrays[key])
                if decode:
                    arrays[key] = band.decode_numpy(np.where(np.isfinite(arrays[key]), arrays[key], 0.0))
            arrays[valid_band(name, k)] = valid.astype(np.float32)
            kind = "static" if len(times) == 1 else "acquisition"
            image = ImageInfo(id=f"{path}#{name}_{k}", time_start_ms=int(t), bands=source.band_names)
            source_frames.append(Frame(k, int(t), (image,), int(t) if kind == "acquisition" else int(t) + 1, kind))
        frames[name] = source_frames
    return assemble_video(site, frames, sources, arrays, drop_empty_frames=False)
