"""What an export run did, and the bookkeeping every export path (interactive, batch convert, Beam) does per site:
a video with a valid frame goes into the shards, a site without one into the manifest's empty list."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from aef_ee.videos.export.manifest import Manifest
from aef_ee.videos.format import SiteVideo, VideoWriter

__all__ = ["ExportResult", "SiteTally", "has_valid_frame"]


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What an export run did.

    Attributes:
      out_dir: the dataset directory.
      sites_total: sites asked for.
      sites_written: sites written by this run.
      sites_skipped: sites already done by an earlier run.
      sites_empty: sites without any valid frame in this run (recorded, not written).
      frames_written: frames (all sources) written by this run.
      seconds: wall time of this run.
    """

    out_dir: Path
    sites_total: int
    sites_written: int
    sites_skipped: int
    sites_empty: int
    frames_written: int
    seconds: float

    @property
    def sites_per_second(self) -> float:
        return self.sites_written / self.seconds if self.seconds > 0 else 0.0

    @property
    def frames_per_second(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0


def has_valid_frame(video: SiteVideo) -> bool:
    """Whether any source of ``video`` has a valid pixel."""
    return any(bool(src.mask.any()) for src in video.sources.values())


@dataclasses.dataclass
class SiteTally:
    """Records a run's finished sites in ``writer``'s shards or ``manifest``'s empty list, and counts them.

    Attributes:
      written: sites written to the shards.
      frames: frames (all sources) of the sites written.
      empty: sites recorded empty.
    """

    writer: VideoWriter
    manifest: Manifest
    written: int = 0
    frames: int = 0
    empty: int = 0

    def record(self, site_id: str, video: SiteVideo | None) -> None:
        """Writes ``video`` if it has a valid frame; otherwise, or when there is no video (the site has no pixels),
        records ``site_id`` as empty."""
        if video is not None and has_valid_frame(video):
            self.writer.write(video)
            self.written += 1
            self.frames += sum(s.num_frames for s in video.sources.values())
        else:
            self.manifest.mark_empty(site_id)
            self.empty += 1

    def found_nothing(self, skipped: int) -> bool:
        """Whether no site had a valid frame: none written, some empty and none done by an earlier run."""
        return self.written == 0 and self.empty > 0 and skipped == 0

    def result(self, out_dir: Path, total: int, skipped: int, start: float) -> ExportResult:
        """The run's :class:`ExportResult`; ``start`` is its ``time.perf_counter()`` at the start."""
        return ExportResult(out_dir, total, self.written, skipped, self.empty, self.frames,
                            time.perf_counter() - start)
