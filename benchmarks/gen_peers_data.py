"""Data for the peer benchmarks (issue #11), generated once under ``/work/bench-data`` (or
``$RLTOP_BENCH_DATA``) and reused while the manifest beside each data set matches.

Every generator returns the folder to point rltop (and the peer) at:

- ``metrics_jsonl(steps, keys)``: a verl FileLogger ``metrics.jsonl`` (``{"step": N, "data": {...}}``,
  full-precision floats), the same rows as ``bench_foundation.write_metrics``;
- ``wandb_offline(steps, keys)``: a W&B run folder written by the real ``wandb`` package in offline
  mode (``wandb/offline-run-*/run-<id>.wandb``), one ``run.log`` per step;
- ``tfevents(steps, keys)``: an event file written with TensorBoard's own ``EventFileWriter``, one
  event per scalar as PyTorch's ``SummaryWriter.add_scalar`` (TRL, transformers, verl) writes them;
- ``console_log(steps, keys)``: a verl console log (step lines among other output);
- ``metrics_csv(steps, keys)``: a PyTorch Lightning ``CSVLogger`` ``metrics.csv``;
- ``rollouts_jsonl(rows)``: verl-style rollout lines (``bench_rollouts.generate``), ~2.4 KB each
  (200k rows ~ 480 MB; 800k rows ~ 1.9 GB).

``python benchmarks/gen_peers_data.py`` generates the default sets and prints their paths.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("RLTOP_BENCH_DATA", "/work/bench-data"))
sys.path.insert(0, str(HERE))


def _cached(name: str, want: dict, make) -> Path:
    """``DATA/name``, made by ``make(folder)`` unless its manifest already says ``want``."""
    folder = DATA / name
    manifest = DATA / f"{name}.manifest.json"
    if manifest.exists() and folder.exists():
        try:
            if json.loads(manifest.read_text()) == want:
                return folder
        except ValueError:
            pass
    shutil.rmtree(folder, ignore_errors=True)
    tmp = DATA / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t = time.perf_counter()
    make(tmp)
    os.replace(tmp, folder)
    manifest.write_text(json.dumps(want))
    print(f"generated {folder} in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    return folder


def metric_rows(steps: int, keys: int, start: int = 1):
    """``(step, {name: value})`` for every step: the same numbers for every format."""
    from bench_foundation import metric_names

    rng = random.Random(1)
    names = metric_names(keys)
    base = [rng.random() for _ in names]
    for step in range(start, start + steps):
        yield step, {n: b + rng.random() * 0.1 for n, b in zip(names, base, strict=True)}


def metrics_jsonl(steps: int = 10_000, keys: int = 150) -> Path:
    """A folder with one verl FileLogger ``metrics.jsonl``."""

    def make(folder: Path) -> None:
        import orjson

        with open(folder / "metrics.jsonl", "wb") as fh:
            for step, data in metric_rows(steps, keys):
                fh.write(orjson.dumps({"step": step, "data": data}) + b"\n")

    return _cached(f"jsonl-{steps}x{keys}", {"steps": steps, "keys": keys, "v": 1}, make)


def metrics_csv(steps: int = 100_000, keys: int = 50) -> Path:
    """A folder with a ``metrics.csv`` as PyTorch Lightning's ``CSVLogger`` writes it (Python's
    ``csv`` writer: CR LF line ends; ``epoch``, ``step``, then the metrics)."""

    def make(folder: Path) -> None:
        import csv

        with open(folder / "metrics.csv", "w", newline="") as fh:
            writer = None
            for step, data in metric_rows(steps, keys):
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=["epoch", "step", *data])
                    writer.writeheader()
                writer.writerow({"epoch": step // 1000, "step": step, **data})

    return _cached(f"csv-{steps}x{keys}", {"steps": steps, "keys": keys, "v": 1}, make)


def console_log(steps: int = 10_000, keys: int = 150) -> Path:
    """A folder with a verl console log (``train.log``: what ``python -m verl... | tee`` keeps):
    ``step:N - key:value - ...`` lines behind Ray's coloured actor prefix, among chatter."""

    def make(folder: Path) -> None:
        prefix = "\x1b[36m(TaskRunner pid=2741)\x1b[0m "
        with open(folder / "train.log", "w") as fh:
            for step, data in metric_rows(steps, keys):
                fh.write(f"{prefix}INFO worker heartbeat at step {step}\n")
                parts = " - ".join(f"{k}:{v!r}" for k, v in data.items())
                fh.write(f"{prefix}step:{step} - {parts}\n")

    return _cached(f"console-{steps}x{keys}", {"steps": steps, "keys": keys, "v": 1}, make)


_WANDB_SCRIPT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from gen_peers_data import metric_rows
import wandb
steps, keys = int(sys.argv[3]), int(sys.argv[4])
run = wandb.init(mode="offline", dir=sys.argv[2], project="bench", config={"lr": 1e-6, "steps": steps},
                 settings=wandb.Settings(console="off", x_disable_stats=True, disable_git=True))
for step, data in metric_rows(steps, keys):
    run.log(data, step=step)
run.finish()
"""


def wandb_offline(steps: int = 10_000, keys: int = 150) -> Path:
    """A folder holding ``wandb/offline-run-*/run-<id>.wandb`` written by the real package."""

    def make(folder: Path) -> None:
        env = dict(os.environ, WANDB_SILENT="true", WANDB_MODE="offline")
        subprocess.run(
            [sys.executable, "-c", _WANDB_SCRIPT, str(HERE), str(folder), str(steps), str(keys)],
            check=True,
            env=env,
        )

    return _cached(f"wandb-{steps}x{keys}", {"steps": steps, "keys": keys, "v": 1}, make)


def wandb_file(folder: Path) -> Path:
    """The ``run-<id>.wandb`` file inside a ``wandb_offline`` folder."""
    return next(folder.glob("wandb/*run-*/run-*.wandb"))


def tfevents(steps: int = 10_000, keys: int = 150, per_scalar: bool = False) -> Path:
    """A folder with one event file written by TensorBoard's ``EventFileWriter``: one event per
    step holding all its ``simple_value``s (``add_scalars``-style, ~17 MB for 10k x 150), or with
    ``per_scalar`` one event per scalar as PyTorch's ``SummaryWriter.add_scalar`` writes them
    (~96 MB; TensorBoard's EventAccumulator takes minutes on it)."""

    def make(folder: Path) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        writer = EventFileWriter(str(folder), max_queue_size=1000, flush_secs=30)
        now = time.time()
        value = summary_pb2.Summary.Value
        for step, data in metric_rows(steps, keys):
            groups = [[(n, v)] for n, v in data.items()] if per_scalar else [list(data.items())]
            for group in groups:
                summary = summary_pb2.Summary(
                    value=[value(tag=n, simple_value=v) for n, v in group]
                )
                writer.add_event(event_pb2.Event(wall_time=now + step, step=step, summary=summary))
        writer.close()

    name = f"tfevents{'-scalar' if per_scalar else ''}-{steps}x{keys}"
    return _cached(name, {"steps": steps, "keys": keys, "per_scalar": per_scalar, "v": 1}, make)


def rollouts_jsonl(rows: int = 200_000) -> Path:
    """A folder with one verl-style ``rollouts.jsonl`` of ``rows`` ~2.4 KB rollouts."""

    def make(folder: Path) -> None:
        from bench_rollouts import generate

        generate(folder / "rollouts.jsonl", rows)

    return _cached(f"rollouts-{rows}", {"rows": rows, "v": 1}, make)


if __name__ == "__main__":
    for path in (metrics_jsonl(), wandb_offline(), tfevents(), metrics_jsonl(100_000)):
        print(path)
