"""Map tile latency of a 64-band similarity layer vs the floor of computing the same tile pixels with rasterio + numpy.

The claim (issue 4): panning a geemap / Leaflet map over an embedding similarity layer,
``emb.multiply(ee.Image.constant(v)).reduce(ee.Reducer.sum())`` visualized with a palette, the local engine serves a
256 x 256 PNG tile with a median latency under 50 ms on a 2-core machine. The engine is driven like a browser: the
tile URL from ``getMapId`` is fetched over HTTP (urllib), one tile after another, along a serpentine pan over a
10 x 10 block of zoom-14 tiles. The floor, measured in the same run on the same tiles, does the same work without the
engine: pixel centres of the tile's EPSG:3857 grid mapped to the file's UTM pixels (pyproj), one windowed rasterio
read of the 64 bands, the numpy dot product, the palette and the PNG encoding. Engine tiles are checked equal to the
floor's.

The image is generated: 64-band float32 unit vectors (smooth random fields, like embeddings) in UTM 31N at 10 m, a
tiled, pixel-interleaved, uncompressed Cloud-Optimized GeoTIFF with average overviews (uncompressed so that both
sides measure pixel work, not zlib). A second, short pan at zoom 12 (reads decimated onto the overviews) is reported
too.

Run::

    python benchmarks/tile_latency.py                   # 1600 x 1600 x 64 (a 0.9 GiB file, cached between runs)
    python benchmarks/tile_latency.py --tiles 25        # a quick look

Prints median and p95 latency of engine and floor and their ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

# Measure this checkout, not whatever aef_ee an editable install elsewhere points at (``python benchmarks/x.py`` puts
# benchmarks/, not the repository root, on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BANDS = 64
PIXEL_M = 10.0
ORIGIN = (590000.0, 5660000.0)  # UTM 31N, Brussels (50.8 N): zoom-14 tiles are ~155 file pixels wide
PAN_ZOOM = 14
LOW_ZOOM = 12
# matplotlib's "magma" at 7 stops, a palette the Satellite Embedding similarity tutorial style maps use.
PALETTE = ["000004", "2C105C", "711F81", "B63679", "EE605E", "FDAE78", "FCFDBF"]
SIM_RANGE = (0.0, 1.0)
# Engine and floor tiles must agree on this fraction of pixels (see the check in main()).
MIN_AGREEMENT = 0.97


def make_cog(path: Path, size: int, seed: int = 0) -> None:
    """A 64-band float32 COG of smooth unit vectors with average overviews (pixel interleaved, uncompressed)."""
    import rasterio
    from rasterio.shutil import copy as rio_copy
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((BANDS, size // 64 + 2, size // 64 + 2)).astype(np.float32)
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": size, "height": size, "count": BANDS, "dtype": "float32",
               "crs": "EPSG:32631", "transform": from_origin(*ORIGIN, PIXEL_M, PIXEL_M), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "interleave": "pixel", "BIGTIFF": "YES"}
    rows = 256
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, rows):
            h = min(rows, size - r0)
            y = (np.arange(r0, r0 + h) + 0.5) / 64
            x = (np.arange(size) + 0.5) / 64
            y0, x0 = y.astype(int), x.astype(int)
            fy, fx = (y - y0)[:, None], (x - x0)[None, :]
            block = ((1 - fy) * (1 - fx) * coarse[:, y0][:, :, x0] + (1 - fy) * fx * coarse[:, y0][:, :, x0 + 1]
                     + fy * (1 - fx) * coarse[:, y0 + 1][:, :, x0] + fy * fx * coarse[:, y0 + 1][:, :, x0 + 1])
            block += 0.3 * rng.standard_normal(block.shape, dtype=np.float32)
            block /= np.linalg.norm(block, axis=0, keepdims=True)  # unit vectors, like embeddings
            dst.write(block.astype(np.float32), window=Window(0, r0, size, h))
    rio_copy(tmp, path, driver="COG", BLOCKSIZE=256, COMPRESS="NONE", OVERVIEWS="AUTO",
             OVERVIEW_RESAMPLING="AVERAGE", BIGTIFF="YES")
    tmp.unlink()


def pan(size: int, zoom: int, count: int) -> list[tuple[int, int]]:
    """A serpentine pan over a square block of ``count`` tiles (rounded to a square) inside the image."""
    from pyproj import Transformer

    from aef_ee.local import tiles

    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    west, north = to_lonlat.transform(ORIGIN[0], ORIGIN[1])
    east, south = to_lonlat.transform(ORIGIN[0] + size * PIXEL_M, ORIGIN[1] - size * PIXEL_M)
    covering = tiles.tiles_covering((west, south, east, north), zoom)
    xs = sorted({x for x, _ in covering})
    ys = sorted({y for _, y in covering})
    side = max(1, int(round(count ** 0.5)))
    if len(xs) >= side + 2 and len(ys) >= side + 2:  # keep to inner tiles, fully inside the image
        xs, ys = xs[1:-1], ys[1:-1]
    if len(xs) < side or len(ys) < side:
        raise SystemExit(f"the image is too small for a {side} x {side} pan at zoom {zoom}; raise --size")
    x0, y0 = xs[(len(xs) - side) // 2], ys[(len(ys) - side) // 2]
    order = []
    for j in range(side):
        row = [(x0 + i, y0 + j) for i in range(side)]
        order.extend(row if j % 2 == 0 else row[::-1])
    return order


class Floor:
    """The same tile pixels without the engine: rasterio window read, numpy dot, palette, PNG."""

    def __init__(self, path: Path, v: np.ndarray, *, direct_io: bool = False) -> None:
        import rasterio
        from pyproj import Transformer

        # direct_io: read the uncompressed file straight into the array, bypassing GDAL's block cache, as the
        # engine does (GTIFF_DIRECT_IO is read when the dataset opens).
        with rasterio.Env(GTIFF_DIRECT_IO="YES" if direct_io else "NO"):
            self.ds = rasterio.open(path)
        self.v = v.astype(np.float64)
        self.to_utm = Transformer.from_crs("EPSG:3857", "EPSG:32631", always_xy=True)
        self.inverse = ~self.ds.transform
        from aef_ee.local.rendering import parse_palette

        self.palette = parse_palette(PALETTE)

    def tile(self, z: int, x: int, y: int) -> bytes:
        from PIL import Image as PILImage
        from rasterio.windows import Window

        from aef_ee.local import tiles

        grid = tiles.tile_grid(z, x, y)
        mx, my = grid.pixel_centers()
        ux, uy = self.to_utm.transform(mx, my)
        a, _, c, _, e, f = self.inverse[:6]
        fcols, frows = a * ux + c, e * uy + f  # fractional file pixel of each tile pixel centre
        cols, rows = np.floor(fcols).astype(np.intp), np.floor(frows).astype(np.intp)
        inside = (cols >= 0) & (cols < self.ds.width) & (rows >= 0) & (rows < self.ds.height)
        c0, c1 = max(cols.min(), 0), min(cols.max(), self.ds.width - 1)
        r0, r1 = max(rows.min(), 0), min(rows.max(), self.ds.height - 1)
        spacing = min(abs(fcols[0, 1] - fcols[0, 0]), abs(frows[1, 0] - frows[0, 0]))
        step = max(1, int(np.floor(spacing + 1e-9)))
        window = Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
        ri, ci = (np.clip(rows, r0, r1) - r0) // step, (np.clip(cols, c0, c1) - c0) // step
        if step > 1:  # a coarse tile: read decimated (GDAL picks the overview), as a map server must
            shape = (BANDS, int(np.ceil(window.height / step)), int(np.ceil(window.width / step)))
            data = self.ds.read(window=window, out_shape=shape)
        else:
            data = self.ds.read(window=window)
        similarity = np.tensordot(self.v, data, axes=1)[ri, ci]  # (256, 256) float64
        lo, hi = SIM_RANGE
        pos = np.clip((similarity - lo) / (hi - lo) * (len(self.palette) - 1), 0, len(self.palette) - 1)
        index = np.minimum(pos.astype(np.intp), len(self.palette) - 2)
        frac = (pos - index)[..., None]
        pixels = np.rint(self.palette[index] + (self.palette[index + 1] - self.palette[index]) * frac)
        if not inside.all():  # outside the file: transparent
            pixels = np.concatenate([pixels, np.where(inside, 255, 0)[..., None]], axis=-1)
        buffer = io.BytesIO()
        PILImage.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG", compress_level=1)
        return buffer.getvalue()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def timed(fn, items) -> tuple[list[float], list[float], list[bytes]]:
    """Wall-clock and CPU seconds per item, and the results. The engine serves from a thread of this process, so
    the process's CPU time covers client and server; on a busy machine it estimates the latency an idle one sees."""
    times, cpu, out = [], [], []
    for item in items:
        t, c = time.perf_counter(), time.process_time()
        out.append(fn(item))
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return times, cpu, out


def summary(times: list[float]) -> tuple[float, float]:
    ms = sorted(1000 * t for t in times)
    return statistics.median(ms), ms[min(len(ms) - 1, int(np.ceil(0.95 * len(ms))) - 1)]


def agreement(engine_png: bytes, floor_png: bytes) -> float:
    """The fraction of pixels where two tiles agree: same alpha and, where opaque, colours within 1."""
    from PIL import Image as PILImage

    a, b = (np.asarray(PILImage.open(io.BytesIO(p)).convert("RGBA")).astype(int) for p in (engine_png, floor_png))
    close = (np.abs(a[..., :3] - b[..., :3]).max(axis=-1) <= 1) | (a[..., 3] == 0)
    return float((close & (a[..., 3] == b[..., 3])).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1600, help="image width and height in 10 m pixels")
    parser.add_argument("--tiles", type=int, default=100, help="tiles in the pan (rounded to a square)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "aef-ee-bench"),
                        help="folder for the generated image (reused between runs)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the server during the pan")
    args = parser.parse_args()

    import ee

    from aef_ee.backend import initialize
    from _bench_common import embedding_asset

    path, catalog_dir, asset = embedding_asset(Path(args.cache), "tile_embedding", args.size, make_cog)
    server = initialize("local", catalog=str(catalog_dir))

    import rasterio

    with rasterio.open(path) as ds:  # the reference: the embedding of the centre pixel
        v = ds.read(window=rasterio.windows.Window(args.size // 2, args.size // 2, 1, 1))[:, 0, 0]
    layer = ee.Image(asset).multiply(ee.Image.constant([float(x) for x in v])).reduce(ee.Reducer.sum())
    url = layer.getMapId({"min": SIM_RANGE[0], "max": SIM_RANGE[1], "palette": PALETTE})["tile_fetcher"].url_format
    floor = Floor(path, v)
    direct_floor = Floor(path, v, direct_io=True)

    results, direct_results = {}, {}
    for zoom, count in ((PAN_ZOOM, args.tiles), (LOW_ZOOM, min(args.tiles, 4))):
        order = pan(args.size, zoom, count)
        for x, y in order[:2]:  # warm-up: open files, fill the page cache, import lazily loaded modules
            fetch(url.format(z=zoom, x=x, y=y))
            floor.tile(zoom, x, y)
        profiler = None
        if args.profile and zoom == PAN_ZOOM:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        tile_url = url.format(z=zoom, x="{x}", y="{y}")
        engine_times, engine_cpu, engine_png = timed(lambda t, u=tile_url: fetch(u.format(x=t[0], y=t[1])), order)
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        floor_times, floor_cpu, floor_png = timed(lambda t, zoom=zoom: floor.tile(zoom, *t), order)
        direct_floor.tile(zoom, *order[0])
        direct_times, direct_cpu, _ = timed(lambda t, zoom=zoom: direct_floor.tile(zoom, *t), order)
        direct_results[zoom] = (summary(direct_times), summary(direct_cpu))
        # Colours may differ by one where a palette position falls on a rounding boundary (float summation order of
        # the dot product), and a reader that interpolates the reprojection (as GDAL's approximate transformer)
        # picks a neighbouring source pixel for a few pixel centres lying on a source pixel edge.
        agree = min(agreement(a, b) for a, b in zip(engine_png, floor_png))
        assert agree >= MIN_AGREEMENT, f"engine and floor tiles agree on only {agree:.1%} of pixels at zoom {zoom}"
        results[zoom] = (len(order), summary(engine_times), summary(floor_times), summary(engine_cpu),
                         summary(floor_cpu), agree)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (other work on the machine inflates both sides)")
    print(f"image {args.size}x{args.size}x{BANDS} float32 COG (uncompressed, average overviews), "
          f"layer: dot product with a reference embedding, {len(PALETTE)}-colour palette; server {server.url}")
    for zoom, (n, (e_med, e_p95), (f_med, f_p95), (ec_med, ec_p95), (fc_med, fc_p95), agree) in results.items():
        print(f"zoom {zoom}, {n} tiles: engine (HTTP GET of the tile URL) median {e_med:.1f} ms, p95 {e_p95:.1f} ms; "
              f"floor (rasterio + numpy + PNG) median {f_med:.1f} ms, p95 {f_p95:.1f} ms; "
              f"ratio of medians {e_med / f_med:.2f}x; pixels agreeing in the worst tile {agree:.2%}")
        print(f"    CPU time per tile: engine median {ec_med:.1f} ms, p95 {ec_p95:.1f} ms; "
              f"floor median {fc_med:.1f} ms, p95 {fc_p95:.1f} ms; ratio of medians {ec_med / fc_med:.2f}x")
        (d_med, _), (dc_med, _) = direct_results[zoom]
        print(f"    floor with GDAL direct I/O (as the engine reads): median {d_med:.1f} ms wall, {dc_med:.1f} ms CPU; "
              f"ratio of medians {e_med / d_med:.2f}x wall, {ec_med / dc_med:.2f}x CPU")
    e_med, ec_med = results[PAN_ZOOM][1][0], results[PAN_ZOOM][3][0]
    print(f"pan median {e_med:.1f} ms wall-clock ({ec_med:.1f} ms CPU): "
          f"{'meets' if e_med < 50 else 'misses'} the target of < 50 ms")


if __name__ == "__main__":
    main()
