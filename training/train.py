"""Training: ``train_and_evaluate(config, workdir)`` reads top to bottom — mesh, input pipeline, model and
optimiser, update step, checkpoint, loop.

    python -m aef_ee_training.train --config tiny --data /path/to/videos --workdir /tmp/aef_tiny

Outputs under ``workdir``: ``checkpoints/<step>/`` (Orbax: parameters, Adam state, step and the grain iterator
state, so a restarted run continues with exactly the batches and random numbers it would have seen),
``metrics.jsonl`` (one JSON object per logged step), ``tensorboard/`` (tensorboardX event files) and
``inference.json`` (:data:`INFERENCE_FILE`: the config, the normalisation statistics and band lists, so a checkpoint
embeds without its training data).

Any config field can be overridden on the command line, as with ml_collections' ``config_flags``::

    python -m aef_ee_training.train --config tiny --data DIR --workdir W --config.num_steps=600 \
        --config.model.time_width=48 --config.input_sources="('s2',)"
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grain.python as grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import flags
from flax import nnx
from tqdm import tqdm

from aef_ee.videos.format import VideoDataset
from aef_ee_training import input_pipeline, sharding
from aef_ee_training.configs import base
from aef_ee_training.errors import ConfigError, NonFiniteError
from aef_ee_training.model.aef import AlphaEarth, ModelOptions, count_params
from aef_ee_training.objective import compute_losses

__all__ = [
    "INFERENCE_FILE",
    "train_and_evaluate",
    "apply_overrides",
    "write_inference_metadata",
    "create_model",
    "create_optimizer",
    "create_optimizer_schedule",
    "make_loss_and_grad",
    "make_train_step",
    "compute_dtype",
    "get_config",
    "main",
]

logger = logging.getLogger(__name__)
CONFIGS = ("tiny", "small", "paper")
INFERENCE_FILE = "inference.json"  # beside checkpoints/: what inference needs besides the parameters
OVERRIDE_PREFIX = "--config."


def write_inference_metadata(workdir: str | Path, config: Any, dataset_stats: Mapping[str, Any]) -> Path:
    """Writes ``workdir/inference.json``: the config (JSON) and the dataset's per-source statistics and bands."""
    from aef_ee.atomic import atomic_path

    path = Path(workdir) / INFERENCE_FILE
    payload = {"format_version": 1, "config": json.loads(config.to_json_best_effort()),
               "stats": {k: dict(v) for k, v in dataset_stats.items()}}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=1, default=lambda o: np.asarray(o).tolist()))
    return path


def _parse_value(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string


def apply_overrides(config: Any, overrides: Mapping[str, str]) -> Any:
    """Sets dotted fields of ``config`` from strings (Python literals, or bare words as strings), in place.

    Raises:
      ConfigError: a field the config does not have, or a value of another type than the field's.
    """
    for dotted, text in overrides.items():
        *parents, leaf = dotted.split(".")
        node = config
        for name in parents:
            if name not in node:
                raise ConfigError(f"--config.{dotted}: the config has no field {name!r}")
            node = node[name]
        if leaf not in node:
            raise ConfigError(f"--config.{dotted}: the config has no field {dotted!r}")
        value, old = _parse_value(text), node[leaf]
        if isinstance(old, tuple) and isinstance(value, (list, tuple)):
            value = tuple(value)
        elif isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if old is not None and not isinstance(old, type(value)) and not isinstance(value, type(old)):
            raise ConfigError(f"--config.{dotted}={text!r}: expected {type(old).__name__} like {old!r}")
        if isinstance(old, ml_collections.ConfigDict):
            value = ml_collections.ConfigDict(value)
        node[leaf] = value
    return config


def _split_overrides(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    overrides, rest = {}, []
    it = iter(argv)
    for arg in it:
        if arg.startswith(OVERRIDE_PREFIX):
            key, eq, value = arg[len(OVERRIDE_PREFIX):].partition("=")
            overrides[key] = value if eq else next(it, "")
        else:
            rest.append(arg)
    return overrides, rest


def compute_dtype(config: Any) -> jnp.dtype:
    """bfloat16 on accelerators, float32 on CPU, unless ``config.dtype`` names one."""
    if config.dtype == "auto":
        return jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
    return jnp.dtype(config.dtype)


def create_model(config: Any, channels: Mapping[str, int], *, seed: int, dtype: jnp.dtype = jnp.float32) -> AlphaEarth:
    """The model of ``config`` for a dataset with ``channels`` bands per source, initialised from ``seed``."""
    return AlphaEarth(ModelOptions.from_config(config, channels), dtype=dtype, rngs=nnx.Rngs(seed))


def create_optimizer_schedule(config: Any) -> optax.Schedule:
    """Linear warm-up from 0 to ``learning_rate`` over ``warmup_steps``, then linear decay to 0 at ``num_steps``."""
    warmup = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    decay = optax.linear_schedule(config.learning_rate, 0.0, max(config.num_steps - config.warmup_steps, 1))
    return optax.join_schedules([warmup, decay], [config.warmup_steps])


def create_optimizer(config: Any) -> optax.GradientTransformation:
    """Adam; learning rate warmed up linearly over ``warmup_steps`` then decayed linearly to 0 at ``num_steps``."""
    return optax.adam(create_optimizer_schedule(config))


def make_loss_and_grad(graphdef: nnx.GraphDef, config: Any):
    """``(params, batch, step) -> ((loss, aux), grads)``; the step's random key is ``fold_in(seed, step)``."""
    base_key = jax.random.PRNGKey(config.seed)

    def loss_fn(params: nnx.State, batch: Mapping[str, Any], key: jax.Array):
        return compute_losses(nnx.merge(graphdef, params), batch, key, config=config)

    def loss_and_grad(params, batch, step):
        key = jax.random.fold_in(base_key, step)
        return jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)

    return loss_and_grad


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, config: Any):
    """The pure update ``(params, opt_state, batch, step) -> (params, opt_state, metrics)``."""
    loss_and_grad = make_loss_and_grad(graphdef, config)

    def train_step(params, opt_state, batch, step):
        (loss, aux), grads = loss_and_grad(params, batch, step)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux}

    return train_step


def _check_finite(step: int, metrics: Mapping[str, float]) -> None:
    bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
    if bad:
        raise NonFiniteError(f"step {step}: non-finite {bad}")


def train_and_evaluate(config: Any, workdir: str | Path) -> dict[str, float]:
    """Trains ``config`` on ``config.data_dir``, resuming from the latest checkpoint in ``workdir``.

    Args:
      config: a config from ``training/configs`` with ``data_dir`` set.
      workdir: checkpoints, metrics.jsonl and tensorboard/ go here.

    Returns:
      The last logged metrics (floats).

    Raises:
      ConfigError: ``data_dir`` or a field the config must choose is not set, or the batch or mesh does not fit
        the devices.
      NonFiniteError: the loss or the gradient norm became NaN or infinite.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not config.get("data_dir"):
        raise ConfigError("config.data_dir is not set (python -m aef_ee_training.train --data DIR)")
    unset = base.unset_fields(config)
    if unset:
        raise ConfigError(f"config fields not set: {', '.join(unset)} (each config chooses them; see configs/base.py)")

    # 1. Mesh: data parallel over every device, parameters sharded over 'fsdp'.
    mesh = sharding.create_mesh(config.mesh.data, config.mesh.fsdp)
    if config.batch_size % mesh.size:
        raise ConfigError(f"batch_size {config.batch_size} is not divisible by the {mesh.size} devices")
    host_batch = config.batch_size // jax.process_count()
    batch_sharding = sharding.batch_sharding(mesh)

    # 2. Input pipeline.
    loader = input_pipeline.create_loader(config.data_dir, config, seed=config.seed, batch_size=host_batch)
    data_iter = iter(loader)
    dataset_stats = VideoDataset(config.data_dir).stats
    stats = input_pipeline.source_stats(dataset_stats)
    channels = input_pipeline.channels_from_stats(
        stats, sorted(set(config.input_sources) | set(config.target_sources))
    )

    # 3. Model and optimiser, created directly with their shardings.
    dtype = compute_dtype(config)
    abstract = nnx.eval_shape(lambda: create_model(config, channels, seed=config.seed, dtype=dtype))
    graphdef, abstract_params = nnx.split(abstract)
    param_shardings = sharding.param_sharding(abstract_params, mesh)
    params = jax.jit(
        lambda: nnx.split(create_model(config, channels, seed=config.seed, dtype=dtype))[1],
        out_shardings=param_shardings,
    )()
    tx = create_optimizer(config)
    opt_shardings = sharding.param_sharding(jax.eval_shape(tx.init, params), mesh)
    opt_state = jax.jit(tx.init, out_shardings=opt_shardings)(params)
    logger.info("model: %d parameters, compute dtype %s, mesh %s", count_params(abstract), dtype, dict(mesh.shape))

    # 4. Update step.
    step_fn = jax.jit(
        make_train_step(graphdef, tx, config),
        in_shardings=(param_shardings, opt_shardings, batch_sharding, sharding.replicated(mesh)),
        out_shardings=(param_shardings, opt_shardings, sharding.replicated(mesh)),
        donate_argnums=(0, 1),
    )

    # 5. Checkpoint: restore the latest (parameters, optimiser, step, data iterator) if there is one.
    manager = ocp.CheckpointManager(
        (workdir / "checkpoints").absolute(),
        options=ocp.CheckpointManagerOptions(max_to_keep=config.max_checkpoints, create=True),
        item_handlers={"state": ocp.StandardCheckpointHandler(), "data": grain.PyGrainCheckpointHandler()},
    )
    start_step = 0
    if manager.latest_step() is not None:
        start_step = int(manager.latest_step())
        target = {"params": params, "opt_state": opt_state}
        abstract_state = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), target
        )
        restored = manager.restore(
            start_step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), data=grain.PyGrainCheckpointRestore(data_iter)
            ),
        )
        params, opt_state = restored["state"]["params"], restored["state"]["opt_state"]
        logger.info("resumed from step %d", start_step)

    # 6. Loop.
    is_main = jax.process_index() == 0
    if is_main:
        write_inference_metadata(workdir, config, dataset_stats)
    writer = None
    if is_main:
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(workdir / "tensorboard"))
    metrics_path = workdir / "metrics.jsonl"
    last: dict[str, float] = {}
    bar = tqdm(range(start_step, config.num_steps), initial=start_step, total=config.num_steps, disable=not is_main,
               desc="train", unit="step")
    tick, sites = time.perf_counter(), 0
    for step in bar:
        local = next(data_iter)
        batch = jax.tree.map(lambda x: jax.make_array_from_process_local_data(batch_sharding, x), local)
        params, opt_state, metrics = step_fn(params, opt_state, batch, jnp.asarray(step, jnp.int32))
        done = step + 1
        sites += config.batch_size
        if done % config.log_every == 0 or done == config.num_steps:
            last = {k: float(v) for k, v in jax.device_get(metrics).items()}
            _check_finite(done, last)
            now = time.perf_counter()
            last["sites_per_s"] = sites / (now - tick)
            last["learning_rate"] = float(create_optimizer_schedule(config)(step))
            tick, sites = now, 0
            bar.set_postfix(loss=f"{last['loss']:.4f}", sites_per_s=f"{last['sites_per_s']:.1f}")
            if is_main:
                with metrics_path.open("a") as f:
                    f.write(json.dumps({"step": done, **last}) + "\n")
                for k, v in last.items():
                    writer.add_scalar(k, v, done)
        if done % config.checkpoint_every == 0 or done == config.num_steps:
            manager.save(
                done,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave({"params": params, "opt_state": opt_state}),
                    data=grain.PyGrainCheckpointSave(data_iter),  # one file per process
                ),
            )
    manager.wait_until_finished()
    manager.close()
    if writer is not None:
        writer.close()
    return last


def get_config(name: str) -> Any:
    """The config ``name`` (one of :data:`CONFIGS`) from ``training/configs``."""
    if name not in CONFIGS:
        raise ConfigError(f"unknown config {name!r}; choose one of {CONFIGS}")
    return importlib.import_module(f"aef_ee_training.configs.{name}").get_config()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aef_ee_training.train", description=__doc__.splitlines()[0],
        epilog="--config.FIELD=VALUE sets any config field (Python literal or bare word), e.g. "
               "--config.num_steps=600 --config.model.time_width=48. "
               "Other --flags are absl flags, such as grain's (--grain_py_debug_mode).",
    )
    parser.add_argument("--config", default="tiny", choices=CONFIGS)
    parser.add_argument("--data", required=True, help="video dataset directory (index.json + shards)")
    parser.add_argument("--workdir", required=True, help="checkpoints and metrics go here; resumes if present")
    parser.add_argument("--steps", type=int, default=None, help="override config.num_steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override config.batch_size")
    parser.add_argument("--worker-count", type=int, default=None,
                        help="override config.worker_count (grain worker processes per host; 0: none)")
    parser.add_argument("--distributed", action="store_true", help="call jax.distributed.initialize() (multi-host)")
    import sys

    overrides, argv = _split_overrides(list(sys.argv[1:] if argv is None else argv))
    args, absl_argv = parser.parse_known_args(argv)
    # grain reads its options from absl flags, and absl refuses any flag read before the command line is parsed
    # (UnparsedFlagAccessError as soon as a config with worker processes starts), so the rest of it is parsed here.
    try:
        flags.FLAGS([parser.prog, *absl_argv])
    except flags.Error as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.distributed:
        jax.distributed.initialize()
    config = get_config(args.config)
    try:
        apply_overrides(config, overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    config.data_dir = args.data
    if args.steps is not None:
        config.num_steps = args.steps
    if args.batch_size is not None:
        config.batch_size = args.batch_size
    if args.worker_count is not None:
        config.worker_count = args.worker_count
    train_and_evaluate(config, args.workdir)


if __name__ == "__main__":
    main()
