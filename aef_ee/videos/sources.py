"""The sensor registry: which Earth Engine collections feed a training video, and how to read them.

A :class:`Source` declares, for one sensor product: its collection ID(s), the bands kept and how each decodes to
physical units (scale/offset, or an amplitude-to-dB conversion), its native resolution, its quality mask (clouds,
shadows, quality flags), per-frame metadata, the normalisation the model applies, and whether it is a model *input*
or a reconstruction *target* only.

Every decoding and masking step exists twice, with the same arithmetic: as an Earth Engine expression
(:meth:`Source.prepare_image`, built with the ``ee`` client API and evaluated server-side) and in numpy
(:meth:`Source.decode_numpy`, :meth:`Source.quality_numpy`) for tests and for trainers that read raw values.

Users add a product with one declaration::

    from aef_ee.videos.sources import Band, Source, register_source
    register_source(Source(
        name="modis_lst", collections=("MODIS/061/MOD11A1",), resolution_m=1000.0, role="target",
        bands=(Band("LST_Day_1km", scale=0.02, unit="K", normaliser=Normaliser(offset=-273.15, std=20.0)),),
    ))

Built-in sources: ``s2``, ``s2_l1c``, ``s1``, ``landsat``, ``era5``, ``era5_daily``, ``dem``, ``gedi``, ``grace``,
``palsar``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from aef_ee.errors import AefKeyError, AefValueError, UnknownSourceError

__all__ = [
    "Band",
    "Normaliser",
    "PropertyFilter",
    "QualityMask",
    "NoQuality",
    "BitmaskQuality",
    "ValueSetQuality",
    "S2CloudMask",
    "GediQuality",
    "Source",
    "UnknownBandError",
    "register_source",
    "get_source",
    "list_sources",
    "CLOUD_SCORE_PLUS",
]

log = logging.getLogger(__name__)

Role = Literal["input", "target"]
Decode = Literal["linear", "amplitude_db"]

# Cloud Score+ for Sentinel-2; images share ``system:index`` with the S2 (L1C and L2A) images they score.
CLOUD_SCORE_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
# Google's recommended default: pixels whose cs_cdf is at least 0.5 are clear enough.
DEFAULT_CS_THRESHOLD = 0.5


class UnknownBandError(AefKeyError):
    """A band name is not declared by the source it was asked of."""


# ----------------------------------------------------------------------------------------------------------------
# Normalisation for the model


@dataclasses.dataclass(frozen=True)
class Normaliser:
    """A fixed per-band transform from physical units to values of order one, applied before the model.

    ``y = ((log1p(max(x * scale + offset, 0)) if log1p else x * scale + offset) - mean) / std``.
    The dataset index additionally stores the mean/std of ``y`` per band (computed at export) for standardisation.
    """

    scale: float = 1.0
    offset: float = 0.0
    log1p: bool = False
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise AefValueError(f"Normaliser std must be > 0; got {self.std!r}")

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` any shape, physical units -> float32 same shape."""
        y = np.asarray(x, np.float32) * np.float32(self.scale) + np.float32(self.offset)
        if self.log1p:
            y = np.log1p(np.maximum(y, 0.0))
        return ((y - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)


IDENTITY = Normaliser()
# Optical reflectance: log(x + 1) on the 1e4-scaled digital number, as AlphaEarth does on raw optical values.
OPTICAL = Normaliser(scale=1e4, log1p=True)
# Backscatter in dB, standardised with typical land values (VV about -11 dB, VH about -18 dB, spread about 5 dB).
SAR_VV = Normaliser(mean=-11.0, std=5.0)
SAR_VH = Normaliser(mean=-18.0, std=5.0)
KELVIN = Normaliser(offset=-273.15, std=20.0)


# ----------------------------------------------------------------------------------------------------------------
# Bands and filters


@dataclasses.dataclass(frozen=True)
class Band:
    """One band of a source.

    Attributes:
      name: the band's name in videos (e.g. ``"B2"``, ``"VV"``, ``"elevation"``).
      source_band: its name in the Earth Engine collection, when different (e.g. ``"SR_B2"``, ``"DEM"``).
      scale, offset: ``physical = raw * scale + offset`` for ``decode="linear"``.
      decode: ``"linear"`` or ``"amplitude_db"`` (``dB = 10 * log10(raw ** 2) + offset``, PALSAR DN).
      unit: physical unit after decoding, for documentation.
      normaliser: transform applied for the model.
    """

    name: str
    source_band: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    decode: Decode = "linear"
    unit: str = ""
    normaliser: Normaliser = IDENTITY

    def __post_init__(self) -> None:
        if not self.name or "__" in self.name or "/" in self.name:
            raise AefValueError(f"band name {self.name!r} must be non-empty and contain no '__' or '/'")
        if self.decode not in ("linear", "amplitude_db"):
            raise AefValueError(f"band {self.name!r}: unknown decode {self.decode!r}")

    @property
    def ee_name(self) -> str:
        return self.source_band or self.name

    def decode_numpy(self, raw: np.ndarray) -> np.ndarray:
        """Raw collection values -> float32 physical units (same shape)."""
        x = np.asarray(raw, np.float64)
        if self.decode == "amplitude_db":
            with np.errstate(divide="ignore"):
                y = 10.0 * np.log10(np.maximum(x, 1.0) ** 2) + self.offset
        else:
            y = x * self.scale + self.offset
        return y.astype(np.float32)

    def decode_ee(self, raw: Any) -> Any:
        """The same as :meth:`decode_numpy` on a one-band ``ee.Image``; returns a double ``ee.Image``.

        Double precision, as numpy computes: ``DN * 2.75e-5 - 0.2`` cancels digits near zero reflectance.
        """
        import ee

        image = ee.Image(raw).toDouble()
        if self.decode == "amplitude_db":
            return image.max(1.0).pow(2).log10().multiply(10.0).add(self.offset)
        if self.scale != 1.0:
            image = image.multiply(self.scale)
        if self.offset != 0.0:
            image = image.add(self.offset)
        return image


@dataclasses.dataclass(frozen=True)
class PropertyFilter:
    """A metadata filter on the collection, e.g. ``PropertyFilter("instrumentMode", "eq", "IW")``.

    ``op``: ``"eq"``, ``"neq"``, ``"lt"``, ``"gt"`` or ``"contains"`` (a list property holds ``value``).
    """

    name: str
    op: Literal["eq", "neq", "lt", "gt", "contains"]
    value: Any

    def to_ee(self) -> Any:
        import ee

        if self.op == "eq":
            return ee.Filter.eq(self.name, self.value)
        if self.op == "neq":
            return ee.Filter.neq(self.name, self.value)
        if self.op == "lt":
            return ee.Filter.lt(self.name, self.value)
        if self.op == "gt":
            return ee.Filter.gt(self.name, self.value)
        if self.op == "contains":
            return ee.Filter.listContains(self.name, self.value)
        raise AefValueError(f"unknown filter op {self.op!r}")

    def matches(self, properties: Mapping[str, Any]) -> bool:
        """Client-side evaluation on an image's properties (a missing property does not match)."""
        if self.name not in properties:
            return False
        v = properties[self.name]
        if self.op == "eq":
            return v == self.value
        if self.op == "neq":
            return v != self.value
        if self.op == "lt":
            return v < self.value
        if self.op == "gt":
            return v > self.value
        return isinstance(v, (list, tuple)) and self.value in v


# ----------------------------------------------------------------------------------------------------------------
# Quality masks


class QualityMask:
    """Which pixels of one image are valid beyond nodata (clouds, shadows, quality flags).

    Subclasses implement both forms on the *raw* bands. ``available`` is the list of band names the image actually
    has (known client-side from the collection listing), so a rule can fall back when a band is absent.
    """

    def required_bands(self, available: Sequence[str]) -> tuple[str, ...]:
        """Raw bands the rule reads from an image that has ``available`` bands."""
        return ()

    def to_ee(self, image: Any, available: Sequence[str]) -> Any | None:
        """``ee.Image`` -> a one-band 0/1 ``ee.Image`` (1 valid), or None for "all valid"."""
        return None

    def to_numpy(self, raw: Mapping[str, np.ndarray], available: Sequence[str]) -> np.ndarray | None:
        """Raw band arrays (same shape each) -> bool array, True valid; None for "all valid"."""
        return None


@dataclasses.dataclass(frozen=True)
class NoQuality(QualityMask):
    """Only nodata is masked."""


@dataclasses.dataclass(frozen=True)
class BitmaskQuality(QualityMask):
    """Valid where none of ``bits`` is set in ``band`` (e.g. Landsat ``QA_PIXEL``)."""

    band: str
    bits: tuple[int, ...]

    @property
    def _bitmask(self) -> int:
        return int(sum(1 << b for b in self.bits))

    def required_bands(self, available: Sequence[str]) -> tuple[str, ...]:
        return (self.band,)

    def to_ee(self, image: Any, available: Sequence[str]) -> Any:
        import ee

        return ee.Image(image).select(self.band).toInt().bitwiseAnd(self._bitmask).eq(0)

    def to_numpy(self, raw: Mapping[str, np.ndarray], available: Sequence[str]) -> np.ndarray:
        return (np.asarray(raw[self.band]).astype(np.int64) & self._bitmask) == 0


@dataclasses.dataclass(frozen=True)
class ValueSetQuality(QualityMask):
    """Valid where ``band`` holds none of ``invalid`` (e.g. the PALSAR ``mask`` band)."""

    band: str
    invalid: tuple[int, ...]

    def required_bands(self, available: Sequence[str]) -> tuple[str, ...]:
        return (self.band,)

    def to_ee(self, image: Any, available: Sequence[str]) -> Any:
        import ee

        band = ee.Image(image).select(self.band)
        valid = band.neq(self.invalid[0])
        for value in self.invalid[1:]:
            valid = valid.And(band.neq(value))
        return valid

    def to_numpy(self, raw: Mapping[str, np.ndarray], available: Sequence[str]) -> np.ndarray:
        return ~np.isin(np.asarray(raw[self.band]), np.asarray(self.invalid))


# Sentinel-2 Scene Classification classes that are not a clear view of the surface:
# 0 no data, 1 saturated/defective, 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability, 10 cirrus.
SCL_INVALID = (0, 1, 3, 8, 9, 10)
# QA60 bit 10 opaque clouds, bit 11 cirrus.
QA60_BITS = (10, 11)

S2Method = Literal["auto", "cs_plus", "scl", "qa60", "none"]


@dataclasses.dataclass(frozen=True)
class S2CloudMask(QualityMask):
    """Sentinel-2 clouds: Cloud Score+ ``cs_cdf >= threshold``, else the SCL classes, else the QA60 bits.

    ``method="auto"`` picks per image the first of ``cs_cdf`` (linked from :data:`CLOUD_SCORE_PLUS` by
    ``system:index``), ``SCL``, ``QA60`` that the image has, and masks nothing beyond nodata when it has none.
    """

    method: S2Method = "auto"
    cs_threshold: float = DEFAULT_CS_THRESHOLD

    def __post_init__(self) -> None:
        if self.method not in ("auto", "cs_plus", "scl", "qa60", "none"):
            raise AefValueError(f"unknown Sentinel-2 cloud mask method {self.method!r}")
        if not 0.0 <= self.cs_threshold <= 1.0:
            raise AefValueError(f"cs_threshold must lie in [0, 1]; got {self.cs_threshold!r}")

    @property
    def links(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Auxiliary collections joined by ``system:index`` before masking."""
        return ((CLOUD_SCORE_PLUS, ("cs_cdf",)),) if self.method in ("auto", "cs_plus") else ()

    def resolve(self, available: Sequence[str]) -> str:
        """The concrete method used for an image with ``available`` bands.

        Raises:
          UnknownBandError: an explicit method's band is missing from the image.
        """
        wanted = {"cs_plus": "cs_cdf", "scl": "SCL", "qa60": "QA60"}
        if self.method == "none":
            return "none"
        if self.method != "auto":
            if wanted[self.method] not in available:
                raise UnknownBandError(
                    f"Sentinel-2 cloud mask {self.method!r} needs band {wanted[self.method]!r}; "
                    f"the image has {list(available)}"
                )
            return self.method
        for method in ("cs_plus", "scl", "qa60"):
            if wanted[method] in available:
                return method
        return "none"

    def required_bands(self, available: Sequence[str]) -> tuple[str, ...]:
        return {"cs_plus": ("cs_cdf",), "scl": ("SCL",), "qa60": ("QA60",), "none": ()}[self.resolve(available)]

    def to_ee(self, image: Any, available: Sequence[str]) -> Any | None:
        import ee

        image = ee.Image(image)
        method = self.resolve(available)
        if method == "cs_plus":
            return image.select("cs_cdf").gte(self.cs_threshold)
        if method == "scl":
            return ValueSetQuality("SCL", SCL_INVALID).to_ee(image, available)
        if method == "qa60":
            return BitmaskQuality("QA60", QA60_BITS).to_ee(image, available)
        return None

    def to_numpy(self, raw: Mapping[str, np.ndarray], available: Sequence[str]) -> np.ndarray | None:
        method = self.resolve(available)
        if method == "cs_plus":
            return np.asarray(raw["cs_cdf"]) >= self.cs_threshold
        if method == "scl":
            return ValueSetQuality("SCL", SCL_INVALID).to_numpy(raw, available)
        if method == "qa60":
            return BitmaskQuality("QA60", QA60_BITS).to_numpy(raw, available)
        return None


# Landsat Collection 2 QA_PIXEL: bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow (snow, bit 5, kept).
LANDSAT_QA_BITS = (0, 1, 2, 3, 4)


@dataclasses.dataclass(frozen=True)
class GediQuality(QualityMask):
    """GEDI L2A: ``quality_flag == 1``, ``degrade_flag == 0`` and ``sensitivity >= min_sensitivity``."""

    min_sensitivity: float = 0.95

    def required_bands(self, available: Sequence[str]) -> tuple[str, ...]:
        return ("quality_flag", "degrade_flag", "sensitivity")

    def to_ee(self, image: Any, available: Sequence[str]) -> Any:
        import ee

        image = ee.Image(image)
        return (
            image.select("quality_flag").eq(1)
            .And(image.select("degrade_flag").eq(0))
            .And(image.select("sensitivity").gte(self.min_sensitivity))
        )

    def to_numpy(self, raw: Mapping[str, np.ndarray], available: Sequence[str]) -> np.ndarray:
        return (
            (np.asarray(raw["quality_flag"]) == 1)
            & (np.asarray(raw["degrade_flag"]) == 0)
            & (np.asarray(raw["sensitivity"]) >= self.min_sensitivity)
        )


# ----------------------------------------------------------------------------------------------------------------
# Sources


@dataclasses.dataclass(frozen=True)
class Source:
    """A sensor product declared for export.

    Attributes:
      name: registry key and the source's name in videos (no ``/``, no ``__``).
      collections: Earth Engine ImageCollection IDs, merged (Landsat 8 + 9).
      bands: kept bands, in video channel order.
      resolution_m: native ground sampling distance of the finest band, metres.
      role: ``"input"`` (the model sees it) or ``"target"`` (reconstruction target only).
      quality: the quality mask on raw bands (nodata is always masked).
      static: one frame for the whole period (a DEM); the collection is mosaicked, not filtered by date.
      filters: metadata filters applied to the collection.
      frame_properties: image properties kept per frame as metadata (orbit pass, ...).
      metadata_bands: bands whose per-frame mean over the site's valid pixels is kept as metadata (S1 ``angle``).
      description: one line for docs and ``aef-ee`` listings.
    """

    name: str
    collections: tuple[str, ...]
    bands: tuple[Band, ...]
    resolution_m: float
    role: Role = "input"
    quality: QualityMask = NoQuality()
    static: bool = False
    filters: tuple[PropertyFilter, ...] = ()
    frame_properties: tuple[str, ...] = ()
    metadata_bands: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "__" in self.name or self.name.startswith("_"):
            raise AefValueError(f"source name {self.name!r} must be non-empty, without '/' or '__'")
        if isinstance(self.collections, str):
            object.__setattr__(self, "collections", (self.collections,))
        if not self.collections:
            raise AefValueError(f"source {self.name!r} declares no collection")
        if not self.bands:
            raise AefValueError(f"source {self.name!r} declares no band")
        names = [b.name for b in self.bands]
        if len(set(names)) != len(names):
            raise AefValueError(f"source {self.name!r} declares duplicate bands {names}")
        if self.role not in ("input", "target"):
            raise AefValueError(f"source {self.name!r}: role must be 'input' or 'target'; got {self.role!r}")
        if not self.resolution_m > 0:
            raise AefValueError(f"source {self.name!r}: resolution_m must be > 0; got {self.resolution_m!r}")

    # -- bands ---------------------------------------------------------------------------------------------------

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def band(self, name: str) -> Band:
        """Raises UnknownBandError naming the source and its bands."""
        for b in self.bands:
            if b.name == name:
                return b
        raise UnknownBandError(f"source {self.name!r} has no band {name!r}; its bands are {list(self.band_names)}")

    def select(self, names: Sequence[str]) -> "Source":
        """A copy keeping only ``names`` (in that order); unknown names raise UnknownBandError."""
        return dataclasses.replace(self, bands=tuple(self.band(n) for n in names))

    def replace(self, **changes: Any) -> "Source":
        """A modified copy, e.g. ``get_source("s2").replace(quality=S2CloudMask("scl"))``."""
        return dataclasses.replace(self, **changes)

    def raw_bands(self, available: Sequence[str] | None = None) -> tuple[str, ...]:
        """Raw collection bands read for one image: data bands, quality bands, metadata bands present."""
        available = list(available) if available is not None else [b.ee_name for b in self.bands]
        out = [b.ee_name for b in self.bands]
        out += [q for q in self.quality.required_bands(available) if q not in out]
        out += [m for m in self.metadata_bands if m in available and m not in out]
        return tuple(out)

    # -- links to auxiliary collections -------------------------------------------------------------------------

    @property
    def links(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(collection ID, bands) joined to each image by ``system:index`` (Cloud Score+ for Sentinel-2)."""
        return tuple(getattr(self.quality, "links", ()))

    # -- Earth Engine ---------------------------------------------------------------------------------------------

    def collection(self) -> Any:
        """The merged, filtered ``ee.ImageCollection`` (no date or bounds filter)."""
        import ee

        col = ee.ImageCollection(self.collections[0])
        for other in self.collections[1:]:
            col = col.merge(ee.ImageCollection(other))
        for f in self.filters:
            col = col.filter(f.to_ee())
        return col

    def prepare_image(self, image: Any, available: Sequence[str] | None = None) -> Any:
        """Raw ``ee.Image`` -> float ``ee.Image`` with bands :attr:`band_names` in physical units, masked where
        the data is nodata or fails the quality rule. Bands missing from the image (per ``available``) become
        fully masked channels.
        """
        import ee

        image = ee.Image(image)
        available = list(available) if available is not None else [b.ee_name for b in self.bands]
        # One select and one band-wise multiply/add for all linear bands keeps the expression graph small
        # (a per-band chain is ~10x larger, and a video holds hundreds of frames).
        linear = [b for b in self.bands if b.ee_name in available and b.decode == "linear"]
        other = [b for b in self.bands if b.ee_name in available and b.decode != "linear"]
        missing = [b.name for b in self.bands if b.ee_name not in available]
        parts = []
        if linear:
            decoded = image.select([b.ee_name for b in linear]).toDouble()
            if any(b.scale != 1.0 for b in linear):
                decoded = decoded.multiply(ee.Image.constant([b.scale for b in linear]))
            if any(b.offset != 0.0 for b in linear):
                decoded = decoded.add(ee.Image.constant([b.offset for b in linear]))
            parts.append(decoded.rename([b.name for b in linear]))
        parts += [b.decode_ee(image.select(b.ee_name)).rename(b.name) for b in other]
        if missing:
            parts.append(ee.Image.constant([0] * len(missing)).toDouble().updateMask(0).rename(missing))
        out = (ee.Image.cat(parts) if len(parts) > 1 else parts[0]).select(list(self.band_names))
        valid = self.quality.to_ee(image, available)
        if valid is not None:
            out = out.updateMask(valid)
        return out

    def metadata_image(self, image: Any, available: Sequence[str]) -> Any | None:
        """The metadata bands present in ``available`` as a float ``ee.Image``, or None."""
        import ee

        present = [m for m in self.metadata_bands if m in available]
        if not present:
            return None
        return ee.Image(image).select(present).toFloat()

    # -- numpy ----------------------------------------------------------------------------------------------------

    def decode_numpy(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """Raw band arrays (each shape S) -> (S..., C) float32 physical units, channel order :attr:`band_names`.

        Raises:
          UnknownBandError: a declared band is missing from ``raw``.
        """
        channels = []
        for b in self.bands:
            if b.ee_name not in raw:
                raise UnknownBandError(f"source {self.name!r}: raw band {b.ee_name!r} missing; got {sorted(raw)}")
            channels.append(b.decode_numpy(raw[b.ee_name]))
        return np.stack(channels, axis=-1)

    def quality_numpy(self, raw: Mapping[str, np.ndarray], available: Sequence[str] | None = None) -> np.ndarray:
        """Raw band arrays -> bool (shape S), True where the quality rule keeps the pixel (nodata not included)."""
        available = list(available) if available is not None else list(raw)
        shape = np.asarray(next(iter(raw.values()))).shape
        valid = self.quality.to_numpy(raw, available)
        return np.ones(shape, bool) if valid is None else np.asarray(valid, bool)

    def normalise(self, frames: np.ndarray, bands: Sequence[str] | None = None) -> np.ndarray:
        """Physical-unit frames (..., C) -> float32 model inputs (..., C), band by band.

        Args:
          frames: (..., C) float32, C == len(bands).
          bands: the channel names of ``frames``; default all of :attr:`band_names`.

        Raises:
          AefValueError: the channel count does not match the bands.
          UnknownBandError: a band is not declared by this source.
        """
        names = tuple(bands) if bands is not None else self.band_names
        frames = np.asarray(frames, np.float32)
        if frames.shape[-1] != len(names):
            raise AefValueError(
                f"source {self.name!r}: frames have {frames.shape[-1]} channels, expected {len(names)} {list(names)}"
            )
        out = np.empty_like(frames)
        for i, name in enumerate(names):
            out[..., i] = self.band(name).normaliser.apply(frames[..., i])
        return out


# ----------------------------------------------------------------------------------------------------------------
# The registry

_REGISTRY: dict[str, Source] = {}
_LOCK = threading.Lock()


def register_source(source: Source, *, replace: bool = False) -> Source:
    """Adds ``source`` to the registry; returns it.

    Raises:
      AefValueError: a source of that name exists and ``replace`` is False.
    """
    if not isinstance(source, Source):
        raise AefValueError(f"register_source expects a Source; got {type(source).__name__}")
    with _LOCK:
        if source.name in _REGISTRY and not replace:
            raise AefValueError(f"source {source.name!r} is already registered (pass replace=True to override)")
        _REGISTRY[source.name] = source
    return source


def get_source(name: str) -> Source:
    """Raises UnknownSourceError naming the source and the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownSourceError(f"unknown source {name!r}; known sources: {sorted(_REGISTRY)}") from None


def list_sources(role: Role | None = None) -> list[str]:
    """Registered source names, sorted; only inputs or targets when ``role`` is given."""
    return sorted(n for n, s in _REGISTRY.items() if role is None or s.role == role)


def _s2_bands() -> tuple[Band, ...]:
    names = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
    # Harmonized collections already remove the 1000 DN offset of processing baseline 04.00: reflectance = DN / 1e4.
    return tuple(Band(n, scale=1e-4, unit="reflectance", normaliser=OPTICAL) for n in names)


def _landsat_bands() -> tuple[Band, ...]:
    # Collection 2 Level-2 scale factors (USGS): SR = DN * 2.75e-05 - 0.2; ST = DN * 0.00341802 + 149.0 K.
    sr = tuple(
        Band(f"SR_B{i}", scale=2.75e-5, offset=-0.2, unit="reflectance", normaliser=OPTICAL) for i in range(2, 8)
    )
    return sr + (Band("ST_B10", scale=0.00341802, offset=149.0, unit="K", normaliser=KELVIN),)


def _era5_bands(precip: str) -> tuple[Band, ...]:
    return (
        Band("temperature_2m", unit="K", normaliser=KELVIN),
        Band("dewpoint_temperature_2m", unit="K", normaliser=KELVIN),
        Band(precip, unit="m", normaliser=Normaliser(scale=1e3, log1p=True)),  # log(1 + mm)
        Band("surface_pressure", unit="Pa", normaliser=Normaliser(mean=95_000.0, std=8_000.0)),
        Band("u_component_of_wind_10m", unit="m/s", normaliser=Normaliser(std=5.0)),
        Band("v_component_of_wind_10m", unit="m/s", normaliser=Normaliser(std=5.0)),
    )


# ERA5-Land's native grid: 0.1 degree, about 11 km.
ERA5_LAND_RESOLUTION_M = 11_132.0
# GRACE mascons: 0.5 degree grid.
GRACE_RESOLUTION_M = 55_660.0

_BUILTIN = (
    Source(
        name="s2",
        collections=("COPERNICUS/S2_SR_HARMONIZED",),
        bands=_s2_bands(),
        resolution_m=10.0,
        role="input",
        quality=S2CloudMask(),
        frame_properties=("SPACECRAFT_NAME", "MGRS_TILE", "CLOUDY_PIXEL_PERCENTAGE"),
        description="Sentinel-2 L2A surface reflectance (harmonized), 10 bands, reflectance 0..1",
    ),
    Source(
        name="s2_l1c",
        collections=("COPERNICUS/S2_HARMONIZED",),
        bands=tuple(Band(n, scale=1e-4, unit="reflectance", normaliser=OPTICAL) for n in (
            "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")),
        resolution_m=10.0,
        role="input",
        quality=S2CloudMask(),
        frame_properties=("SPACECRAFT_NAME", "MGRS_TILE", "CLOUDY_PIXEL_PERCENTAGE"),
        description="Sentinel-2 L1C top-of-atmosphere reflectance (harmonized), 13 bands, reflectance 0..1",
    ),
    Source(
        name="s1",
        collections=("COPERNICUS/S1_GRD",),
        bands=(Band("VV", unit="dB", normaliser=SAR_VV), Band("VH", unit="dB", normaliser=SAR_VH)),
        resolution_m=10.0,
        role="input",
        filters=(
            PropertyFilter("instrumentMode", "eq", "IW"),
            PropertyFilter("transmitterReceiverPolarisation", "contains", "VV"),
            PropertyFilter("transmitterReceiverPolarisation", "contains", "VH"),
        ),
        frame_properties=("orbitProperties_pass", "relativeOrbitNumber_start", "platform_number"),
        metadata_bands=("angle",),
        description="Sentinel-1 GRD IW backscatter VV/VH in dB; orbit pass and incidence angle as frame metadata",
    ),
    Source(
        name="landsat",
        collections=("LANDSAT/LC08/C02/T1_L2", "LANDSAT/LC09/C02/T1_L2"),
        bands=_landsat_bands(),
        resolution_m=30.0,
        role="input",
        quality=BitmaskQuality("QA_PIXEL", LANDSAT_QA_BITS),
        frame_properties=("SPACECRAFT_ID", "WRS_PATH", "WRS_ROW", "CLOUD_COVER"),
        description="Landsat 8/9 Collection 2 L2: SR_B2..SR_B7 reflectance, ST_B10 kelvin; QA_PIXEL clouds masked",
    ),
    Source(
        name="era5",
        collections=("ECMWF/ERA5_LAND/MONTHLY_AGGR",),
        bands=_era5_bands("total_precipitation_sum"),
        resolution_m=ERA5_LAND_RESOLUTION_M,
        role="target",
        description="ERA5-Land monthly aggregates: 2 m temperature and dewpoint (K), precipitation (m), ...",
    ),
    Source(
        name="era5_daily",
        collections=("ECMWF/ERA5_LAND/DAILY_AGGR",),
        bands=_era5_bands("total_precipitation_sum"),
        resolution_m=ERA5_LAND_RESOLUTION_M,
        role="target",
        description="ERA5-Land daily aggregates: 2 m temperature and dewpoint (K), precipitation (m), ...",
    ),
    Source(
        name="dem",
        collections=("COPERNICUS/DEM/GLO30",),
        bands=(Band("elevation", source_band="DEM", unit="m", normaliser=Normaliser(std=1000.0)),),
        resolution_m=30.0,
        role="target",
        static=True,
        description="Copernicus GLO-30 DEM elevation (m), static (one frame)",
    ),
    Source(
        name="gedi",
        collections=("LARSE/GEDI/GEDI02_A_002_MONTHLY",),
        bands=tuple(Band(f"rh{p}", unit="m", normaliser=Normaliser(std=20.0)) for p in (25, 50, 75, 98)),
        resolution_m=25.0,
        role="target",
        quality=GediQuality(),
        description="GEDI L2A monthly rasters: relative heights rh25..rh98 (m) of good-quality shots",
    ),
    Source(
        name="grace",
        collections=("NASA/GRACE/MASS_GRIDS_V04/MASCON_CRI",),
        bands=(Band("lwe_thickness", unit="cm", normaliser=Normaliser(std=20.0)),),
        resolution_m=GRACE_RESOLUTION_M,
        role="target",
        description="GRACE/GRACE-FO JPL mascons (CRI): liquid water equivalent thickness anomaly (cm)",
    ),
    Source(
        name="palsar",
        collections=("JAXA/ALOS/PALSAR/YEARLY/SAR_EPOCH",),
        # JAXA: sigma0 (dB) = 10 * log10(DN^2) - 83.0.
        bands=(
            Band("HH", decode="amplitude_db", offset=-83.0, unit="dB", normaliser=Normaliser(mean=-8.0, std=5.0)),
            Band("HV", decode="amplitude_db", offset=-83.0, unit="dB", normaliser=Normaliser(mean=-15.0, std=5.0)),
        ),
        resolution_m=25.0,
        role="input",
        # mask band: 0 no data, 100 layover, 150 shadow (50 water and 255 land are kept).
        quality=ValueSetQuality("mask", (0, 100, 150)),
        description="ALOS PALSAR-2 annual mosaics HH/HV in dB (layover, shadow and no data masked)",
    ),
)

for _source in _BUILTIN:
    register_source(_source)
