"""A large export streams: the server's peak memory stays far below the image's size.

The engine runs in a child process (the memory measured is the server's, not the test's): a 4000 x 4000 x 8-band
float32 image (488 MiB of pixels) is exported to Drive as a COG through the ee client. Before streaming, this
export held every band and mask in memory plus the encoded file (over 1 GiB). ``benchmarks/large_export.py``
runs the 20000 x 20000 x 64-band case.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import rasterio
from engine_process import EXPORTED_FILE, constant_export, engine_process, memory_mib, wait_for

SIZE, BANDS = 4000, 8
IMAGE_MIB = SIZE * SIZE * BANDS * 4 / 2**20
# The streaming writer holds a few 512 x 512 blocks and GDAL's cache (256 MiB at most): 350 MiB above the idle
# server is generous for it, and less than the image alone.
PEAK_ABOVE_IDLE_MIB = 350


@pytest.fixture()
def server_process(tmp_path):
    with engine_process(tmp_path / "catalog", tmp_path / "drive") as proc:
        yield proc, tmp_path / "drive"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_large_export_streams_in_bounded_memory(server_process):
    proc, drive = server_process
    values, task = constant_export(SIZE, BANDS)
    idle = memory_mib(proc.pid)["VmHWM"]
    task.start()
    status = wait_for(task, poll_s=0.5, timeout_s=600)
    assert status["state"] == "COMPLETED", status
    peak = memory_mib(proc.pid)["VmHWM"]
    print(f"server peak RSS {peak:.0f} MiB, idle {idle:.0f} MiB, image {IMAGE_MIB:.0f} MiB")
    assert peak - idle < PEAK_ABOVE_IDLE_MIB, (peak, idle)
    with rasterio.open(drive / EXPORTED_FILE) as ds:
        assert (ds.width, ds.height, ds.count) == (SIZE, SIZE, BANDS)
        assert ds.overviews(1)  # a COG: overviews, tiled
        assert ds.block_shapes[0] == (512, 512)
        for band in (1, BANDS):
            corner = ds.read(band, window=((SIZE - 3, SIZE), (SIZE - 700, SIZE - 690)))
            np.testing.assert_array_equal(corner, np.full((3, 10), values[band - 1], np.float32))
        with rasterio.open(drive / EXPORTED_FILE, overview_level=0) as overview:
            np.testing.assert_array_equal(overview.read(2, window=((0, 4), (0, 4))), np.full((4, 4), values[1]))
