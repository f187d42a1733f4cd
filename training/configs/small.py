"""A real run on one GPU (hours) or a CPU overnight: L = 64, four STP blocks, widths 64 / 128 / 256.

    python -m aef_ee_training.train --config small --data /path/to/videos --workdir /tmp/aef_small
"""

from __future__ import annotations

import ml_collections

from aef_ee_training.configs import tiny


def get_config() -> ml_collections.ConfigDict:
    c = tiny.get_config()
    c.site_size = 64
    c.input_sources = ("s2", "s1")
    c.target_sources = ("s2", "s1", "era5", "dem")
    c.max_frames = ml_collections.ConfigDict({"s2": 24, "s1": 24})
    c.crop_days = 0
    c.target_pool = ml_collections.ConfigDict({"s2": 1, "s1": 1, "era5": 0, "dem": 2})
    c.target_shift = ml_collections.ConfigDict({"s2": 2, "s1": 2, "era5": 0, "dem": 0})
    c.batch_size = 32
    c.worker_count = 4

    c.model.precision_width = 64
    c.model.time_width = 128
    c.model.space_width = 256
    c.model.num_blocks = 4
    c.model.num_heads = 4
    c.model.timecode_dim = 32
    c.model.decoder_hidden = (128, 128)

    c.loss_weights = ml_collections.ConfigDict(
        {"reconstruction": 1.0, "uniformity": 0.05, "consistency": 0.02, "text": 0.001}
    )
    c.learning_rate = 3e-4
    c.warmup_steps = 1000
    c.num_steps = 50_000
    c.log_every = 50
    c.checkpoint_every = 1000
    return c
