"""Model FLOP utilisation of the training step (tiny, small) on this machine, against its measured matmul peak,
and the paper config's parameter count and FLOPs per site.

    python benchmarks/model_flops.py [--configs tiny small] [--no-paper]

FLOPs come from XLA's cost analysis of the lowered step (forward, teacher + student passes, backward, Adam);
the floor is a float32 (bfloat16 on accelerators) square matmul timed in the same run. Prints one line per config
with sites/s, achieved FLOP/s and the ratio to the matmul peak (MFU).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Measure the checkout this script sits in, not whichever copy of the package happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from aef_ee_training import input_pipeline
from aef_ee_training.configs import paper, small, tiny
from aef_ee_training.model.aef import count_params
from aef_ee_training.train import compute_dtype, create_model, create_optimizer, make_loss_and_grad, make_train_step

CONFIGS = {"tiny": tiny, "small": small}
# Sites per step when measuring on a CPU (a full small batch of 32 would take minutes per step on two cores).
CPU_BATCH = {"tiny": 4, "small": 2}
MATMUL_N = 2048


def matmul_peak(dtype: jnp.dtype, repeats: int = 10) -> float:
    """Best FLOP/s of an N x N matmul chain on the default device."""
    a = jax.random.normal(jax.random.PRNGKey(0), (MATMUL_N, MATMUL_N), dtype)
    f = jax.jit(lambda x: x @ a)
    x = f(a).block_until_ready()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        x = f(x).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * MATMUL_N**3 / best


def step_flops(config, channels, batch_size: int, dtype) -> tuple[int, float]:
    abstract = nnx.eval_shape(lambda: create_model(config, channels, seed=0, dtype=dtype))
    graphdef, params = nnx.split(abstract)
    batch = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), input_pipeline.synthetic_batch(config, channels, batch_size)
    )
    lowered = jax.jit(make_loss_and_grad(graphdef, config)).lower(params, batch, jax.ShapeDtypeStruct((), jnp.int32))
    return count_params(abstract), float(lowered.cost_analysis()["flops"])


def measure(name: str, peak: float, steps: int) -> None:
    config = CONFIGS[name].get_config()
    channels = dict(paper.CHANNELS)
    dtype = compute_dtype(config)
    batch_size = CPU_BATCH[name] if jax.default_backend() == "cpu" else config.batch_size
    n_params, flops = step_flops(config, channels, batch_size, dtype)
    graphdef, params = nnx.split(create_model(config, channels, seed=0, dtype=dtype))
    tx = create_optimizer(config)
    opt_state = tx.init(params)
    step_fn = jax.jit(make_train_step(graphdef, tx, config), donate_argnums=(0, 1))
    batch = jax.device_put(input_pipeline.synthetic_batch(config, channels, batch_size))
    params, opt_state, m = step_fn(params, opt_state, batch, jnp.int32(0))
    jax.block_until_ready(m)
    t = time.perf_counter()
    for i in range(steps):
        params, opt_state, m = step_fn(params, opt_state, batch, jnp.int32(i + 1))
    jax.block_until_ready(m)
    seconds = (time.perf_counter() - t) / steps
    achieved = flops / seconds
    print(
        f"{name:5s} params={n_params:,} batch={batch_size} step={seconds * 1e3:.1f} ms "
        f"sites/s={batch_size / seconds:.2f} flops/site(train)={flops / batch_size / 1e9:.3f} GFLOP "
        f"achieved={achieved / 1e9:.2f} GFLOP/s  MFU = achieved / matmul peak = {achieved / peak:.3f}"
    )


def paper_figures() -> None:
    config = paper.get_config()
    n_params, flops = step_flops(config, paper.CHANNELS, 1, jnp.bfloat16)
    abstract = nnx.eval_shape(lambda: create_model(config, paper.CHANNELS, seed=0, dtype=jnp.bfloat16))
    graphdef, params = nnx.split(abstract)
    batch = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), input_pipeline.synthetic_batch(config, paper.CHANNELS, 1)
    )
    embed = jax.jit(lambda p, b: nnx.merge(graphdef, p).embed(b["inputs"], b["period_days"]))
    embed_flops = float(embed.lower(params, batch).cost_analysis()["flops"])
    frames = sum(config.max_frames.values())
    print(
        f"paper params={n_params:,} (published: ~480M) site={config.site_size}x{config.site_size}, "
        f"{frames} input frames: "
        f"train step {flops / 1e12:.2f} TFLOP/site, embedding (inference) {embed_flops / 1e12:.2f} TFLOP/site"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", default=["tiny", "small"], choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-paper", action="store_true")
    args = parser.parse_args()
    dtype = jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    peak = matmul_peak(dtype)
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; "
          f"matmul peak ({MATMUL_N}^2, {jnp.dtype(dtype).name}) = {peak / 1e9:.2f} GFLOP/s")
    for name in args.configs:
        measure(name, peak, args.steps)
    if not args.no_paper:
        paper_figures()


if __name__ == "__main__":
    main()
