"""CPU test scale: L = 32, two narrow STP blocks; trains in seconds on two cores.

    python -m aef_ee_training.train --config tiny --data /path/to/videos --workdir /tmp/aef_tiny
"""

from __future__ import annotations

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0

    # Data.
    c.site_size = 32  # L, pixels of 10 m; a multiple of 16 (the space grid is L/16)
    c.input_sources = ("s2", "s1")
    c.target_sources = ("s2", "s1", "era5", "dem")
    # Most input frames per source after the held-out frame is removed; more are subsampled, fewer padded.
    c.max_frames = ml_collections.ConfigDict({"s2": 11, "s1": 11})
    c.crop_days = 300  # random sub-period of the video used as the valid period; 0 keeps the whole period
    # Re-gridding of each target to its nominal resolution, in pixels (0: the whole site is one cell).
    c.target_pool = ml_collections.ConfigDict({"s2": 1, "s1": 1, "era5": 0, "dem": 2})
    # Shift-invariance radius in cells after re-gridding (2 cells = 20 m for Sentinel-1/2).
    c.target_shift = ml_collections.ConfigDict({"s2": 2, "s1": 2, "era5": 0, "dem": 0})
    # Categorical targets (class ids in one band, e.g. land cover): source -> number of classes; cross-entropy.
    c.categorical = ml_collections.ConfigDict()
    c.text_dim = 384
    c.batch_size = 4
    c.worker_count = 0  # grain worker processes; 0 reads in the main process

    # Model.
    c.model = ml_collections.ConfigDict()
    c.model.precision_width = 16
    c.model.time_width = 32
    c.model.space_width = 32
    c.model.num_blocks = 2
    c.model.num_heads = 2
    c.model.timecode_dim = 16
    c.model.embedding_dim = 64
    c.model.decoder_hidden = (32, 32)
    c.kappa = 8000.0  # vMF concentration (paper)

    # Losses: total = a recon + b uniformity + c consistency + d text. The paper's b, c, d are 0.05, 0.02, 0.001;
    # at this scale and step count we weight consistency and text up so that every term moves within a short run.
    c.loss_weights = ml_collections.ConfigDict(
        {"reconstruction": 1.0, "uniformity": 0.05, "consistency": 0.1, "text": 0.01}
    )
    # Student perturbations, one per site: drop whole sources, drop frames at this rate, or drop half the period.
    c.frame_drop_rate = 0.5

    # Optimiser: Adam, linear warm-up then linear decay to zero at num_steps.
    c.learning_rate = 3e-3
    c.warmup_steps = 10
    c.num_steps = 60

    # Loop.
    c.log_every = 1
    c.checkpoint_every = 20
    c.max_checkpoints = 3
    c.dtype = "auto"  # bfloat16 on GPU/TPU, float32 on CPU
    c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})  # -1: all remaining devices
    return c
