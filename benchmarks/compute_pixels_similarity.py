"""computePixels of a similarity expression on a 64-band float32 image vs the floor of reading it and a numpy dot.

The claim (issue 3): the local engine computes ``img.multiply(ee.Image.constant(v)).reduce(ee.Reducer.sum())`` on a
64-band float32 4096 x 4096 COG within 1.5x of the floor measured in the same run: reading the same windows with
rasterio and doing the dot product with numpy. The engine is driven through the real earthengine-api client over
HTTP (``ee.data.computePixels``, NPY), in tiles under Earth Engine's 48 MiB request limit.

Run::

    python benchmarks/compute_pixels_similarity.py            # 4096 x 4096 (a 4 GiB file, cached between runs)
    python benchmarks/compute_pixels_similarity.py --size 1024 --repeats 1   # a quick look

Prints the engine's time, the floor's time and their ratio; the results of both are checked equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Measure this checkout, not whatever aef_ee an editable install elsewhere points at (``python benchmarks/x.py`` puts
# benchmarks/, not the repository root, on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BANDS = 64
# Earth Engine's computePixels limit is 48 MiB per request; 2048 x 2048 float32 tiles (16 MiB) stay well under it.
TILE = 2048


def make_cog(path: Path, size: int, seed: int = 0) -> None:
    """A tiled, pixel-interleaved, uncompressed 64-band float32 GeoTIFF (COG layout, no overviews)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": BANDS, "dtype": "float32",
               "crs": "EPSG:32631", "transform": from_origin(600000, 5700000, 10, 10), "tiled": True,
               "blockxsize": 512, "blockysize": 512, "interleave": "pixel", "BIGTIFF": "YES"}
    rows = 512
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            block = rng.standard_normal((BANDS, h, size), dtype=np.float32)
            block /= np.linalg.norm(block, axis=0, keepdims=True)  # unit vectors, like embeddings
            dst.write(block, window=rasterio.windows.Window(0, r0, size, h))
    os.replace(tmp, path)


def tiles(size: int) -> list[tuple[int, int, int, int]]:
    """(col0, row0, width, height) of the request tiles covering the image."""
    return [(c, r, min(TILE, size - c), min(TILE, size - r))
            for r in range(0, size, TILE) for c in range(0, size, TILE)]


def floor_run(path: Path, v: np.ndarray, size: int, *, direct_io: bool = False
              ) -> tuple[float, float, list[np.ndarray]]:
    """Wall-clock and CPU seconds of reading every request tile and the dot product, and the results.

    With ``direct_io`` GDAL reads the uncompressed file straight into the array, bypassing its block cache, as the
    engine does (GTIFF_DIRECT_IO): the floor a reader tuned like the engine would reach."""
    import rasterio
    from rasterio.windows import Window

    start, cpu = time.perf_counter(), time.process_time()
    out = []
    with rasterio.Env(GTIFF_DIRECT_IO="YES" if direct_io else "NO"), rasterio.open(path) as ds:
        for c, r, w, h in tiles(size):
            data = ds.read(window=Window(c, r, w, h))  # (64, h, w) float32
            out.append(np.tensordot(v, data, axes=1))
    return time.perf_counter() - start, time.process_time() - cpu, out


def engine_run(ee, expression, size: int) -> tuple[float, float, list[np.ndarray]]:
    """Wall-clock and CPU seconds of the computePixels requests, and the results. The server runs in this process,
    so the process's CPU time covers client and server."""
    start, cpu = time.perf_counter(), time.process_time()
    out = []
    for c, r, w, h in tiles(size):
        grid = {"crsCode": "EPSG:32631", "dimensions": {"width": w, "height": h},
                "affineTransform": {"scaleX": 10, "shearX": 0, "translateX": 600000 + 10 * c,
                                    "shearY": 0, "scaleY": -10, "translateY": 5700000 - 10 * r}}
        result = ee.data.computePixels({"expression": expression, "fileFormat": "NUMPY_NDARRAY", "grid": grid})
        out.append(result["sum"])
    return time.perf_counter() - start, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="image width and height in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is reported)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "aef-ee-bench"),
                        help="folder for the generated image (reused between runs)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one engine run")
    args = parser.parse_args()

    import ee

    from aef_ee.backend import initialize
    from _bench_common import embedding_asset

    path, catalog_dir, asset = embedding_asset(Path(args.cache), "embedding", args.size, make_cog)
    initialize("local", catalog=str(catalog_dir))

    v = np.random.default_rng(1).standard_normal(BANDS).astype(np.float32)
    v /= np.linalg.norm(v)
    expression = ee.Image(asset).multiply(ee.Image.constant([float(x) for x in v])).reduce(ee.Reducer.sum())

    floor_run(path, v, args.size)  # warm the page cache so both read from memory
    engine_times, floor_times, engine_cpu, floor_cpu, direct_times, direct_cpu = [], [], [], [], [], []
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both sides alike
        t_engine, c_engine, got = engine_run(ee, expression, args.size)
        t_floor, c_floor, want = floor_run(path, v, args.size)
        t_direct, c_direct, _ = floor_run(path, v, args.size, direct_io=True)
        engine_times.append(t_engine)
        floor_times.append(t_floor)
        engine_cpu.append(c_engine)
        floor_cpu.append(c_floor)
        direct_times.append(t_direct)
        direct_cpu.append(c_direct)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        engine_run(ee, expression, args.size)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    engine, floor = statistics.median(engine_times), statistics.median(floor_times)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (other work on the machine inflates both sides)")
    print(f"image {args.size}x{args.size}x{BANDS} float32, {len(tiles(args.size))} computePixels requests, "
          f"median of {args.repeats} runs")
    print(f"engine (ee.data.computePixels over HTTP): {engine:.3f} s wall, "
          f"{statistics.median(engine_cpu):.3f} s CPU (all threads)")
    print(f"floor  (rasterio read + numpy dot):       {floor:.3f} s wall, {statistics.median(floor_cpu):.3f} s CPU")
    print(f"ratio engine/floor: {engine / floor:.2f}x wall-clock (target <= 1.5x), "
          f"{statistics.median(engine_cpu) / statistics.median(floor_cpu):.2f}x CPU")
    direct = statistics.median(direct_times)
    print(f"floor with GDAL direct I/O (as the engine reads): {direct:.3f} s wall, "
          f"{statistics.median(direct_cpu):.3f} s CPU; ratio engine/that floor {engine / direct:.2f}x wall-clock, "
          f"{statistics.median(engine_cpu) / statistics.median(direct_cpu):.2f}x CPU")


if __name__ == "__main__":
    main()
