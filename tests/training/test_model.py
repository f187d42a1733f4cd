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
        embedding_dim=64, pixel_width=64, decoder_hidden=(32, 32), text_dim=384,
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


@pytest.mark.parametrize("module,params", [(tiny, 137_092), (small, 3_744_468), (paper, 188_651_746)])
def test_parameter_counts(module, params: int) -> None:
    # With the registry's nominal channels (tiny and small read s2/s1 and decode s2/s1/era5/dem); docs/model.md.
    options = ModelOptions.from_config(module.get_config(), paper.CHANNELS)
    model = nnx.eval_shape(lambda: AlphaEarth(options, rngs=nnx.Rngs(0)))
    assert count_params(model) == params
    assert model.options is options


def test_upsampling_is_bilinear_without_blocks_or_checkerboard() -> None:
    """The pyramid exchange and the summary upsample bilinearly: a ramp stays a ramp (no 2 px or 8 px steps)."""
    import jax.numpy as jnp
    import numpy as np

    from aef_ee_training.model.stp import resample

    ramp = jnp.arange(4.0)[None, :, None] * jnp.ones((4, 1, 1))  # (4, 4, 1), columns 0..3
    up = np.asarray(resample(ramp, 16))[0, :, 0]
    steps = np.diff(up)
    assert np.allclose(steps[2:-2], steps[2]) and steps[2] > 0  # constant slope inside, no repeated blocks
    # Mean pooling undoes it away from the clamped edges.
    back = np.asarray(resample(resample(ramp, 16), 4))
    assert back[:, 1:3] == pytest.approx(np.asarray(ramp)[:, 1:3], abs=1e-5)


def test_fresh_tiny_field_has_no_checkerboard_and_full_rank() -> None:
    """At initialisation already: no depth-to-space phase pattern, and the per-pixel path lifts the rank above the
    precision width (16 for tiny)."""
    import jax.numpy as jnp
    import numpy as np

    from aef_ee.fields.quality import period2_energy
    from aef_ee_training import input_pipeline

    config = tiny.get_config()
    options = ModelOptions.from_config(config, TINY_CHANNELS)
    model = AlphaEarth(options, rngs=nnx.Rngs(0))
    batch = input_pipeline.synthetic_batch(config, TINY_CHANNELS, 2)
    field = np.asarray(model.embed(batch["inputs"], jnp.asarray(batch["period_days"])))
    assert period2_energy(field[0]) < 0.01
    singular = np.linalg.svd(field.reshape(-1, 64) - field.reshape(-1, 64).mean(0), compute_uv=False)
    assert int((singular > 1e-3 * singular[0]).sum()) > 2 * options.precision_width
