"""The model's options object: built from a config, checked, and it fixes the parameter counts the docs quote."""

import dataclasses

import pytest
from flax import nnx

from aef_ee_training.configs import paper, small, tiny
from aef_ee_training.model.aef import AlphaEarth, ModelOptions, count_params

TINY_CHANNELS = {"s2": 10, "s1": 2, "era5": 6, "dem": 1}


def test_options_from_config() -> None:
    config = tiny.get_config()
    config.categorical = {"worldcover": 11}
    config.target_sources = (*config.target_sources, "worldcover")
    options = ModelOptions.from_config(config, TINY_CHANNELS)
    assert options == ModelOptions(
        channels=(("dem", 1), ("era5", 6), ("s1", 2), ("s2", 10), ("worldcover", 11)),
        input_sources=("s2", "s1"), target_sources=("s2", "s1", "era5", "dem", "worldcover"), site_size=32,
        precision_width=16, time_width=32, space_width=32, num_blocks=2, num_heads=2, timecode_dim=16,
        embedding_dim=64, decoder_hidden=(32, 32), text_dim=384,
    )
    hash(options)  # NNX keeps it in the model's static graph definition, which jit hashes
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.site_size = 64


def test_options_fail_loudly() -> None:
    options = ModelOptions.from_config(tiny.get_config(), TINY_CHANNELS)
    with pytest.raises(ValueError, match="multiple of 16; got 40"):
        dataclasses.replace(options, site_size=40)
    with pytest.raises(ValueError, match=r"no channel count for sources \['era5'\]"):
        ModelOptions.from_config(tiny.get_config(), {"s2": 10, "s1": 2, "dem": 1})


@pytest.mark.parametrize("module,params", [(tiny, 104_644), (small, 3_724_500), (paper, 188_674_466)])
def test_parameter_counts(module, params: int) -> None:
    # With the registry's nominal channels (tiny and small read s2/s1 and decode s2/s1/era5/dem); docs/model.md.
    options = ModelOptions.from_config(module.get_config(), paper.CHANNELS)
    model = nnx.eval_shape(lambda: AlphaEarth(options, rngs=nnx.Rngs(0)))
    assert count_params(model) == params
    assert model.options is options
