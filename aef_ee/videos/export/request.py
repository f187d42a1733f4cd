"""What to export: sources, time layout, quality options - one value that both export paths and resume share."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal

from aef_ee.videos import sources as registry
from aef_ee.errors import AefValueError
from aef_ee.videos.sources import DEFAULT_CS_THRESHOLD, S2CloudMask, Source

__all__ = ["ExportRequest", "Layout", "REDUCERS", "CLOUD_MASKS"]

Layout = Literal["acquisitions", "composites"]
# Reducers for the composites layout; each maps to an ee.Reducer and a numpy equivalent over valid pixels.
REDUCERS = ("median", "mean", "min", "max", "mosaic")
# Sentinel-2 cloud mask methods (aef_ee.videos.sources.S2CloudMask): auto picks cs_plus, scl or qa60 per image.
CLOUD_MASKS = ("auto", "cs_plus", "scl", "qa60", "none")
# Granules of one Sentinel-2 datatake start a few seconds apart along track (a 110 km tile takes ~15 s to image),
# overlapping tiles of neighbouring columns share their start; Sentinel-1 slices follow each other by ~25 s.
# Two minutes separates passes of one orbit from anything else (revisits are days apart).
DEFAULT_SAME_PASS_S = 120.0


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """What to export: the arguments that decide a site's video (so they must not change across a resumed export).

    Example::

        ExportRequest(sources="s2,s1,dem", bands={"s2": ["B2", "B3", "B4"]})
        ExportRequest(sources=("s2",), layout="composites", composite="16d", reducer="median")

    Attributes:
      sources: source names from :mod:`aef_ee.videos.sources`, e.g. ``("s2", "s1", "dem")``; a comma-separated
        string (``"s2,s1,dem"``) is accepted. Each name once; at least one.
      layout: ``"acquisitions"`` (one frame per valid pass, its own timestamp) or ``"composites"`` (a regular
        time grid, one reduced frame per bin, timestamp = bin start).
      composite: the composites' bin: ``"monthly"`` (calendar months) or ``"<N>d"`` (N > 0 days from the window
        start, e.g. ``"5d"``). Used by the composites layout only.
      reducer: how a bin's images are combined: one of :data:`REDUCERS` (``mosaic``: the latest valid image wins).
      bands: per exported source, the subset of bands kept, in that order (a list, a tuple or a comma-separated
        string); sources not named keep all their bands. ``None`` means all bands of every source.
      cloud_mask: Sentinel-2 cloud mask method, one of :data:`CLOUD_MASKS`: ``auto`` (Cloud Score+, else SCL,
        else QA60, per image), ``cs_plus``, ``scl``, ``qa60`` or ``none``.
      cs_threshold: Cloud Score+ ``cs_cdf`` threshold in [0, 1]; pixels at or above it are clear.
      drop_empty_frames: in the acquisitions layout, drop frames without a single valid pixel over the site.
      same_pass_s: in the acquisitions layout, seconds (>= 0): images of a source starting within this many
        seconds of each other are one pass (adjacent granules or slices), mosaicked into one frame; 0 keeps every
        image apart.

    Raises:
      AefValueError: a value outside the ones above (the message quotes it and says what is allowed).
      UnknownSourceError, UnknownBandError: a source or band the registry does not know (naming it).
    """

    # Normalised in __post_init__: sources to a tuple of names, bands to {source: tuple of band names}.
    sources: Sequence[str]
    layout: Layout = "acquisitions"
    composite: str = "monthly"
    reducer: str = "median"
    bands: Mapping[str, Sequence[str]] | None = dataclasses.field(default_factory=dict)
    cloud_mask: str = "auto"
    cs_threshold: float = DEFAULT_CS_THRESHOLD
    drop_empty_frames: bool = True
    same_pass_s: float = DEFAULT_SAME_PASS_S

    def __post_init__(self) -> None:
        given = self.sources
        object.__setattr__(self, "sources", _names("sources", given))
        if not self.sources:
            raise AefValueError(f"an export needs at least one source, e.g. sources=\"s2,s1\"; got {given!r}")
        if len(set(self.sources)) != len(self.sources):
            dupes = sorted({s for s in self.sources if self.sources.count(s) > 1})
            raise AefValueError(f"sources {list(self.sources)} name {dupes} more than once; give each source once")
        if self.layout not in ("acquisitions", "composites"):
            raise AefValueError(f"layout must be 'acquisitions' or 'composites'; got {self.layout!r}")
        if not _is_real(self.same_pass_s) or not self.same_pass_s >= 0:
            raise AefValueError(f"same_pass_s must be a number of seconds >= 0 (0: never merge images); "
                                f"got {self.same_pass_s!r}")
        if self.reducer not in REDUCERS:
            raise AefValueError(f"reducer must be one of {list(REDUCERS)}; got {self.reducer!r}")
        if not isinstance(self.composite, str):
            raise AefValueError(f"composite must be 'monthly' or '<N>d' (e.g. '5d'); got {self.composite!r}")
        composite_days(self.composite)  # validates
        if self.bands is None:
            object.__setattr__(self, "bands", {})
        if not isinstance(self.bands, Mapping):
            raise AefValueError(f"bands must map a source name to its bands, e.g. {{'s2': ['B2', 'B3']}}; "
                                f"got {self.bands!r}")
        object.__setattr__(self, "bands", {k: _names(f"bands[{k!r}]", v) for k, v in dict(self.bands).items()})
        for name in self.bands:
            if name not in self.sources:
                raise AefValueError(f"bands given for source {name!r}, which is not exported ({list(self.sources)}); "
                                    f"add it to sources or drop its bands")
        if self.cloud_mask not in CLOUD_MASKS:
            raise AefValueError(f"cloud_mask must be one of {list(CLOUD_MASKS)}; got {self.cloud_mask!r}")
        if not _is_real(self.cs_threshold):
            raise AefValueError(f"cs_threshold must be a number in [0, 1]; got {self.cs_threshold!r}")
        for name in ("same_pass_s", "cs_threshold"):  # numpy scalars -> float, so that to_json() serialises them
            if not isinstance(getattr(self, name), (int, float)):
                object.__setattr__(self, name, float(getattr(self, name)))
        if not isinstance(self.drop_empty_frames, bool):
            raise AefValueError(f"drop_empty_frames must be True or False; got {self.drop_empty_frames!r}")
        S2CloudMask(self.cloud_mask, self.cs_threshold)  # type: ignore[arg-type]  # validates the threshold
        self.resolved()  # unknown sources and bands fail here, naming them

    def resolved(self) -> dict[str, Source]:
        """Source name -> the registry's Source with this request's band subset and cloud options applied.

        Raises:
          UnknownSourceError, UnknownBandError: naming the unknown source or band.
        """
        out = {}
        for name in self.sources:
            source = registry.get_source(name)
            if name in self.bands:
                source = source.select(self.bands[name])
            if isinstance(source.quality, S2CloudMask):
                source = source.replace(quality=S2CloudMask(self.cloud_mask, self.cs_threshold))  # type: ignore
            out[name] = source
        return out

    def to_json(self) -> dict[str, Any]:
        value = dataclasses.asdict(self)
        value["sources"] = list(self.sources)
        value["bands"] = {k: list(v) for k, v in self.bands.items()}
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "ExportRequest":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "sources" else v) for k, v in value.items() if k in fields})

    def fingerprint(self) -> str:
        """A hash of the arguments and of the resolved source declarations (collections, bands, scaling)."""
        payload = {
            "request": self.to_json(),
            "sources": {n: repr(s) for n, s in self.resolved().items()},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def composite_days(composite: str) -> int | None:
    """``"monthly"`` -> None (calendar months); ``"<N>d"`` -> N.

    Raises:
      AefValueError: any other spelling.
    """
    if composite == "monthly":
        return None
    if composite.endswith("d") and composite[:-1].isdigit() and int(composite[:-1]) > 0:
        return int(composite[:-1])
    raise AefValueError(f"composite must be 'monthly' or '<N>d' (e.g. '5d'); got {composite!r}")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _names(what: str, value: Any) -> tuple[str, ...]:
    """A tuple of names from a tuple, a list or a comma-separated string (blanks dropped, spaces stripped).

    Raises:
      AefValueError: anything else, or an element that is not a string (quoting it).
    """
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    # Order matters (it is the order of the video's sources and channels): no sets, no mappings.
    if isinstance(value, (bytes, Mapping, AbstractSet)) or not isinstance(value, Iterable):
        raise AefValueError(f"{what} must be a list of names or a comma-separated string; got {value!r}")
    names = list(value)
    for v in names:
        if not isinstance(v, str) or not v.strip():
            raise AefValueError(f"{what} must hold names (non-empty strings); got {v!r} in {names!r}")
    return tuple(v.strip() for v in names)
