"""Exporting straight from a local catalog's files with rasterio and numpy, no Earth Engine in between.

:class:`CatalogFilesBackend` implements the interactive path's :class:`~aef_ee.videos.export.interactive.PixelBackend`
from a catalog directory (the local engine's format, :mod:`aef_ee.local.catalog`): listings from the image
manifests, pixels by reading each band's window on the site grid (nearest neighbour when the band's grid differs),
decoding, masking and compositing with the registry's numpy equivalents (:meth:`Source.decode_numpy`,
:meth:`Source.quality_numpy`). It is the reference the Earth Engine paths are tested against, and the floor of
the throughput benchmark.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.errors import ExportError
from aef_ee.videos.export.flatten import data_band, meta_band, valid_band
from aef_ee.videos.export.plan import Frame, ImageInfo, Tile
from aef_ee.videos.sites import Site
from aef_ee.videos.sources import S2CloudMask, Source

__all__ = ["CatalogFilesBackend", "read_band_on_grid", "read_bands_on_grid", "reduce_frames"]

log = logging.getLogger(__name__)


def read_band_on_grid(path: str, band_index: int, site: Site, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """One band of a raster file on the site's grid; see :func:`read_bands_on_grid`."""
    return read_bands_on_grid(path, [(band_index, nodata)], site)[0]


def read_bands_on_grid(path: str, bands: Sequence[tuple[int, float | None]],
                       site: Site) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bands of one raster file on the site's grid.

    Args:
      bands: (1-based band index, nodata or None) pairs.

    Returns:
      Per band: values (L, L) float64 and valid (L, L) bool (False outside the file and where the value is the
      band's nodata or not finite). An aligned grid of the same resolution is read as one clipped window; other
      grids are warped with nearest neighbour.
    """
    import rasterio
    from rasterio.warp import Resampling, reproject
    from rasterio.windows import Window

    shape = (site.size, site.size)
    out = []
    with rasterio.open(path) as src:
        a, b, c, d, e, f = src.transform[:6]
        col = (site.x0 - c) / a
        row = (site.y0 - f) / e
        same_grid = (
            src.crs is not None and src.crs.to_epsg() == site.epsg and b == 0 and d == 0
            and abs(a - site.resolution_m) < 1e-9 and abs(-e - site.resolution_m) < 1e-9
            and abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6
        )
        if same_grid:
            r0, c0 = int(round(row)), int(round(col))
            rs, re_ = max(0, -r0), min(site.size, src.height - r0)
            cs, ce = max(0, -c0), min(site.size, src.width - c0)
            inside = np.zeros(shape, bool)
            stack = np.zeros((len(bands),) + shape, np.float64)
            if rs < re_ and cs < ce:
                inside[rs:re_, cs:ce] = True
                window = Window(c0 + cs, r0 + rs, ce - cs, re_ - rs)
                stack[:, rs:re_, cs:ce] = src.read([i for i, _ in bands], window=window)
            for k, (_, nodata) in enumerate(bands):
                valid = inside & np.isfinite(stack[k])
                if nodata is not None:
                    valid &= stack[k] != nodata
                out.append((stack[k], valid))
        else:
            for index, nodata in bands:
                values = np.full(shape, np.nan, np.float64)
                reproject(
                    source=rasterio.band(src, index), destination=values, dst_transform=site.transform,
                    dst_crs=site.crs, src_nodata=nodata, dst_nodata=np.nan, resampling=Resampling.nearest,
                )
                valid = np.isfinite(values)
                if nodata is not None:
                    valid &= values != nodata
                out.append((values, valid))
    return out


def reduce_frames(stack: np.ndarray, valid: np.ndarray, reducer: str) -> tuple[np.ndarray, np.ndarray]:
    """Combines images band by band over their valid pixels, as ``ee.ImageCollection.reduce`` / ``mosaic`` do.

    Args:
      stack: (N, H, W, C) values; valid: (N, H, W, C) bool.
      reducer: ``median`` | ``mean`` | ``min`` | ``max`` | ``mosaic`` (the last valid image in order wins).

    Returns:
      values (H, W, C) float64 (0 where no image is valid) and valid (H, W, C) bool.
    """
    any_valid = valid.any(axis=0)
    if reducer == "mosaic":
        last = stack.shape[0] - 1 - np.argmax(valid[::-1], axis=0)
        out = np.take_along_axis(stack, last[None], axis=0)[0]
    else:
        masked = np.where(valid, stack, np.nan)
        fn = {"median": np.nanmedian, "mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[reducer]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no valid image there
                out = fn(masked, axis=0)
    return np.where(any_valid, out, 0.0), any_valid


class CatalogFilesBackend:
    """Listings and pixels from a catalog directory's manifests and GeoTIFFs (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from aef_ee.local.catalog import Catalog

        self.catalog = Catalog(root)

    # -- listing ------------------------------------------------------------------------------------------------

    def list_images(self, source: Source, tile: Tile) -> list[ImageInfo]:
        import shapely.geometry

        from aef_ee.local.errors import AssetNotFound

        area = shapely.geometry.Polygon(tile.footprint_lonlat()).convex_hull
        lo, hi = tile.window_ms
        links = {}
        for link_id, link_bands in source.links:
            try:
                for record in self.catalog.list_images(link_id):
                    links[record.id.rsplit("/", 1)[-1]] = (record.id, link_bands)
            except AssetNotFound as missing:
                if isinstance(source.quality, S2CloudMask) and source.quality.method != "auto":
                    raise ExportError(
                        f"source {source.name!r} needs {link_id}, which the catalog does not hold") from missing
        images = []
        for collection in source.collections:
            try:
                records = self.catalog.list_images(collection)
            except AssetNotFound:
                continue
            for record in records:
                props = record.manifest.get("properties", {})
                t = int(props.get("system:time_start", 0))
                if not source.static and not lo <= t < hi:
                    continue
                if not all(f.matches(props) for f in source.filters):
                    continue
                footprint = self._footprint(record.id)
                if not shapely.geometry.shape(footprint).intersects(area):
                    continue
                index = record.id.rsplit("/", 1)[-1]
                link = (links[index],) if index in links else ()
                bands = tuple(b["id"] for b in record.manifest["bands"])
                bands += tuple(b for _, lb in link for b in lb if b not in bands)
                images.append(ImageInfo(
                    id=record.id, time_start_ms=t, bands=bands, links=link, footprint=footprint,
                    properties={k: props[k] for k in source.frame_properties if k in props},
                ))
        return sorted(images, key=lambda i: (i.time_start_ms, i.id))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one backend per export; manifests do not change meanwhile
    def _footprint(self, image_id: str) -> dict[str, Any]:
        import rasterio
        from rasterio.warp import transform_geom

        record = self.catalog.get(image_id)
        band = record.manifest["bands"][0]
        with rasterio.open(self.catalog.band_path(record, band)) as src:
            left, bottom, right, top = src.bounds
            ring = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
            return transform_geom(src.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]},
                                  precision=-1)

    # -- pixels -------------------------------------------------------------------------------------------------

    def _raw(self, image: ImageInfo, site: Site, names: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Raw band name -> (values, valid) on the site grid, for the names the image (or its links) has."""
        records = [(self.catalog.get(image.id), None)]
        records += [(self.catalog.get(link_id), set(bands)) for link_id, bands in image.links]
        by_file: dict[str, list[tuple[str, int, float | None]]] = {}
        seen: set[str] = set()
        for record, keep in records:
            for entry in record.manifest["bands"]:
                band_id = entry["id"]
                if band_id in names and (keep is None or band_id in keep) and band_id not in seen:
                    seen.add(band_id)
                    by_file.setdefault(self.catalog.band_path(record, entry), []).append(
                        (band_id, int(entry.get("band", 1)), entry.get("nodata")))
        out = {}
        for path, entries in by_file.items():
            results = read_bands_on_grid(path, [(i, nd) for _, i, nd in entries], site)
            for (band_id, _, _), result in zip(entries, results):
                out[band_id] = result
        return out

    def _prepared(self, source: Source, image: ImageInfo, site: Site) -> tuple[np.ndarray, np.ndarray, dict]:
        """(L, L, C) physical values, (L, L, C) per-band validity and the raw arrays, as ``prepare_image``."""
        raw = self._raw(image, site, source.raw_bands(image.bands))
        shape = (site.size, site.size)
        values = np.zeros(shape + (len(source.bands),), np.float64)
        valid = np.zeros(shape + (len(source.bands),), bool)
        for c, band in enumerate(source.bands):
            if band.ee_name in raw:
                v, ok = raw[band.ee_name]
                values[..., c] = band.decode_numpy(np.where(ok, v, 0.0))
                valid[..., c] = ok
        quality_raw = {k: np.where(ok, v, 0) for k, (v, ok) in raw.items()}
        needed = source.quality.required_bands(image.bands)
        quality = source.quality_numpy(quality_raw, image.bands) if quality_raw else np.ones(shape, bool)
        for q in needed:  # a masked quality pixel masks the data, as updateMask with a masked mask does
            quality = quality & raw[q][1]
        valid &= quality[..., None]
        return values, valid, raw

    def fetch(self, site: Site, frames: Mapping[str, Sequence[Frame]], sources: Mapping[str, Source],
              reducer: str) -> dict[str, np.ndarray]:
        """Flat band name -> (L, L) float32, the same bands ``computePixels`` of the flat image returns."""
        arrays: dict[str, np.ndarray] = {}
        for name, source_frames in frames.items():
            source = sources[name]
            for frame in source_frames:
                if not frame.images:
                    continue
                prepared = [self._prepared(source, image, site) for image in frame.images]
                if len(prepared) == 1:
                    values, valid, _ = prepared[0]
                else:
                    values, valid = reduce_frames(np.stack([p[0] for p in prepared]),
                                                  np.stack([p[1] for p in prepared]),
                                                  reducer if frame.kind == "composite" else "mosaic")
                available = {b for image in frame.images for b in image.bands}
                present = [c for c, b in enumerate(source.bands) if b.ee_name in available]
                frame_valid = valid[..., present].all(axis=-1) if present else np.zeros(valid.shape[:2], bool)
                for c, band in enumerate(source.band_names):
                    arrays[data_band(name, frame.key, band)] = np.where(valid[..., c], values[..., c], 0.0
                                                                        ).astype(np.float32)
                arrays[valid_band(name, frame.key)] = frame_valid.astype(np.float32)
                if frame.kind != "composite":
                    for m in source.metadata_bands:
                        layers = [p[2][m] for p in prepared if m in p[2]]
                        if not layers:
                            continue
                        mosaic = np.zeros(frame_valid.shape, np.float64)
                        for v, ok in layers:  # later images on top, as ee.ImageCollection.mosaic
                            mosaic = np.where(ok, v, mosaic)
                        arrays[meta_band(name, frame.key, m)] = np.where(frame_valid, mosaic, 0.0).astype(np.float32)
        return arrays
