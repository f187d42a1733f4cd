"""CPU test scale: L = 32, two narrow STP blocks; trains in seconds on two cores.

    python -m aef_ee_training.train --config tiny --data /path/to/videos --workdir /tmp/aef_tiny
"""

from __future__ import annotations

import ml_collections

from aef_ee_training.configs import base


def get_config() -> ml_collections.ConfigDict:
    c = base.get_config()
    c.site_size = 32
    c.max_frames = ml_collections.ConfigDict({"s2": 11, "s1": 11})
    c.crop_days = 300
    c.batch_size = 4

    c.model.precision_width = 16
    c.model.time_width = 32
    c.model.space_width = 32
    c.model.num_blocks = 2
    c.model.num_heads = 2
    c.model.timecode_dim = 16
    c.model.decoder_hidden = (32, 32)

    # At this scale and step count consistency and text are weighted up (paper: 0.02, 0.001) so that every term
    # moves within a short run.
    c.loss_weights.consistency = 0.1
    c.loss_weights.text = 0.01

    c.learning_rate = 3e-3
    c.warmup_steps = 10
    c.num_steps = 60

    c.log_every = 1
    c.checkpoint_every = 20
    return c
