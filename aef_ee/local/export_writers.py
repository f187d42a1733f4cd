"""Writing exports: images as (Cloud-Optimised) GeoTIFFs and tables as CSV / GeoJSON, to "Drive", "Cloud Storage"
or the catalog. Every file is written under a temporary name and renamed into place, so a failed or cancelled export
leaves nothing behind.

Destinations:
- Drive: ``settings["drive_dir"]`` (default ``$AEF_EE_DRIVE_DIR`` or ``~/aef-ee-drive``) / folder / prefix.ext.
- Cloud Storage: a real bucket through google-cloud-storage when ``settings["gcs_endpoint"]`` or
  ``$STORAGE_EMULATOR_HOST`` is set (an emulator, or Google Cloud with ``gcs_endpoint="google"``); otherwise the
  local folder ``settings["bucket_dir"]`` (default ``$AEF_EE_BUCKET_DIR`` or ``~/aef-ee-buckets``) / bucket / prefix.
- Assets: a COG stored in the catalog next to the image manifest.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.atomic import write_bytes_atomic
from aef_ee.local import pixels
from aef_ee.local.encoding import feature_info, to_json
from aef_ee.local.errors import AlreadyExists, InvalidArgument, ResourceExhausted
from aef_ee.local.operation_registry import Operation
from aef_ee.local.raster import Image
from aef_ee.local.values import FeatureCollection

__all__ = ["export_image", "export_table", "DEFAULT_MAX_PIXELS"]

# Earth Engine's default maxPixels for image exports.
DEFAULT_MAX_PIXELS = 1e8


def drive_dir(settings: dict[str, Any]) -> Path:
    return Path(settings.get("drive_dir") or os.environ.get("AEF_EE_DRIVE_DIR") or Path.home() / "aef-ee-drive")


def bucket_dir(settings: dict[str, Any]) -> Path:
    return Path(settings.get("bucket_dir") or os.environ.get("AEF_EE_BUCKET_DIR") or Path.home() / "aef-ee-buckets")


def _safe_relative(prefix: str) -> Path:
    parts = [p for p in str(prefix).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise InvalidArgument(f"Invalid file name prefix {prefix!r}.")
    return Path(*parts)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)  # 0644: exported files are meant to be shared


def _deliver(data: bytes, ext: str, options: dict[str, Any], settings: dict[str, Any]) -> str:
    """Stores ``data`` at the file destination of ``options``; returns its URI."""
    if "driveDestination" in options:
        dest = options["driveDestination"]
        folder = dest.get("folder") or ""
        rel = _safe_relative(f"{folder}/{dest.get('filenamePrefix') or 'export'}" if folder
                             else dest.get("filenamePrefix") or "export")
        path = drive_dir(settings) / rel.with_name(rel.name + ext)
        _write_atomic(path, data)
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
            _upload_gcs(bucket, key, data, endpoint)
            return f"gs://{bucket}/{key}"
        path = bucket_dir(settings) / bucket / key
        _write_atomic(path, data)
        return f"gs://{bucket}/{key}"
    raise InvalidArgument("Export request has no driveDestination or cloudStorageDestination.")


def _upload_gcs(bucket: str, key: str, data: bytes, endpoint: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    if endpoint == "google":
        client = storage.Client()
    else:
        client = storage.Client(project="local", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": endpoint})
    # Uploads are atomic in Cloud Storage: the object appears only when the upload completes.
    client.bucket(bucket).blob(key).upload_from_string(data, content_type="application/octet-stream")


def _max_pixels(body: dict[str, Any]) -> float:
    raw = body.get("maxPixels")
    if isinstance(raw, dict):
        raw = raw.get("value")
    return float(raw) if raw is not None else DEFAULT_MAX_PIXELS


def export_image(op: Operation, image: Image, body: dict[str, Any], settings: dict[str, Any],
                 catalog: Any) -> None:
    """Computes ``image`` on its export grid strip by strip and writes it to the request's destination."""
    grid = pixels.grid_from_json(body.get("grid"), image)
    total = grid.width * grid.height
    limit = _max_pixels(body)
    if total > limit:
        raise ResourceExhausted(
            f"Too many pixels in the region. Found {total}, but maxPixels allows only {int(limit)}.")
    dtypes = pixels.output_dtypes(image)
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float32)
    values = [np.zeros(grid.shape, dtype) for _ in dtypes]
    masks = [np.zeros(grid.shape, bool) for _ in dtypes]
    strips = grid.strips(max(1, pixels.STRIP_PIXELS // max(1, len(dtypes))))
    for k, (r0, r1) in enumerate(strips):
        op.check_cancelled()
        for i, (v, m) in enumerate(image.compute(grid.window(r0, r1))):
            m = np.asarray(m)
            values[i][r0:r1] = np.where(m, v, 0)
            masks[i][r0:r1] = m
        op.set_progress(0.9 * (k + 1) / len(strips))
    op.check_cancelled()
    file_options = body.get("fileExportOptions")
    asset_options = body.get("assetExportOptions")
    names = image.band_names
    if file_options is not None:
        fmt = str(file_options.get("fileFormat") or "GEO_TIFF").upper()
        if fmt not in ("GEO_TIFF", "GEOTIFF"):
            raise InvalidArgument(f"Unsupported image export format '{fmt}'. The local engine writes GEO_TIFF.")
        cog = bool((file_options.get("geoTiffOptions") or {}).get("cloudOptimized", False))
        data = pixels.to_geotiff(grid, names, values, masks, cloud_optimized=cog)
        op.check_cancelled()
        op.destination_uris.append(_deliver(data, ".tif", file_options, settings))
    elif asset_options is not None:
        dest = (asset_options.get("earthEngineDestination") or {}).get("name")
        if not dest:
            raise InvalidArgument("assetExportOptions.earthEngineDestination.name is required.")
        _write_image_asset(catalog, dest, grid, names, values, masks, image.properties,
                           overwrite=bool(asset_options["earthEngineDestination"].get("overwrite")))
        op.destination_uris.append(dest)
    else:
        raise InvalidArgument("Export request has neither fileExportOptions nor assetExportOptions.")


def _write_image_asset(catalog: Any, asset_id: str, grid, names, values, masks, properties, *,
                       overwrite: bool) -> None:
    cid = catalog.canonical_id(asset_id)
    if catalog.exists(cid) and not overwrite:
        raise AlreadyExists(f"Cannot overwrite asset '{cid}'.")
    data = pixels.to_geotiff(grid, names, values, masks, cloud_optimized=True)
    leaf = cid.rsplit("/", 1)[-1]
    tif = catalog.root / (cid + ".tif")
    _write_atomic(tif, data)
    props = {k: v for k, v in properties.items() if k.startswith("system:time") or not k.startswith("system:")}
    data_type = str(np.result_type(*[v.dtype for v in values]))
    bands = [{"id": n, "path": f"{leaf}.tif", "band": i + 1, "data_type": data_type} for i, n in enumerate(names)]
    catalog.write_image(cid, bands, to_json(props), overwrite=overwrite)


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
        op.destination_uris.append(_deliver(data, ext, file_options, settings))
        return
    if asset_options is not None:
        dest = (asset_options.get("earthEngineDestination") or {}).get("name")
        if not dest:
            raise InvalidArgument("assetExportOptions.earthEngineDestination.name is required.")
        cid = catalog.canonical_id(dest)
        data, _ = table_bytes(collection, "GEO_JSON")
        leaf = cid.rsplit("/", 1)[-1]
        _write_atomic(catalog.root / (cid + ".geojson"), data)
        catalog.write_table(cid, f"{leaf}.geojson", {})
        op.destination_uris.append(dest)
        return
    raise InvalidArgument("Export request has neither fileExportOptions nor assetExportOptions.")
