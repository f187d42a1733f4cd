"""One tile of an annual embedding field: its grid on the UTM zone (:class:`FieldTile`, :func:`plan_tiles`), its
model inputs (:func:`input_request`), its kept field from an input video (:func:`tile_field`) and its COG
(:func:`write_tile`); :func:`embed_tile` chains them into the output. The drivers (``aef_ee_training.fields`` in one
process, ``aef_ee_training.fields_beam`` on Beam workers) both run :func:`embed_tile` per tile, so their COGs are
the same byte for byte.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aef_ee import __version__
from aef_ee.fields.cog import write_embedding_cog
from aef_ee.fields.output import FieldsOutput
from aef_ee.fields.register import cog_tags
from aef_ee.videos.sites import Site, utm_epsg, year_period
from aef_ee_training.errors import TrainingError

__all__ = ["RESOLUTION_M", "FieldTile", "plan_tiles", "input_request", "tile_field", "write_tile", "embed_tile"]

RESOLUTION_M = 10.0  # metres per pixel of the fields


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
    def cog_name(self) -> str:
        return f"{self.name}.tif"

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        return (RESOLUTION_M, 0.0, self.core_x0, 0.0, -RESOLUTION_M, self.core_y0)

    def input_site(self) -> Site:
        return Site(epsg=self.epsg, x0=self.core_x0 - self.margin * RESOLUTION_M,
                    y0=self.core_y0 + self.margin * RESOLUTION_M, size=self.core + 2 * self.margin,
                    resolution_m=RESOLUTION_M, period_ms=year_period(self.year), properties={"tile": self.name})


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


def _observed(video: Any, input_sources: Sequence[str]) -> np.ndarray:
    """(H, W) True where any input source has a valid pixel in the valid period."""
    masks = [src.mask.any(axis=0) for name, src in video.sources.items()
             if name in input_sources and src.mask.shape[1:] != (1, 1)]
    if not masks:
        raise TrainingError(f"site {video.site_id}: none of the input sources {list(input_sources)} is present")
    return np.logical_or.reduce(masks)


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
        out_dir / tile.cog_name, kept, transform=tile.transform, crs=f"EPSG:{tile.epsg}",
        tags=cog_tags(tile.year, tile.zone, model_version=version, software_version=f"aef-ee {__version__}"),
        quantize=quantize)


def embed_tile(model: Any, config: Any, stats: Any, video: Any, tile: FieldTile, output: FieldsOutput, *,
               version: str, quantize: bool,
               model_lock: contextlib.AbstractContextManager[Any] | None = None) -> tuple[str, np.ndarray]:
    """One tile, start to end: its kept field from ``video``, its COG written into ``output`` (through its local
    folder; uploaded for ``gs://``). Returns (the COG's location, the kept float field (core, core, 64)).

    ``model_lock`` is held around the model call only (threads sharing one model); the COG is written outside it.
    """
    with model_lock or contextlib.nullcontext():
        kept = tile_field(model, config, stats, video, tile)
    return output.publish(write_tile(kept, tile, output.local_dir, version=version, quantize=quantize)), kept
