"""Per-step rollout statistics, checked by hand, and EMA smoothing."""

from __future__ import annotations

import math

import polars as pl
import pytest

from rltop.core.derive import ema, rollout_step_stats
from rltop.core.formats.rollouts import rows_to_frame


def _frame(rows):
    return rows_to_frame(
        [{"split": "train", "length": len(r.get("completion", "")), **r} for r in rows]
    )


def test_pass_max_and_zero_variance_by_hand():
    rows = []
    # step 1: prompt A rewards 0,0,1,0 (solved, max 1); prompt B 0,0,0,0 (unsolved, zero variance)
    for reward in (0, 0, 1, 0):
        rows.append({"step": 1, "group": "A", "reward": float(reward), "completion": "ab"})
    for _ in range(4):
        rows.append({"step": 1, "group": "B", "reward": 0.0, "completion": "abcd"})
    # step 2: A 0.5,0.5,0.5,0.5 (zero variance, solved); B 0.2,0.9,0,0
    for reward in (0.5, 0.5, 0.5, 0.5):
        rows.append({"step": 2, "group": "A", "reward": reward, "completion": "a"})
    for reward in (0.2, 0.9, 0.0, 0.0):
        rows.append({"step": 2, "group": "B", "reward": reward, "completion": "a"})
    stats = rollout_step_stats(_frame(rows))
    s1, s2 = stats.row(0, named=True), stats.row(1, named=True)
    assert s1["rollouts/pass@k"] == 0.5
    assert s1["rollouts/max@k"] == 0.5
    assert s1["rollouts/zero_variance_frac"] == 0.5
    assert s1["rollouts/reward_mean"] == pytest.approx(1 / 8)
    assert s1["rollouts/length_mean"] == 3.0
    assert s1["rollouts/group_size"] == 4
    assert s2["rollouts/pass@k"] == 1.0
    assert s2["rollouts/max@k"] == pytest.approx((0.5 + 0.9) / 2)
    assert s2["rollouts/zero_variance_frac"] == 0.5


def test_validation_rollouts_get_their_own_prefix():
    rows = [
        {"step": 1, "group": "A", "reward": 1.0, "split": "valid"},
        {"step": 1, "group": "A", "reward": 0.0, "split": "train"},
    ]
    stats = rollout_step_stats(rows_to_frame(rows))
    assert stats["val-rollouts/reward_mean"].to_list() == [1.0]
    assert stats["rollouts/reward_mean"].to_list() == [0.0]


def test_empty_rollouts():
    stats = rollout_step_stats(pl.DataFrame())
    assert stats.columns == ["step"] and stats.height == 0


def test_ema_debiased_and_gaps():
    assert ema([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])
    out = ema([0.0, None, 10.0, math.nan], 0.5)
    assert out[0] == 0.0 and out[1] is None and out[3] is None
    assert 0 < out[2] < 10
    assert ema([1.0, 2.0], 0) == [1.0, 2.0]
