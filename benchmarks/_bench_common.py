"""Shared by the engine benchmarks: their common options, a generated COG registered once in a benchmark catalog,
``computePixels`` over a tiled grid, runs timed interleaved with a floor, and the report lines.

A benchmark measures the engine against a floor measured in the same run::

    path, catalog_dir, asset = cog_asset(cache, "focal_band", size, make_band, ["b"])
    initialize("local", catalog=str(catalog_dir))
    timings = interleaved({"engine": run_engine, "floor": run_floor}, repeats)
    print_machine()
    print_engine_vs_floor(timings["engine"], timings["floor"], "rasterio read + uniform_filter")
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BANDS = 64
# Earth Engine's computePixels limit is 48 MiB per request; 2048 x 2048 float32 tiles (16 MiB) stay well under it.
TILE = 2048
# The generated images' grid: UTM 31N, 10 m pixels, this upper-left corner.
CRS = "EPSG:32631"
ORIGIN = (600000.0, 5700000.0)
PIXEL = 10.0
# The label column of print_engine_vs_floor, wide enough for the engine's label.
_LABEL_WIDTH = 42


def add_options(parser: argparse.ArgumentParser, *, size: int, image: str = "image") -> None:
    """``--size``, ``--repeats``, ``--cache`` and ``--profile``, as every computePixels benchmark takes them."""
    parser.add_argument("--size", type=int, default=size, help=f"{image} width and height in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is reported)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "aef-ee-bench"),
                        help=f"folder for the generated {image} (reused between runs)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one engine run")


def write_noise_cog(path: Path, size: int, bands: int, *, seed: int = 0, unit_vectors: bool = False,
                    **creation: Any) -> None:
    """A tiled (512 x 512), uncompressed float32 GeoTIFF of standard normal noise on the benchmark grid (COG layout,
    no overviews), written atomically.

    Args:
      unit_vectors: scale each pixel's ``bands`` values to length 1, like embeddings.
      creation: more GDAL creation options (``interleave="pixel"``, ``BIGTIFF="YES"``).
    """
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": "float32", "crs": CRS,
               "transform": from_origin(*ORIGIN, PIXEL, PIXEL), "tiled": True, "blockxsize": 512,
               "blockysize": 512, **creation}
    rows = 512
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            block = rng.standard_normal((bands, h, size), dtype=np.float32)
            if unit_vectors:
                block /= np.linalg.norm(block, axis=0, keepdims=True)
            dst.write(block, window=rasterio.windows.Window(0, r0, size, h))
    os.replace(tmp, path)


def _file_size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MiB"


def cog_asset(cache: Path, stem: str, size: int, make_cog: Callable[[Path, int], None],
              band_ids: Sequence[str]) -> tuple[Path, Path, str]:
    """Generates ``<cache>/<stem>_<size>.tif`` once and registers it as ``BENCH/<stem>_<size>`` in
    ``<cache>/<stem>_catalog``, its bands (float32) named ``band_ids`` in file order.

    Returns:
      (the COG, the catalog directory, the asset id).
    """
    from aef_ee.local.catalog import Catalog

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{stem}_{size}.tif"
    if not path.exists():
        t = time.perf_counter()
        make_cog(path, size)
        print(f"generated {path} ({_file_size(path.stat().st_size)}) in {time.perf_counter() - t:.1f} s")
    root = cache / f"{stem}_catalog"
    catalog = Catalog(root)
    asset = f"BENCH/{stem}_{size}"
    if not catalog.exists(asset):
        if not catalog.exists("BENCH"):
            catalog.create_container("BENCH", "FOLDER")
        catalog.write_image(asset, [{"id": band_id, "path": str(path), "band": i + 1, "data_type": "float32",
                                     "nodata": None} for i, band_id in enumerate(band_ids)], {})
    return path, root, asset


def embedding_asset(cache: Path, stem: str, size: int, make_cog: Callable[[Path, int], None]) -> tuple[Path, Path, str]:
    """:func:`cog_asset` of a ``BANDS``-band embedding COG, its bands named ``A00`` .. ``A63``."""
    return cog_asset(cache, stem, size, make_cog, [f"A{i:02d}" for i in range(BANDS)])


def tiles(size: int) -> list[tuple[int, int, int, int]]:
    """(col0, row0, width, height) of the ``TILE``-sized request tiles covering a ``size`` x ``size`` image."""
    return [(c, r, min(TILE, size - c), min(TILE, size - r))
            for r in range(0, size, TILE) for c in range(0, size, TILE)]


def compute_pixels_tiles(ee: Any, expression: Any, size: int, band: str
                         ) -> Iterator[tuple[tuple[int, int, int, int], np.ndarray]]:
    """((col0, row0, width, height), ``band``'s (height, width) array) of ``ee.data.computePixels`` (NPY) for each
    of :func:`tiles` on the benchmark grid, one request after another."""
    for c, r, w, h in tiles(size):
        grid = {"crsCode": CRS, "dimensions": {"width": w, "height": h},
                "affineTransform": {"scaleX": PIXEL, "shearX": 0, "translateX": ORIGIN[0] + PIXEL * c,
                                    "shearY": 0, "scaleY": -PIXEL, "translateY": ORIGIN[1] - PIXEL * r}}
        result = ee.data.computePixels({"expression": expression, "fileFormat": "NUMPY_NDARRAY", "grid": grid})
        yield (c, r, w, h), result[band]


@dataclasses.dataclass
class Timing:
    """Wall-clock and CPU (all threads of this process) seconds of each run, and the last run's result."""

    wall_s: list[float] = dataclasses.field(default_factory=list)
    cpu_s: list[float] = dataclasses.field(default_factory=list)
    result: Any = None

    @property
    def wall(self) -> float:
        return statistics.median(self.wall_s)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_s)


def interleaved(runs: Mapping[str, Callable[[], Any]], repeats: int) -> dict[str, Timing]:
    """Times each of ``runs`` ``repeats`` times, in turn, so that a change in the machine's load hits all alike."""
    timings = {name: Timing() for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start, cpu = time.perf_counter(), time.process_time()
            result = run()
            timings[name].wall_s.append(time.perf_counter() - start)
            timings[name].cpu_s.append(time.process_time() - cpu)
            timings[name].result = result
    return timings


def print_profile(run: Callable[[], Any], lines: int = 25) -> None:
    """Prints a cProfile of one call of ``run``, by cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(lines)


def print_machine() -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (other work on the machine inflates both sides)")


def print_engine_vs_floor(engine: Timing, floor: Timing, floor_label: str) -> None:
    """The engine's and the floor's median times and their ratio (the target is at most 1.5x)."""
    print(f"{'engine (ee.data.computePixels over HTTP):':<{_LABEL_WIDTH}}{engine.wall:.3f} s wall, "
          f"{engine.cpu:.3f} s CPU (all threads)")
    print(f"{f'floor  ({floor_label}):':<{_LABEL_WIDTH}}{floor.wall:.3f} s wall, {floor.cpu:.3f} s CPU")
    print(f"ratio engine/floor: {engine.wall / floor.wall:.2f}x wall-clock (target <= 1.5x), "
          f"{engine.cpu / floor.cpu:.2f}x CPU")
