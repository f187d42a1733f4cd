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
import sys
from functools import partial
from pathlib import Path

import numpy as np
from _bench_common import (  # benchmarks/ is on sys.path: it holds the script
    add_options, cog_asset, compute_pixels_tiles, interleaved, print_engine_vs_floor, print_machine, print_profile,
    tiles, write_noise_cog)

# Measure this checkout, not whatever aef_ee an editable install elsewhere points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RADIUS = 2  # a 5 x 5 square
# A single-band float32 COG of noise on the benchmark grid.
make_band = partial(write_noise_cog, bands=1)


def floor_run(path: Path) -> np.ndarray:
    """Reads the band (direct I/O) and runs uniform_filter over it."""
    import rasterio
    from scipy import ndimage

    with rasterio.Env(GTIFF_DIRECT_IO="YES"), rasterio.open(path) as ds:
        band = ds.read(1)
    return ndimage.uniform_filter(band, 2 * RADIUS + 1)


def engine_run(ee, expression, size: int) -> np.ndarray:
    """The computePixels requests (client and server run in this process), stitched into one array."""
    out = np.empty((size, size), np.float32)
    for (c, r, w, h), tile in compute_pixels_tiles(ee, expression, size, "b"):
        out[r:r + h, c:c + w] = tile
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(parser, size=4096, image="band")
    args = parser.parse_args()

    import ee

    from aef_ee.backend import initialize

    path, catalog_dir, asset = cog_asset(Path(args.cache), "focal_band", args.size, make_band, ["b"])
    initialize("local", catalog=str(catalog_dir))
    expression = ee.Image(asset).focalMean(RADIUS, "square")

    floor_run(path)  # warm the page cache so both read from memory
    timings = interleaved({"engine": lambda: engine_run(ee, expression, args.size),
                           "floor": lambda: floor_run(path)}, args.repeats)
    engine, floor = timings["engine"], timings["floor"]
    # The same values; at the band's edges the engine averages the pixels that exist (the floor repeats the edge).
    inner = slice(RADIUS, -RADIUS)
    np.testing.assert_allclose(engine.result[inner, inner], floor.result[inner, inner], rtol=1e-5, atol=1e-6)
    if args.profile:
        print_profile(lambda: engine_run(ee, expression, args.size))
    print_machine()
    print(f"band {args.size}x{args.size} float32, focalMean 5x5 square, {len(tiles(args.size))} computePixels "
          f"requests, median of {args.repeats} runs")
    print_engine_vs_floor(engine, floor, "rasterio read + uniform_filter")


if __name__ == "__main__":
    main()
