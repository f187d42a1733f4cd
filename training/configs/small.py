"""A real run on one GPU (hours) or a CPU overnight: L = 64, four STP blocks, widths 64 / 128 / 256.

    python -m aef_ee_training.train --config small --data /path/to/videos --workdir /tmp/aef_small
"""

from __future__ import annotations

import ml_collections

from aef_ee_training.configs import base


def get_config() -> ml_collections.ConfigDict:
    c = base.get_config()
    c.site_size = 64
    c.max_frames = ml_collections.ConfigDict({"s2": 24, "s1": 24})
    c.batch_size = 32
    c.worker_count = 4

    c.model.precision_width = 64
    c.model.time_width = 128
    c.model.space_width = 256
    c.model.num_blocks = 4
    c.model.num_heads = 4
    c.model.timecode_dim = 32
    c.model.decoder_hidden = (128, 128)

    c.learning_rate = 3e-4
    c.num_steps = 50_000

    c.log_every = 50
    c.checkpoint_every = 1000
    return c
