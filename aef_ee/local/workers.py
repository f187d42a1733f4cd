"""The bounded pool of compute workers: a few long-lived threads and a short queue; beyond them a fast 429.

The HTTP server reads and answers requests on one thread per connection (bounded too, see
:class:`~aef_ee.local.limits.Limits`), but evaluating expressions and rendering pixels happens here, so the number
of computations at once never grows with the number of clients. A request that finds every worker busy and the queue
full is refused at once with :class:`~aef_ee.local.errors.TooManyRequests` (HTTP 429, "Too many concurrent
requests."), which the earthengine-api client retries with exponential back-off.

Workers are long-lived, so per-thread state (pyproj transformers, GDAL dataset handles) is built once per worker,
not once per request.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from aef_ee.local.errors import ComputationTimedOut, ShuttingDown, TooManyRequests

__all__ = ["ComputePool", "PoolStats", "THREAD_PREFIX", "on_worker_thread"]

THREAD_PREFIX = "aef-ee-compute"
T = TypeVar("T")


def on_worker_thread() -> bool:
    """Whether the calling thread is a compute worker (long-lived, so per-thread caches pay off)."""
    return threading.current_thread().name.startswith(THREAD_PREFIX)


@dataclasses.dataclass(frozen=True)
class PoolStats:
    """Counters since the pool started.

    Attributes:
      workers, queue: the pool's size.
      running: tasks being computed now; waiting: tasks in the queue.
      completed: tasks finished (with a result or an error); rejected: tasks refused with 429.
    """

    workers: int
    queue: int
    running: int
    waiting: int
    completed: int
    rejected: int


class ComputePool:
    """``workers`` threads and room for ``queue`` waiting tasks; more are refused with 429.

    Args:
      workers: compute threads.
      queue: tasks that may wait for a thread.
    """

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"ComputePool needs workers >= 1 and queue >= 0; got {workers}, {queue}.")
        self.workers = workers
        self.queue = queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=THREAD_PREFIX)
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting
        self._running = 0
        self._completed = 0
        self._rejected = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queues ``fn`` (run in a copy of the caller's context) and returns its future.

        Raises:
          TooManyRequests: every worker is busy and the queue is full.
          ShuttingDown: the server (or the interpreter) is stopping.
        """
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                self._rejected += 1
                raise TooManyRequests()
            self._admitted += 1
        context = contextvars.copy_context()

        def run() -> T:
            with self._lock:
                self._running += 1
            try:
                return context.run(fn)
            finally:
                with self._lock:
                    self._running -= 1

        try:
            future = self._executor.submit(run)
        except RuntimeError:  # the pool, or the interpreter, is shutting down
            with self._lock:
                self._admitted -= 1
            raise ShuttingDown() from None
        except BaseException:
            with self._lock:
                self._admitted -= 1
            raise
        future.add_done_callback(self._release)  # on completion, or on cancellation while queued
        return future

    def _release(self, future: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1
            self._completed += 0 if future.cancelled() else 1

    def call(self, fn: Callable[[], T], *, timeout_s: float) -> T:
        """Runs ``fn`` on a worker and waits for its result (or its exception).

        Args:
          timeout_s: how long the caller waits. Past it the caller gets ComputationTimedOut while the task runs on
            to its next budget checkpoint (Python cannot stop a thread); its worker stays busy until then.

        Raises:
          TooManyRequests: no room in the pool.
          ComputationTimedOut: no result within ``timeout_s``.
        """
        future = self.submit(fn)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()  # frees the slot if it never started
            raise ComputationTimedOut() from None

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(self.workers, self.queue, self._running, self._admitted - self._running,
                             self._completed, self._rejected)

    def shutdown(self) -> None:
        """Stops taking tasks; queued tasks are cancelled, running ones finish on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"ComputePool(workers={self.workers}, queue={self.queue})"

