"""computePixels of ``focalMean`` (5 x 5 square) on a 4096 x 4096 float32 band vs scipy.ndimage.uniform_filter.

The claim (issue 15): the local engine computes ``ee.Image(band).focalMean(2, 'square')`` within 1.5x of the floor
measured in the same run: reading the band with rasterio (GDAL direct I/O, as the engine reads) and filtering it with
scipy.ndimage.uniform_filter. The engine is driven through the real earthengine-api client over HTTP
(``ee.data.computePixels``, NPY) in 2048 x 2048 tiles, under Earth Engine's 48 MiB request limit; each tile reads
its 2-pixel border from the neighbouring tiles' data, so the tiles agree at their seams.

Run::

    python benchmarks/focal_mean.py                       # 4096 x 4096 (a 64 MiB file, cached between runs)
    python benchmarks/focal_mean.py --size 1024 --repeats 1   # a quick look

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

# Measure this checkout, not whatever aef_ee an editable install elsewhere points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Earth Engine's computePixels limit is 48 MiB per request; 2048 x 2048 float32 tiles (16 MiB) stay well under it.
TILE = 2048
RADIUS = 2  # a 5 x 5 square
ORIGIN = (600000.0, 5700000.0)
PIXEL = 10.0


def make_band(path: Path, size: int, seed: int = 0) -> None:
    """A tiled, uncompressed single-band float32 GeoTIFF (COG layout, no overviews) of smooth-ish noise."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32",
               "crs": "EPSG:32631", "transform": from_origin(*ORIGIN, PIXEL, PIXEL), "tiled": True,
               "blockxsize": 512, "blockysize": 512}
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, 512):
            h = min(512, size - r0)
            dst.write(rng.standard_normal((1, h, size), dtype=np.float32),
                      window=rasterio.windows.Window(0, r0, size, h))
    os.replace(tmp, path)


def band_asset(cache: Path, size: int) -> tuple[Path, Path, str]:
    """(the band's file, a catalog holding it, its asset id), generated once per size."""
    from aef_ee.local.catalog import Catalog

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"focal_band_{size}.tif"
    if not path.exists():
        t = time.perf_counter()
        make_band(path, size)
        print(f"generated {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
    root = cache / "focal_catalog"
    catalog = Catalog(root)
    asset = f"BENCH/focal_band_{size}"
    if not catalog.exists(asset):
        if not catalog.exists("BENCH"):
            catalog.create_container("BENCH", "FOLDER")
        catalog.write_image(asset, [{"id": "b", "path": str(path), "band": 1, "data_type": "float32",
                                     "nodata": None}], {})
    return path, root, asset


def tiles(size: int) -> list[tuple[int, int, int, int]]:
    return [(c, r, min(TILE, size - c), min(TILE, size - r))
            for r in range(0, size, TILE) for c in range(0, size, TILE)]


def floor_run(path: Path) -> tuple[float, float, np.ndarray]:
    """Wall-clock and CPU seconds of reading the band (direct I/O) and uniform_filter over it, and the result."""
    import rasterio
    from scipy import ndimage

    start, cpu = time.perf_counter(), time.process_time()
    with rasterio.Env(GTIFF_DIRECT_IO="YES"), rasterio.open(path) as ds:
        band = ds.read(1)
    out = ndimage.uniform_filter(band, 2 * RADIUS + 1)
    return time.perf_counter() - start, time.process_time() - cpu, out


def engine_run(ee, expression, size: int) -> tuple[float, float, np.ndarray]:
    """Wall-clock and CPU seconds of the computePixels requests (client and server run in this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = np.empty((size, size), np.float32)
    for c, r, w, h in tiles(size):
        grid = {"crsCode": "EPSG:32631", "dimensions": {"width": w, "height": h},
                "affineTransform": {"scaleX": PIXEL, "shearX": 0, "translateX": ORIGIN[0] + PIXEL * c,
                                    "shearY": 0, "scaleY": -PIXEL, "translateY": ORIGIN[1] - PIXEL * r}}
        result = ee.data.computePixels({"expression": expression, "fileFormat": "NUMPY_NDARRAY", "grid": grid})
        out[r:r + h, c:c + w] = result["b"]
    return time.perf_counter() - start, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="band width and height in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is reported)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "aef-ee-bench"),
                        help="folder for the generated band (reused between runs)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one engine run")
    args = parser.parse_args()

    import ee

    from aef_ee.backend import initialize

    path, catalog_dir, asset = band_asset(Path(args.cache), args.size)
    initialize("local", catalog=str(catalog_dir))
    expression = ee.Image(asset).focalMean(RADIUS, "square")

    floor_run(path)  # warm the page cache so both read from memory
    engine_times, floor_times, engine_cpu, floor_cpu = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both sides alike
        t_engine, c_engine, got = engine_run(ee, expression, args.size)
        t_floor, c_floor, want = floor_run(path)
        engine_times.append(t_engine)
        floor_times.append(t_floor)
        engine_cpu.append(c_engine)
        floor_cpu.append(c_floor)
    # The same values; at the band's edges the engine averages the pixels that exist (the floor repeats the edge).
    inner = slice(RADIUS, -RADIUS)
    np.testing.assert_allclose(got[inner, inner], want[inner, inner], rtol=1e-5, atol=1e-6)
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
    print(f"band {args.size}x{args.size} float32, focalMean 5x5 square, {len(tiles(args.size))} computePixels "
          f"requests, median of {args.repeats} runs")
    print(f"engine (ee.data.computePixels over HTTP): {engine:.3f} s wall, "
          f"{statistics.median(engine_cpu):.3f} s CPU (all threads)")
    print(f"floor  (rasterio read + uniform_filter):  {floor:.3f} s wall, {statistics.median(floor_cpu):.3f} s CPU")
    print(f"ratio engine/floor: {engine / floor:.2f}x wall-clock (target <= 1.5x), "
          f"{statistics.median(engine_cpu) / statistics.median(floor_cpu):.2f}x CPU")


if __name__ == "__main__":
    main()
