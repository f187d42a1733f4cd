"""The training input pipeline: grain over the ArrayRecord video shards written by
:class:`aef_ee.videos.format.VideoWriter`.

Per site (each a small named transform, deterministic given the seed and the record index)::

    bytes --DecodeSite--> SiteVideo --RandomCrop--> L x L window and a random sub-period
          --Normalise--> per-source registry normalisation, then standardised with the dataset's index statistics
          --HoldOutAndPad--> one random frame per source held out as the reconstruction target, inputs padded to
                             max_frames with masks, text embedding picked
    then grain's Batch.

An example (before batching) is a nested dict of numpy arrays::

    inputs[s]:  frames (T_s, L, L, C_s) float32, pixel_mask (T_s, L, L) bool, frame_mask (T_s,) bool,
                days (T_s,) float32 days since the valid period's start
    targets[s]: values (L, L, C_s) float32, mask (L, L) bool, present () bool, relative_time () float32 in [0, 1),
                meta (2,) float32 (sin, cos of the day of year)
    period_days () float32, text: embedding (D,) float32, present () bool

Sources a site lacks get all-False masks, so every batch has the same structure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import grain.python as grain
import numpy as np
from absl import flags

from aef_ee.errors import AefValueError, UnknownSourceError
from aef_ee.videos.format import SiteVideo, SourceFrames, VideoDataset, decode_site

__all__ = [
    "SourceStats",
    "source_stats",
    "normalise_frames",
    "DecodeSite",
    "RandomCrop",
    "Normalise",
    "HoldOutAndPad",
    "create_loader",
    "inference_example",
    "channels_from_stats",
    "synthetic_batch",
]

MS_PER_DAY = 86_400_000
DAYS_PER_YEAR = 365.25
# Standard deviations below this (a constant band) are treated as 1 so standardisation cannot blow up.
MIN_STD = 1e-6


@dataclasses.dataclass(frozen=True)
class SourceStats:
    """Per-band mean and std (C,) of a source's normalised values, in the dataset's band order."""

    bands: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray


def source_stats(dataset_stats: Mapping[str, Mapping[str, Any]]) -> dict[str, SourceStats]:
    """Parses ``VideoDataset.stats`` (the index's statistics) into :class:`SourceStats`."""
    out = {}
    for name, st in dataset_stats.items():
        std = np.asarray(st["std"], np.float32)
        out[name] = SourceStats(
            bands=tuple(st["bands"]),
            mean=np.asarray(st["mean"], np.float32),
            std=np.where(std > MIN_STD, std, 1.0).astype(np.float32),
        )
    return out


def normalise_frames(source: str, frames: np.ndarray, bands: Sequence[str], stats: SourceStats) -> np.ndarray:
    """Physical units -> the registry's normalisation -> standardised with the dataset statistics; (..., C) float32.

    Sources or bands the registry does not know keep their physical values before standardisation, exactly as
    the writer did when it accumulated the statistics.
    """
    from aef_ee.videos import sources as registry

    try:
        y = registry.get_source(source).normalise(frames, bands=bands)
    except KeyError:  # UnknownSourceError / UnknownBandError: the writer used physical values too
        y = np.asarray(frames, np.float32)
    if tuple(bands) != stats.bands:
        order = [stats.bands.index(b) for b in bands]
        mean, std = stats.mean[order], stats.std[order]
    else:
        mean, std = stats.mean, stats.std
    return ((y - mean) / std).astype(np.float32)


class DecodeSite(grain.MapTransform):
    def map(self, record: bytes) -> SiteVideo:
        return decode_site(record)


def _crop_source(src: SourceFrames, y: int, x: int, size: int, grid: tuple[int, int]) -> SourceFrames:
    h, w = src.frames.shape[1:3]
    if (h, w) == grid:
        window = np.s_[:, y : y + size, x : x + size]
        return SourceFrames(src.frames[window], src.mask[window], src.timestamps_ms, src.bands)
    if (h, w) == (1, 1):  # a coarse source exported as one value per frame: the same everywhere in the site
        frames = np.broadcast_to(src.frames, (src.frames.shape[0], size, size, src.frames.shape[3]))
        mask = np.broadcast_to(src.mask, (src.mask.shape[0], size, size))
        return SourceFrames(frames, mask, src.timestamps_ms, src.bands)
    raise AefValueError(f"source grid {h}x{w} is neither the site grid {grid} nor 1x1")


def _pad_source(src: SourceFrames, grid: tuple[int, int], grown: tuple[int, int],
                at: tuple[int, int]) -> SourceFrames:
    """A source on the (h, w) site grid placed at ``at`` = (row, col) of a ``grown`` grid of masked zeros."""
    if src.frames.shape[1:3] != grid:
        return src  # a 1 x 1 source is the same everywhere
    (h, w), (y, x) = grid, at
    frames = np.zeros((src.frames.shape[0], *grown, src.frames.shape[3]), src.frames.dtype)
    mask = np.zeros((src.mask.shape[0], *grown), bool)
    frames[:, y : y + h, x : x + w] = src.frames
    mask[:, y : y + h, x : x + w] = src.mask
    return SourceFrames(frames, mask, src.timestamps_ms, src.bands)


@dataclasses.dataclass
class RandomCrop(grain.RandomMapTransform):
    """A random L x L window (all sources on the site grid) and a random ``crop_days`` sub-period (0: whole); a site
    narrower than L is placed at a random position of an L x L window of masked pixels."""

    site_size: int
    crop_days: int

    def random_map(self, video: SiteVideo, rng: np.random.Generator) -> SiteVideo:
        grids = {s.frames.shape[1:3] for s in video.sources.values()} - {(1, 1)}
        if len(grids) != 1:
            raise AefValueError(f"site {video.site_id!r}: sources on several grids {sorted(grids)}")
        (h, w) = grids.pop()
        if h < self.site_size or w < self.site_size:
            # A site narrower than L (a field, a point's few pixels) sits at a random place of an L-wide window
            # whose other pixels are masked: it trains like any site, its reconstruction scored on its own pixels.
            grown = (max(h, self.site_size), max(w, self.site_size))
            at = (int(rng.integers(0, grown[0] - h + 1)), int(rng.integers(0, grown[1] - w + 1)))
            video = dataclasses.replace(video, sources={name: _pad_source(src, (h, w), grown, at)
                                                        for name, src in video.sources.items()})
            h, w = grown
        y = int(rng.integers(0, h - self.site_size + 1))
        x = int(rng.integers(0, w - self.site_size + 1))
        start, end = video.period_ms
        if self.crop_days:
            span = self.crop_days * MS_PER_DAY
            if span < end - start:
                start = start + int(rng.integers(0, (end - start - span) // MS_PER_DAY + 1)) * MS_PER_DAY
                end = start + span
        sources = {name: _crop_source(src, y, x, self.site_size, (h, w)) for name, src in video.sources.items()}
        return dataclasses.replace(video, sources=sources, period_ms=(start, end))


@dataclasses.dataclass
class Normalise(grain.MapTransform):
    """Per-source normalisation to standardised model units (invalid pixels set to 0); categorical sources keep
    their class ids."""

    stats: Mapping[str, SourceStats]
    categorical: Sequence[str] = ()

    def map(self, video: SiteVideo) -> SiteVideo:
        sources = {}
        for name, src in video.sources.items():
            if name in self.categorical:
                sources[name] = src
                continue
            if name not in self.stats:
                raise UnknownSourceError(f"source {name!r} has no statistics in the dataset index")
            frames = normalise_frames(name, src.frames, src.bands, self.stats[name])
            frames = np.where(src.mask[..., None], frames, 0.0).astype(np.float32)
            # A site with some of the source's bands: the missing ones are 0 (the mean), so every site of the
            # source has the model's channels.
            frames = _full_bands(src, frames, self.stats[name], video.site_id)
            sources[name] = SourceFrames(frames, src.mask, src.timestamps_ms, self.stats[name].bands)
        return dataclasses.replace(video, sources=sources)


def _meta(timestamp_ms: int) -> np.ndarray:
    angle = 2.0 * np.pi * ((timestamp_ms / MS_PER_DAY) % DAYS_PER_YEAR) / DAYS_PER_YEAR
    return np.array([np.sin(angle), np.cos(angle)], np.float32)


@dataclasses.dataclass
class HoldOutAndPad(grain.RandomMapTransform):
    """Holds out one random frame per target source, pads the input frames, picks one text embedding."""

    input_sources: Sequence[str]
    target_sources: Sequence[str]
    channels: Mapping[str, int]
    max_frames: Mapping[str, int]
    site_size: int
    text_dim: int
    hold_out: bool = True

    def random_map(self, video: SiteVideo, rng: np.random.Generator) -> dict[str, Any]:
        start, end = video.period_ms
        period_days = (end - start) / MS_PER_DAY
        L = self.site_size
        held: dict[str, int] = {}
        targets = {}
        for name in self.target_sources:
            src = video.sources.get(name)
            tgt = {
                "values": np.zeros((L, L, self.channels[name]), np.float32),
                "mask": np.zeros((L, L), bool),
                "present": np.asarray(False),
                "relative_time": np.asarray(0.0, np.float32),
                "meta": np.zeros(2, np.float32),
            }
            if src is not None:
                usable = np.flatnonzero(self._in_period(src, start, end) & src.mask.any(axis=(1, 2)))
                if usable.size:
                    i = int(rng.choice(usable))
                    held[name] = i
                    t = int(src.timestamps_ms[i])
                    tgt.update(
                        values=src.frames[i],
                        mask=src.mask[i],
                        present=np.asarray(True),
                        relative_time=np.asarray(np.clip((t - start) / (end - start), 0.0, 1.0), np.float32),
                        meta=_meta(t),
                    )
            targets[name] = tgt
        inputs = {}
        for name in self.input_sources:
            t_max = self.max_frames[name]
            out = {
                "frames": np.zeros((t_max, L, L, self.channels[name]), np.float32),
                "pixel_mask": np.zeros((t_max, L, L), bool),
                "frame_mask": np.zeros((t_max,), bool),
                "days": np.zeros((t_max,), np.float32),
            }
            src = video.sources.get(name)
            if src is not None:
                keep = self._in_period(src, start, end) & src.mask.any(axis=(1, 2))
                if self.hold_out and name in held:
                    keep[held[name]] = False
                idx = np.flatnonzero(keep)
                if idx.size > t_max:
                    idx = np.sort(rng.choice(idx, t_max, replace=False))
                n = idx.size
                out["frames"][:n] = src.frames[idx]
                out["pixel_mask"][:n] = src.mask[idx]
                out["frame_mask"][:n] = True
                out["days"][:n] = (src.timestamps_ms[idx] - start) / MS_PER_DAY
            inputs[name] = out
        text = {"embedding": np.zeros(self.text_dim, np.float32), "present": np.asarray(False)}
        if video.text_embedding is not None and len(video.text_embedding):
            emb = np.asarray(video.text_embedding, np.float32)
            if emb.shape[1] != self.text_dim:
                raise AefValueError(f"site {video.site_id!r}: text embeddings of size {emb.shape[1]}, "
                                    f"config.text_dim is {self.text_dim}")
            text = {"embedding": emb[int(rng.integers(len(emb)))], "present": np.asarray(True)}
        return {
            "inputs": inputs,
            "targets": targets,
            "period_days": np.asarray(period_days, np.float32),
            "text": text,
        }

    @staticmethod
    def _in_period(src: SourceFrames, start: int, end: int) -> np.ndarray:
        if src.num_frames == 1:  # static sources (a DEM) hold for any period
            return np.ones(1, bool)
        return (src.timestamps_ms >= start) & (src.timestamps_ms < end)


def channels_from_stats(stats: Mapping[str, SourceStats], sources: Sequence[str]) -> dict[str, int]:
    """Bands per source: the dataset's, or for a source the dataset lacks, the registry's (its stem or decoder then
    only ever sees all-False masks, so a dataset with some of the config's sources trains).

    Raises:
      UnknownSourceError: a source neither in the dataset nor in the registry.
    """
    from aef_ee.videos import sources as registry

    out = {}
    for s in sources:
        if s in stats:
            out[s] = len(stats[s].bands)
            continue
        try:
            out[s] = len(registry.get_source(s).bands)
        except KeyError as exc:
            raise UnknownSourceError(
                f"source {s!r} is neither in the dataset (it has {sorted(stats)}) nor in the registry") from exc
    return out


def _full_bands(src: SourceFrames, frames: np.ndarray, stats: SourceStats, site_id: str) -> np.ndarray:
    """(..., C_site) -> (..., C) in the statistics' band order; bands the site lacks are 0 (the standardised mean)."""
    if tuple(src.bands) == stats.bands:
        return frames
    unknown = [b for b in src.bands if b not in stats.bands]
    if unknown:
        raise UnknownSourceError(f"site {site_id!r}: bands {unknown} have no statistics (have {list(stats.bands)})")
    full = np.zeros((*frames.shape[:-1], len(stats.bands)), np.float32)
    full[..., [stats.bands.index(b) for b in src.bands]] = frames
    return full


def create_loader(data_dir: str, config: Any, *, seed: int, batch_size: int) -> grain.DataLoader:
    """An endless, shuffled, batched grain DataLoader over the dataset at ``data_dir``.

    Args:
      data_dir: a directory written by :class:`aef_ee.videos.format.VideoWriter`.
      config: the training config (site_size, crop_days, sources, max_frames, text_dim, worker_count).
      seed: shuffling and augmentation seed; the same seed gives the same batches.
      batch_size: sites per batch on this host.

    Each JAX process reads its own part of the dataset (``grain.ShardByJaxProcess``).
    """
    dataset = VideoDataset(data_dir)
    stats = source_stats(dataset.stats)
    all_sources = sorted(set(config.input_sources) | set(config.target_sources))
    channels = channels_from_stats(stats, all_sources)
    source = grain.ArrayRecordDataSource(dataset.shard_paths)
    sampler = grain.IndexSampler(
        num_records=len(source),
        shard_options=grain.ShardByJaxProcess(drop_remainder=True),
        shuffle=True,
        num_epochs=None,
        seed=seed,
    )
    operations = [
        DecodeSite(),
        RandomCrop(site_size=config.site_size, crop_days=config.crop_days),
        Normalise(stats=stats, categorical=tuple(config.get("categorical", {}))),
        HoldOutAndPad(
            input_sources=tuple(config.input_sources),
            target_sources=tuple(config.target_sources),
            channels=channels,
            max_frames=dict(config.max_frames),
            site_size=config.site_size,
            text_dim=config.text_dim,
        ),
        grain.Batch(batch_size=batch_size, drop_remainder=True),
    ]
    if config.worker_count and not flags.FLAGS.is_parsed():
        # grain reads its options from absl flags when it starts worker processes, and absl refuses to read a flag
        # before the command line is parsed; a program without absl flags of its own (a notebook, a script) gets
        # grain's defaults. python -m aef_ee_training.train parses the command line's absl flags itself.
        flags.FLAGS.mark_as_parsed()
    return grain.DataLoader(
        data_source=source, sampler=sampler, operations=operations, worker_count=config.worker_count
    )


def inference_example(
    video: SiteVideo,
    config: Any,
    stats: Mapping[str, SourceStats],
    *,
    y: int,
    x: int,
) -> dict[str, Any]:
    """The model inputs of one L x L window at (y, x) of a video, all valid-period frames, nothing held out.

    Frames beyond ``max_frames`` are subsampled evenly (deterministically). Returns the unbatched example dict.
    """
    L = config.site_size
    sources = {}
    grids = {s.frames.shape[1:3] for s in video.sources.values()} - {(1, 1)}
    (h, w) = grids.pop()
    for name, src in video.sources.items():
        cut = _crop_source(src, y, x, L, (h, w))
        if name in config.input_sources:
            start, end = video.period_ms
            keep = np.flatnonzero(HoldOutAndPad._in_period(cut, start, end) & cut.mask.any(axis=(1, 2)))
            t_max = config.max_frames[name]
            if keep.size > t_max:
                keep = keep[np.linspace(0, keep.size - 1, t_max).round().astype(int)]
            cut = SourceFrames(cut.frames[keep], cut.mask[keep], cut.timestamps_ms[keep], cut.bands)
        sources[name] = cut
    video = Normalise(stats=stats, categorical=tuple(config.get("categorical", {}))).map(
        dataclasses.replace(video, sources=sources)
    )
    channels = channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))
    transform = HoldOutAndPad(
        input_sources=tuple(config.input_sources), target_sources=tuple(config.target_sources), channels=channels,
        max_frames=dict(config.max_frames), site_size=L, text_dim=config.text_dim, hold_out=False,
    )
    return transform.random_map(video, np.random.default_rng(0))


def synthetic_batch(
    config: Any, channels: Mapping[str, int], batch_size: int, *, seed: int = 0
) -> dict[str, Any]:
    """A batch of the pipeline's structure and shapes filled with random values (benchmarks, shape checks).

    Every frame is present and every pixel valid, so it is the most expensive batch of this config.
    """
    rng = np.random.default_rng(seed)
    L, B = config.site_size, batch_size
    period = float(config.crop_days or 365)
    inputs = {}
    for s in config.input_sources:
        t = config.max_frames[s]
        inputs[s] = {
            "frames": rng.normal(size=(B, t, L, L, channels[s])).astype(np.float32),
            "pixel_mask": np.ones((B, t, L, L), bool),
            "frame_mask": np.ones((B, t), bool),
            "days": np.sort(rng.uniform(0, period, (B, t)), axis=1).astype(np.float32),
        }
    targets = {
        s: {
            "values": rng.normal(size=(B, L, L, channels[s])).astype(np.float32),
            "mask": np.ones((B, L, L), bool),
            "present": np.ones((B,), bool),
            "relative_time": rng.uniform(0, 1, (B,)).astype(np.float32),
            "meta": rng.normal(size=(B, 2)).astype(np.float32),
        }
        for s in config.target_sources
    }
    text = rng.normal(size=(B, config.text_dim)).astype(np.float32)
    return {
        "inputs": inputs,
        "targets": targets,
        "period_days": np.full((B,), period, np.float32),
        "text": {"embedding": text / np.linalg.norm(text, axis=-1, keepdims=True), "present": np.ones((B,), bool)},
    }
