"""What to export: sources, time layout, quality options - one value that both export paths and resume share."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from aef_ee.videos import sources as registry
from aef_ee.errors import AefValueError
from aef_ee.videos.sources import S2CloudMask, Source

__all__ = ["ExportRequest", "Layout", "REDUCERS"]

Layout = Literal["acquisitions", "composites"]
# Reducers for the composites layout; each maps to an ee.Reducer and a numpy equivalent over valid pixels.
REDUCERS = ("median", "mean", "min", "max", "mosaic")
# Granules of one Sentinel-2 datatake start a few seconds apart along track (a 110 km tile takes ~15 s to image),
# overlapping tiles of neighbouring columns share their start; Sentinel-1 slices follow each other by ~25 s.
# Two minutes separates passes of one orbit from anything else (revisits are days apart).
DEFAULT_SAME_PASS_S = 120.0


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """The export arguments that decide a site's video (and so must not change across a resumed export).

    Attributes:
      sources: source names from :mod:`aef_ee.videos.sources`, e.g. ``("s2", "s1", "dem")``.
      layout: ``"acquisitions"`` (one frame per valid acquisition, its own timestamp) or ``"composites"``
        (a regular time grid, one reduced frame per bin, timestamp = bin start).
      composite: the composites' bin: ``"monthly"`` (calendar months) or ``"<N>d"`` (N days from the window start).
      reducer: how a bin's images are combined: one of :data:`REDUCERS` (``mosaic``: the latest valid image wins).
      bands: per source, the subset of bands kept (default all).
      cloud_mask: Sentinel-2 cloud mask method: ``auto`` | ``cs_plus`` | ``scl`` | ``qa60`` | ``none``.
      cs_threshold: Cloud Score+ ``cs_cdf`` threshold (pixels at or above it are clear).
      drop_empty_frames: in the acquisitions layout, drop frames without a single valid pixel over the site.
      same_pass_s: in the acquisitions layout, images of a source starting within this many seconds of each other
        are one pass (adjacent granules or slices) and are mosaicked into one frame; 0 keeps every image apart.
    """

    sources: tuple[str, ...]
    layout: Layout = "acquisitions"
    composite: str = "monthly"
    reducer: str = "median"
    bands: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    cloud_mask: str = "auto"
    cs_threshold: float = 0.5
    drop_empty_frames: bool = True
    same_pass_s: float = DEFAULT_SAME_PASS_S

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", tuple(s.strip() for s in self.sources.split(",") if s.strip()))
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.sources:
            raise AefValueError("an export needs at least one source")
        if len(set(self.sources)) != len(self.sources):
            raise AefValueError(f"duplicate sources in {list(self.sources)}")
        if self.layout not in ("acquisitions", "composites"):
            raise AefValueError(f"layout must be 'acquisitions' or 'composites'; got {self.layout!r}")
        if self.same_pass_s < 0:
            raise AefValueError(f"same_pass_s must be >= 0; got {self.same_pass_s!r}")
        if self.reducer not in REDUCERS:
            raise AefValueError(f"reducer must be one of {list(REDUCERS)}; got {self.reducer!r}")
        composite_days(self.composite)  # validates
        object.__setattr__(self, "bands", {k: tuple(v) for k, v in dict(self.bands).items()})
        for name in self.bands:
            if name not in self.sources:
                raise AefValueError(f"bands given for source {name!r}, which is not exported ({list(self.sources)})")
        S2CloudMask(self.cloud_mask, self.cs_threshold)  # type: ignore[arg-type]  # validates
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
