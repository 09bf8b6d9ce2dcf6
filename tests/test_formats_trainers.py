"""Trainer layouts without a real fixture, built from the documented schemas with the trainers' own
key names: TRL completions parquet, OpenPipe ART, prime-rl and verifiers, tinker-cookbook's
iteration folders, NeMo-RL, SkyRL. Each is checked for the format it is read as, the run it lands
in, steps, rewards, groups and structured messages."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import polars as pl
import pytest

from rltop.core.follow import Follower

from conftest import read_snapshot


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _formats(snap) -> dict[str, str]:
    return {Path(s.path).name: s.format for s in snap.sources}


# -- TRL ------------------------------------------------------------------------------------
def test_trl_completions_parquet(tmp_path: Path):
    out = tmp_path / "grpo-out"
    for step in (10, 20):
        frame = pl.DataFrame(
            {
                "step": [step] * 4,
                "prompt": ["2+2?", "2+2?", "capital of France?", "capital of France?"],
                "completion": ["4", "5", "Paris", "Lyon"],
                "accuracy_reward": [1.0, 0.0, 1.0, 0.0],
                "format_reward": [0.5, 0.5, 0.5, 0.0],
                "advantage": [0.7, -0.7, 0.9, -0.9],
            }
        )
        (out / "completions").mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out / "completions" / f"completions_{step:05d}.parquet")
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == "grpo-out"
    assert set(_formats(snap).values()) == {"trl-completions"}
    rollouts = run.rollouts.sort("step", "prompt", "completion")
    assert rollouts.height == 8
    assert rollouts.get_column("reward").to_list()[:4] == [1.5, 0.5, 0.0, 1.5]  # 4, 5, Lyon, Paris
    assert set(rollouts.columns) >= {"accuracy_reward", "format_reward", "advantage"}
    first = rollouts.row(0, named=True)
    assert first["prompt"] == "2+2?" and first["completion"] == "4" and first["group"] == "2+2?"
    # two groups of two per step, both solved
    assert run.series("rollouts/pass@k") == ([10, 20], [1.0, 1.0])
    assert run.latest("rollouts/reward_mean") == pytest.approx(0.875)


def test_trl_reward_column_wins_and_chat_prompts(tmp_path: Path):
    frame = pl.DataFrame(
        {
            "step": [3, 3],
            "prompt": [
                [{"role": "user", "content": "hi"}],
                [{"role": "user", "content": "hi"}],
            ],
            "completion": [
                [{"role": "assistant", "content": "hello"}],
                [{"role": "assistant", "content": "hey"}],
            ],
            "reward": [0.25, 0.75],
            "len_reward": [9.0, 9.0],
        }
    )
    path = tmp_path / "completions" / "completions_00003.parquet"
    path.parent.mkdir()
    frame.write_parquet(path)
    (run,) = read_snapshot(tmp_path).runs
    rows = run.rollouts.sort("reward")
    assert rows.get_column("reward").to_list() == [0.25, 0.75]
    assert rows.row(0, named=True)["prompt"] == "[user] hi"
    assert rows.row(0, named=True)["completion"] == "[assistant] hello"
    messages = orjson.loads(rows.row(0, named=True)["messages"])
    assert messages == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]


def test_other_parquet_files_are_explained(tmp_path: Path):
    pl.DataFrame({"prompt": ["q"], "reward_model": [{"ground_truth": "1"}]}).write_parquet(
        tmp_path / "train.parquet"
    )
    (tmp_path / "half.parquet").write_bytes(b"PAR1 not finished")
    snap = read_snapshot(tmp_path)
    reasons = {Path(p).name: r for p, r in snap.unrecognized}
    assert reasons["train.parquet"].startswith("Parquet table without prompt/completion and reward")
    assert "still being written" in reasons["half.parquet"]


@pytest.mark.parametrize("name", ["c[1].parquet", "c*.parquet", "c?.parquet", "c{1}.parquet"])
def test_a_parquet_file_named_like_a_glob_pattern_is_read_as_itself(tmp_path: Path, name: str):
    """polars reads a path as a glob (``c[1].parquet`` would be ``c1.parquet``): the columns
    that decide the format come from the file itself."""
    rollouts = pl.DataFrame(
        {"step": [1, 1], "prompt": ["q", "r"], "completion": ["a", "b"], "reward": [1.0, 0.0]}
    )
    rollouts.write_parquet(tmp_path / name)
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "c1.parquet")
    snap = read_snapshot(tmp_path)
    assert _formats(snap) == {name: "parquet-rollouts"}
    assert {Path(p).name for p, _r in snap.unrecognized} == {"c1.parquet"}
    assert snap.runs[0].rollouts.height == 2
    (tmp_path / "c1.parquet").unlink()  # alone: a pattern matching no file is no reason either
    assert _formats(read_snapshot(tmp_path)) == {name: "parquet-rollouts"}


# -- OpenPipe ART ---------------------------------------------------------------------------
TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "search", "arguments": '{"q": "weather"}'},
}


def _trajectory(reward: float, answer: str) -> dict:
    return {
        "reward": reward,
        "metrics": {"turns": 2, "correct": reward > 0},
        "messages_and_choices": [
            {"role": "system", "content": "You are an agent."},
            {"role": "user", "content": "What is the weather?"},
            {
                "finish_reason": "tool_calls",
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "assistant", "content": answer},
        ],
        "tools": [{"type": "function", "function": {"name": "search"}}],
        "metadata": {"scenario": 7},
    }


def test_art_history_and_trajectory_groups(tmp_path: Path):
    model = tmp_path / ".art" / "proj" / "models" / "agent-1"
    _jsonl(
        model / "history.jsonl",
        [
            {"step": 1, "train/reward": 0.5, "loss/train": 0.1, "recorded_at": "2025-01-01"},
            {"step": 2, "train/reward": 0.75, "val/reward": 0.6, "loss/grad_norm": 1.5},
        ],
    )
    _jsonl(
        model / "trajectories" / "train" / "0002.jsonl",
        [
            {"trajectories": [_trajectory(1.0, "It is sunny."), _trajectory(0.0, "No idea.")]},
            {"trajectories": [_trajectory(0.0, "Rain."), _trajectory(0.0, "Snow.")]},
        ],
    )
    _jsonl(model / "trajectories" / "val" / "0002.jsonl", [_trajectory(1.0, "Sunny.")])
    snap = read_snapshot(tmp_path / ".art" / "proj")
    (run,) = snap.runs
    assert run.name == "models/agent-1"
    assert _formats(snap) == {"history.jsonl": "art-history", "0002.jsonl": "art-trajectories"}
    assert run.series("train/reward") == ([1, 2], [0.5, 0.75])
    assert run.latest("val/reward") == 0.6
    rollouts = run.rollouts
    assert rollouts.height == 5
    train = rollouts.filter(pl.col("split") == "train")
    assert train.get_column("step").unique().to_list() == [2]
    assert sorted(train.get_column("group").unique().to_list()) == ["group 1", "group 2"]
    assert run.latest("rollouts/pass@k") == 0.5  # one of two groups solved
    assert run.latest("val-rollouts/reward_mean") == 1.0
    best = train.filter(pl.col("reward") == 1.0).row(0, named=True)
    assert '→ search({"q": "weather"})' in best["completion"]
    assert best["prompt"] == "[system] You are an agent.\n[user] What is the weather?"
    messages = orjson.loads(best["messages"])
    assert messages[2]["tool_calls"] == [TOOL_CALL]
    assert messages[3] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    assert best["turns"] == 2 and best["correct"] is True
    assert orjson.loads(best["extra"])["metadata"] == {"scenario": 7}


def test_art_parquet_trajectories(tmp_path: Path):
    model = tmp_path / "models" / "m"
    (model / "trajectories" / "train").mkdir(parents=True)
    messages = [
        [
            {"role": "user", "content": "2+2?", "tool_call_id": None},
            {"role": "assistant", "content": "4", "tool_call_id": None},
        ]
    ] * 2
    pl.DataFrame(
        {
            "reward": [1.0, 0.0],
            "messages": messages,
            "metrics": [{"turns": 1.0}, {"turns": 1.0}],
        }
    ).write_parquet(model / "trajectories" / "train" / "0005.parquet")
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == "models/m"
    assert _formats(snap) == {"0005.parquet": "art-trajectories-parquet"}
    rows = run.rollouts.sort("reward")
    assert rows.get_column("step").to_list() == [5, 5]
    assert rows.row(1, named=True)["completion"] == "[assistant] 4"
    assert rows.row(1, named=True)["turns"] == 1.0
    assert orjson.loads(rows.row(1, named=True)["messages"])[0]["content"] == "2+2?"


# -- prime-rl and verifiers -----------------------------------------------------------------
def _episode(example_id: int, reward: float, answer: str) -> dict:
    return {
        "example_id": example_id,
        "prompt": [{"role": "user", "content": f"problem {example_id}"}],
        "completion": [
            {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            {"role": "assistant", "content": answer},
        ],
        "answer": "42",
        "reward": reward,
        "correct_answer_reward_func": reward,
        "format_reward_func": 1.0,
        "task": "math",
    }


def test_prime_rl_metrics_and_rollouts(tmp_path: Path):
    out = tmp_path / "outputs"
    _jsonl(
        out / "metrics.jsonl",
        [
            {"step": 0, "time": 1.0, "train/agg/all/policy/reward/mean": 0.25},
            {
                "step": 1,
                "time": 2.0,
                "train/agg/all/policy/reward/mean": 0.5,
                "eval/gsm8k/all/policy/pass@1": 0.4,
            },
        ],
    )
    traces = [_episode(1, 1.0, "42"), _episode(1, 0.0, "41"), _episode(2, 0.0, "0")]
    _jsonl(out / "rollouts" / "step_1" / "train" / "all" / "traces.jsonl", traces)
    # the effective subset duplicates rollouts of all/: not read twice
    _jsonl(out / "rollouts" / "step_1" / "train" / "effective" / "traces.jsonl", traces[:2])
    _jsonl(out / "rollouts" / "step_1" / "eval" / "all" / "traces.jsonl", [_episode(9, 1.0, "42")])
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == "outputs"
    formats = sorted((Path(s.path).parent.name, s.format) for s in snap.sources)
    assert formats == [
        ("all", "prime-rl-rollouts"),
        ("all", "prime-rl-rollouts"),
        ("outputs", "prime-rl-metrics"),
    ]
    reasons = {str(Path(p).relative_to(out)): r for p, r in snap.unrecognized}
    assert "subset of all/traces.jsonl" in reasons["rollouts/step_1/train/effective/traces.jsonl"]
    assert run.series("train/agg/all/policy/reward/mean") == ([0, 1], [0.25, 0.5])
    assert run.latest("eval/gsm8k/all/policy/pass@1") == 0.4
    rollouts = run.rollouts
    assert rollouts.height == 4
    train = rollouts.filter(pl.col("split") == "train")
    assert train.get_column("group").sort().to_list() == ["1", "1", "2"]
    assert run.latest("rollouts/pass@k") == 0.5
    assert run.latest("val-rollouts/pass@k") == 1.0
    solved = train.filter(pl.col("reward") == 1.0).row(0, named=True)
    assert solved["correct_answer_reward_func"] == 1.0 and solved["format_reward_func"] == 1.0
    assert solved["prompt"] == "[user] problem 1"
    assert solved["completion"].splitlines() == [
        "[assistant]",
        '  → search({"q": "weather"})',
        "[tool] (call_1) 42",
        "[assistant] 42",
    ]
    assert orjson.loads(solved["messages"])[1]["tool_calls"] == [TOOL_CALL]


def test_verifiers_results(tmp_path: Path):
    run_dir = tmp_path / "outputs" / "evals" / "gsm8k--qwen" / "a1b2"
    _jsonl(run_dir / "results.jsonl", [_episode(0, 1.0, "42"), _episode(0, 0.0, "7")])
    (run_dir / "metadata.json").write_text(json.dumps({"env": "gsm8k", "model": "qwen"}))
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert _formats(snap) == {"results.jsonl": "verifiers-results"}
    assert run.rollouts.height == 2
    assert run.rollouts.get_column("step").to_list() == [0, 0]
    assert run.latest("val-rollouts/pass@k") == 1.0
    assert "JSON document" in dict(snap.unrecognized)[str(run_dir / "metadata.json")]


# -- tinker-cookbook ------------------------------------------------------------------------
def _summary(iteration: int, group: int, traj: int, reward: float) -> dict:
    return {
        "schema_version": 1,
        "split": "train",
        "iteration": iteration,
        "group_idx": group,
        "traj_idx": traj,
        "tags": ["math"],
        "sampling_client_step": iteration,
        "total_reward": reward,
        "final_reward": reward,
        "trajectory_metrics": {"format": 1.0},
        "steps": [
            {
                "step_idx": 0,
                "ob_len": 120,
                "ac_len": 30 + traj,
                "reward": reward,
                "episode_done": True,
                "stop_reason": "stop",
                "metrics": {"correct": reward},
                "logs": {},
            }
        ],
        "final_ob_len": 150,
    }


def _section(title: str, children: list) -> dict:
    return {
        "tag": "section",
        "attrs": {"class": "lt-section"},
        "children": [
            {"tag": "h2", "attrs": {}, "children": [title]},
            {"tag": "div", "attrs": {"class": "lt-section-body"}, "children": children},
        ],
    }


def _conversation(messages: list[dict]) -> dict:
    return {
        "tag": "div",
        "attrs": {},
        "children": [],
        "data": {"type": "conversation", "messages": messages},
    }


def _reward_table(reward: float) -> dict:
    rows = [["key", "value"], ["correct", "True"], ["reward", f"{reward:.3f}"]]
    return {
        "tag": "table",
        "attrs": {"class": "lt-table"},
        "children": [
            {
                "tag": "tbody",
                "attrs": {},
                "children": [
                    {
                        "tag": "tr",
                        "attrs": {},
                        "children": [{"tag": "td", "attrs": {}, "children": [c]} for c in row],
                    }
                    for row in rows
                ],
            }
        ],
    }


def _logtree(answers: list[tuple[str, float]]) -> dict:
    attempts = []
    for answer, reward in answers:
        attempts += [
            _section("Prompt", [_conversation([{"role": "user", "content": "What is 3*2?"}])]),
            _section(
                "Policy Response", [_conversation([{"role": "assistant", "content": answer}])]
            ),
            _section("Reward", [_reward_table(reward)]),
        ]
    return {
        "title": "RL Iteration 3",
        "started_at": "2025-01-01T00:00:00",
        "path": "train.html",
        "root": {
            "tag": "body",
            "attrs": {"class": "lt-root"},
            "children": [_section("Group Rollout", attempts)],
        },
    }


def test_tinker_iteration_folder(tmp_path: Path, fixtures: Path):
    log = tmp_path / "tinker-run"
    log.mkdir()
    (log / "metrics.jsonl").write_bytes((fixtures / "tinker" / "metrics.jsonl").read_bytes())
    it = log / "iteration_000003"
    _jsonl(
        it / "train_rollout_summaries.jsonl",
        [
            _summary(3, 0, 0, 1.0),
            _summary(3, 0, 1, 0.0),
            _summary(3, 1, 0, 0.0),
            _summary(3, 1, 1, 0.0),
        ],
    )
    (it / "train_logtree.json").write_text(json.dumps(_logtree([("6", 1.0), ("5", 0.0)])))
    (it / "train.html").write_text("<html></html>")
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == "tinker-run"
    assert _formats(snap) == {
        "metrics.jsonl": "tinker-metrics",
        "train_rollout_summaries.jsonl": "tinker-rollout-summaries",
        "train_logtree.json": "tinker-logtree",
    }
    rollouts = run.rollouts
    summaries = rollouts.filter(pl.col("reward").is_not_null())
    assert summaries.height == 4
    assert summaries.get_column("tokens").sort().to_list() == [30, 30, 31, 31]
    assert summaries.get_column("stop_reason").unique().to_list() == ["stop"]
    # statistics come from the summaries only: one of two groups solved at iteration 3
    assert run.series("rollouts/pass@k") == ([3], [0.5])
    assert run.series("rollouts/count")[1] == [6]  # 4 summaries + 2 logged conversations
    texts = rollouts.filter(pl.col("completion").is_not_null()).sort("completion")
    assert texts.get_column("completion").to_list() == ["[assistant] 5", "[assistant] 6"]
    assert texts.get_column("prompt").to_list() == ["[user] What is 3*2?"] * 2
    assert texts.get_column("logged_reward").to_list() == [0.0, 1.0]
    assert texts.get_column("reward").null_count() == 2  # not counted twice


def test_tinker_logtree_alone_has_rewards(tmp_path: Path):
    it = tmp_path / "run" / "iteration_000007"
    it.mkdir(parents=True)
    (it / "train_logtree.json").write_text(json.dumps(_logtree([("6", 1.0), ("7", 0.0)])))
    (run,) = read_snapshot(tmp_path).runs
    rows = run.rollouts.sort("completion")
    assert rows.get_column("reward").to_list() == [1.0, 0.0]
    assert rows.get_column("step").to_list() == [7, 7]
    assert rows.get_column("group").to_list() == ["group 1", "group 1"]
    assert run.latest("rollouts/pass@k") == 1.0


# -- NeMo-RL and SkyRL ----------------------------------------------------------------------
def test_nemo_rl_samples(tmp_path: Path):
    logs = tmp_path / "results" / "grpo" / "logs"
    _jsonl(
        logs / "train_data_step4.jsonl",
        [
            {
                "content": "<|user|>2+2?<|assistant|>4",
                "rewards": 1.0,
                "generation_logprobs": [-0.1, -0.2],
                "prev_logprobs": [-0.1, -0.25],
                "input_lengths": 12,
            },
            {
                "content": "<|user|>2+2?<|assistant|>5",
                "rewards": 0.0,
                "generation_logprobs": [-0.3],
                "prev_logprobs": [-0.3],
                "input_lengths": 11,
            },
        ],
    )
    _jsonl(logs / "val_data_step5.jsonl", [{"content": "q a", "rewards": 1.0}])
    snap = read_snapshot(tmp_path / "results")
    assert set(_formats(snap).values()) == {"nemo-rl-samples"}
    (run,) = snap.runs
    rows = run.rollouts.sort("step", "reward")
    assert rows.get_column("step").to_list() == [4, 4, 5]
    assert rows.get_column("split").to_list() == ["train", "train", "valid"]
    assert rows.get_column("reward").to_list() == [0.0, 1.0, 1.0]
    assert rows.get_column("input_lengths").to_list()[:2] == [11, 12]
    assert "generation_logprobs" not in rows.columns
    assert rows.row(1, named=True)["completion"] == "<|user|>2+2?<|assistant|>4"


def test_skyrl_dumped_evals(tmp_path: Path):
    export = tmp_path / "skyrl-export"
    _jsonl(
        export / "dumped_evals" / "global_step_20_evals" / "gsm8k.jsonl",
        [
            {
                "input_prompt": "2+2?",
                "output_response": "4",
                "score": 1.0,
                "stop_reason": "stop",
                "env_class": "gsm8k",
            },
            {
                "input_prompt": "2+2?",
                "output_response": "5",
                "score": 0.0,
                "stop_reason": "length",
                "env_class": "gsm8k",
            },
        ],
    )
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == "skyrl-export"
    assert _formats(snap) == {"gsm8k.jsonl": "skyrl-evals"}
    rows = run.rollouts.sort("reward")
    assert rows.get_column("step").to_list() == [20, 20]
    assert rows.get_column("split").to_list() == ["valid", "valid"]
    assert rows.get_column("stop_reason").to_list() == ["length", "stop"]
    assert run.latest("val-rollouts/pass@k") == 1.0


def test_trajectory_file_growing_is_followed(tmp_path: Path):
    path = tmp_path / "models" / "m" / "trajectories" / "train" / "0001.jsonl"
    _jsonl(path, [{"trajectories": [_trajectory(1.0, "a")]}])
    follower = Follower([str(tmp_path)], force_polling=True)
    follower.read_all()
    with path.open("a") as fh:
        fh.write(
            json.dumps({"trajectories": [_trajectory(0.0, "b"), _trajectory(0.0, "c")]}) + "\n"
        )
    follower.poll_once()
    (run,) = follower.store.snapshot().runs
    assert run.rollouts.height == 3
    assert sorted(run.rollouts.get_column("group").unique().to_list()) == ["group 1", "group 2"]


def test_art_found_from_the_project_folder(tmp_path: Path):
    """ART logs into a hidden .art/ folder: it is searched, other hidden folders are not."""
    _jsonl(
        tmp_path / ".art" / "p" / "models" / "m" / "history.jsonl",
        [{"step": 1, "train/reward": 1.0}],
    )
    _jsonl(tmp_path / ".secret" / "metrics.jsonl", [{"step": 1, "loss": 1.0}])
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.name == ".art/p/models/m"
    assert run.latest("train/reward") == 1.0


def _v1_episode(step: int, group: str, score: float, answer: str) -> dict:
    """A verifiers v1 ``Episode.to_record()`` as prime-rl's file monitor writes it."""
    nodes = [
        {"parent": None, "message": {"role": "system", "content": "Use tools."}, "sampled": False},
        {"parent": 0, "message": {"role": "user", "content": "6*7?"}, "sampled": False},
        {
            "parent": 1,
            "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            "sampled": True,
        },
        {
            "parent": 2,
            "message": {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            "sampled": False,
        },
        {"parent": 3, "message": {"role": "assistant", "content": answer}, "sampled": True},
    ]
    return {
        "id": f"ep-{group}-{answer}",
        "env": {"id": "math"},
        "task": {"type": "math", "data": {"question": "6*7?"}, "key": f"task-{group}"},
        "group": {"id": group},
        "run": {"type": "train", "id": "r1", "work": {"type": "train", "step": step}},
        "ok": True,
        "traces": [
            {
                "version": 1,
                "task": {"type": "math", "data": {}},
                "agent": {"name": "solver", "config": {}},
                "nodes": nodes,
                "calls": [
                    {"node": 2, "usage": {"input_tokens": 20, "output_tokens": 7}},
                    {"node": 4, "usage": {"input_tokens": 40, "output_tokens": 3}},
                ],
                "rewards": {"correct": {"score": score, "weight": 1.0}, "format": None},
                "metrics": {"turns": 2.0},
                "stop_condition": "done",
                "ok": True,
            }
        ],
    }


def test_prime_rl_v1_episode_records(tmp_path: Path):
    out = tmp_path / "out"
    _jsonl(
        out / "rollouts" / "step_3" / "train" / "all" / "traces.jsonl",
        [
            _v1_episode(3, "g1", 1.0, "42"),
            _v1_episode(3, "g1", 0.0, "41"),
            _v1_episode(3, "g2", 0.0, "0"),
        ],
    )
    (run,) = read_snapshot(tmp_path).runs
    assert run.name == "out"
    rows = run.rollouts.sort("group", "reward")
    assert rows.get_column("step").to_list() == [3, 3, 3]
    assert rows.get_column("group").to_list() == ["g1", "g1", "g2"]
    assert rows.get_column("reward").to_list() == [0.0, 1.0, 0.0]
    best = rows.row(1, named=True)
    assert best["prompt"] == "[system] Use tools.\n[user] 6*7?"
    assert best["completion"].splitlines()[-1] == "[assistant] 42"
    assert '→ search({"q": "weather"})' in best["completion"]
    assert best["tokens"] == 10 and best["correct"] == 1.0 and best["turns"] == 2.0
    assert best["agent"] == "solver" and best["stop_condition"] == "done"
    assert len(orjson.loads(best["messages"])) == 5
    assert run.latest("rollouts/pass@k") == 0.5


def test_trl_reward_functions_named_by_trainer_state(tmp_path: Path, fixtures: Path):
    """Numeric extras logged beside the reward functions are not summed into the reward."""
    out = tmp_path / "out"
    (out / "completions").mkdir(parents=True)
    (out / "checkpoint-5").mkdir()
    state = {"log_history": [{"step": 5, "rewards/correct/mean": 0.5, "rewards/fmt/mean": 1.0}]}
    (out / "checkpoint-5" / "trainer_state.json").write_text(json.dumps(state))
    pl.DataFrame(
        {
            "step": [5, 5],
            "prompt": ["p", "p"],
            "completion": ["a", "b"],
            "correct": [1.0, 0.0],
            "fmt": [1.0, 1.0],
            "num_digits": [3.0, 4.0],  # an extra a reward function logged
            "advantage": [0.5, -0.5],
        }
    ).write_parquet(out / "completions" / "completions_00005.parquet")
    (run,) = read_snapshot(out).runs
    rows = run.rollouts.sort("completion")
    assert rows.get_column("reward").to_list() == [2.0, 1.0]
    assert rows.get_column("num_digits").to_list() == [3.0, 4.0]
    # the real TRL fixture names its five reward functions the same way
    from rltop.core.formats.parquet import reward_function_names

    shutil_dir = tmp_path / "trl"
    shutil_dir.mkdir()
    (shutil_dir / "trainer_state.json").write_bytes(
        (fixtures / "trl" / "trainer_state_grpo_chaos_economy.json").read_bytes()
    )
    assert len(reward_function_names(str(shutil_dir))) == 5
