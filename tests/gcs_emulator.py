"""A Cloud Storage emulator (gcp-storage-emulator, from PyPI) on loopback, for the tests of ``gs://`` outputs::

    from gcs_emulator import gcs_emulator

    with gcs_emulator("videos") as client:   # STORAGE_EMULATOR_HOST is set while the block runs
        ...                                  # storage.Client() made anywhere in this process talks to it

The emulator keeps its objects in memory and starts with the given bucket.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["gcs_emulator"]


@contextlib.contextmanager
def gcs_emulator(bucket: str, *, start_timeout_s: float = 20.0) -> Iterator[Any]:
    """Yields a ``google.cloud.storage.Client`` of an emulator holding the empty bucket ``bucket``."""
    pytest.importorskip("gcp_storage_emulator")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                             "--port", str(port), "--in-memory", "--default-bucket", bucket],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
            yield storage.Client(project="test", credentials=AnonymousCredentials())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
