"""A local Earth Engine in a child process, so that its memory is the server's alone, and the large constant-image
export that tests/local/test_large_export.py and benchmarks/large_export.py run on it::

    from engine_process import EXPORTED_FILE, constant_export, engine_process, memory_mib, wait_for

    with engine_process(tmp_path / "catalog", tmp_path / "drive") as proc:  # ``ee`` is initialised against it
        values, task = constant_export(4000, 8)
        idle = memory_mib(proc.pid)["VmHWM"]
        task.start()
        status = wait_for(task, poll_s=0.5)
    # the COG is tmp_path / "drive" / EXPORTED_FILE

(tests/ is on ``sys.path`` in the tests because it holds the root conftest.py; the benchmark puts it there.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["CRS", "EXPORTED_FILE", "engine_process", "memory_mib", "constant_export", "wait_for", "kill_when"]

CRS = "EPSG:32631"
EXPORTED_FILE = "large.tif"
# Enough for a 20000 x 20000 export (the benchmark's default), far over the tests' 4000 x 4000.
MAX_PIXELS = 1e10
FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED")

_SERVER = textwrap.dedent("""
    import sys
    from aef_ee.local.server import LocalServer

    server = LocalServer(sys.argv[1], settings={"drive_dir": sys.argv[2]})
    print(server.url_with_token, flush=True)
    server.serve_forever()
""")


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (the peak RSS) of a process, in MiB, from ``/proc/<pid>/status`` (Linux)."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


@contextlib.contextmanager
def engine_process(catalog_root: str | os.PathLike[str], drive_dir: str | os.PathLike[str]
                   ) -> Iterator[subprocess.Popen[str]]:
    """A :class:`~aef_ee.local.server.LocalServer` on ``catalog_root`` in a child process, exporting to Drive in
    ``drive_dir``; ``ee`` is initialised against it. Yields the process; kills it on exit."""
    from aef_ee.backend import initialize

    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(catalog_root), str(drive_dir)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        initialize("local", url=proc.stdout.readline().strip())
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def constant_export(size: int, bands: int) -> tuple[list[float], Any]:
    """A ``size`` x ``size`` x ``bands`` float32 ``ee.Image.constant`` (band ``k`` is ``0.5 + k``) at 10 m in UTM 31N,
    as a Cloud-Optimized GeoTIFF Drive export to :data:`EXPORTED_FILE`, not started.

    The server has run a request on the image first, so that it has imported what an export uses and its memory
    measured now is its idle floor.

    Returns:
      (the band values, the task).
    """
    import ee

    values = [0.5 + k for k in range(bands)]
    image = ee.Image.constant(values).toFloat()
    region = ee.Geometry.Rectangle([500000, 5600000 - size * 10, 500000 + size * 10, 5600000], CRS, False)
    assert image.bandNames().size().getInfo() == bands
    task = ee.batch.Export.image.toDrive(image, description="large", fileNamePrefix=EXPORTED_FILE.removesuffix(".tif"),
                                         region=region, scale=10, crs=CRS, maxPixels=MAX_PIXELS,
                                         formatOptions={"cloudOptimized": True})
    return values, task


def wait_for(task: Any, *, poll_s: float, timeout_s: float | None = None) -> dict[str, Any]:
    """Polls ``task`` every ``poll_s`` seconds until it ends or ``timeout_s`` passes; returns its last status."""
    deadline = None if timeout_s is None else time.time() + timeout_s
    while (status := task.status())["state"] not in FINAL_STATES and (deadline is None or time.time() < deadline):
        time.sleep(poll_s)
    return status


def kill_when(script: str, done: Callable[[], bool], *, cwd: str | os.PathLike[str],
              timeout_s: float = 300.0) -> None:
    """Runs the Python ``script`` in a child process and SIGKILLs it as soon as ``done()`` holds (polled every
    50 ms): a job killed half-way, with no chance to clean up.

    Raises:
      AssertionError: the child ended (or ``timeout_s`` passed) before ``done()`` held; the message holds the end
        of its output.
    """
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(cwd)})
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None and not done():
            time.sleep(0.05)
        running = proc.poll() is None and done()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        assert running, f"the job ended or timed out before it was killed; its output:\n{output[-3000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
