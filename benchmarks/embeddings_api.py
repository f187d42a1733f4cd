"""The embeddings API's latency and throughput under 32 concurrent clients, against floors measured in the same run.

The claim (issue 18): p95 < 100 ms for a point query (``GET /embeddings``) on the local engine. A child process
serves the API (uvicorn on a free loopback port) and the local engine it calls, on the sample embedding collection
of real AlphaEarth vectors (:mod:`aef_ee.demo.sample_embeddings`) with a vector index of every pixel; this process
runs the clients (httpx, one connection per client thread) and the floors:

- ``GET /health``: the HTTP + token + routing floor of any request;
- the same Earth Engine request ``GET /embeddings`` makes (``reduceRegions`` of one point on the stored int8
  mosaic), straight from an ``ee`` client to the same engine, one at a time: the floor of a point query (and, for
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
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLIENTS = 32


def serve(workdir: Path) -> None:
    """The child: local engine + sample collection + index + API; prints one JSON line, serves until stdin closes."""
    import logging

    from aef_ee.api import ApiServer, ApiSettings
    from aef_ee.backend import initialize
    from aef_ee.demo.sample_embeddings import SAMPLE_COLLECTION, build_sample_embedding_collection
    from aef_ee.local.server import LocalServer
    from aef_ee.search import Sampling, build_index

    logging.basicConfig(level=logging.WARNING)
    engine = LocalServer(workdir / "catalog", settings={}).start()
    token = getattr(engine, "token", None)
    initialize("local", url=engine.url, **({"token": token} if token else {}))
    # COGs inside the catalog folder: the local engine reads images only under the folders it serves.
    build_sample_embedding_collection(workdir / "catalog" / ".sample-cogs")
    index = build_index(SAMPLE_COLLECTION, years=[2023, 2024], sampling=Sampling("stride", 10),
                        path=workdir / "index")
    settings = ApiSettings(collection=SAMPLE_COLLECTION, index_path=str(index.path), port=0)
    with ApiServer(settings) as api:
        print(json.dumps({"url": api.url, "token": settings.token, "engine": engine.url, "engine_token": token,
                          "index": str(index.path), "collection": SAMPLE_COLLECTION}), flush=True)
        sys.stdin.read()
    engine.stop()


def stats(times_s: list[float], wall_s: float) -> dict[str, float]:
    ms = np.asarray(times_s) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "rps": len(ms) / wall_s}


def drive(make_request, clients: int, per_client: int) -> dict[str, float]:
    """``clients`` threads, each with its own connection, ``per_client`` requests each."""
    import httpx

    def client(i: int) -> list[float]:
        times = []
        with httpx.Client(timeout=120) as http:
            for j in range(per_client):
                started = time.perf_counter()
                response = make_request(http, i * per_client + j)
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        return times

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        times = [t for part in pool.map(client, range(clients)) for t in part]
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
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the child's work folder
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve))
        return
    import ee

    from aef_ee.api import EmbeddingService
    from aef_ee.backend import initialize
    from aef_ee.demo.sample_embeddings import SAMPLE_CRS, SAMPLE_ORIGIN, SAMPLE_SIZE
    from aef_ee.fields.collection import open_embeddings
    from aef_ee.search import open_index

    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen([sys.executable, __file__, "--serve", tmp], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            info = json.loads(child.stdout.readline())
            initialize("local", url=info["engine"], **({"token": info["engine_token"]} if info["engine_token"] else {}))
            headers = {"Authorization": f"Bearer {info['token']}"}
            # Points: pixel centres of the sample field, in lon / lat.
            from pyproj import Transformer

            left, top = SAMPLE_ORIGIN
            rng = np.random.default_rng(0)
            cells = rng.integers(0, SAMPLE_SIZE, (4096, 2))
            to_lonlat = Transformer.from_crs(SAMPLE_CRS, "EPSG:4326", always_xy=True)
            lon, lat = to_lonlat.transform(left + 5 + 10 * cells[:, 1], top - 5 - 10 * cells[:, 0])
            points = list(zip(lon.tolist(), lat.tolist(), strict=True))
            index = open_index(info["index"])
            vectors = index.vectors(rng.integers(0, len(index), 4096))
            print(f"{CLIENTS} clients x {args.requests} requests per endpoint; sample collection "
                  f"{info['collection']} (real AlphaEarth vectors), index of {len(index)} rows ({index.ann.method})")

            def point(http, i):
                lo, la = points[i % len(points)]
                return http.get(f"{info['url']}/embeddings", params={"point": f"{lo},{la}", "year": 2024},
                                headers=headers)

            def similar(http, i):
                return http.post(f"{info['url']}/similarity", json={"vector": vectors[i % len(vectors)].tolist(),
                                                                    "k": 10}, headers=headers)

            def health(http, i):
                return http.get(f"{info['url']}/health", headers=headers)

            stored, _ = EmbeddingService(info["collection"]).stored(2024)
            dequantised = open_embeddings(2024, collection=info["collection"])

            def direct_point(i, image=stored):
                lo, la = points[i % len(points)]
                features = ee.FeatureCollection([ee.Feature(ee.Geometry.Point([lo, la]), {"i": 0})])
                image.reduceRegions(collection=features, reducer=ee.Reducer.first(), scale=10).getInfo()

            n_seq = max(20, args.requests * 2)
            print("floors (one at a time):")
            health_floor = drive(health, 1, n_seq)
            show("GET /health (HTTP + token + routing)", health_floor, None)
            ee_floor = sequential(direct_point, n_seq)
            show("ee reduceRegions of one point (int8 mosaic), direct", ee_floor, None)
            show("  the same on the de-quantised image (reference)",
                 sequential(lambda i: direct_point(i, dequantised), n_seq), None)
            index_floor = sequential(lambda i: index.search(vectors[i % len(vectors)], k=10), n_seq * 10)
            show("index.search in process (k=10)", index_floor, None)
            print("API, one client:")
            show("GET /embeddings (one point)", drive(point, 1, n_seq), ee_floor)
            show("POST /similarity (vector, k=10)", drive(similar, 1, n_seq), index_floor)
            print(f"API, {CLIENTS} concurrent clients:")
            show("GET /health", drive(health, CLIENTS, args.requests), health_floor)
            concurrent_point = drive(point, CLIENTS, args.requests)
            show("GET /embeddings (one point)", concurrent_point, ee_floor)
            show("POST /similarity (vector, k=10)", drive(similar, CLIENTS, args.requests), index_floor)
            verdict = "met" if concurrent_point["p95"] < 100 else "MISSED"
            print(f"target p95 < 100 ms for a point query under {CLIENTS} clients: {verdict} "
                  f"({concurrent_point['p95']:.1f} ms)")
        finally:
            child.stdin.close()
            child.wait(timeout=60)


if __name__ == "__main__":
    main()
