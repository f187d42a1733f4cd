"""Training videos: the data model shared by the exporter and the model.

A *video* is one site's frames, per sensor, with their timestamps and masks — sparse and asynchronous as real
sensors are. Three modules define it and one subpackage makes it:

- :mod:`aef_ee.videos.sources`: the sensor registry (collection IDs, bands, scaling, quality masks, normalisers).
- :mod:`aef_ee.videos.sites`: where videos are cut (UTM-snapped square sites, periods, sampling).
- :mod:`aef_ee.videos.format`: the on-disk format (ArrayRecord shards + index), :class:`VideoWriter` and
  :class:`VideoDataset` — what ``aef_ee_training`` reads.
- :mod:`aef_ee.videos.export`: Earth Engine collections -> videos (needs ``ee``; not imported here).

Nothing here imports ``ee``, JAX or the local engine.
"""

from __future__ import annotations

from aef_ee.videos.format import SiteVideo, SourceFrames, VideoDataset, VideoWriter
from aef_ee.videos.sites import Site, parse_period, year_period
from aef_ee.videos.sources import Source, get_source, list_sources, register_source

__all__ = [
    "Site",
    "SiteVideo",
    "Source",
    "SourceFrames",
    "VideoDataset",
    "VideoWriter",
    "get_source",
    "list_sources",
    "parse_period",
    "register_source",
    "year_period",
]
