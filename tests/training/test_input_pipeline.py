"""The grain pipeline over real WorldCereal videos: values, hold-out, padding, determinism, checkpointable state."""

import jax
import netCDF4
import numpy as np

from aef_ee.videos.format import VideoDataset
from aef_ee_training import input_pipeline
from aef_ee_training.configs import tiny

from worldcereal import CUBE, NODATA, OFFSETS, SITE, S2_BANDS


def _first_batches(path, seed, n=3, state=None):
    config = tiny.get_config()
    it = iter(input_pipeline.create_loader(str(path), config, seed=seed, batch_size=4))
    if state is not None:
        it.set_state(state)
    return [next(it) for _ in range(n)], it


def _equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_same_seed_same_batches_and_state_resumes(worldcereal_videos) -> None:
    first, _ = _first_batches(worldcereal_videos, seed=7)
    again, it = _first_batches(worldcereal_videos, seed=7, n=1)
    assert _equal(first[0], again[0])
    state = it.get_state()
    resumed, _ = _first_batches(worldcereal_videos, seed=7, n=2, state=state)
    assert _equal(first[1:], resumed)
    other, _ = _first_batches(worldcereal_videos, seed=8, n=1)
    assert not _equal(first[0], other[0])


def test_s2_values_are_standardised_log_reflectance_from_the_cube(worldcereal_videos) -> None:
    # Expected statistics straight from the netCDF: log1p of the digital numbers over the valid pixels of all sites.
    with netCDF4.Dataset(CUBE) as ds:
        ds.set_auto_maskandscale(False)
        dn = np.stack([np.asarray(ds.variables[f"S2-L2A-{b}"][:]).astype(np.uint16) for b in S2_BANDS], -1)
    sites = [dn[:, y : y + SITE, x : x + SITE] for y in OFFSETS for x in OFFSETS]
    valid = [np.all(s != NODATA, axis=-1) for s in sites]
    logs = np.concatenate([np.log1p(s[v].astype(np.float64)) for s, v in zip(sites, valid)])
    dataset = VideoDataset(worldcereal_videos)
    stats = input_pipeline.source_stats(dataset.stats)
    np.testing.assert_allclose(stats["s2"].mean, logs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["s2"].std, logs.std(0), rtol=1e-4)

    config = tiny.get_config()
    example = input_pipeline.inference_example(dataset[4], config, stats, y=5, x=9)  # site 4 = offset (26, 26)
    s2 = example["inputs"]["s2"]
    raw = dn[:, 26 + 5 : 26 + 5 + 32, 26 + 9 : 26 + 9 + 32]
    usable = np.flatnonzero(np.all(raw != NODATA, axis=-1).any(axis=(1, 2)))[: config.max_frames["s2"]]
    n = int(s2["frame_mask"].sum())
    assert n == len(usable)
    want = (np.log1p(raw[usable].astype(np.float64)) - logs.mean(0)) / logs.std(0)
    m = s2["pixel_mask"][:n]
    np.testing.assert_allclose(s2["frames"][:n][m], want[m], atol=2e-4)
    assert not s2["frames"][:n][~m].any()


def test_hold_out_pad_and_masks(worldcereal_videos) -> None:
    config = tiny.get_config()
    (batch, *_), _ = _first_batches(worldcereal_videos, seed=0, n=1)
    for name in config.input_sources:
        src, tgt = batch["inputs"][name], batch["targets"][name]
        assert src["frames"].shape[:2] == (4, config.max_frames[name])
        for i in range(4):
            days = src["days"][i][src["frame_mask"][i]]
            held_day = tgt["relative_time"][i] * batch["period_days"][i]
            assert tgt["present"][i]
            # The held-out frame is not among the inputs; all inputs are inside the valid period.
            assert np.min(np.abs(days - held_day)) > 1.0
            assert np.all((days >= 0) & (days < batch["period_days"][i]))
            assert not src["frames"][i][~src["frame_mask"][i]].any()
    assert batch["targets"]["dem"]["present"].all() and batch["text"]["present"].all()
    np.testing.assert_allclose(np.linalg.norm(batch["text"]["embedding"], axis=-1), 1.0, rtol=1e-5)
    assert np.all(batch["period_days"] == config.crop_days)
