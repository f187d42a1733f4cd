"""A large export streams: the server's peak memory stays far below the image's size.

The engine runs in a child process (the memory measured is the server's, not the test's): a 4000 x 4000 x 8-band
float32 image (488 MiB of pixels) is exported to Drive as a COG through the ee client. Before streaming, this
export held every band and mask in memory plus the encoded file (over 1 GiB). ``benchmarks/large_export.py``
runs the 20000 x 20000 x 64-band case.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import rasterio

from aef_ee.backend import initialize

CRS = "EPSG:32631"
SIZE, BANDS = 4000, 8
IMAGE_MIB = SIZE * SIZE * BANDS * 4 / 2**20
# The streaming writer holds a few 512 x 512 blocks and GDAL's cache (256 MiB at most): 350 MiB above the idle
# server is generous for it, and less than the image alone.
PEAK_ABOVE_IDLE_MIB = 350

SERVER = textwrap.dedent("""
    import sys
    from aef_ee.local.server import LocalServer

    server = LocalServer(sys.argv[1], settings={"drive_dir": sys.argv[2]})
    print(server.url_with_token, flush=True)
    server.serve_forever()
""")


def _memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


@pytest.fixture()
def server_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path / "catalog"), str(tmp_path / "drive")],
                            stdout=subprocess.PIPE, text=True)
    try:
        initialize("local", url=proc.stdout.readline().strip())
        yield proc, tmp_path / "drive"
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_large_export_streams_in_bounded_memory(server_process):
    import ee

    proc, drive = server_process
    values = [0.5 + k for k in range(BANDS)]
    image = ee.Image.constant(values).toFloat()
    region = ee.Geometry.Rectangle([500000, 5600000 - SIZE * 10, 500000 + SIZE * 10, 5600000], CRS, False)
    assert image.bandNames().size().getInfo() == BANDS  # the server has imported and run what an export uses
    idle = _memory_mib(proc.pid)["VmHWM"]
    task = ee.batch.Export.image.toDrive(image, description="large", fileNamePrefix="large", region=region,
                                         scale=10, crs=CRS, maxPixels=1e9, formatOptions={"cloudOptimized": True})
    task.start()
    deadline = time.time() + 600
    while (status := task.status())["state"] not in ("COMPLETED", "FAILED", "CANCELLED") and time.time() < deadline:
        time.sleep(0.5)
    assert status["state"] == "COMPLETED", status
    peak = _memory_mib(proc.pid)["VmHWM"]
    print(f"server peak RSS {peak:.0f} MiB, idle {idle:.0f} MiB, image {IMAGE_MIB:.0f} MiB")
    assert peak - idle < PEAK_ABOVE_IDLE_MIB, (peak, idle)
    with rasterio.open(drive / "large.tif") as ds:
        assert (ds.width, ds.height, ds.count) == (SIZE, SIZE, BANDS)
        assert ds.overviews(1)  # a COG: overviews, tiled
        assert ds.block_shapes[0] == (512, 512)
        for band in (1, BANDS):
            corner = ds.read(band, window=((SIZE - 3, SIZE), (SIZE - 700, SIZE - 690)))
            np.testing.assert_array_equal(corner, np.full((3, 10), values[band - 1], np.float32))
        with rasterio.open(drive / "large.tif", overview_level=0) as overview:
            np.testing.assert_array_equal(overview.read(2, window=((0, 4), (0, 4))), np.full((4, 4), values[1]))
