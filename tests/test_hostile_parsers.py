"""Issue #12 rows 1-3: deeply nested JSON lines and steps past 64 bits are skipped with a reason;
every other line of the block, the file and the other runs is read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rltop.core.follow import Follower

DEEP_ARRAY = '{"step": 1, "x": ' + "[" * 3000 + "]" * 3000 + "}"  # past every parser's limit
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000  # parses (orjson allows 1024 levels): no step
HUGE_STEPS = ["9223372036854775808", "1e300", "99999999999999999999999"]


def _rows(lo: int, hi: int, key: str = "loss") -> str:
    return "".join(json.dumps({"step": s, key: 1.0 / (s + 1)}) + "\n" for s in range(lo, hi))


def _read(root: Path):
    follower = Follower([str(root)])
    follower.read_all()
    return follower, follower.store.snapshot()


def _run(snap, name: str):
    return next(r for r in snap.runs if r.name == name)


def _reasons(snap) -> str:
    return " | ".join(r for s in snap.sources for r in s.skip_reasons)


def test_a_deep_first_line_is_skipped_and_everything_else_read(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "metrics.jsonl").write_text(DEEP_ARRAY + "\n" + _rows(0, 5))
    (tmp_path / "b" / "metrics.jsonl").write_text(_rows(0, 3))
    _, snap = _read(tmp_path)
    assert _run(snap, "a").metrics.get_column("step").to_list() == [0, 1, 2, 3, 4]
    assert _run(snap, "b").metrics.height == 3
    assert "nested too deeply" in _reasons(snap)
    out = subprocess.run(
        [sys.executable, "-m", "rltop", "check", "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 3, out.stderr
    assert {r["name"] for r in json.loads(out.stdout)["runs"]} == {"a", "b"}


def test_a_deep_line_later_costs_only_that_line_also_live(tmp_path: Path) -> None:
    path = tmp_path / "r" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_text(_rows(0, 3) + DEEP_OBJECT + "\n" + DEEP_ARRAY + "\n" + _rows(3, 6))
    follower, snap = _read(tmp_path)
    assert _run(snap, "r").metrics.get_column("step").to_list() == list(range(6))
    with open(path, "a") as fh:  # the same, appended while followed
        fh.write(_rows(6, 8) + DEEP_ARRAY + "\n" + DEEP_OBJECT + "\n" + _rows(8, 10))
    follower.read_all()
    snap = follower.store.snapshot()
    assert _run(snap, "r").metrics.get_column("step").to_list() == list(range(10))
    source = snap.sources[0]
    assert source.skipped == 4 and "parser error" not in _reasons(snap)


@pytest.mark.parametrize("huge", HUGE_STEPS)
def test_steps_past_64_bits_are_skipped_with_a_reason_in_every_format(
    tmp_path: Path, huge: str
) -> None:
    (tmp_path / "jsonl").mkdir()
    (tmp_path / "jsonl" / "metrics.jsonl").write_text(
        _rows(0, 2) + f'{{"step": {huge}, "loss": 1}}\n' + _rows(2, 4)
    )
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(f"step,loss\n0,0.5\n{huge},0.4\n1,0.3\n")
    (tmp_path / "console").mkdir()
    big_int = str(int(float(huge))) if "e" in huge else huge
    (tmp_path / "console" / "train.log").write_text(
        f"step:0 - loss:0.5\nstep:{big_int} - loss:0.4\nstep:1 - loss:0.3\n"
    )
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "trainer_state.json").write_text(
        '{"log_history": [{"step": 0, "loss": 0.5}, '
        f'{{"step": {huge}, "loss": 0.4}}, {{"step": 1, "loss": 0.3}}]}}'
    )
    (tmp_path / "ro" / "rollouts").mkdir(parents=True)
    (tmp_path / "ro" / "rollouts" / "7.jsonl").write_text(
        '{"step": 0, "prompt": "p", "completion": "c", "reward": 1}\n'
        f'{{"step": {huge}, "prompt": "p", "completion": "c", "reward": 1}}\n'
        '{"step": 1, "prompt": "p", "completion": "c", "reward": 0}\n'
    )
    _, snap = _read(tmp_path)
    for name in ("jsonl", "csv", "console", "hf"):
        steps = _run(snap, name).metrics.get_column("step").to_list()
        assert steps == ([0, 1, 2, 3] if name == "jsonl" else [0, 1]), name
    # the rollout's step is not replaced by the file name's (7): that line is skipped
    assert sorted(_run(snap, "ro").rollouts.get_column("step").to_list()) == [0, 1]
    for source in snap.sources:
        assert source.skipped == 1, source.path
        assert any("out of range" in r for r in source.skip_reasons), source.skip_reasons


def test_commands_survive_huge_steps(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metrics.jsonl").write_text(
        _rows(0, 3) + '{"step": 18446744073709551616, "loss": 1}\n'
    )
    for args in (["check"], ["sources"], ["export", "--out", str(tmp_path.parent / "exp")]):
        out = subprocess.run(
            [sys.executable, "-m", "rltop", *args, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode in (0, 1, 2), (args, out.stderr)
        assert "Traceback" not in out.stderr, out.stderr
