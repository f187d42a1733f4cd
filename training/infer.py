"""Inference: a checkpoint and a site video -> the (H, W, 64) unit embedding field of the video's valid period.

    python -m aef_ee_training.infer --workdir /tmp/aef_tiny --data /path/to/videos --site 0 --out emb.npy

The site is covered by L x L windows overlapping by half (stride L / 2) on a lattice anchored to the site's absolute
10 m grid (its transform), padded with invalid pixels beyond the site; each window sees every valid-period frame of
the input sources (up to ``max_frames``, evenly subsampled). The windows' fields are blended with a separable tent
weight (1 at the window's centre, 1 / L at its edge; the tents of overlapping windows sum to one), then
renormalised to unit length. So no pixel depends on one window alone, there is no seam at window borders, and two
videos covering the same ground give the same field wherever both have L / 2 pixels of context, whatever their
origin. Inference uses the vMF mean direction (no sampling).

A workdir written by ``aef_ee_training.train`` holds ``inference.json`` (config, statistics, bands), so
:func:`load_inference` needs nothing else; older workdirs need the training data (``data``) and the config name.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from aef_ee_training.train import INFERENCE_FILE, CONFIGS, create_model, create_optimizer, get_config

__all__ = ["load_model", "load_inference", "window_weight", "window_origins", "embed_video", "main"]

logger = logging.getLogger(__name__)
WINDOW_BATCH = 16  # windows per compiled call: bounds memory on large sites
RESOLUTION_M = 10.0


def load_inference(
    workdir: str | Path, *, config: str | Any | None = None, data: str | Path | None = None, step: int | None = None
) -> tuple[AlphaEarth, Any, dict[str, input_pipeline.SourceStats], int]:
    """Everything needed to embed with a workdir's checkpoint: (model, config, stats, step).

    Args:
      workdir: the training workdir (``checkpoints/`` and, when written by this version, ``inference.json``).
      config: a config name or object; default the one in ``inference.json``.
      data: a training video dataset whose statistics to use; default those in ``inference.json``.

    Raises:
      TrainingError: neither ``inference.json`` nor ``data`` gives the statistics, or no checkpoint.
    """
    import ml_collections

    meta_path = Path(workdir, INFERENCE_FILE)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if isinstance(config, str):
        config = get_config(config)
    elif config is None:
        if meta is None:
            raise TrainingError(f"{workdir} has no {INFERENCE_FILE}; give the config it was trained with")
        config = ml_collections.ConfigDict(meta["config"])
    if data is not None:
        stats = input_pipeline.source_stats(VideoDataset(data).stats)
    elif meta is not None:
        stats = input_pipeline.source_stats(meta["stats"])
    else:
        raise TrainingError(f"{workdir} has no {INFERENCE_FILE}; give the training data (its statistics)")
    if not any(s in stats for s in config.input_sources):
        raise TrainingError(f"no normalisation statistics for any input source {list(config.input_sources)} "
                            f"(have {sorted(stats)})")
    channels = input_pipeline.channels_from_stats(
        stats, sorted(set(config.input_sources) | set(config.target_sources)))
    model, step = load_model(workdir, config, channels, step=step)
    return model, config, stats, step


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


def window_weight(size: int) -> np.ndarray:
    """(size, size) separable tent: 1 - |i - c| / (size / 2) per axis, c the window centre; > 0 everywhere, and
    tents at a stride of size / 2 sum to one."""
    i = np.arange(size, dtype=np.float64)
    tent = 1.0 - np.abs(i - (size - 1) / 2) / (size / 2)
    return np.outer(tent, tent).astype(np.float32)


def _grid_offset(video: SiteVideo) -> tuple[int, int]:
    """The site's upper-left pixel on the absolute 10 m grid (row, column); (0, 0) without a usable transform."""
    try:
        a, _, x0, _, e, y0 = (float(v) for v in video.transform)
    except (TypeError, ValueError):
        return 0, 0
    if a <= 0 or e >= 0:
        return 0, 0
    return int(round(-y0 / -e)), int(round(x0 / a))


def window_origins(h: int, w: int, size: int, offset: tuple[int, int] = (0, 0)) -> tuple[list[int], list[int]]:
    """Window starts (rows, columns) in site pixels covering an h x w site with stride size / 2, on the lattice of
    the absolute grid (``offset`` is the site's first pixel there): every pixel is covered by two windows per axis."""
    stride = size // 2

    def starts(n: int, o: int) -> list[int]:
        phase = (-o) % stride  # site coordinate of a lattice point
        first = phase - ((phase + size - 1) // stride) * stride  # the first window that reaches pixel 0
        return list(range(first, n, stride))

    return starts(h, offset[0]), starts(w, offset[1])


def _pad_video(video: SiteVideo, before: tuple[int, int], after: tuple[int, int]) -> SiteVideo:
    """Pads every gridded source with invalid pixels: ``before`` rows/columns above/left, ``after`` below/right."""
    sources = {}
    for name, src in video.sources.items():
        if src.frames.shape[1:3] == (1, 1):
            sources[name] = src
            continue
        pad = ((0, 0), (before[0], after[0]), (before[1], after[1]))
        frames = np.pad(src.frames, (*pad, (0, 0)))
        mask = np.pad(src.mask, pad)
        sources[name] = SourceFrames(frames, mask, src.timestamps_ms, src.bands)
    return dataclasses.replace(video, sources=sources)


@nnx.jit
def _embed(model: AlphaEarth, inputs: Any, period_days: jnp.ndarray) -> jnp.ndarray:
    """Compiled once per input shape for the process (a jit made inside embed_video recompiled every call)."""
    return model.embed(inputs, period_days)


def embed_video(
    model: AlphaEarth, video: SiteVideo, config: Any, stats: Mapping[str, input_pipeline.SourceStats]
) -> np.ndarray:
    """The (H, W, E) float32 unit embedding field of ``video`` over its valid period (see the module docstring)."""
    size = config.site_size
    grids = {s.frames.shape[1:3] for s in video.sources.values()} - {(1, 1)}
    if len(grids) != 1:
        raise TrainingError(f"site {video.site_id!r}: sources on several grids {sorted(grids)}")
    h, w = grids.pop()
    rows, cols = window_origins(h, w, size, _grid_offset(video))
    top, left = -rows[0], -cols[0]
    bottom, right = rows[-1] + size - h, cols[-1] + size - w
    padded = _pad_video(video, (top, left), (bottom, right))
    origins = [(y + top, x + left) for y in rows for x in cols]
    weight = window_weight(size)[..., None]
    total = np.zeros((h + top + bottom, w + left + right, 1), np.float32)
    acc = np.zeros((*total.shape[:2], model.options.embedding_dim), np.float32)
    for i in range(0, len(origins), WINDOW_BATCH):
        chunk = origins[i : i + WINDOW_BATCH]
        examples = [input_pipeline.inference_example(padded, config, stats, y=y, x=x) for y, x in chunk]
        batch = jax.tree.map(lambda *xs: np.stack(xs), *examples)
        fields = np.asarray(_embed(model, batch["inputs"], jnp.asarray(batch["period_days"])))
        for (y, x), field in zip(chunk, fields):
            acc[y : y + size, x : x + size] += weight * field
            total[y : y + size, x : x + size] += weight
    field = (acc / total)[top : top + h, left : left + w]
    return field / np.maximum(np.linalg.norm(field, axis=-1, keepdims=True), 1e-12)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aef_ee_training.infer", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, choices=CONFIGS,
                        help="config name (default: the workdir's inference.json)")
    parser.add_argument("--workdir", required=True, help="the training workdir (its checkpoints/)")
    parser.add_argument("--data", required=True, help="video dataset directory holding the site")
    parser.add_argument("--stats-from-data", action="store_true",
                        help="normalise with --data's statistics (a workdir without inference.json needs this)")
    parser.add_argument("--site", required=True, help="site index in the dataset, or a site id")
    parser.add_argument("--out", required=True, help="output .npy file: (H, W, 64) float32")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dataset = VideoDataset(args.data)
    use_data = args.stats_from_data or not Path(args.workdir, INFERENCE_FILE).exists()
    model, config, stats, step = load_inference(
        args.workdir, config=args.config, data=args.data if use_data else None, step=args.step)
    ids = dataset.site_ids
    index = ids.index(args.site) if args.site in ids else int(args.site)
    field = embed_video(model, dataset[index], config, stats)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as f:
        np.save(f, field)
    logger.info("site %s: embedding field %s from checkpoint step %d -> %s", ids[index], field.shape, step, args.out)


if __name__ == "__main__":
    main()
