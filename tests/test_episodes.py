"""Episode logs (one JSON document per episode) read as rollouts, and their score dimensions."""

from __future__ import annotations

import json

from rltop.core.formats import sniff
from rltop.core.formats.episodes import EpisodeJsonlParser, EpisodeParser, turns_to_messages

from conftest import read_snapshot


def _episode(i: int, reward: float, reason: str = "resolved") -> dict:
    return {
        "episode_id": f"ep{i:03d}",
        "scenario": "refund_desk",
        "turns": [
            {"role": "user", "content": f"I want a refund for order {i}."},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": json.dumps({"id": i})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
            {"role": "assistant", "content": f"Your order {i} has shipped."},
        ],
        "total_reward": reward,
        "terminal_reason": reason,
        "scores": {"D1_Empathy": reward / 2, "D2_Accuracy": 1.0},
    }


def _write_logs(root, n=6, step_dirs=False):
    for i in range(n):
        folder = root / "logs" / (f"step_{i // 2}" if step_dirs else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"episode_ep{i:03d}.json").write_text(json.dumps(_episode(i, i / 10), indent=2))
    return root


def test_sniffed_as_episode_log(tmp_path):
    path = tmp_path / "episode_x.json"
    data = json.dumps(_episode(1, 0.5), indent=2).encode()
    found = sniff(str(path), data)
    assert found.parser is EpisodeParser
    found = sniff(str(tmp_path / "episodes.jsonl"), json.dumps(_episode(1, 0.5)).encode() + b"\n")
    assert found.parser is EpisodeJsonlParser
    # an ordinary rollout dump is not an episode log
    row = {"prompt": "p", "completion": "c", "reward": 1.0, "step": 1}
    assert sniff(str(tmp_path / "1.jsonl"), json.dumps(row).encode() + b"\n").parser is not (
        EpisodeJsonlParser
    )


def test_episode_row_columns(tmp_path):
    path = tmp_path / "step_7" / "episode_ep001.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_episode(1, 0.8, "max_turns"), indent=2))
    result = EpisodeParser(str(path)).parse_whole(path.read_bytes())
    row = result.rollout_frame.row(0, named=True)
    assert row["step"] == 7
    assert row["prompt"] == "I want a refund for order 1."
    assert "Let me check." in row["completion"] and "has shipped" in row["completion"]
    assert row["reward"] == 0.8
    assert row["terminal_reason"] == "max_turns"
    assert row["scenario"] == "refund_desk"
    assert row["episode_id"] == "ep001"
    assert row["score/D1_Empathy"] == 0.4
    assert row["score/D2_Accuracy"] == 1.0
    messages = json.loads(row["messages"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert row["_path"] == str(path) and row["_offset"] == 0


def test_half_written_episode_is_a_skip_not_a_crash(tmp_path):
    path = tmp_path / "episode_bad.json"
    data = json.dumps(_episode(1, 0.5), indent=2).encode()[:100]
    result = EpisodeParser(str(path)).parse_whole(data)
    assert result.rollout_frame is None and result.skips


def test_turn_shapes():
    turns = [{"observation": "hello"}, {"action": "hi", "tool_calls": [{"name": "x"}]}, "raw"]
    messages = turns_to_messages(turns)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["tool_calls"] == [{"name": "x"}]


def test_folder_of_episodes_becomes_rollouts_and_score_metrics(tmp_path):
    _write_logs(tmp_path, n=6, step_dirs=True)
    snap = read_snapshot(tmp_path)
    assert len(snap.runs) == 1
    run = snap.runs[0]
    assert run.rollouts.height == 6
    assert sorted(run.rollouts.get_column("step").to_list()) == [0, 0, 1, 1, 2, 2]
    steps, values = run.series("scores/D1_Empathy")
    assert steps == [0, 1, 2]
    assert values == [0.025, 0.125, 0.225]
    assert run.series("scores/D2_Accuracy")[1] == [1.0, 1.0, 1.0]
    assert run.series("rollouts/reward_mean")[1][0] == 0.05


def test_episode_index_is_the_step_without_a_step_in_the_name(tmp_path):
    _write_logs(tmp_path, n=3)
    snap = read_snapshot(tmp_path)
    steps = snap.runs[0].rollouts.sort("episode_id").get_column("step").to_list()
    assert steps == [0, 1, 2]


def test_episodes_jsonl(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_text("".join(json.dumps(_episode(i, 0.5)) + "\n" for i in range(3)) + "{bad\n")
    parser = EpisodeJsonlParser(str(path))
    data = path.read_bytes()
    result = parser.feed(data, 1)
    frame = result.rollout_frame
    assert frame.get_column("step").to_list() == [0, 1, 2]
    assert len(result.skips) == 1
    # offsets point at each episode's line
    for row in frame.iter_rows(named=True):
        line = data[row["_offset"] : row["_offset"] + row["_len"]]
        assert json.loads(line)["episode_id"] == row["episode_id"]
