"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of either.

Every writer makes a hidden temporary sibling (``.tmp-<name>-<random><suffix>``: same folder, so the final
``os.replace`` is one atomic rename on POSIX filesystems), writes it, flushes it to disk and renames it into place.
On any error, KeyboardInterrupt included, the temporary file is removed and the old file is left untouched.

- :func:`atomic_path`: a context manager yielding the temporary path, for writers that want a file name
  (GDAL, ArrayRecord, numpy).
- :func:`write_bytes_atomic`, :func:`write_text_atomic`, :func:`write_json_atomic`: the common cases.
- :func:`remove_temporaries`: what a killed writer left (SIGKILL skips the clean-up), for a job resuming its folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["TEMP_PREFIX", "atomic_path", "write_bytes_atomic", "write_text_atomic", "write_json_atomic",
           "remove_temporaries"]

# Leading dot: hidden from listings; the catalog never treats a dot-name as an asset.
TEMP_PREFIX = ".tmp-"
# Files are meant to be shared like any other output (mkstemp's 0600 would stick to the result).
DEFAULT_MODE = 0o644


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, mode: int = DEFAULT_MODE) -> Iterator[Path]:
    """Yields a temporary sibling of ``path``; renames it onto ``path`` when the block ends without error.

    The block must create the file. Its permission bits are set to ``mode`` before the rename.

    Raises:
      FileNotFoundError: the block finished without creating the temporary file.
    """
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.stem}-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer of {str(path)!r} did not create its temporary file {str(tmp)!r}")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = DEFAULT_MODE) -> Path:
    """Writes ``data`` to ``path`` atomically (fsync before the rename); returns ``path``."""
    with atomic_path(path, mode=mode) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, mode: int = DEFAULT_MODE) -> Path:
    """Writes ``text`` as UTF-8 to ``path`` atomically; returns ``path``."""
    return write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1,
                      sort_keys: bool = False) -> Path:
    """Writes ``obj`` as JSON (NaN allowed, a final newline) to ``path`` atomically; returns ``path``."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, allow_nan=True) + "\n"
    return write_text_atomic(path, text)


def remove_temporaries(folder: str | os.PathLike[str], prefixes: tuple[str, ...] = (TEMP_PREFIX,)) -> list[str]:
    """Removes the files and folders directly in ``folder`` whose names start with one of ``prefixes``: the
    temporaries of writers that were killed before their clean-up ran. Returns the names removed.

    Only for a job's own output folder when it starts, before any writer of that job runs: a temporary of a writer
    still running would be taken from under it.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not entry.name.startswith(prefixes):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return sorted(removed)
