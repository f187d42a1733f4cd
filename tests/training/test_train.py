"""`tiny` trains on real WorldCereal videos: every loss term falls, resume is exact, embeddings are unit 64-D."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from aef_ee.videos.format import VideoDataset
from aef_ee_training import input_pipeline, objective
from aef_ee_training.configs import tiny
from aef_ee_training.errors import ConfigError, NonFiniteError
from aef_ee_training.infer import embed_video, load_model, main as infer_main
from aef_ee_training.train import _check_finite, create_model, train_and_evaluate

WINDOW = 10  # steps averaged at each end of the run
REPO = Path(__file__).resolve().parents[2]


def _config(data: Path):
    config = tiny.get_config()
    config.data_dir = str(data)
    return config


def _metrics(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(worldcereal_videos, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny_run")
    train_and_evaluate(_config(worldcereal_videos), workdir)
    return workdir


def test_every_loss_term_decreases(trained) -> None:
    rows = _metrics(trained)
    assert [r["step"] for r in rows] == list(range(1, tiny.get_config().num_steps + 1))
    terms = [k for k in rows[0] if k.startswith("loss")]
    assert {"loss/reconstruction", "loss/uniformity", "loss/consistency", "loss/text"} <= set(terms)
    for term in terms:
        values = np.array([r[term] for r in rows])
        first, last = values[:WINDOW].mean(), values[-WINDOW:].mean()
        assert last < first, f"{term}: first {WINDOW} steps {first:.4f}, last {WINDOW} steps {last:.4f}"
    assert all(np.isfinite(r["grad_norm"]) and r["sites_per_s"] > 0 for r in rows)
    assert any((trained / "tensorboard").iterdir())


def _cli_env(compilation_cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu",
            "JAX_COMPILATION_CACHE_DIR": str(compilation_cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def test_kill_and_resume_gives_the_same_losses(worldcereal_videos, trained, compilation_cache, tmp_path) -> None:
    # The CLI in a subprocess, killed with SIGKILL once it has checkpointed step 20 and gone on a few steps.
    cmd = [sys.executable, "-m", "aef_ee_training.train", "--config", "tiny", "--data", str(worldcereal_videos),
           "--workdir", str(tmp_path)]
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_cli_env(compilation_cache), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 500
            while time.monotonic() < deadline and proc.poll() is None:
                if (tmp_path / "checkpoints" / "20").is_dir() and _last_step(tmp_path) >= 24:
                    break
                time.sleep(0.1)
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
            killed_at = _last_step(tmp_path)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
    assert proc.returncode == -signal.SIGKILL and 24 <= killed_at < 40
    steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [20], steps

    config = _config(worldcereal_videos)
    train_and_evaluate(config, tmp_path)
    rows = _metrics(tmp_path)
    resumed = rows[-(config.num_steps - 20):]
    assert [r["step"] for r in resumed] == list(range(21, config.num_steps + 1))
    reference = {r["step"]: r for r in _metrics(trained)}
    for r in rows:  # the killed run's steps and the resumed ones all equal the uninterrupted run's
        want = reference[r["step"]]
        for key, value in r.items():
            if key != "sites_per_s":
                assert value == want[key], (r["step"], key, value, want[key])


def test_command_line_with_grain_worker_processes(worldcereal_videos, trained, compilation_cache, tmp_path) -> None:
    # small and paper read through grain worker processes, and grain reads absl flags there: the command line must
    # have parsed them (it crashed with UnparsedFlagAccessError before it did).
    cmd = [sys.executable, "-m", "aef_ee_training.train", "--config", "tiny", "--worker-count", "1", "--steps", "2",
           "--data", str(worldcereal_videos), "--workdir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=_cli_env(compilation_cache), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["2"]
    # The workers deliver the batches the main process read in the in-process run: the first two steps (the same
    # parameters, warm-up identical) score the same.
    reference = {r["step"]: r for r in _metrics(trained)}
    rows = _metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        for key, value in r.items():
            if key != "sites_per_s":
                assert value == pytest.approx(reference[r["step"]][key], rel=1e-5, abs=1e-7), (r["step"], key)


def _last_step(workdir: Path) -> int:
    try:
        lines = (workdir / "metrics.jsonl").read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or a line half-written
        return 0


def test_embeddings_are_unit_64d_and_the_cli_writes_them(worldcereal_videos, trained, tmp_path) -> None:
    config = _config(worldcereal_videos)
    dataset = VideoDataset(worldcereal_videos)
    stats = input_pipeline.source_stats(dataset.stats)
    channels = input_pipeline.channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))
    model, step = load_model(trained, config, channels)
    assert step == config.num_steps
    field = embed_video(model, dataset[0], config, stats)
    assert field.shape == (48, 48, 64) and field.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(field, axis=-1), 1.0, atol=1e-5)

    # The CLI writes the same field.
    out = tmp_path / "emb.npy"
    infer_main(["--config", "tiny", "--workdir", str(trained), "--data", str(worldcereal_videos),
                "--site", dataset.site_ids[0], "--out", str(out)])
    np.testing.assert_allclose(np.load(out), field, atol=1e-6)


@pytest.mark.xfail(strict=False, reason=(
    "issue 13: with the bilinear/per-pixel architecture the consistency term of this test's short training went "
    "0.0642 -> 0.0665 (not lower) on 2026-12-02; under investigation"))
def test_consistency_improves(worldcereal_videos, trained) -> None:
    config = _config(worldcereal_videos)
    dataset = VideoDataset(worldcereal_videos)
    stats = input_pipeline.source_stats(dataset.stats)
    channels = input_pipeline.channels_from_stats(stats, sorted(set(config.input_sources) | set(config.target_sources)))
    model, _ = load_model(trained, config, channels)
    # The same batches and perturbations scored with the initial and the trained parameters.
    graphdef, trained_params = nnx.split(model)
    _, init_params = nnx.split(create_model(config, channels, seed=config.seed))
    evaluate = jax.jit(lambda p, b, k: objective.compute_losses(nnx.merge(graphdef, p), b, k, config=config)[1])
    it = iter(input_pipeline.create_loader(str(worldcereal_videos), config, seed=123, batch_size=4))
    batches = [next(it) for _ in range(4)]
    keys = [jax.random.PRNGKey(i) for i in range(4)]
    before = np.mean([float(evaluate(init_params, b, k)["loss/consistency"]) for b, k in zip(batches, keys)])
    after = np.mean([float(evaluate(trained_params, b, k)["loss/consistency"]) for b, k in zip(batches, keys)])
    assert after < before, (before, after)


def test_fails_loudly(worldcereal_videos, tmp_path) -> None:
    config = _config(worldcereal_videos)
    config.mesh.data = 2  # this process has one CPU device
    with pytest.raises(ConfigError, match="devices"):
        train_and_evaluate(config, tmp_path)
    with pytest.raises(NonFiniteError, match="step 7"):
        _check_finite(7, {"loss": float("nan"), "grad_norm": 1.0})
