"""Runs named and split as users know them: whole-run files in one folder are separate runs,
legacy OpenAI results are recognised with their roles, W&B's wall-clock columns are the time
axis, ``rltop check`` prints each run's own folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rltop.cli import main
from rltop.core import roles

from conftest import read_snapshot

LEGACY = (
    "step,elapsed_tokens,elapsed_examples,training_loss,training_sequence_accuracy,"
    "training_token_accuracy,validation_loss,validation_sequence_accuracy,validation_token_accuracy\n"
    "1,2048,4,1.91,0.0,0.52,,,\n"
    "2,4096,8,1.42,0.25,0.61,1.55,0.0,0.58\n"
    "3,6144,12,1.01,0.25,0.70,,,\n"
)


def test_legacy_openai_fine_tunes_results_csv(tmp_path: Path):
    (tmp_path / "ft-abc").mkdir()
    (tmp_path / "ft-abc" / "results.csv").write_text(LEGACY)
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    (src,) = run.sources
    assert src.format == "openai-legacy-results-csv"
    assert run.series("training_loss") == ([1, 2, 3], [1.91, 1.42, 1.01])
    found = roles.resolve(run.metric_names)
    assert found["train_loss"] == "training_loss"
    assert found["valid_loss"] == "validation_loss"
    assert found["train_accuracy"] in ("training_token_accuracy", "training_sequence_accuracy")
    assert found["valid_accuracy"] in ("validation_token_accuracy", "validation_sequence_accuracy")


def test_two_openai_results_in_one_folder_are_two_runs(tmp_path: Path, fixtures: Path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    shutil.copyfile(fixtures / "openai" / "historygpt_step_metrics.csv", jobs / "ftjob-a.csv")
    (jobs / "ftjob-b.csv").write_text(
        "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,2.0,0.4,,\n"
    )
    snap = read_snapshot(tmp_path)
    names = sorted(r.name for r in snap.runs)
    assert names == ["jobs/ftjob-a", "jobs/ftjob-b"]
    by_name = {r.name: r for r in snap.runs}
    assert by_name["jobs/ftjob-b"].metrics.height == 1
    assert by_name["jobs/ftjob-a"].metrics.height == 59
    # one results file alone is its folder's run, as before
    solo = tmp_path / "solo"
    solo.mkdir()
    (solo / "step_metrics.csv").write_text("step,train_loss\n1,2.0\n")
    assert [r.name for r in read_snapshot(solo).runs] == ["solo"]


def _state(steps: int, loss: float) -> str:
    history = [{"step": s, "loss": loss / s, "learning_rate": 1e-5} for s in range(1, steps + 1)]
    return json.dumps({"global_step": steps, "log_history": history})


def test_several_trainer_states_in_one_folder_are_separate_runs(tmp_path: Path):
    (tmp_path / "exp_lr1e-5_trainer_state.json").write_text(_state(4, 2.0))
    (tmp_path / "exp_lr3e-5_trainer_state.json").write_text(_state(6, 3.0))
    snap = read_snapshot(tmp_path)
    steps = {r.name: r.metrics.height for r in snap.runs}
    assert steps == {"exp_lr1e-5_trainer_state": 4, "exp_lr3e-5_trainer_state": 6}


def test_checkpoint_copies_still_merge_into_their_run(tmp_path: Path):
    out = tmp_path / "out"
    (out / "checkpoint-2").mkdir(parents=True)
    (out / "trainer_state.json").write_text(_state(4, 2.0))
    (out / "checkpoint-2" / "trainer_state.json").write_text(_state(2, 2.0))
    snap = read_snapshot(tmp_path)
    assert [r.name for r in snap.runs] == ["out"]


def test_wandb_wall_clock_columns_are_the_time_axis_not_metrics(fixtures: Path):
    pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs rltop[wandb]")
    (run,) = read_snapshot(fixtures / "wandb").runs
    assert "_runtime" in run.metrics.columns and "_timestamp" in run.metrics.columns
    assert "_runtime" not in run.metric_names and "_timestamp" not in run.metric_names
    assert "train/loss" in run.metric_names


def test_check_prints_each_runs_own_folder(tmp_path: Path, capsys):
    for name in ("run-a", "run-b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in range(1, 6))
        )
    main(["check", "--json", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert sorted(r["path"] for r in report["runs"]) == [
        str(tmp_path / "run-a"),
        str(tmp_path / "run-b"),
    ]
    main(["check", str(tmp_path)])
    text = capsys.readouterr().out
    assert f"  {tmp_path / 'run-a'}\n" in text and f"  {tmp_path / 'run-b'}\n" in text
