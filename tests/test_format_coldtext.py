"""Rollout text evicted under a small ``--max-memory`` reads back through the format that made the
row: ART trajectories and NeMo-RL samples came back empty when only the generic readers were asked."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from rltop.core import coldtext
from rltop.core.follow import Follower


@pytest.fixture
def small_budget():
    old = coldtext.BUDGET.max_memory
    coldtext.set_max_memory(2 * 1024 * 1024)
    yield
    coldtext.set_max_memory(old)


def _read(path: Path):
    follower = Follower([str(path)])
    follower.read_all()
    return follower.store.snapshot().runs[0]


def _art_line(step: int, i: int) -> dict:
    return {
        "reward": (i % 3) / 2,
        "metrics": {"turns": 1},
        "messages_and_choices": [
            {"role": "user", "content": f"question {i} " + "q" * 200},
            {
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": f"step {step} answer {i} " + "a" * 2000,
                },
            },
        ],
    }


def _nemo_line(step: int, i: int) -> dict:
    return {
        "content": [f"<user>question {i}</user><assistant>step {step} answer {i} " + "a" * 2000],
        "rewards": [(i % 3) / 2],
        "input_lengths": 40,
        "generation_logprobs": [0.1, 0.2],
        "idx": i,
    }


def _check_cold_rows_read_back(run) -> None:
    frame = run.rollouts
    cold = frame.filter(pl.col("completion").is_null())
    assert cold.height, "the small budget should have moved some text to disk"
    row = coldtext.load_text(cold.row(0, named=True))
    assert row["completion"] and row["completion"].count(" answer ") == 1
    assert f"step {row['step']} answer" in row["completion"]
    filled = coldtext.fill_text(cold)
    assert filled.get_column("completion").null_count() == 0
    for got in filled.iter_rows(named=True):
        assert f"step {got['step']} answer" in got["completion"]


def test_art_trajectories_read_back_after_eviction(tmp_path: Path, small_budget):
    root = tmp_path / "models" / "agent"
    folder = root / "trajectories" / "train"
    folder.mkdir(parents=True)
    for step in range(1, 41):
        with open(folder / f"{step:04d}.jsonl", "w") as fh:
            for i in range(16):
                fh.write(json.dumps(_art_line(step, i)) + "\n")
    run = _read(root)
    _check_cold_rows_read_back(run)
    row = coldtext.load_text(run.rollouts.filter(pl.col("completion").is_null()).row(0, named=True))
    assert row["prompt"].startswith("[user] question ")
    assert json.loads(row["messages"])[1]["role"] == "assistant"


def test_nemo_rl_samples_read_back_after_eviction(tmp_path: Path, small_budget):
    folder = tmp_path / "logs"
    folder.mkdir()
    for step in range(1, 41):
        with open(folder / f"train_data_step{step}.jsonl", "w") as fh:
            for i in range(16):
                fh.write(json.dumps(_nemo_line(step, i)) + "\n")
    run = _read(folder)
    _check_cold_rows_read_back(run)
