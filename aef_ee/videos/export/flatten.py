"""Frames flattened into bands: the naming scheme and the Earth Engine image both export paths fetch.

Earth Engine returns (``computePixels``) and exports (``Export.image``) single images, so a site's video is fetched
as one image whose bands are its frames' bands, named::

    <source>__<key>__b__<band>    a data band in physical units, 0 where invalid     e.g. s2__0007__b__B4
    <source>__<key>__valid        1 where every present band is valid (nodata, clouds), else 0
    <source>__<key>__m__<band>    a metadata band (S1 incidence angle), 0 where invalid

``key`` is the frame's index in its tile's frame list (:mod:`aef_ee.videos.export.plan`), four digits. All bands are
float32 and unmasked, so a GeoTIFF export and a NumPy ``computePixels`` carry the same values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aef_ee.errors import ExportError
from aef_ee.videos.export.plan import Frame
from aef_ee.videos.sources import Source

__all__ = ["FlatBand", "data_band", "valid_band", "meta_band", "parse_band", "frame_bands", "frame_image",
           "flat_image"]

_PATTERN = re.compile(r"^(?P<source>[^/]+?)__(?P<key>\d{4,})__(?:(?P<kind>b|m)__(?P<band>.+)|(?P<valid>valid))$")


@dataclasses.dataclass(frozen=True)
class FlatBand:
    """A parsed flat band name. ``kind`` is ``"data"``, ``"valid"`` or ``"meta"``; ``band`` is empty for valid."""

    source: str
    key: int
    kind: str
    band: str


def data_band(source: str, key: int, band: str) -> str:
    return f"{source}__{key:04d}__b__{band}"


def valid_band(source: str, key: int) -> str:
    return f"{source}__{key:04d}__valid"


def meta_band(source: str, key: int, band: str) -> str:
    return f"{source}__{key:04d}__m__{band}"


def parse_band(name: str) -> FlatBand:
    """Raises ExportError when ``name`` is not a flat band name."""
    m = _PATTERN.match(name)
    if m is None:
        raise ExportError(f"{name!r} is not a flattened frame band (<source>__<key>__b__<band> or __valid)")
    if m.group("valid"):
        return FlatBand(m.group("source"), int(m.group("key")), "valid", "")
    return FlatBand(m.group("source"), int(m.group("key")), "data" if m.group("kind") == "b" else "meta",
                    m.group("band"))


def _present_bands(source: Source, frame: Frame) -> list[str]:
    available = {b for image in frame.images for b in image.bands}
    return [b.name for b in source.bands if b.ee_name in available]


def _meta_bands(source: Source, frame: Frame) -> list[str]:
    """Metadata bands of an acquisition or static frame: those any of its images has (none for composites)."""
    if frame.kind == "composite":
        return []
    available = {b for image in frame.images for b in image.bands}
    return [m for m in source.metadata_bands if m in available]


def frame_bands(source: Source, frame: Frame) -> list[str]:
    """The flat band names of one frame (none for a frame without images)."""
    if not frame.images:
        return []
    names = [data_band(source.name, frame.key, b) for b in source.band_names]
    names.append(valid_band(source.name, frame.key))
    names += [meta_band(source.name, frame.key, m) for m in _meta_bands(source, frame)]
    return names


def _load(image_info: Any) -> Any:
    import ee

    image = ee.Image(image_info.id)
    for link_id, link_bands in image_info.links:
        image = image.addBands(ee.Image(link_id).select(list(link_bands)))
    return image


def _all_valid(image: Any, bands: Sequence[str]) -> Any:
    """A 0/1 image: 1 where every one of ``bands`` is unmasked (0 everywhere when ``bands`` is empty)."""
    import ee

    if not bands:
        return ee.Image.constant(0)
    masks = image.select(list(bands)).mask()
    return (masks.reduce(ee.Reducer.min()) if len(bands) > 1 else masks).gt(0)


def _reduce(images: list[Any], reducer: str, names: Sequence[str]) -> Any:
    import ee

    collection = ee.ImageCollection.fromImages(images)
    if reducer == "mosaic":
        return collection.mosaic()
    reduced = collection.reduce(getattr(ee.Reducer, reducer)())
    return reduced.rename(list(names))


def frame_image(source: Source, frame: Frame, reducer: str = "median") -> Any | None:
    """The ``ee.Image`` of one frame's flat bands (see the module docstring), or None for a frame without images.

    Acquisitions prepare their image (:meth:`Source.prepare_image`; the images of one pass are mosaicked);
    composites reduce their prepared images with ``reducer``; static frames mosaic theirs (later images on top).
    """
    import ee

    if not frame.images:
        return None
    if len(frame.images) == 1:
        prepared = source.prepare_image(_load(frame.images[0]), frame.images[0].bands)
    else:
        parts = [source.prepare_image(_load(i), i.bands) for i in frame.images]
        prepared = _reduce(parts, reducer if frame.kind == "composite" else "mosaic", source.band_names)
    present = _present_bands(source, frame)
    valid = _all_valid(prepared, present)
    out = [
        prepared.unmask(0, False).rename([data_band(source.name, frame.key, b) for b in source.band_names]),
        valid.unmask(0, False).rename(valid_band(source.name, frame.key)),
    ]
    for m in _meta_bands(source, frame):
        parts = [_load(i).select(m).toFloat() for i in frame.images if m in i.bands]
        raw = parts[0] if len(parts) == 1 else ee.ImageCollection.fromImages(parts).mosaic()
        out.append(raw.updateMask(valid).unmask(0, False).rename(meta_band(source.name, frame.key, m)))
    return ee.Image.cat(out).toFloat()


def flat_image(frames: Mapping[str, Iterable[Frame]], sources: Mapping[str, Source],
               reducer: str = "median") -> tuple[Any, list[str]]:
    """One ``ee.Image`` with the flat bands of every frame given, and its band names in order.

    Raises:
      ExportError: no frame has an image.
    """
    import ee

    images, names = [], []
    for name, source_frames in frames.items():
        for frame in source_frames:
            image = frame_image(sources[name], frame, reducer)
            if image is not None:
                images.append(image)
                names += frame_bands(sources[name], frame)
    if not images:
        raise ExportError("no frame with an image to fetch")
    return (ee.Image.cat(images) if len(images) > 1 else images[0]), names
