"""The defaults that ``tiny``, ``small`` and ``paper`` share; not trained directly.

Each config starts from :func:`get_config` and overrides only what differs, for example::

    def get_config():
        c = base.get_config()
        c.site_size = 32
        ...
        return c

Fields set to ``None`` here are chosen by every config (they have no sensible shared value); :func:`unset_fields`
lists the ones a config forgot, and training refuses such a config. The command line adds ``data_dir``::

    python -m aef_ee_training.train --config tiny --data /path/to/videos --workdir /tmp/aef_tiny
"""

from __future__ import annotations

from typing import Any

import ml_collections

__all__ = ["get_config", "unset_fields"]


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # the one seed: initial parameters, data order and augmentation, and every step's random key

    # Data (sources are names in the registry, aef_ee.videos.sources).
    c.site_size = None  # L, pixels of 10 m per side of a training site; a multiple of 16 (the space grid is L/16)
    c.input_sources = ("s2", "s1")  # sources the encoder reads, in this order
    c.target_sources = ("s2", "s1", "era5", "dem")  # sources reconstructed from the embedding, one decoder each
    # Source -> most input frames after the held-out frame is removed; more are subsampled, fewer padded.
    c.max_frames = None
    c.crop_days = 0  # days: random sub-period of the video used as the valid period; 0 keeps the whole period
    # Re-gridding of each target to its nominal resolution, in pixels (0: the whole site is one cell).
    c.target_pool = ml_collections.ConfigDict({"s2": 1, "s1": 1, "era5": 0, "dem": 2})
    # Shift-invariance radius in cells after re-gridding (2 cells = 20 m for Sentinel-1/2).
    c.target_shift = ml_collections.ConfigDict({"s2": 2, "s1": 2, "era5": 0, "dem": 0})
    # Categorical targets (class ids in one band, e.g. land cover): source -> number of classes; cross-entropy.
    c.categorical = ml_collections.ConfigDict()
    c.text_dim = 384  # size of the frozen sentence-encoder vectors (all-MiniLM-L6-v2; aef_ee_training.text.TEXT_DIM)
    c.batch_size = None  # sites per step over all hosts and devices
    c.worker_count = 0  # grain worker processes per host; 0 reads in the main process

    # Model (aef_ee_training.model.aef.ModelOptions): widths are feature channels per token.
    c.model = ml_collections.ConfigDict()
    c.model.precision_width = None  # Dp, the precision stream on the L/2 grid
    c.model.time_width = None  # Dt, the time stream on the L/8 grid
    c.model.space_width = None  # Ds, the space stream on the L/16 grid
    c.model.num_blocks = None  # STP blocks
    c.model.num_heads = None  # heads of every attention (time, space, summary)
    c.model.timecode_dim = None  # sinusoidal timecode features per time (even)
    c.model.embedding_dim = 64  # E, the embedding field's channels (as Google's Satellite Embedding)
    # Dpix, the full-resolution per-pixel path with its own route to the head (0: none); as wide as the embedding, so
    # the field's rank is not bounded by the precision width.
    c.model.pixel_width = 64
    c.model.decoder_hidden = None  # hidden widths of each target source's per-pixel decoder MLP
    c.kappa = 8000.0  # vMF concentration of the embedding distribution (paper)

    # Losses: total = a recon + b uniformity + c consistency + d text, with the paper's a, b, c, d.
    c.loss_weights = ml_collections.ConfigDict(
        {"reconstruction": 1.0, "uniformity": 0.05, "consistency": 0.02, "text": 0.001}
    )
    # Student perturbations, one per site: drop whole sources, drop frames at this rate, or drop half the period.
    c.frame_drop_rate = 0.5

    # Optimiser: Adam, linear warm-up then linear decay to zero at num_steps.
    c.learning_rate = None  # peak learning rate
    c.warmup_steps = 1000  # steps of linear warm-up from 0 to learning_rate
    c.num_steps = None  # training steps (batches)

    # Loop.
    c.log_every = None  # steps between metrics (metrics.jsonl, TensorBoard, the progress bar)
    c.checkpoint_every = None  # steps between checkpoints (the last step is always saved)
    c.max_checkpoints = 3  # checkpoints kept; older ones are deleted
    c.dtype = "auto"  # compute dtype; "auto": bfloat16 on GPU/TPU, float32 on CPU (parameters stay float32)
    c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})  # device mesh; -1: all remaining devices
    return c


def unset_fields(config: Any, prefix: str = "") -> list[str]:
    """The dotted names, sorted, of the fields of ``config`` still ``None`` (chosen by each config, see above)."""
    unset = []
    for key, value in config.items():
        if value is None:
            unset.append(prefix + key)
        elif isinstance(value, ml_collections.ConfigDict):
            unset += unset_fields(value, f"{prefix}{key}.")
    return sorted(unset)
