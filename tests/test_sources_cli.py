"""``rltop sources``: every file of the real fixtures is explained (read as a format, or why not)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rltop.cli import main


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_every_fixture_file_is_explained(fixtures: Path, capsys):
    pytest.importorskip("tensorboard.compat.proto.event_pb2", reason="needs rltop[tensorboard]")
    pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs rltop[wandb]")
    assert main(["sources", "--json", str(fixtures)]) == 0
    report = json.loads(capsys.readouterr().out)
    explained = {}
    for src in report["sources"]:
        explained[src["path"]] = src["format"]
    for item in report["unrecognized"] + report["not_read"]:
        assert item["reason"], item
        explained[item["path"]] = item["reason"]
    files = [str(p) for p in _all_files(fixtures)]
    assert sorted(explained) == files
    by_name = {os.path.relpath(p, fixtures): r for p, r in explained.items()}
    assert by_name["tensorboard/events.out.tfevents.1585769947.cvp"] == "tensorboard"
    assert by_name["wandb/run-20241014_021059-7boci60w/run-7boci60w.wandb"] == "wandb"
    assert by_name["wandb/run-20241014_021059-7boci60w/files/config.yaml"] == "wandb-config"
    assert by_name["trl/trainer_state_grpo_chaos_economy.json"] == "hf-trainer-state"
    assert by_name["tinker/metrics.jsonl"] == "tinker-metrics"
    assert by_name["openai/historygpt_step_metrics.csv"] == "openai-results-csv"
    assert by_name["verl/filelogger_verl_examples_gsm8k.jsonl"] == "verl-filelogger"
    assert by_name["verl/rollout_dump_sdpo_step1_first3.jsonl"] == "rollouts-jsonl"
    assert by_name["tinker/config.json"].startswith("JSON document, not a metric stream")
    assert "HTML report" in by_name["tinker/train_iteration_000007.html"]
    assert (
        "final values only"
        in by_name["wandb/run-20241014_021059-7boci60w/files/wandb-summary.json"]
    )
    rows = {os.path.relpath(s["path"], fixtures): s["rows"] for s in report["sources"]}
    assert rows["tensorboard/events.out.tfevents.1585769947.cvp"] == 17
    assert rows["wandb/run-20241014_021059-7boci60w/run-7boci60w.wandb"] == 51
    assert rows["trl/trainer_state_grpo_chaos_economy.json"] == 40


def test_text_report(fixtures: Path, capsys):
    assert main(["sources", str(fixtures / "wandb")]) == 0
    out = capsys.readouterr().out
    assert "run run-20241014_021059-7boci60w" in out
    assert "wandb (metrics): 51 rows" in out
    assert "Not recognised:" in out
    assert "W&B summary: final values only" in out


def test_skipped_lines_are_listed_with_reasons(tmp_path: Path, capsys):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\nnot json\n{"loss": 1}\n')
    (tmp_path / "notes.md").write_text("hello")
    assert main(["sources", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "jsonl-metrics (metrics): 1 rows, 2 skipped" in out
    assert "skipped x1: no step field" in out
    assert "notes.md" in out and "not a file type rltop reads (.md)" in out


def test_nothing_read_and_missing_paths(tmp_path: Path, capsys):
    (tmp_path / "readme.txt").write_text("nothing here")
    assert main(["sources", str(tmp_path)]) == 1
    assert "Nothing was read" in capsys.readouterr().out
    assert main(["sources", str(tmp_path / "nope")]) == 2
