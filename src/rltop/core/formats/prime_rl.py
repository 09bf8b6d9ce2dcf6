"""prime-rl ``metrics.jsonl`` and rollouts, and verifiers ``results.jsonl``.

prime-rl's file monitor (on by default) appends ``{"step", "time", ...}`` to
``<output_dir>/metrics.jsonl`` with keys like ``train/agg/all/<agent>/reward/mean``, and the
rollouts of each step to ``<output_dir>/rollouts/step_N/{train,eval}/{all,effective}/traces.jsonl``
(``all`` grows as episodes finish, ``effective`` is the subset trained on: it is read only when
there is no ``all`` file beside it, so rollouts are not counted twice). Each line is a verifiers
v1 ``Episode`` record (``task``, ``group``, ``run.work.step``, ``traces`` with a message graph
``nodes``, named ``rewards``, ``metrics``) or, from older versions, a flat rollout as in
verifiers' ``results.jsonl`` (``vf-eval`` output, one rollout per line): ``prompt``/``completion``
as chat messages with ``tool_calls``, ``reward``, one score per reward function, ``example_id``,
``answer``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from rltop.core.formats.base import Sniffed
from rltop.core.formats.jsonl import JsonlMetricsParser
from rltop.core.formats.rollouts import RolloutJsonlParser, chat_rollout, normalize_rollout
from rltop.core.model import ParseResult, Skip


class PrimeRlMetricsParser(JsonlMetricsParser):
    format: ClassVar[str] = "prime-rl-metrics"


class ChatRolloutParser(RolloutJsonlParser):
    """Rollouts whose prompt and completion are chat messages (tool calls kept structured)."""

    format: ClassVar[str] = "verifiers-rollouts"
    BULK_MIN_BYTES = 1 << 62  # chat messages are nested: always the per-line path

    def line_rows(
        self, obj: dict[str, Any], lineno: int, raw: bytes, result: ParseResult
    ) -> list[dict[str, Any]]:
        if isinstance(obj.get("traces"), list) and "task" in obj:
            episode_rows = episode_rollouts(obj, self.default_step, self.split)
            if not episode_rows:
                result.skips.append(Skip("episode without traces (failed rollout)", lineno))
            return [r for r in episode_rows if r["step"] is not None]
        if isinstance(obj.get("prompt"), list) or isinstance(obj.get("completion"), list):
            row = chat_rollout(
                obj,
                self.default_step,
                self.split,
                prompt=obj.get("prompt"),
                completion=obj.get("completion"),
            )
        else:
            row = normalize_rollout(obj, self.default_step, self.split)
        if row["step"] is None:
            result.skips.append(Skip("rollout without a step (none in the line or path)", lineno))
            return []
        return [row]


def _branch_messages(nodes: list[Any]) -> list[dict[str, Any]]:
    """The messages of the path from the root to the last node of a verifiers message graph."""
    path: list[int] = []
    index: int | None = len(nodes) - 1
    seen: set[int] = set()
    while index is not None and 0 <= index < len(nodes) and index not in seen:
        seen.add(index)
        path.append(index)
        node = nodes[index]
        parent = node.get("parent") if isinstance(node, dict) else None
        index = parent if isinstance(parent, int) else None
    path.reverse()
    return [
        nodes[i]["message"]
        for i in path
        if isinstance(nodes[i], dict) and isinstance(nodes[i].get("message"), dict)
    ]


def episode_rollouts(
    episode: dict[str, Any], default_step: int | None, split: str
) -> list[dict[str, Any]]:
    """verifiers v1 ``Episode.to_record()`` (what prime-rl writes now): one row per agent trace.

    Reward is the sum of the trace's weighted rewards (``Trace.reward``); each named reward's
    score and each metric get their own column; messages follow the graph to its last node.
    """
    run = episode.get("run") if isinstance(episode.get("run"), dict) else {}
    work = run.get("work") if isinstance(run.get("work"), dict) else {}
    step = work.get("step") if isinstance(work.get("step"), int) else default_step
    if work.get("type") == "eval" or run.get("type") == "eval":
        split = "valid"
    task = episode.get("task") if isinstance(episode.get("task"), dict) else {}
    group_info = episode.get("group") if isinstance(episode.get("group"), dict) else {}
    group = group_info.get("id") or task.get("key") or task.get("hash")
    rows = []
    for trace in episode.get("traces") or []:
        if not isinstance(trace, dict):
            continue
        nodes = trace.get("nodes") if isinstance(trace.get("nodes"), list) else []
        messages = _branch_messages(nodes)
        sampled = [
            i
            for i, n in enumerate(nodes)
            if isinstance(n, dict) and n.get("sampled") and isinstance(n.get("message"), dict)
        ]
        first_sampled = nodes[sampled[0]]["message"] if sampled else None
        cut = next(
            (i for i, m in enumerate(messages) if m is first_sampled),
            next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), None),
        )
        prompt, completion = (messages, []) if cut is None else (messages[:cut], messages[cut:])
        obj: dict[str, Any] = {"step": step, "example_id": group}
        rewards = trace.get("rewards") if isinstance(trace.get("rewards"), dict) else {}
        total = None
        for name, reward in rewards.items():
            if isinstance(reward, dict) and isinstance(reward.get("score"), (int, float)):
                weight = reward.get("weight", 1.0)
                weight = weight if isinstance(weight, (int, float)) else 1.0
                total = (total or 0.0) + reward["score"] * weight
                obj[name] = reward["score"]
        obj["reward"] = total
        metrics = trace.get("metrics") if isinstance(trace.get("metrics"), dict) else {}
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and name not in obj:
                obj[name] = value
        for key in ("stop_condition", "ok", "is_completed"):
            if key in trace:
                obj[key] = trace[key]
        agent = trace.get("agent")
        if isinstance(agent, dict) and agent.get("name"):
            obj["agent"] = agent["name"]
        out_tokens = [
            c["usage"].get("output_tokens")
            for c in trace.get("calls") or []
            if isinstance(c, dict) and isinstance(c.get("usage"), dict)
        ]
        if out_tokens and all(isinstance(t, int) for t in out_tokens):
            obj["tokens"] = sum(out_tokens)
        rows.append(
            chat_rollout(
                obj, default_step, split, prompt=prompt, completion=completion, messages=messages
            )
        )
    return rows


class PrimeRlTracesParser(ChatRolloutParser):
    format: ClassVar[str] = "prime-rl-rollouts"


class VerifiersResultsParser(ChatRolloutParser):
    """``vf-eval`` results: one evaluation, so rollouts without a step are step 0."""

    format: ClassVar[str] = "verifiers-results"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        if self.default_step is None:
            self.default_step = 0
        self.split = "valid"


def effective_duplicate(path: str) -> bool:
    """``.../effective/traces.jsonl`` with an ``all/traces.jsonl`` beside it."""
    folder = os.path.dirname(path)
    if os.path.basename(folder) != "effective":
        return False
    return os.path.exists(os.path.join(os.path.dirname(folder), "all", os.path.basename(path)))


PARSERS = (PrimeRlMetricsParser, PrimeRlTracesParser, VerifiersResultsParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """prime-rl rollouts and metrics, verifiers results, by name and first line."""
    name = os.path.basename(path).lower()
    parts = path.replace("\\", "/").split("/")[:-1]
    first = head.split(b"\n", 1)[0]
    if name == "traces.jsonl" and "rollouts" in parts:
        if effective_duplicate(path):
            return Sniffed(
                None,
                "prime-rl 'effective' rollouts: a subset of all/traces.jsonl, which is read",
            )
        return Sniffed(PrimeRlTracesParser, "prime-rl rollouts (traces.jsonl)")
    if name == "results.jsonl" and b'"prompt"' in first and b'"completion"' in first:
        return Sniffed(VerifiersResultsParser, "verifiers results.jsonl (vf-eval rollouts)")
    if (
        name == "metrics.jsonl"
        and b'"step"' in first
        and b'"time"' in first
        and b'"env/all/' not in first
    ):
        return Sniffed(PrimeRlMetricsParser, "prime-rl metrics.jsonl")
    return None
