"""Bad input: rltop keeps going, counts and explains what it skipped, and loses no valid line."""

from __future__ import annotations

import json
import os

import pytest

from rltop.core.follow import Follower

from conftest import read_snapshot


def _only_run(snap):
    assert len(snap.runs) == 1, [r.name for r in snap.runs]
    return snap.runs[0]


def test_malformed_lines_are_skipped_and_counted(tmp_path):
    (tmp_path / "m.jsonl").write_text(
        '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": \n{not json}\n[1, 2]\n{"loss": 3}\n{"step": 3, "loss": 0.5}\n'
    )
    run = _only_run(read_snapshot(tmp_path))
    assert run.metrics["step"].to_list() == [1, 3]
    (src,) = run.sources
    assert src.skipped == 4
    reasons = set(src.skip_reasons)
    assert any(r.startswith("malformed JSON") for r in reasons)
    assert "not a JSON object" in reasons and "no step field" in reasons
    assert [s.line for s in src.recent_skips] == [2, 3, 4, 5]


def test_binary_garbage_and_non_utf8(tmp_path):
    data = (
        b'{"step": 1, "loss": 1.0}\n'
        + bytes(b for b in range(256) if b != 10)
        + b"\n"
        + b'{"step": 2, "loss": 2.0, "name": "caf\xe9"}\n'
    )
    (tmp_path / "m.jsonl").write_bytes(data)
    run = _only_run(read_snapshot(tmp_path))
    assert run.metrics["loss"].to_list() == [1.0, 2.0]  # the non-UTF-8 line is kept
    assert run.text_metrics["name"] == "caf\ufffd"
    (src,) = run.sources
    assert src.skipped == 1 and "binary data, not a JSON line" in src.skip_reasons


def test_twenty_megabyte_line_does_not_stop_anything(tmp_path):
    big = json.dumps({"step": 2, "prompt": "p", "completion": "x" * 20_000_000, "reward": 1.0})
    lines = [
        json.dumps({"step": 1, "prompt": "p", "completion": "short", "reward": 0.0}),
        big,
        json.dumps({"step": 3, "prompt": "p", "completion": "after", "reward": 0.5}),
    ]
    (tmp_path / "rollouts.jsonl").write_text("\n".join(lines) + "\n")
    run = _only_run(read_snapshot(tmp_path))
    assert run.rollouts["step"].to_list() == [1, 2, 3]
    assert run.rollouts["length"].to_list()[1] == 20_000_000
    # and with a lower line limit it is skipped with a reason, the others kept
    run = _only_run(read_snapshot(tmp_path, max_line=1_000_000))
    assert run.rollouts["step"].to_list() == [1, 3]
    assert any("limit" in r for r in run.sources[0].skip_reasons)


def test_key_types_that_change(tmp_path):
    rows = [
        {"step": 1, "x": 1},
        {"step": 2, "x": 2.5},
        {"step": 3, "x": "high"},
        {"step": 4, "x": None},
        {"step": 5, "x": True},
        {"step": 6, "x": {"nested": 1}},
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run = _only_run(read_snapshot(tmp_path))
    assert run.metrics["x"].to_list() == [1.0, 2.5, None, None, 1.0, None]
    assert run.metrics["x/nested"].to_list()[-1] == 1.0
    assert run.text_metrics["x"] == "high"
    assert run.sources[0].skipped == 0


def test_rollout_reward_types_that_change(tmp_path):
    rows = [
        {"step": 1, "prompt": "a", "completion": "b", "reward": 1},
        {"step": 1, "prompt": "a", "completion": "c", "reward": "0.5"},
        {"step": 2, "prompt": "a", "completion": "d", "reward": None, "acc": "yes"},
        {"step": 2, "prompt": "a", "completion": "e", "reward": 0.25, "acc": True},
    ]
    (tmp_path / "rollouts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run = _only_run(read_snapshot(tmp_path))
    assert run.rollouts["reward"].to_list() == [1.0, 0.5, None, 0.25]
    assert run.rollouts["acc"].to_list() == [None, None, "yes", "True"]


def test_file_truncated_mid_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 2.0}\n{"step": 3, "lo')
    follower = Follower([str(tmp_path)])
    follower.read_all()
    assert follower.store.snapshot().runs[0].metrics["step"].to_list() == [1, 2]
    path.write_text('{"step": 1, "loss": 1.5}\n{"st')  # truncated and rewritten
    follower.poll_once()
    run = follower.store.snapshot().runs[0]
    assert run.metrics["step"].to_list() == [1] and run.metrics["loss"].to_list() == [1.5]
    with open(path, "a") as fh:
        fh.write('ep": 2, "loss": 2.5}\n')
    follower.poll_once()
    assert follower.store.snapshot().runs[0].metrics["loss"].to_list() == [1.5, 2.5]


def test_file_deleted_while_followed_stays_shown_as_ended(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n')
    follower = Follower([str(tmp_path)])
    follower.read_all()
    path.unlink()
    follower.poll_once()
    snap = follower.store.snapshot()
    run = snap.runs[0]
    assert run.metrics["loss"].to_list() == [1.0]
    assert run.sources[0].status == "ended"
    assert snap.files_followed == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_permission_denied(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n')
    path.chmod(0)
    snap = read_snapshot(tmp_path)
    assert not snap.runs or not snap.runs[0].metric_names
    assert any("cannot read" in reason or "ermission" in reason for _p, reason in snap.unrecognized)


def test_permission_denied_after_discovery_is_reported(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n')
    follower = Follower([str(tmp_path)])
    follower.read_all()
    # simulate a read error the way the OS reports it, whoever we run as
    tail = follower.followed[str(path)].tail
    tail.path = str(tmp_path / "is-a-dir")
    os.mkdir(tail.path)
    follower.poll_once()
    src = follower.store.snapshot().sources[0]
    assert src.status == "error" and src.error
    assert follower.store.snapshot().runs[0].metrics["loss"].to_list() == [1.0]


def test_empty_folder(tmp_path):
    snap = read_snapshot(tmp_path)
    assert snap.runs == () and snap.sources == ()


def test_thousands_of_unrelated_files(tmp_path):
    for i in range(3000):
        (tmp_path / f"img_{i}.png").write_bytes(b"\x89PNG")
    for i in range(300):
        (tmp_path / f"notes_{i}.txt").write_text("nothing to see\n")
    sub = tmp_path / "run1"
    sub.mkdir()
    (sub / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    snap = read_snapshot(tmp_path)
    assert [r.name for r in snap.runs] == ["run1"]
    assert len(snap.unrecognized) == 300  # text files are looked at and explained; images ignored


def test_console_log_with_ray_prefix_and_ansi(tmp_path):
    log = (
        "INFO starting trainer\n"
        "\x1b[36m(TaskRunner pid=123)\x1b[0m step:1 - critic/score/mean:0.25 - actor/lr:1e-06 - "
        "timing_s/gen:np.float64(3.5) - val-core/gsm8k/acc/mean@1:nan\n"
        "Training:  10%|█         | 1/10 [00:01<00:09]\r"
        "\x1b[36m(TaskRunner pid=123)\x1b[0m step:2 - critic/score/mean:0.5 - actor/lr:1e-06 - flag:True\n"
        "Traceback (most recent call last): something unrelated\n"
    )
    (tmp_path / "train.log").write_text(log)
    run = _only_run(read_snapshot(tmp_path))
    (src,) = run.sources
    assert src.format == "verl-console"
    m = run.metrics
    assert m["step"].to_list() == [1, 2]
    assert m["critic/score/mean"].to_list() == [0.25, 0.5]
    assert m["timing_s/gen"].to_list()[0] == 3.5
    assert m["flag"].to_list()[1] == 1.0
    assert src.skipped == 0 and src.ignored == 3
