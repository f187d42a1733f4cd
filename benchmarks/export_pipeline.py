"""The Beam export pipeline (DirectRunner) against the current loop (``export_interactive``), in one run.

Claim measured: sites/s of :func:`aef_ee.videos.export.beam.export_beam` on the local runner, as a ratio to the
interactive loop on the same sites, the same local engine (over HTTP) and the same number of requests in flight,
both timed in this run, alternately, after an untimed run that warms the engine's caches. The pipeline adds Beam's
start-up, two reshuffles, a part file per site and the pass that writes the shards from the parts; it does not
hold requests back at tile boundaries as the loop's ordered map does. See docs/scale.md.

Run (needs ``pip install "aef-ee[beam]"``, in the dev extra)::

    python benchmarks/export_pipeline.py                   # 16 Belgium sites of 32 x 32 px, s2/s1/era5/dem
    python benchmarks/export_pipeline.py --sites 4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from aef_ee.videos.export import ExportRequest, export_interactive
from aef_ee.videos.sites import Site, parse_period

# The demo catalog's Belgium grid: EPSG:32631, 100 x 100 px at 10 m from (664000, 5612120).
BELGIUM_LEFT, BELGIUM_TOP, BELGIUM_PX = 664000.0, 5612120.0, 100


def belgium_sites(size: int, n: int) -> list[Site]:
    """The first ``n`` sites of the L x L grid overlapping the Belgium images."""
    step = size * 10.0
    period = parse_period("2020-11-01", "2021-11-01")
    xs = np.arange(np.floor(BELGIUM_LEFT / step) * step, BELGIUM_LEFT + BELGIUM_PX * 10, step)
    top = np.ceil(BELGIUM_TOP / step) * step
    ys = np.arange(top, BELGIUM_TOP - BELGIUM_PX * 10, -step)
    return [Site(32631, float(x), float(y), size, 10.0, period) for y in ys for x in xs][:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", help="catalog directory (default: the demo catalog)")
    parser.add_argument("--size", type=int, default=32, help="site size in pixels (default 32)")
    parser.add_argument("--sites", type=int, default=16, help="sites exported (default 16, the grid's)")
    parser.add_argument("--workers", type=int, default=4, help="requests in flight in both")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each, alternated; the best is kept")
    args = parser.parse_args()

    from aef_ee.backend import initialize
    from aef_ee.demo.catalog import build_demo_catalog, default_catalog_dir
    from aef_ee.videos.export.beam import EngineConnection, export_beam

    catalog = Path(args.catalog) if args.catalog else build_demo_catalog(default_catalog_dir(), progress=False)
    server = initialize("local", catalog=catalog)
    connection = EngineConnection("local", url=server.url, token=server.token)
    sites = belgium_sites(args.size, args.sites)
    request = ExportRequest(sources=("s2", "s1", "era5", "dem"))

    def run_loop(out):  # type: ignore[no-untyped-def]
        return export_interactive(sites, request, out, max_workers=args.workers, progress=False)

    def run_pipeline(out):  # type: ignore[no-untyped-def]
        return export_beam(sites, request, out, runner="direct", connection=connection, max_workers=args.workers,
                           progress=False)

    with tempfile.TemporaryDirectory() as out:
        run_loop(out)  # untimed: warms the engine's caches, so that neither timed run pays for them
    loops, pipelines = [], []
    for _ in range(args.repeats):  # alternated, so that load from other work hits both alike
        for run, results in ((run_loop, loops), (run_pipeline, pipelines)):
            with tempfile.TemporaryDirectory() as out:
                results.append(run(out))
    loop = min(loops, key=lambda r: r.seconds)
    pipeline = min(pipelines, key=lambda r: r.seconds)
    assert pipeline.sites_written == loop.sites_written and pipeline.frames_written == loop.frames_written
    report = {
        "sites": len(sites), "site_size": args.size, "frames": loop.frames_written, "workers": args.workers,
        "loop_export_interactive": {"seconds": round(loop.seconds, 3), "sites_per_s": round(loop.sites_per_second, 2)},
        "beam_direct_runner": {"seconds": round(pipeline.seconds, 3),
                               "sites_per_s": round(pipeline.sites_per_second, 2)},
        "ratio_beam_to_loop_time": round(pipeline.seconds / loop.seconds, 2),
    }
    print(json.dumps(report, indent=1))
    print(f"beam (DirectRunner): {pipeline.sites_per_second:.2f} sites/s; loop: {loop.sites_per_second:.2f} sites/s; "
          f"the pipeline takes {report['ratio_beam_to_loop_time']}x the loop's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
