"""Exporting multi-sensor Earth Engine collections as training videos (see docs/export.md).

Entry point: :func:`export_videos`, taking three small typed values (the ``aef-ee export-videos`` command builds
them from its flags)::

    export_videos(out, ExportRequest(...), SiteSampling(...) or [Site, ...], options=ExportOptions(...))

- :class:`ExportRequest`: what to export (sources, time layout, bands, cloud mask); decides the videos.
- :class:`SiteSampling`: where the sites come from (period, region or features, count, size, seed); or pass a list
  of :class:`aef_ee.videos.Site`.
- :class:`ExportOptions`: how to run (interactive, batch or convert path; bucket; concurrency; shard size).

Two paths write the same shards: :func:`export_interactive` (``ee.data.computePixels``, up to thousands of sites)
and :func:`submit_batch` + :func:`convert_batch` (``Export.image.toCloudStorage`` tasks over tiles of sites, then
GeoTIFFs to shards). Both resume: re-running with the same arguments finishes the sites not yet written, never
writing one twice.

Import these names from here (``from aef_ee.videos.export import ...``); the submodules are the implementation.
"""

from __future__ import annotations

from aef_ee.videos.export.api import export_videos
from aef_ee.videos.export.batch import BatchResult, convert_batch, submit_batch
from aef_ee.videos.export.interactive import EarthEngineBackend, ExportResult, export_interactive
from aef_ee.videos.export.options import ExportOptions
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.export.storage import GcsStore, LocalBucketStore
from aef_ee.videos.sites import SiteSampling

__all__ = [
    "export_videos",
    "ExportRequest",
    "SiteSampling",
    "ExportOptions",
    "ExportResult",
    "BatchResult",
    "EarthEngineBackend",
    "LocalBucketStore",
    "GcsStore",
    "export_interactive",
    "submit_batch",
    "convert_batch",
]
