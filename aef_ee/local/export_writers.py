"""Writing exports: images as (Cloud-Optimised) GeoTIFFs and tables as CSV / GeoJSON, to "Drive", "Cloud Storage"
or the catalog.

Images are computed and written block by block (:mod:`aef_ee.local.cog_writer`), so an export's memory does not
grow with its size. Nothing is visible before it is complete: files are written in a scratch folder beside their
destination (``.tmp-<operation>-<token>/``, declared on the operation so that the next server removes it if this
one is killed) and renamed into place; assets are staged and committed in one step (:meth:`Catalog.stage`).

Destinations:
- Drive: ``settings["drive_dir"]`` (default ``$AEF_EE_DRIVE_DIR`` or ``~/aef-ee-drive``) / folder / prefix.ext.
- Cloud Storage: a real bucket through google-cloud-storage when ``settings["gcs_endpoint"]`` or
  ``$STORAGE_EMULATOR_HOST`` is set (an emulator, or Google Cloud with ``gcs_endpoint="google"``); otherwise the
  local folder ``settings["bucket_dir"]`` (default ``$AEF_EE_BUCKET_DIR`` or ``~/aef-ee-buckets``) / bucket / prefix.
- Assets: a COG in the asset's own ``_data/<version>/`` folder, committed with its manifest.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.atomic import DEFAULT_MODE, TEMP_PREFIX
from aef_ee.local import pixels
from aef_ee.local.cog_writer import write_blocks
from aef_ee.local.encoding import feature_info, to_json
from aef_ee.local.errors import AlreadyExists, InvalidArgument, ResourceExhausted
from aef_ee.local.operation_registry import Operation
from aef_ee.local.projection import Grid
from aef_ee.local.raster import Image
from aef_ee.local.values import FeatureCollection

__all__ = ["export_image", "export_table", "check_max_pixels", "DEFAULT_MAX_PIXELS"]

# Earth Engine's default maxPixels for image exports.
DEFAULT_MAX_PIXELS = 1e8

# produce(target, scratch): writes the file at ``target``, using folder ``scratch`` for anything else.
Producer = Callable[[Path, Path], None]


def drive_dir(settings: dict[str, Any]) -> Path:
    return Path(settings.get("drive_dir") or os.environ.get("AEF_EE_DRIVE_DIR") or Path.home() / "aef-ee-drive")


def bucket_dir(settings: dict[str, Any]) -> Path:
    return Path(settings.get("bucket_dir") or os.environ.get("AEF_EE_BUCKET_DIR") or Path.home() / "aef-ee-buckets")


def _safe_relative(prefix: str) -> Path:
    parts = [p for p in str(prefix).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise InvalidArgument(f"Invalid file name prefix {prefix!r}.")
    return Path(*parts)


@contextlib.contextmanager
def _scratch(op: Operation, parent: Path) -> Iterator[Path]:
    """A scratch folder in ``parent``, declared on ``op`` before it exists and removed after the block."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / f"{TEMP_PREFIX}{op.id}-{secrets.token_hex(4)}"
    op.add_scratch(folder)
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _into_place(op: Operation, produce: Producer, path: Path) -> None:
    """Produces the file in a scratch folder beside ``path`` and renames it into place."""
    with _scratch(op, path.parent) as scratch:
        target = scratch / path.name
        produce(target, scratch)
        os.chmod(target, DEFAULT_MODE)  # exported files are meant to be shared
        op.check_cancelled()
        os.replace(target, path)


def _deliver(op: Operation, produce: Producer, ext: str, options: dict[str, Any], settings: dict[str, Any]) -> str:
    """Stores the file that ``produce`` writes at the file destination of ``options``; returns its URI."""
    if "driveDestination" in options:
        dest = options["driveDestination"]
        folder = dest.get("folder") or ""
        rel = _safe_relative(f"{folder}/{dest.get('filenamePrefix') or 'export'}" if folder
                             else dest.get("filenamePrefix") or "export")
        path = drive_dir(settings) / rel.with_name(rel.name + ext)
        _into_place(op, produce, path)
        return path.resolve().as_uri()
    if "cloudStorageDestination" in options:
        dest = options["cloudStorageDestination"]
        bucket = dest.get("bucket")
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise InvalidArgument(f"Invalid bucket name {bucket!r}.")
        rel = _safe_relative(dest.get("filenamePrefix") or "export")
        key = rel.as_posix() + ext
        endpoint = settings.get("gcs_endpoint") or os.environ.get("STORAGE_EMULATOR_HOST")
        if endpoint:
            with _scratch(op, Path(tempfile.gettempdir())) as scratch:
                target = scratch / Path(key).name
                produce(target, scratch)
                op.check_cancelled()
                _upload_gcs(bucket, key, target, endpoint)
            return f"gs://{bucket}/{key}"
        _into_place(op, produce, bucket_dir(settings) / bucket / key)
        return f"gs://{bucket}/{key}"
    raise InvalidArgument("Export request has no driveDestination or cloudStorageDestination.")


def _upload_gcs(bucket: str, key: str, path: Path, endpoint: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    if endpoint == "google":
        client = storage.Client()
    else:
        client = storage.Client(project="local", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": endpoint})
    # Uploads are atomic in Cloud Storage: the object appears only when the upload completes.
    client.bucket(bucket).blob(key).upload_from_filename(str(path), content_type="application/octet-stream")


def _max_pixels(body: dict[str, Any]) -> float:
    raw = body.get("maxPixels")
    if isinstance(raw, dict):
        raw = raw.get("value")
    return float(raw) if raw is not None else DEFAULT_MAX_PIXELS


def check_max_pixels(grid: Grid, body: dict[str, Any]) -> None:
    """Earth Engine's ``maxPixels`` guard: the grid's pixel count (width x height, whatever the band count).

    Raises:
        ResourceExhausted: with Earth Engine's wording, e.g. "Export too large: specified 5120 pixels (max: 100).
            Specify higher maxPixels value if you intend to export a large area."
    """
    total, limit = grid.width * grid.height, _max_pixels(body)
    if total > limit:
        raise ResourceExhausted(f"Export too large: specified {total} pixels (max: {int(limit)}). Specify higher "
                                "maxPixels value if you intend to export a large area.")


def _block_function(image: Image, dtype: np.dtype) -> Callable[[Grid], tuple[np.ndarray, np.ndarray | None]]:
    """Computes one block of ``image``: (bands, h, w) values in ``dtype`` (masked pixels 0) and the AND of the
    bands' masks (None when nothing is masked)."""
    def compute(window: Grid) -> tuple[np.ndarray, np.ndarray | None]:
        bands = image.compute(window)
        values = np.empty((len(bands), window.height, window.width), dtype)
        mask: np.ndarray | None = None
        for i, (v, m) in enumerate(bands):
            if np.ndim(v) != 2:
                raise InvalidArgument(f"Band '{image.bands[i].name}' holds an array per pixel; flatten it with "
                                      "arrayFlatten() before exporting.")
            m = np.asarray(m)
            if m.all():
                values[i] = v
            else:
                values[i] = np.where(m, v, 0)
                mask = m.copy() if mask is None else mask & m
        return values, mask

    return compute


def export_image(op: Operation, image: Image, body: dict[str, Any], settings: dict[str, Any],
                 catalog: Any, *, grid: Grid | None = None) -> None:
    """Computes ``image`` on its export grid block by block and writes it to the request's destination.

    Args:
        grid: the export's pixel grid as the route computed it; by default the request's ``grid`` (or the image's
            own).

    Raises:
        ResourceExhausted: more pixels than ``maxPixels`` (Earth Engine's message).
        InvalidArgument: an unsupported format or a missing destination. AlreadyExists: the asset exists.
    """
    if grid is None:
        grid = pixels.grid_from_json(body.get("grid"), image)
    check_max_pixels(grid, body)
    dtypes = pixels.output_dtypes(image)
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float32)
    names = image.band_names
    compute = _block_function(image, dtype)
    file_options = body.get("fileExportOptions")
    asset_options = body.get("assetExportOptions")

    def write(target: Path, scratch: Path, *, cloud_optimized: bool) -> None:
        write_blocks(target, grid, names, dtype, compute, cloud_optimized=cloud_optimized, scratch_dir=scratch,
                     progress=lambda done: op.set_progress(0.95 * done), check_cancelled=op.check_cancelled)

    if file_options is not None:
        fmt = str(file_options.get("fileFormat") or "GEO_TIFF").upper()
        if fmt not in ("GEO_TIFF", "GEOTIFF"):
            raise InvalidArgument(f"Unsupported image export format '{fmt}'. The local engine writes GEO_TIFF.")
        cog = bool((file_options.get("geoTiffOptions") or {}).get("cloudOptimized", False))
        uri = _deliver(op, lambda target, scratch: write(target, scratch, cloud_optimized=cog), ".tif",
                       file_options, settings)
        op.destination_uris.append(uri)
    elif asset_options is not None:
        destination = asset_options.get("earthEngineDestination") or {}
        if not destination.get("name"):
            raise InvalidArgument("assetExportOptions.earthEngineDestination.name is required.")
        cid = catalog.canonical_id(destination["name"])
        overwrite = bool(destination.get("overwrite"))
        if catalog.exists(cid) and not overwrite:
            raise AlreadyExists(f"Cannot overwrite asset '{cid}'.")
        name = f"{cid.rsplit('/', 1)[-1]}.tif"
        props = {k: v for k, v in image.properties.items()
                 if k.startswith("system:time") or not k.startswith("system:")}
        with catalog.stage() as stage:
            write(stage.file(name), stage.dir, cloud_optimized=True)
            os.chmod(stage.file(name), DEFAULT_MODE)
            op.check_cancelled()
            bands = [{"id": n, "path": stage.ref(name), "band": i + 1, "data_type": dtype.name}
                     for i, n in enumerate(names)]
            catalog.write_image(cid, bands, to_json(props), overwrite=overwrite, data=stage)
        op.destination_uris.append(destination["name"])
    else:
        raise InvalidArgument("Export request has neither fileExportOptions nor assetExportOptions.")


def table_bytes(collection: FeatureCollection, fmt: str, selectors: list[str] | None = None) -> tuple[bytes, str]:
    """CSV (Earth Engine's layout: system:index, properties..., .geo) or GeoJSON bytes, with the file extension."""
    features = [feature_info(f) for f in collection.features]
    if fmt == "GEO_JSON":
        body = {"type": "FeatureCollection", "features": features}
        return json.dumps(body, allow_nan=False).encode(), ".geojson"
    if fmt == "CSV":
        columns: list[str] = []
        for f in features:
            for key in f["properties"]:
                if key not in columns:
                    columns.append(key)
        if selectors:
            columns = [c for c in selectors if c not in ("system:index", ".geo")]
        header = ["system:index", *(columns if selectors else sorted(columns)), ".geo"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for index, f in enumerate(features):
            row = [f.get("id", str(index))]
            for col in header[1:-1]:
                value = f["properties"].get(col)
                row.append("" if value is None else json.dumps(value) if isinstance(value, (list, dict)) else value)
            row.append(json.dumps(f["geometry"], separators=(",", ":")) if f["geometry"] else "")
            writer.writerow(row)
        return out.getvalue().encode(), ".csv"
    raise InvalidArgument(f"Unsupported table export format '{fmt}'. Supported: CSV, GEO_JSON.")


def export_table(op: Operation, collection: FeatureCollection, body: dict[str, Any], settings: dict[str, Any],
                 catalog: Any) -> None:
    op.check_cancelled()
    file_options = body.get("fileExportOptions")
    asset_options = body.get("assetExportOptions")
    selectors = body.get("selectors")
    if file_options is not None:
        fmt = str(file_options.get("fileFormat") or "CSV").upper()
        data, ext = table_bytes(collection, fmt, selectors)
        op.set_progress(0.8)
        op.check_cancelled()
        op.destination_uris.append(_deliver(op, lambda target, scratch: target.write_bytes(data), ext,
                                            file_options, settings))
        return
    if asset_options is not None:
        destination = asset_options.get("earthEngineDestination") or {}
        if not destination.get("name"):
            raise InvalidArgument("assetExportOptions.earthEngineDestination.name is required.")
        cid = catalog.canonical_id(destination["name"])
        data, _ = table_bytes(collection, "GEO_JSON")
        name = f"{cid.rsplit('/', 1)[-1]}.geojson"
        with catalog.stage() as stage:
            stage.file(name).write_bytes(data)
            os.chmod(stage.file(name), DEFAULT_MODE)
            catalog.write_table(cid, stage.ref(name), {}, overwrite=bool(destination.get("overwrite")), data=stage)
        op.destination_uris.append(destination["name"])
        return
    raise InvalidArgument("Export request has neither fileExportOptions nor assetExportOptions.")
