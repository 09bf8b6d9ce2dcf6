"""Pilot tests of the rough edges of issue #15, at 80×24 and 160×48 (the numbered items)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rltop.core import roles
from rltop.ui.app import make_app
from rltop.ui.widgets.metric_grid import MetricGrid

from uihelp import loaded, wait_for

SIZES = [(80, 24), (160, 48)]

#: what a practitioner looks at first, per trainer (FORMATS.md key names)
KEY_ROWS = {
    "verl": (
        [
            "critic/score/mean", "val-core/openai/gsm8k/acc/mean@1", "actor/pg_loss",
            "actor/entropy", "actor/kl_loss", "actor/ppo_kl", "response_length/mean",
            "response_length/clip_ratio", "actor/pg_clipfrac", "actor/grad_norm", "actor/lr",
            "timing_s/gen",
        ],
        {"critic/score/mean", "actor/pg_loss", "actor/entropy", "actor/kl_loss", "actor/ppo_kl",
         "response_length/mean", "response_length/clip_ratio", "actor/pg_clipfrac",
         "actor/grad_norm", "val-core/openai/gsm8k/acc/mean@1"},
    ),
    "verl (older entropy name)": (
        ["critic/score/mean", "actor/entropy_loss", "actor/pg_loss"],
        {"critic/score/mean", "actor/entropy_loss", "actor/pg_loss"},
    ),
    "trl grpo": (
        ["reward", "reward_std", "kl", "entropy", "loss", "grad_norm", "learning_rate",
         "completions/mean_length", "completions/clipped_ratio", "frac_reward_zero_std",
         "clip_ratio/region_mean", "eval_reward"],
        {"reward", "kl", "entropy", "loss", "grad_norm", "completions/mean_length",
         "completions/clipped_ratio", "frac_reward_zero_std", "clip_ratio/region_mean",
         "eval_reward"},
    ),
    "tinker": (
        ["env/all/reward/total", "test/env/all/reward/total", "env/all/pass_rate",
         "optim/entropy", "optim/kl_sample_train_v1", "env/all/ac_tokens_per_turn", "optim/lr"],
        {"env/all/reward/total", "test/env/all/reward/total", "env/all/pass_rate",
         "optim/entropy", "optim/kl_sample_train_v1", "env/all/ac_tokens_per_turn"},
    ),
    "art": (
        ["train/reward", "val/reward", "loss/train", "loss/entropy", "loss/kl_div",
         "loss/grad_norm"],
        {"train/reward", "val/reward", "loss/train", "loss/entropy", "loss/kl_div",
         "loss/grad_norm"},
    ),
    "openai": (
        ["train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"],
        {"train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"},
    ),
    "openai legacy": (
        ["training_loss", "training_token_accuracy", "validation_loss",
         "validation_token_accuracy", "elapsed_tokens"],
        {"training_loss", "training_token_accuracy", "validation_loss",
         "validation_token_accuracy"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("trainer", sorted(KEY_ROWS))
def test_item3_key_row_of_every_trainer(trainer: str) -> None:
    names, expected = KEY_ROWS[trainer]
    resolved = roles.resolve(names)
    key = {n for r, n in resolved.items() if r in roles.KEY_ROLES}
    assert expected <= key, expected - key


@pytest.mark.parametrize("size", SIZES)
async def test_item3_verl_key_metrics_on_the_dashboard(tmp_path: Path, fixtures, size) -> None:
    shutil.copy(fixtures / "verl" / "filelogger_verl_examples_gsm8k.jsonl", tmp_path / "run.jsonl")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await wait_for(pilot, lambda: len(grid.cards) > 10)
        key = [c.name for c in grid.cards if c.group == "key metrics"]
        for name in ("actor/pg_loss", "actor/kl_loss", "actor/ppo_kl", "actor/grad_norm"):
            assert name in key
        assert key[0] == "critic/score/mean"
