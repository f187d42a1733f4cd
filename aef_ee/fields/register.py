"""Registering embedding-field COGs as an Earth Engine ImageCollection (Cloud-GeoTIFF-backed images).

Each COG written by ``aef-ee embed`` carries its metadata as GeoTIFF tags (:data:`REQUIRED_TAGS`); registration
checks every COG (64 bands A00..A63, int8 or float32, a UTM CRS, a valid period) before creating anything, then
creates the collection (if missing) and one image asset per COG, skipping images that already exist, so re-running
registers nothing twice. The templates live in ``ee_assets/``.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.resources
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aef_ee.backend import require_extra
from aef_ee.fields.collection import EMBEDDING_BANDS
from aef_ee.errors import RegistrationError

__all__ = [
    "REQUIRED_TAGS",
    "CogInfo",
    "RegistrationReport",
    "cog_tags",
    "inspect_cog",
    "register_embeddings",
    "image_manifest",
]

log = logging.getLogger(__name__)

# GeoTIFF metadata keys cannot hold a colon, so the times are stored as TIME_START_MS / TIME_END_MS.
REQUIRED_TAGS = ("TIME_START_MS", "TIME_END_MS", "UTM_ZONE", "MODEL_VERSION",
                 "PROCESSING_SOFTWARE_VERSION", "DATASET_VERSION")
ALLOWED_DTYPES = ("int8", "float32")
_UTM_EPSG = re.compile(r"^EPSG:(326|327)(0[1-9]|[1-5][0-9]|60)$")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _template(name: str) -> str:
    """A registration template's text (package data: the repository's ``ee_assets/``)."""
    return importlib.resources.files("aef_ee.fields.templates").joinpath(name).read_text()


def cog_tags(year: int, utm_zone: str, *, model_version: str, software_version: str,
             dataset_version: str = "aef-ee-1") -> dict[str, str]:
    """The GeoTIFF tags an embedding COG carries (what registration reads back)."""
    start = datetime.datetime(year, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(year + 1, 1, 1, tzinfo=datetime.timezone.utc)
    return {
        "TIME_START_MS": str(int(start.timestamp() * 1000)),
        "TIME_END_MS": str(int(end.timestamp() * 1000)),
        "UTM_ZONE": utm_zone,
        "MODEL_VERSION": model_version,
        "PROCESSING_SOFTWARE_VERSION": software_version,
        "DATASET_VERSION": dataset_version,
    }


@dataclasses.dataclass(frozen=True)
class CogInfo:
    uri: str
    name: str
    crs: str
    dtype: str
    tags: Mapping[str, str]

    @property
    def start_ms(self) -> int:
        return int(self.tags["TIME_START_MS"])

    @property
    def end_ms(self) -> int:
        return int(self.tags["TIME_END_MS"])


def _open_path(uri: str, bucket_dir: str | os.PathLike[str] | None) -> str:
    if uri.startswith("gs://"):
        bucket_key = uri[len("gs://"):]
        if bucket_dir is not None:
            return str(Path(bucket_dir) / bucket_key)
        return "/vsigs/" + bucket_key
    return uri


def inspect_cog(uri: str, *, bucket_dir: str | os.PathLike[str] | None = None) -> CogInfo:
    """Reads and checks an embedding COG's header.

    Raises:
      RegistrationError: the file is not a 64-band A00..A63 int8/float32 GeoTIFF in a UTM CRS with the tags.
    """
    import rasterio

    path = _open_path(uri, bucket_dir)
    try:
        with rasterio.open(path) as ds:
            count, dtypes, crs = ds.count, set(ds.dtypes), ds.crs
            descriptions = list(ds.descriptions)
            tags = ds.tags()
    except rasterio.errors.RasterioIOError as exc:
        raise RegistrationError(f"{uri}: cannot be read as a GeoTIFF ({exc})") from exc
    if count != len(EMBEDDING_BANDS):
        raise RegistrationError(f"{uri}: has {count} bands; an embedding COG has {len(EMBEDDING_BANDS)} (A00..A63)")
    if any(d and d != b for d, b in zip(descriptions, EMBEDDING_BANDS)):
        raise RegistrationError(f"{uri}: band names {descriptions[:3]}... are not A00..A63")
    if len(dtypes) != 1 or next(iter(dtypes)) not in ALLOWED_DTYPES:
        raise RegistrationError(f"{uri}: pixel type {sorted(dtypes)}; expected one of {list(ALLOWED_DTYPES)}")
    crs_text = f"EPSG:{crs.to_epsg()}" if crs is not None and crs.to_epsg() else str(crs)
    if not _UTM_EPSG.match(crs_text):
        raise RegistrationError(f"{uri}: CRS {crs_text} is not a WGS 84 / UTM zone (EPSG:326xx or 327xx)")
    missing = [t for t in REQUIRED_TAGS if t not in tags]
    if missing:
        raise RegistrationError(f"{uri}: missing metadata tags {missing} (time and provenance)")
    try:
        start, end = int(tags["TIME_START_MS"]), int(tags["TIME_END_MS"])
    except ValueError:
        raise RegistrationError(f"{uri}: time tags are not integers (ms): {tags['TIME_START_MS']!r}") from None
    if end <= start:
        raise RegistrationError(f"{uri}: empty valid period [{start}, {end})")
    name = Path(uri.rstrip("/")).name.rsplit(".", 1)[0]
    if not _ASSET_NAME.match(name):
        raise RegistrationError(f"{uri}: file name {name!r} cannot be an asset name")
    return CogInfo(uri, name, crs_text, next(iter(dtypes)), tags)


def _rfc3339(millis: int) -> str:
    return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_manifest(info: CogInfo) -> dict[str, Any]:
    """The createAsset body of one COG-backed image, from ``ee_assets/image_manifest.json``."""
    template = _template("image_manifest.json")
    values = {
        "uri": info.uri, "start_time": _rfc3339(info.start_ms), "end_time": _rfc3339(info.end_ms),
        "utm_zone": info.tags["UTM_ZONE"], "model_version": info.tags["MODEL_VERSION"],
        "software_version": info.tags["PROCESSING_SOFTWARE_VERSION"],
        "dataset_version": info.tags["DATASET_VERSION"],
    }
    manifest = json.loads(template)
    manifest["gcs_location"]["uris"] = [values["uri"]]
    manifest["startTime"] = values["start_time"]
    manifest["endTime"] = values["end_time"]
    manifest["properties"] = {k: values[v.strip("{}")] for k, v in manifest["properties"].items()}
    manifest["properties"]["QUANTIZED"] = int(info.dtype == "int8")
    manifest["bands"] = [{"id": b} for b in EMBEDDING_BANDS]
    return manifest


@dataclasses.dataclass
class RegistrationReport:
    collection: str
    created: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    collection_created: bool = False


def register_embeddings(
    collection_id: str,
    uris: Sequence[str],
    *,
    bucket_dir: str | os.PathLike[str] | None = None,
    properties: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> RegistrationReport:
    """Registers embedding COGs (``gs://`` URIs, or local paths on the local engine) as images of a collection.

    Every COG is checked first; nothing is created if any is invalid. Existing images are skipped.

    Args:
      collection_id: e.g. ``projects/my-project/assets/aef_embeddings``.
      uris: the COGs.
      bucket_dir: where ``gs://bucket/key`` lives locally (the local engine's bucket folder), to read the headers;
        None reads them through GDAL's ``/vsigs/``.
      properties: extra collection properties.

    Raises:
      RegistrationError: a COG is invalid, or two COGs would get the same image name.
    """
    require_extra("local", "registering embedding COGs (aef_ee.fields.register_embeddings)", ("rasterio",))
    import ee
    from tqdm.auto import tqdm

    if not uris:
        raise RegistrationError("no COGs to register")
    infos = [inspect_cog(u, bucket_dir=bucket_dir) for u in uris]
    names = [i.name for i in infos]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RegistrationError(f"several COGs would be registered under the same name: {dupes}")
    report = RegistrationReport(collection_id)
    try:
        existing = {a["id"].rsplit("/", 1)[-1] for a in _list_all(collection_id)}
    except ee.EEException as exc:
        if "not found" not in str(exc).lower() and "does not exist" not in str(exc).lower():
            raise
        collection = json.loads(_template("collection.json"))
        collection["properties"] = {**collection["properties"], **dict(properties or {})}
        ee.data.createAsset({"type": "IMAGE_COLLECTION", "properties": collection["properties"],
                             "description": collection["description"]}, collection_id)
        report.collection_created = True
        existing = set()
    for info in tqdm(infos, desc="register", unit="image", disable=not progress):
        if info.name in existing:
            report.skipped.append(info.name)
            continue
        ee.data.createAsset(image_manifest(info), f"{collection_id}/{info.name}")
        report.created.append(info.name)
    log.info("registered %d images in %s (%d already there)", len(report.created), collection_id,
             len(report.skipped))
    return report


def _list_all(parent: str) -> list[dict[str, Any]]:
    import ee

    assets: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"parent": parent}
        if token:
            params["pageToken"] = token
        page = ee.data.listAssets(params)
        assets.extend(page.get("assets", []))
        token = page.get("nextPageToken")
        if not token:
            return assets
