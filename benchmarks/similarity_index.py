"""The vector index against the exact numpy search floor, on 10^6 and 10^7 synthetic 64-D unit vectors.

The claim (issue 18): recall@10 >= 0.95 at <= 10 ms per query on 10^7 vectors on a 2-core machine. The data are
synthetic unit vectors with cluster structure (not real embeddings: 10^7 real ones are not in the repository):
cluster centres drawn uniformly on the sphere, each vector a centre plus Gaussian noise of a per-cluster spread,
re-normalised; queries are drawn the same way (held out). Per size it measures, in one run:

- the floor: exact numpy search (float32 matrix, one matrix-vector product per query + ``argpartition``);
- the index as aef-ee builds it (:class:`aef_ee.search.ann.IvfSearch`: FAISS IVF with int8 codes, the stored float16
  vectors re-scoring the best ``rerank * k`` candidates), at several ``probes``;
- with ``--compare``, the other libraries considered, at the first size only: usearch (HNSW, int8) and ScaNN
  (tree + asymmetric hashing + exact re-ordering).

Each figure is printed with its ratio to the floor: build time (the floor's "build" is making the float32 matrix),
memory (bytes the search holds), query latency p50 / p95 (one query per call, as an API request makes) and
recall@10 (against the floor's answers, which are exact).

Run::

    python benchmarks/similarity_index.py                      # 10^6 and 10^7 (about 15-25 min, 6 GB of memory)
    python benchmarks/similarity_index.py --sizes 100000 --queries 200 --truth-queries 100   # a quick look
    python benchmarks/similarity_index.py --sizes 1000000 --compare    # FAISS vs usearch vs ScaNN at 10^6
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIMS = 64
K = 10


def synthetic_unit_vectors(n: int, *, clusters: int, seed: int, centres_seed: int = 0) -> np.ndarray:
    """(n, 64) float32 unit vectors around ``clusters`` centres (spread 0.2..0.6 of a unit per cluster)."""
    centre_rng = np.random.default_rng(centres_seed)
    centres = centre_rng.standard_normal((clusters, DIMS)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = centre_rng.uniform(0.2, 0.6, clusters).astype(np.float32) / np.sqrt(DIMS)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIMS), np.float32)
    step = 1_000_000
    for start in range(0, n, step):
        m = min(step, n - start)
        which = rng.integers(0, clusters, m)
        block = centres[which] + rng.standard_normal((m, DIMS), dtype=np.float32) * spread[which, None]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + m] = block
    return out


def percentiles(times_s: list[float]) -> tuple[float, float]:
    return float(np.percentile(times_s, 50) * 1e3), float(np.percentile(times_s, 95) * 1e3)


def timed_queries(search, queries: np.ndarray) -> tuple[float, float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        search(q[None])
        times.append(time.perf_counter() - started)
    return percentiles(times)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def line(name: str, build_s: float, memory: float, p50: float, p95: float, recall: float, floor: dict) -> None:
    print(f"  {name:<34} build {build_s:8.1f} s ({build_s / floor['build']:7.1f}x)  "
          f"memory {memory / 2**20:8.0f} MiB ({memory / floor['memory']:5.2f}x)  "
          f"p50 {p50:7.3f} ms ({p50 / floor['p50']:.4f}x)  p95 {p95:7.3f} ms ({p95 / floor['p95']:.4f}x)  "
          f"recall@10 {recall:.4f} ({recall / floor['recall']:.4f}x)", flush=True)


def run_size(n: int, args: argparse.Namespace, compare: bool) -> None:
    from aef_ee.search.ann import ExactSearch, IvfParams, IvfSearch, exact_top_k
    from aef_ee.search.store import stored_vectors

    clusters = max(100, n // 1000)
    print(f"\n== {n:,} vectors, 64-D, {clusters} synthetic clusters; {args.queries} latency queries, "
          f"{args.truth_queries} recall queries ==", flush=True)
    started = time.perf_counter()
    data = synthetic_unit_vectors(n, clusters=clusters, seed=1)
    queries = synthetic_unit_vectors(args.queries, clusters=clusters, seed=2)
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)

    # The floor: exact numpy search on the float32 matrix.
    started = time.perf_counter()
    floor_index = ExactSearch(data)
    floor_build = max(time.perf_counter() - started, 1e-3)
    truth_queries = queries[:args.truth_queries]
    started = time.perf_counter()
    _, truth = exact_top_k(truth_queries, lambda a, b: data[a:b], n, K)
    print(f"  exact ground truth for {len(truth_queries)} queries in {time.perf_counter() - started:.1f} s",
          flush=True)
    p50, p95 = timed_queries(lambda q: floor_index.search(q, K), queries[:args.floor_queries])
    floor = {"build": floor_build, "memory": float(data.nbytes), "p50": p50, "p95": p95, "recall": 1.0}
    line("exact numpy (floor)", floor_build, data.nbytes, p50, p95, 1.0, floor)

    # aef-ee's index: FAISS IVF + int8 scalar quantiser, float16 stored vectors for the exact re-score.
    gc.collect()
    rss0 = rss_bytes()
    started = time.perf_counter()
    codes = stored_vectors(data)

    def stored(rows: np.ndarray) -> np.ndarray:
        return codes[rows].astype(np.float32)

    params = IvfParams(probes=args.probes[0])
    ivf = IvfSearch(params, stored)
    pick = np.random.default_rng(0).choice(n, min(n, params.train_size), replace=False)
    ivf.train(data[np.sort(pick)], n)
    ivf.add(data, 0)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        ivf.save(os.path.join(tmp, "ann.faiss"))
        index_bytes = os.path.getsize(os.path.join(tmp, "ann.faiss")) + codes.nbytes
    print(f"  (IVF: {ivf.index.nlist} lists; process memory grew {(rss_bytes() - rss0) / 2**20:.0f} MiB while "
          f"building, the float16 vectors included)", flush=True)
    for probes in args.probes:
        ivf.ivf_params = IvfParams(probes=probes, rerank=params.rerank, lists=params.lists,
                                   train_size=params.train_size)
        _, found = ivf.search(truth_queries, K)
        p50, p95 = timed_queries(lambda q: ivf.search(q, K), queries)
        line(f"faiss IVF-SQ8 + rerank, probes {probes}", build_s, index_bytes, p50, p95,
             recall_at_k(found, truth), floor)
    ivf = codes = None  # free them before the next library
    gc.collect()

    if compare:
        compare_libraries(data, queries, truth_queries, truth, floor)


def compare_libraries(data: np.ndarray, queries: np.ndarray, truth_queries: np.ndarray, truth: np.ndarray,
                      floor: dict) -> None:
    n = len(data)
    try:
        from usearch.index import Index
    except ImportError:
        print("  usearch: not installed (pip install usearch)")
    else:
        started = time.perf_counter()
        index = Index(ndim=DIMS, metric="ip", dtype="i8", connectivity=16, expansion_add=64)
        index.add(np.arange(n), data, threads=os.cpu_count() or 1)
        build_s = time.perf_counter() - started
        memory = index.memory_usage
        for expansion in (32, 64, 128):
            index.expansion_search = expansion
            found = index.search(truth_queries, K).keys.astype(np.int64)
            p50, p95 = timed_queries(lambda q: index.search(q[0], K), queries)
            line(f"usearch HNSW i8, expansion {expansion}", build_s, memory, p50, p95, recall_at_k(found, truth),
                 floor)
        del index
    try:
        import scann
    except ImportError:
        print("  ScaNN: not installed (pip install scann)")
        return
    leaves = int(2 * np.sqrt(n))
    started = time.perf_counter()
    searcher = scann.scann_ops_pybind.builder(data, K, "dot_product").tree(
        num_leaves=leaves, num_leaves_to_search=leaves // 20, training_sample_size=min(n, 250_000)).score_ah(
        2, anisotropic_quantization_threshold=0.2).reorder(100).build()
    build_s = time.perf_counter() - started
    memory = n * DIMS * 4 + n * DIMS // 2  # its float32 re-ordering copy and 4-bit AH codes
    for fraction in (50, 20, 10):
        to_search = max(1, leaves // fraction)
        found, _ = searcher.search_batched(truth_queries, leaves_to_search=to_search, pre_reorder_num_neighbors=100)
        p50, p95 = timed_queries(lambda q, n=to_search: searcher.search(q[0], leaves_to_search=n,
                                                                        pre_reorder_num_neighbors=100), queries)
        line(f"ScaNN tree-AH, {to_search} leaves", build_s, memory, p50, p95, recall_at_k(found, truth), floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--queries", type=int, default=1000, help="single queries timed per index")
    parser.add_argument("--truth-queries", type=int, default=200, help="queries whose recall@10 is measured")
    parser.add_argument("--floor-queries", type=int, default=20, help="single queries timed on the exact floor")
    parser.add_argument("--probes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--compare", action="store_true", help="also usearch and ScaNN, at the first size")
    args = parser.parse_args()
    import faiss

    print(f"numpy {np.__version__}, faiss {faiss.__version__}, {os.cpu_count()} CPUs; synthetic clustered unit "
          "vectors (not real embeddings)")
    for i, n in enumerate(args.sizes):
        run_size(n, args, compare=args.compare and i == 0)


if __name__ == "__main__":
    main()
