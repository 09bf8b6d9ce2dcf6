"""One test per rule of DIAGNOSTICS.md: a generated series where it must fire (at the right step,
within a stated delay after the onset) and a healthy one where it must not."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from rltop.core.diagnose import RULES, Diagnoser, check_thresholds, diagnose
from rltop.core.model import Skip

from diaghelp import RunBuilder, find, first_firing, ids, noisy, rows_from, run_of

N = 200
t = np.arange(N)


def decay(start: float, end: float, rate: float = 0.03, n: int = N) -> np.ndarray:
    x = np.arange(n)
    return end + (start - end) * np.exp(-rate * x)


def test_catalogue_matches_the_spec():
    expected = {
        "sft.overfit_ratio", "sft.valid_rising", "sft.train_flat", "sft.train_collapse",
        "sft.valid_plateau", "sft.valid_oscillating", "sft.both_high", "sft.gap_from_start",
        "rl.narrowing", "rl.stagnant", "rl.reward_zero", "rl.reward_negative",
        "rl.reward_saturated", "rl.reward_declining", "rl.train_valid_gap", "rl.token_growth",
        "rl.truncation", "rl.grader_errors", "rl.parse_errors", "rl.zero_variance",
        "rl.entropy_collapse", "rl.kl_spike", "rl.early_termination", "rl.dimension_regression",
        "run.nan", "run.stalled", "run.unreadable",
        "rl.repetition", "rl.garbled", "rl.mode_collapse", "run.slowdown",
    }  # fmt: skip
    assert set(RULES) == expected
    for rule in RULES.values():
        assert rule.severity in ("info", "warning", "critical")
        assert "Minimum points" in rule.help, rule.id
        assert rule.action


# -- run health ------------------------------------------------------------------------------
def test_run_nan_fires_at_the_first_nan_step():
    loss = list(decay(2, 0.5))
    loss[120] = math.nan
    loss[150] = math.inf
    w = find(diagnose(run_of({"loss": loss, "reward": noisy(t * 0.002, 0.05)})), "run.nan")
    assert w is not None and w.severity == "critical"
    assert w.step == 121  # steps start at 1
    assert "loss = NaN at step 121" in w.evidence and "2 steps" in w.evidence
    seen, _ = first_firing({"loss": loss}, "run.nan", batch=5)
    assert seen == 125  # the batch holding step 121


def test_run_nan_healthy():
    assert "run.nan" not in ids(diagnose(run_of({"loss": list(decay(2, 0.5))})))


def test_run_stalled_uses_the_injected_clock():
    import time

    now = [time.time()]  # snapshots carry wall-clock last_update; the diagnoser's clock moves on
    builder = RunBuilder().add(rows_from({"reward": [0.1, 0.2, 0.3]}))
    diag = Diagnoser(clock=lambda: now[0])
    assert "run.stalled" not in ids(diag.update(builder.store.snapshot()).active)
    builder.add([{"step": 4, "reward": 0.4}])
    diag.update(builder.store.snapshot())  # new data: the run is writing
    now[0] += 14 * 60
    assert "run.stalled" not in ids(diag.update(builder.store.snapshot()).active)
    now[0] += 2 * 60
    update = diag.update(builder.store.snapshot())
    w = find(update.started, "run.stalled")
    assert w is not None and w.severity == "critical" and "16 min" in w.evidence
    builder.add([{"step": 5, "reward": 0.5}])
    now[0] = builder.snapshot().last_update + 60  # a minute after the new write
    update = diag.update(builder.store.snapshot())
    assert "run.stalled" in ids(update.cleared)


def test_run_stalled_not_for_a_run_that_was_not_writing(tmp_path):
    # files last changed long ago, nothing new while watched: finished, not stalled
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "reward": 0.1}\n')
    import os

    os.utime(path, (1_000.0, 1_000.0))
    from rltop.core.follow import Follower

    follower = Follower([str(tmp_path)])
    follower.read_all()
    diag = Diagnoser(clock=lambda: 10_000_000.0)
    assert "run.stalled" not in ids(diag.update(follower.store.snapshot()).active)


def test_run_unreadable_counts_skips():
    builder = RunBuilder().add(
        rows_from({"loss": [1.0, 0.9]}), skips=[Skip("not JSON", 3), Skip("not JSON", 4)]
    )
    w = find(diagnose(builder.snapshot()), "run.unreadable")
    assert w is not None and w.severity == "info"
    assert "2 skipped" in w.evidence and "not JSON" in w.evidence
    assert "run.unreadable" not in ids(diagnose(run_of({"loss": [1.0, 0.9]})))


# -- supervised ------------------------------------------------------------------------------
def _sft(valid: np.ndarray, train: np.ndarray, every: int = 10) -> dict:
    valid_col = [float(v) if i % every == every - 1 else None for i, v in enumerate(valid)]
    return {"train_loss": list(train), "valid_loss": valid_col}


@pytest.mark.parametrize(
    ("final_ratio", "severity"), [(1.3, "info"), (1.7, "warning"), (2.4, "critical")]
)
def test_overfit_ratio_severities(final_ratio, severity):
    train = decay(2.0, 0.5)
    valid = train * np.linspace(1.0, final_ratio, N)
    w = find(diagnose(run_of(_sft(valid, train))), "sft.overfit_ratio")
    assert w is not None and w.severity == severity
    assert "valid/train = " in w.evidence and "best valid" in w.evidence


def test_overfit_ratio_fires_within_two_evaluations_of_crossing():
    train = np.full(N, 1.0)
    valid = np.where(t < 100, 1.05, 1.6)  # jumps above 1.5 at step 101
    seen, w = first_firing(_sft(valid, train), "sft.overfit_ratio", batch=10)
    assert w is not None and 101 <= seen <= 101 + 2 * 10
    assert 101 <= w.step <= 121


def test_overfit_ratio_healthy():
    train = decay(2.0, 0.5)
    assert "sft.overfit_ratio" not in ids(diagnose(run_of(_sft(train * 1.05, train))))


def test_valid_rising_names_the_best_step():
    train = decay(2.0, 0.3)
    valid = 0.5 + 0.0001 * (t - 60) ** 2  # best at step 61, rising after
    w = find(diagnose(run_of(_sft(valid, train, every=1))), "sft.valid_rising")
    assert w is not None and w.severity == "warning"
    # 1.2 × best (0.5) is crossed where (t-60)^2 > 1000, i.e. t > 91: within 8 points (median 9)
    assert 92 <= w.step <= 100
    assert "step 61" in w.action
    seen, _ = first_firing(_sft(valid, train, every=1), "sft.valid_rising", batch=5)
    assert seen is not None and seen <= 105


def test_valid_rising_healthy():
    train = decay(2.0, 0.3)
    assert "sft.valid_rising" not in ids(diagnose(run_of(_sft(decay(2.1, 0.4), train, 1))))


def test_train_flat_fires_once_it_has_thirty_points():
    loss = noisy(np.full(100, 2.0), 0.03, seed=1)
    seen, w = first_firing({"train_loss": loss}, "sft.train_flat")
    assert seen == 30 and w.step == 30
    assert "train loss" in w.evidence


def test_train_flat_healthy():
    assert "sft.train_flat" not in ids(diagnose(run_of({"train_loss": noisy(decay(2, 0.5), 0.03)})))


def test_train_collapse_fires_when_loss_reaches_zero():
    loss = decay(2.0, 0.0, rate=0.08)  # below 0.04 (2% of 2.0) from step ~50
    crossing = int(np.argmax(loss <= 0.04)) + 1
    seen, w = first_firing({"train_loss": list(loss)}, "sft.train_collapse")
    assert w is not None and crossing <= seen <= crossing + 3  # rolling median of 5: ≤ 3 late


def test_train_collapse_healthy():
    assert "sft.train_collapse" not in ids(diagnose(run_of({"train_loss": list(decay(2, 0.5))})))


def test_valid_plateau_after_the_first_epoch():
    epoch = t / 60  # epoch 1 ends at step 61
    valid = np.where(t < 60, 2.0 - t * 0.02, 0.8)
    cols = {**_sft(valid, decay(2, 0.5), every=10), "epoch": list(epoch)}
    w = find(diagnose(run_of(cols)), "sft.valid_plateau")
    assert w is not None and w.severity == "info"
    assert w.step == 70  # the first validation after the epoch ended
    assert "the first epoch" in w.evidence


def test_valid_plateau_healthy():
    cols = {**_sft(decay(2, 0.3, 0.01), decay(2, 0.3), every=10), "epoch": list(t / 60)}
    assert "sft.valid_plateau" not in ids(diagnose(run_of(cols)))


def test_valid_oscillating():
    valid = np.where(t % 2 == 0, 1.0, 1.4)
    valid[:50] = np.linspace(2.0, 1.2, 50)  # a clean descent, then swings from step 51
    seen, w = first_firing(_sft(valid, decay(2, 0.5), every=1), "sft.valid_oscillating")
    assert w is not None and 51 <= seen <= 51 + 8  # within one window of 8 points
    assert "changes direction" in w.evidence


def test_valid_oscillating_healthy():
    valid = noisy(decay(2.0, 0.5), 0.005)
    assert "sft.valid_oscillating" not in ids(diagnose(run_of(_sft(valid, decay(2, 0.4), 1))))


def test_both_high():
    train = noisy(np.full(N, 3.0), 0.05)
    valid = np.full(N, 3.2)
    w = find(diagnose(run_of(_sft(valid, train))), "sft.both_high")
    assert w is not None and w.step == 30  # the minimum of 30 train points
    assert "train loss" in w.evidence and "valid loss" in w.evidence


def test_both_high_healthy():
    assert "sft.both_high" not in ids(diagnose(run_of(_sft(decay(3, 1.2), decay(3, 1.0)))))


def test_gap_from_start():
    train = decay(2.0, 0.5)
    w = find(diagnose(run_of(_sft(train * 1.8, train))), "sft.gap_from_start")
    assert w is not None and w.step == 10  # the first validation point
    assert "over the first 3 evaluations" in w.evidence


def test_gap_from_start_healthy():
    train = decay(2.0, 0.5)
    assert "sft.gap_from_start" not in ids(diagnose(run_of(_sft(train * 1.1, train))))


def test_sft_rules_stay_out_of_rl_runs():
    # a GRPO "loss" sits near 0 and is flat: not a supervised collapse or a flat loss
    cols = {"loss": noisy(np.zeros(N), 0.01), "reward": noisy(0.2 + t * 0.002, 0.05)}
    found = ids(diagnose(run_of(cols)))
    assert not {i for i in found if i.startswith("sft.")}


# -- reinforcement ---------------------------------------------------------------------------
def test_narrowing_reward_up_pass_at_k_flat():
    reward = noisy(np.clip(0.2 + (t - 40) * 0.004, 0.2, None), 0.03)
    cols = {"reward": reward, "pass@k": noisy(np.full(N, 0.4), 0.01, seed=2)}
    w = find(diagnose(run_of(cols)), "rl.narrowing")
    assert w is not None and "pass@k" in w.metrics and "reward" in w.evidence
    seen, _ = first_firing(cols, "rl.narrowing", batch=10)
    assert seen is not None and seen <= 120


def test_narrowing_healthy_when_pass_at_k_climbs_too():
    cols = {
        "reward": noisy(0.2 + t * 0.003, 0.03),
        "pass@k": noisy(0.4 + t * 0.002, 0.01, seed=2),
    }
    assert "rl.narrowing" not in ids(diagnose(run_of(cols)))


def test_stagnant():
    cols = {"reward": noisy(np.full(N, 0.3), 0.05), "pass@k": noisy(np.full(N, 0.5), 0.01, 3)}
    seen, w = first_firing(cols, "rl.stagnant", batch=5)
    assert w is not None and 50 <= seen <= 60  # its 50 points, then within 2 batches
    assert "pass@k" in w.evidence


def test_stagnant_healthy():
    cols = {"reward": noisy(0.2 + t * 0.003, 0.05), "pass@k": noisy(0.3 + t * 0.002, 0.01)}
    assert "rl.stagnant" not in ids(diagnose(run_of(cols)))


def test_reward_zero():
    reward = np.where(t < 50, 0.3, 0.0)  # grader breaks at step 51
    seen, w = first_firing({"reward": list(reward)}, "rl.reward_zero")
    assert w is not None and w.severity == "critical"
    assert 51 + 9 <= seen <= 51 + 12  # a window of 10 near-zero smoothed points
    assert w.step <= 54


def test_reward_zero_healthy():
    assert "rl.reward_zero" not in ids(diagnose(run_of({"reward": noisy(0.1 + t * 0.003, 0.02)})))


def test_reward_negative():
    w = find(diagnose(run_of({"reward": noisy(np.full(N, -0.5), 0.1)})), "rl.reward_negative")
    assert w is not None and w.step == 1


def test_reward_negative_healthy():
    cols = {"reward": noisy(-0.5 + t * 0.01, 0.05)}
    assert "rl.reward_negative" not in ids(diagnose(run_of(cols)))


def test_reward_saturated():
    w = find(diagnose(run_of({"reward": noisy(np.full(50, 0.96), 0.01)})), "rl.reward_saturated")
    assert w is not None and w.step == 1


def test_reward_saturated_healthy():
    cols = {"reward": noisy(0.3 + t * 0.003, 0.02)}
    assert "rl.reward_saturated" not in ids(diagnose(run_of(cols)))


def test_reward_declining():
    shape = np.where(t < 100, 0.2 + t * 0.005, 0.7 - (t - 100) * 0.005)  # peak at step 101
    cols = {"reward": noisy(shape, 0.05)}
    seen, w = first_firing(cols, "rl.reward_declining", batch=5)
    assert w is not None and 101 < seen <= 101 + 70
    assert "down from its peak" in w.evidence
    assert 90 <= int(w.evidence.split("around step ")[1].split(" ")[0]) <= 115


def test_reward_declining_healthy_noisy_rise():
    cols = {"reward": noisy(0.2 + t * 0.002, 0.15, seed=4)}
    assert "rl.reward_declining" not in ids(diagnose(run_of(cols)))


def test_train_valid_gap():
    valid = [0.6 if i % 10 == 9 else None for i in range(N)]
    cols = {"reward": noisy(np.full(N, 0.8), 0.02), "val/reward": valid}
    w = find(diagnose(run_of(cols)), "rl.train_valid_gap")
    assert w is not None and w.step == 30  # the third validation point
    assert "valid 0.6 = 0.19" in w.evidence


def test_train_valid_gap_healthy():
    valid = [0.75 if i % 10 == 9 else None for i in range(N)]
    cols = {"reward": noisy(np.full(N, 0.8), 0.02), "val/reward": valid}
    assert "rl.train_valid_gap" not in ids(diagnose(run_of(cols)))


@pytest.mark.parametrize(("growth", "severity"), [(3.5, "warning"), (2.3, "info"), (1.2, None)])
def test_token_growth(growth, severity):
    length = 200 * np.linspace(1, growth, N)
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "response_length/mean": list(length)}
    w = find(diagnose(run_of(cols)), "rl.token_growth")
    if severity is None:
        assert w is None
    else:
        assert w is not None and w.severity == severity
        start = np.median(length[:10])  # the starting level: median of the first 10 points
        # dated from the crossing of the tier it reports (3× for warning), not the info tier's
        tier = 3.0 if severity == "warning" else 2.0
        crossing = int(np.argmax(length / start >= tier)) + 1
        assert crossing <= w.step <= crossing + 3


def test_truncation():
    clip = np.where(t < 50, 0.1, 0.8)
    seen, w = first_firing({"response_length/clip_ratio": list(clip)}, "rl.truncation")
    assert w is not None and seen == 53  # 3 of the 5 points of the rolling median
    assert w.step == 53


def test_truncation_from_rollout_stop_reasons():
    frame = pl.DataFrame(
        {
            "step": [s for s in range(1, 11) for _ in range(4)],
            "reward": [0.5] * 40,
            "group": [f"p{s}" for s in range(1, 11) for _ in range(4)],
            "stop_reason": ["length", "length", "length", "stop"] * 10,
        }
    )
    run = RunBuilder().add_rollouts(frame).snapshot()
    w = find(diagnose(run), "rl.truncation")
    assert w is not None and "stop_reason" in w.metrics[0]


def test_truncation_healthy():
    assert "rl.truncation" not in ids(diagnose(run_of({"completions/clipped_ratio": [0.1] * 50})))


def test_grader_errors():
    errors = [0.0] * 40 + [2.0] + [0.0] * 20
    w = find(diagnose(run_of({"train_other_error_count": errors})), "rl.grader_errors")
    assert w is not None and w.severity == "critical" and w.step == 41


def test_grader_errors_healthy():
    assert "rl.grader_errors" not in ids(diagnose(run_of({"train_other_error_count": [0.0] * 30})))


def test_parse_errors_when_reward_does_not_climb():
    cols = {"reward": noisy(np.full(60, 0.3), 0.02), "parse_error_rate": [0.3] * 60}
    seen, w = first_firing(cols, "rl.parse_errors")
    assert w is not None and w.severity == "info" and seen <= 10


def test_parse_errors_healthy_when_reward_climbs():
    cols = {"reward": list(0.1 + np.arange(60) * 0.01), "parse_error_rate": [0.3] * 60}
    assert "rl.parse_errors" not in ids(diagnose(run_of(cols)))


def test_zero_variance_logged_and_from_tinker_mixed_share():
    w = find(diagnose(run_of({"frac_reward_zero_std": [0.7] * 20})), "rl.zero_variance")
    assert w is not None and w.step == 5
    w = find(diagnose(run_of({"env/all/by_group/frac_mixed": [0.2] * 20})), "rl.zero_variance")
    assert w is not None and "80%" in w.evidence


def test_zero_variance_from_rollout_groups():
    # 4 completions per prompt, every group all-equal rewards: derived zero_variance_frac = 1
    steps = [s for s in range(1, 9) for _ in range(8)]
    frame = pl.DataFrame(
        {
            "step": steps,
            "group": [f"p{i // 4}" for i in range(len(steps))],
            "reward": [1.0 if (i // 4) % 2 else 0.0 for i in range(len(steps))],
        }
    )
    w = find(diagnose(RunBuilder().add_rollouts(frame).snapshot()), "rl.zero_variance")
    assert w is not None and w.metrics == ("rollouts/zero_variance_frac",)


def test_zero_variance_healthy():
    assert "rl.zero_variance" not in ids(diagnose(run_of({"frac_reward_zero_std": [0.1] * 20})))


def test_entropy_collapse():
    entropy = decay(1.0, 0.0, rate=0.1)  # 10% of the start at step ~24
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "actor/entropy": list(entropy)}
    crossing = int(np.argmax(entropy <= 0.1)) + 1
    seen, w = first_firing(cols, "rl.entropy_collapse")
    assert w is not None and crossing <= seen <= crossing + 3


def test_entropy_collapse_healthy():
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "actor/entropy": list(decay(1.0, 0.6))}
    assert "rl.entropy_collapse" not in ids(diagnose(run_of(cols)))


def test_kl_spike():
    kl = np.array(noisy(np.full(N, 0.01), 0.001))
    kl[80:] = 0.2  # jump at step 81
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "kl": kl}
    seen, w = first_firing(cols, "rl.kl_spike")
    assert w is not None and seen == 82  # two high points make the median of 3
    assert w.step == 82


def test_kl_spike_healthy_slow_growth():
    # GRPO's KL grows from 0 as the policy leaves the reference: a ramp, not a spike
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "kl": list(0.05 * (1 - np.exp(-t / 30)))}
    assert "rl.kl_spike" not in ids(diagnose(run_of(cols)))


def _episodes(n_steps: int, bad_from: int | None, turns_from: int | None) -> pl.DataFrame:
    rows = []
    for step in range(1, n_steps + 1):
        for k in range(10):
            bad = bad_from is not None and step >= bad_from and k < 5
            rows.append(
                {
                    "step": step,
                    "group": f"s{step}-{k}",
                    "reward": 0.5,
                    "terminal_reason": "critical_error" if bad else "resolved",
                    "turns": 3 if (turns_from is not None and step >= turns_from) else 8,
                }
            )
    return pl.DataFrame(rows)


def test_early_termination_from_terminal_reasons():
    run = RunBuilder().add_rollouts(_episodes(40, 21, None)).snapshot()
    w = find(diagnose(run), "rl.early_termination")
    assert w is not None and "critical_error" in w.evidence
    assert 21 <= w.step <= 21 + 10  # within one window (a quarter of 40 steps)


def test_early_termination_from_turns():
    run = RunBuilder().add_rollouts(_episodes(40, None, 25)).snapshot()
    w = find(diagnose(run), "rl.early_termination")
    assert w is not None and "turns per episode" in w.evidence and 25 <= w.step <= 28


def test_early_termination_from_turn_metric():
    turns = [6.0] * 30 + [2.0] * 20
    w = find(diagnose(run_of({"env/all/turns_per_episode": turns})), "rl.early_termination")
    assert w is not None and w.step == 33


def test_early_termination_healthy():
    run = RunBuilder().add_rollouts(_episodes(40, None, None)).snapshot()
    assert "rl.early_termination" not in ids(diagnose(run))


def test_dimension_regression_from_episode_scores():
    rows = []
    for step in range(1, 101):
        for k in range(4):
            empathy = 0.8 - 0.005 * step
            accuracy = 0.2 + 0.007 * step
            rows.append(
                {
                    "step": step,
                    "group": f"g{step}",
                    "reward": empathy + accuracy,
                    "score/empathy": empathy + 0.01 * k,
                    "score/accuracy": accuracy,
                }
            )
    run = RunBuilder().add_rollouts(pl.DataFrame(rows)).snapshot()
    w = find(diagnose(run), "rl.dimension_regression")
    assert w is not None and "scores/empathy" in w.metrics
    assert "scores/accuracy" not in w.metrics


def test_dimension_regression_from_trl_reward_functions():
    cols = {
        "reward": noisy(0.2 + t * 0.004, 0.02),
        "rewards/format/mean": noisy(0.9 - t * 0.003, 0.02, 5),
        "rewards/answer/mean": noisy(0.1 + t * 0.006, 0.02, 6),
    }
    seen, w = first_firing(cols, "rl.dimension_regression", batch=10)
    assert w is not None and "rewards/format/mean" in w.metrics and seen <= 80


def test_dimension_regression_healthy():
    cols = {
        "reward": noisy(0.2 + t * 0.004, 0.02),
        "rewards/format/mean": noisy(0.5 + t * 0.001, 0.02, 5),
        "rewards/answer/mean": noisy(0.1 + t * 0.003, 0.02, 6),
    }
    assert "rl.dimension_regression" not in ids(diagnose(run_of(cols)))


# -- the diagnoser and the thresholds --------------------------------------------------------
def test_diagnoser_reevaluates_only_changed_runs():
    a = RunBuilder("a").add(rows_from({"reward": [0.1, 0.2]}))
    diag = Diagnoser(stalled=False)
    snap = a.store.snapshot()
    diag.update(snap)
    diag.update(snap)
    assert diag.evaluations == 1
    a.add([{"step": 3, "reward": 0.3}])
    diag.update(a.store.snapshot())
    assert diag.evaluations == 2


def test_diagnoser_reports_start_change_and_clear():
    builder = RunBuilder()
    diag = Diagnoser(stalled=False)
    builder.add(rows_from({"train_loss": [1.0] * 20, "valid_loss": [1.3] * 20}))
    update = diag.update(builder.store.snapshot())
    assert find(update.started, "sft.overfit_ratio").severity == "info"
    builder.add(rows_from({"valid_loss": [2.5] * 5}, steps=range(21, 26)))
    update = diag.update(builder.store.snapshot())
    assert find(update.changed, "sft.overfit_ratio").severity == "critical"
    builder.add(rows_from({"train_loss": [1.0] * 10, "valid_loss": [1.0] * 10}, range(26, 36)))
    update = diag.update(builder.store.snapshot())
    assert "sft.overfit_ratio" in ids(update.cleared)


def test_thresholds_override_and_disable():
    cols = {"completions/clipped_ratio": [0.4] * 20}
    assert "rl.truncation" not in ids(diagnose(run_of(cols)))
    assert "rl.truncation" in ids(diagnose(run_of(cols), {"rl.truncation": {"ratio": 0.3}}))
    run = run_of({"completions/clipped_ratio": [0.9] * 20})
    assert "rl.truncation" not in ids(diagnose(run, {"rl.truncation": {"enabled": False}}))
    assert check_thresholds({"rl.nope": {}, "rl.truncation": {"bogus": 1}}) == [
        "unknown rule id in [thresholds]: 'rl.nope'",
        "unknown threshold 'bogus' for rl.truncation",
    ]


def test_role_aliases_from_config():
    cols = {"my/clip": [0.9] * 20}
    assert "rl.truncation" not in ids(diagnose(run_of(cols)))
    assert "rl.truncation" in ids(diagnose(run_of(cols), role_extra={"clip_ratio": ["my/clip"]}))


def test_warning_carries_every_field():
    w = find(diagnose(run_of({"train_other_error_count": [0.0, 1.0, 0.0]})), "rl.grader_errors")
    doc = w.to_dict()
    assert {"id", "severity", "step", "metrics", "evidence", "action"} <= set(doc)
    assert w.run == "run" and w.since == w.step == 2 and w.key == ("/runs/run", w.id)


def test_episode_logs_on_disk_feed_early_termination_and_dimensions(tmp_path):
    """The seeds' episode logs (logs/episode_<id>.json) read by the follower, end to end."""
    import json

    from rltop.core.follow import Follower

    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(160):
        step = i // 4 + 1
        late = step > 20
        doc = {
            "episode_id": f"e{i}",
            "step": step,
            "scenario": "refund",
            "turns": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
            * (2 if late else 6),
            "total_reward": 0.2 + 0.015 * step,
            "terminal_reason": "critical_error" if late and i % 2 else "resolved",
            "scores": {"D1_Empathy": 0.9 - 0.015 * step, "D2_Accuracy": 0.1 + 0.03 * step},
        }
        (logs / f"episode_e{i}.json").write_text(json.dumps(doc, indent=2))
    follower = Follower([str(tmp_path)])
    follower.read_all()
    run = follower.store.snapshot().runs[0]
    found = {w.id: w for w in diagnose(run)}
    early = found["rl.early_termination"]
    assert "critical_error" in early.evidence and "turns per episode" in early.evidence
    assert 21 <= early.step <= 31
    assert "scores/D1_Empathy" in found["rl.dimension_regression"].metrics


def test_rules_page_documents_every_rule_and_threshold():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    for rule_id, rule in RULES.items():
        assert f"### `{rule_id}`" in page, rule_id
        section = page.split(f"### `{rule_id}`", 1)[1].split("\n### ", 1)[0]
        section = " ".join(section.split())
        assert "Minimum points" in section and "Action" in section
        for name in rule.defaults:
            if name != "enabled":  # documented once for every rule
                assert f"`{name}`" in section, (rule_id, name)


def test_rules_page_is_generated_from_the_registry():
    """docs/rules.md's rule sections are the registry's (docs/make_rules.py): one source."""
    from pathlib import Path

    from rltop.core.diagnose.docs import render_page

    page = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    assert render_page(page) == page, "run: python docs/make_rules.py"
    for rule_id, rule in RULES.items():
        if rule.about:
            assert " ".join(rule.about.split()[:6]) in " ".join(page.split()), rule_id


# -- issue #13: onsets, baselines, hysteresis ------------------------------------------------
def test_roles_entropy_loss_and_kl_to_the_reference_first():
    from rltop.core.roles import resolve

    roles = resolve(["actor/entropy_loss", "actor/ppo_kl", "actor/kl_loss"])
    assert roles["entropy"] == "actor/entropy_loss"
    assert roles["kl"] == "actor/kl_loss"
    assert resolve(["actor/ppo_kl"])["kl"] == "actor/ppo_kl"  # the only KL logged


def test_entropy_rules_run_on_verl_entropy_loss():
    entropy = np.where(t < 100, 1.0, 0.02)
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "actor/entropy_loss": list(entropy)}
    w = find(diagnose(run_of(cols)), "rl.entropy_collapse")
    assert w is not None and 100 <= w.step <= 103


def test_kl_printed_with_three_decimals_is_no_spike():
    """verl console logs: KL 0.000 with a few 0.001 blips is below the print precision."""
    for seed in range(20):
        rng = np.random.default_rng(seed)
        kl = np.where(rng.random(N) < 0.3, 0.001, 0.0)
        cols = {"reward": noisy(0.3 + t * 0.001, 0.02, seed), "actor/kl_loss": list(kl)}
        assert "rl.kl_spike" not in ids(diagnose(run_of(cols))), seed


def test_kl_spike_from_below_the_print_precision_names_it():
    kl = np.round(np.where(t < 120, 0.0, np.abs(noisy(np.full(N, 0.021), 0.002))), 3)
    cols = {"reward": noisy(0.3 + t * 0.001, 0.02), "actor/kl_loss": list(kl)}
    w = find(diagnose(run_of(cols)), "rl.kl_spike")  # steps start at 1: the jump is at 121
    assert w is not None and 121 <= w.step <= 123 and "below the print precision" in w.evidence


def test_persistent_kl_spike_is_not_forgotten_while_watching():
    """KL jumps 14x and stays >= 10x: still reported at every later evaluation, same onset."""
    kl = noisy(np.where(t < 100, 0.01, 0.14), 0.0005)
    rows = rows_from({"reward": noisy(0.3 + t * 0.001, 0.02), "actor/kl_loss": kl})
    builder, diag = RunBuilder(), Diagnoser(stalled=False)
    onsets = []
    for i in range(0, N, 5):
        builder.add(rows[i : i + 5])
        w = find(diag.update(builder.store.snapshot()).active, "rl.kl_spike")
        if rows[i]["step"] > 110:
            assert w is not None, rows[i]["step"]
            onsets.append(w.step)
    assert len(set(onsets)) == 1 and 101 <= onsets[0] <= 103  # the jump is at step 101


def test_saturated_wins_over_stagnant():
    cols = {"reward": noisy(np.full(N, 0.95), 0.01), "pass@k": noisy(np.full(N, 0.5), 0.01)}
    found = ids(diagnose(run_of(cols)))
    assert "rl.reward_saturated" in found and "rl.stagnant" not in found


def test_stagnant_not_when_the_reward_more_than_doubled():
    """A run cut short (60 steps) while a sparse reward climbs from 0.05 to 0.16, too noisy for
    the rise to be significant: it more than doubled, so it is not stagnant."""
    n = np.arange(60)
    for seed in range(5):
        reward = noisy(0.05 + 0.11 * n / 60, 0.05, seed)
        cols = {"reward": reward, "pass@k": noisy(np.full(60, 0.4), 0.01, seed)}
        assert "rl.stagnant" not in ids(diagnose(run_of(cols))), seed


def test_flickering_condition_keeps_one_onset():
    """A share hovering at its threshold from step 100: one warning, dated 100, for every seed."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        share = np.where(t < 100, 0.2, 0.54 + rng.normal(0, 0.06, N))  # from step 101
        w = find(diagnose(run_of({"frac_reward_zero_std": list(share)})), "rl.zero_variance")
        assert w is not None and abs(w.step - 101) <= 5, (seed, w and w.step)


def test_hysteresis_keeps_a_warning_through_a_short_dip_and_clears_after_a_long_one():
    clip = np.where(t < 50, 0.1, 0.8)
    short = clip.copy()
    short[120:124] = 0.1  # 4 points below: flicker
    w = find(diagnose(run_of({"response_length/clip_ratio": list(short)})), "rl.truncation")
    assert w is not None and w.step <= 53
    long = clip.copy()
    long[150:] = 0.1  # 50 points below: cleared
    assert "rl.truncation" not in ids(diagnose(run_of({"response_length/clip_ratio": list(long)})))


def test_decline_onset_does_not_lag_with_run_length():
    """The same fall (0.30 over 150 steps, noise 0.02) after short and long plateaus: dated from
    the peak within max(5 points, 5%) whatever the run length."""
    for plateau in (100, 400, 1600):
        steps = np.arange(1, plateau + 151)
        peak = plateau
        reward = 0.7 - np.where(steps > peak, 0.3 * (steps - peak) / 150, 0)
        w = find(diagnose(run_of({"reward": noisy(reward, 0.02)})), "rl.reward_declining")
        assert w is not None, plateau
        assert abs(w.step - peak) <= max(5, 0.05 * len(steps)), (plateau, w.step)


def test_loop_example_in_evidence_is_inert_text():
    """The quoted completion is the model's text: no escapes or control characters get through."""
    rows = []
    for step in range(1, 31):
        for k in range(8):
            loop = "\x1b[31mAgain \x07the same eight words here said once more. " * 12
            text = loop if k < 4 else f"answer {step} {k} is computed plainly here"
            rows.append({"step": step, "group": f"{step}-{k // 4}", "completion": text})
    run = RunBuilder().add_rollouts(pl.DataFrame(rows)).snapshot()
    w = find(diagnose(run), "rl.repetition")
    assert w is not None and "\x1b" not in w.evidence and "\x07" not in w.evidence
    assert "Again" in w.evidence
