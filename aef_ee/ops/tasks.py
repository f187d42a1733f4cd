"""Exports of result rasters and tables, returning the task, with an optional wait that shows the share done."""

from __future__ import annotations

import ipaddress
import logging
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from aef_ee.fields.collection import NATIVE_SCALE_M
from aef_ee.errors import AefValueError, ExportError

__all__ = ["export_image_to_drive", "export_image_to_cloud_storage", "export_table_to_drive", "wait"]

log = logging.getLogger(__name__)
# Seconds between polls of a running task: the first interval and the longest; each is POLL_GROWTH times the last.
# Earth Engine refreshes a task's progress every few seconds at most and counts operation reads against the project's
# request quota; from 2 s to 30 s a day-long export costs about 3,000 reads instead of 170,000 at 0.5 s.
EARTH_ENGINE_POLL_S = (2.0, 30.0)
# The local engine answers on loopback in milliseconds and finishes small exports in about a second.
LOCAL_POLL_S = (0.1, 1.0)
POLL_GROWTH = 1.5


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


def wait(task: Any, *, timeout: float = 3600.0, poll_s: float | None = None, max_poll_s: float | None = None,
         progress: bool = True) -> dict[str, Any]:
    """Waits for ``task`` to finish, showing the share of the task done; returns its final status.

    The share done is the operation's ``metadata.progress``, read with ``ee.data.getOperation`` (the legacy
    ``task.status()`` does not carry it). Polls back off: ``poll_s`` seconds first, then
    :data:`POLL_GROWTH` times longer each time, up to ``max_poll_s``. The defaults depend on where the ``ee`` client
    points: :data:`EARTH_ENGINE_POLL_S` for Earth Engine, :data:`LOCAL_POLL_S` for a server on this machine (the
    local engine).

    Args:
      task: a started ``ee.batch.Task``.
      timeout: seconds to wait in all.
      poll_s: seconds before the second poll (default: by backend, see above).
      max_poll_s: the longest interval between polls, seconds (default: by backend).
      progress: show a tqdm bar of the percentage done, labelled with the task's description and state.

    Returns:
      The task's final ``task.status()``: ``state`` "COMPLETED", ``destination_uris``, ...

    Raises:
      AefValueError: the task was never started (it has no operation name), or an interval is not positive.
      ExportError: the task failed or was cancelled, or ``timeout`` seconds passed.
    """
    import ee
    from tqdm.auto import tqdm

    name = getattr(task, "operation_name", None) or getattr(task, "name", None)
    if not name:
        raise AefValueError(f"task {getattr(task, 'id', None)!r} has not been started (it has no operation name); "
                            "call task.start() first")
    first, longest = _poll_schedule(poll_s, max_poll_s)
    deadline = time.monotonic() + timeout
    intervals = _intervals(first, longest)
    operation = ee.data.getOperation(name)
    metadata = operation.get("metadata", {})
    bar = tqdm(total=100, desc=f"export {metadata.get('description', name)!r}", unit="%",
               bar_format="{desc}: {n:.0f}% done |{bar}| {elapsed}{postfix}", disable=not progress)
    percent = 0.0  # what the bar shows (a disabled bar keeps no count), never moving back
    try:
        while True:
            metadata = operation.get("metadata", {})
            state = metadata.get("state", "")
            reported = 100.0 if state == "SUCCEEDED" else 100.0 * float(metadata.get("progress") or 0.0)
            step, percent = max(0.0, min(100.0, reported) - percent), max(percent, min(100.0, reported))
            bar.set_postfix_str(state.lower(), refresh=False)
            bar.update(step)
            if operation.get("done"):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExportError(f"task {metadata.get('description', name)!r} ({name}) did not finish within "
                                  f"{timeout} s; it is {state or 'in an unknown state'}, "
                                  f"{percent:.0f}% done")
            time.sleep(min(next(intervals), remaining))
            operation = ee.data.getOperation(name)
    finally:
        bar.close()
    status = task.status()
    if status.get("state") in ("FAILED", "CANCELLED"):
        raise ExportError(f"export {status.get('description')!r} {status['state'].lower()}: "
                          f"{status.get('error_message', '')}")
    return status


def _poll_schedule(poll_s: float | None, max_poll_s: float | None) -> tuple[float, float]:
    default_first, default_longest = LOCAL_POLL_S if _talks_to_this_machine() else EARTH_ENGINE_POLL_S
    first = default_first if poll_s is None else float(poll_s)
    longest = max(first, default_longest) if max_poll_s is None else float(max_poll_s)
    if not (first > 0 and longest > 0):
        raise AefValueError(f"poll intervals must be positive; got poll_s={poll_s!r}, max_poll_s={max_poll_s!r}")
    return first, max(first, longest)


def _intervals(first: float, longest: float) -> Iterator[float]:
    interval = first
    while True:
        yield interval
        interval = min(longest, interval * POLL_GROWTH)


def _talks_to_this_machine() -> bool:
    """Whether the ``ee`` client sends its requests to a loopback address (the local engine, ``aef-ee serve``)."""
    import ee

    # earthengine-api has no public getter for the URL given to ee.Initialize; without one, assume Earth Engine
    # (the slower schedule is never wrong, only slower).
    get_state = getattr(ee.data, "_get_state", None)
    url = getattr(get_state(), "cloud_api_base_url", None) if get_state else None
    host = urllib.parse.urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
