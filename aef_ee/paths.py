"""Where aef-ee finds its shipped data and where a session's local state and caches live.

- :func:`data_dir`: the real Earth-observation data the demo catalog and the sample embeddings are built from,
  package data of :mod:`aef_ee.demo` (``aef_ee/demo/data``, the repository's ``data/`` folder in a checkout; a
  wheel ships the subset those builders read, see ``data/PROVENANCE.md``). ``$AEF_EE_DATA`` overrides it.
- :func:`state_dir`: the one folder holding the local engine's state: the demo catalog (``demo-catalog-v<N>``),
  the local Cloud Storage buckets (``buckets/``), the local Google Drive (``drive/``) and the sample embeddings.
  ``$AEF_EE_HOME``, else the cache folder. The demo, ``aef_ee.initialize(backend="local")`` and ``aef-ee serve``
  all default to it, so what one process registers or exports the next one finds.
- :func:`cache_dir`: ``$AEF_EE_CACHE``, else ``$XDG_CACHE_HOME/aef-ee``, else ``~/.cache/aef-ee``.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from aef_ee.errors import AefIOError

__all__ = [
    "DATA_ENV",
    "CACHE_ENV",
    "HOME_ENV",
    "BUCKET_DIR_ENV",
    "DRIVE_DIR_ENV",
    "repo_root",
    "data_dir",
    "cache_dir",
    "state_dir",
    "bucket_dir",
    "drive_dir",
]

DATA_ENV = "AEF_EE_DATA"
CACHE_ENV = "AEF_EE_CACHE"
HOME_ENV = "AEF_EE_HOME"
# Finer overrides of one part of the state folder (older names, still honoured by the video exporter).
BUCKET_DIR_ENV = "AEF_EE_BUCKET_DIR"
DRIVE_DIR_ENV = "AEF_EE_DRIVE_DIR"


def repo_root() -> Path:
    """The directory holding the ``aef_ee`` package (the repository root in a source checkout; tests only)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The real-data folder: ``$AEF_EE_DATA`` if set, else the package data ``aef_ee/demo/data``.

    Raises:
        AefIOError: the folder does not exist.
    """
    override = os.environ.get(DATA_ENV)
    if override:
        path, source = Path(override).expanduser(), f"${DATA_ENV}"
    else:
        # A plain folder both in a checkout (a link to data/) and in an installed wheel (zip installs unsupported).
        path, source = Path(str(importlib.resources.files("aef_ee.demo").joinpath("data"))), "the aef_ee package"
    if not path.is_dir():
        raise AefIOError(f"data folder {str(path)!r} (from {source}) does not exist; set {DATA_ENV} to a copy of "
                         "the repository's data/ folder")
    return path


def cache_dir() -> Path:
    """The cache root (not created here): ``$AEF_EE_CACHE``, ``$XDG_CACHE_HOME/aef-ee`` or ``~/.cache/aef-ee``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "aef-ee"


def state_dir() -> Path:
    """The local engine's state folder (not created here): ``$AEF_EE_HOME``, else :func:`cache_dir`."""
    override = os.environ.get(HOME_ENV)
    return Path(override).expanduser() if override else cache_dir()


def bucket_dir() -> Path:
    """The local Cloud Storage folder (``<bucket>/<key>`` below it): ``$AEF_EE_BUCKET_DIR``, else
    ``<state>/buckets``."""
    override = os.environ.get(BUCKET_DIR_ENV)
    return Path(override).expanduser() if override else state_dir() / "buckets"


def drive_dir() -> Path:
    """The local Google Drive folder: ``$AEF_EE_DRIVE_DIR``, else ``<state>/drive``."""
    override = os.environ.get(DRIVE_DIR_ENV)
    return Path(override).expanduser() if override else state_dir() / "drive"
