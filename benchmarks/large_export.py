"""Peak memory and speed of a large image export through the local Earth Engine (issue #16: exports stream).

Claim measured: a 20000 x 20000 x 64-band float32 export (95 GiB of pixels) completes as a Cloud-Optimized GeoTIFF
with the server's peak RSS under 1 GiB. The server runs in a child process and its peak RSS is the kernel's VmHWM;
the floor is the same server's RSS when idle, measured in this run. Speed is printed as a ratio to a floor measured
in the same run: rasterio writing the same constant blocks to a DEFLATE GeoTIFF directly (no engine, no overviews),
on a 1/16 slice and scaled up.

The image is computed (``ee.Image.constant``), so no input file is needed; the export goes to a temporary "Drive".

Measured on the shared 2-core development machine (load average 7-14 from other work), the default run: the COG
(151 MiB, overviews 2..64) in 1390 s; server peak RSS 458 MiB (idle 112 MiB); the floor 254 s, export / floor 5.5
(the export also computes the image, writes 1/3 more pixels of overviews and compresses twice: ZSTD-1, then
DEFLATE). Before streaming, a 2000 x 2000 x 64 export peaked at 2.4 GB and 6000 x 6000 failed with MemoryError.

Run::

    python benchmarks/large_export.py                        # 20000 x 20000 x 64 (tens of minutes on 2 cores)
    python benchmarks/large_export.py --size 4000 --bands 8  # a quick run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# The tests' helper that runs the engine in a child process and the export on it (tests/engine_process.py); appended,
# so that tests/ shadows nothing.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from engine_process import (
    CRS, EXPORTED_FILE, constant_export, engine_process, memory_mib, wait_for)

LIMIT_MIB = 1024


def floor_seconds(size: int, bands: int, workdir: Path) -> float:
    """rasterio writing ``size`` x ``size`` x ``bands`` constant float32 blocks (512 x 512, DEFLATE, band
    interleaved, no overviews), timed on a quarter-size square and scaled by 16."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    side = max(512, size // 4)
    block = np.full((bands, 512, 512), 0.5, np.float32)
    profile = dict(driver="GTiff", width=side, height=side, count=bands, dtype="float32", crs=CRS,
                   transform=from_origin(0, 0, 10, 10), tiled=True, blockxsize=512, blockysize=512,
                   compress="DEFLATE", interleave="band", bigtiff="IF_SAFER")
    start = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=256), rasterio.open(workdir / "floor.tif", "w", **profile) as dst:
        for row in range(0, side, 512):
            for col in range(0, side, 512):
                h, w = min(512, side - row), min(512, side - col)
                dst.write(block[:, :h, :w], window=Window(col, row, w, h))
    seconds = time.perf_counter() - start
    (workdir / "floor.tif").unlink()
    return seconds * (size / side) ** 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=20000, help="width and height in pixels")
    parser.add_argument("--bands", type=int, default=64)
    parser.add_argument("--workdir", help="where the catalog and the exported file go (default: a temporary folder)")
    parser.add_argument("--no-floor", action="store_true", help="skip the rasterio floor")
    args = parser.parse_args()

    import rasterio

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="aef-ee-large-export-"))
    workdir.mkdir(parents=True, exist_ok=True)
    drive = workdir / "drive"
    size = args.size
    with engine_process(workdir / "catalog", drive) as proc:
        values, task = constant_export(size, args.bands)
        idle = memory_mib(proc.pid)["VmHWM"]
        image_gib = size * size * args.bands * 4 / 2**30
        print(f"exporting {size} x {size} x {args.bands} float32 ({image_gib:.1f} GiB of pixels) as a COG to {drive}")
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:  # the RSS over time, for the report (VmHWM gives the exact peak)
            while not done.wait(5.0):
                samples.append(memory_mib(proc.pid)["VmRSS"])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        task.start()
        status = wait_for(task, poll_s=2.0)
        seconds = time.perf_counter() - start
        done.set()
        peak = memory_mib(proc.pid)["VmHWM"]
    if status["state"] != "COMPLETED":
        print(f"export {status['state']}: {status}")
        return 1
    out = drive / EXPORTED_FILE
    with rasterio.open(out) as ds:
        assert (ds.width, ds.height, ds.count) == (size, size, args.bands)
        corner = ds.read(args.bands, window=((size - 2, size), (size - 2, size)))
        assert np.array_equal(corner, np.full((2, 2), values[-1], np.float32))
        overviews = ds.overviews(1)
    print(f"export: {seconds:.0f} s ({image_gib * 1024 / seconds:.0f} MiB of pixels/s); "
          f"file {out.stat().st_size / 2**20:.1f} MiB, overviews {overviews}")
    print(f"server RSS: idle {idle:.0f} MiB (floor), peak {peak:.0f} MiB = idle + {peak - idle:.0f} MiB "
          f"(median while exporting {np.median(samples) if samples else float('nan'):.0f} MiB); "
          f"peak / pixels = {peak / (image_gib * 1024):.4f}")
    if not args.no_floor:
        floor = floor_seconds(size, args.bands, workdir)
        print(f"floor (rasterio writing the same blocks, no engine, no overviews): {floor:.0f} s; "
              f"export / floor = {seconds / floor:.2f}")
    verdict = "PASS" if peak < LIMIT_MIB else "FAIL"
    print(f"{verdict}: peak RSS {peak:.0f} MiB {'<' if peak < LIMIT_MIB else '>='} {LIMIT_MIB} MiB")
    out.unlink()
    return 0 if peak < LIMIT_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
