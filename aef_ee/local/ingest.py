"""Turning GeoTIFFs named by URI (``gs://bucket/key``, ``file://``, local paths) into catalog band entries.

Used by image ingestion (``image:import`` manifests), ``createAsset`` of Cloud-GeoTIFF-backed images and
``Image.loadGeoTIFF``. A ``gs://`` URI resolves, in order, to the local bucket folder (``settings["bucket_dir"]``),
or is downloaded once from Cloud Storage (``settings["gcs_endpoint"]`` / ``$STORAGE_EMULATOR_HOST``) into the
catalog's ``.gcs-cache`` folder (``.gcs-cache/<hash of the URI>/<object name>``, written atomically; a download
killed half-way leaves a ``.tmp-*`` file there, which :func:`clean_gcs_cache` removes when the next server starts).

A URI comes from a request, so it may only name files the user meant the engine to read: a ``gs://`` object inside
the bucket folder (no ``..``, no empty segment, no symbolic link out of it), or a local path (absolute, or
``file://``) inside the catalog, the bucket folder or a folder listed in ``settings["image_dirs"]``. GDAL's network
and virtual paths (``/vsicurl/``, ``/vsis3/``, ``/vsizip/``, ``http://``, ...) are refused unless
``settings["allow_network_uris"]`` is true, and files are opened with the GeoTIFF driver only (a VRT could name any
other file).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

from aef_ee.atomic import TEMP_PREFIX, atomic_path
from aef_ee.local.errors import InvalidArgument, NotFound, PermissionDenied
from aef_ee.local.export_writers import bucket_dir

__all__ = ["resolve_uri", "readable_folders", "bands_from_files", "bands_from_manifest", "clean_gcs_cache",
           "GCS_CACHE_DIR"]

log = logging.getLogger(__name__)

# Objects downloaded from Cloud Storage, under the catalog root.
GCS_CACHE_DIR = ".gcs-cache"
# Every download this process starts is newer than this (nothing downloads before this module is imported), so an
# older temporary was left by a process that died mid-download.
_PROCESS_START = time.time()

# Cloud Storage bucket names: lower-case letters, digits, dots, dashes and underscores (3 to 222 characters).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\Z")
# GDAL's virtual file systems (/vsicurl/, /vsis3/, /vsigs/, /vsizip/, /vsimem/, ...) and URL schemes GDAL fetches.
_NETWORK = re.compile(r"(/vsi[a-z0-9_]*/|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)
# GeoTIFF and Cloud-Optimized GeoTIFF are what Earth Engine ingests; both are GDAL's GTiff driver.
_IMAGE_DRIVER = "GTiff"


def readable_folders(settings: dict[str, Any], catalog: Any) -> list[Path]:
    """The folders request URIs may name files in: the catalog, the bucket folder, ``settings["image_dirs"]``."""
    folders = [Path(catalog.root), bucket_dir(settings)]
    extra = settings.get("image_dirs") or []
    folders += [Path(extra)] if isinstance(extra, (str, os.PathLike)) else [Path(f) for f in extra]
    return [f.resolve() for f in folders]


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def _local_file(uri: str, path_text: str, settings: dict[str, Any], catalog: Any) -> str:
    if not os.path.isabs(path_text):
        raise InvalidArgument(f"Unsupported URI {uri!r}: use gs://bucket/object or an absolute file path.")
    real = Path(path_text).resolve()  # symbolic links followed: a link may not lead out of the folders
    folders = readable_folders(settings, catalog)
    if not _inside(real, folders):
        raise PermissionDenied(
            f"{uri!r} is outside the folders the local Earth Engine may read ({', '.join(map(str, folders))}); "
            "allow its folder with `aef-ee serve --allow-dir DIR` (the image_dirs setting).")
    if not real.is_file():
        raise NotFound(f"File {uri!r} does not exist.")
    return str(real)


def resolve_uri(uri: str, settings: dict[str, Any], catalog: Any) -> str:
    """A local file path for ``uri`` (see the module docstring for what is allowed).

    Raises:
      InvalidArgument: a malformed URI (a relative path, a bad bucket name, ``..`` or empty path segments).
      PermissionDenied: a file outside the readable folders, or a network/virtual path that is not enabled.
      NotFound: no such file or object.
    """
    if not isinstance(uri, str) or not uri or "\x00" in uri:
        raise InvalidArgument(f"Invalid image URI {str(uri)[:200]!r}.")
    if uri.startswith("gs://"):
        return _resolve_gcs(uri, settings, catalog)
    if uri.startswith("file://"):
        parts = urllib.parse.urlsplit(uri)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidArgument(f"Unsupported file URI {uri!r}: use file:///absolute/path.")
        return _local_file(uri, urllib.parse.unquote(parts.path), settings, catalog)
    if _NETWORK.match(uri):
        if settings.get("allow_network_uris"):
            return uri
        raise PermissionDenied(
            f"The local Earth Engine does not read network or GDAL virtual paths such as {uri[:200]!r} unless told "
            "to (`aef-ee serve --allow-network-uris`); use gs://bucket/object (the local bucket folder) or a file in "
            "an allowed folder.")
    return _local_file(uri, uri, settings, catalog)


def _resolve_gcs(uri: str, settings: dict[str, Any], catalog: Any) -> str:
    bucket, _, key = uri[len("gs://"):].partition("/")
    segments = key.split("/")
    if (not _BUCKET.match(bucket) or ".." in bucket or not key or "\\" in key
            or any(segment in ("", ".", "..") for segment in segments)):
        raise InvalidArgument(f"Invalid Cloud Storage URI {uri!r}.")
    root = bucket_dir(settings).resolve()
    local = (root / bucket / key).resolve()
    if not local.is_relative_to(root):  # a symbolic link inside the bucket folder leading out of it
        raise PermissionDenied(f"Cloud Storage URI {uri!r} leads outside the bucket folder {root}.")
    if local.exists():
        return str(local)
    endpoint = settings.get("gcs_endpoint") or os.environ.get("STORAGE_EMULATOR_HOST")
    if not endpoint:
        raise NotFound(f"Cloud Storage object {uri} does not exist (looked in {root / bucket / key}).")
    cache = Path(catalog.root) / GCS_CACHE_DIR / hashlib.sha1(uri.encode()).hexdigest()[:16] / Path(key).name
    if not cache.exists():
        from google.api_core.exceptions import NotFound as GcsNotFound
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client() if endpoint == "google" else storage.Client(
            project="local", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            try:
                client.bucket(bucket).blob(key).download_to_filename(str(tmp))
            except GcsNotFound:
                raise NotFound(f"Cloud Storage object {uri} does not exist.") from None
    return str(cache)


def clean_gcs_cache(catalog_root: str | os.PathLike[str]) -> list[Path]:
    """Removes the temporaries (``.tmp-*``) that downloads killed half-way left in the catalog's Cloud Storage cache.

    Only files older than this process's start are removed: a download running in another live server sharing the
    catalog keeps writing, so its temporary stays newer. Finished downloads (the cached objects) are kept.

    Returns:
      The paths removed.
    """
    cache = Path(catalog_root) / GCS_CACHE_DIR
    removed: list[Path] = []
    if not cache.is_dir():
        return removed
    for entry in cache.glob(f"*/{TEMP_PREFIX}*"):
        with contextlib.suppress(FileNotFoundError):  # another starting server removed it first
            if entry.is_symlink() or not entry.is_file() or entry.stat().st_mtime >= _PROCESS_START:
                continue
            entry.unlink()
            removed.append(entry)
        with contextlib.suppress(OSError):  # the URI's folder, once empty (not empty: it holds the object)
            entry.parent.rmdir()
    if removed:
        log.warning("catalog %s: removed %d unfinished Cloud Storage download(s) left by a stopped server",
                    catalog_root, len(removed))
    return removed


def bands_from_files(paths: list[str], band_ids: list[str] | None = None,
                     nodata: float | None = None) -> list[dict[str, Any]]:
    """Band entries for every band of the given GeoTIFFs (ids from ``band_ids``, band descriptions, or b1..bn)."""
    import rasterio

    entries: list[dict[str, Any]] = []
    for path in paths:
        try:
            with rasterio.open(path, driver=_IMAGE_DRIVER) as ds:
                for i in range(1, ds.count + 1):
                    desc = ds.descriptions[i - 1]
                    entries.append({"id": desc or f"b{len(entries) + 1}", "path": path, "band": i,
                                    "data_type": ds.dtypes[i - 1],
                                    "nodata": nodata if nodata is not None else ds.nodata})
        except rasterio.errors.RasterioIOError as exc:
            raise InvalidArgument(f"Cannot read GeoTIFF {path!r}: {exc}") from None
    if band_ids is not None:
        if len(band_ids) != len(entries):
            raise InvalidArgument(f"{len(band_ids)} band ids for {len(entries)} bands in {paths}.")
        for entry, band_id in zip(entries, band_ids):
            entry["id"] = band_id
    return entries


def bands_from_manifest(manifest: dict[str, Any], settings: dict[str, Any], catalog: Any) -> list[dict[str, Any]]:
    """Band entries for an Earth Engine ImageManifest (tilesets of source URIs, optional band list)."""
    tilesets = manifest.get("tilesets") or []
    if not tilesets:
        raise InvalidArgument("Image manifest has no tilesets.")
    by_tileset: dict[str, list[dict[str, Any]]] = {}
    missing = (manifest.get("missingData") or {}).get("values")
    nodata = float(missing[0]) if missing else None
    for index, tileset in enumerate(tilesets):
        uris = [u for source in tileset.get("sources", []) for u in source.get("uris", [])]
        if len(uris) != 1:
            raise InvalidArgument(
                f"Tileset {tileset.get('id', index)!r} must have exactly one source URI (mosaics of several files "
                f"are not supported by the local engine); got {len(uris)}.")
        by_tileset[tileset.get("id", "")] = bands_from_files([resolve_uri(uris[0], settings, catalog)],
                                                             nodata=nodata)
    bands = manifest.get("bands")
    if not bands:
        return [entry for entries in by_tileset.values() for entry in entries]
    out = []
    for band in bands:
        entries = by_tileset.get(band.get("tilesetId", ""))
        if entries is None:
            raise InvalidArgument(f"Band {band.get('id')!r} names unknown tileset {band.get('tilesetId')!r}.")
        index = int(band.get("tilesetBandIndex", 0))
        if not 0 <= index < len(entries):
            raise InvalidArgument(f"Band {band.get('id')!r}: tilesetBandIndex {index} out of range.")
        entry = dict(entries[index])
        entry["id"] = band["id"]
        out.append(entry)
    return out
