"""The local engine under concurrent load: 64 tile clients, then 32 computePixels clients, against one server.

The claim (issue 16): the engine stays graceful past its capacity. Its compute pool is bounded (workers plus a short
queue); past it a request gets a fast 429 ("Too many concurrent requests."), which clients retry with back-off, and
nothing else: no connection resets, no timeouts. A served tile's latency at the 95th percentile stays within 20 times
the latency of one tile requested alone, measured in the same run (the floor).

The server runs in its own process (``LocalServer`` with its default limits, on 127.0.0.1), so the clients' threads
do not share its interpreter. Each client is a thread with one keep-alive connection, like a browser's or the ee
client's; on a 429 it backs off (50 ms doubling to 2 s, with jitter, like ``aef_ee.backend.LocalTransport``) and
retries. Every request is counted by outcome: served (200), 429, other HTTP errors, connection resets, timeouts.
Latencies are reported per served attempt (the server's queueing and work) and per request end to end (retries and
back-off included).

The image is generated: 4 uint16 bands of smooth random fields, 1024 x 1024 at 10 m in UTM 31N, a COG with
overviews. Tiles are a normalized difference with a palette, at zooms 16 to 18 over four map ids, so most tiles are
distinct (the tile cache and single-flight help only where clients overlap, as viewers of one map do); computePixels
requests are 256 x 256 NPY windows of two scaled bands at random offsets.

Run::

    python benchmarks/load.py                       # 64 x 12 tile requests, 32 x 6 computePixels requests
    python benchmarks/load.py --tile-requests 4     # a quick look

Prints, for each phase: the floor (one client, one request at a time), p50/p95/p99 of served attempts and of whole
requests, counts by outcome, throughput, and the server's peak resident memory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZE = 1024
PIXEL_M = 10.0
ORIGIN = (590000.0, 5660000.0)  # UTM 31N, Brussels
BANDS = ["B2", "B3", "B4", "B8"]
PALETTES = [["000004", "711F81", "EE605E", "FCFDBF"], ["440154", "21918C", "FDE725"],
            ["0D0887", "CC4778", "F0F921"], ["000000", "FFFFFF"]]
ZOOMS = (16, 17, 18)
CLIENT_TIMEOUT_S = 60.0  # a request not answered in a minute counts as a timeout
SERVER = """
import sys, threading
from aef_ee.local.server import LocalServer, Limits
kwargs = {}
if int(sys.argv[2]):
    kwargs["workers"] = int(sys.argv[2])
if int(sys.argv[3]) >= 0:
    kwargs["queue"] = int(sys.argv[3])
server = LocalServer(sys.argv[1], limits=Limits(**kwargs)).start()
print(server.url, server.token, server.limits.workers, server.limits.queue, flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin
server.stop()
"""


def make_cog(path: Path) -> None:
    import rasterio
    from rasterio.shutil import copy as rio_copy
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    coarse = rng.random((len(BANDS), SIZE // 64 + 1, SIZE // 64 + 1))
    y = np.linspace(0, coarse.shape[1] - 1, SIZE)
    yi = np.minimum(y.astype(int), coarse.shape[1] - 2)
    fy = (y - yi)[:, None]
    smooth = np.empty((len(BANDS), SIZE, SIZE))
    for b in range(len(BANDS)):
        rows = coarse[b, yi] * (1 - fy) + coarse[b, yi + 1] * fy  # (SIZE, coarse width)
        smooth[b] = rows[:, yi] * (1 - fy.T) + rows[:, yi + 1] * fy.T
    data = (1000 + 8000 * smooth + rng.normal(0, 200, smooth.shape)).clip(1, 65535).astype(np.uint16)
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", driver="GTiff", width=SIZE, height=SIZE, count=len(BANDS), dtype="uint16",
                       crs="EPSG:32631", transform=from_origin(*ORIGIN, PIXEL_M, PIXEL_M), tiled=True) as ds:
        ds.write(data)
        ds.descriptions = tuple(BANDS)
    rio_copy(tmp, path, driver="COG", BLOCKSIZE=256, COMPRESS="NONE", OVERVIEWS="AUTO",
             OVERVIEW_RESAMPLING="AVERAGE")
    tmp.unlink()


def catalog(cache: Path) -> Path:
    from aef_ee.local.catalog import Catalog

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "load_bands.tif"
    if not path.exists():
        make_cog(path)
    root = cache / "load_catalog"
    cat = Catalog(root)
    if not cat.exists("BENCH/bands"):
        if not cat.exists("BENCH"):
            cat.create_container("BENCH", "FOLDER")
        cat.write_image("BENCH/bands", [{"id": b, "path": str(path), "band": i + 1, "data_type": "uint16",
                                         "nodata": 0} for i, b in enumerate(BANDS)], {})
    return root


def inner_tiles(zoom: int) -> list[tuple[int, int]]:
    """The tiles of ``zoom`` fully inside the image."""
    from pyproj import Transformer

    from aef_ee.local import tiles

    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    west, north = to_lonlat.transform(ORIGIN[0] + 200, ORIGIN[1] - 200)
    east, south = to_lonlat.transform(ORIGIN[0] + SIZE * PIXEL_M - 200, ORIGIN[1] - SIZE * PIXEL_M + 200)
    return tiles.tiles_covering((west, south, east, north), zoom)


class Client:
    """One keep-alive connection; ``request`` retries 429s with back-off and records every attempt."""

    def __init__(self, port: int, token: str, outcomes: Counter, lock: threading.Lock) -> None:
        self.port, self.token = port, token
        self.outcomes, self.lock = outcomes, lock
        self.connection: http.client.HTTPConnection | None = None
        self.attempts: list[float] = []  # seconds of served attempts
        self.whole: list[float] = []  # seconds of served requests, retries included

    def _count(self, kind: str) -> None:
        with self.lock:
            self.outcomes[kind] += 1

    def request(self, method: str, path: str, body: bytes | None) -> bool:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        delay = 0.05
        for _ in range(30):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT_S)
            attempt = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
            except (socket.timeout, TimeoutError):
                self._count("timeout")
                self._reset()
                return False
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected, ConnectionRefusedError):
                self._count("reset")
                self._reset()
                return False
            if status == 200:
                now = time.perf_counter()
                self.attempts.append(now - attempt)
                self.whole.append(now - started)
                self._count("200")
                return True
            if status != 429:
                self._count(f"http {status}")
                return False
            self._count("429")
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(2 * delay, 2.0)
        self._count("gave up after 429s")
        return False

    def _reset(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    ms = np.asarray(seconds) * 1000
    return "p50 {:.0f} ms, p95 {:.0f} ms, p99 {:.0f} ms".format(*np.percentile(ms, [50, 95, 99]))


def run_phase(name: str, port: int, token: str, clients: int, work: list[list[tuple[str, str, bytes | None]]],
              floor_s: float) -> None:
    outcomes: Counter = Counter()
    lock = threading.Lock()
    pool = [Client(port, token, outcomes, lock) for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def drive(client: Client, jobs: list) -> None:
        barrier.wait()
        for method, path, body in jobs:
            client.request(method, path, body)

    threads = [threading.Thread(target=drive, args=(c, w)) for c, w in zip(pool, work, strict=True)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    attempts = [s for c in pool for s in c.attempts]
    whole = [s for c in pool for s in c.whole]
    for c in pool:
        c._reset()
    total = sum(len(w) for w in work)
    p95 = float(np.percentile(attempts, 95)) if attempts else float("nan")
    print(f"\n{name}: {clients} concurrent clients, {total} requests in {elapsed:.1f} s "
          f"({outcomes['200'] / elapsed:.1f} served/s)")
    print(f"  floor (one request alone, median): {floor_s * 1000:.1f} ms")
    print(f"  served attempts: {percentiles(attempts)}; p95 = {p95 / floor_s:.1f} x the floor")
    print(f"  whole requests (429 back-off included): {percentiles(whole)}")
    kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(outcomes.items()))
    print(f"  outcomes by kind: {kinds}; resets {outcomes['reset']}, timeouts {outcomes['timeout']}")


def floor(port: int, token: str, jobs: list[tuple[str, str, bytes | None]]) -> float:
    """The median latency of ``jobs`` sent one at a time by one client (after one warm-up request)."""
    client = Client(port, token, Counter(), threading.Lock())
    client.request(*jobs[0])
    client.attempts.clear()
    for job in jobs[1:]:
        client.request(*job)
    client._reset()
    return statistics.median(client.attempts)


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile-clients", type=int, default=64)
    parser.add_argument("--tile-requests", type=int, default=12, help="tile requests per tile client")
    parser.add_argument("--pixel-clients", type=int, default=32)
    parser.add_argument("--pixel-requests", type=int, default=6, help="computePixels requests per client")
    parser.add_argument("--workers", type=int, default=0, help="server compute workers (0: its default)")
    parser.add_argument("--queue", type=int, default=-1, help="server queue (-1: its default)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "aef-ee-bench"),
                        help="folder for the generated image (reused between runs)")
    args = parser.parse_args()
    random.seed(0)

    root = catalog(Path(args.cache))
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(root), str(args.workers), str(args.queue)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        url, token, workers, queue = server.stdout.readline().split()
        port = int(url.rsplit(":", 1)[1])
        import ee

        from aef_ee.backend import initialize

        initialize("local", url=url, token=token)
        image = ee.Image("BENCH/bands")
        layer = image.normalizedDifference(["B8", "B4"])
        maps = [layer.getMapId({"min": -0.5, "max": 0.5, "palette": p})["tile_fetcher"].url_format
                for p in PALETTES]
        paths = [u.split(str(port), 1)[1].split("?")[0] for u in maps]
        tiles = [(z, x, y) for z in ZOOMS for x, y in inner_tiles(z)]
        random.shuffle(tiles)

        def tile_job(k: int) -> tuple[str, str, None]:
            z, x, y = tiles[k % len(tiles)]
            return "GET", paths[k % len(paths)].format(z=z, x=x, y=y), None

        pixels = image.select(["B4", "B8"]).multiply(0.0001)
        expression = ee.serializer.encode(pixels, for_cloud_api=True)

        def pixel_job(k: int) -> tuple[str, str, bytes]:
            rng = random.Random(k)
            col, row = rng.randrange(0, SIZE - 256), rng.randrange(0, SIZE - 256)
            grid = {"crsCode": "EPSG:32631", "dimensions": {"width": 256, "height": 256},
                    "affineTransform": {"scaleX": PIXEL_M, "shearX": 0, "translateX": ORIGIN[0] + col * PIXEL_M,
                                        "shearY": 0, "scaleY": -PIXEL_M, "translateY": ORIGIN[1] - row * PIXEL_M}}
            body = {"expression": expression, "fileFormat": "NPY", "grid": grid}
            return "POST", "/v1/projects/local/image:computePixels", json.dumps(body).encode()

        # The floors use requests the phases do not repeat (the tile cache would answer them).
        tile_floor = floor(port, token, [tile_job(len(tiles) - 1 - k) for k in range(25)])
        pixel_floor = floor(port, token, [pixel_job(10_000 + k) for k in range(15)])
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"machine: {os.cpu_count()} cores, load average {load} before the phases; server pid {server.pid}, "
              f"{workers} compute workers, queue {queue}")
        print(f"image {SIZE}x{SIZE}x{len(BANDS)} uint16 COG; tiles: normalized difference + palette, zooms {ZOOMS}, "
              f"{len(paths)} map ids, {len(tiles) * len(paths)} distinct tiles")
        n = args.tile_requests
        # Clients overlap in pairs, as two viewers of one map do: concurrent identical requests are computed once.
        run_phase("map tiles", port, token, args.tile_clients,
                  [[tile_job((c // 2) * n + j) for j in range(n)] for c in range(args.tile_clients)], tile_floor)
        m = args.pixel_requests
        run_phase("computePixels (256 x 256 x 2 bands, NPY)", port, token, args.pixel_clients,
                  [[pixel_job(c * m + j) for j in range(m)] for c in range(args.pixel_clients)], pixel_floor)
        print(f"\nserver peak resident memory: {peak_rss_mib(server.pid):.0f} MiB")
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
