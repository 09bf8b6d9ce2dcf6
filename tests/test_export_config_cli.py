"""rltop export (CSV/Parquet, never into the logs by default) and rltop config, through the CLI."""

from __future__ import annotations

import json

import polars as pl

from rltop.cli import main

from uihelp import demo_folder


def test_export_csv_and_parquet(tmp_path, capsys):
    logs = demo_folder(tmp_path / "logs", steps=12)
    out = tmp_path / "out"
    assert main(["export", str(logs), "--out", str(out)]) == 0
    frame = pl.read_csv(out / "demo-grpo.metrics.csv")
    assert frame.height == 12 and "critic/score/mean" in frame.columns
    assert main(["export", str(logs), "--parquet", "--rollouts", "--out", str(out)]) == 0
    rollouts = pl.read_parquet(out / "demo-grpo.rollouts.parquet")
    assert rollouts.height == 12 * 32 and rollouts["completion"].null_count() == 0
    assert not any(c.startswith("_") for c in rollouts.columns)
    assert "12 steps" in capsys.readouterr().out


def test_export_default_never_writes_into_the_logs(tmp_path, monkeypatch):
    logs = demo_folder(tmp_path / "logs", steps=3)
    monkeypatch.chdir(logs)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    before = sorted(p.name for p in logs.rglob("*"))
    assert main(["export", "."]) == 0
    assert sorted(p.name for p in logs.rglob("*")) == before
    assert (tmp_path / "home" / "rltop-export" / "demo-grpo.metrics.csv").is_file()


def test_export_nothing_found(tmp_path):
    assert main(["export", str(tmp_path)]) == 3


def test_config_shows_path_values_and_origins(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.toml"
    config.write_text('smoothing = 0.8\n[keys]\n"dashboard.filter" = "f"\n')
    monkeypatch.setenv("RLTOP_CONFIG", str(config))
    monkeypatch.setenv("RLTOP_THEME", "rltop-light")
    assert main(["config", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config_file"] == str(config) and doc["exists"]
    assert doc["settings"]["smoothing"] == 0.8 and doc["origin"]["smoothing"] == "config file"
    assert doc["settings"]["theme"] == "rltop-light" and doc["origin"]["theme"] == "environment"
    assert doc["origin"]["poll"] == "default"
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert f"config file: {config}" in text and "(environment)" in text
