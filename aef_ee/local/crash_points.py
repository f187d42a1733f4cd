"""Injected crash points: named places where a test can make the process die as if killed.

The crash-safety test (``tests/local/test_crash_safety.py``) starts an engine or ``aef-ee catalog add`` with
``AEF_EE_CRASH_AT=<name>`` (or ``<name>:<n>`` for the n-th time the point is reached, counting from 1). When the
process reaches that point it sends itself SIGKILL: no ``finally`` block, no atexit handler and no buffered write
runs, exactly as when the machine's operator or the OOM killer ends it. The next start must find the catalog in its
old state or its new state, and nothing it cannot clean.

The points (each named where it is called):

- ``stage.created``: a writer's staging folder exists, nothing written yet.
- ``copy.file``: a data file was linked or copied into a staging folder (copyAsset, moveAsset).
- ``add.staged``: ``catalog add`` finished the COG or GeoJSON in its staging folder.
- ``export.block``: an image export wrote one block of pixels to its temporary GeoTIFF.
- ``export.written``: an image export finished its file, before delivering or committing it.
- ``commit.journaled``: a commit wrote its intent to the journal, before its first rename.
- ``commit.rename``: before each rename of a commit (``commit.rename:2`` is just before the second).
- ``commit.committed``: after the last rename (the commit point), before the clean-up.
- ``commit.cleanup``: after each clean-up action of a commit.
- ``operation.persisted``: an operation's state was written to disk.

Without the variable every point is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "AEF_EE_CRASH_AT"

_hits: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Kills this process with SIGKILL if ``$AEF_EE_CRASH_AT`` names this point (and this is its n-th visit)."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != name:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        reached = _hits[name] >= int(count or 1)
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)
