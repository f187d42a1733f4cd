"""The local catalog: a directory of JSON manifests and GeoTIFFs that the local Earth Engine serves as assets.

Layout under a catalog root (the contract with the engine; see docs/catalog.md):

- public asset ``X`` (also written ``projects/earthengine-public/assets/X``) lives at ``<root>/X``; user asset
  ``projects/<p>/assets/Y`` at ``<root>/projects/<p>/assets/Y``;
- containers (FOLDER, IMAGE_COLLECTION) are directories holding ``_asset.json``;
- an image is ``<root>/<id>.image.json`` listing its bands (file, 1-based band index, dtype, nodata) and properties;
- a table is ``<root>/<id>.table.json`` naming a GeoJSON FeatureCollection in EPSG:4326 (or GeoParquet).

Entry point: :class:`Catalog`. Every write is atomic (:mod:`aef_ee.atomic`: a hidden ``.tmp-`` file in the same
directory, then ``os.replace``), so a reader never sees half a manifest.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator, TypedDict

import numpy as np

from aef_ee.atomic import write_json_atomic
from aef_ee.local.errors import AlreadyExists, AssetNotFound, EngineError, InvalidArgument, InvalidAssetId

__all__ = [
    "AssetRecord",
    "BandEntry",
    "Catalog",
    "CONTAINER_TYPES",
    "write_json_atomic",  # aef_ee.atomic's, re-exported for the catalog writers that import it from here
]

logger = logging.getLogger(__name__)

FOLDER = "FOLDER"
IMAGE_COLLECTION = "IMAGE_COLLECTION"
IMAGE = "IMAGE"
TABLE = "TABLE"
CONTAINER_TYPES = (FOLDER, IMAGE_COLLECTION)

CONTAINER_MANIFEST = "_asset.json"
IMAGE_SUFFIX = ".image.json"
TABLE_SUFFIX = ".table.json"
TABLE_DATA_SUFFIXES = (".geojson", ".json", ".parquet")

# The projects whose assets are the public catalog: earthengine-api sends public IDs as
# projects/earthengine-public/assets/X and legacy IDs (users/..., projects/<short>/...) under earthengine-legacy.
PUBLIC_PROJECTS = ("earthengine-public", "earthengine-legacy")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# A file name is at most 255 bytes on common file systems; ".image.json" and a temporary suffix must still fit.
MAX_SEGMENT_LENGTH = 200
_TIME_PROPERTIES = ("system:time_start", "system:time_end")


class BandEntry(TypedDict, total=False):
    """One band of an image manifest."""

    id: str  # band name, e.g. "B4"
    path: str  # GeoTIFF path relative to the manifest's directory, absolute, or gs://...
    band: int  # 1-based band index in that file
    data_type: str  # numpy dtype name, e.g. "uint16"
    nodata: float | int | None  # pixels equal to this value are masked


@dataclasses.dataclass(frozen=True)
class AssetRecord:
    """One catalog entry as read from disk."""

    id: str  # canonical id, e.g. "COPERNICUS/S2_SR_HARMONIZED/20201101_BE" or "projects/local/assets/x"
    type: str  # "FOLDER" | "IMAGE_COLLECTION" | "IMAGE" | "TABLE"
    manifest_path: Path  # the _asset.json / .image.json / .table.json
    manifest: dict  # parsed JSON
    update_time: str  # RFC 3339 mtime of the manifest


def _rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _check_segment(segment: str, asset_id: str) -> None:
    if not _SEGMENT.fullmatch(segment) or len(segment) > MAX_SEGMENT_LENGTH or segment.endswith(".json"):
        raise InvalidAssetId(
            f"Invalid asset ID {asset_id!r}: segment {segment!r} must match [A-Za-z0-9][A-Za-z0-9_.-]* "
            f"(at most {MAX_SEGMENT_LENGTH} characters, not ending in '.json')")


def _is_user_root(cid: str) -> bool:
    parts = cid.split("/")
    return len(parts) == 3 and parts[0] == "projects" and parts[2] == "assets"


class Catalog:
    """A catalog directory; see the module docstring for its layout.

    Args:
        root: the catalog directory (created if missing).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Catalog({str(self.root)!r})"

    # ----- IDs and paths -----

    def canonical_id(self, asset_id: str) -> str:
        """The canonical form of an asset ID.

        ``projects/earthengine-public/assets/X``, ``projects/earthengine-legacy/assets/X`` and ``X`` give ``X``;
        ``projects/<p>/assets/Y`` (also sent by the client as ``projects/earthengine-legacy/assets/projects/<p>/
        assets/Y``, or in the legacy form ``projects/<p>/Y``) gives ``projects/<p>/assets/Y``; a project root
        ``projects/<p>/assets/`` gives ``projects/<p>/assets``.

        Raises:
            InvalidAssetId: empty, absolute, with a backslash, an empty, ``.``/``..`` or otherwise malformed
                segment, or naming the public root itself.
        """
        if not isinstance(asset_id, str) or not asset_id:
            raise InvalidAssetId(f"Invalid asset ID {asset_id!r}: must be a non-empty string")
        if "\\" in asset_id or "\x00" in asset_id:
            raise InvalidAssetId(f"Invalid asset ID {asset_id!r}: backslashes and NUL are not allowed")
        text = asset_id[:-1] if asset_id.endswith("/assets/") else asset_id
        parts = text.split("/")
        if len(parts) >= 3 and parts[0] == "projects" and parts[1] in PUBLIC_PROJECTS and parts[2] == "assets":
            parts = parts[3:]
        if not parts:
            raise InvalidAssetId(f"Invalid asset ID {asset_id!r}: names the public catalog root, not an asset")
        if parts[0] != "projects":
            for segment in parts:
                _check_segment(segment, asset_id)
            return "/".join(parts)
        if len(parts) < 2:
            raise InvalidAssetId(f"Invalid asset ID {asset_id!r}: expected projects/<project>/assets/<path>")
        project = parts[1]
        _check_segment(project, asset_id)
        if project in PUBLIC_PROJECTS:
            raise InvalidAssetId(f"Invalid asset ID {asset_id!r}: nested public project prefix")
        rest = parts[3:] if len(parts) >= 3 and parts[2] == "assets" else parts[2:]
        for segment in rest:
            _check_segment(segment, asset_id)
        return "/".join(["projects", project, "assets", *rest])

    def _base(self, cid: str) -> Path:
        """The path of ``cid`` without suffix, checked to stay inside the root (also through symlinks)."""
        base = self.root.joinpath(*cid.split("/"))
        # Segments cannot be "." or "..", so only symlinks can lead out: the resolved parent must be inside,
        # and so must whatever a symlinked asset path points to.
        if not base.parent.resolve().is_relative_to(self.root):
            raise InvalidAssetId(f"Invalid asset ID {cid!r}: resolves outside the catalog")
        for candidate in (base, base.with_name(base.name + IMAGE_SUFFIX), base.with_name(base.name + TABLE_SUFFIX),
                          base / CONTAINER_MANIFEST):
            if candidate.is_symlink() and not candidate.resolve().is_relative_to(self.root):
                raise InvalidAssetId(f"Invalid asset ID {cid!r}: resolves outside the catalog")
        return base

    def base_path(self, asset_id: str) -> Path:
        """Where ``asset_id`` lives, without suffix (``<root>/COPERNICUS/S2/x``): its manifest is this path plus
        ``.image.json``/``.table.json``, or this directory's ``_asset.json``; data files go next to it.

        Raises:
            InvalidAssetId: a malformed ID or one that resolves outside the root.
        """
        return self._paths(asset_id)[1]

    def _paths(self, asset_id: str) -> tuple[str, Path]:
        cid = self.canonical_id(asset_id)
        return cid, self._base(cid)

    # ----- reading -----

    def _load(self, cid: str, kind: str, manifest_path: Path) -> AssetRecord:
        try:
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
            mtime = manifest_path.stat().st_mtime
        except json.JSONDecodeError as e:
            raise EngineError(f"Corrupt manifest {str(manifest_path)!r} of asset {cid!r}: {e}") from e
        if not isinstance(manifest, dict) or manifest.get("type") != kind:
            found = manifest.get("type") if isinstance(manifest, dict) else manifest
            raise EngineError(f"Manifest {str(manifest_path)!r} of asset {cid!r} must be an object with "
                              f"type {kind!r}, got {found!r}")
        manifest.setdefault("properties", {})
        return AssetRecord(cid, kind, manifest_path, manifest, _rfc3339(mtime))

    def _find(self, cid: str, base: Path) -> AssetRecord | None:
        image = base.with_name(base.name + IMAGE_SUFFIX)
        if image.is_file():
            return self._load(cid, IMAGE, image)
        table = base.with_name(base.name + TABLE_SUFFIX)
        if table.is_file():
            return self._load(cid, TABLE, table)
        container = base / CONTAINER_MANIFEST
        if container.is_file():
            with open(container, encoding="utf-8") as f:
                kind = json.load(f).get("type")
            if kind not in CONTAINER_TYPES:
                raise EngineError(f"Manifest {str(container)!r} of asset {cid!r} has type {kind!r}, expected one "
                                  f"of {CONTAINER_TYPES}")
            return self._load(cid, kind, container)
        if _is_user_root(cid):
            # A project's root folder always exists, as in Earth Engine, even before its first asset.
            mtime = base.stat().st_mtime if base.is_dir() else 0.0
            return AssetRecord(cid, FOLDER, container, {"type": FOLDER, "properties": {}}, _rfc3339(mtime))
        return None

    def get(self, asset_id: str) -> AssetRecord:
        """The asset ``asset_id``.

        Raises:
            InvalidAssetId: a malformed ID.
            AssetNotFound: no such asset (the message names the ID).
        """
        cid, base = self._paths(asset_id)
        record = self._find(cid, base)
        if record is None:
            raise AssetNotFound(f"Asset '{cid}' not found (does not exist or caller does not have access).")
        return record

    def exists(self, asset_id: str) -> bool:
        """Whether ``asset_id`` names an existing asset (malformed IDs raise :class:`InvalidAssetId`)."""
        cid, base = self._paths(asset_id)
        return self._find(cid, base) is not None

    def _child_entries(self, cid: str | None, directory: Path) -> Iterator[tuple[str, str, Path]]:
        """(child id, type, manifest path) of the assets directly inside ``directory``."""
        if not directory.is_dir():
            return
        prefix = f"{cid}/" if cid else ""
        for entry in os.scandir(directory):
            name = entry.name
            if entry.is_file() and name.endswith(IMAGE_SUFFIX):
                child, kind = name[: -len(IMAGE_SUFFIX)], IMAGE
            elif entry.is_file() and name.endswith(TABLE_SUFFIX):
                child, kind = name[: -len(TABLE_SUFFIX)], TABLE
            elif entry.is_dir() and (Path(entry.path) / CONTAINER_MANIFEST).is_file():
                child, kind = name, ""
            else:
                continue  # data files (GeoTIFFs, GeoJSON), temporary files, project directories
            if not _SEGMENT.fullmatch(child) or (cid is None and child == "projects"):
                continue
            manifest = Path(entry.path) / CONTAINER_MANIFEST if kind == "" else Path(entry.path)
            yield prefix + child, kind, manifest

    def list_children(self, parent_id: str) -> list[AssetRecord]:
        """The assets directly inside a FOLDER or IMAGE_COLLECTION (or a project root), sorted by id.

        ``projects/earthengine-public/assets`` lists the top-level public folders.

        Raises:
            AssetNotFound: no such parent. InvalidArgument: the parent is an IMAGE or TABLE.
        """
        if parent_id.rstrip("/") in {f"projects/{p}/assets" for p in PUBLIC_PROJECTS}:
            cid, directory = None, self.root
        else:
            record = self.get(parent_id)
            if record.type not in CONTAINER_TYPES:
                raise InvalidArgument(f"Asset '{record.id}' is a {record.type}, not a folder or collection.")
            cid, directory = record.id, self._base(record.id)
        records = []
        for child, kind, manifest in self._child_entries(cid, directory):
            if kind == "":
                found = self._find(child, self._base(child))
                if found is None:
                    continue
                records.append(found)
            else:
                records.append(self._load(child, kind, manifest))
        return sorted(records, key=lambda r: r.id)

    def list_images(self, collection_id: str) -> list[AssetRecord]:
        """The IMAGE children of an IMAGE_COLLECTION, sorted by id.

        Raises:
            AssetNotFound: no such collection. InvalidArgument: the asset is not an IMAGE_COLLECTION.
        """
        record = self.get(collection_id)
        if record.type != IMAGE_COLLECTION:
            raise InvalidArgument(f"Asset '{record.id}' is a {record.type}, not an IMAGE_COLLECTION.")
        return [r for r in self.list_children(record.id) if r.type == IMAGE]

    def band_path(self, record: AssetRecord, band: dict) -> str:
        """The file behind ``band`` of image ``record``: an absolute local path, or the ``gs://`` URL as written.

        Raises:
            InvalidArgument: the band has no ``path``, or a relative path that leaves the catalog.
        """
        return self._data_path(record, band.get("path"), what=f"band {band.get('id')!r}")

    def table_path(self, record: AssetRecord) -> str:
        """The GeoJSON / GeoParquet file of table ``record`` (absolute local path or ``gs://`` URL)."""
        return self._data_path(record, record.manifest.get("path"), what="table data")

    def _data_path(self, record: AssetRecord, path: Any, *, what: str) -> str:
        if not isinstance(path, str) or not path:
            raise InvalidArgument(f"Asset '{record.id}': {what} has no 'path' (got {path!r})")
        if path.startswith("gs://") or path.startswith("/vsi"):
            return path
        candidate = Path(path)
        if candidate.is_absolute():
            return str(candidate)
        resolved = (record.manifest_path.parent / candidate).resolve()
        if not resolved.is_relative_to(self.root):
            raise InvalidArgument(f"Asset '{record.id}': {what} path {path!r} leaves the catalog directory")
        return str(resolved)

    # ----- writing -----

    def _parent_id(self, cid: str) -> str | None:
        """The parent's canonical id; None for a top-level public asset (parent: the root)."""
        if _is_user_root(cid):
            raise InvalidAssetId(f"Invalid asset ID {cid!r}: a project root cannot be created or written")
        return cid.rsplit("/", 1)[0] if "/" in cid else None

    def _require_parent(self, cid: str, child_type: str, make_parents: bool) -> None:
        parent = self._parent_id(cid)
        if parent is None:
            return
        record = self._find(parent, self._base(parent))
        if record is None:
            if not make_parents:
                raise AssetNotFound(f"Parent folder '{parent}' of asset '{cid}' does not exist.")
            self.create_container(parent, FOLDER, make_parents=True)
            return
        if record.type not in CONTAINER_TYPES:
            raise InvalidArgument(f"Parent '{parent}' of asset '{cid}' is a {record.type}, not a folder.")
        if record.type == IMAGE_COLLECTION and child_type != IMAGE:
            raise InvalidArgument(f"An IMAGE_COLLECTION holds only images; cannot put a {child_type} at '{cid}'.")

    def create_container(self, asset_id: str, type: str, properties: dict | None = None, *,
                         title: str | None = None, description: str | None = None,
                         make_parents: bool = False, exist_ok: bool = False) -> AssetRecord:
        """Create a FOLDER or IMAGE_COLLECTION.

        Args:
            asset_id: the new container's ID.
            type: "FOLDER" or "IMAGE_COLLECTION".
            properties: JSON-serialisable metadata.
            title, description: optional text shown by the catalog browser.
            make_parents: create missing ancestors as FOLDERs (Earth Engine requires them to exist).
            exist_ok: return the existing container of the same type instead of raising.

        Raises:
            InvalidArgument: bad type or properties. AlreadyExists: the ID is taken. AssetNotFound: no parent.
        """
        if type not in CONTAINER_TYPES:
            raise InvalidArgument(f"Container type must be one of {CONTAINER_TYPES}, got {type!r}")
        cid, base = self._paths(asset_id)
        existing = self._find(cid, base)
        if existing is not None:
            if exist_ok and existing.type == type:
                return existing
            raise AlreadyExists(f"Cannot create asset '{cid}': a {existing.type} with that ID already exists.")
        self._require_parent(cid, type, make_parents)
        manifest: dict[str, Any] = {"type": type, "properties": _check_properties(properties or {}, cid)}
        if title is not None:
            manifest["title"] = str(title)
        if description is not None:
            manifest["description"] = str(description)
        base.mkdir(parents=True, exist_ok=True)
        write_json_atomic(base / CONTAINER_MANIFEST, manifest)
        return self.get(cid)

    def _prepare_leaf(self, asset_id: str, kind: str, overwrite: bool, make_parents: bool) -> tuple[str, Path]:
        cid, base = self._paths(asset_id)
        existing = self._find(cid, base)
        if existing is not None:
            if not overwrite or existing.type in CONTAINER_TYPES:
                raise AlreadyExists(f"Cannot write asset '{cid}': a {existing.type} with that ID already exists"
                                    + ("" if existing.type in CONTAINER_TYPES else " (pass overwrite=True)") + ".")
            if existing.type != kind:
                existing.manifest_path.unlink()
        self._require_parent(cid, kind, make_parents)
        base.parent.mkdir(parents=True, exist_ok=True)
        return cid, base

    def write_image(self, asset_id: str, bands: list[dict], properties: dict, *, overwrite: bool = False,
                    make_parents: bool = False) -> AssetRecord:
        """Write (atomically) the manifest of image ``asset_id``.

        Args:
            bands: :class:`BandEntry` dicts; ``data_type`` is normalised to the numpy dtype name.
            properties: metadata; ``system:time_start``/``system:time_end`` must be integers (ms since epoch).
            overwrite: replace an existing image or table of that ID.
            make_parents: create missing ancestors as FOLDERs.

        Raises:
            InvalidArgument: a malformed band list or property. AlreadyExists, AssetNotFound: see
                :meth:`create_container`.
        """
        cid, base = self._paths(asset_id)
        checked = _check_bands(bands, cid)
        props = _check_properties(properties, cid)
        cid, base = self._prepare_leaf(cid, IMAGE, overwrite, make_parents)
        write_json_atomic(base.with_name(base.name + IMAGE_SUFFIX),
                          {"type": IMAGE, "bands": checked, "properties": props})
        return self.get(cid)

    def write_table(self, asset_id: str, path: str, properties: dict | None = None, *, overwrite: bool = False,
                    make_parents: bool = False) -> AssetRecord:
        """Write (atomically) the manifest of table ``asset_id`` whose features are in ``path``.

        Args:
            path: a GeoJSON FeatureCollection in EPSG:4326 (``.geojson``/``.json``) or a GeoParquet file,
                relative to the manifest's directory, absolute, or ``gs://``.

        Raises:
            InvalidArgument: ``path`` is empty or has another extension. AlreadyExists, AssetNotFound: see
                :meth:`create_container`.
        """
        cid, _ = self._paths(asset_id)
        if not isinstance(path, str) or not path.lower().endswith(TABLE_DATA_SUFFIXES):
            raise InvalidArgument(f"Table '{cid}': path must end in one of {TABLE_DATA_SUFFIXES}, got {path!r}")
        props = _check_properties(properties or {}, cid)
        cid, base = self._prepare_leaf(cid, TABLE, overwrite, make_parents)
        write_json_atomic(base.with_name(base.name + TABLE_SUFFIX), {"type": TABLE, "path": path, "properties": props})
        return self.get(cid)

    def update_properties(self, asset_id: str, properties: dict, *, replace: bool = False) -> AssetRecord:
        """Merge ``properties`` into the asset's (a ``None`` value removes the key), or replace them all.

        Raises:
            AssetNotFound: no such asset (a project root has no properties to update either).
            InvalidArgument: malformed properties.
        """
        record = self.get(asset_id)
        if not record.manifest_path.is_file():
            raise AssetNotFound(f"Asset '{record.id}' is a project root and has no properties.")
        if not isinstance(properties, dict):
            raise InvalidArgument(f"Properties of '{record.id}' must be a dict, got {type(properties).__name__}")
        merged = {} if replace else dict(record.manifest.get("properties", {}))
        for key, value in properties.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        manifest = dict(record.manifest)
        manifest["properties"] = _check_properties(merged, record.id)
        write_json_atomic(record.manifest_path, manifest)
        return self.get(record.id)

    def delete(self, asset_id: str) -> None:
        """Delete an asset. Data files of images and tables stay (other manifests may share them); an empty
        container's directory is removed with any data files left in it.

        Raises:
            AssetNotFound: no such asset. InvalidArgument: a non-empty container or a project root.
        """
        record = self.get(asset_id)
        if record.type in CONTAINER_TYPES:
            if _is_user_root(record.id):
                raise InvalidArgument(f"Cannot delete project root '{record.id}'.")
            if self.list_children(record.id):
                raise InvalidArgument(f"Cannot delete '{record.id}': the {record.type} is not empty.")
            shutil.rmtree(record.manifest_path.parent)
        else:
            record.manifest_path.unlink()

    def move(self, src_id: str, dst_id: str) -> AssetRecord:
        """Rename ``src_id`` to ``dst_id`` (any asset type); returns the moved record.

        Raises:
            AssetNotFound: no source or no destination parent. AlreadyExists: the destination is taken.
        """
        return self._transfer(src_id, dst_id, keep_source=False)

    def copy(self, src_id: str, dst_id: str) -> AssetRecord:
        """Copy ``src_id`` (an image, table or a whole container) to ``dst_id``; returns the copy's record."""
        return self._transfer(src_id, dst_id, keep_source=True)

    def _transfer(self, src_id: str, dst_id: str, *, keep_source: bool) -> AssetRecord:
        record = self.get(src_id)
        if _is_user_root(record.id):
            raise InvalidArgument(f"Cannot move or copy project root '{record.id}'.")
        dst_cid, dst_base = self._paths(dst_id)
        if dst_cid == record.id or dst_cid.startswith(record.id + "/"):
            raise InvalidArgument(f"Cannot move or copy '{record.id}' to '{dst_cid}' (itself or inside itself).")
        if self._find(dst_cid, dst_base) is not None:
            raise AlreadyExists(f"Cannot write asset '{dst_cid}': an asset with that ID already exists.")
        self._require_parent(dst_cid, record.type, make_parents=False)
        dst_base.parent.mkdir(parents=True, exist_ok=True)
        if record.type in CONTAINER_TYPES:
            self._transfer_tree(self._base(record.id), dst_base, keep_source)
        else:
            self._transfer_leaf(record, dst_base, keep_source)
        return self.get(dst_cid)

    def _transfer_leaf(self, record: AssetRecord, dst_base: Path, keep_source: bool) -> None:
        """Write the manifest at its new place with its local data files copied next to it, so that deleting
        the source's folder later cannot break the destination."""
        suffix = IMAGE_SUFFIX if record.type == IMAGE else TABLE_SUFFIX
        manifest = json.loads(json.dumps(record.manifest))
        entries = manifest["bands"] if record.type == IMAGE else [manifest]
        copied: dict[str, str] = {}
        for entry in entries:
            source = entry.get("path", "")
            if source.startswith(("gs://", "/vsi")) or Path(source).is_absolute():
                continue
            if source not in copied:
                src_file = Path(self._data_path(record, source, what="data"))
                target = dst_base.with_name(f"{dst_base.name}.{src_file.name}")
                shutil.copy2(src_file, target)
                copied[source] = target.name
            entry["path"] = copied[source]
        write_json_atomic(dst_base.with_name(dst_base.name + suffix), manifest)
        if not keep_source:
            record.manifest_path.unlink()

    def _transfer_tree(self, src_dir: Path, dst_dir: Path, keep_source: bool) -> None:
        """Move or copy a container directory; rebase relative data paths that point outside it."""
        src_resolved = src_dir.resolve()
        to_rebase: list[tuple[Path, dict, list[tuple[dict, Path]]]] = []
        for manifest_path in src_dir.rglob("*.json"):
            if not manifest_path.name.endswith((IMAGE_SUFFIX, TABLE_SUFFIX)):
                continue
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
            entries = manifest.get("bands", []) if manifest.get("type") == IMAGE else [manifest]
            outside = []
            for entry in entries:
                path = entry.get("path", "")
                if path.startswith(("gs://", "/vsi")) or Path(path).is_absolute():
                    continue
                target = (manifest_path.parent / path).resolve()
                if not target.is_relative_to(src_resolved):
                    outside.append((entry, target))
            if outside:
                to_rebase.append((manifest_path.relative_to(src_dir), manifest, outside))
        if keep_source:
            shutil.copytree(src_dir, dst_dir)
        else:
            os.replace(src_dir, dst_dir)
        for relative, manifest, outside in to_rebase:
            new_path = dst_dir / relative
            for entry, target in outside:
                entry["path"] = os.path.relpath(target, new_path.parent)
            write_json_atomic(new_path, manifest)


def _check_bands(bands: Any, cid: str) -> list[dict]:
    if not isinstance(bands, list) or not bands:
        raise InvalidArgument(f"Image '{cid}': bands must be a non-empty list, got {bands!r}")
    seen: set[str] = set()
    checked = []
    for band in bands:
        if not isinstance(band, dict):
            raise InvalidArgument(f"Image '{cid}': each band must be a dict, got {band!r}")
        band_id = band.get("id")
        if not isinstance(band_id, str) or not band_id:
            raise InvalidArgument(f"Image '{cid}': band id must be a non-empty string, got {band_id!r}")
        if band_id in seen:
            raise InvalidArgument(f"Image '{cid}': duplicate band id {band_id!r}")
        seen.add(band_id)
        path = band.get("path")
        if not isinstance(path, str) or not path:
            raise InvalidArgument(f"Image '{cid}': band {band_id!r} path must be a non-empty string, got {path!r}")
        index = band.get("band")
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise InvalidArgument(f"Image '{cid}': band {band_id!r} 'band' must be a 1-based int, got {index!r}")
        try:
            dtype = np.dtype(band.get("data_type"))
        except TypeError as e:
            raise InvalidArgument(f"Image '{cid}': band {band_id!r} data_type {band.get('data_type')!r} is not a "
                                  "numpy dtype name") from e
        if dtype.kind not in "uif":
            raise InvalidArgument(f"Image '{cid}': band {band_id!r} data_type must be an int/uint/float dtype, "
                                  f"got {band.get('data_type')!r}")
        nodata = band.get("nodata")
        if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, (int, float))):
            raise InvalidArgument(f"Image '{cid}': band {band_id!r} nodata must be a number or null, got {nodata!r}")
        entry = dict(band)
        entry["data_type"] = dtype.name
        checked.append(entry)
    return checked


def _check_properties(properties: Any, cid: str) -> dict:
    if not isinstance(properties, dict):
        raise InvalidArgument(f"Asset '{cid}': properties must be a dict, got {type(properties).__name__}")
    for key in properties:
        if not isinstance(key, str) or not key:
            raise InvalidArgument(f"Asset '{cid}': property names must be non-empty strings, got {key!r}")
    for key in _TIME_PROPERTIES:
        value = properties.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidArgument(f"Asset '{cid}': {key} must be an integer (ms since epoch), got {value!r}")
    try:
        return json.loads(json.dumps(properties, allow_nan=True))
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"Asset '{cid}': properties are not JSON-serialisable: {e}") from e
