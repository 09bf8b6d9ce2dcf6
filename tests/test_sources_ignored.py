"""``rltop sources`` says why every ignored line or record was ignored, on every real fixture and
on a verl console log; a text quoting one example log line is not read as a console log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rltop.cli import main
from rltop.commands.sources import collect, render

FIXTURE_DIRS = ["openai", "tensorboard", "tinker", "trl", "verl", "wandb"]


def _assert_every_ignored_has_reasons(report: dict) -> None:
    for src in report["sources"]:
        reasons = src["ignore_reasons"]
        assert sum(reasons.values()) == src["ignored"], src
        assert "not classified by the reader" not in reasons, src


@pytest.mark.parametrize("name", FIXTURE_DIRS)
def test_ignored_counts_have_reasons_on_every_fixture(fixtures: Path, name: str, capsys):
    report = collect([str(fixtures / name)])
    _assert_every_ignored_has_reasons(report)
    assert main(["sources", "--json", str(fixtures / name)]) in (0, 1)
    _assert_every_ignored_has_reasons(json.loads(capsys.readouterr().out))
    text = render(report)
    for src in report["sources"]:
        for reason, count in src["ignore_reasons"].items():
            assert f"ignored x{count}: {reason}" in text


def test_wandb_and_tensorboard_records_are_named(fixtures: Path):
    pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs rltop[wandb]")
    pytest.importorskip("tensorboard.compat.proto.event_pb2", reason="needs rltop[tensorboard]")
    report = collect([str(fixtures / "wandb"), str(fixtures / "tensorboard")])
    by_format = {s["format"]: s for s in report["sources"]}
    wandb = by_format["wandb"]["ignore_reasons"]
    assert wandb["W&B stats record (system metrics: GPU, CPU, memory)"] > 0
    assert any("summary record" in r for r in wandb)
    tb = by_format["tensorboard"]["ignore_reasons"]
    assert tb["TensorBoard graph_def event (not a summary)"] == 1


VERL_LOG = (
    "INFO 10-14 02:10:59 starting trainer\n"
    "\n"
    "Training Progress:   1%|          | 1/100 [00:05<08:15,  5.00s/it]\r"
    "\x1b[36m(TaskRunner pid=123)\x1b[0m step:1 - critic/score/mean:0.25 - actor/lr:1e-06\n"
    "(WorkerDict pid=456) WARNING: something odd\n"
    "\x1b[36m(TaskRunner pid=123)\x1b[0m step:2 - critic/score/mean:0.5 - actor/lr:1e-06\n"
    "Traceback (most recent call last):\n"
    '  File "x.py", line 1, in <module>\n'
    "ValueError: not fatal\n"
    "{'data': {'train_batch_size': 8}}\n"
    "step:3 - \n"
    "\x1b[36m(TaskRunner pid=123)\x1b[0m step:3 - critic/score/mean:0.75 - actor/lr:1e-06\n"
)


def test_verl_console_log_ignored_lines_by_class(tmp_path: Path):
    (tmp_path / "train.log").write_text(VERL_LOG)
    report = collect([str(tmp_path)])
    (src,) = report["sources"]
    assert src["format"] == "verl-console" and src["rows"] == 3
    assert src["ignore_reasons"] == {
        "blank line": 1,
        "progress bar": 1,
        "log message or warning": 2,
        "traceback": 3,
        "other output (not a 'step:N - key:value' line)": 1,
        "'step:N' line without key:value metrics": 1,
    }
    _assert_every_ignored_has_reasons(report)
    assert "ignored x3: traceback" in render(report)


def test_a_text_quoting_one_step_line_is_not_a_console_log(tmp_path: Path):
    (tmp_path / "train.log").write_text(VERL_LOG)
    (tmp_path / "SOURCE.txt").write_text(
        "train.log\n  what: a verl run's console output, lines such as\n"
        "  step:110 - critic/score/mean:0.512 - actor/entropy:0.9\n"
        "  mixed with Ray actor output.\n  repo: example/verl  commit: abc\n"
    )
    report = collect([str(tmp_path)])
    assert [Path(s["path"]).name for s in report["sources"]] == ["train.log"]
    (item,) = report["unrecognized"]
    assert Path(item["path"]).name == "SOURCE.txt"
    assert "only 1 'step:N - key:value' line" in item["reason"]


def test_a_log_of_only_step_lines_is_read_from_its_first_line(tmp_path: Path):
    (tmp_path / "metrics.log").write_text("step:1 - loss:0.5\n")
    report = collect([str(tmp_path)])
    assert [s["format"] for s in report["sources"]] == ["verl-console"]
