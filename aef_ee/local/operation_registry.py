"""Long-running operations (exports, ingestions): states, progress, cancellation, listing.

An operation moves PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED. Work runs on a small thread pool; the work
function receives the :class:`Operation` and calls ``op.check_cancelled()`` and ``op.set_progress(f)`` between steps.
The JSON shape is Earth Engine's ``Operation`` with ``OperationMetadata``.
"""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aef_ee.local.errors import Cancelled, EngineError, NotFound

__all__ = ["Operation", "OperationRegistry"]

log = logging.getLogger(__name__)

_METADATA_TYPE = "type.googleapis.com/google.earthengine.v1.OperationMetadata"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


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
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()

    # --- used by work functions ---
    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"Operation {self.name} was cancelled.")

    def set_progress(self, fraction: float) -> None:
        with self._lock:
            self.progress = max(0.0, min(1.0, float(fraction)))
            self.update_time = _now()

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

    def _finish(self, state: str, error: dict[str, Any] | None = None) -> None:
        self.state = state
        self.error = error
        self.end_time = self.update_time = _now()
        if state == "SUCCEEDED":
            self.progress = 1.0
        self._done.set()

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


class OperationRegistry:
    """The operations of one server, run on ``workers`` threads in submission order."""

    def __init__(self, workers: int = 2) -> None:
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aef-ee-operation")

    def submit(self, project: str, kind: str, description: str, work: Callable[[Operation], None]) -> Operation:
        op = Operation(project, kind, description)
        with self._lock:
            self._ops[op.id] = op
        self._pool.submit(self._run, op, work)
        return op

    def _run(self, op: Operation, work: Callable[[Operation], None]) -> None:
        with op._lock:
            if op.state in TERMINAL:
                return
            op.state = "RUNNING"
            op.start_time = op.update_time = _now()
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
                op._finish("FAILED", {"code": 13, "message": f"{type(exc).__name__}: {exc}"})
            return
        with op._lock:
            if op._cancel.is_set():
                op._finish("CANCELLED", {"code": 1, "message": "Cancelled."})
            else:
                op._finish("SUCCEEDED")

    def get(self, op_id: str) -> Operation:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None:
            raise NotFound(f"Operation {op_id} not found.")
        return op

    def list(self) -> list[Operation]:
        with self._lock:
            return sorted(self._ops.values(), key=lambda o: o.create_time, reverse=True)

    def delete(self, op_id: str) -> None:
        with self._lock:
            if self._ops.pop(op_id, None) is None:
                raise NotFound(f"Operation {op_id} not found.")


def registry_of(server: Any) -> OperationRegistry:
    with server.state_lock:
        reg = server.state.get("operations")
        if reg is None:
            reg = server.state["operations"] = OperationRegistry()
        return reg
