"""Retry with backoff on Earth Engine's quota and transient errors; bounded concurrency."""

from __future__ import annotations

import random
import threading
import time

import ee
import pytest

from aef_ee.videos.export.concurrency import bounded_map, call_with_retry, is_retryable


def test_retryable_messages() -> None:
    assert is_retryable(ee.EEException("Too many concurrent aggregations."))
    assert is_retryable(ee.EEException("<HttpError 429 when requesting ... returned \"Quota exceeded\">"))
    assert is_retryable(ee.EEException("Service unavailable (503)"))
    assert is_retryable(ConnectionError("reset"))
    assert not is_retryable(ee.EEException("Image.select: Pattern 'B99' did not match any bands."))
    assert not is_retryable(ee.EEException("Total request size (60000000 bytes) must be less than or equal to "
                                           "50331648 bytes."))
    assert not is_retryable(ValueError("429"))  # only ee and network errors are retried


def test_backoff_retries_then_succeeds() -> None:
    delays: list[float] = []
    attempts = iter([ee.EEException("Too many concurrent aggregations."),
                     ee.EEException("HttpError 429 Quota exceeded"), None])

    def flaky() -> str:
        exc = next(attempts)
        if exc is not None:
            raise exc
        return "pixels"

    result = call_with_retry(flaky, base_delay_s=1.0, sleep=delays.append, rng=random.Random(0))
    assert result == "pixels" and len(delays) == 2
    assert 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0  # full jitter under 1 s, then under 2 s


def test_gives_up_after_retries_and_never_retries_permanent_errors() -> None:
    calls = []

    def always_429() -> None:
        calls.append(1)
        raise ee.EEException("Too many concurrent aggregations.")

    with pytest.raises(ee.EEException, match="concurrent"):
        call_with_retry(always_429, retries=3, sleep=lambda s: None)
    assert len(calls) == 4
    calls.clear()

    def bad_band() -> None:
        calls.append(1)
        raise ee.EEException("Pattern 'B99' did not match any bands.")

    with pytest.raises(ee.EEException, match="B99"):
        call_with_retry(bad_band, sleep=lambda s: None)
    assert len(calls) == 1


def test_bounded_map_limits_concurrency_and_yields_everything() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return i * i

    out = dict(bounded_map(work, range(40), max_workers=3))
    assert out == {i: i * i for i in range(40)} and peak <= 3


def test_bounded_map_propagates_the_first_error() -> None:
    def work(i: int) -> int:
        if i == 5:
            raise KeyError("site 5")
        return i

    seen = []
    with pytest.raises(KeyError, match="site 5"):
        for item, _ in bounded_map(work, range(100), max_workers=2):
            seen.append(item)
    assert len(seen) < 100


def test_bounded_map_ordered_keeps_input_order() -> None:
    def work(i: int) -> int:
        time.sleep(0.02 if i % 3 == 0 else 0.001)  # early items finish late
        return -i

    out = list(bounded_map(work, range(30), max_workers=4, ordered=True))
    assert out == [(i, -i) for i in range(30)]
