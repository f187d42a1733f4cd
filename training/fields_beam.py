"""Annual embedding fields as an Apache Beam pipeline: the tiles of :func:`aef_ee_training.fields.embed_region`
fanned out over a runner's workers, each tile embedded and written as the loop writes it.

    aef-ee embed --workdir training/checkpoints/tiny-belgium --region 5.318,50.629,5.333,50.637 --year 2021 \
        --out /tmp/fields --runner direct

    tiles without a COG ─▶ their videos: export_beam (the interactive path as a pipeline, same staging folder and
                           manifest as the loop's export, so either path resumes the other)
                        ─▶ (reshuffle) EmbedTile: the checkpoint loaded once per worker process, the tile's video
                           read from the staging dataset, embedded, trimmed, written as a COG atomically

Same tiles, same file names, same bytes as the loop: the per-tile step is the loop's (``embed_video``, unobserved
pixels as nodata, the margin trimmed, ``write_embedding_cog`` with the same tags). Resumable and idempotent: tiles
whose COG exists are not submitted, and a COG appears only complete (written under a temporary name and renamed).
The report's quality figures are measured on the COGs read back (the loop measures its float fields before
quantisation, so with int8 output they differ from the loop's in the quantisation noise).

The staging videos and the COGs go through the local file system: on Dataflow ``out_dir`` and ``staging_dir`` must
be a file system every worker mounts (Cloud Storage FUSE, Filestore), as for ``export_beam``. Needs
``pip install "aef-ee[training,beam]"``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.backend import require_extra
from aef_ee.errors import AefValueError
from aef_ee.videos.export.beam import RUNNERS, EngineConnection, export_beam, files_progress
from aef_ee.videos.format import VideoDataset
from aef_ee_training.fields import (FieldsReport, FieldTile, _measure, input_request, plan_work, tile_field,
                                    write_tile)

__all__ = ["embed_region_beam"]


# The model, once per worker process: DoFn.setup runs per DoFn instance, i.e. per thread on the local runner.
# Threads share it one call at a time: the encoder is an nnx.jit over the module object, which nnx updates in place
# after each call; XLA spreads each call over the worker's cores anyway, and the tiles' COG writing still overlaps.
_models: dict[tuple[str, str | None, str | None, int | None], tuple[Any, Any, Any, int, threading.Lock]] = {}
_models_lock = threading.Lock()


def _load_once(workdir: str, config: str | None, training_data: str | None,
               step: int | None) -> tuple[Any, Any, Any, int, threading.Lock]:
    """(model, config, stats, step, the lock to hold while calling the model), loaded once per process."""
    from aef_ee_training.infer import load_inference

    key = (workdir, config, training_data, step)
    with _models_lock:
        if key not in _models:
            loaded = (*load_inference(workdir, config=config, data=training_data, step=step), threading.Lock())
            _models[key] = _models[(workdir, config, training_data, loaded[3])] = loaded  # also by its step
        return _models[key]


def _embed_fn(workdir: str, config: str | None, training_data: str | None, step: int, staging: str, out_dir: str,
              version: str, quantize: bool) -> Any:
    import apache_beam as beam

    class EmbedTile(beam.DoFn):  # type: ignore[misc]
        """(tile, index of its video in the staging dataset) -> writes the tile's COG; yields (name, pixels)."""

        def setup(self) -> None:
            self.model, self.config, self.stats, _, self.model_lock = _load_once(workdir, config, training_data, step)
            self.videos = VideoDataset(staging)
            self.written = beam.metrics.Metrics.counter("aef_ee_embed", "tiles_written")

        def process(self, element: tuple[FieldTile, int]) -> Iterator[tuple[str, int]]:
            tile, position = element
            video = self.videos[position]
            with self.model_lock:
                kept = tile_field(self.model, self.config, self.stats, video, tile)
            path = write_tile(kept, tile, Path(out_dir), version=version, quantize=quantize)
            self.written.inc()
            yield path.name, kept.shape[0] * kept.shape[1]

    return EmbedTile()


def embed_region_beam(
    *,
    workdir: str | Path,
    config: str | None = None,
    training_data: str | Path | None = None,
    region: Sequence[float],
    year: int,
    out_dir: str | Path,
    core: int | None = None,
    margin: int | None = None,
    quantize: bool = True,
    staging_dir: str | Path | None = None,
    model_version: str | None = None,
    runner: str = "direct",
    pipeline_args: Sequence[str] = (),
    connection: EngineConnection | None = None,
    max_workers: int = 2,
    progress: bool = True,
) -> FieldsReport:
    """:func:`~aef_ee_training.fields.embed_region` as Beam pipelines: the same COGs under ``out_dir``.

    Args:
      workdir, training_data, region, year, out_dir, core, margin, quantize, staging_dir, model_version: as
        :func:`~aef_ee_training.fields.embed_region`.
      config: the name of the config the checkpoint was trained with (default: the workdir's ``inference.json``);
        a name rather than an object, so that every worker loads the same one.
      runner: ``direct``, ``prism`` or ``dataflow`` (or a Beam runner class name).
      pipeline_args: more Beam options, e.g. ``["--project=P", "--region=R", "--temp_location=gs://..."]``.
      connection: how workers connect ``ee`` for the export; ``None`` when they share this process's client (the
        local runner's threads).
      max_workers: worker threads on the local runner (``direct_num_workers``): requests in flight, tiles embedded
        at once.
      progress: tqdm bar while the staging shards are written.

    Raises:
      AefValueError: an unknown runner or ``max_workers`` < 1.
      TrainingError: a bad region, core or margin, or no checkpoint.
      BackendError: Apache Beam is not installed (the message names ``pip install "aef-ee[beam]"``).
    """
    require_extra("beam", "a Beam embedding pipeline")
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions


    if max_workers < 1:
        raise AefValueError(f"max_workers must be >= 1; got {max_workers!r}")
    runner_name = RUNNERS.get(runner, runner)
    if runner_name not in RUNNERS.values() and not runner_name.endswith("Runner"):
        raise AefValueError(f"unknown runner {runner!r}; expected one of {sorted(RUNNERS)} or a Beam runner class")
    started = time.perf_counter()
    workdir_s = str(workdir)
    data_s = None if training_data is None else str(training_data)
    config_name = config
    _, config, stats, step, _ = _load_once(workdir_s, config_name, data_s, None)
    size = int(config.site_size)
    core = core or 2 * size
    out_dir = Path(out_dir)
    tiles, todo, report = plan_work(region, year, out_dir, core=core, margin=size if margin is None else margin)
    if not todo:
        report.seconds = time.perf_counter() - started
        return report
    staging = Path(staging_dir) if staging_dir else out_dir / f".videos-{year}"
    # As the loop: every tile's site asked for (one manifest for every run).
    export_beam([t.input_site() for t in tiles], input_request(config, stats), staging, runner=runner,
                pipeline_args=pipeline_args, connection=connection, max_workers=max_workers, progress=progress)
    videos = VideoDataset(staging)
    index = {sid: i for i, sid in enumerate(videos.site_ids)}
    work = []
    for tile in todo:
        if tile.input_site().site_id in index:
            work.append((tile, index[tile.input_site().site_id]))
        else:
            report.empty.append(tile.name)
    version = model_version or f"{Path(workdir_s).name}-step{step}"
    local = {"direct_num_workers": max_workers, "direct_running_mode": "multi_threading"}
    options = PipelineOptions(list(pipeline_args), runner=runner_name,
                              **(local if runner_name == "DirectRunner" else {}))
    if work:
        with files_progress(out_dir, "*.tif", len(work), desc=f"embed {year}", unit="tile", enabled=progress), \
                beam.Pipeline(options=options) as pipeline:
            _ = (
                pipeline
                | "Tiles" >> beam.Create(work)
                | "SpreadTiles" >> beam.Reshuffle()
                | "Embed" >> beam.ParDo(_embed_fn(workdir_s, config_name, data_s, step, str(staging), str(out_dir),
                                                  version, quantize))
            )
    kept = {}
    for tile, _ in work:
        path = out_dir / f"{tile.name}.tif"
        report.written.append(path)
        field = _read_field(path)
        kept[(tile.core_x0, tile.core_y0)] = field
        report.pixels += field.shape[0] * field.shape[1]
    _measure(report, kept, core=core, size=size)
    report.seconds = time.perf_counter() - started
    return report


def _read_field(path: Path) -> np.ndarray:
    """A COG's (H, W, 64) float field, NaN where nodata."""
    import rasterio

    from aef_ee.fields.collection import dequantize_array

    with rasterio.open(path) as ds:
        values = ds.read().transpose(1, 2, 0)
    return dequantize_array(values) if values.dtype == np.int8 else values.astype(np.float32)
