"""One host of a two-host training run on this machine (``tests/training/test_multihost.py`` starts two).

    XLA_FLAGS=--xla_force_host_platform_device_count=2 JAX_PLATFORMS=cpu \
        python multihost_worker.py PROCESS_ID PORT DATA_DIR BATCH_PICKLE WORKDIR

Each process joins ``jax.distributed`` over loopback (coordinator 127.0.0.1:PORT, 2 processes) with its 2 CPU
devices, then:

1. computes the loss and gradients of one fixed batch of 8 sites on a (data=2, fsdp=2) mesh spanning both processes
   (each process feeds its 4 rows, as ``train.py`` does) and, on process 0, the same on one local device;
2. trains :func:`micro_config` (``tiny``, smaller) with ``train_and_evaluate`` in ``WORKDIR/resumed`` for 1 step,
   then again to 2 steps (a new run that restores the Orbax checkpoint both processes wrote).

Both use :func:`micro_config`, the same for the test's fixed batch.

Process 0 writes ``WORKDIR/result.npz`` for the test.
"""

import logging
import pickle
import sys
from pathlib import Path

import jax
import numpy as np

PROCESSES = 2
LOCAL_DEVICES = 2
BATCH = 8  # sites in the fixed batch: 4 per process, 2 per device


def micro_config():
    """``tiny`` cut to what the multi-host mechanics need: one STP block, 16 px sites, 4 frames per source, one
    decoder layer. Every loss term and the FSDP split stay; XLA compiles about a third of tiny's program, which
    decides this test's time (each host compiles the same programs on the same 2 cores)."""
    import ml_collections

    from aef_ee_training.configs import tiny

    config = tiny.get_config()
    config.site_size = 16
    config.max_frames = ml_collections.ConfigDict({"s2": 4, "s1": 4})
    config.model.num_blocks = 1
    config.model.decoder_hidden = (16,)
    return config


def _losses_and_grads(data_dir: str, batch: dict) -> dict[str, np.ndarray]:
    from flax import nnx

    from aef_ee_training import input_pipeline, sharding
    from aef_ee_training.train import create_model, make_loss_and_grad

    config = micro_config()
    config.batch_size = BATCH
    stats = input_pipeline.source_stats(input_pipeline.VideoDataset(data_dir).stats)
    channels = input_pipeline.channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))
    graphdef, params = nnx.split(create_model(config, channels, seed=0))
    loss_and_grad = make_loss_and_grad(graphdef, config)
    step = np.int32(3)

    # Across hosts: parameters created directly with their shardings, each process's rows put on its devices.
    mesh = sharding.create_mesh(data=PROCESSES, fsdp=LOCAL_DEVICES)
    p_shard = sharding.param_sharding(params, mesh)
    b_shard = sharding.batch_sharding(mesh)
    # Each host holds the same initial values (same seed); each device takes its slice of them.
    global_params = jax.tree.map(
        lambda x, s: jax.make_array_from_callback(x.shape, s, lambda index: np.asarray(x)[index]), params, p_shard
    )
    rows = BATCH // jax.process_count()
    local = jax.tree.map(lambda x: x[jax.process_index() * rows:(jax.process_index() + 1) * rows], batch)
    global_batch = jax.tree.map(lambda x: jax.make_array_from_process_local_data(b_shard, x), local)
    many = jax.jit(loss_and_grad, in_shardings=(p_shard, b_shard, sharding.replicated(mesh)))(
        global_params, global_batch, step
    )
    # One program gathers every output onto every device (process_allgather's one program per leaf, each with its
    # own collective, hung here on CPU/gloo); a fully replicated array then reads as numpy on each host.
    many = jax.jit(lambda tree: tree, out_shardings=sharding.replicated(mesh))(many)

    arrays: dict[str, np.ndarray] = {
        "processes": np.asarray(jax.process_count()),
        "global_devices": np.asarray(len(jax.devices())),
        "fsdp_leaves": np.asarray(sum(1 for s in jax.tree.leaves(p_shard) if "fsdp" in s.spec)),
    }
    results = [("many", many)]
    if jax.process_index() == 0:
        device = jax.local_devices()[0]
        one = jax.jit(loss_and_grad)(jax.device_put(params, device), jax.device_put(batch, device), step)
        results.append(("one", one))
    for tag, ((loss, aux), grads) in results:
        arrays[f"{tag}/loss"] = np.asarray(loss)
        for k, v in aux.items():
            arrays[f"{tag}/aux/{k}"] = np.asarray(v)
        for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
            arrays[f"{tag}/grad/{jax.tree_util.keystr(path)}"] = np.asarray(g)
    return arrays


def _train(data_dir: str, workdir: Path, steps: int) -> None:
    from aef_ee_training.train import train_and_evaluate

    config = micro_config()
    config.data_dir = data_dir
    config.batch_size = 4  # 2 per host, 1 per device
    config.num_steps = steps
    config.checkpoint_every = 1
    train_and_evaluate(config, workdir)


def main(process_id: int, port: int, data_dir: str, batch_pickle: str, workdir: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # "resumed from step"
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=PROCESSES,
                               process_id=process_id, initialization_timeout=120)
    assert len(jax.local_devices()) == LOCAL_DEVICES, jax.local_devices()
    with open(batch_pickle, "rb") as f:
        batch = pickle.load(f)
    arrays = _losses_and_grads(data_dir, batch)
    print("losses and gradients done", flush=True)

    root = Path(workdir)
    _train(data_dir, root / "resumed", 1)  # both hosts write the checkpoint of step 1
    print("first run done", flush=True)
    _train(data_dir, root / "resumed", 2)  # a new run that restores step 1 on both hosts and trains step 2
    if jax.process_index() == 0:
        np.savez(root / "result.npz", **arrays)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
