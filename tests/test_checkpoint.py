"""Best-checkpoint candidates: lowest valid loss (supervised); peak, final, middle (RL)."""

from __future__ import annotations

import numpy as np

from rltop.core.checkpoint import best_checkpoint

from conftest import read_snapshot
from diaghelp import run_of


def test_supervised_lowest_valid_loss():
    valid = [None, 1.2, None, 0.9, None, 0.7, None, 0.8, None, 1.0]
    best = best_checkpoint(
        run_of({"train_loss": list(np.linspace(2, 0.5, 10)), "valid_loss": valid})
    )
    assert best.kind == "supervised" and len(best.candidates) == 1
    assert best.best.step == 6 and best.best.values["valid_loss"] == 0.7
    assert best.basis == "valid_loss"


def test_supervised_prefers_the_full_pass_valid_loss():
    cols = {
        "train_loss": [1.0] * 10,
        "valid_loss": [0.9, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
        "full_valid_loss": [None, None, None, None, 0.8, None, None, None, None, 0.6],
    }
    best = best_checkpoint(run_of(cols))
    assert best.basis == "full_valid_loss" and best.best.step == 10


def test_rl_three_candidates_with_valid_reward():
    n = 100
    reward = list(np.linspace(0.2, 0.8, n))
    valid = [None] * n
    for step, value in [(0, 0.9), (20, 0.4), (40, 0.6), (60, 0.55), (80, 0.5), (99, 0.45)]:
        valid[step] = value
    best = best_checkpoint(run_of({"reward": reward, "val/reward": valid}))
    assert best.kind == "rl"
    labels = [c.label for c in best.candidates]
    assert labels == ["peak valid reward", "final", "middle of training"]
    # step 1 (index 0) is an evaluation before training moved: it does not count
    assert best.candidates[0].step == 41 and best.candidates[0].values["val/reward"] == 0.6
    assert best.candidates[1].step == 100
    assert 41 <= best.candidates[2].step <= 61  # the valid point nearest the middle
    assert "reward" in best.candidates[1].values


def test_rl_peak_of_the_smoothed_train_reward_not_a_spike():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    reward = 0.3 + 0.4 * np.exp(-(((t - 120) / 25) ** 2)) + rng.normal(0, 0.02, 200)
    reward[20] = 2.0  # one lucky batch
    best = best_checkpoint(run_of({"reward": list(reward)}))
    assert best.candidates[0].label == "peak smoothed train reward"
    assert 110 <= best.candidates[0].step <= 130


def test_no_candidates_without_the_metrics():
    assert best_checkpoint(run_of({"train_loss": [1.0, 0.9]})) is None


def test_fixtures(fixtures):
    openai = read_snapshot(fixtures / "openai").runs[0]
    best = best_checkpoint(openai)
    assert best.kind == "supervised" and best.best.step == 50
    assert round(best.best.values["valid_loss"], 4) == 0.6439

    trl = read_snapshot(fixtures / "trl").runs[0]
    best = best_checkpoint(trl)
    assert best.kind == "rl"
    peak, final, middle = best.candidates
    assert peak.label == "peak smoothed train reward" and 55 <= peak.step <= 90
    assert final.step == 200 and middle.step == 100
    assert "loss" not in final.values  # an RL policy loss does not rank checkpoints

    assert best_checkpoint(read_snapshot(fixtures / "wandb").runs[0]) is None


def test_candidates_name_the_nearest_saved_checkpoint(tmp_path):
    from conftest import read_snapshot

    lines = [f'{{"step": {s}, "reward": {0.2 + 0.6 * (s < 60) * s / 60}}}' for s in range(1, 101)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    for step in (25, 50, 75, 100):
        (tmp_path / f"checkpoint-{step}").mkdir()
    run = read_snapshot(tmp_path).runs[0]
    best = best_checkpoint(run)
    saved = {c.label: c.saved for c in best.candidates}
    assert saved["final"] == "checkpoint-100"
    assert saved["middle of training"] == "checkpoint-50"
    assert saved["peak smoothed train reward"] == "checkpoint-50"  # peak around step 55
    assert best_checkpoint(run, look_on_disk=False).candidates[0].saved is None
    assert "nearest saved: checkpoint-100" in best.candidates[1].describe()
