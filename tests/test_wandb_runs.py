"""W&B run folders as users know them: named by display name, listed with 0 steps and their state
when nothing was logged, ``latest-run`` read once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rltop.commands.sources import collect, render

from conftest import read_snapshot

pb = pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs rltop[wandb]")

from rltop.core.formats.wandb import frame_records  # noqa: E402


def _history(step: int, **values: float) -> bytes:
    record = pb.Record()
    for key, value in values.items():
        item = record.history.item.add()
        item.key = key
        item.value_json = json.dumps(value)
    item = record.history.item.add()
    item.key = "_step"
    item.value_json = str(step)
    return record.SerializeToString()


def _run_record(run_id: str, display_name: str = "", config: dict | None = None) -> bytes:
    record = pb.Record()
    record.run.run_id = run_id
    record.run.project = "grpo"
    if display_name:
        record.run.display_name = display_name
    for key, value in (config or {}).items():
        item = record.run.config.update.add()
        item.key = key
        item.value_json = json.dumps({"value": value})
    return record.SerializeToString()


def _exit(code: int) -> bytes:
    record = pb.Record()
    record.exit.exit_code = code
    return record.SerializeToString()


def _run_dir(root: Path, run_id: str, records: list[bytes]) -> Path:
    folder = root / "wandb" / f"run-20250101_120000-{run_id}"
    (folder / "files").mkdir(parents=True)
    (folder / f"run-{run_id}.wandb").write_bytes(frame_records(records))
    return folder


def test_runs_are_named_by_display_name(tmp_path: Path):
    _run_dir(tmp_path, "aaa111", [_run_record("aaa111", "qwen-grpo-lr1e-6"), _history(1, loss=1.0)])
    _run_dir(
        tmp_path,
        "bbb222",
        [_run_record("bbb222", config={"run_name": "from-trainer-config"}), _history(1, loss=2.0)],
    )
    _run_dir(tmp_path, "ccc333", [_run_record("ccc333", "qwen-grpo-lr1e-6"), _history(1, loss=3.0)])
    names = sorted(r.name for r in read_snapshot(tmp_path).runs)
    assert names == [
        "wandb/from-trainer-config",
        "wandb/qwen-grpo-lr1e-6",
        "wandb/qwen-grpo-lr1e-6 (run-20250101_120000-ccc333)",
    ]


def test_a_run_without_history_is_a_run_with_its_state(tmp_path: Path):
    _run_dir(tmp_path, "crash1", [_run_record("crash1", "crashed-early"), _exit(1)])
    _run_dir(tmp_path, "live22", [_run_record("live22", "still-starting")])
    # stopped before W&B wrote a log at all: only the files W&B writes first
    bare = tmp_path / "wandb" / "run-20250101_130000-bare33"
    (bare / "files").mkdir(parents=True)
    (bare / "files" / "wandb-metadata.json").write_text(
        json.dumps({"startedAt": "2025-01-01T13:00:00", "program": "train.py", "host": "gpu1"})
    )
    (bare / "files" / "output.log").write_text("Traceback (most recent call last):\nOOM\n")
    report = collect([str(tmp_path)])
    runs = {r["name"]: r for r in report["runs"]}
    assert runs["wandb/crashed-early"]["steps"] == 0
    assert runs["wandb/crashed-early"]["state"] == "failed (exit code 1)"
    assert runs["wandb/still-starting"]["state"].startswith("no exit record")
    assert runs["wandb/run-20250101_130000-bare33"]["state"].startswith("no history")
    assert not [u for u in report["unrecognized"] if "wandb-metadata.json" in u["path"]]
    text = render(report)
    assert "run wandb/crashed-early  (0 steps; " in text and "state: failed (exit code 1)" in text


def test_latest_run_is_the_run_it_points_to(tmp_path: Path):
    folder = _run_dir(tmp_path, "aaa111", [_run_record("aaa111", "named"), _history(1, loss=1.0)])
    os.symlink(folder.name, tmp_path / "wandb" / "latest-run")
    snap = read_snapshot(tmp_path / "wandb", tmp_path / "wandb" / "latest-run")
    assert len(snap.runs) == 1 and len(snap.sources) == 1
    (alone,) = read_snapshot(tmp_path / "wandb" / "latest-run").runs
    assert alone.run_id == str(folder) and alone.name == "named"


def test_the_fixture_keeps_its_folder_name_and_is_finished(fixtures: Path, tmp_path: Path):
    shutil.copytree(fixtures / "wandb", tmp_path / "wandb")
    (run,) = read_snapshot(tmp_path).runs
    assert run.name == "wandb/run-20241014_021059-7boci60w"  # no display name in its log
    assert run.config["wandb/state"] == "finished"
