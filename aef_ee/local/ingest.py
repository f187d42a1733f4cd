"""Turning GeoTIFFs named by URI (``gs://bucket/key``, ``file://``, local paths) into catalog band entries.

Used by image ingestion (``image:import`` manifests), ``createAsset`` of Cloud-GeoTIFF-backed images and
``Image.loadGeoTIFF``. A ``gs://`` URI resolves, in order, to the local bucket folder (``settings["bucket_dir"]``),
or is downloaded once from Cloud Storage (``settings["gcs_endpoint"]`` / ``$STORAGE_EMULATOR_HOST``) into the
catalog's ``.gcs-cache`` folder.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path
from typing import Any

from aef_ee.atomic import atomic_path
from aef_ee.local.errors import InvalidArgument, NotFound
from aef_ee.local.export_writers import bucket_dir

__all__ = ["resolve_uri", "bands_from_files", "bands_from_manifest"]


def resolve_uri(uri: str, settings: dict[str, Any], catalog: Any) -> str:
    """A local file path for ``uri``."""
    if uri.startswith("file://"):
        return urllib.parse.urlparse(uri).path
    if not uri.startswith("gs://"):
        if os.path.isabs(uri) and os.path.exists(uri):
            return uri
        raise InvalidArgument(f"Unsupported URI {uri!r}: use gs://bucket/object or an absolute file path.")
    bucket, _, key = uri[len("gs://"):].partition("/")
    if not bucket or not key or ".." in key.split("/"):
        raise InvalidArgument(f"Invalid Cloud Storage URI {uri!r}.")
    local = bucket_dir(settings) / bucket / key
    if local.exists():
        return str(local)
    endpoint = settings.get("gcs_endpoint") or os.environ.get("STORAGE_EMULATOR_HOST")
    if not endpoint:
        raise NotFound(f"Cloud Storage object {uri} does not exist (looked in {local}).")
    cache = Path(catalog.root) / ".gcs-cache" / hashlib.sha1(uri.encode()).hexdigest()[:16] / Path(key).name
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


def bands_from_files(paths: list[str], band_ids: list[str] | None = None,
                     nodata: float | None = None) -> list[dict[str, Any]]:
    """Band entries for every band of the given GeoTIFFs (ids from ``band_ids``, band descriptions, or b1..bn)."""
    import rasterio

    entries: list[dict[str, Any]] = []
    for path in paths:
        try:
            with rasterio.open(path) as ds:
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
