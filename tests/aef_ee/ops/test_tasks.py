"""ops.wait: a progress bar that moves with the operation's reported progress, and polls that back off."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from tqdm.std import tqdm as std_tqdm

from aef_ee import ops
from aef_ee.errors import AefValueError, ExportError
from aef_ee.ops import tasks

DEM = "COPERNICUS/DEM/GLO30/BE_worldcereal_31UFS"


class RecordingBar(std_tqdm):
    """A tqdm bar that keeps every value it showed (the last one made is ``RecordingBar.last``)."""

    last: RecordingBar | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown = [self.n]
        RecordingBar.last = self

    def update(self, n: float = 1) -> bool | None:
        result = super().update(n)
        self.shown.append(self.n)
        return result


@pytest.fixture()
def recording_bar(monkeypatch: pytest.MonkeyPatch) -> type[RecordingBar]:
    RecordingBar.last = None
    monkeypatch.setattr("tqdm.auto.tqdm", RecordingBar)
    return RecordingBar


def _count_polls(monkeypatch: pytest.MonkeyPatch, ee: Any) -> list[str]:
    calls: list[str] = []
    real = ee.data.getOperation

    def counting(name: str) -> Any:
        calls.append(name)
        return real(name)

    monkeypatch.setattr(ee.data, "getOperation", counting)
    return calls


def test_wait_on_the_local_engine_ends_at_100_percent_with_few_polls(ee_local, monkeypatch, recording_bar):
    ee = ee_local
    assert tasks._poll_schedule(None, None) == tasks.LOCAL_POLL_S  # the client points at 127.0.0.1
    image = ee.Image(DEM)
    region = image.geometry()
    task = ops.export_image_to_drive(image, region, description="dem_progress", folder="aef-tests-progress",
                                     scale=30, start=True, wait_for=False)
    polls = _count_polls(monkeypatch, ee)
    started = time.monotonic()
    status = ops.wait(task, timeout=120, progress=True)
    elapsed = time.monotonic() - started

    assert status["state"] == "COMPLETED"
    bar = recording_bar.last
    assert bar is not None and bar.total == 100
    assert bar.shown[-1] == 100
    assert bar.shown == sorted(bar.shown)  # never moves back
    assert "dem_progress" in bar.desc
    # wait's polls (status() at the end is the task's own read): the first, then one per interval of the local
    # schedule 0.1, 0.15, 0.225, ... capped at 1 s, so at most about 7 + elapsed seconds of them.
    operation = task.operation_name
    assert polls.count(operation) >= 2
    assert polls.count(operation) <= 9 + elapsed, (len(polls), elapsed)


def _scripted_operation(progress_steps: list[float], *, error: str | None = None) -> Any:
    """getOperation answers for a task that reports ``progress_steps`` then finishes (or fails with ``error``)."""
    name = "projects/p/operations/TEST"

    def answers() -> Any:
        for p in progress_steps:
            yield {"name": name, "done": False,
                   "metadata": {"state": "RUNNING", "description": "scripted", "progress": p}}
        final: dict[str, Any] = {"name": name, "done": True,
                                 "metadata": {"state": "FAILED" if error else "SUCCEEDED", "description": "scripted",
                                              "progress": progress_steps[-1] if error else 1.0}}
        if error:
            final["error"] = {"code": 3, "message": error}
        while True:
            yield final

    return name, answers()


class ScriptedTask:
    def __init__(self, name: str, *, failed: str | None = None) -> None:
        self.operation_name = name
        self.id = "TEST"
        self._failed = failed

    def status(self) -> dict[str, Any]:
        if self._failed:
            return {"state": "FAILED", "description": "scripted", "error_message": self._failed}
        return {"state": "COMPLETED", "description": "scripted", "destination_uris": ["file:///x.tif"]}


def _script(monkeypatch: pytest.MonkeyPatch, steps: list[float], *, error: str | None = None,
            on_earth_engine: bool = True) -> tuple[ScriptedTask, list[float]]:
    import ee

    name, answers = _scripted_operation(steps, error=error)
    monkeypatch.setattr(ee.data, "getOperation", lambda n: next(answers))
    monkeypatch.setattr(tasks, "_talks_to_this_machine", lambda: not on_earth_engine)
    sleeps: list[float] = []
    monkeypatch.setattr(tasks.time, "sleep", sleeps.append)
    return ScriptedTask(name, failed=error), sleeps


def test_the_bar_follows_the_operations_progress_and_polls_back_off_on_earth_engine(monkeypatch, recording_bar):
    task, sleeps = _script(monkeypatch, [0.0, 0.25, 0.6, 0.6, 0.9])

    status = ops.wait(task)

    assert status["state"] == "COMPLETED"
    bar = recording_bar.last
    assert [round(v) for v in dict.fromkeys(bar.shown)] == [0, 25, 60, 90, 100]
    assert sleeps == [2.0, 3.0, 4.5, 6.75, 10.125]  # Earth Engine's schedule: from 2 s, 1.5 times longer each time


def test_the_intervals_grow_to_the_longest_and_stay_there():
    assert list(itertools.islice(tasks._intervals(2.0, 30.0), 9))[-3:] == [22.78125, 30.0, 30.0]
    # An hour-long Earth Engine export: about 130 polls (0.5 s polling made 7,200).
    elapsed, polls = 0.0, 0
    for interval in tasks._intervals(*tasks.EARTH_ENGINE_POLL_S):
        if elapsed >= 3600:
            break
        elapsed, polls = elapsed + interval, polls + 1
    assert polls < 135


def test_explicit_intervals_win_and_bad_ones_are_refused(monkeypatch, recording_bar):
    task, sleeps = _script(monkeypatch, [0.1, 0.2, 0.3], on_earth_engine=True)
    ops.wait(task, poll_s=0.5, max_poll_s=0.5, progress=False)
    assert sleeps == [0.5, 0.5, 0.5]
    with pytest.raises(AefValueError, match="poll_s=0"):
        ops.wait(task, poll_s=0)


def test_a_failed_task_raises_with_the_servers_message(monkeypatch, recording_bar):
    task, _ = _script(monkeypatch, [0.0, 0.4], error="Too many pixels")
    with pytest.raises(ExportError, match="failed: Too many pixels"):
        ops.wait(task)
    assert recording_bar.last.shown[-1] == 40  # a failed task's bar does not jump to 100


def test_timeout_says_how_far_the_task_got(monkeypatch, recording_bar):
    import ee

    name, _ = _scripted_operation([0.5])
    running = {"name": name, "done": False, "metadata": {"state": "RUNNING", "description": "slow", "progress": 0.5}}
    monkeypatch.setattr(ee.data, "getOperation", lambda n: running)
    with pytest.raises(ExportError, match="did not finish within 0.2 s; it is RUNNING, 50% done"):
        ops.wait(ScriptedTask(name), timeout=0.2, poll_s=0.05, progress=False)


def test_a_task_that_was_never_started_is_refused():
    class Unstarted:
        id = None
        name = None
        operation_name = None

    with pytest.raises(AefValueError, match="has not been started"):
        ops.wait(Unstarted())
