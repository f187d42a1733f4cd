"""Embedding-field throughput (pixels/s and km²/h) of ``aef_ee_training.infer.embed_video`` for the tiny and small
models,
beside the model's FLOPs per pixel (XLA cost analysis) and the machine's matmul peak measured in the same run, so the
utilisation is visible.

    python benchmarks/embedding_throughput.py [--configs tiny small] [--size 128] [--frames 12] [--repeats 3]

The model weights are random (throughput depends on shapes, not values); the video has the shipped tiny checkpoint's
bands and statistics (training/checkpoints/tiny-belgium/inference.json) with real-sized frame stacks of Sentinel-2 and
Sentinel-1. On a GPU the same script measures the accelerator.
"""

from __future__ import annotations

import json

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from aef_ee.videos.format import SiteVideo, SourceFrames
from aef_ee_training import input_pipeline
from aef_ee_training.configs import small, tiny
from aef_ee_training.infer import _embed, embed_video
from aef_ee_training.train import create_model

REPO = Path(__file__).resolve().parents[1]
STATS = REPO / "training" / "checkpoints" / "tiny-belgium" / "inference.json"
CONFIGS = {"tiny": tiny, "small": small}
PIXEL_AREA_KM2 = 1e-4  # a 10 m pixel


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul FLOP/s of the default JAX device (the floor of what the model could reach)."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def synthetic_video(stats: dict, size: int, frames: int, seed: int = 0) -> SiteVideo:
    rng = np.random.default_rng(seed)
    t0 = int(np.datetime64("2021-01-01", "ms").astype(np.int64))
    times = t0 + np.arange(frames, dtype=np.int64) * 30 * 86_400_000
    sources = {}
    for name, low, high in (("s2", 0.0, 0.5), ("s1", -25.0, 0.0)):
        bands = tuple(stats[name].bands)
        values = rng.uniform(low, high, (frames, size, size, len(bands))).astype(np.float32)
        sources[name] = SourceFrames(values, np.ones((frames, size, size), bool), times, bands)
    return SiteVideo("bench", "EPSG:32631", (10, 0, 600000, 0, -10, 5600000), (4.5, 50.5),
                     (t0, t0 + 365 * 86_400_000), sources)


def run(name: str, size: int, frames: int, repeats: int, peak: float) -> None:
    config = CONFIGS[name].get_config()
    stats = input_pipeline.source_stats(json.loads(STATS.read_text())["stats"])
    channels = input_pipeline.channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))
    missing = [s for s in channels if s not in stats]
    if missing:
        print(f"{name}: skipped, the statistics have no {missing}")
        return
    model = create_model(config, channels, seed=0)
    video = synthetic_video(stats, max(size, config.site_size), frames)
    embed_video(model, video, config, stats)  # compile
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        embed_video(model, video, config, stats)
        best = min(best, time.perf_counter() - t)
    pixels = video.sources["s2"].frames.shape[1] * video.sources["s2"].frames.shape[2]
    # FLOPs of one L x L window from XLA's cost analysis of the compiled embed function.
    example = input_pipeline.inference_example(video, config, stats, y=0, x=0)
    batch = jax.tree.map(lambda x: np.asarray(x)[None], example)
    compiled = _embed.lower(model, batch["inputs"], jnp.asarray(batch["period_days"])).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    flops_per_pixel = float(analysis.get("flops", float("nan"))) / config.site_size**2
    rate = pixels / best
    print(f"{name:5s} L={config.site_size:3d} {pixels} px x {frames} frames: {rate:10.0f} pixels/s "
          f"= {rate * PIXEL_AREA_KM2 * 3600:8.1f} km²/h; {flops_per_pixel / 1e6:8.2f} MFLOP/pixel; "
          f"{rate * flops_per_pixel / 1e9:7.2f} GFLOP/s = {rate * flops_per_pixel / peak:6.1%} of the matmul peak")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=sorted(CONFIGS))
    parser.add_argument("--size", type=int, default=128, help="video side in pixels")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    peak = matmul_peak()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); measured float32 matmul peak "
          f"{peak / 1e9:.1f} GFLOP/s")
    for name in args.configs:
        run(name, args.size, args.frames, args.repeats, peak)


if __name__ == "__main__":
    main()
