"""Many runs with configs where each trainer writes them (runs screen, filter, diff tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def make_runs(root: Path, n: int = 6, mtime: float | None = None) -> Path:
    """Runs with different configs, written where each trainer writes them."""
    for i in range(n):
        run = root / f"{'grpo' if i % 2 else 'sft'}-{i}"
        run.mkdir(parents=True)
        lines = [
            json.dumps({"step": s, "reward": 0.1 * i + 0.01 * s, "loss": 1.0 / (s + 1 + i)})
            for s in range(10 + i)
        ]
        (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        lr = 1e-6 * (i + 1)
        if i % 3 == 0:  # tinker
            (run / "config.json").write_text(
                json.dumps({"learning_rate": lr, "model_name": "qwen", "group_size": 8})
            )
        elif i % 3 == 1:  # verl under Hydra
            (run / ".hydra").mkdir()
            (run / ".hydra" / "config.yaml").write_text(
                f"actor_rollout_ref:\n  actor:\n    optim:\n      lr: {lr}\n"
                f"  rollout:\n    n: {4 + i}\nalgorithm:\n  adv_estimator: grpo\n"
            )
        else:  # HF
            (run / "training_args.json").write_text(json.dumps({"learning_rate": lr, "seed": i}))
    if mtime is not None:
        set_mtimes(root, mtime)
    return root


def set_mtimes(root: Path, mtime: float) -> None:
    """Every file under ``root`` last changed at ``mtime`` (fixed ages for snapshots)."""
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (mtime, mtime))
