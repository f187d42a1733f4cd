"""Fixtures of the training tests: real WorldCereal site videos (see ``worldcereal.py``) and a shared XLA cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from aef_ee.videos.format import VideoWriter

from worldcereal import build_videos


@pytest.fixture(scope="session")
def worldcereal_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset directory of 9 real Belgian site videos (3 shards)."""
    out = tmp_path_factory.mktemp("worldcereal_videos")
    with VideoWriter(out, sites_per_shard=4) as writer:
        for video in build_videos():
            writer.write(video)
    return out


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shares compiled XLA programs between the training runs of one test session (they compile the same step);
    subprocesses get the same directory through ``JAX_COMPILATION_CACHE_DIR``."""
    import jax

    path = tmp_path_factory.mktemp("jax_cache")
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


@pytest.fixture(scope="session")
def loop_fields(local_server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(folder, report) of the single-process loop's COGs of the demo patch: what every other way of writing them
    (Beam runners, gs:// outputs) must reproduce byte for byte."""
    from demo_fields import CHECKPOINT, REGION
    from local_engine import connect

    from aef_ee_training import fields

    connect(local_server)
    root = tmp_path_factory.mktemp("loop-fields")
    report = fields.embed_region(workdir=CHECKPOINT, region=REGION, year=2021, progress=False, out_dir=root / "cogs",
                                 staging_dir=root / "videos")
    return root / "cogs", report
