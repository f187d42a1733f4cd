"""Training steps per second with 1 process against 2 processes joined by ``jax.distributed`` over loopback, on
the same data, the same global batch and the same number of CPU devices in total.

    python benchmarks/training_multihost.py [--data DIR] [--steps 8] [--devices 4] [--batch 4]

Each run is ``python -m aef_ee_training.train``'s ``train_and_evaluate`` with ``tiny`` in a fresh workdir, logging
every step; the first ``--warmup`` steps (compilation) are left out and the median of the rest is reported. The
1-process run (``--devices`` CPU devices in one process) is the floor; the 2-process run splits the same devices
over two processes (``--devices / 2`` each), so the ratio shows what the split across processes costs (gloo
collectives over loopback, two Python processes). Both runs share one persistent compilation cache.

Without ``--data`` it writes the WorldCereal Belgium test videos (9 sites) with the test suite's converter.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Measure the checkout this script sits in (its workers get it through PYTHONPATH).
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(process_id: int, processes: int, port: int, data: str, workdir: str, steps: int, batch: int) -> None:
    """One process of a run (started by :func:`measure` with the device count in ``XLA_FLAGS``)."""
    import jax

    if processes > 1:
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=processes,
                                   process_id=process_id, initialization_timeout=120)
    from aef_ee_training.configs import tiny
    from aef_ee_training.train import train_and_evaluate

    config = tiny.get_config()
    config.data_dir = data
    config.batch_size = batch
    config.num_steps = steps
    config.log_every = 1
    config.checkpoint_every = steps  # one checkpoint, after the timed steps
    train_and_evaluate(config, workdir)
    if processes > 1:
        jax.distributed.shutdown()


def measure(processes: int, devices: int, data: Path, root: Path, *, steps: int, warmup: int,
            batch: int, cache: Path) -> float:
    """Median steps/s over the steps after ``warmup`` of one run with ``processes`` x ``devices // processes``."""
    workdir = root / f"p{processes}"
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO),
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices // processes}",
           "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(pid), str(processes), str(port), str(data),
                               str(workdir), str(warmup + steps), str(batch)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in range(processes)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a {processes}-process run failed (exit {proc.returncode})")
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    seconds = [batch / r["sites_per_s"] for r in records if r["step"] > warmup]
    return 1.0 / statistics.median(seconds)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        pid, processes, port, data, workdir, steps, batch = sys.argv[2:9]
        worker(int(pid), int(processes), int(port), data, workdir, int(steps), int(batch))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="steps left out (compilation)")
    parser.add_argument("--devices", type=int, default=4, help="CPU devices in total (even)")
    parser.add_argument("--batch", type=int, default=4, help="global batch (sites), divisible by --devices")
    args = parser.parse_args()
    if args.devices % 2 or args.batch % args.devices:
        parser.error(f"--devices must be even and divide --batch; got {args.devices} and {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.data is None:
            from training_throughput import worldcereal_dataset

            data = worldcereal_dataset(root / "videos")
        else:
            data = args.data
        rates = {p: measure(p, args.devices, data, root, steps=args.steps, warmup=args.warmup, batch=args.batch,
                            cache=root / "jax_cache") for p in (1, 2)}
    print(f"cpu cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; tiny, global batch {args.batch}, "
          f"{args.devices} CPU devices in total, median of {args.steps} steps")
    print(f"1 process  x {args.devices} devices: {rates[1]:.3f} steps/s (floor)")
    print(f"2 processes x {args.devices // 2} devices: {rates[2]:.3f} steps/s, ratio to the floor "
          f"{rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
