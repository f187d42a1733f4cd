"""The local catalog: a directory of JSON manifests and GeoTIFFs that the local Earth Engine serves as assets.

Layout under a catalog root (the contract with the engine; see docs/catalog.md):

- public asset ``X`` (also written ``projects/earthengine-public/assets/X``) lives at ``<root>/X``; user asset
  ``projects/<p>/assets/Y`` at ``<root>/projects/<p>/assets/Y``;
- containers (FOLDER, IMAGE_COLLECTION) are directories holding ``_asset.json``;
- an image is ``<root>/<id>.image.json`` listing its bands (file, 1-based band index, dtype, nodata) and properties;
- a table is ``<root>/<id>.table.json`` naming a GeoJSON FeatureCollection in EPSG:4326 (or GeoParquet);
- a leaf manifest written here has a ``version``; the data files it owns (written by ``catalog add``, exports,
  copies) live in ``_data/<version>/`` beside it, where no asset ID can map (segments never start with ``_``).
  Files that manifests name elsewhere (the demo catalog's, a Cloud GeoTIFF) are never removed with an asset.

Entry point: :class:`Catalog`. Every write is one commit of :mod:`aef_ee.local.catalog_commit`: everything is
written under a temporary name, then one rename makes it visible (a manifest swap, or the rename of a whole new
folder), so a reader, or the next start after a kill, sees the old state or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator, TypedDict

import numpy as np

from aef_ee.atomic import TEMP_PREFIX
from aef_ee.local.catalog_commit import (
    DATA_DIR,
    STAGING_DIR,
    TRASH_DIR,
    Stage,
    catalog_lock,
    commit,
    link_or_copy,
    needs_recovery,
    new_version,
    remove_action,
    rename_action,
    stage_tree_copy,
    write_json,
)
from aef_ee.local.errors import AlreadyExists, AssetNotFound, EngineError, InvalidArgument, InvalidAssetId

__all__ = [
    "AssetRecord",
    "BandEntry",
    "Catalog",
    "CONTAINER_TYPES",
    "FOLDER",
    "IMAGE",
    "IMAGE_COLLECTION",
    "TABLE",
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
_VERSION = re.compile(r"[0-9a-f]{8,64}")


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
        if needs_recovery(self.root):  # a writer was killed: finish or undo its commit, remove its leftovers
            try:
                with catalog_lock(self.root):
                    pass
            except PermissionError as e:  # a read-only catalog: left as the dead writer left it
                logger.warning("catalog %s: cannot recover an interrupted write here (%s)", self.root, e)

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

    # ----- writing (every write is one commit of aef_ee.local.catalog_commit) -----

    def stage(self) -> Stage:
        """A private staging folder for the data files of one write.

        Write each file at ``stage.file(name)``, name it ``stage.ref(name)`` in the manifest (a band's or a table's
        ``path``), and pass ``data=stage`` to :meth:`write_image` / :meth:`write_table`, which commits the files
        with the manifest in one step. Use it as a context manager; what is not committed is removed on exit.
        """
        return Stage(self.root)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return catalog_lock(self.root)

    def _parent_id(self, cid: str) -> str | None:
        """The parent's canonical id; None for a top-level public asset (parent: the root)."""
        if _is_user_root(cid):
            raise InvalidAssetId(f"Invalid asset ID {cid!r}: a project root cannot be created or written")
        return cid.rsplit("/", 1)[0] if "/" in cid else None

    def _missing_parents(self, cid: str, child_type: str, make_parents: bool,
                         parent_type: str = FOLDER) -> list[tuple[str, str]]:
        """The ancestors of ``cid`` to create, top-down, as (id, type); checks the existing parent's type.

        ``parent_type`` is the type of the direct parent when it is created (ancestors above it are FOLDERs);
        IMAGE_COLLECTION also requires an existing parent to be one.
        """
        missing: list[tuple[str, str]] = []
        child, kind = cid, child_type
        while (parent := self._parent_id(child)) is not None:
            record = self._find(parent, self._base(parent))
            if record is not None:
                if record.type not in CONTAINER_TYPES:
                    raise InvalidArgument(f"Parent '{parent}' of asset '{child}' is a {record.type}, not a folder.")
                if record.type == IMAGE_COLLECTION and kind != IMAGE:
                    raise InvalidArgument(f"An IMAGE_COLLECTION holds only images; cannot put a {kind} at "
                                          f"'{child}'.")
                if not missing and parent_type == IMAGE_COLLECTION and record.type != IMAGE_COLLECTION:
                    raise InvalidArgument(f"Parent '{parent}' of asset '{child}' is a {record.type}, not an "
                                          "IMAGE_COLLECTION.")
                break
            if not make_parents:
                raise AssetNotFound(f"Parent folder '{parent}' of asset '{cid}' does not exist.")
            ptype = parent_type if not missing else FOLDER
            if ptype == IMAGE_COLLECTION and kind != IMAGE:
                raise InvalidArgument(f"An IMAGE_COLLECTION holds only images; cannot put a {kind} at '{child}'.")
            missing.append((parent, ptype))
            child, kind = parent, ptype
        return missing[::-1]

    def _free_folder(self, cid: str, path: Path) -> None:
        """Refuses a path that a non-asset file or non-empty folder occupies (a rename cannot replace it)."""
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            return
        if os.path.lexists(path):
            raise AlreadyExists(f"Cannot create asset '{cid}': {str(path)!r} exists and is not an asset; move it "
                                "out of the catalog first.")

    def _stage_containers(self, stage: Stage, chain: list[tuple[str, str]],
                          last: dict | None = None) -> tuple[Path, Path]:
        """Writes the containers of ``chain`` (top-down) as a tree in ``stage``; ``last`` replaces the manifest of
        the deepest one. Returns (the staged top folder, where it goes)."""
        top_id = chain[0][0]
        tree, top = stage.dir / "tree", self._base(top_id)
        for index, (cid, kind) in enumerate(chain):
            folder = tree / self._base(cid).relative_to(top)
            folder.mkdir(mode=0o755)
            manifest = last if last is not None and index == len(chain) - 1 else {"type": kind, "properties": {}}
            write_json(folder / CONTAINER_MANIFEST, manifest)
        return tree, top

    def _loose_manifest(self, manifest: dict) -> Path:
        """A temporary manifest in ``.staging`` (for short writes made while holding the lock)."""
        (self.root / STAGING_DIR).mkdir(exist_ok=True)
        path = self.root / STAGING_DIR / f"{TEMP_PREFIX}{new_version()}.json"
        write_json(path, manifest)
        return path

    def _owned_data(self, record: AssetRecord) -> Path | None:
        """The ``_data/<version>`` folder that only ``record``'s manifest uses, if any."""
        version = record.manifest.get("version")
        if record.type in CONTAINER_TYPES or not isinstance(version, str) or not _VERSION.fullmatch(version):
            return None
        path = record.manifest_path.parent / DATA_DIR / version
        return path if path.is_dir() else None

    def _leaf_removal(self, record: AssetRecord) -> list[list[str]]:
        actions = [remove_action(self.root, record.manifest_path)]
        owned = self._owned_data(record)
        if owned is not None:
            actions.append(remove_action(self.root, owned))
        return actions

    def _check_unchanged(self, record: AssetRecord) -> None:
        current = self._find(record.id, self._base(record.id))
        if current is None or current.manifest != record.manifest:
            raise AlreadyExists(f"Asset '{record.id}' changed while it was being copied or moved; try again.")

    def create_container(self, asset_id: str, type: str, properties: dict | None = None, *,  # noqa: A002
                         title: str | None = None, description: str | None = None,
                         make_parents: bool = False, exist_ok: bool = False) -> AssetRecord:
        """Create a FOLDER or IMAGE_COLLECTION (with its missing parents, in one rename).

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
        manifest: dict[str, Any] = {"type": type, "properties": _check_properties(properties or {}, cid)}
        if title is not None:
            manifest["title"] = str(title)
        if description is not None:
            manifest["description"] = str(description)
        with self._locked():
            existing = self._find(cid, base)
            if existing is not None:
                if exist_ok and existing.type == type:
                    return existing
                raise AlreadyExists(f"Cannot create asset '{cid}': a {existing.type} with that ID already exists.")
            chain = [*self._missing_parents(cid, type, make_parents), (cid, type)]
            with Stage(self.root) as stage:
                tree, top = self._stage_containers(stage, chain, manifest)
                top.parent.mkdir(parents=True, exist_ok=True)
                self._free_folder(chain[0][0], top)
                commit(self.root, [(tree, top)])
        return self.get(cid)

    def write_image(self, asset_id: str, bands: list[dict], properties: dict, *, overwrite: bool = False,
                    make_parents: bool = False, parent_type: str = FOLDER, data: Stage | None = None) -> AssetRecord:
        """Write image ``asset_id``: its manifest and, with ``data``, its staged data files, in one commit.

        Args:
            bands: :class:`BandEntry` dicts; ``data_type`` is normalised to the numpy dtype name.
            properties: metadata; ``system:time_start``/``system:time_end`` must be integers (ms since epoch).
            overwrite: replace an existing image or table of that ID (its own ``_data`` goes with it).
            make_parents: create missing ancestors (the direct parent as ``parent_type``, the others as FOLDERs).
            data: a :meth:`stage` holding the files the bands name with ``stage.ref(name)``.

        Raises:
            InvalidArgument: a malformed band list or property. AlreadyExists, AssetNotFound: see
                :meth:`create_container`.
        """
        cid, _ = self._paths(asset_id)
        manifest = {"type": IMAGE, "version": data.version if data is not None else new_version(),
                    "bands": _check_bands(bands, cid), "properties": _check_properties(properties, cid)}
        return self._commit_leaf(cid, IMAGE, manifest, overwrite=overwrite, make_parents=make_parents,
                                 parent_type=parent_type, data=data)

    def write_table(self, asset_id: str, path: str, properties: dict | None = None, *, overwrite: bool = False,
                    make_parents: bool = False, data: Stage | None = None) -> AssetRecord:
        """Write table ``asset_id`` whose features are in ``path`` (with ``data``, a staged file), in one commit.

        Args:
            path: a GeoJSON FeatureCollection in EPSG:4326 (``.geojson``/``.json``) or a GeoParquet file,
                relative to the manifest's directory, absolute, ``gs://``, or ``data.ref(name)``.

        Raises:
            InvalidArgument: ``path`` is empty or has another extension. AlreadyExists, AssetNotFound: see
                :meth:`create_container`.
        """
        cid, _ = self._paths(asset_id)
        if not isinstance(path, str) or not path.lower().endswith(TABLE_DATA_SUFFIXES):
            raise InvalidArgument(f"Table '{cid}': path must end in one of {TABLE_DATA_SUFFIXES}, got {path!r}")
        manifest = {"type": TABLE, "version": data.version if data is not None else new_version(), "path": path,
                    "properties": _check_properties(properties or {}, cid)}
        return self._commit_leaf(cid, TABLE, manifest, overwrite=overwrite, make_parents=make_parents, data=data)

    def _commit_leaf(self, cid: str, kind: str, manifest: dict, *, overwrite: bool, make_parents: bool,
                     parent_type: str = FOLDER, data: Stage | None = None,
                     moved_from: AssetRecord | None = None) -> AssetRecord:
        """One commit writing a leaf manifest (and ``data``'s files to ``_data/<version>``): a manifest swap, or the
        rename of the top-most new parent folder; the replaced leaf and a moved source are removed after it."""
        base = self._base(cid)
        final = base.with_name(base.name + (IMAGE_SUFFIX if kind == IMAGE else TABLE_SUFFIX))
        with self._locked():
            existing = self._find(cid, base)
            on_commit: list[list[str]] = []
            if existing is not None:
                if not overwrite or existing.type in CONTAINER_TYPES:
                    raise AlreadyExists(
                        f"Cannot write asset '{cid}': a {existing.type} with that ID already exists"
                        + ("" if existing.type in CONTAINER_TYPES else " (pass overwrite=True)") + ".")
                if existing.manifest_path != final:  # an image replaced by a table, or the reverse
                    on_commit.append(remove_action(self.root, existing.manifest_path))
                if (owned := self._owned_data(existing)) is not None:
                    on_commit.append(remove_action(self.root, owned))
            chain = self._missing_parents(cid, kind, make_parents, parent_type)
            if moved_from is not None:
                self._check_unchanged(moved_from)
                on_commit += self._leaf_removal(moved_from)
            has_data = data is not None and data.data_dir.is_dir()
            with contextlib.ExitStack() as stack:
                if chain:
                    stage = data if data is not None else stack.enter_context(Stage(self.root))
                    tree, top = self._stage_containers(stage, chain)
                    folder = tree / base.parent.relative_to(top)
                    if has_data:
                        (folder / DATA_DIR).mkdir(mode=0o755)
                        os.replace(stage.data_dir, folder / DATA_DIR / stage.version)
                    write_json(folder / final.name, manifest)
                    top.parent.mkdir(parents=True, exist_ok=True)
                    self._free_folder(chain[0][0], top)
                    commit(self.root, [(tree, top)], on_commit=on_commit)
                else:
                    base.parent.mkdir(parents=True, exist_ok=True)  # a project root's folder may not exist yet
                    renames, on_abort = [], []
                    if has_data:
                        target = base.parent / DATA_DIR / data.version  # type: ignore[union-attr]
                        target.parent.mkdir(exist_ok=True)
                        renames.append((data.data_dir, target))  # type: ignore[union-attr]
                        on_abort.append(remove_action(self.root, target))
                    if data is not None:
                        staged = data.dir / final.name
                        write_json(staged, manifest)
                    else:
                        staged = self._loose_manifest(manifest)
                    renames.append((staged, final))
                    commit(self.root, renames, on_commit=on_commit, on_abort=on_abort)
        return self.get(cid)

    def update_properties(self, asset_id: str, properties: dict, *, replace: bool = False) -> AssetRecord:
        """Merge ``properties`` into the asset's (a ``None`` value removes the key), or replace them all.

        Raises:
            AssetNotFound: no such asset (a project root has no properties to update either).
            InvalidArgument: malformed properties.
        """
        if not isinstance(properties, dict):
            raise InvalidArgument(f"Properties of '{asset_id}' must be a dict, got {type(properties).__name__}")
        with self._locked():
            record = self.get(asset_id)
            if not record.manifest_path.is_file():
                raise AssetNotFound(f"Asset '{record.id}' is a project root and has no properties.")
            merged = {} if replace else dict(record.manifest.get("properties", {}))
            for key, value in properties.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            manifest = dict(record.manifest)
            manifest["properties"] = _check_properties(merged, record.id)
            commit(self.root, [(self._loose_manifest(manifest), record.manifest_path)])
        return self.get(record.id)

    def delete(self, asset_id: str) -> None:
        """Delete an asset with the data files it owns (``_data/<version>``); other data files stay (manifests may
        share them: all 744 ERA5 hours share one file). An empty container's folder goes with whatever is in it.

        Raises:
            AssetNotFound: no such asset. InvalidArgument: a non-empty container or a project root.
        """
        with self._locked():
            record = self.get(asset_id)
            trash = self.root / TRASH_DIR / new_version()
            trash.parent.mkdir(exist_ok=True)
            if record.type in CONTAINER_TYPES:
                if _is_user_root(record.id):
                    raise InvalidArgument(f"Cannot delete project root '{record.id}'.")
                if self.list_children(record.id):
                    raise InvalidArgument(f"Cannot delete '{record.id}': the {record.type} is not empty.")
                commit(self.root, [(record.manifest_path.parent, trash)], on_commit=[remove_action(self.root, trash)])
            else:
                owned = self._owned_data(record)
                commit(self.root, [(record.manifest_path, trash)],
                       on_commit=[remove_action(self.root, p) for p in (owned, trash) if p is not None])

    def move(self, src_id: str, dst_id: str, *, overwrite: bool = False) -> AssetRecord:
        """Rename ``src_id`` to ``dst_id`` (any asset type) in one commit; returns the moved record.

        Args:
            overwrite: replace an existing image or table (or an empty container) at ``dst_id``.

        Raises:
            AssetNotFound: no source or no destination parent. AlreadyExists: the destination is taken.
        """
        return self._transfer(src_id, dst_id, keep_source=False, overwrite=overwrite)

    def copy(self, src_id: str, dst_id: str, *, overwrite: bool = False) -> AssetRecord:
        """Copy ``src_id`` (an image, table or a whole container) to ``dst_id`` in one commit; returns the copy.

        Data files are hard-linked (copied where links are impossible) into the copy's own ``_data``, so deleting
        or overwriting the source later cannot change the copy.
        """
        return self._transfer(src_id, dst_id, keep_source=True, overwrite=overwrite)

    def _transfer(self, src_id: str, dst_id: str, *, keep_source: bool, overwrite: bool) -> AssetRecord:
        record = self.get(src_id)
        if _is_user_root(record.id):
            raise InvalidArgument(f"Cannot move or copy project root '{record.id}'.")
        dst_cid, dst_base = self._paths(dst_id)
        if dst_cid == record.id or dst_cid.startswith(record.id + "/"):
            raise InvalidArgument(f"Cannot move or copy '{record.id}' to '{dst_cid}' (itself or inside itself).")
        if not overwrite and self._find(dst_cid, dst_base) is not None:
            raise AlreadyExists(f"Cannot write asset '{dst_cid}': an asset with that ID already exists.")
        moved_from = None if keep_source else record
        with Stage(self.root) as stage:
            if record.type in CONTAINER_TYPES:
                tree = stage_tree_copy(self._base(record.id), stage.dir / "tree", dst_base,
                                       (IMAGE_SUFFIX, TABLE_SUFFIX))
                self._commit_container(dst_cid, record, tree, overwrite=overwrite, moved_from=moved_from)
            else:
                manifest = self._stage_leaf_copy(record, stage)
                self._commit_leaf(dst_cid, record.type, manifest, overwrite=overwrite, make_parents=False,
                                  data=stage, moved_from=moved_from)
        return self.get(dst_cid)

    def _stage_leaf_copy(self, record: AssetRecord, stage: Stage) -> dict:
        """The manifest of a copy of leaf ``record`` whose local data files are linked into ``stage``."""
        manifest = json.loads(json.dumps(record.manifest))
        manifest["version"] = stage.version
        entries = manifest["bands"] if record.type == IMAGE else [manifest]
        staged: dict[str, str] = {}
        for entry in entries:
            source = entry.get("path", "")
            if source.startswith(("gs://", "/vsi")) or Path(source).is_absolute():
                continue
            if source not in staged:
                src_file = Path(self._data_path(record, source, what="data"))
                name, k = src_file.name, 1
                while name in staged.values():  # two files of one name from different folders
                    name, k = f"{k}-{src_file.name}", k + 1
                link_or_copy(src_file, stage.file(name))
                staged[source] = name
            entry["path"] = stage.ref(staged[source])
        return manifest

    def _commit_container(self, dst_cid: str, record: AssetRecord, tree: Path, *, overwrite: bool,
                          moved_from: AssetRecord | None) -> None:
        """Renames a staged container tree to ``dst_cid``: the commit point. An empty container in the way is
        swapped out to the trash (and back if the commit does not happen); a moved source goes after it."""
        dst_base = self._base(dst_cid)
        with self._locked():
            self._check_unchanged(record)
            existing = self._find(dst_cid, dst_base)
            renames: list[tuple[Path, Path]] = []
            on_commit: list[list[str]] = []
            on_abort: list[list[str]] = []
            if existing is not None:
                if not overwrite or existing.type not in CONTAINER_TYPES:
                    raise AlreadyExists(f"Cannot write asset '{dst_cid}': a {existing.type} with that ID already "
                                        "exists" + ("." if not overwrite else "; only an empty folder or collection "
                                                    "can be overwritten by one."))
                if self.list_children(dst_cid):
                    raise InvalidArgument(f"Cannot overwrite '{dst_cid}': the {existing.type} is not empty.")
                trash = self.root / TRASH_DIR / new_version()
                trash.parent.mkdir(exist_ok=True)
                renames.append((dst_base, trash))
                on_commit.append(remove_action(self.root, trash))
                on_abort.append(rename_action(self.root, trash, dst_base))
            else:
                self._free_folder(dst_cid, dst_base)
            self._missing_parents(dst_cid, record.type, make_parents=False)
            if moved_from is not None:
                on_commit.append(remove_action(self.root, self._base(moved_from.id)))
            dst_base.parent.mkdir(parents=True, exist_ok=True)
            renames.append((tree, dst_base))
            commit(self.root, renames, on_commit=on_commit, on_abort=on_abort)


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
