"""The embedding-field pipeline's throughput on Beam's local runner with 1 and 2 workers, against the in-process loop
and the model-only floor, all measured in the same run.

    python benchmarks/embedding_pipeline.py [--region W,S,E,N] [--year 2021]   # needs apache-beam installed

On the demo catalog (a local engine started here): the region's tiles' input videos are fetched once (staging
folder, shared by every run), then each run writes the tiles' COGs into its own folder:

- floor: ``aef_ee_training.field_tiles.tile_field`` on every staged video in this process (the model alone, compiled
  beforehand: no engine, no COG writing, no pipeline, no compilation);
- loop: :func:`aef_ee_training.fields.embed_region`;
- beam-1 / beam-2: :func:`aef_ee_training.fields.embed_region` with ``runner="direct"`` (Beam's DirectRunner), with
  1 and 2 workers.

Printed: seconds, pixels/s, and each run's pixels/s as a ratio to the floor's (each run loads and compiles its own
model, as a real job does). Every run's COGs are checked to be
identical to the loop's before its figure is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import tempfile
import time

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "training" / "checkpoints" / "tiny-belgium"
DEMO_REGION = "5.3189,50.6289,5.3334,50.6375"


def _same_pixels(a: Path, b: Path) -> bool:
    import rasterio

    with rasterio.open(a) as da, rasterio.open(b) as db:
        return bool(np.array_equal(da.read(), db.read()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default=DEMO_REGION, help="west,south,east,north in degrees (default: demo)")
    parser.add_argument("--year", type=int, default=2021)
    args = parser.parse_args()
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        sys.exit('this benchmark needs Apache Beam: pip install "aef-ee[beam]"')

    import aef_ee
    from aef_ee.demo import build_demo_catalog
    from aef_ee.videos.format import VideoDataset
    from aef_ee_training import field_tiles, fields
    from aef_ee_training.infer import load_inference

    region = tuple(float(v) for v in args.region.split(","))
    work = Path(tempfile.mkdtemp(prefix="aef-embed-bench-"))
    catalog = build_demo_catalog(work / "catalog")
    aef_ee.initialize("local", catalog=str(catalog))
    staging = work / "videos"
    common = dict(workdir=CHECKPOINT, region=region, year=args.year, staging_dir=staging, progress=False)

    # Fetch the inputs once (the loop's first run) so that every timed run below reads the same staged videos.
    fields.embed_region(out_dir=work / "warm", **common)
    model, config, stats, _ = load_inference(CHECKPOINT)
    size = int(config.site_size)
    tiles = field_tiles.plan_tiles(region, args.year, core=2 * size, margin=size)
    videos = VideoDataset(staging)
    index = {sid: i for i, sid in enumerate(videos.site_ids)}
    staged = [(tile, videos[index[tile.input_site().site_id]]) for tile in tiles if tile.input_site().site_id in index]
    pixels = sum(tile.core * tile.core for tile, _ in staged)

    field_tiles.tile_field(model, config, stats, staged[0][1], staged[0][0])  # compile outside the timing
    started = time.perf_counter()
    for tile, video in staged:
        field_tiles.tile_field(model, config, stats, video, tile)
    floor_s = time.perf_counter() - started
    floor = pixels / floor_s
    print(f"{len(staged)} tiles, {pixels} pixels; model-only floor: {floor_s:.2f} s, {floor:.0f} pixels/s")

    runs = {
        "loop": lambda out: fields.embed_region(out_dir=out, **common),
        "beam-1": lambda out: fields.embed_region(out_dir=out, runner="direct", max_workers=1, **common),
        "beam-2": lambda out: fields.embed_region(out_dir=out, runner="direct", max_workers=2, **common),
    }
    for name, run in runs.items():
        out = work / name
        started = time.perf_counter()
        report = run(out)
        seconds = time.perf_counter() - started
        same = all(_same_pixels(Path(p), work / "warm" / Path(p).name) for p in report.written)
        rate = report.pixels / seconds
        print(f"{name:7s} {seconds:6.2f} s  {rate:8.0f} pixels/s  ratio to the floor {rate / floor:.2f}  "
              f"({len(report.written)} tiles, {'identical to the loop' if same else 'DIFFERENT from the loop'})")
        if not same:
            sys.exit(f"{name}: the COGs differ from the loop's")


if __name__ == "__main__":
    main()
