"""The embeddings API's latency and throughput under 32 concurrent clients, against floors measured in the same run.

The claim (issue 18): p95 < 100 ms for a point query (``GET /embeddings``) on the local engine. The sample embedding
collection of real AlphaEarth vectors (:mod:`aef_ee.demo.sample_embeddings`) and a vector index of it are built in a
fresh catalog; then the real commands are started, in two layouts:

- ``aef-ee api --catalog C``: the local engine embedded in the API's process (what ``aef-ee api`` runs by default);
- ``aef-ee serve --catalog C`` and ``aef-ee api --url URL``: the engine in a process of its own, so the API and the
  engine each have an interpreter (and a GIL).

The clients are a small asyncio HTTP/1.1 load generator in this process (one keep-alive connection per client, as
``wrk`` drives a server), not one thread per client: on this 2-core machine 32 Python client threads spent more CPU
on the GIL than the server spent on the requests, and their queueing showed as server latency. The floors:

- ``GET /health``: the HTTP + token + routing floor of any request;
- the same Earth Engine request ``GET /embeddings`` makes (``reduceRegions`` of one point on the stored int8
  mosaic), straight from an ``ee`` client to ``aef-ee serve``, one at a time: the floor of a point query (and, for
  reference, the same read of the de-quantised ``open_embeddings`` image, which the API avoids);
- the index query ``POST /similarity`` makes, in process (:meth:`aef_ee.search.EmbeddingIndex.search`).

Each endpoint is measured with one client (sequential) and with 32 concurrent clients, a bounded number of
requests each; printed: p50 / p95 latency, requests per second, and the ratio of p50 to the floor's p50.

Run::

    python benchmarks/embeddings_api.py                   # 32 clients x 20 requests per endpoint
    python benchmarks/embeddings_api.py --requests 5      # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLIENTS = 32


CLI = [sys.executable, "-c", "import sys; from aef_ee.cli import main; sys.exit(main())"]


def start_command(args: list[str], pattern: str) -> tuple[subprocess.Popen, re.Match]:
    """``aef-ee ARGS`` in its own process; waits for the first output line matching ``pattern``."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        found = re.search(pattern, line)
        if found:
            return proc, found
    raise RuntimeError(f"aef-ee {args[0]} exited ({proc.wait()}) before printing /{pattern}/")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stats(times_s: list[float], wall_s: float) -> dict[str, float]:
    ms = np.asarray(times_s) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "rps": len(ms) / wall_s}


def http_get(path: str, params: dict[str, Any], token: str) -> bytes:
    """One GET request's bytes (keep-alive)."""
    return (f"GET {path}?{urllib.parse.urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n\r\n").encode()


def http_post(path: str, body: Any, token: str) -> bytes:
    """One POST request's bytes with a JSON body (keep-alive)."""
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one response with a Content-Length (what uvicorn sends for JSON)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in head[1:] if line.lower().startswith("content-length:"))
    return int(head[0].split()[1]), await reader.readexactly(length)


def drive(url: str, make_request: Callable[[int], bytes], clients: int, per_client: int) -> dict[str, float]:
    """``clients`` concurrent keep-alive connections, ``per_client`` requests each, one after another on each."""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port

    async def client(i: int) -> list[float]:
        reader, writer = await asyncio.open_connection(host, port)
        times = []
        try:
            for j in range(per_client):
                started = time.perf_counter()
                writer.write(make_request(i * per_client + j))
                status, body = await _answer(reader)
                times.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"{status}: {body[:300]!r}")
        finally:
            writer.close()
        return times

    async def run() -> list[float]:
        parts = await asyncio.gather(*(client(i) for i in range(clients)))
        return [t for part in parts for t in part]

    started = time.perf_counter()
    times = asyncio.run(run())
    return stats(times, time.perf_counter() - started)


def sequential(call, n: int) -> dict[str, float]:
    times = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t)
    return stats(times, time.perf_counter() - started)


def show(name: str, s: dict[str, float], floor: dict[str, float] | None) -> None:
    ratio = f"  ({s['p50'] / floor['p50']:.2f}x the floor's p50)" if floor else ""
    print(f"  {name:<52} p50 {s['p50']:8.2f} ms  p95 {s['p95']:8.2f} ms  {s['rps']:7.1f} req/s{ratio}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per client per endpoint")
    args = parser.parse_args()
    import ee

    from aef_ee.api import EmbeddingService
    from aef_ee.backend import initialize
    from aef_ee.demo.sample_embeddings import (SAMPLE_COLLECTION, SAMPLE_CRS, SAMPLE_ORIGIN, SAMPLE_SIZE,
                                               build_sample_embedding_collection)
    from aef_ee.fields.collection import open_embeddings
    from aef_ee.search import Sampling, build_index

    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog"
        engine, found = start_command(["serve", "--catalog", str(catalog), "--port", "0"],
                                      r"initialize\('local', url='([^']+)'\)")
        api = None
        try:
            engine_url = found.group(1)
            initialize("local", url=engine_url)
            # COGs inside the catalog folder: the local engine reads images only under the folders it serves.
            build_sample_embedding_collection(catalog / ".sample-cogs")
            index = build_index(SAMPLE_COLLECTION, years=[2023, 2024], sampling=Sampling("stride", 10),
                                path=Path(tmp) / "index")
            # Points: pixel centres of the sample field, in lon / lat.
            from pyproj import Transformer

            left, top = SAMPLE_ORIGIN
            rng = np.random.default_rng(0)
            cells = rng.integers(0, SAMPLE_SIZE, (4096, 2))
            to_lonlat = Transformer.from_crs(SAMPLE_CRS, "EPSG:4326", always_xy=True)
            lon, lat = to_lonlat.transform(left + 5 + 10 * cells[:, 1], top - 5 - 10 * cells[:, 0])
            points = list(zip(lon.tolist(), lat.tolist(), strict=True))
            vectors = index.vectors(rng.integers(0, len(index), 4096))
            print(f"{CLIENTS} clients x {args.requests} requests per endpoint; sample collection "
                  f"{SAMPLE_COLLECTION} (real AlphaEarth vectors), index of {len(index)} rows ({index.ann.method})")

            stored, _ = EmbeddingService(SAMPLE_COLLECTION).stored(2024)
            dequantised = open_embeddings(2024, collection=SAMPLE_COLLECTION)

            def direct_point(i, image=stored):
                lo, la = points[i % len(points)]
                features = ee.FeatureCollection([ee.Feature(ee.Geometry.Point([lo, la]), {"i": 0})])
                image.reduceRegions(collection=features, reducer=ee.Reducer.first(), scale=10).getInfo()

            n_seq = max(20, args.requests * 2)
            print("floors (one at a time):")
            ee_floor = sequential(direct_point, n_seq)
            show("ee reduceRegions of one point (int8 mosaic), direct", ee_floor, None)
            show("  the same on the de-quantised image (reference)",
                 sequential(lambda i: direct_point(i, dequantised), n_seq), None)
            index_floor = sequential(lambda i: index.search(vectors[i % len(vectors)], k=10), n_seq * 10)
            show("index.search in process (k=10)", index_floor, None)

            token = secrets.token_hex(16)

            def point(i):
                lo, la = points[i % len(points)]
                return http_get("/embeddings", {"point": f"{lo},{la}", "year": 2024}, token)

            def similar(i):
                return http_post("/similarity", {"vector": vectors[i % len(vectors)].tolist(), "k": 10}, token)

            def health(i):
                return http_get("/health", {}, token)

            api_args = ["api", "--collection", SAMPLE_COLLECTION, "--index", str(index.path), "--port", "0",
                        "--token", token]
            for layout, where in (("aef-ee api --catalog C: the engine embedded in the API's process",
                                   ["--catalog", str(catalog)]),
                                  ("aef-ee serve + aef-ee api --url: the engine in its own process",
                                   ["--url", engine_url])):
                print(f"\n## {layout}")
                api, found = start_command([*api_args, *where], r"API on ([0-9.]+:[0-9]+);")
                url = f"http://{found.group(1)}"
                health_floor = drive(url, health, 1, n_seq)
                show("GET /health, one client (HTTP + token + routing)", health_floor, None)
                print("API, one client:")
                show("GET /embeddings (one point)", drive(url, point, 1, n_seq), ee_floor)
                show("POST /similarity (vector, k=10)", drive(url, similar, 1, n_seq), index_floor)
                print(f"API, {CLIENTS} concurrent clients:")
                show("GET /health", drive(url, health, CLIENTS, args.requests), health_floor)
                concurrent_point = drive(url, point, CLIENTS, args.requests)
                show("GET /embeddings (one point)", concurrent_point, ee_floor)
                show("POST /similarity (vector, k=10)", drive(url, similar, CLIENTS, args.requests), index_floor)
                verdict = "met" if concurrent_point["p95"] < 100 else "MISSED"
                print(f"target p95 < 100 ms for a point query under {CLIENTS} clients: {verdict} "
                      f"({concurrent_point['p95']:.1f} ms)")
                stop(api)
                api = None
        finally:
            if api is not None:
                stop(api)
            stop(engine)


if __name__ == "__main__":
    main()
