"""Bounded, thread-safe caches of the server: :class:`LruCache` (map ids, thumbnail ids, rendered tiles) and
:class:`SingleFlight` (concurrent identical requests computed once).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

__all__ = ["LruCache", "SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``max_entries`` values (and at most ``max_bytes`` of them, by ``size_of``); the least recently
    used go first.

    Args:
      max_entries: the most values kept.
      max_bytes: the most bytes kept (None: no byte bound); a single value larger than this is not kept.
      size_of: the size of a value in bytes (default: ``len``).
    """

    def __init__(self, max_entries: int, *, max_bytes: int | None = None,
                 size_of: Callable[[V], int] | None = None) -> None:
        if max_entries < 1:
            raise ValueError(f"LruCache needs max_entries >= 1; got {max_entries}.")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size_of = size_of or len  # type: ignore[assignment]
        self._items: collections.OrderedDict[K, tuple[V, int]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: K, value: V) -> None:
        """Keeps ``value`` under ``key``, forgetting the least recently used values beyond the bounds."""
        size = self._size_of(value) if self.max_bytes is not None else 0
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if self.max_bytes is not None and size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.max_entries or (
                    self.max_bytes is not None and self._bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes


class SingleFlight(Generic[K, V]):
    """Runs one computation per key at a time: callers asking for a key already being computed wait for that
    computation's result (or its exception) instead of starting another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[K, Future[V]] = {}
        self.shared = 0  # callers served by another caller's computation

    def run(self, key: K, compute: Callable[[], V], *, timeout_s: float | None = None) -> V:
        """``compute()``'s result for ``key``, computed once for all concurrent callers.

        Raises:
          whatever ``compute`` raises (to every caller waiting on it); concurrent.futures.TimeoutError when a
          waiting caller waits longer than ``timeout_s``.
        """
        with self._lock:
            future = self._inflight.get(key)
            leader = future is None
            if leader:
                future = Future()
                self._inflight[key] = future
            else:
                self.shared += 1
        if not leader:
            return future.result(timeout=timeout_s)
        try:
            value = compute()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._inflight)
