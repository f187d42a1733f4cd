"""How to run an export: the path (interactive, batch, convert), its bucket, concurrency, shards and staging.

These options do not change the videos written (that is :class:`~aef_ee.videos.export.request.ExportRequest`), so
an export may be resumed with other ones (more workers, another tile size, ``path="convert"`` after ``"batch"``).
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from typing import TYPE_CHECKING, Any, Literal

from aef_ee.errors import AefValueError
from aef_ee.videos.export.batch import DEFAULT_MAX_CONCURRENT_TASKS
from aef_ee.videos.format import DEFAULT_SITES_PER_SHARD

if TYPE_CHECKING:
    from aef_ee.videos.export.interactive import PixelBackend
    from aef_ee.videos.export.storage import BucketStore

__all__ = ["ExportOptions", "ExportPath", "PATHS"]

ExportPath = Literal["interactive", "batch", "convert"]
PATHS: tuple[ExportPath, ...] = ("interactive", "batch", "convert")
# computePixels requests in flight, under Earth Engine's default of 40 concurrent interactive requests per user
# (leaving room for other work). Answers over quota (429, "Too many concurrent aggregations") are retried with
# backoff (concurrency.py), so a smaller quota slows an export down, it does not fail it.
DEFAULT_MAX_WORKERS = 8
# Sites per tile side. Interactive: a tile is the unit of image listing (one listing per tile and source shared by
# its 8 x 8 sites). Batch: a tile is one export task, its GeoTIFF tile_size * L px square (512 px for 4 x 4 sites
# of 128 px): fewer, larger tasks than one per site, each still one small file.
DEFAULT_INTERACTIVE_TILE_SIZE = 8
DEFAULT_BATCH_TILE_SIZE = 4
DEFAULT_PREFIX = "aef-videos"


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How :func:`~aef_ee.videos.export.export_videos` runs; none of it changes the videos written.

    Example::

        ExportOptions(max_workers=4, progress=False)                        # interactive (computePixels)
        ExportOptions(path="batch", bucket="my-bucket", wait=False)         # start export tasks and return
        ExportOptions(path="convert", bucket="my-bucket")                   # later: finished GeoTIFFs -> shards

    Attributes:
      path: ``"interactive"`` (``ee.data.computePixels``, up to thousands of sites), ``"batch"``
        (``Export.image.toCloudStorage`` tasks over tiles of sites; with ``wait`` the GeoTIFFs are then converted
        to shards) or ``"convert"`` (convert a batch export's finished GeoTIFFs; sites and request come from the
        export directory).
      bucket: batch: the Cloud Storage bucket name (no ``gs://``) Earth Engine's tasks write to. Required for
        ``path="batch"``.
      prefix: batch: the object prefix; tile ``T`` is written to ``gs://<bucket>/<prefix>/<T>.tif``.
      store: batch and convert: how the bucket is read (a :class:`~aef_ee.videos.export.storage.BucketStore`:
        ``LocalBucketStore(folder)`` for the local engine's buckets, ``GcsStore(cache)``). Default: the folder in
        ``$AEF_EE_BUCKET_DIR`` if set, else google-cloud-storage with a cache under the dataset directory.
      max_workers: interactive: computePixels requests in flight (>= 1).
      tile_size: sites per tile side (>= 1); default 8 interactive, 4 batch. Interactive and batch exports with
        the same tile size write byte-identical shards.
      max_concurrent_tasks: batch: export tasks running at once (>= 1); more wait for a slot.
      wait: batch: wait for every task, then convert; ``False`` returns a ``BatchResult`` once tasks are started
        (finish with ``path="convert"``).
      sites_per_shard: sites per ArrayRecord shard (>= 1).
      staging_dir: for a ``gs://`` output, the local directory the dataset is written to before the upload
        (default: a folder in aef-ee's cache named after the URL). Keep it to resume.
      backend: where listings and pixels come from (a
        :class:`~aef_ee.videos.export.interactive.PixelBackend`); default ``EarthEngineBackend()``, the ``ee``
        client as initialised. Tests read the catalog's files with ``CatalogFilesBackend``.
      progress: show tqdm progress bars.

    Raises:
      AefValueError: a value outside the ones above (the message quotes it and says the fix).
    """

    path: ExportPath = "interactive"
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX
    store: BucketStore | None = None
    max_workers: int = DEFAULT_MAX_WORKERS
    tile_size: int | None = None
    max_concurrent_tasks: int = DEFAULT_MAX_CONCURRENT_TASKS
    wait: bool = True
    sites_per_shard: int = DEFAULT_SITES_PER_SHARD
    staging_dir: str | os.PathLike[str] | None = None
    backend: PixelBackend | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise AefValueError(f"path must be one of {list(PATHS)}; got path={self.path!r}")
        if self.bucket is not None:
            if not isinstance(self.bucket, str) or not self.bucket.strip("/"):
                raise AefValueError(f"bucket must be a Cloud Storage bucket name; got bucket={self.bucket!r}")
            if self.bucket.startswith("gs://") or "/" in self.bucket:
                name = self.bucket.removeprefix("gs://").split("/")[0]
                raise AefValueError(f"bucket is the bucket's name only (put the rest in prefix=...): "
                                    f"bucket={name!r}; got bucket={self.bucket!r}")
        if self.path == "batch" and not self.bucket:
            raise AefValueError("path='batch' needs bucket=..., the Cloud Storage bucket Earth Engine's export "
                                f"tasks write to; got bucket={self.bucket!r}")
        if not isinstance(self.prefix, str) or not self.prefix.strip("/") or self.prefix.startswith("gs://"):
            raise AefValueError(f"prefix must be a non-empty object prefix inside the bucket, e.g. 'aef-videos'; "
                                f"got prefix={self.prefix!r}")
        for name in ("max_workers", "max_concurrent_tasks", "sites_per_shard", "tile_size"):
            value = getattr(self, name)
            if value is None and name == "tile_size":
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise AefValueError(f"{name} must be an int >= 1; got {name}={value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("wait", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise AefValueError(f"{name} must be True or False; got {name}={getattr(self, name)!r}")
        if self.staging_dir is not None and (not isinstance(self.staging_dir, (str, os.PathLike))
                                             or str(self.staging_dir).startswith("gs://")):
            raise AefValueError(f"staging_dir must be a local directory; got staging_dir={self.staging_dir!r}")
        _check_has(self.store, "store", ("list", "local_path"), "a BucketStore such as LocalBucketStore(folder)")
        _check_has(self.backend, "backend", ("list_images", "fetch"),
                   "a PixelBackend such as EarthEngineBackend()")

    @property
    def resolved_tile_size(self) -> int:
        """``tile_size``, or the path's default (8 interactive, 4 batch)."""
        if self.tile_size is not None:
            return self.tile_size
        return DEFAULT_BATCH_TILE_SIZE if self.path == "batch" else DEFAULT_INTERACTIVE_TILE_SIZE


def _check_has(value: Any, name: str, methods: tuple[str, ...], example: str) -> None:
    if value is None:
        return
    missing = [m for m in methods if not callable(getattr(value, m, None))]
    if missing:
        raise AefValueError(f"{name} must be {example} (with {', '.join(methods)}); got {name}={value!r}, "
                            f"which lacks {', '.join(missing)}")
