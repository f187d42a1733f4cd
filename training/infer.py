"""Inference: a checkpoint and a site video -> the (H, W, 64) unit embedding field of the video's valid period.

    python -m aef_ee_training.infer --config tiny --workdir /tmp/aef_tiny --data /path/to/videos --site 0 --out emb.npy

The site is tiled into non-overlapping L x L windows (padded with invalid pixels to a multiple of L), each window
sees every valid-period frame of the input sources (up to ``max_frames``, evenly subsampled), and the windows'
fields are stitched back and cropped to H x W. Inference uses the vMF mean direction (no sampling).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from aef_ee.atomic import atomic_path
from aef_ee.videos.format import SiteVideo, SourceFrames, VideoDataset
from aef_ee_training import input_pipeline
from aef_ee_training.errors import TrainingError
from aef_ee_training.model.aef import AlphaEarth
from aef_ee_training.train import create_model, create_optimizer, get_config, CONFIGS

__all__ = ["load_model", "embed_video", "main"]

logger = logging.getLogger(__name__)


def load_model(
    workdir: str | Path, config: Any, channels: Mapping[str, int], *, step: int | None = None
) -> tuple[AlphaEarth, int]:
    """Restores the parameters of ``workdir``'s latest (or given) checkpoint into a fresh model (float32).

    Returns:
      (model, step).

    Raises:
      TrainingError: there is no checkpoint.
    """
    abstract = nnx.eval_shape(lambda: create_model(config, channels, seed=config.seed))
    graphdef, abstract_params = nnx.split(abstract)
    abstract_opt = jax.eval_shape(create_optimizer(config).init, abstract_params)
    manager = ocp.CheckpointManager(
        Path(workdir, "checkpoints").absolute(), item_handlers={"state": ocp.StandardCheckpointHandler()}
    )
    step = manager.latest_step() if step is None else step
    if step is None:
        raise TrainingError(f"no checkpoint under {Path(workdir, 'checkpoints')}")
    target = {"params": abstract_params, "opt_state": abstract_opt}
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
    manager.close()
    return nnx.merge(graphdef, restored["state"]["params"]), int(step)


def _pad_video(video: SiteVideo, size: int) -> tuple[SiteVideo, tuple[int, int]]:
    grids = {s.frames.shape[1:3] for s in video.sources.values()} - {(1, 1)}
    if len(grids) != 1:
        raise TrainingError(f"site {video.site_id!r}: sources on several grids {sorted(grids)}")
    h, w = grids.pop()
    ph, pw = -h % size, -w % size
    if not (ph or pw):
        return video, (h, w)
    sources = {}
    for name, src in video.sources.items():
        if src.frames.shape[1:3] == (1, 1):
            sources[name] = src
            continue
        frames = np.pad(src.frames, ((0, 0), (0, ph), (0, pw), (0, 0)))
        mask = np.pad(src.mask, ((0, 0), (0, ph), (0, pw)))
        sources[name] = SourceFrames(frames, mask, src.timestamps_ms, src.bands)
    return dataclasses.replace(video, sources=sources), (h, w)


@nnx.jit
def _embed(model: AlphaEarth, inputs: Any, period_days: jnp.ndarray) -> jnp.ndarray:
    """Compiled once per input shape for the process (a jit made inside embed_video recompiled every call)."""
    return model.embed(inputs, period_days)


def embed_video(
    model: AlphaEarth, video: SiteVideo, config: Any, stats: Mapping[str, input_pipeline.SourceStats]
) -> np.ndarray:
    """The (H, W, E) float32 unit embedding field of ``video`` over its valid period."""
    size = config.site_size
    padded, (h, w) = _pad_video(video, size)
    hp, wp = -(-h // size) * size, -(-w // size) * size
    origins = [(y, x) for y in range(0, hp, size) for x in range(0, wp, size)]
    examples = [input_pipeline.inference_example(padded, config, stats, y=y, x=x) for y, x in origins]
    batch = jax.tree.map(lambda *xs: np.stack(xs), *examples)
    fields = np.asarray(_embed(model, batch["inputs"], jnp.asarray(batch["period_days"])))
    out = np.zeros((hp, wp, fields.shape[-1]), np.float32)
    for (y, x), field in zip(origins, fields):
        out[y : y + size, x : x + size] = field
    return out[:h, :w]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aef_ee_training.infer", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", choices=CONFIGS)
    parser.add_argument("--workdir", required=True, help="the training workdir (its checkpoints/)")
    parser.add_argument("--data", required=True, help="video dataset directory (for its statistics and sites)")
    parser.add_argument("--site", required=True, help="site index in the dataset, or a site id")
    parser.add_argument("--out", required=True, help="output .npy file: (H, W, 64) float32")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = get_config(args.config)
    dataset = VideoDataset(args.data)
    stats = input_pipeline.source_stats(dataset.stats)
    channels = input_pipeline.channels_from_stats(
        stats, sorted(set(config.input_sources) | set(config.target_sources))
    )
    ids = dataset.site_ids
    index = ids.index(args.site) if args.site in ids else int(args.site)
    model, step = load_model(args.workdir, config, channels, step=args.step)
    field = embed_video(model, dataset[index], config, stats)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as f:
        np.save(f, field)
    logger.info("site %s: embedding field %s from checkpoint step %d -> %s", ids[index], field.shape, step, args.out)


if __name__ == "__main__":
    main()
