"""Export throughput of the interactive path (computePixels on the local engine) against the rasterio floor.

Claim measured: sites/s and frames/s of ``export_interactive`` through the local Earth Engine over HTTP, as a
ratio to the floor of reading the very same windows of the same files directly with rasterio (no engine, no
decoding, no shards), both in this run on this machine. The reference numpy pipeline (``CatalogFilesBackend``:
rasterio reads + decoding + masks + shards, no engine) is printed too.

Run::

    python benchmarks/export_throughput.py            # demo catalog in the cache directory
    python benchmarks/export_throughput.py --quick    # fewer sites, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from aef_ee.videos.export import ExportRequest, export_interactive
from aef_ee.videos.export.files import CatalogFilesBackend, read_bands_on_grid
from aef_ee.videos.export.interactive import EarthEngineBackend, iter_site_plans
from aef_ee.videos.export.plan import tile_sites
from aef_ee.videos.sites import Site, parse_period

# The demo catalog's Belgium grid: EPSG:32631, 100 x 100 px at 10 m from (664000, 5612120); 12 monthly images.
BELGIUM_LEFT, BELGIUM_TOP, BELGIUM_PX = 664000.0, 5612120.0, 100


def belgium_sites(size: int) -> list[Site]:
    """Every site of the L x L grid overlapping the Belgium images."""
    step = size * 10.0
    period = parse_period("2020-11-01", "2021-11-01")
    xs = np.arange(np.floor(BELGIUM_LEFT / step) * step, BELGIUM_LEFT + BELGIUM_PX * 10, step)
    top = np.ceil(BELGIUM_TOP / step) * step
    ys = np.arange(top, BELGIUM_TOP - BELGIUM_PX * 10, -step)
    return [Site(32631, float(x), float(y), size, 10.0, period) for y in ys for x in xs]


def floor_seconds(sites: list[Site], request: ExportRequest, catalog: Path) -> tuple[float, int]:
    """Reads every (site, frame image, band file) window with rasterio; returns (seconds, windows read)."""
    backend = CatalogFilesBackend(catalog)
    sources = request.resolved()
    plans = list(iter_site_plans(tile_sites(sites), sources, request, backend))  # listing is not timed
    jobs = []
    for site, frames in plans:
        for name, source_frames in frames.items():
            wanted = set(sources[name].raw_bands())
            for frame in source_frames:
                for image in frame.images:
                    record = backend.catalog.get(image.id)
                    by_file: dict[str, list[tuple[int, float | None]]] = {}
                    for entry in record.manifest["bands"]:
                        if entry["id"] in wanted:
                            by_file.setdefault(backend.catalog.band_path(record, entry), []).append(
                                (int(entry.get("band", 1)), entry.get("nodata")))
                    jobs += [(path, bands, site) for path, bands in by_file.items()]
    start = time.perf_counter()
    for path, bands, site in jobs:
        read_bands_on_grid(path, bands, site)
    return time.perf_counter() - start, len(jobs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog)")
    parser.add_argument("--size", type=int, default=32, help="site size in pixels (default 32)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent computePixels requests")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the best is kept")
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats

    from aef_ee.backend import initialize
    from aef_ee.demo.catalog import build_demo_catalog, default_catalog_dir

    catalog = Path(args.catalog) if args.catalog else build_demo_catalog(default_catalog_dir(), progress=False)
    server = initialize("local", catalog=catalog)
    sites = belgium_sites(args.size)
    request = ExportRequest(sources=("s2", "s1", "era5", "dem"))

    def timed(backend_factory, workers):  # type: ignore[no-untyped-def]
        best = None
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as out:
                result = export_interactive(sites, request, out, backend=backend_factory(), max_workers=workers,
                                            progress=False)
            if best is None or result.seconds < best.seconds:
                best = result
        return best

    engine = timed(EarthEngineBackend, args.workers)
    files = timed(lambda: CatalogFilesBackend(catalog), 1)
    floor = min(floor_seconds(sites, request, catalog)[0] for _ in range(repeats))
    _, windows = floor_seconds(sites, request, catalog)
    report = {
        "sites": len(sites),
        "site_size": args.size,
        "frames": engine.frames_written,
        "sources": list(request.sources),
        "engine_url": server.url,
        "interactive_local_engine": {"seconds": round(engine.seconds, 3),
                                     "sites_per_s": round(engine.sites_per_second, 2),
                                     "frames_per_s": round(engine.frames_per_second, 1), "workers": args.workers},
        "reference_files_pipeline": {"seconds": round(files.seconds, 3),
                                     "sites_per_s": round(files.sites_per_second, 2),
                                     "frames_per_s": round(files.frames_per_second, 1)},
        "rasterio_floor": {"seconds": round(floor, 3), "windows": windows,
                           "sites_per_s": round(len(sites) / floor, 2),
                           "frames_per_s": round(engine.frames_written / floor, 1)},
        "ratio_interactive_to_floor": round(engine.seconds / floor, 2),
        "ratio_files_pipeline_to_floor": round(files.seconds / floor, 2),
    }
    print(json.dumps(report, indent=1))
    print(f"interactive export: {engine.sites_per_second:.2f} sites/s, {engine.frames_per_second:.1f} frames/s; "
          f"{report['ratio_interactive_to_floor']}x the rasterio floor ({len(sites) / floor:.2f} sites/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
