"""Exports of result rasters and tables, returning the task, with an optional wait that shows progress."""

from __future__ import annotations

import logging
import time
from typing import Any

from aef_ee.fields.collection import NATIVE_SCALE_M
from aef_ee.errors import AefValueError, ExportError

__all__ = ["export_image_to_drive", "export_image_to_cloud_storage", "export_table_to_drive", "wait"]

log = logging.getLogger(__name__)
_DONE = ("COMPLETED", "SUCCEEDED", "FAILED", "CANCELLED")


def _native_crs(image: Any) -> Any:
    import ee

    return ee.Image(image).select(0).projection().crs()


def _image_kwargs(image, region, scale, crs, max_pixels) -> dict[str, Any]:
    if region is None:
        raise AefValueError("region is required: exports are bounded by a region")
    if max_pixels <= 0:
        raise AefValueError(f"max_pixels must be positive; got {max_pixels!r}")
    kwargs: dict[str, Any] = {"image": image, "region": region, "scale": scale, "maxPixels": max_pixels}
    kwargs["crs"] = crs if crs is not None else _native_crs(image).getInfo()
    return kwargs


def export_image_to_drive(
    image: Any,
    region: Any,
    *,
    description: str = "aef_ee_export",
    folder: str | None = "aef-ee",
    file_name_prefix: str | None = None,
    scale: float = NATIVE_SCALE_M,
    crs: str | None = None,
    max_pixels: float = 1e10,
    cloud_optimized: bool = True,
    start: bool = True,
    wait_for: bool = False,
    progress: bool = True,
) -> Any:
    """Exports ``image`` over ``region`` to Drive as a (Cloud-Optimised) GeoTIFF at the native scale and CRS.

    Returns:
      The ``ee.batch.Task`` (started unless ``start=False``); with ``wait_for`` it has finished.
    """
    import ee

    kwargs = _image_kwargs(image, region, scale, crs, max_pixels)
    task = ee.batch.Export.image.toDrive(
        description=description, folder=folder, fileNamePrefix=file_name_prefix or description,
        fileFormat="GeoTIFF", formatOptions={"cloudOptimized": cloud_optimized}, **kwargs)
    return _start(task, start=start, wait_for=wait_for, progress=progress)


def export_image_to_cloud_storage(
    image: Any,
    region: Any,
    *,
    bucket: str,
    file_name_prefix: str,
    description: str = "aef_ee_export",
    scale: float = NATIVE_SCALE_M,
    crs: str | None = None,
    max_pixels: float = 1e10,
    start: bool = True,
    wait_for: bool = False,
    progress: bool = True,
) -> Any:
    import ee

    kwargs = _image_kwargs(image, region, scale, crs, max_pixels)
    task = ee.batch.Export.image.toCloudStorage(
        description=description, bucket=bucket, fileNamePrefix=file_name_prefix, fileFormat="GeoTIFF",
        formatOptions={"cloudOptimized": True}, **kwargs)
    return _start(task, start=start, wait_for=wait_for, progress=progress)


def export_table_to_drive(table: Any, *, description: str = "aef_ee_table", folder: str | None = "aef-ee",
                          file_name_prefix: str | None = None, file_format: str = "CSV", start: bool = True,
                          wait_for: bool = False, progress: bool = True) -> Any:
    import ee

    task = ee.batch.Export.table.toDrive(collection=table, description=description, folder=folder,
                                         fileNamePrefix=file_name_prefix or description, fileFormat=file_format)
    return _start(task, start=start, wait_for=wait_for, progress=progress)


def _start(task: Any, *, start: bool, wait_for: bool, progress: bool) -> Any:
    if start:
        task.start()
        if wait_for:
            wait(task, progress=progress)
    return task


def wait(task: Any, *, timeout: float = 3600.0, poll: float = 0.5, progress: bool = True) -> dict[str, Any]:
    """Waits for ``task`` to finish, showing a progress bar; returns its final status.

    Raises:
      ExportError: the task failed or was cancelled, or ``timeout`` seconds passed.
    """
    from tqdm.auto import tqdm

    deadline = time.monotonic() + timeout
    bar = tqdm(total=100, desc=f"export {task.status().get('description', '')}", unit="%", disable=not progress)
    try:
        while True:
            status = task.status()
            done = float(status.get("progress", 0.0) or 0.0) * 100
            bar.update(max(0.0, done - bar.n))
            if status.get("state") in _DONE:
                break
            if time.monotonic() > deadline:
                raise ExportError(f"task {status.get('id')} did not finish within {timeout} s: {status}")
            time.sleep(poll)
    finally:
        bar.close()
    if status["state"] in ("FAILED", "CANCELLED"):
        raise ExportError(f"export {status.get('description')!r} {status['state'].lower()}: "
                          f"{status.get('error_message', '')}")
    return status
