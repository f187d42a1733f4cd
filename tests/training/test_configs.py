"""The configs as values: ``base`` and each config's overrides are frozen here, so a change to any value shows up.

The overrides were checked against the configs as they were before ``base.py`` existed (``tiny`` was the base of the
other two): every value is the same; the one difference is ``paper``'s ``channels`` field, which no code read
(``benchmarks/model_flops.py`` uses the module constant ``paper.CHANNELS``) and which is gone.
"""

from typing import Any

import pytest

from aef_ee_training.configs import base, paper, small, tiny
from aef_ee_training.errors import ConfigError
from aef_ee_training.text import TEXT_DIM
from aef_ee_training.train import get_config, train_and_evaluate

BASE = {
    "seed": 0,
    "site_size": None,
    "input_sources": ("s2", "s1"),
    "target_sources": ("s2", "s1", "era5", "dem"),
    "max_frames": None,
    "crop_days": 0,
    "target_pool": {"s2": 1, "s1": 1, "era5": 0, "dem": 2},
    "target_shift": {"s2": 2, "s1": 2, "era5": 0, "dem": 0},
    "categorical": {},
    "text_dim": 384,
    "batch_size": None,
    "worker_count": 0,
    "model.precision_width": None,
    "model.time_width": None,
    "model.space_width": None,
    "model.num_blocks": None,
    "model.num_heads": None,
    "model.timecode_dim": None,
    "model.embedding_dim": 64,
    "model.pixel_width": 64,
    "model.decoder_hidden": None,
    "kappa": 8000.0,
    "loss_weights": {"reconstruction": 1.0, "uniformity": 0.05, "consistency": 0.02, "text": 0.001},
    "frame_drop_rate": 0.5,
    "learning_rate": None,
    "warmup_steps": 1000,
    "num_steps": None,
    "log_every": None,
    "checkpoint_every": None,
    "max_checkpoints": 3,
    "dtype": "auto",
    "mesh": {"data": -1, "fsdp": 1},
}

OVERRIDES = {
    "tiny": {
        "site_size": 32,
        "max_frames": {"s2": 11, "s1": 11},
        "crop_days": 300,
        "batch_size": 4,
        "model.precision_width": 16,
        "model.time_width": 32,
        "model.space_width": 32,
        "model.num_blocks": 2,
        "model.num_heads": 2,
        "model.timecode_dim": 16,
        "model.decoder_hidden": (32, 32),
        "loss_weights": {"reconstruction": 1.0, "uniformity": 0.05, "consistency": 0.1, "text": 0.01},
        "learning_rate": 3e-3,
        "warmup_steps": 10,
        "num_steps": 60,
        "log_every": 1,
        "checkpoint_every": 20,
    },
    "small": {
        "site_size": 64,
        "max_frames": {"s2": 24, "s1": 24},
        "batch_size": 32,
        "worker_count": 4,
        "model.precision_width": 64,
        "model.time_width": 128,
        "model.space_width": 256,
        "model.num_blocks": 4,
        "model.num_heads": 4,
        "model.timecode_dim": 32,
        "model.decoder_hidden": (128, 128),
        "learning_rate": 3e-4,
        "num_steps": 50_000,
        "log_every": 50,
        "checkpoint_every": 1000,
    },
    "paper": {
        "site_size": 128,
        "input_sources": ("s2", "s1", "landsat"),
        "target_sources": ("s2", "s1", "landsat", "era5", "dem", "gedi", "grace", "palsar"),
        "max_frames": {"s2": 48, "s1": 32, "landsat": 24},
        "crop_days": 365,
        "target_pool": {"s2": 1, "s1": 1, "landsat": 2, "era5": 0, "dem": 2, "gedi": 2, "grace": 0, "palsar": 2},
        "target_shift": {"s2": 2, "s1": 2, "landsat": 1, "era5": 0, "dem": 0, "gedi": 0, "grace": 0, "palsar": 1},
        "batch_size": 256,
        "worker_count": 16,
        "model.precision_width": 128,
        "model.time_width": 512,
        "model.space_width": 1024,
        "model.num_blocks": 15,
        "model.num_heads": 8,
        "model.timecode_dim": 64,
        "model.decoder_hidden": (512, 512),
        "learning_rate": 1e-4,
        "num_steps": 100_000,
        "log_every": 100,
        "checkpoint_every": 2000,
        "mesh": {"data": -1, "fsdp": 8},
    },
}
MODULES = {"tiny": tiny, "small": small, "paper": paper}


def _flat(config: Any) -> dict[str, tuple[type, Any]]:
    """Field -> (type, value); the ``model`` group's fields are dotted, other groups (source maps) stay whole."""
    out = {}
    for key, value in config.to_dict().items():
        items = {f"model.{k}": v for k, v in value.items()} if key == "model" else {key: value}
        out.update({k: (type(v), v) for k, v in items.items()})
    return out


def test_base_is_the_frozen_defaults() -> None:
    assert _flat(base.get_config()) == {k: (type(v), v) for k, v in BASE.items()}
    assert BASE["text_dim"] == TEXT_DIM


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_each_config_is_base_plus_its_frozen_overrides(name: str) -> None:
    want = {**BASE, **OVERRIDES[name]}
    assert _flat(MODULES[name].get_config()) == {k: (type(v), v) for k, v in want.items()}
    assert _flat(get_config(name)) == _flat(MODULES[name].get_config())
    assert [k for k, v in OVERRIDES[name].items() if BASE[k] == v] == [], "overrides only what differs"
    assert base.unset_fields(MODULES[name].get_config()) == []


def test_every_config_docstring_shows_its_command_line() -> None:
    for name, module in MODULES.items():
        assert f"python -m aef_ee_training.train --config {name} --data " in module.__doc__


def test_a_config_with_unset_fields_is_refused(tmp_path) -> None:
    config = base.get_config()
    assert base.unset_fields(config) == [
        "batch_size", "checkpoint_every", "learning_rate", "log_every", "max_frames", "model.decoder_hidden",
        "model.num_blocks", "model.num_heads", "model.precision_width", "model.space_width", "model.time_width",
        "model.timecode_dim", "num_steps", "site_size",
    ]
    config.data_dir = str(tmp_path)
    with pytest.raises(ConfigError, match="config fields not set: batch_size, checkpoint_every, .*, site_size"):
        train_and_evaluate(config, tmp_path)
