"""The export manifest: what an export directory was asked to hold, so that a restart finishes the same job.

Files in the output directory, next to the dataset (``index.json`` + shards, :mod:`aef_ee.videos.format`)::

    export.json        request arguments, their fingerprint, number of sites and a hash of their IDs
    sites.jsonl        the sites, one JSON object per line, in export order
    empty_sites.txt    IDs of sites where no source had a valid frame (done, but not written to shards)

A site is *done* when it is in a finished shard (``index.json``, written atomically after each shard) or listed in
``empty_sites.txt``. Re-running with the same request and sites skips done sites; a different request or site
list raises :class:`~aef_ee.errors.ExportManifestError` rather than mixing two datasets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aef_ee.atomic import write_json_atomic, write_text_atomic
from aef_ee.errors import ExportManifestError
from aef_ee.videos.export.request import ExportRequest
from aef_ee.videos.sites import Site

__all__ = ["Manifest", "open_manifest", "check_manifest", "load_sites", "MANIFEST_NAME"]

MANIFEST_VERSION = 1
MANIFEST_NAME = "export.json"
SITES_NAME = "sites.jsonl"
EMPTY_NAME = "empty_sites.txt"


def _sites_hash(sites: Sequence[Site]) -> str:
    digest = hashlib.sha256()
    for site in sites:
        digest.update(site.site_id.encode())
        digest.update(b"%d,%d;" % site.window_ms)
    return digest.hexdigest()[:16]


@dataclasses.dataclass
class Manifest:
    """An open export manifest (see the module docstring)."""

    out_dir: Path
    request: ExportRequest
    sites: list[Site]
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @property
    def empty_site_ids(self) -> set[str]:
        path = self.out_dir / EMPTY_NAME
        if not path.exists():
            return set()
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}

    def mark_empty(self, site_id: str) -> None:
        """Records a site without any valid frame (appends a line and fsyncs)."""
        with self._lock, open(self.out_dir / EMPTY_NAME, "a") as f:
            f.write(site_id + "\n")
            f.flush()
            os.fsync(f.fileno())

    def pending(self, written_ids: set[str]) -> list[Site]:
        """Sites neither written to a finished shard nor recorded empty, in export order."""
        done = written_ids | self.empty_site_ids
        return [s for s in self.sites if s.site_id not in done]


def open_manifest(out_dir: str | os.PathLike[str], request: ExportRequest, sites: Sequence[Site],
                  *, path_kind: str = "interactive") -> Manifest:
    """Creates the manifest of a new export directory, or checks a resumed one matches.

    Raises:
      ExportManifestError: the directory holds an export of another request or another site list.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sites = list(sites)
    ids = [s.site_id for s in sites]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ExportManifestError(f"the site list repeats sites, e.g. {dupes}")
    header: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "fingerprint": request.fingerprint(),
        "request": request.to_json(),
        "num_sites": len(sites),
        "sites_hash": _sites_hash(sites),
        "path": path_kind,
    }
    path = out / MANIFEST_NAME
    if path.exists():
        _check_same(out, json.loads(path.read_text()), header)
        return Manifest(out, request, sites)
    write_text_atomic(out / SITES_NAME, "".join(json.dumps(s.to_json()) + "\n" for s in sites))
    write_json_atomic(path, header, indent=1)
    return Manifest(out, request, sites)


def check_manifest(out_dir: str | os.PathLike[str], request: ExportRequest | None = None,
                   sites: Sequence[Site] | None = None) -> None:
    """Checks that an existing export directory was asked for ``request`` and ``sites`` (``None``: not checked).

    Does nothing when ``out_dir`` holds no manifest yet.

    Raises:
      ExportManifestError: the directory holds an export of another request or another site list.
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return
    existing = json.loads(path.read_text())
    header: dict[str, Any] = {}
    if request is not None:
        header.update(fingerprint=request.fingerprint(), request=request.to_json())
    if sites is not None:
        header.update(sites_hash=_sites_hash(list(sites)), num_sites=len(sites))
    _check_same(Path(out_dir), existing, header)


def _check_same(out: Path, existing: dict[str, Any], header: dict[str, Any]) -> None:
    if "fingerprint" in header and existing.get("fingerprint") != header["fingerprint"]:
        raise ExportManifestError(
            f"{out} holds an export of another request ({existing.get('request')}); "
            f"this one is {header['request']}. Use another output directory."
        )
    if "sites_hash" in header and existing.get("sites_hash") != header["sites_hash"]:
        raise ExportManifestError(
            f"{out} holds an export of {existing.get('num_sites')} other sites; this run asks for "
            f"{header['num_sites']} sites. Re-run with the same sites (same sampling arguments and seed)."
        )


def load_sites(out_dir: str | os.PathLike[str]) -> list[Site]:
    """The sites recorded by :func:`open_manifest` (to resume without re-sampling)."""
    path = Path(out_dir) / SITES_NAME
    return [Site.from_json(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
