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
import sys
from functools import partial
from pathlib import Path

import numpy as np
from _bench_common import (  # benchmarks/ is on sys.path: it holds the script
    BANDS, add_options, compute_pixels_tiles, embedding_asset, interleaved, print_engine_vs_floor, print_machine,
    print_profile, tiles, write_noise_cog)

# Measure this checkout, not whatever aef_ee an editable install elsewhere points at (``python benchmarks/x.py`` puts
# benchmarks/, not the repository root, on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# A pixel-interleaved 64-band float32 COG of unit vectors, like embeddings (over 4 GiB at 4096 x 4096).
make_cog = partial(write_noise_cog, bands=BANDS, unit_vectors=True, interleave="pixel", BIGTIFF="YES")


def floor_run(path: Path, v: np.ndarray, size: int, *, direct_io: bool = False) -> list[np.ndarray]:
    """Reads every request tile and does the dot product with ``v``.

    With ``direct_io`` GDAL reads the uncompressed file straight into the array, bypassing its block cache, as the
    engine does (GTIFF_DIRECT_IO): the floor a reader tuned like the engine would reach."""
    import rasterio
    from rasterio.windows import Window

    out = []
    with rasterio.Env(GTIFF_DIRECT_IO="YES" if direct_io else "NO"), rasterio.open(path) as ds:
        for c, r, w, h in tiles(size):
            data = ds.read(window=Window(c, r, w, h))  # (64, h, w) float32
            out.append(np.tensordot(v, data, axes=1))
    return out


def engine_run(ee, expression, size: int) -> list[np.ndarray]:
    """The computePixels requests' results. The server runs in this process, so the process's CPU time covers client
    and server."""
    return [tile for _, tile in compute_pixels_tiles(ee, expression, size, "sum")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_options(parser, size=4096)
    args = parser.parse_args()

    import ee

    from aef_ee.backend import initialize

    path, catalog_dir, asset = embedding_asset(Path(args.cache), "embedding", args.size, make_cog)
    initialize("local", catalog=str(catalog_dir))

    v = np.random.default_rng(1).standard_normal(BANDS).astype(np.float32)
    v /= np.linalg.norm(v)
    expression = ee.Image(asset).multiply(ee.Image.constant([float(x) for x in v])).reduce(ee.Reducer.sum())

    floor_run(path, v, args.size)  # warm the page cache so both read from memory
    timings = interleaved({"engine": lambda: engine_run(ee, expression, args.size),
                           "floor": lambda: floor_run(path, v, args.size),
                           "direct": lambda: floor_run(path, v, args.size, direct_io=True)}, args.repeats)
    engine, floor, direct = timings["engine"], timings["floor"], timings["direct"]
    for a, b in zip(engine.result, floor.result):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    if args.profile:
        print_profile(lambda: engine_run(ee, expression, args.size))
    print_machine()
    print(f"image {args.size}x{args.size}x{BANDS} float32, {len(tiles(args.size))} computePixels requests, "
          f"median of {args.repeats} runs")
    print_engine_vs_floor(engine, floor, "rasterio read + numpy dot")
    print(f"floor with GDAL direct I/O (as the engine reads): {direct.wall:.3f} s wall, "
          f"{direct.cpu:.3f} s CPU; ratio engine/that floor {engine.wall / direct.wall:.2f}x wall-clock, "
          f"{engine.cpu / direct.cpu:.2f}x CPU")


if __name__ == "__main__":
    main()
