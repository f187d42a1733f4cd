"""The published sizes (AlphaEarth Foundations): L = 128, 15 STP blocks, widths 128 / 512 / 1024, decoders 2 x 512,
batch 256, Adam at 1e-4 with 1k warm-up steps, loss weights 1 / 0.05 / 0.02 / 0.001, kappa 8000.

Instantiated abstractly (``jax.eval_shape``) by ``benchmarks/model_flops.py`` for its parameter count and FLOPs per
site; training it needs a TPU/GPU pod:

    python -m aef_ee_training.train --config paper --data gs://.../videos --workdir gs://.../aef_paper --distributed
"""

from __future__ import annotations

import ml_collections

from aef_ee_training.configs import base

# Nominal channel counts of the registry's sources (aef_ee.videos.sources), for abstract instantiation without a
# dataset.
CHANNELS = {"s2": 10, "s1": 2, "landsat": 7, "era5": 6, "dem": 1, "gedi": 4, "grace": 1, "palsar": 2}


def get_config() -> ml_collections.ConfigDict:
    c = base.get_config()
    c.site_size = 128
    c.input_sources = ("s2", "s1", "landsat")
    c.target_sources = ("s2", "s1", "landsat", "era5", "dem", "gedi", "grace", "palsar")
    # Frames per source in a one-year valid period (ours: about one cloud-filtered S2 scene a week, S1 and Landsat
    # at their revisit); the paper does not publish its caps.
    c.max_frames = ml_collections.ConfigDict({"s2": 48, "s1": 32, "landsat": 24})
    c.crop_days = 365
    c.target_pool = ml_collections.ConfigDict(
        {"s2": 1, "s1": 1, "landsat": 2, "era5": 0, "dem": 2, "gedi": 2, "grace": 0, "palsar": 2}
    )
    c.target_shift = ml_collections.ConfigDict(
        {"s2": 2, "s1": 2, "landsat": 1, "era5": 0, "dem": 0, "gedi": 0, "grace": 0, "palsar": 1}
    )
    c.batch_size = 256
    c.worker_count = 16

    c.model.precision_width = 128
    c.model.time_width = 512
    c.model.space_width = 1024
    c.model.num_blocks = 15
    c.model.num_heads = 8
    c.model.timecode_dim = 64
    c.model.decoder_hidden = (512, 512)

    c.learning_rate = 1e-4
    c.num_steps = 100_000

    c.log_every = 100
    c.checkpoint_every = 2000
    c.mesh.fsdp = 8
    return c
