"""Run as a script with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``: the loss and gradients of one batch
on one device and on a (data=4, fsdp=2) mesh of 8 CPU devices, saved to an .npz for the test to compare."""

import sys

import jax
import numpy as np
from flax import nnx

from aef_ee_training import input_pipeline, sharding
from aef_ee_training.configs import tiny
from aef_ee_training.train import create_model, make_loss_and_grad


def main(data_dir: str, out: str) -> None:
    assert len(jax.devices()) == 8, jax.devices()
    config = tiny.get_config()
    config.batch_size = 8
    stats = input_pipeline.source_stats(input_pipeline.VideoDataset(data_dir).stats)
    channels = input_pipeline.channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))
    batch = next(iter(input_pipeline.create_loader(data_dir, config, seed=0, batch_size=8)))
    graphdef, params = nnx.split(create_model(config, channels, seed=0))
    loss_and_grad = make_loss_and_grad(graphdef, config)
    step = np.int32(3)

    single = jax.devices()[0]
    one = jax.jit(loss_and_grad)(jax.device_put(params, single), jax.device_put(batch, single), step)

    mesh = sharding.create_mesh(data=4, fsdp=2)
    p_shard = sharding.param_sharding(params, mesh)
    sharded_params = jax.device_put(params, p_shard)
    sharded_batch = jax.device_put(batch, sharding.batch_sharding(mesh))
    many = jax.jit(loss_and_grad, in_shardings=(p_shard, sharding.batch_sharding(mesh), sharding.replicated(mesh)))(
        sharded_params, sharded_batch, step
    )
    fsdp_leaves = sum(1 for s in jax.tree.leaves(p_shard) if "fsdp" in s.spec)
    a_grad = many[1]["blocks"][0]["time"]["attention"]["query"]["kernel"]
    arrays = {"fsdp_leaves": np.asarray(fsdp_leaves), "devices": np.asarray(len(a_grad.sharding.device_set))}
    for tag, ((loss, aux), grads) in (("one", one), ("many", many)):
        arrays[f"{tag}/loss"] = np.asarray(loss)
        for k, v in aux.items():
            arrays[f"{tag}/aux/{k}"] = np.asarray(v)
        for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
            arrays[f"{tag}/grad/{jax.tree_util.keystr(path)}"] = np.asarray(g)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
