"""Bounded concurrency with retry and exponential backoff on Earth Engine's quota and transient errors."""

from __future__ import annotations

import concurrent.futures
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["is_retryable", "call_with_retry", "bounded_map", "DEFAULT_RETRIES"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_RETRIES = 6
# Earth Engine answers 429 for too many concurrent requests (per-user concurrency limit, 40 by default) and for
# request-rate quota; 500/502/503/504 and deadline errors are transient. Matched in lower case.
_RETRYABLE_MESSAGES = (
    "429",
    "too many concurrent",
    "too many requests",
    "quota exceeded",
    "rate limit",
    "resource_exhausted",
    "503",
    "502",
    "504",
    "service unavailable",
    "internal error",
    "deadline exceeded",
    "timed out",
    "connection reset",
    "connection aborted",
)
# Size-limit errors also say "exceeded"; they never pass by waiting.
_PERMANENT_MESSAGES = ("payload size", "must be less than or equal to", "memory limit", "too large")


def is_retryable(exc: BaseException) -> bool:
    """True for quota (429, "Too many concurrent aggregations") and transient server or network errors."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    import ee

    if not isinstance(exc, ee.EEException):
        return False
    message = str(exc).lower()
    if any(p in message for p in _PERMANENT_MESSAGES):
        return False
    return any(p in message for p in _RETRYABLE_MESSAGES)


def call_with_retry(
    fn: Callable[[], R],
    *,
    retries: int = DEFAULT_RETRIES,
    base_delay_s: float = 1.0,
    max_delay_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> R:
    """Calls ``fn`` until it succeeds, retrying retryable errors with full-jitter exponential backoff.

    The k-th retry waits a uniform random time in [0, min(max_delay_s, base_delay_s * 2**k)].

    Raises:
      The last error when it is not retryable or ``retries`` retries failed.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_retryable(exc) or attempt >= retries:
                raise
            delay = rng.uniform(0.0, min(max_delay_s, base_delay_s * 2**attempt))
            log.info("retryable error (attempt %d of %d), retrying in %.2f s: %s", attempt + 1, retries, delay, exc)
            sleep(delay)
            attempt += 1


def bounded_map(fn: Callable[[T], R], items: Iterable[T], *, max_workers: int = 8,
                ordered: bool = False) -> Iterator[tuple[T, R]]:
    """Applies ``fn`` to ``items`` on ``max_workers`` threads, yielding (item, result) pairs.

    At most ``2 * max_workers`` items are in flight (running or finished but not yet yielded), so a generator of
    millions of items is not materialised. ``ordered=False`` yields results as they finish; ``ordered=True``
    yields them in input order (a slow item holds back the ones after it, but they keep running).
    When ``fn`` raises, the items not yet started are cancelled and the error propagates.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be >= 1; got {max_workers!r}")
    iterator = iter(items)
    window = 2 * max_workers
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_workers) as pool:
        pending: dict[concurrent.futures.Future[R], T] = {}  # insertion order is submission order
        try:
            for item in iterator:
                pending[pool.submit(fn, item)] = item
                if len(pending) >= window:
                    break
            while pending:
                if ordered:
                    head = next(iter(pending))
                    concurrent.futures.wait([head])
                    done = [head]
                else:
                    done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    result = future.result()  # raises fn's error
                    yield item, result
                    nxt = next(iterator, _SENTINEL)
                    if nxt is not _SENTINEL:
                        pending[pool.submit(fn, nxt)] = nxt  # type: ignore[arg-type]
        finally:
            for future in pending:
                future.cancel()


_SENTINEL = object()
