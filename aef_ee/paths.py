"""Where aef-ee finds the repository's real data and where it keeps its caches.

- :func:`data_dir`: the repository's ``data/`` folder (real EO data, see ``data/PROVENANCE.md``); the environment
  variable ``AEF_EE_DATA`` overrides it.
- :func:`cache_dir`: ``$AEF_EE_CACHE``, else ``$XDG_CACHE_HOME/aef-ee``, else ``~/.cache/aef-ee``.
"""

from __future__ import annotations

import os
from pathlib import Path

from aef_ee.errors import AefIOError

__all__ = ["DATA_ENV", "CACHE_ENV", "repo_root", "data_dir", "cache_dir"]

DATA_ENV = "AEF_EE_DATA"
CACHE_ENV = "AEF_EE_CACHE"


def repo_root() -> Path:
    """The directory holding the ``aef_ee`` package (the repository root in a source checkout)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The real-data folder: ``$AEF_EE_DATA`` if set, else ``<repo>/data``.

    Raises:
        AefIOError: the folder does not exist (an installed wheel has no ``data/``; set ``AEF_EE_DATA``).
    """
    override = os.environ.get(DATA_ENV)
    path = Path(override).expanduser() if override else repo_root() / "data"
    if not path.is_dir():
        source = f"${DATA_ENV}" if override else "the repository"
        raise AefIOError(f"data folder {str(path)!r} (from {source}) does not exist; set {DATA_ENV} to the "
                         "repository's data/ folder")
    return path


def cache_dir() -> Path:
    """The cache root (not created here): ``$AEF_EE_CACHE``, ``$XDG_CACHE_HOME/aef-ee`` or ``~/.cache/aef-ee``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "aef-ee"
