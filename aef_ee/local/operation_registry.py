"""Long-running operations (exports, ingestions): states, progress, cancellation, listing, and their record on disk.

An operation moves PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED. Work runs on a small thread pool; the work
function receives the :class:`Operation` and calls ``op.check_cancelled()`` and ``op.set_progress(f)`` between steps.
The JSON shape is Earth Engine's ``Operation`` with ``OperationMetadata``.

Operations are persisted (``<catalog>/.operations/<id>.json``, rewritten at every change of state), so they outlive
the server like Earth Engine's tasks: after a kill or a restart, an operation that was PENDING or RUNNING under a
server that is gone reads FAILED, as Earth Engine reports a task whose worker died, and the temporary files it
declared (``op.add_scratch``) are removed. A server is alive while it holds the flock of its owner file
(``.operations/<owner>.owner``); operations of another live server on the same catalog are listed and read from disk.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aef_ee.local.crash_points import crash_point
from aef_ee.local.errors import Cancelled, EngineError, InvalidArgument, NotFound

__all__ = ["Operation", "OperationRegistry", "registry_of", "STORE_DIR"]

log = logging.getLogger(__name__)

_METADATA_TYPE = "type.googleapis.com/google.earthengine.v1.OperationMetadata"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
STORE_DIR = ".operations"
# Finished operations kept on disk (the oldest are dropped when a registry starts).
MAX_STORED = 1000
# Progress is persisted at most this often (a 20000 x 20000 export reports thousands of blocks).
PROGRESS_PERSIST_S = 1.0
# google.rpc.Code INTERNAL, what Earth Engine reports for a task whose worker died.
_INTERNAL = 13
_SERVER_GONE = ("The local Earth Engine server running this operation stopped before it finished (killed or "
                "restarted); start the task again.")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Operation:
    def __init__(self, project: str, kind: str, description: str) -> None:
        self.id = uuid.uuid4().hex[:24].upper()
        self.name = f"projects/{project}/operations/{self.id}"
        self.kind = kind
        self.description = description
        self.state = "PENDING"
        self.progress = 0.0
        self.create_time = _now()
        self.update_time = self.create_time
        self.start_time: str | None = None
        self.end_time: str | None = None
        self.error: dict[str, Any] | None = None
        self.destination_uris: list[str] = []
        self.scratch: list[str] = []
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._lock = threading.RLock()
        self._persist: Callable[[Operation], None] = lambda op: None
        self._persisted_at = 0.0

    # --- used by work functions ---
    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"Operation {self.name} was cancelled.")

    def set_progress(self, fraction: float) -> None:
        with self._lock:
            self.progress = max(0.0, min(1.0, float(fraction)))
            self.update_time = _now()
            if time.monotonic() - self._persisted_at >= PROGRESS_PERSIST_S:
                self._save()

    def add_scratch(self, path: str | os.PathLike[str]) -> None:
        """Declares a temporary file this operation may leave if its process is killed; recorded on disk *before*
        the caller creates it, so the next server removes it."""
        with self._lock:
            self.scratch.append(str(path))
            self._save()

    # --- lifecycle ---
    def request_cancel(self) -> None:
        with self._lock:
            if self.state in TERMINAL:
                return
            self._cancel.set()
            if self.state == "PENDING":
                self._finish("CANCELLED", {"code": 1, "message": "Cancelled."})
            else:
                self.state = "CANCELLING"
                self.update_time = _now()
                self._save()

    def _start(self) -> bool:
        with self._lock:
            if self.state in TERMINAL:
                return False
            self.state = "RUNNING"
            self.start_time = self.update_time = _now()
            self._save()
            return True

    def _finish(self, state: str, error: dict[str, Any] | None = None) -> None:
        self.state = state
        self.error = error
        self.end_time = self.update_time = _now()
        if state == "SUCCEEDED":
            self.progress = 1.0
        self._save()
        self._done.set()

    def _save(self) -> None:
        self._persisted_at = time.monotonic()
        self._persist(self)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            metadata: dict[str, Any] = {
                "@type": _METADATA_TYPE,
                "state": self.state,
                "description": self.description,
                "type": self.kind,
                "priority": 100,
                "createTime": self.create_time,
                "updateTime": self.update_time,
                "progress": self.progress,
                "attempt": 1,
            }
            if self.start_time:
                metadata["startTime"] = self.start_time
            if self.end_time:
                metadata["endTime"] = self.end_time
            if self.destination_uris:
                metadata["destinationUris"] = list(self.destination_uris)
            result: dict[str, Any] = {"name": self.name, "metadata": metadata, "done": self.state in TERMINAL}
            if self.state == "SUCCEEDED":
                result["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
            if self.error is not None:
                result["error"] = self.error
            return result


class StoredOperation:
    """An operation read from disk: one of an earlier or another server (read-only)."""

    def __init__(self, record: dict[str, Any], registry: "OperationRegistry") -> None:
        self._record = record
        self._registry = registry
        self.id = record["operation"]["name"].rsplit("/", 1)[-1]
        self.create_time = record["operation"]["metadata"].get("createTime", "")

    def to_json(self) -> dict[str, Any]:
        return self._record["operation"]

    def request_cancel(self) -> None:
        if not self._record["operation"].get("done"):
            raise InvalidArgument(f"Operation {self.id} runs in another local Earth Engine server process; cancel "
                                  "it there.")

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0.0)
        while not self._record["operation"].get("done") and time.monotonic() < deadline:
            time.sleep(0.2)
            found = self._registry._read(self.id)
            if found is not None:
                self._record = found._record
        return bool(self._record["operation"].get("done"))


class OperationRegistry:
    """The operations of one server, run on ``workers`` threads in submission order.

    Args:
        workers: threads running operations.
        store: the folder where operations are persisted (None: in memory only).
    """

    def __init__(self, workers: int = 2, store: Path | None = None) -> None:
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aef-ee-operation")
        self._store = store
        self._owner = secrets.token_hex(8)
        self._owner_fd = -1
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
            # Flocked before it gets its name, so no other server ever sees this owner file unlocked.
            tmp = store / f".tmp-{self._owner}.owner"
            self._owner_fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._owner_fd, fcntl.LOCK_EX)
            os.replace(tmp, store / f"{self._owner}.owner")
            self._recover()

    # --- the store ---
    def _path(self, op_id: str) -> Path:
        return self._store / f"{op_id}.json"  # type: ignore[operator]

    def _persist(self, op: Operation) -> None:
        record = {"operation": op.to_json(), "owner": self._owner, "scratch": op.scratch}
        tmp = self._store / f".tmp-{self._owner}-{op.id}.json"  # type: ignore[operator]
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, self._path(op.id))
        crash_point("operation.persisted")

    def _owner_alive(self, owner: str) -> bool:
        if owner == self._owner:
            return True
        try:
            fd = os.open(self._store / f"{owner}.owner", os.O_RDWR)  # type: ignore[operator]
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _read(self, op_id: str) -> StoredOperation | None:
        """The stored operation ``op_id``; one left unfinished by a dead server is marked FAILED first."""
        if self._store is None:
            return None
        try:
            with open(self._path(op_id), encoding="utf-8") as f:
                record = json.load(f)
        except FileNotFoundError:
            return None
        operation = record["operation"]
        if not operation.get("done") and not self._owner_alive(record["owner"]):
            for path in map(Path, record.get("scratch", [])):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            now = _now()
            operation["metadata"].update(state="FAILED", updateTime=now, endTime=now)
            operation["done"] = True
            operation["error"] = {"code": _INTERNAL, "message": _SERVER_GONE}
            record["scratch"] = []
            tmp = self._store / f".tmp-{self._owner}-{op_id}.json"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f)
            os.replace(tmp, self._path(op_id))
            log.warning("operation %s: its server is gone; marked FAILED", operation["name"])
        return StoredOperation(record, self)

    def _stored_ids(self) -> list[str]:
        if self._store is None:
            return []
        return [n[: -len(".json")] for n in os.listdir(self._store) if n.endswith(".json")
                and not n.startswith(".")]

    def _recover(self) -> None:
        """Fails dead servers' unfinished operations, removes their owner and temporary files, prunes old ones."""
        store = self._store
        assert store is not None
        finished = []
        for op_id in self._stored_ids():
            stored = self._read(op_id)
            if stored is not None and stored.to_json().get("done"):
                finished.append((stored.to_json()["metadata"].get("updateTime", ""), op_id))
        for _, op_id in sorted(finished)[: max(0, len(finished) - MAX_STORED)]:
            self._path(op_id).unlink(missing_ok=True)
        for name in os.listdir(store):
            if name.endswith(".owner") and not name.startswith("."):
                if not self._owner_alive(name[: -len(".owner")]):
                    (store / name).unlink(missing_ok=True)
            elif name.startswith(".tmp-"):
                owner = name[len(".tmp-"):].split("-", 1)[0].split(".", 1)[0]
                if not self._owner_alive(owner):
                    (store / name).unlink(missing_ok=True)

    # --- operations ---
    def submit(self, project: str, kind: str, description: str, work: Callable[[Operation], None]) -> Operation:
        op = Operation(project, kind, description)
        if self._store is not None:
            op._persist = self._persist
            op._save()
        with self._lock:
            self._ops[op.id] = op
        self._pool.submit(self._run, op, work)
        return op

    def _run(self, op: Operation, work: Callable[[Operation], None]) -> None:
        if not op._start():
            return
        try:
            work(op)
        except Cancelled:
            with op._lock:
                op._finish("CANCELLED", {"code": 1, "message": "Cancelled."})
            return
        except EngineError as exc:
            with op._lock:
                op._finish("FAILED", {"code": 3, "message": str(exc)})
            return
        except Exception as exc:  # a failed export must be reported on the operation, not lost in a thread
            log.exception("operation %s failed", op.name)
            with op._lock:
                op._finish("FAILED", {"code": _INTERNAL, "message": f"{type(exc).__name__}: {exc}"})
            return
        with op._lock:
            if op._cancel.is_set():
                op._finish("CANCELLED", {"code": 1, "message": "Cancelled."})
            else:
                op._finish("SUCCEEDED")

    def get(self, op_id: str) -> Operation | StoredOperation:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None and "/" not in op_id and not op_id.startswith("."):
            op = self._read(op_id)
        if op is None:
            raise NotFound(f"Operation {op_id} not found.")
        return op

    def list(self) -> list[Operation | StoredOperation]:
        with self._lock:
            ops: dict[str, Operation | StoredOperation] = dict(self._ops)
        for op_id in self._stored_ids():
            if op_id not in ops and (stored := self._read(op_id)) is not None:
                ops[op_id] = stored
        return sorted(ops.values(), key=lambda o: o.create_time, reverse=True)

    def delete(self, op_id: str) -> None:
        with self._lock:
            found = self._ops.pop(op_id, None) is not None
        if self._store is not None and "/" not in op_id and not op_id.startswith(".") \
                and self._path(op_id).exists():
            self._path(op_id).unlink()
            found = True
        if not found:
            raise NotFound(f"Operation {op_id} not found.")


def registry_of(server: Any) -> OperationRegistry:
    """The server's registry, created on first use and persisted under ``<catalog>/.operations`` (or in
    ``settings["operations_dir"]``); a catalog that cannot be written keeps operations in memory (logged)."""
    with server.state_lock:
        reg = server.state.get("operations")
        if reg is None:
            store = Path(server.settings.get("operations_dir") or Path(server.catalog.root) / STORE_DIR)
            try:
                reg = OperationRegistry(store=store)
            except OSError as exc:
                log.warning("operations are kept in memory only: cannot write %s (%s)", store, exc)
                reg = OperationRegistry()
            server.state["operations"] = reg
        return reg
