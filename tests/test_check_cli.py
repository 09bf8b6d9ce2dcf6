"""``rltop check`` through the real console script: reports, JSON, exit codes 0/1/2/3."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

RLTOP = str(Path(sys.executable).with_name("rltop"))


def check(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "RLTOP_THRESHOLDS"}
    full_env.update({"RLTOP_CONFIG": os.devnull + ".none", **(env or {})})
    return subprocess.run(
        [RLTOP, "check", *args], capture_output=True, text=True, timeout=120, env=full_env
    )


def check_json(*args: str) -> tuple[int, dict]:
    out = check(*args, "--json")
    return out.returncode, json.loads(out.stdout)


def warnings_of(doc: dict) -> dict[str, dict]:
    return {w["id"]: w for w in doc["runs"][0]["warnings"]}


def test_trl_fixture_truncation_and_declining_reward(fixtures):
    """TRL GRPO: completions hit the 512-token limit (clipped_ratio 0.5-1.0, 1.0 on most late
    steps) and the reward falls from ~0.78 (steps 55-100) to ~0.3 at the end."""
    code, doc = check_json(str(fixtures / "trl"))
    assert code == 1
    run = doc["runs"][0]
    assert run["format"] == "hf-trainer-state" and run["steps"] == 40 and run["last_step"] == 200
    found = warnings_of(doc)
    assert set(found) == {"rl.truncation", "rl.reward_declining"}
    trunc = found["rl.truncation"]
    assert trunc["severity"] == "warning" and trunc["metrics"] == ["completions/clipped_ratio"]
    assert trunc["step"] <= 50 and "1.00 at step 200" in trunc["evidence"]
    decline = found["rl.reward_declining"]
    # dated from where the fall began (a change point after the peak window, ~step 70-100 in
    # this very noisy series), no longer from where it became large enough to judge (165)
    assert decline["metrics"] == ["reward"] and 70 <= decline["step"] <= 110
    assert "down from its peak" in decline["evidence"]
    assert run["metrics"]["completions/clipped_ratio"] == 1.0
    assert run["best_checkpoint"]["kind"] == "rl"
    assert [c["label"] for c in run["best_checkpoint"]["candidates"]] == [
        "peak smoothed train reward",
        "final",
        "middle of training",
    ]


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        # validation every step swinging 0.64-2.28 around a flat level; the rules near their
        # thresholds stay reported through the hysteresis (flagged "not met at the last N points")
        (
            "openai",
            1,
            {"sft.valid_oscillating", "sft.valid_rising", "sft.both_high", "sft.overfit_ratio"},
        ),
        # Keras: the loss falls from 3.9 to 3e-05 after one epoch
        ("tensorboard", 1, {"sft.train_collapse", "sft.valid_plateau"}),
        # 7 steps: too few points for any rule
        ("tinker", 0, set()),
        # 4 steps of verl metrics and 3 rollouts
        ("verl", 0, set()),
        # ThinkTuning: a noisy loss that never goes down over 51 steps
        ("wandb", 1, {"sft.train_flat"}),
    ],
)
def test_every_fixture(fixtures, name, code, expected):
    got_code, doc = check_json(str(fixtures / name))
    assert got_code == code
    assert set(warnings_of(doc)) == expected
    assert doc["runs"][0]["steps"] > 0


def test_all_fixtures_at_once_human_summary(fixtures):
    out = check(str(fixtures))
    assert out.returncode == 1
    text = out.stdout
    assert text.count("\nrun ") + text.startswith("run ") == 6
    assert "WARNING  rl.truncation since step" in text
    assert "→ raise the max length" in text
    assert "best checkpoint (lowest valid_loss):" in text
    assert "checkpoints to evaluate with your task harness:" in text
    assert text.rstrip().endswith("exit 1")


def test_nan_is_critical_and_json_stays_valid(tmp_path):
    lines = [f'{{"step": {i}, "loss": {2 - i * 0.01}, "reward": 0.1}}' for i in range(1, 20)]
    lines.append('{"step": 20, "loss": NaN, "reward": 0.1}')
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    out = check(str(tmp_path), "--json")
    assert out.returncode == 2
    assert not re.search(r"[:\[,]\s*-?(NaN|Infinity)", out.stdout)  # no bare NaN tokens
    doc = json.loads(out.stdout)
    assert doc["runs"][0]["metrics"]["loss"] is None
    nan = warnings_of(doc)["run.nan"]
    assert nan["severity"] == "critical" and nan["step"] == 20
    assert check(str(tmp_path)).returncode == 2


def test_nothing_readable_is_3(tmp_path):
    assert check(str(tmp_path)).returncode == 3
    (tmp_path / "notes.txt").write_text("hello\n")
    out = check(str(tmp_path))
    assert out.returncode == 3 and "nothing readable" in out.stdout
    assert check(str(tmp_path / "missing")).returncode == 3


def test_usage_error_is_3_not_critical():
    out = check("--no-such-option")
    assert out.returncode == 3 and "error" in out.stderr


def test_thresholds_from_flags_and_env(fixtures):
    trl = str(fixtures / "trl")
    off = ("--threshold", "rl.truncation.enabled=false", "--threshold", "rl.reward_declining.z=9")
    code, doc = check_json(trl, *off)
    assert code == 0 and warnings_of(doc) == {}
    out = check(trl, env={"RLTOP_THRESHOLDS": "rl.truncation.ratio=0.99"})
    # the median reaches 1.0 at step 150, dips, and stays from 170: one hold, from 150
    assert "≥ 0.99 since step 150" in out.stdout


def test_stalled_only_when_asked(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"step": {i}, "reward": 0.5}}\n' for i in range(1, 6)))
    os.utime(path, (1_000_000.0, 1_000_000.0))
    assert check(str(tmp_path)).returncode == 0
    code, doc = check_json(str(tmp_path), "--stalled-after", "30")
    assert code == 2 and warnings_of(doc)["run.stalled"]["severity"] == "critical"


def test_check_and_watch_never_import_textual(fixtures):
    code = (
        "import sys, io, contextlib\n"
        "from rltop.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['check', {str(fixtures)!r}])\n"
        "import rltop.commands.watch\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(rc, ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "1", out.stdout + out.stderr
