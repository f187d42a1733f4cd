"""Annual embedding fields over a region: tiles on the UTM grid -> videos through the exporter -> the encoder ->
64-band COGs in the form of Google's Satellite Embedding dataset.

    aef-ee embed --workdir /tmp/aef_tiny --region 5.318,50.629,5.333,50.637 --year 2021 --out /tmp/fields

Each tile keeps a core of ``core`` pixels and is embedded from an input widened by ``margin`` pixels on every side,
which is trimmed (AlphaEarth keeps 960 m out of 1.28 km inputs; here core and margin are configurable). Tiles whose
COG already exists are skipped, so an interrupted run re-run with the same arguments finishes the rest. Pixels that
no input source ever observed are written as nodata. Inside a tile the encoder blends overlapping windows anchored to
the UTM grid (``aef_ee_training.infer.embed_video``), so neighbouring tiles' cores agree at their common border. The
report gives the field's seam ratio at the tile borders and at the model's window lattice, and its period-2 energy
(``aef_ee.fields.quality``), over the tiles written by the run.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee import __version__
from aef_ee.atomic import TEMP_PREFIX, remove_temporaries
from aef_ee.fields.register import cog_tags
from aef_ee.fields.cog import COG_TEMP_PREFIX, write_embedding_cog
from aef_ee.videos.sites import Site, utm_epsg
from aef_ee.videos.format import VideoDataset
from aef_ee_training.errors import TrainingError

__all__ = ["FieldTile", "FieldsReport", "plan_tiles", "embed_region"]

log = logging.getLogger(__name__)
# embed_region's runner that runs everything in this process (any other names a Beam runner).
LOOP = "loop"
RESOLUTION_M = 10.0


@dataclasses.dataclass(frozen=True)
class FieldTile:
    """One output COG: its core grid (kept) and the widened input site (embedded, then trimmed)."""

    epsg: int
    core_x0: float
    core_y0: float
    core: int
    margin: int
    year: int

    @property
    def zone(self) -> str:
        return f"{self.epsg % 100:02d}{'N' if self.epsg < 32700 else 'S'}"

    @property
    def name(self) -> str:
        return f"{self.zone}_{self.core_x0:.0f}_{self.core_y0:.0f}_{self.year}"

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        return (RESOLUTION_M, 0.0, self.core_x0, 0.0, -RESOLUTION_M, self.core_y0)

    def input_site(self) -> Site:
        start = int(np.datetime64(f"{self.year}-01-01", "ms").astype(np.int64))
        end = int(np.datetime64(f"{self.year + 1}-01-01", "ms").astype(np.int64))
        return Site(epsg=self.epsg, x0=self.core_x0 - self.margin * RESOLUTION_M,
                    y0=self.core_y0 + self.margin * RESOLUTION_M, size=self.core + 2 * self.margin,
                    resolution_m=RESOLUTION_M, period_ms=(start, end), properties={"tile": self.name})


def plan_tiles(region: Sequence[float], year: int, *, core: int, margin: int) -> list[FieldTile]:
    """The tiles covering ``region`` = (west, south, east, north) in degrees, on its UTM zone's core grid."""
    from pyproj import Transformer

    west, south, east, north = (float(v) for v in region)
    if not (west < east and south < north):
        raise TrainingError(f"region must be (west, south, east, north) with west < east, south < north; "
                            f"got {tuple(region)!r}")
    if core < 1 or margin < 0:
        raise TrainingError(f"core must be >= 1 and margin >= 0 pixels; got core={core}, margin={margin}")
    epsg = utm_epsg((west + east) / 2, (south + north) / 2)
    forward = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    xs, ys = forward.transform([west, east, east, west], [south, south, north, north])
    step = core * RESOLUTION_M
    x_start, x_end = math.floor(min(xs) / step), math.ceil(max(xs) / step)
    y_start, y_end = math.floor(min(ys) / step), math.ceil(max(ys) / step)
    return [FieldTile(epsg, i * step, (j + 1) * step, core, margin, year)
            for j in range(y_end - 1, y_start - 1, -1) for i in range(x_start, x_end)]


@dataclasses.dataclass
class FieldsReport:
    written: list[Path] = dataclasses.field(default_factory=list)
    skipped: list[Path] = dataclasses.field(default_factory=list)
    empty: list[str] = dataclasses.field(default_factory=list)
    pixels: int = 0
    seconds: float = 0.0
    # aef_ee.fields.quality over the mosaic of the tiles written by this run (None: not measurable, e.g. one tile)
    seam_ratio_tiles: float | None = None  # border / interior discontinuity at tile-core borders
    seam_ratio_windows: float | None = None  # the same at the L-pixel lattice of the absolute grid
    period2_energy: float | None = None

    @property
    def pixels_per_second(self) -> float:
        return self.pixels / self.seconds if self.seconds else 0.0


def _observed(video: Any, input_sources: Sequence[str]) -> np.ndarray:
    """(H, W) True where any input source has a valid pixel in the valid period."""
    masks = [src.mask.any(axis=0) for name, src in video.sources.items()
             if name in input_sources and src.mask.shape[1:] != (1, 1)]
    if not masks:
        raise TrainingError(f"site {video.site_id}: none of the input sources {list(input_sources)} is present")
    return np.logical_or.reduce(masks)


def plan_work(region: Sequence[float], year: int, out_dir: Path, *, core: int,
              margin: int) -> tuple[list[FieldTile], list[FieldTile], FieldsReport]:
    """(every tile, the tiles without a COG in ``out_dir`` yet, a report listing the others as skipped).

    A run killed while writing a COG left its temporaries in ``out_dir``; they are removed here, at the start of the
    next run and before any of its writers.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_temporaries(out_dir, (TEMP_PREFIX, COG_TEMP_PREFIX))
    if removed:
        log.info("removed %d temporaries of an earlier run from %s", len(removed), out_dir)
    tiles = plan_tiles(region, year, core=core, margin=margin)
    report = FieldsReport()
    todo = []
    for tile in tiles:
        path = out_dir / f"{tile.name}.tif"
        if path.exists():
            report.skipped.append(path)
        else:
            todo.append(tile)
    return tiles, todo, report


def input_request(config: Any, stats: Any) -> Any:
    """The export request of a model's inputs: exactly the bands it was trained on, in the training order. An input
    source the model was trained without (no statistics) is not exported: its stem sees only masks."""
    from aef_ee.videos.export import ExportRequest

    sources = tuple(s for s in config.input_sources if s in stats)
    return ExportRequest(sources=sources, layout="acquisitions", bands={s: list(stats[s].bands) for s in sources})


def tile_field(model: Any, config: Any, stats: Any, video: Any, tile: FieldTile) -> np.ndarray:
    """The kept float field (core, core, 64) of ``tile`` from its input video, NaN where nothing was observed."""
    from aef_ee_training.infer import embed_video

    field = embed_video(model, video, config, stats)
    observed = _observed(video, config.input_sources)
    field = np.where(observed[..., None], field, np.nan)
    m = tile.margin
    return field[m: m + tile.core, m: m + tile.core]


def write_tile(kept: np.ndarray, tile: FieldTile, out_dir: Path, *, version: str, quantize: bool) -> Path:
    """``out_dir/<tile name>.tif``, the tile's COG (written atomically: a temporary name renamed into place)."""
    return write_embedding_cog(
        out_dir / f"{tile.name}.tif", kept, transform=tile.transform, crs=f"EPSG:{tile.epsg}",
        tags=cog_tags(tile.year, tile.zone, model_version=version, software_version=f"aef-ee {__version__}"),
        quantize=quantize)


def embed_region(
    *,
    workdir: str | Path,
    config: Any = None,
    training_data: str | Path | None = None,
    region: Sequence[float],
    year: int,
    out_dir: str | Path,
    core: int | None = None,
    margin: int | None = None,
    quantize: bool = True,
    staging_dir: str | Path | None = None,
    model_version: str | None = None,
    runner: str = LOOP,
    pipeline_args: Sequence[str] = (),
    connection: Any = None,
    max_workers: int = 2,
    progress: bool = True,
) -> FieldsReport:
    """Writes the embedding field of ``year`` over ``region`` as one COG per tile under ``out_dir``.

    Args:
      workdir: the training workdir holding the checkpoint.
      config: the model config the checkpoint was trained with (default: the workdir's ``inference.json``); with a
        Beam ``runner``, its name (every worker loads it).
      training_data: a training video dataset whose normalisation statistics to use (default: the workdir's
        ``inference.json``; a workdir written before it existed needs this).
      region: (west, south, east, north), degrees.
      core, margin: tile core and margin in pixels (default: 2 L and L of the config's site size; a margin of at
        least L - 1 gives every core pixel all its overlapping windows inside the tile's input, so neighbouring
        tiles agree at their common border).
      quantize: int8 as the public dataset (default) or float32.
      staging_dir: where the tiles' videos are exported (default ``out_dir/.videos-<year>``; resumable).
      runner: ``"loop"`` (default): the videos and the tiles in this process; ``"direct"``, ``"prism"``,
        ``"dataflow"`` (or a Beam runner class name): both as Apache Beam pipelines on that runner's workers
        (:class:`aef_ee_training.fields_beam.BeamTiles`, needs ``aef-ee[beam]``); the same COGs, byte for byte.
      pipeline_args, connection, max_workers: with a Beam runner, see :class:`~aef_ee_training.fields_beam.BeamTiles`.
    """
    from tqdm.auto import tqdm

    from aef_ee.videos.export import ExportOptions, export_videos
    from aef_ee_training.infer import load_inference

    started = time.perf_counter()
    pipelines = None
    if runner != LOOP:
        from aef_ee_training.fields_beam import BeamTiles

        pipelines = BeamTiles(runner, pipeline_args=pipeline_args, connection=connection, max_workers=max_workers)
        model, config, stats, step = pipelines.load(workdir, config, training_data)
    else:
        model, config, stats, step = load_inference(workdir, config=config, data=training_data)
    size = int(config.site_size)
    core = core or 2 * size
    out_dir = Path(out_dir)
    tiles, todo, report = plan_work(region, year, out_dir, core=core, margin=size if margin is None else margin)
    if not todo:
        report.seconds = time.perf_counter() - started
        return report
    staging = Path(staging_dir) if staging_dir else out_dir / f".videos-{year}"
    # Every tile's site is asked for, so the staging export's manifest stays that of one run: sites exported before
    # an interruption are skipped.
    sites, request = [t.input_site() for t in tiles], input_request(config, stats)
    if pipelines is not None:
        pipelines.export(sites, request, staging, progress=progress)
    else:
        export_videos(staging, request, sites, options=ExportOptions(progress=progress))
    videos = VideoDataset(staging)
    index = {sid: i for i, sid in enumerate(videos.site_ids)}
    work = []
    for tile in todo:
        if tile.input_site().site_id in index:
            work.append((tile, index[tile.input_site().site_id]))
        else:
            log.warning("tile %s: no valid observation in %d; not written", tile.name, year)
            report.empty.append(tile.name)
    version = model_version or f"{Path(str(workdir)).name}-step{step}"
    if pipelines is not None:
        kept_fields = pipelines.embed(work, staging, out_dir, version=version, quantize=quantize, year=year,
                                      progress=progress)
    else:
        kept_fields = {}
        for tile, position in tqdm(work, desc=f"embed {year}", unit="tile", disable=not progress):
            kept = tile_field(model, config, stats, videos[position], tile)
            write_tile(kept, tile, out_dir, version=version, quantize=quantize)
            kept_fields[(tile.core_x0, tile.core_y0)] = kept
    for tile, _ in work:
        report.written.append(out_dir / f"{tile.name}.tif")
        report.pixels += tile.core * tile.core
    _measure(report, kept_fields, core=core, size=size)
    report.seconds = time.perf_counter() - started
    return report


MAX_MOSAIC_PIXELS = 4096 * 4096  # the quality figures are skipped beyond this (memory)


def _measure(report: FieldsReport, kept: dict[tuple[float, float], np.ndarray], *, core: int, size: int) -> None:
    """Fills the report's quality figures from the mosaic of the tiles' cores (NaN where no tile was written)."""
    from aef_ee.errors import AefValueError
    from aef_ee.fields.quality import period2_energy, seam_ratio

    if not kept:
        return
    step = core * RESOLUTION_M
    cols = sorted({round(x / step) for x, _ in kept})
    rows = sorted({round(-y / step) for _, y in kept})
    shape = ((rows[-1] - rows[0] + 1) * core, (cols[-1] - cols[0] + 1) * core)
    if shape[0] * shape[1] > MAX_MOSAIC_PIXELS:
        return
    dim = next(iter(kept.values())).shape[-1]
    mosaic = np.full((*shape, dim), np.nan, np.float32)
    for (x, y), field in kept.items():
        r, c = (round(-y / step) - rows[0]) * core, (round(x / step) - cols[0]) * core
        mosaic[r : r + core, c : c + core] = field
    # The mosaic's first pixel on the absolute 10 m grid gives the phase of the model's window lattice.
    top, left = rows[0] * core, cols[0] * core
    for name, window, origin in (("seam_ratio_tiles", core, (0, 0)),
                                 ("seam_ratio_windows", size, ((-top) % size, (-left) % size))):
        try:
            setattr(report, name, seam_ratio(mosaic, window, origin=origin))
        except AefValueError:
            pass
    try:
        report.period2_energy = period2_energy(mosaic)
    except AefValueError:
        pass

