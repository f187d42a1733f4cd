"""Per-request budgets of the local engine: compute time and memory, refused with Earth Engine's wording.

A request runs inside :func:`request_budget` (the server sets it on the worker thread that computes it). Code that
may run long calls :func:`checkpoint` (the evaluator does before every algorithm call), which raises
:class:`~aef_ee.local.errors.ComputationTimedOut` ("Computation timed out.") past the deadline and
:class:`~aef_ee.local.errors.MemoryLimitExceeded` ("User memory limit exceeded.") when the process's resident
memory is over its ceiling. Algorithms that grow values check the size *before* allocating:
:func:`check_list_length`, :func:`check_string_length`. Python cannot stop a thread, so a single numpy or GDAL call
is not interrupted: those are bounded by the pixel-count limits of computePixels and tiles instead.

Outside a request (an export running on the operations pool, a test calling ``evaluate``) there is no budget: only
the size checks apply.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import time
from collections.abc import Iterator

from aef_ee.local.errors import ComputationTimedOut, InvalidArgument, MemoryLimitExceeded

__all__ = [
    "Limits",
    "Budget",
    "request_budget",
    "current_budget",
    "checkpoint",
    "remaining_s",
    "check_list_length",
    "check_string_length",
    "check_count",
    "check_value_size",
    "value_bytes",
    "resident_bytes",
    "MAX_REQUEST_BYTES",
    "MAX_LIST_LENGTH",
    "MAX_STRING_LENGTH",
    "MAX_VALUE_BYTES",
]

# Earth Engine refuses request bodies over 10 MB ("Request payload size exceeds the limit: 10485760 bytes.").
MAX_REQUEST_BYTES = 10 * 2**20
# Earth Engine's interactive requests (getInfo, computePixels, tiles) time out after about five minutes.
COMPUTE_TIMEOUT_S = 300.0
# A regular expression over an Earth Engine string takes microseconds; seconds means catastrophic backtracking.
REGEX_TIMEOUT_S = 5.0
# A list of a million numbers is ~36 MB in Python and ~7 MB of JSON: far beyond what getInfo answers usefully,
# and small enough that a few concurrent requests cannot exhaust memory.
MAX_LIST_LENGTH = 1_000_000
# One list or dictionary value, counting nested contents as often as they appear (List.repeat of a list shares
# it, but getInfo, flatten or equality walk every copy): 16 bytes a number, the characters of a string.
MAX_VALUE_BYTES = 64 * 2**20
# Ten million characters: the size of Earth Engine's whole request limit.
MAX_STRING_LENGTH = 10 * 2**20
# The process's resident memory may grow to this share of physical memory before requests are refused.
MEMORY_SHARE = 0.8
# How often checkpoint() reads the resident memory (reading /proc costs ~10 us; a checkpoint ~0.1 us).
_RSS_INTERVAL_S = 0.05


def _physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system that reports it
        return None


def _default_memory_limit() -> int | None:
    total = _physical_memory_bytes()
    return int(total * MEMORY_SHARE) if total else None


def _default_workers() -> int:
    # Requests mix Python (one core, the GIL) with numpy/GDAL/PNG work that releases it; one worker more than
    # the cores keeps the cores busy while one waits on a file.
    return max(2, min(16, (os.cpu_count() or 1) + 1))


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much one server lets requests use.

    Attributes:
      compute_timeout_s: a request's compute-time budget (seconds from when a worker starts it).
      regex_timeout_s: the most one regular-expression call may take (seconds), within the request's budget.
      memory_limit_bytes: the process's resident-memory ceiling past which requests are refused (None: none).
      max_request_bytes: the largest request body (bytes), checked while the body streams in.
      workers: compute workers (threads that evaluate expressions and render pixels).
      queue: requests that may wait for a worker; one more is answered 429 at once.
      max_connections: connections served at once; more wait in the listen backlog.
      read_timeout_s: the time a client has to send a request's headers and body once it has started it.
      idle_timeout_s: how long an idle keep-alive connection is kept open.
      write_timeout_s: the time a client has to take the answer.
    """

    compute_timeout_s: float = COMPUTE_TIMEOUT_S
    regex_timeout_s: float = REGEX_TIMEOUT_S
    memory_limit_bytes: int | None = dataclasses.field(default_factory=_default_memory_limit)
    max_request_bytes: int = MAX_REQUEST_BYTES
    workers: int = dataclasses.field(default_factory=_default_workers)
    queue: int = -1
    max_connections: int = 256
    read_timeout_s: float = 60.0
    idle_timeout_s: float = 120.0
    write_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.queue < 0:
            # A short queue: a request that would wait behind more than two others per worker is better answered
            # 429 at once, which the client retries with back-off. benchmarks/load.py: with 3 workers on 2 cores, a
            # queue of 6 kept the served tiles' p95 at ~8x a lone tile's latency, a queue of 12 at ~19x.
            object.__setattr__(self, "queue", 2 * self.workers)
        for name in ("compute_timeout_s", "regex_timeout_s", "read_timeout_s", "idle_timeout_s",
                     "write_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive; got {getattr(self, name)!r}.")
        if self.workers < 1 or self.max_connections < 1 or self.max_request_bytes < 0:
            raise ValueError(f"Limits: workers, max_connections must be >= 1 and max_request_bytes >= 0; got "
                             f"{self.workers}, {self.max_connections}, {self.max_request_bytes}.")


@dataclasses.dataclass
class Budget:
    """The budget of the request being computed on this thread."""

    deadline: float  # time.monotonic() seconds
    regex_timeout_s: float
    memory_limit_bytes: int | None
    _next_rss_check: float = 0.0

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("aef_ee_local_budget", default=None)


@contextlib.contextmanager
def request_budget(limits: Limits) -> Iterator[Budget]:
    """Runs the ``with`` block under a fresh budget of ``limits`` (the deadline starts now)."""
    budget = Budget(time.monotonic() + limits.compute_timeout_s, limits.regex_timeout_s, limits.memory_limit_bytes)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def current_budget() -> Budget | None:
    """The budget of the request on this thread; None outside a request."""
    return _BUDGET.get()


def remaining_s() -> float | None:
    """Seconds left in the current request's budget (None outside a request)."""
    budget = _BUDGET.get()
    return None if budget is None else budget.remaining_s()


def checkpoint() -> None:
    """Raises if the current request is past its deadline or the process over its memory ceiling.

    Raises:
      ComputationTimedOut: past the deadline ("Computation timed out.").
      MemoryLimitExceeded: resident memory over the ceiling ("User memory limit exceeded.").
    """
    budget = _BUDGET.get()
    if budget is None:
        return
    now = time.monotonic()
    if now > budget.deadline:
        raise ComputationTimedOut()
    if budget.memory_limit_bytes is not None and now >= budget._next_rss_check:
        budget._next_rss_check = now + _RSS_INTERVAL_S
        rss = resident_bytes()
        if rss is not None and rss > budget.memory_limit_bytes:
            raise MemoryLimitExceeded()


def check_list_length(n: int, where: str) -> None:
    """Refuses to build a list of ``n`` elements beyond :data:`MAX_LIST_LENGTH` (call it before allocating).

    Raises:
      MemoryLimitExceeded: ``n`` is over the limit; the message names ``where`` and ``n``.
    """
    if n > MAX_LIST_LENGTH:
        raise MemoryLimitExceeded(
            f"User memory limit exceeded. ({where}: a list of {n} elements; the local engine allows "
            f"{MAX_LIST_LENGTH}.)")


def check_string_length(n: int, where: str) -> None:
    """Refuses to build a string of ``n`` characters beyond :data:`MAX_STRING_LENGTH` (call it before allocating).

    Raises:
      MemoryLimitExceeded: ``n`` is over the limit; the message names ``where`` and ``n``.
    """
    if n > MAX_STRING_LENGTH:
        raise MemoryLimitExceeded(
            f"User memory limit exceeded. ({where}: a string of {n} characters; the local engine allows "
            f"{MAX_STRING_LENGTH}.)")


_SCALARS = frozenset({int, float, bool, type(None)})


def value_bytes(value: object, stop_at: int = MAX_VALUE_BYTES) -> int:
    """The size of ``value`` as a tree (shared lists counted once per appearance): 16 bytes a number, a
    string's characters, 8 bytes a list slot or dictionary entry; other engine objects 64. The walk visits each
    distinct list once (~30 ns an element) and stops once past ``stop_at``."""
    known: dict[int, int] = {}

    def size(item: object) -> int:
        kind = type(item)
        if kind in _SCALARS:
            return 16
        if kind is str:
            return 16 + len(item)  # type: ignore[arg-type]
        if isinstance(item, (list, tuple)):
            key = id(item)
            if key not in known:
                known[key] = 0  # a list that contains itself counts once
                total = 16 + 24 * len(item)  # as if every element were a number
                for child in item:
                    if type(child) not in _SCALARS:
                        total += size(child) - 16
                        if total > stop_at:
                            break
                known[key] = total
            return known[key]
        if isinstance(item, dict):
            key = id(item)
            if key not in known:
                known[key] = 0
                total = 16
                for name, child in item.items():
                    total += 8 + size(name) + size(child)
                    if total > stop_at:
                        break
                known[key] = total
            return known[key]
        if isinstance(item, str):
            return 16 + len(item)
        nbytes = getattr(item, "nbytes", None)
        if isinstance(nbytes, int):
            return 16 + nbytes
        return 16 if isinstance(item, (int, float)) else 64

    try:
        return size(value)
    except RecursionError:
        return stop_at + 1


def check_value_size(value: object, where: str) -> None:
    """Refuses a list or dictionary larger than :data:`MAX_VALUE_BYTES` as a tree (see :func:`value_bytes`).

    Raises:
      MemoryLimitExceeded: the message names ``where``.
    """
    if value_bytes(value) > MAX_VALUE_BYTES:
        raise MemoryLimitExceeded(
            f"User memory limit exceeded. ({where}: a value larger than {MAX_VALUE_BYTES // 2**20} MB, counting "
            f"repeated elements every time they appear.)")


def check_count(value: float, where: str) -> int:
    """An element count from an argument: an integer in [0, MAX_LIST_LENGTH].

    Raises:
      InvalidArgument: negative or not finite.
      MemoryLimitExceeded: over :data:`MAX_LIST_LENGTH`.
    """
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidArgument(f"{where}: count must be a finite number; got {value!r}.")
    if value < 0:
        raise InvalidArgument(f"{where}: count must not be negative; got {value!r}.")
    check_list_length(int(value), where)
    return int(value)


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """The process's resident memory in bytes (Linux ``/proc/self/statm``); None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None
