"""Annual embedding fields as Apache Beam pipelines: :func:`aef_ee_training.fields.embed_region` with a Beam
``runner`` fans its tiles out over the runner's workers, each tile embedded and written as the loop writes it.

    aef-ee embed --workdir training/checkpoints/tiny-belgium --region 5.318,50.629,5.333,50.637 --year 2021 \
        --out /tmp/fields --runner direct

    tiles without a COG ─▶ their videos: export_beam (the interactive path as a pipeline, same staging folder and
                           manifest as the loop's export, so either path resumes the other)
                        ─▶ (reshuffle) EmbedTile: the checkpoint loaded once per worker process, the tile's video
                           read from the staging dataset, embedded, trimmed, written as a COG atomically

One driver: ``embed_region`` plans the tiles, skips the finished ones, builds the report and measures it whichever
way it runs; :class:`BeamTiles` only replaces its two maps. Same tiles, same file names, same bytes as the loop: the
per-tile step is the loop's (``embed_video``, unobserved
pixels as nodata, the margin trimmed, ``write_embedding_cog`` with the same tags). Resumable and idempotent: tiles
whose COG exists are not submitted, and a COG appears only complete (written under a temporary name and renamed;
a Cloud Storage object exists only once its upload completes).
The report's quality figures are measured on the COGs read back (the loop measures its float fields before
quantisation, so with int8 output they differ from the loop's in the quantisation noise).

The COGs go to a local folder or to ``gs://bucket/prefix`` (:class:`aef_ee.fields.output.FieldsOutput`: each
worker writes its COG locally, uploads it, removes the local copy). The staging videos go through the local file
system: on Dataflow ``staging_dir`` must be a file system every worker mounts (Cloud Storage FUSE, Filestore), as
for ``export_beam``. Needs ``pip install "aef-ee[training,beam]"``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee.backend import require_extra
from aef_ee.errors import AefValueError
from aef_ee.fields.output import FieldsOutput
from aef_ee.videos.export.beam import RUNNERS, EngineConnection, count_progress, export_beam
from aef_ee.videos.format import VideoDataset
from aef_ee_training.field_tiles import FieldTile, embed_tile

__all__ = ["BeamTiles"]


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


def _embed_fn(workdir: str, config: str | None, training_data: str | None, step: int, staging: str,
              output: FieldsOutput, version: str, quantize: bool) -> Any:
    import apache_beam as beam

    class EmbedTile(beam.DoFn):  # type: ignore[misc]
        """(tile, index of its video in the staging dataset) -> writes the tile's COG into the output (through the
        worker's local folder); yields (its location, pixels)."""

        def setup(self) -> None:
            self.model, self.config, self.stats, _, self.model_lock = _load_once(workdir, config, training_data, step)
            self.videos = VideoDataset(staging)
            output.local_dir.mkdir(parents=True, exist_ok=True)
            self.written = beam.metrics.Metrics.counter("aef_ee_embed", "tiles_written")

        def process(self, element: tuple[FieldTile, int]) -> Iterator[tuple[str, int]]:
            tile, position = element
            video = self.videos[position]
            location, kept = embed_tile(self.model, self.config, self.stats, video, tile, output, version=version,
                                        quantize=quantize, model_lock=self.model_lock)
            self.written.inc()
            yield location, kept.shape[0] * kept.shape[1]

    return EmbedTile()


class BeamTiles:
    """How :func:`aef_ee_training.fields.embed_region` runs its two maps (the tiles' videos, then the tiles) as Beam
    pipelines instead of in this process; everything around them (planning, resume, the report) is the loop's.

    Args:
      runner: ``direct``, ``prism`` or ``dataflow`` (or a Beam runner class name).
      pipeline_args: more Beam options, e.g. ``["--project=P", "--region=R", "--temp_location=gs://..."]``.
      connection: how workers connect ``ee`` for the export; ``None`` when they share this process's client (the
        local runner's threads).
      max_workers: worker threads on the local runner (``direct_num_workers``): requests in flight, tiles embedded
        at once.

    Raises:
      BackendError: Apache Beam is not installed (the message names ``pip install "aef-ee[beam]"``).
      AefValueError: an unknown runner or ``max_workers`` < 1.
    """

    def __init__(self, runner: str, *, pipeline_args: Sequence[str] = (), connection: EngineConnection | None = None,
                 max_workers: int = 2) -> None:
        require_extra("beam", "a Beam embedding pipeline")
        if max_workers < 1:
            raise AefValueError(f"max_workers must be >= 1; got {max_workers!r}")
        self.runner = runner
        self.runner_name = RUNNERS.get(runner, runner)
        if self.runner_name not in RUNNERS.values() and not self.runner_name.endswith("Runner"):
            raise AefValueError(f"unknown runner {runner!r}; expected one of {sorted(RUNNERS)} or a Beam runner "
                                "class")
        self.pipeline_args = list(pipeline_args)
        self.connection = connection
        self.max_workers = max_workers

    def load(self, workdir: str | Path, config: Any, training_data: str | Path | None) -> tuple[Any, Any, Any, int]:
        """(model, config, stats, step), loaded once per process as the workers load it.

        Raises:
          AefValueError: ``config`` is a config object: workers load the config by name (or from inference.json).
        """
        if config is not None and not isinstance(config, str):
            raise AefValueError("a Beam run needs the config's name (e.g. 'tiny'), which every worker loads, not a "
                                "config object; or None for the workdir's inference.json")
        self._model = (str(workdir), config, None if training_data is None else str(training_data))
        model, config, stats, step, _ = _load_once(*self._model, None)
        self._step = step
        return model, config, stats, step

    def export(self, sites: Sequence[Any], request: Any, staging: Path, *, progress: bool) -> None:
        """The tiles' input videos into ``staging`` (:func:`aef_ee.videos.export.beam.export_beam`)."""
        export_beam(sites, request, staging, runner=self.runner, pipeline_args=self.pipeline_args,
                    connection=self.connection, max_workers=self.max_workers, progress=progress)

    def embed(self, work: Sequence[tuple[FieldTile, int]], staging: Path, output: FieldsOutput, *, version: str,
              quantize: bool, year: int, progress: bool,
              read_back: bool = True) -> dict[tuple[float, float], np.ndarray]:
        """Writes each (tile, its video's position in ``staging``) as a COG into ``output``; returns the fields read
        back from the output (none when not ``read_back``)."""
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        local = {"direct_num_workers": self.max_workers, "direct_running_mode": "multi_threading"}
        options = PipelineOptions(self.pipeline_args, runner=self.runner_name,
                                  **(local if self.runner_name == "DirectRunner" else {}))
        if work:
            # The bar polls the output for its COGs (a gs:// output: one listing every 2 s).
            with count_progress(output.count, len(work), desc=f"embed {year}", unit="tile", enabled=progress,
                                interval_s=2.0 if output.remote else 0.5), \
                    beam.Pipeline(options=options) as pipeline:
                _ = (
                    pipeline
                    | "Tiles" >> beam.Create(list(work))
                    | "SpreadTiles" >> beam.Reshuffle()
                    | "Embed" >> beam.ParDo(_embed_fn(*self._model, self._step, str(staging), output, version,
                                                      quantize))
                )
        kept = {}
        for tile, _ in work if read_back else ():
            with output.open_local(tile.cog_name) as path:
                kept[(tile.core_x0, tile.core_y0)] = _read_field(path)
        return kept


def _read_field(path: Path) -> np.ndarray:
    """A COG's (H, W, 64) float field, NaN where nodata."""
    import rasterio

    from aef_ee.fields.collection import dequantize_array

    with rasterio.open(path) as ds:
        values = ds.read().transpose(1, 2, 0)
    return dequantize_array(values) if values.dtype == np.int8 else values.astype(np.float32)
