"""Exporting multi-sensor Earth Engine collections as training videos (see docs/export.md).

Entry point: :func:`export_videos` (the ``aef-ee export-videos`` command calls it). Two paths write the same
shards: :func:`export_interactive` (``ee.data.computePixels``, up to thousands of sites) and :func:`submit_batch`
+ :func:`convert_batch` (``Export.image.toCloudStorage`` tasks over tiles of sites, then GeoTIFFs to shards).
Both resume: re-running with the same arguments finishes the sites not yet written, never writing one twice.
"""

from __future__ import annotations

from aef_ee.videos.export.api import export_videos, make_sites
from aef_ee.videos.export.batch import BatchResult, convert_batch, submit_batch
from aef_ee.videos.export.interactive import EarthEngineBackend, ExportResult, export_interactive
from aef_ee.videos.export.request import ExportRequest

__all__ = ["export_videos", "make_sites", "ExportRequest", "ExportResult", "BatchResult", "EarthEngineBackend",
           "export_interactive", "submit_batch", "convert_batch"]
