"""The on-disk format of training videos: one writer and one reader, shared by the exporter and the trainer.

A *video* is everything the sensors saw of one site (an L x L patch on its UTM grid) over a period: per source, a stack
of frames ``(T_s, H_s, W_s, C_s)`` in physical units with a validity mask ``(T_s, H_s, W_s)`` and the acquisition
times in milliseconds since the Unix epoch. Sources are sparse and asynchronous: each has its own ``T_s`` and may be
absent; a static source (a DEM) has ``T_s == 1``.

On disk a dataset is a directory::

    index.json               format version, shard list, site ids per shard, sources, normalisation statistics
    shard-00000.array_record one record per site (ArrayRecord, random access; grain's ArrayRecordDataSource reads it)
    shard-00001.array_record ...

Each record is an uncompressed ``.npz`` (no pickles) holding, per source ``s``: ``s/frames`` float32,
``s/mask`` bool, ``s/timestamps_ms`` int64, and ``__meta__`` (UTF-8 JSON: site id, CRS, affine transform, centre
lon/lat, valid period, band names per source, optional geotagged text). An optional ``__text_embedding__`` float32
``(N, D)`` holds the frozen sentence-encoder embeddings of the site's text.

Normalisation statistics (per source, per band: mean and standard deviation of the *normalised* values, see
:mod:`aef_ee.videos.sources`) are accumulated while writing and stored in ``index.json`` so the trainer standardises
inputs without a second pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.atomic import atomic_path, write_json_atomic
from aef_ee.errors import AefValueError, VideoFormatError
from aef_ee.npy import load_npz

__all__ = [
    "FORMAT_VERSION",
    "SourceFrames",
    "SiteVideo",
    "encode_site",
    "decode_site",
    "VideoWriter",
    "VideoDataset",
    "RunningStats",
]

FORMAT_VERSION = 1
INDEX_NAME = "index.json"
SHARD_PATTERN = "shard-{:05d}.array_record"
# Sites per shard: small enough that a shard is a few hundred MB at L = 128 with ~100 frames, large enough that
# a million-site dataset has a manageable number of files.
DEFAULT_SITES_PER_SHARD = 256
_META_KEY = "__meta__"
_TEXT_KEY = "__text_embedding__"


@dataclasses.dataclass(frozen=True)
class SourceFrames:
    """The frames one source recorded over one site.

    Attributes:
      frames: (T, H, W, C) float32 in physical units (reflectance 0..1, dB, metres, K, ...). Invalid pixels hold
        any finite value (0 by convention); read ``mask``.
      mask: (T, H, W) bool, True where the pixel is valid (observed, not cloud, not nodata).
      timestamps_ms: (T,) int64 acquisition (or composite start) times, ms since 1970-01-01 UTC.
      bands: the C band names, in order.
    """

    frames: np.ndarray
    mask: np.ndarray
    timestamps_ms: np.ndarray
    bands: tuple[str, ...]

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames, dtype=np.float32)
        mask = np.asarray(self.mask, dtype=bool)
        times = np.asarray(self.timestamps_ms, dtype=np.int64).reshape(-1)
        if frames.ndim != 4:
            raise AefValueError(f"frames must be (T, H, W, C); got shape {frames.shape}")
        if mask.shape != frames.shape[:3]:
            raise AefValueError(f"mask shape {mask.shape} does not match frames {frames.shape[:3]}")
        if times.shape[0] != frames.shape[0]:
            raise AefValueError(f"{times.shape[0]} timestamps for {frames.shape[0]} frames")
        if len(self.bands) != frames.shape[3]:
            raise AefValueError(f"{len(self.bands)} band names {tuple(self.bands)!r} for {frames.shape[3]} channels")
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "timestamps_ms", times)
        object.__setattr__(self, "bands", tuple(str(b) for b in self.bands))

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclasses.dataclass(frozen=True)
class SiteVideo:
    """One site's video: every source's frames plus where and when.

    Attributes:
      site_id: unique within a dataset, e.g. ``"32631_664000_5612000"`` (EPSG code, grid x, grid y).
      crs: e.g. ``"EPSG:32631"``.
      transform: the site grid's affine transform (a, b, c, d, e, f) in rasterio order, metres.
      center_lonlat: (lon, lat) of the site centre, degrees.
      period_ms: the valid period [start, end) in ms since the epoch.
      sources: source name -> frames.
      text: geotagged text for the site (may be empty).
      text_embedding: (N, D) float32 embeddings of ``text`` from the frozen sentence encoder, or None.
      properties: free metadata (the stratum, the sampling method, ...), JSON-serialisable.
    """

    site_id: str
    crs: str
    transform: tuple[float, float, float, float, float, float]
    center_lonlat: tuple[float, float]
    period_ms: tuple[int, int]
    sources: Mapping[str, SourceFrames]
    text: tuple[str, ...] = ()
    text_embedding: np.ndarray | None = None
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.transform) != 6:
            raise AefValueError(f"transform must have 6 terms (a, b, c, d, e, f); got {self.transform!r}")
        if self.period_ms[1] <= self.period_ms[0]:
            raise AefValueError(f"empty valid period {self.period_ms!r}")
        for name in self.sources:
            if "/" in name or name.startswith("__"):
                raise AefValueError(f"source name {name!r} may not contain '/' or start with '__'")


def encode_site(video: SiteVideo) -> bytes:
    """Serialises a site video to the bytes of one record (an uncompressed npz, no pickles)."""
    arrays: dict[str, np.ndarray] = {}
    for name, src in video.sources.items():
        arrays[f"{name}/frames"] = src.frames
        arrays[f"{name}/mask"] = src.mask
        arrays[f"{name}/timestamps_ms"] = src.timestamps_ms
    meta = {
        "format_version": FORMAT_VERSION,
        "site_id": video.site_id,
        "crs": video.crs,
        "transform": [float(v) for v in video.transform],
        "center_lonlat": [float(v) for v in video.center_lonlat],
        "period_ms": [int(v) for v in video.period_ms],
        "bands": {name: list(src.bands) for name, src in video.sources.items()},
        "text": list(video.text),
        "properties": dict(video.properties),
    }
    arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    if video.text_embedding is not None:
        arrays[_TEXT_KEY] = np.asarray(video.text_embedding, dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_site(record: bytes) -> SiteVideo:
    """Parses the bytes written by :func:`encode_site`.

    Raises:
      VideoFormatError: the record is not a site video of a known format version.
    """
    try:
        arrays = load_npz(record)
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
    except (ValueError, KeyError, OSError) as exc:
        raise VideoFormatError(f"not a site video record: {exc}") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise VideoFormatError(f"video format version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    text_embedding = arrays.pop(_TEXT_KEY, None)
    sources = {
        name: SourceFrames(
            frames=arrays[f"{name}/frames"],
            mask=arrays[f"{name}/mask"],
            timestamps_ms=arrays[f"{name}/timestamps_ms"],
            bands=tuple(bands),
        )
        for name, bands in meta["bands"].items()
    }
    return SiteVideo(
        site_id=meta["site_id"],
        crs=meta["crs"],
        transform=tuple(meta["transform"]),
        center_lonlat=tuple(meta["center_lonlat"]),
        period_ms=tuple(meta["period_ms"]),
        sources=sources,
        text=tuple(meta.get("text", ())),
        text_embedding=text_embedding,
        properties=meta.get("properties", {}),
    )


class RunningStats:
    """Per-band count, mean and variance over valid pixels, merged with Chan et al.'s parallel update."""

    def __init__(self, num_bands: int) -> None:
        self.count = np.zeros(num_bands, np.float64)
        self.mean = np.zeros(num_bands, np.float64)
        self.m2 = np.zeros(num_bands, np.float64)

    def update(self, values: np.ndarray, mask: np.ndarray) -> None:
        """Adds the valid pixels of ``values`` (..., C) where ``mask`` (...) is True."""
        valid = values[mask].astype(np.float64)  # (N, C)
        n = valid.shape[0]
        if n == 0:
            return
        batch_mean = valid.mean(axis=0)
        batch_m2 = ((valid - batch_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + batch_m2 + delta**2 * self.count * n / total
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / np.maximum(self.count, 1.0))

    def to_json(self, bands: Sequence[str]) -> dict[str, Any]:
        return {
            "bands": list(bands),
            "count": self.count.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }


def _normalise_for_stats(source: str, frames: np.ndarray, bands: Sequence[str] | None = None) -> np.ndarray:
    # Imported lazily: the registry may be extended by users after this module is imported.
    from aef_ee.videos import sources as registry

    try:
        spec = registry.get_source(source)
    except KeyError:  # a source outside the registry: statistics of the physical values
        return frames
    # A video may hold a subset of the declared bands (a batch export of fewer bands): normalise by name.
    try:
        return spec.normalise(frames, bands=bands)
    except KeyError:  # a band the registry does not declare: statistics of the physical values, as above
        return frames


class VideoWriter:
    """Writes site videos into ArrayRecord shards plus ``index.json``; atomic per shard.

    Usage::

        with VideoWriter(out_dir) as writer:
            for video in videos:
                writer.write(video)

    Shards are written under a temporary name and renamed when closed, and ``index.json`` is rewritten atomically
    after each shard, so an interrupted export leaves a readable dataset of the finished shards. Re-opening a
    directory appends new shards and keeps the existing ones (``site_ids`` tells which sites are already there).
    """

    def __init__(self, out_dir: str | os.PathLike[str], *, sites_per_shard: int = DEFAULT_SITES_PER_SHARD) -> None:
        if sites_per_shard < 1:
            raise AefValueError(f"sites_per_shard must be >= 1; got {sites_per_shard!r}")
        from array_record.python import array_record_module

        self._module = array_record_module
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.sites_per_shard = sites_per_shard
        self._index = _read_index(self.out_dir) if (self.out_dir / INDEX_NAME).exists() else _empty_index()
        self._stats: dict[str, RunningStats] = {}
        self._stat_bands: dict[str, list[str]] = {}
        for name, st in self._index["stats"].items():
            rs = RunningStats(len(st["bands"]))
            rs.count = np.asarray(st["count"], np.float64)
            rs.mean = np.asarray(st["mean"], np.float64)
            rs.m2 = np.asarray(st["std"], np.float64) ** 2 * rs.count
            self._stats[name] = rs
            self._stat_bands[name] = list(st["bands"])
        self._writer = None
        self._pending_ids: list[str] = []
        self._pending_path: Path | None = None
        # Holds the open shard's atomic_path: leaving it renames the temporary file into place, or removes it.
        self._pending_commit: contextlib.ExitStack | None = None

    @property
    def site_ids(self) -> set[str]:
        """Sites already committed to finished shards."""
        return {sid for shard in self._index["shards"] for sid in shard["site_ids"]}

    def write(self, video: SiteVideo) -> None:
        """Appends one site; rolls to a new shard every ``sites_per_shard`` sites."""
        if self._writer is None:
            shard_number = len(self._index["shards"])
            self._pending_path = self.out_dir / SHARD_PATTERN.format(shard_number)
            self._pending_commit = contextlib.ExitStack()
            tmp = self._pending_commit.enter_context(atomic_path(self._pending_path))  # keeps .array_record
            self._writer = self._module.ArrayRecordWriter(str(tmp), "group_size:1")
        self._writer.write(encode_site(video))
        self._pending_ids.append(video.site_id)
        for name, src in video.sources.items():
            if name not in self._stats:
                self._stats[name] = RunningStats(len(src.bands))
                self._stat_bands[name] = list(src.bands)
            elif self._stat_bands[name] != list(src.bands):
                raise AefValueError(
                    f"source {name!r} has bands {list(src.bands)} in site {video.site_id!r}, "
                    f"but {self._stat_bands[name]} earlier in this dataset"
                )
            self._stats[name].update(_normalise_for_stats(name, src.frames, src.bands), src.mask)
        for name in video.sources:
            if name not in self._index["sources"]:
                self._index["sources"].append(name)
        if len(self._pending_ids) >= self.sites_per_shard:
            self.flush()

    def flush(self) -> None:
        """Closes the open shard (if any), renames it into place and rewrites the index."""
        if self._writer is None:
            return
        assert self._pending_path is not None and self._pending_commit is not None
        with self._pending_commit:  # renames the shard into place once closed (removes it if closing fails)
            self._writer.close()
        self._index["shards"].append({"path": self._pending_path.name, "site_ids": list(self._pending_ids)})
        self._index["stats"] = {
            name: stats.to_json(self._stat_bands[name]) for name, stats in self._stats.items()
        }
        write_json_atomic(self.out_dir / INDEX_NAME, self._index, indent=1)
        self._writer = None
        self._pending_ids = []
        self._pending_path = None
        self._pending_commit = None

    def close(self) -> None:
        self.flush()
        if not (self.out_dir / INDEX_NAME).exists():
            write_json_atomic(self.out_dir / INDEX_NAME, self._index, indent=1)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class VideoDataset(Sequence[SiteVideo]):
    """Random access to the sites of a dataset directory, in index order.

    ``path`` may be ``gs://bucket/prefix``: the dataset is first copied to ``cache_dir`` (default: aef-ee's cache).
    ``dataset[i]`` decodes site ``i``; ``dataset.record(i)`` returns its raw bytes (what a grain pipeline reads);
    ``dataset.stats`` holds the per-source normalisation statistics; ``dataset.shard_paths`` lists the shard files,
    e.g. for ``grain.python.ArrayRecordDataSource``.
    """

    def __init__(self, path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> None:
        if str(path).startswith("gs://"):  # read through a local cache (google-cloud-storage)
            from aef_ee.videos.export.storage import cache_dataset

            path = cache_dataset(str(path), cache_dir)
        self.path = Path(path)
        self.index = _read_index(self.path)
        self._offsets = np.cumsum([0] + [len(s["site_ids"]) for s in self.index["shards"]])
        self._readers: dict[int, Any] = {}

    @property
    def shard_paths(self) -> list[str]:
        return [str(self.path / s["path"]) for s in self.index["shards"]]

    @property
    def site_ids(self) -> list[str]:
        return [sid for s in self.index["shards"] for sid in s["site_ids"]]

    @property
    def sources(self) -> list[str]:
        return list(self.index["sources"])

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return self.index["stats"]

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def record(self, i: int) -> bytes:
        if not -len(self) <= i < len(self):
            raise IndexError(f"site {i} out of range for a dataset of {len(self)} sites")
        i %= len(self)
        shard = int(np.searchsorted(self._offsets, i, side="right") - 1)
        reader = self._readers.get(shard)
        if reader is None:
            from array_record.python import array_record_module

            shard_path = self.path / self.index["shards"][shard]["path"]
            if not shard_path.exists():
                raise VideoFormatError(f"shard {shard_path} listed in the index is missing")
            reader = array_record_module.ArrayRecordReader(str(shard_path))
            self._readers[shard] = reader
        return reader.read([i - int(self._offsets[shard])])[0]

    def __getitem__(self, i: int) -> SiteVideo:  # type: ignore[override]
        return decode_site(self.record(i))

    def __iter__(self) -> Iterator[SiteVideo]:
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self) -> dict[str, Any]:  # readers are not picklable; grain workers reopen them.
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state


def _empty_index() -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "shards": [], "sources": [], "stats": {}}


def _read_index(path: Path) -> dict[str, Any]:
    index_path = path / INDEX_NAME
    try:
        index = json.loads(index_path.read_text())
    except FileNotFoundError as exc:
        raise VideoFormatError(f"no video dataset at {path}: {INDEX_NAME} is missing") from exc
    except json.JSONDecodeError as exc:
        raise VideoFormatError(f"{index_path} is not valid JSON: {exc}") from exc
    if index.get("format_version") != FORMAT_VERSION:
        raise VideoFormatError(
            f"{index_path} has format version {index.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return index

