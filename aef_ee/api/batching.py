"""Group commit of concurrent reads: while one request for a key is in flight, later callers queue, and the next one
to find the line free sends every queued item in one request.

Point queries are dominated by the fixed cost of one Earth Engine request (serialising, evaluating, opening the
tiles), not by the number of points: 32 clients asking for one point each cost 32 requests one at a time, but one
request of 32 points when batched. Under no load a caller goes straight through (a batch of its own items only); under
load each caller waits at most for the batch in flight and then its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommit"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Pending(Generic[Item, Result]):
    __slots__ = ("items", "results", "error", "done", "lead", "wake")

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = list(items)
        self.results: list[Result] = []
        self.error: BaseException | None = None
        self.done = False  # its batch ran: results or error are set
        self.lead = False  # it is the first in the queue and the line is free: it sends the next batch
        self.wake = threading.Event()


class GroupCommit(Generic[Item, Result]):
    """Batches concurrent calls of ``fetch(key, items) -> results`` (one result per item, in order) per key.

    Each caller sleeps on its own event: a finished batch wakes its own callers and the one that leads the next
    batch, not every waiting thread (32 threads woken per batch, each taking the lock and the GIL to find it was not
    theirs, cost more than the batch on two cores).

    Args:
      fetch: the batched request; it gets the items of every queued caller for one key, concatenated.
      max_items: most items one request carries (callers beyond it wait for the next request).
    """

    def __init__(self, fetch: Callable[[Any, list[Item]], list[Result]], *, max_items: int = 256) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1; got {max_items!r}")
        self._fetch = fetch
        self._max_items = max_items
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[_Pending[Item, Result]]] = {}
        self._busy: set[Hashable] = set()
        self.requests = 0  # batched requests sent (for tests and benchmarks)

    def __call__(self, key: Hashable, items: Sequence[Item]) -> list[Result]:
        """``fetch(key, items)``'s results for these items, possibly fetched together with other callers'.

        Raises:
          whatever ``fetch`` raised for the batch these items were in.
        """
        mine: _Pending[Item, Result] = _Pending(items)
        with self._lock:
            self._queues.setdefault(key, []).append(mine)
            if key not in self._busy:  # the line is free (so the queue was empty): lead at once
                self._busy.add(key)
                mine.lead = True
        if not mine.lead:
            mine.wake.wait()  # set when this caller's batch ran, or when it is handed the lead
        if not mine.done:
            # Leading: this caller is first in the queue, so the batch (the queue's first callers, up to max_items)
            # holds it.
            with self._lock:
                batch = self._take(key)
                self.requests += 1
            try:
                self._run(key, batch)
            finally:
                self._hand_over(key)
        return self._outcome(mine)

    def _take(self, key: Hashable) -> list[_Pending[Item, Result]]:
        """Pops queued callers, first come first served, up to ``max_items`` items (at least one caller)."""
        queue = self._queues[key]
        taken, count = [], 0
        while queue and (not taken or count + len(queue[0].items) <= self._max_items):
            count += len(queue[0].items)
            taken.append(queue.pop(0))
        if not queue:
            del self._queues[key]
        return taken

    def _hand_over(self, key: Hashable) -> None:
        """After a batch: the first caller still queued leads the next one; with none, the line is free."""
        with self._lock:
            queue = self._queues.get(key)
            if queue:
                queue[0].lead = True
                queue[0].wake.set()
            else:
                self._busy.discard(key)

    def _run(self, key: Hashable, batch: list[_Pending[Item, Result]]) -> None:
        items = [item for pending in batch for item in pending.items]
        try:
            results = list(self._fetch(key, items))
            if len(results) != len(items):
                raise RuntimeError(f"batched fetch returned {len(results)} results for {len(items)} items")
        except BaseException as exc:  # handed to every caller of the batch, re-raised in each
            for pending in batch:
                pending.error = exc
        else:
            start = 0
            for pending in batch:
                pending.results = results[start : start + len(pending.items)]
                start += len(pending.items)
        for pending in batch:
            pending.done = True
            pending.wake.set()

    @staticmethod
    def _outcome(pending: _Pending[Item, Result]) -> list[Result]:
        if pending.error is not None:
            raise pending.error
        return pending.results
