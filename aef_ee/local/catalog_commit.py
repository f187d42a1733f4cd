"""The catalog's commit protocol: every write becomes visible with one rename, and a killed writer leaves the old
state or the new one, never a mix, and nothing that the next writer or the next start does not clean.

Under a catalog root, besides the assets (see :mod:`aef_ee.local.catalog`):

- ``.catalog.lock``: the write lock (``fcntl.flock``, exclusive). Every commit and every recovery holds it, and
  every holder first recovers what a dead writer left (:func:`recover`), so no commit starts on a half-done state.
- ``.staging/<token>/`` with ``.staging/<token>.lock``: a :class:`Stage`, one writer's private folder. Its writer
  holds the lock file's flock for as long as it lives, so a stage whose flock can be taken belongs to a dead
  process. Long work (an export's COG, ``catalog add``'s copy, a collection's files) is written here *without*
  the catalog lock; only the commit takes it.
- ``.staging/.tmp-*``: temporary manifests of short writes made while holding the lock.
- ``.journal/<token>.json``: the intent of a commit with more than one step: its renames' commit point (the source
  of the last rename) and the clean-up to run if the commit happened (``commit``) or did not (``abort``).
- ``.trash/<token>``: what a commit removed, deleted after it.
- ``_data/<version>/`` next to manifests: the data files owned by the leaf manifest whose ``version`` is
  ``<version>``. No asset ID can map there (an ID segment never starts with ``_``), so no write to one asset can
  land on another asset's files.

A commit (:func:`commit`, under the lock): write the journal; rename each staged thing into place, the last rename
being the commit point (a manifest swap naming its ``_data/<version>``, or a directory rename); run the clean-up;
remove the journal. Recovery: for each journal, the commit happened iff the source of its last rename is gone, so
run its ``commit`` or its ``abort`` actions (all idempotent); then delete dead stages, loose temporary files and the
trash. Durability against power loss (directory fsyncs) is out of scope: the protocol is about processes dying.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aef_ee.atomic import DEFAULT_MODE, TEMP_PREFIX
from aef_ee.local.crash_points import crash_point

__all__ = [
    "DATA_DIR",
    "LOCK_NAME",
    "STAGING_DIR",
    "JOURNAL_DIR",
    "TRASH_DIR",
    "Stage",
    "catalog_lock",
    "commit",
    "needs_recovery",
    "new_version",
    "recover",
    "remove_action",
    "rename_action",
    "write_json",
    "link_or_copy",
    "stage_tree_copy",
]

logger = logging.getLogger(__name__)

DATA_DIR = "_data"
LOCK_NAME = ".catalog.lock"
STAGING_DIR = ".staging"
JOURNAL_DIR = ".journal"
TRASH_DIR = ".trash"
# Versions and tokens: 48 random bits are plenty for names that only need to differ within one folder.
_TOKEN_BYTES = 6

_held = threading.local()  # the roots whose lock this thread holds (flock does not nest within a process)


def new_version() -> str:
    """A fresh random version (hex), the name of a manifest's ``_data/<version>`` folder."""
    return secrets.token_hex(_TOKEN_BYTES)


def _token() -> str:
    return secrets.token_hex(_TOKEN_BYTES)


# ----- locking -----

@contextlib.contextmanager
def catalog_lock(root: Path) -> Iterator[None]:
    """Holds the catalog's write lock, recovering a dead writer's leftovers first; re-entrant within a thread."""
    held: set[Path] = _held.__dict__.setdefault("roots", set())
    if root in held:
        yield
        return
    with open(root / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held.add(root)
        try:
            recover(root)
            yield
        finally:
            held.discard(root)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_dead(lock_path: Path) -> bool:
    """Whether the flock of ``lock_path`` is free, i.e. its owner is gone (a missing file counts as free)."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases a flock taken here
    return True


# ----- stages -----

class Stage:
    """A private staging folder under ``<root>/.staging/``, flock-owned by this process until :meth:`close`.

    ``dir`` is the folder; :meth:`file` names a data file in its ``data/`` subfolder, which a leaf commit renames to
    ``_data/<version>/`` next to the manifest, and :meth:`ref` is that file's path as the manifest writes it.
    Use it as a context manager: leaving the block removes whatever was not committed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = _token()
        self.version = new_version()
        staging = root / STAGING_DIR
        staging.mkdir(exist_ok=True)
        self._lock_path = staging / f"{self.token}.lock"
        # Created under the catalog lock, so a recovery never sees the lock file before it is flocked.
        with catalog_lock(root):
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self.dir = staging / self.token
            os.mkdir(self.dir)
        crash_point("stage.created")

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def file(self, name: str) -> Path:
        """The staging path of data file ``name`` (its folder is created)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad data file name {name!r}")
        self.data_dir.mkdir(exist_ok=True)
        return self.data_dir / name

    def ref(self, name: str) -> str:
        """Data file ``name`` as a manifest next to it names it once committed: ``_data/<version>/<name>``."""
        return f"{DATA_DIR}/{self.version}/{name}"

    def close(self) -> None:
        """Removes the folder (whatever was not committed) and releases the stage."""
        if self._fd < 0:
            return
        _rmtree(self.dir)
        self._lock_path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> "Stage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----- files -----

def write_json(path: Path, obj: Any) -> None:
    """Writes ``obj`` as JSON to a *new* file at ``path`` (replacing, never rewriting, an existing one: staged
    trees hard-link files), flushed to disk, mode 0644."""
    text = json.dumps(obj, indent=1, allow_nan=True) + "\n"
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}-{_token()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, DEFAULT_MODE)
    os.replace(tmp, path)


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Hard-links ``src`` to ``dst`` (free, and safe because catalog files are replaced, never rewritten), or copies
    it where links are impossible (another file system, a file system without links)."""
    try:
        os.link(src, dst)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        shutil.copy2(src, dst)
    crash_point("copy.file")


def _rmtree(path: Path) -> None:
    """Removes a file or a tree; a part that is already gone is fine (removal is re-run after a crash)."""
    def gone(function: Any, name: str, exc_info: Any) -> None:
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=gone)  # onexc is 3.12+; the project supports 3.11
    else:
        path.unlink(missing_ok=True)


def stage_tree_copy(src_dir: Path, tree: Path, dst_dir: Path, manifest_suffixes: tuple[str, ...]) -> Path:
    """Copies container folder ``src_dir`` to ``tree`` (a staging path) for a container that will live at
    ``dst_dir``: data files hard-linked, manifests copied, relative data paths that leave the folder rebased.

    Hidden entries (temporary files of other writers) are not copied.
    """
    src_resolved = src_dir.resolve()

    def copy_file(src: str, dst: str) -> None:
        if src.endswith(".json"):
            shutil.copy2(src, dst)  # manifests are small, and a rebase below must not write through a link
        else:
            link_or_copy(src, dst)

    shutil.copytree(src_dir, tree, copy_function=copy_file,
                    ignore=lambda folder, names: [n for n in names if n.startswith(".")])
    for manifest_path in tree.rglob("*.json"):
        if not manifest_path.name.endswith(manifest_suffixes):
            continue
        relative = manifest_path.relative_to(tree)
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        entries = manifest.get("bands", []) if manifest.get("type") == "IMAGE" else [manifest]
        changed = False
        for entry in entries:
            path = entry.get("path", "")
            if path.startswith(("gs://", "/vsi")) or Path(path).is_absolute():
                continue
            target = ((src_dir / relative).parent / path).resolve()
            if not target.is_relative_to(src_resolved):
                entry["path"] = os.path.relpath(target, (dst_dir / relative).parent)
                changed = True
        if changed:
            write_json(manifest_path, manifest)
    return tree


# ----- actions (journal entries: JSON, paths relative to the root) -----

def remove_action(root: Path, path: Path) -> list[str]:
    return ["remove", path.relative_to(root).as_posix()]


def rename_action(root: Path, src: Path, dst: Path) -> list[str]:
    return ["rename", src.relative_to(root).as_posix(), dst.relative_to(root).as_posix()]


def _run(root: Path, action: Sequence[str]) -> None:
    kind = action[0]
    if kind == "remove":
        path = root / action[1]
        if path.is_dir() and not path.is_symlink():
            # Into the trash first: the folder disappears at once instead of file by file.
            trash = root / TRASH_DIR
            trash.mkdir(exist_ok=True)
            target = trash / _token()
            os.replace(path, target)
            _rmtree(target)
        else:
            path.unlink(missing_ok=True)
        parent = path.parent
        if parent.name == DATA_DIR:
            with contextlib.suppress(OSError):  # not empty: other versions live there
                parent.rmdir()
    elif kind == "rename":
        src, dst = root / action[1], root / action[2]
        if os.path.lexists(src) and not os.path.lexists(dst):
            os.replace(src, dst)
    else:
        raise ValueError(f"unknown journal action {action!r}")


# ----- commit and recovery -----

def commit(root: Path, renames: Sequence[tuple[Path, Path]], *, on_commit: Sequence[Sequence[str]] = (),
           on_abort: Sequence[Sequence[str]] = ()) -> None:
    """Renames each ``(src, dst)`` in order (the last is the commit point), then runs ``on_commit``.

    The caller holds :func:`catalog_lock`. With more than one rename or any action, the intent is journaled first,
    so that :func:`recover` finishes (``on_commit``) or undoes (``on_abort``) a commit whose process died.
    """
    if not renames:
        raise ValueError("a commit needs at least one rename")
    journal = None
    if len(renames) > 1 or on_commit or on_abort:
        journal_dir = root / JOURNAL_DIR
        journal_dir.mkdir(exist_ok=True)
        journal = journal_dir / f"{_token()}.json"
        write_json(journal, {"commit_point": renames[-1][0].relative_to(root).as_posix(),
                             "commit": [list(a) for a in on_commit], "abort": [list(a) for a in on_abort]})
        crash_point("commit.journaled")
    for src, dst in renames:
        crash_point("commit.rename")
        os.replace(src, dst)
    crash_point("commit.committed")
    for action in on_commit:
        _run(root, action)
        crash_point("commit.cleanup")
    if journal is not None:
        journal.unlink()


def needs_recovery(root: Path) -> bool:
    """Whether a dead writer may have left something (cheap: three directory listings, no lock)."""
    for name in (JOURNAL_DIR, STAGING_DIR, TRASH_DIR):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            if any(True for _ in os.scandir(root / name)):
                return True
    return False


def recover(root: Path) -> None:
    """Finishes or undoes dead writers' commits and removes their leftovers; the caller holds the lock."""
    journal_dir = root / JOURNAL_DIR
    if journal_dir.is_dir():
        for entry in sorted(os.listdir(journal_dir)):
            path = journal_dir / entry
            if entry.startswith(TEMP_PREFIX):
                path.unlink(missing_ok=True)
                continue
            with open(path, encoding="utf-8") as f:
                intent = json.load(f)
            committed = not os.path.lexists(root / intent["commit_point"])
            for action in intent["commit" if committed else "abort"]:
                _run(root, action)
            path.unlink()
            logger.warning("catalog %s: %s a commit interrupted by a dead process", root,
                           "completed" if committed else "rolled back")
    staging = root / STAGING_DIR
    if staging.is_dir():
        live = set()
        for entry in os.listdir(staging):
            if entry.endswith(".lock"):
                if _is_dead(staging / entry):
                    _rmtree(staging / entry[: -len(".lock")])
                    (staging / entry).unlink(missing_ok=True)
                else:
                    live.add(entry[: -len(".lock")])
        for entry in os.listdir(staging):
            if not entry.endswith(".lock") and entry not in live:
                _rmtree(staging / entry)  # a temporary manifest of a dead writer, or an orphaned folder
    trash = root / TRASH_DIR
    if trash.is_dir():
        for entry in os.listdir(trash):
            _rmtree(trash / entry)
