"""Rollouts logged as W&B Tables (``files/media/table/**/*.table.json``): verl's wide
``val/generations`` unpivoted, TRL's ``completions`` table, a hand-logged ``rollout_examples``
table; each read as the run's rollouts, once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from rltop.commands.sources import collect
from rltop.core.formats.registry import sniff

from conftest import read_snapshot

TABLES = Path(__file__).resolve().parent / "fixtures" / "wandb_tables"
RUN = "wandb/run-20250301_101500-k3x9v2aa"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    shutil.copytree(TABLES / "wandb", tmp_path / "wandb")
    return tmp_path


def _rollouts(root: Path) -> pl.DataFrame:
    (run,) = read_snapshot(root).runs
    assert run.name == RUN  # the tables belong to the run folder, not to files/media/table/
    return run.rollouts


def test_verl_val_generations_are_unpivoted_and_read_once(run_dir: Path):
    rows = _rollouts(run_dir).filter(pl.col("table") == "generations").sort("step", "sample")
    # step 0 logged twice (the table is re-logged whole at step 10): counted once
    assert rows.select("step", "sample", "reward").rows() == [
        (0, 1, 1.0),
        (0, 2, 0.0),
        (10, 1, 1.0),
        (10, 2, 1.0),
    ]
    assert set(rows.get_column("split")) == {"valid"}
    first = rows.row(0, named=True)
    assert first["prompt"].startswith("<|im_start|>user\nNatalia")
    assert first["completion"].endswith("#### 72")
    assert first["group"] == first["prompt"]


def test_trl_completions_table(run_dir: Path):
    rows = _rollouts(run_dir).filter(pl.col("table") == "completions").sort("reward")
    assert rows.height == 4
    assert rows.get_column("step").to_list() == [5, 5, 5, 5]  # TRL logs the step as a string
    assert rows.get_column("reward").to_list() == [0.0, 2.0, 2.0, 2.0]  # sum of the functions
    assert set(rows.columns) >= {"accuracy_reward", "format_reward", "advantage"}
    assert set(rows.get_column("split")) == {"train"}


def test_hand_logged_rollout_examples_table(run_dir: Path):
    rows = _rollouts(run_dir).filter(pl.col("table") == "rollout_examples").sort("reward")
    assert rows.select("step", "reward", "prompt").rows() == [
        (20, 0.5, "Write a haiku about rain."),
        (20, 0.9, "Write a haiku about snow."),
    ]
    assert rows.get_column("completion").to_list()[1].startswith("Snow hushes")


def test_sources_explain_every_table(run_dir: Path):
    report = collect([str(run_dir)])
    formats = {Path(s["path"]).name.split("_")[0]: s for s in report["sources"]}
    assert {s["format"] for s in report["sources"]} == {"wandb-table"}
    newer = next(s for s in report["sources"] if "generations_10_" in s["path"])
    assert newer["rows"] == 2 and newer["ignored"] == 1
    assert list(newer["ignore_reasons"]) == [
        "table row logged again (already read from the table's earlier file)"
    ]
    assert "completions" in formats
    (other,) = report["unrecognized"]
    assert "eval_summary" in other["path"]
    assert "without prompt/response columns (task, accuracy)" in other["reason"]


def test_a_table_outside_media_is_not_claimed(tmp_path: Path):
    path = tmp_path / "x.table.json"
    path.write_text(json.dumps({"columns": ["prompt", "response", "reward"], "data": []}))
    found = sniff(str(path), path.read_bytes())
    assert found.parser is None or found.parser.format != "wandb-table"
