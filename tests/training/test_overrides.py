"""--config.x=v overrides on the training command line (as ml_collections' config_flags)."""

from __future__ import annotations

import pytest

from aef_ee_training.errors import ConfigError
from aef_ee_training.train import _split_overrides, apply_overrides, get_config


def test_overrides_are_split_from_the_other_arguments_and_typed() -> None:
    overrides, rest = _split_overrides(["--config.num_steps=7", "--data", "d", "--config.model.time_width", "48",
                                        "--config.input_sources=('s2',)", "--config.learning_rate=1",
                                        "--config.dtype=bfloat16", "--grain_py_debug_mode"])
    assert rest == ["--data", "d", "--grain_py_debug_mode"]
    config = apply_overrides(get_config("tiny"), overrides)
    assert config.num_steps == 7 and config.model.time_width == 48
    assert config.input_sources == ("s2",) and config.learning_rate == 1.0 and config.dtype == "bfloat16"


@pytest.mark.parametrize("key,value,message", [("nope", "1", "no field 'nope'"),
                                                ("model.nope", "1", "no field 'model.nope'"),
                                                ("num_steps", "'abc'", "expected int")])
def test_bad_overrides_fail_loudly(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(get_config("tiny"), {key: value})
