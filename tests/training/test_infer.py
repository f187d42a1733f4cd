"""Inference over overlapping windows: a partition-of-unity weight, windows anchored to the absolute grid, so the
field does not depend on where the video starts, and no seams."""

from __future__ import annotations

import dataclasses

import numpy as np
from flax import nnx

from aef_ee.fields.quality import seam_ratio
from aef_ee.videos.format import SourceFrames
from aef_ee_training import input_pipeline
from aef_ee_training.configs import tiny
from aef_ee_training.infer import embed_video, window_origins, window_weight
from aef_ee_training.model.aef import AlphaEarth, ModelOptions

from worldcereal import build_videos, decode_sources, read_cube


def test_tents_at_half_stride_sum_to_one() -> None:
    w = np.sqrt(np.diag(window_weight(32)))  # the separable weight's 1-D tent
    total = np.zeros(96)
    for start in (0, 16, 32, 48, 64):
        total[start : start + 32] += w
    assert np.allclose(total[32:64], 1.0)
    assert w.min() > 0


def test_every_pixel_has_two_windows_per_axis() -> None:
    rows, cols = window_origins(50, 40, 32, (7, 3))
    for starts, n, o in ((rows, 50, 7), (cols, 40, 3)):
        assert all((s + o) % 16 == 0 for s in starts)
        cover = np.zeros(n, int)
        for s in starts:
            cover[max(s, 0) : s + 32] += 1
        assert np.all(cover == 2)


def _crop(video, y: int, x: int, size: int):
    a, _, x0, _, e, y0 = video.transform
    window = np.s_[:, y : y + size, x : x + size]
    sources = {n: SourceFrames(s.frames[window], s.mask[window], s.timestamps_ms, s.bands) if s.frames.shape[1] > 1
               else s for n, s in video.sources.items()}
    return dataclasses.replace(video, sources=sources, transform=(a, 0.0, x0 + a * x, 0.0, e, y0 + e * y))


def test_field_does_not_depend_on_the_video_origin_and_has_no_seams() -> None:
    config = tiny.get_config()
    base = build_videos()[0]
    cube = dataclasses.replace(base, sources=decode_sources(read_cube()))  # the 100 x 100 grid, base's origin
    stats = {n: input_pipeline.SourceStats(s.bands, np.zeros(len(s.bands), np.float32),
                                           np.ones(len(s.bands), np.float32)) for n, s in cube.sources.items()}
    sources = sorted(set(config.input_sources) | set(config.target_sources))
    channels = input_pipeline.channels_from_stats(stats, sources)
    model = AlphaEarth(ModelOptions.from_config(config, channels), rngs=nnx.Rngs(0))
    whole = embed_video(model, cube, config, stats)
    y0, x0, size = 19, 21, 70
    part = embed_video(model, _crop(cube, y0, x0, size), config, stats)
    # Pixels whose every covering window lies inside the crop see exactly the same inputs in both videos.
    offset = (round(-cube.transform[5] / 10) + y0, round(cube.transform[2] / 10) + x0)
    rows, cols = window_origins(size, size, 32, offset)
    ok_r = np.array([all(0 <= s and s + 32 <= size for s in rows if s <= p < s + 32) for p in range(size)])
    ok_c = np.array([all(0 <= s and s + 32 <= size for s in cols if s <= p < s + 32) for p in range(size)])
    inside = ok_r[:, None] & ok_c[None, :]
    assert inside.sum() > 100
    np.testing.assert_allclose(part[inside], whole[y0 : y0 + size, x0 : x0 + size][inside], atol=2e-4)
    grid = (round(-cube.transform[5] / 10), round(cube.transform[2] / 10))
    # An untrained model's field read at its own window lattice: 1.15 measured; stitched windows give ~2.
    assert seam_ratio(whole, 32, origin=((-grid[0]) % 32, (-grid[1]) % 32)) < 1.3
