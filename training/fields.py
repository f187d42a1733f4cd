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
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.atomic import TEMP_PREFIX, remove_temporaries
from aef_ee.fields.cog import COG_TEMP_PREFIX
from aef_ee.fields.output import FieldsOutput
from aef_ee.videos.format import VideoDataset
from aef_ee_training.field_tiles import RESOLUTION_M, FieldTile, embed_tile, input_request, plan_tiles

__all__ = ["FieldTile", "FieldsReport", "plan_tiles", "embed_region"]

log = logging.getLogger(__name__)
# embed_region's runner that runs everything in this process (any other names a Beam runner).
LOOP = "loop"


@dataclasses.dataclass
class FieldsReport:
    # where the COGs are: local paths, or gs:// URLs (FieldsOutput.url)
    written: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
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


def plan_work(region: Sequence[float], year: int, output: FieldsOutput, *, core: int,
              margin: int) -> tuple[list[FieldTile], list[FieldTile], FieldsReport]:
    """(every tile, the tiles the output does not hold yet, a report listing the others as skipped).

    A run killed while writing a COG left its temporaries in the output's local folder; they are removed here, at
    the start of the next run and before any of its writers. COGs it wrote but did not upload are uploaded.
    """
    output.local_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_temporaries(output.local_dir, (TEMP_PREFIX, COG_TEMP_PREFIX))
    if removed:
        log.info("removed %d temporaries of an earlier run from %s", len(removed), output.local_dir)
    tiles = plan_tiles(region, year, core=core, margin=margin)
    finished = output.finished()
    report = FieldsReport()
    todo = []
    for tile in tiles:
        if tile.cog_name in finished:
            report.skipped.append(output.url(tile.cog_name))
        else:
            todo.append(tile)
    return tiles, todo, report


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
    """Writes the embedding field of ``year`` over ``region`` as one COG per tile under ``out_dir`` (a local folder or
    ``gs://bucket/prefix``).

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
      staging_dir: where the tiles' videos are exported (default ``.videos-<year>`` in ``out_dir``, or for a
        ``gs://`` output in the local folder its COGs are written to before their upload,
        :class:`aef_ee.fields.output.FieldsOutput`; resumable).
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
    output = FieldsOutput(out_dir)
    tiles, todo, report = plan_work(region, year, output, core=core, margin=size if margin is None else margin)
    if not todo:
        report.seconds = time.perf_counter() - started
        return report
    staging = Path(staging_dir) if staging_dir else output.local_dir / f".videos-{year}"
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
    # The quality figures need the fields of every tile written; past MAX_MOSAIC_PIXELS none are kept.
    measured = _measurable(((tile.core_x0, tile.core_y0) for tile, _ in work), core)
    if pipelines is not None:
        kept_fields = pipelines.embed(work, staging, output, version=version, quantize=quantize, year=year,
                                      progress=progress, read_back=measured)
    else:
        kept_fields = {}
        for tile, position in tqdm(work, desc=f"embed {year}", unit="tile", disable=not progress):
            _, kept = embed_tile(model, config, stats, videos[position], tile, output, version=version,
                                 quantize=quantize)
            if measured:
                kept_fields[(tile.core_x0, tile.core_y0)] = kept
    for tile, _ in work:
        report.written.append(output.url(tile.cog_name))
        report.pixels += tile.core * tile.core
    _measure(report, kept_fields, core=core, size=size)
    report.seconds = time.perf_counter() - started
    return report


MAX_MOSAIC_PIXELS = 4096 * 4096  # the quality figures are skipped beyond this (memory)


def _mosaic_grid(corners: Iterable[tuple[float, float]], core: int) -> tuple[list[int], list[int], tuple[int, int]]:
    """(tile rows, tile columns, the mosaic's (H, W) in pixels) of the tiles with these core corners (x0, y0)."""
    step = core * RESOLUTION_M
    corners = list(corners)
    cols = sorted({round(x / step) for x, _ in corners})
    rows = sorted({round(-y / step) for _, y in corners})
    return rows, cols, ((rows[-1] - rows[0] + 1) * core, (cols[-1] - cols[0] + 1) * core)


def _measurable(corners: Iterable[tuple[float, float]], core: int) -> bool:
    """Whether the mosaic of these tiles is small enough to measure; when it is not, the tiles' fields are neither
    kept in memory nor read back."""
    corners = list(corners)
    if not corners:
        return False
    height, width = _mosaic_grid(corners, core)[2]
    return height * width <= MAX_MOSAIC_PIXELS


def _measure(report: FieldsReport, kept: dict[tuple[float, float], np.ndarray], *, core: int, size: int) -> None:
    """Fills the report's quality figures from the mosaic of the tiles' cores (NaN where no tile was written)."""
    from aef_ee.errors import AefValueError
    from aef_ee.fields.quality import period2_energy, seam_ratio

    if not kept or not _measurable(kept, core):
        return
    step = core * RESOLUTION_M
    rows, cols, shape = _mosaic_grid(kept, core)
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

