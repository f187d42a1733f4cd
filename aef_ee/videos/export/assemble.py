"""From fetched flat-band pixel arrays to a :class:`~aef_ee.videos.format.SiteVideo` (pure numpy, shared by both
paths)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aef_ee.errors import ExportError
from aef_ee.videos.export.flatten import data_band, frame_bands, meta_band, valid_band
from aef_ee.videos.export.plan import Frame
from aef_ee.videos.sites import Site
from aef_ee.videos.sources import Source
from aef_ee.videos.format import SiteVideo, SourceFrames

__all__ = ["assemble_video", "required_bands"]


def required_bands(frames: Mapping[str, Sequence[Frame]], sources: Mapping[str, Source]) -> list[str]:
    """The flat band names a site needs, in order."""
    return [b for name, fs in frames.items() for f in fs for b in frame_bands(sources[name], f)]


def assemble_video(
    site: Site,
    frames: Mapping[str, Sequence[Frame]],
    sources: Mapping[str, Source],
    arrays: Mapping[str, np.ndarray],
    *,
    drop_empty_frames: bool = True,
) -> SiteVideo:
    """Builds a site's video from its frames and the pixel arrays of their flat bands.

    Args:
      site: the site (its grid is the arrays' grid).
      frames: source -> the site's frames (:func:`aef_ee.videos.export.plan.site_frames`).
      arrays: flat band name -> (L, L) array on the site grid (float; NaN counts as invalid).
      drop_empty_frames: drop acquisition frames without a valid pixel (composite bins and static frames stay).

    Returns:
      The video; sources left without frames are absent. ``properties["frames"][source]`` lists per frame its
      image IDs, kept image properties and metadata-band means over valid pixels.

    Raises:
      ExportError: a needed band is missing from ``arrays`` or has the wrong shape.
    """
    shape = (site.size, site.size)
    out: dict[str, SourceFrames] = {}
    frame_meta: dict[str, list[dict[str, Any]]] = {}
    for name, source_frames in frames.items():
        source = sources[name]
        stacks, masks, times, metas = [], [], [], []
        for frame in source_frames:
            data = np.zeros(shape + (len(source.bands),), np.float32)
            valid = np.zeros(shape, bool)
            meta: dict[str, Any] = {"images": [i.id for i in frame.images]}
            if frame.images and frame.kind != "composite":
                meta.update(frame.images[0].properties)  # a pass's first image speaks for the frame
            if frame.images:
                for c, band in enumerate(source.band_names):
                    data[..., c] = _get(arrays, data_band(name, frame.key, band), shape)
                valid = _get(arrays, valid_band(name, frame.key), shape) > 0.5
                valid &= np.isfinite(data).all(axis=-1)
                data[~valid] = 0.0
                for m in source.metadata_bands:
                    key = meta_band(name, frame.key, m)
                    if key in arrays and valid.any():
                        meta[m] = float(np.asarray(arrays[key], np.float64)[valid].mean())
            if frame.kind == "acquisition" and drop_empty_frames and not valid.any():
                continue
            stacks.append(data)
            masks.append(valid)
            times.append(frame.timestamp_ms)
            metas.append(meta)
        if not stacks:
            continue
        out[name] = SourceFrames(
            frames=np.stack(stacks), mask=np.stack(masks), timestamps_ms=np.asarray(times, np.int64),
            bands=source.band_names,
        )
        frame_meta[name] = metas
    properties = dict(site.properties)
    text = tuple(str(t) for t in properties.pop("text", ()))  # from aef_ee.videos.export.text.attach_text
    properties["frames"] = frame_meta
    properties["roles"] = {name: sources[name].role for name in out}
    return SiteVideo(
        site_id=site.site_id, crs=site.crs, transform=site.transform, center_lonlat=site.center_lonlat,
        period_ms=site.period_ms, sources=out, text=text, properties=properties,
    )


def _get(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int, int]) -> np.ndarray:
    try:
        value = np.asarray(arrays[key], np.float32)
    except KeyError:
        raise ExportError(f"band {key!r} missing from the fetched pixels") from None
    if value.shape != shape:
        raise ExportError(f"band {key!r} has shape {value.shape}, expected {shape}")
    return value
