"""Group commit of concurrent reads (aef_ee.api.batching): fewer requests, every caller its own results."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from aef_ee.api.batching import GroupCommit


def test_callers_arriving_during_a_request_share_the_next_one() -> None:
    first_started, release = threading.Event(), threading.Event()
    batches: list[tuple[str, list[int]]] = []

    def fetch(key: str, items: list[int]) -> list[int]:
        batches.append((key, list(items)))
        if len(batches) == 1:  # hold the first request until every other caller has queued
            first_started.set()
            assert release.wait(10)
        return [10 * item for item in items]

    commit = GroupCommit(fetch)
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        first = pool.submit(commit, "2024", [0])
        assert first_started.wait(10)
        others = [pool.submit(commit, "2024", [i, i + 100]) for i in range(1, 9)]
        while sum(len(q.items) for q in commit._queues.get("2024", [])) < 16:  # all eight callers queued
            threading.Event().wait(0.01)
        release.set()
        assert first.result(10) == [0]
        assert [f.result(10) for f in others] == [[10 * i, 10 * (i + 100)] for i in range(1, 9)]
    assert commit.requests == 2  # the first caller's own request, then one for the eight that queued behind it
    assert sorted(batches[1][1]) == sorted(x for i in range(1, 9) for x in (i, i + 100))


def test_keys_are_batched_apart_and_a_lone_caller_goes_straight_through() -> None:
    seen: list[tuple[int, list[str]]] = []
    commit = GroupCommit(lambda key, items: seen.append((key, items)) or [f"{key}:{i}" for i in items])
    assert commit(2023, ["a"]) == ["2023:a"]
    assert commit(2024, ["b", "c"]) == ["2024:b", "2024:c"]
    assert seen == [(2023, ["a"]), (2024, ["b", "c"])]


def test_a_failed_request_fails_each_of_its_callers_and_the_next_ones_still_run() -> None:
    calls = []

    def fetch(key: str, items: list[int]) -> list[int]:
        calls.append(items)
        if -1 in items:
            raise ValueError("bad point in the batch")
        return items

    commit = GroupCommit(fetch)
    with pytest.raises(ValueError, match="bad point"):
        commit("k", [1, -1])
    assert commit("k", [2]) == [2]
    assert commit._busy == set() and commit._queues == {}


def test_max_items_splits_a_queue_first_come_first_served() -> None:
    gate, started = threading.Event(), threading.Event()
    sizes: list[int] = []

    def fetch(key: str, items: list[int]) -> list[int]:
        sizes.append(len(items))
        if len(sizes) == 1:
            started.set()
            assert gate.wait(10)
        return items

    commit = GroupCommit(fetch, max_items=3)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        lead = pool.submit(commit, "k", [0])
        assert started.wait(10)
        rest = [pool.submit(commit, "k", [i, i]) for i in range(1, 6)]  # 10 items behind a 3-item limit
        while sum(len(q.items) for q in commit._queues.get("k", [])) < 10:
            threading.Event().wait(0.01)
        gate.set()
        assert lead.result(10) == [0] and [f.result(10) for f in rest] == [[i, i] for i in range(1, 6)]
    assert sizes[0] == 1 and all(size <= 3 for size in sizes) and sum(sizes) == 11
    with pytest.raises(ValueError, match="max_items"):
        GroupCommit(lambda k, i: i, max_items=0)


def test_many_callers_each_get_their_own_results_and_the_line_ends_free() -> None:
    """64 threads x 40 calls over two keys: every caller its own values, no caller lost between a batch's end and
    the hand-over of the lead, and the line free at the end."""
    commit = GroupCommit(lambda key, items: [(key, item * 2) for item in items], max_items=16)

    def caller(i: int) -> bool:
        ok = True
        for j in range(40):
            key = (i + j) % 2
            items = [i * 1000 + j, -(i * 1000 + j)]
            ok &= commit(key, items) == [(key, item * 2) for item in items]
        return ok

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        assert all(pool.map(caller, range(64)))
    assert commit._busy == set() and commit._queues == {}
