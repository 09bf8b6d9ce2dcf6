"""The runs table and its filter language, run configs and their diff (headless)."""

from __future__ import annotations

import pytest

from rltop.core.runconfig import config_diff, read_run_config
from rltop.core.runs import runs_table, sparkline
from rltop.core.search import QueryError
from runshelp import make_runs

from conftest import read_snapshot


@pytest.fixture
def table(tmp_path):
    snap = read_snapshot(make_runs(tmp_path))
    return runs_table(snap)


def names(rows) -> list[str]:
    return [r.name for r in rows]


def test_rows_have_format_steps_key_metric_and_trend(table):
    assert len(table.rows) == 6
    row = next(r for r in table.rows if r.name == "grpo-5")
    assert row.format == "jsonl-metrics" and row.steps == 14
    assert row.key == "reward" and row.last == pytest.approx(0.5 + 0.14)
    assert row.trend == sparkline([0.5 + 0.01 * s for s in range(15)])
    assert row.trend[0] == "▁" and row.trend[-1] == "█" and len(row.trend) == 15
    assert row.state == "live"


def test_filter_by_name_config_state_and_metric(table):
    assert names(table.select("name~grpo")) == ["grpo-1", "grpo-3", "grpo-5"]
    # lr: a tinker learning_rate, an HF learning_rate and a Hydra .../optim/lr alike
    assert names(table.select("lr>=3e-6")) == ["grpo-3", "grpo-5", "sft-2", "sft-4"]
    assert names(table.select("name~grpo lr>=3e-6 state=live reward>0.55")) == ["grpo-5"]
    assert names(table.select("actor_rollout_ref/rollout/n>5")) == ["sft-4"]
    assert names(table.select("adv_estimator=grpo")) == ["grpo-1", "sft-4"]
    assert names(table.select("sft")) == ["sft-0", "sft-2", "sft-4"]  # free text: the name


def test_sort(table):
    assert names(table.select("sort:-steps"))[:2] == ["grpo-5", "sft-4"]
    assert names(table.select("", sort="last", descending=False))[0] == "sft-0"


def test_bad_keys_say_why(table):
    with pytest.raises(QueryError, match="unknown key 'nope'"):
        table.select("nope>1")
    with pytest.raises(QueryError, match="is a number"):
        table.select("steps>many")


def test_run_configs_from_each_trainer(tmp_path):
    make_runs(tmp_path)
    hydra = read_run_config(str(tmp_path / "grpo-1"))
    assert hydra.values["actor_rollout_ref/actor/optim/lr"] == pytest.approx(2e-6)
    assert hydra.sources == (str(tmp_path / "grpo-1" / ".hydra" / "config.yaml"),)
    assert read_run_config(str(tmp_path / "sft-0")).values["model_name"] == "qwen"
    assert read_run_config(str(tmp_path / "sft-2")).values["seed"] == 2


def test_wandb_config_yaml_is_unwrapped(fixtures):
    run = next((fixtures / "wandb").glob("run-*"))
    found = read_run_config(str(run))
    assert found.sources and found.values
    assert not any(k.startswith("_wandb") for k in found.values)
    assert not any(k.endswith("/value") for k in found.values)


def test_config_diff_keeps_only_differing_keys():
    diff = config_diff(
        {
            "a": {"lr": 1e-5, "model": "q", "seed": 1, "opt/beta": 0.9},
            "b": {"lr": 2e-5, "model": "q", "seed": 1},
            "c": {"lr": 1e-5, "model": "q", "seed": 2},
        }
    )
    assert diff == [
        ("lr", [1e-5, 2e-5, 1e-5]),
        ("opt/beta", [0.9, None, None]),
        ("seed", [1, 1, 2]),
    ]
