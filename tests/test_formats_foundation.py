"""Every foundation-format fixture in shared/fixtures is read with its real values."""

from __future__ import annotations

import math

import pytest

from conftest import read_snapshot


def test_verl_filelogger_fixture(fixtures):
    snap = read_snapshot(fixtures / "verl" / "filelogger_verl_examples_gsm8k.jsonl")
    (run,) = snap.runs
    (src,) = run.sources
    assert src.format == "verl-filelogger"
    assert src.skipped == 0
    m = run.metrics
    assert m.get_column("step").to_list() == [0, 1, 2, 3]
    # step 0 holds validation-before-training only
    row0 = m.filter(m["step"] == 0).row(0, named=True)
    assert row0["val-core/openai/gsm8k/acc/mean@1"] == 0.0
    assert row0["val-aux/num_turns/mean"] == 2.0
    assert row0["critic/vf_loss"] is None
    assert run.latest("critic/vf_loss") is not None
    row1 = m.filter(m["step"] == 1).row(0, named=True)
    assert row1["critic/vf_loss"] == pytest.approx(1.9340452780015767)
    assert row1["actor/pg_loss"] == pytest.approx(0.1204916136821339)
    assert row1["global_seqlen/mean"] == pytest.approx(21798.75)
    # null in later steps stays null, it does not erase step 1's value
    assert m.filter(m["step"] == 3)["actor/pg_loss"][0] is None
    # strings are kept as text values, not dropped and not charted
    assert run.text_metrics["resize/mode"] == "schedule"
    assert "resize/mode" not in m.columns


def test_verl_rollout_dump_fixture(fixtures):
    snap = read_snapshot(fixtures / "verl" / "rollout_dump_sdpo_step1_first3.jsonl")
    (run,) = snap.runs
    r = run.rollouts
    assert r.height == 3
    assert r.get_column("step").to_list() == [1, 1, 1]
    assert r.get_column("reward").to_list() == [0.0, 0.0, 1.0]
    assert r.get_column("completion")[2].startswith(
        "Thought: I need to use the parseExpression tool"
    )
    assert r.get_column("prompt")[0].startswith("system\nYou are Qwen")
    assert r.get_column("acc").to_list() == [0.0, 0.0, 1.0]
    assert "gts" in r.columns and "feedback" in r.columns
    # derived per-step stats: the three share one prompt? no: three different tasks
    assert run.latest("rollouts/reward_mean") == pytest.approx(1 / 3)
    assert run.latest("rollouts/pass@k") == pytest.approx(1 / 3)
    assert run.latest("rollouts/count") == 3


def test_tinker_metrics_fixture(fixtures):
    snap = read_snapshot(fixtures / "tinker" / "metrics.jsonl")
    (run,) = snap.runs
    assert run.sources[0].format == "tinker-metrics"
    m = run.metrics
    assert m.height == 7
    assert m.get_column("step").to_list() == list(range(7))
    first = m.row(0, named=True)
    assert first["env/all/reward/total"] == pytest.approx(0.5763577498124832)
    assert first["test/env/all/reward/total"] == pytest.approx(0.6097216080871479)
    assert first["optim/lr"] == pytest.approx(4e-05)


def test_trainer_state_fixture(fixtures):
    snap = read_snapshot(fixtures / "trl" / "trainer_state_grpo_chaos_economy.json")
    (run,) = snap.runs
    assert run.sources[0].format == "hf-trainer-state"
    m = run.metrics
    assert m.height == 40
    assert m.get_column("step").to_list() == list(range(5, 201, 5))
    first, last = m.row(0, named=True), m.row(-1, named=True)
    assert first["reward"] == pytest.approx(-0.09811544418334961)
    assert first["completions/clipped_ratio"] == pytest.approx(0.9)
    assert last["reward"] == pytest.approx(-0.48682005107402804)
    assert last["completions/mean_length"] == 512.0
    assert last["rewards/pnl_reward_fn/mean"] == pytest.approx(-0.8968200325965882)
    assert run.config["trainer_state/global_step"] == 200


def test_openai_results_csv_fixture(fixtures):
    snap = read_snapshot(fixtures / "openai" / "historygpt_step_metrics.csv")
    (run,) = snap.runs
    assert run.sources[0].format == "openai-results-csv"
    m = run.metrics
    assert m.height == 59
    assert set(m.columns) == {
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    }
    first = m.row(0, named=True)
    assert first == {
        "step": 1,
        "train_loss": 1.42133,
        "train_accuracy": 0.69913,
        "valid_loss": 1.47897,
        "valid_mean_token_accuracy": 0.67694,
    }


def test_whole_fixture_tree_groups_runs(fixtures):
    snap = read_snapshot(fixtures)
    names = {r.name for r in snap.runs}
    assert {"verl", "tinker", "trl", "openai"} <= names
    verl = next(r for r in snap.runs if r.name == "verl")
    assert verl.rollouts.height == 3 and verl.metrics.height == 4
    # nothing in the fixtures is skipped as broken by the foundation readers
    for src in snap.sources:
        assert src.skipped == 0, (src.path, dict(src.skip_reasons))
    # files not read are listed with a reason
    assert all(reason for _path, reason in snap.unrecognized)


def test_nan_values_survive(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"step": 1, "loss": NaN, "reward": Infinity}\n{"step": 2, "loss": 0.5, "reward": -Infinity}\n'
    )
    (run,) = read_snapshot(tmp_path).runs
    losses = run.metrics.get_column("loss").to_list()
    assert math.isnan(losses[0]) and losses[1] == 0.5
    assert run.metrics.get_column("reward").to_list() == [math.inf, -math.inf]
