"""Training throughput in sites per second (real grain pipeline + jitted step) for tiny and small, against the
input pipeline alone measured in the same run (the floor: the step can never be faster than its data).

    python benchmarks/training_throughput.py [--data DIR] [--configs tiny small] [--steps 10]

Without ``--data`` it writes the WorldCereal Belgium test videos (9 sites of 48 x 48 from ``data/``) to a temporary
directory with the test suite's converter. Prints sites/s of the pipeline, of pipeline + step, and their ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Measure the checkout this script sits in, not whichever copy of the package happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import tempfile
import time

import jax
import jax.numpy as jnp
from flax import nnx

from aef_ee_training import input_pipeline
from aef_ee_training.configs import small, tiny
from aef_ee_training.train import compute_dtype, create_model, create_optimizer, make_train_step

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"tiny": tiny, "small": small}
CPU_BATCH = {"tiny": 4, "small": 2}


def worldcereal_dataset(out: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "training"))
    from worldcereal import build_videos  # the tests' converter of data/worldcereal into site videos

    from aef_ee.videos.format import VideoWriter

    with VideoWriter(out, sites_per_shard=4) as writer:
        for video in build_videos():
            writer.write(video)
    return out


def run(name: str, data: Path, steps: int) -> None:
    config = CONFIGS[name].get_config()
    config.worker_count = 0
    batch_size = CPU_BATCH[name] if jax.default_backend() == "cpu" else config.batch_size
    # Small wants 64 x 64 sites; the WorldCereal test sites are 48 x 48, so measure it at the largest size they allow.
    sites = input_pipeline.VideoDataset(data)[0].sources["s2"].frames.shape[1]
    config.site_size = min(config.site_size, sites // 16 * 16)
    stats = input_pipeline.source_stats(input_pipeline.VideoDataset(data).stats)
    channels = input_pipeline.channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))

    it = iter(input_pipeline.create_loader(str(data), config, seed=0, batch_size=batch_size))
    next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    pipeline = steps * batch_size / (time.perf_counter() - t)

    dtype = compute_dtype(config)
    graphdef, params = nnx.split(create_model(config, channels, seed=0, dtype=dtype))
    tx = create_optimizer(config)
    opt_state = tx.init(params)
    step_fn = jax.jit(make_train_step(graphdef, tx, config), donate_argnums=(0, 1))
    params, opt_state, m = step_fn(params, opt_state, next(it), jnp.int32(0))
    jax.block_until_ready(m)
    t = time.perf_counter()
    for i in range(steps):
        params, opt_state, m = step_fn(params, opt_state, next(it), jnp.int32(i + 1))
    jax.block_until_ready(m)
    training = steps * batch_size / (time.perf_counter() - t)
    print(
        f"{name:5s} L={config.site_size} batch={batch_size}: pipeline alone {pipeline:.1f} sites/s, "
        f"pipeline + train step {training:.2f} sites/s, ratio to the pipeline floor {training / pipeline:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--configs", nargs="*", default=["tiny", "small"], choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or worldcereal_dataset(Path(tmp) / "videos")
        for name in args.configs:
            run(name, data, args.steps)


if __name__ == "__main__":
    main()
