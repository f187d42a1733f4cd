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
    __slots__ = ("items", "results", "error", "done")

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = list(items)
        self.results: list[Result] = []
        self.error: BaseException | None = None
        self.done = False


class GroupCommit(Generic[Item, Result]):
    """Batches concurrent calls of ``fetch(key, items) -> results`` (one result per item, in order) per key.

    Args:
      fetch: the batched request; it gets the items of every queued caller for one key, concatenated.
      max_items: most items one request carries (callers beyond it wait for the next request).
    """

    def __init__(self, fetch: Callable[[Any, list[Item]], list[Result]], *, max_items: int = 256) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1; got {max_items!r}")
        self._fetch = fetch
        self._max_items = max_items
        self._cond = threading.Condition()
        self._queues: dict[Hashable, list[_Pending[Item, Result]]] = {}
        self._busy: set[Hashable] = set()
        self.requests = 0  # batched requests sent (for tests and benchmarks)

    def __call__(self, key: Hashable, items: Sequence[Item]) -> list[Result]:
        """``fetch(key, items)``'s results for these items, possibly fetched together with other callers'.

        Raises:
          whatever ``fetch`` raised for the batch these items were in.
        """
        mine: _Pending[Item, Result] = _Pending(items)
        with self._cond:
            self._queues.setdefault(key, []).append(mine)
        while True:
            with self._cond:
                while not mine.done and key in self._busy:
                    self._cond.wait()
                if mine.done:
                    return self._outcome(mine)
                # The line is free and these items are still queued: lead the next batch (first come, first
                # served: with max_items it may hold earlier callers only, and this one leads again after it).
                self._busy.add(key)
                batch = self._take(key)
                self.requests += 1
            try:
                self._run(key, batch)
            finally:
                with self._cond:
                    self._busy.discard(key)
                    self._cond.notify_all()

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

    def _run(self, key: Hashable, batch: list[_Pending[Item, Result]]) -> None:
        items = [item for pending in batch for item in pending.items]
        try:
            results = list(self._fetch(key, items))
            if len(results) != len(items):
                raise RuntimeError(f"batched fetch returned {len(results)} results for {len(items)} items")
        except BaseException as exc:  # handed to every caller of the batch, re-raised in each
            for pending in batch:
                pending.error, pending.done = exc, True
            return
        start = 0
        for pending in batch:
            pending.results = results[start : start + len(pending.items)]
            start += len(pending.items)
            pending.done = True

    @staticmethod
    def _outcome(pending: _Pending[Item, Result]) -> list[Result]:
        if pending.error is not None:
            raise pending.error
        return pending.results
