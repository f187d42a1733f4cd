"""A dataset with only some of the config's sources (or some of a source's bands) trains, and its checkpoint embeds
without the training data: missing sources and bands are masked, never an error."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from aef_ee.videos.format import SourceFrames, VideoWriter
from aef_ee_training import input_pipeline
from aef_ee_training.configs import tiny
from aef_ee_training.infer import embed_video, load_inference
from aef_ee_training.train import INFERENCE_FILE, apply_overrides, train_and_evaluate

from worldcereal import build_videos


@pytest.fixture(scope="module")
def s2_s1_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Belgian sites exported as with ``--sources s2,s1`` (no era5, no dem, which tiny decodes)."""
    out = tmp_path_factory.mktemp("s2_s1_videos")
    with VideoWriter(out, sites_per_shard=4) as writer:
        for video in build_videos()[:4]:
            writer.write(dataclasses.replace(
                video, sources={k: v for k, v in video.sources.items() if k in ("s2", "s1")}))
    return out


def test_channels_of_missing_sources_come_from_the_registry(s2_s1_videos) -> None:
    from aef_ee.videos.format import VideoDataset

    stats = input_pipeline.source_stats(VideoDataset(s2_s1_videos).stats)
    assert sorted(stats) == ["s1", "s2"]
    channels = input_pipeline.channels_from_stats(stats, ["dem", "era5", "s1", "s2"])
    assert channels["dem"] == 1 and channels["era5"] >= 1 and channels["s2"] == 9


def test_missing_bands_are_zero_in_the_statistics_order(s2_s1_videos) -> None:
    from aef_ee.videos.format import VideoDataset

    """A site whose Sentinel-2 lacks the SWIR bands (a dataset holds one band list per source, so such a site comes
    from another dataset or a point table)."""
    dataset = VideoDataset(s2_s1_videos)
    stats = input_pipeline.source_stats(dataset.stats)
    video = dataset[0]
    s2 = video.sources["s2"]
    keep = [j for j, b in enumerate(s2.bands) if b not in ("B11", "B12")]
    video = dataclasses.replace(video, sources={**video.sources, "s2": SourceFrames(
        s2.frames[..., keep], s2.mask, s2.timestamps_ms, tuple(s2.bands[j] for j in keep))})
    out = input_pipeline.Normalise(stats=stats).map(video)
    s2 = out.sources["s2"]
    assert s2.bands == stats["s2"].bands and s2.frames.shape[-1] == 9
    missing = [stats["s2"].bands.index(b) for b in ("B11", "B12")]
    assert np.all(s2.frames[..., missing] == 0)


def test_trains_and_embeds_from_the_checkpoint_alone(s2_s1_videos, tmp_path) -> None:
    config = apply_overrides(tiny.get_config(), {"num_steps": "3", "checkpoint_every": "3", "log_every": "1"})
    config.data_dir = str(s2_s1_videos)
    metrics = train_and_evaluate(config, tmp_path)
    assert np.isfinite(metrics["loss"])
    meta = json.loads((tmp_path / INFERENCE_FILE).read_text())
    assert meta["config"]["num_steps"] == 3 and sorted(meta["stats"]) == ["s1", "s2"]
    model, loaded, stats, step = load_inference(tmp_path)  # no training data, no config name
    assert step == 3 and tuple(loaded.target_sources) == tuple(config.target_sources)
    from aef_ee.videos.format import VideoDataset

    field = embed_video(model, VideoDataset(s2_s1_videos)[1], loaded, stats)
    assert field.shape == (48, 48, 64)
    assert np.allclose(np.linalg.norm(field, axis=-1), 1.0, atol=1e-4)


def test_a_site_narrower_than_l_is_padded_with_masked_pixels(s2_s1_videos) -> None:
    from aef_ee.videos.format import VideoDataset

    video = VideoDataset(s2_s1_videos)[0]
    window = np.s_[:, 5:22, 9:26]  # 17 x 17 px, as the CropHarvest Togo export
    small = dataclasses.replace(video, sources={
        n: SourceFrames(s.frames[window], s.mask[window], s.timestamps_ms, s.bands) for n, s in video.sources.items()})
    crop = input_pipeline.RandomCrop(site_size=32, crop_days=0)
    seen_offsets = set()
    for seed in range(6):
        out = crop.random_map(small, np.random.default_rng(seed))
        s2, src = out.sources["s2"], small.sources["s2"]
        assert s2.frames.shape[1:3] == (32, 32) and s2.mask.shape[1:] == (32, 32)
        assert s2.mask.sum() == src.mask.sum()  # every valid pixel kept, the padding masked
        rows, cols = np.nonzero(s2.mask.any(axis=0))
        y, x = rows.min(), cols.min()
        seen_offsets.add((int(y), int(x)))
        np.testing.assert_array_equal(s2.frames[:, y : y + 17, x : x + 17], src.frames)
        np.testing.assert_array_equal(out.sources["s1"].mask[:, y : y + 17, x : x + 17], small.sources["s1"].mask)
    assert len(seen_offsets) > 1  # placed at random


def test_narrow_sites_train(s2_s1_videos, tmp_path) -> None:
    from aef_ee.videos.format import VideoDataset

    out = tmp_path / "narrow"
    with VideoWriter(out, sites_per_shard=4) as writer:
        for i, video in enumerate(VideoDataset(s2_s1_videos)):
            size = (2, 17, 40, 48)[i % 4]  # a point's 2 x 2 px up to a full site
            writer.write(dataclasses.replace(video, sources={
                n: SourceFrames(s.frames[:, :size, :size], s.mask[:, :size, :size], s.timestamps_ms, s.bands)
                for n, s in video.sources.items()}))
    config = apply_overrides(tiny.get_config(), {"num_steps": "2", "checkpoint_every": "2", "log_every": "1"})
    config.data_dir = str(out)
    metrics = train_and_evaluate(config, tmp_path / "work")
    assert np.isfinite(metrics["loss"])
