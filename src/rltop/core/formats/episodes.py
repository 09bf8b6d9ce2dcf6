"""Episode logs of multi-turn agent environments, as rollouts.

One JSON document per episode (``logs/episode_<id>.json``, often written with ``indent=2``)::

    {"episode_id", "scenario", "turns" | "messages", "total_reward", "terminal_reason",
     "scores": {"<dimension>": value, ...}}

Each episode becomes one rollout row: the prompt is the first user/observation turn, the
completion the assistant turns, the turns are kept as chat messages (JSON), the reward is
``total_reward``, and ``terminal_reason``, ``scenario``, ``episode_id`` and one ``score/<dimension>``
column per score dimension come along. The step is the episode's own ``step``/``iteration`` field,
else a step in the file or folder name (``step_40/``), else the episode's index in its folder in
the order the files were found. A JSON-lines file with one such episode per line is read too.
"""

from __future__ import annotations

import os
import threading
from typing import Any, ClassVar

from rltop.core.formats.base import (
    Parser,
    Sniffed,
    iter_lines,
    json_skip,
    loads_json,
)
from rltop.core.formats.rollouts import rows_to_frame, split_from_path
from rltop.core.lazyre import lazy
from rltop.core.messages import content_text, dump_json, dump_messages
from rltop.core.model import ParseResult, Skip, clip_sample

USER_ROLES = {"user", "human", "observation", "env", "environment", "customer"}
ASSISTANT_ROLES = {"assistant", "agent", "model", "bot", "ai"}
_STEP_FIELDS = ("step", "global_step", "iteration", "training_step")

_STEP_NAME = lazy(r"(?:^|[_\-.])(?:global_step|step|iteration|iter)[_\-]?(\d+)(?:$|[_\-.])")
_STEP_DIR = lazy(r"^(?:global_step|step|iteration|iter)?[_\-]?(\d+)$")

_index_lock = threading.Lock()
_episode_index: dict[str, dict[str, int]] = {}  # folder -> file -> index (order first seen)


def step_from_name(path: str) -> int | None:
    """A step in the file name (``step_40_episode_x.json``) or its folder (``step_40/``, ``40/``)."""
    folder, name = os.path.split(path)
    m = _STEP_NAME.search(name.rsplit(".", 1)[0])
    if m:
        return int(m.group(1))
    m = _STEP_DIR.match(os.path.basename(folder))
    return int(m.group(1)) if m else None


def episode_index(path: str) -> int:
    """The 0-based index of an episode file in its folder, in the order files were first seen."""
    folder, name = os.path.split(os.path.abspath(path))
    with _index_lock:
        seen = _episode_index.setdefault(folder, {})
        return seen.setdefault(name, len(seen))


def is_episode(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and ("turns" in obj or "messages" in obj)
        and ("total_reward" in obj or "scores" in obj)
        and ("episode_id" in obj or "terminal_reason" in obj or "scenario" in obj)
    )


def turns_to_messages(turns: Any) -> list[dict[str, Any]]:
    """Episode turns in any of the usual shapes -> OpenAI-style chat messages.

    Accepts ``{role, content}`` messages (kept as they are, tool calls included), and turns such as
    ``{"observation": ..., "action": ...}`` / ``{"user": ..., "assistant": ...}``.
    """
    if not isinstance(turns, list):
        return []
    out: list[dict[str, Any]] = []
    for turn in turns:
        if not isinstance(turn, dict):
            out.append({"role": "user", "content": str(turn)})
            continue
        if "role" in turn:
            out.append(turn)
            continue
        for key, value in turn.items():
            lowered = key.lower()
            if lowered in ("observation", "user", "input", "prompt", "customer", "env"):
                out.append({"role": "user", "content": _content(value)})
            elif lowered in ("action", "assistant", "response", "model", "agent", "output"):
                out.append({"role": "assistant", "content": _content(value)})
            elif lowered in ("tool", "tool_result", "tool_output"):
                out.append({"role": "tool", "content": _content(value)})
            elif lowered == "tool_calls" and out and out[-1].get("role") == "assistant":
                out[-1] = {**out[-1], "tool_calls": value}
    return out


def _content(value: Any) -> Any:
    if isinstance(value, dict) and "content" in value:
        return value["content"]
    return value


def episode_row(obj: dict[str, Any], step: int | None, split: str) -> dict[str, Any]:
    """One episode -> one rollout row (core columns, ``score/<dimension>`` and the rest)."""
    raw_turns = obj.get("turns") if obj.get("turns") is not None else obj.get("messages")
    messages = turns_to_messages(raw_turns)
    initial = obj.get("initial_observation")
    if initial is not None and not any(m.get("role") in USER_ROLES for m in messages[:1]):
        messages = [{"role": "user", "content": _content(initial)}, *messages]
    prompt = next(
        (
            content_text(m.get("content"))
            for m in messages
            if str(m.get("role")).lower() in USER_ROLES
        ),
        None,
    )
    if prompt is None:
        prompt = next(
            (content_text(m.get("content")) for m in messages if m.get("role") == "system"), None
        )
    answers = [m for m in messages if str(m.get("role")).lower() in ASSISTANT_ROLES]
    completion = "\n\n".join(content_text(m.get("content")) for m in answers) if answers else None
    for key in _STEP_FIELDS:
        value = obj.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            step = int(value)
            break
    reward = obj.get("total_reward", obj.get("reward"))
    row: dict[str, Any] = {
        "step": step,
        "prompt": prompt,
        "completion": completion,
        "reward": float(reward)
        if isinstance(reward, (int, float)) and not isinstance(reward, bool)
        else None,
        "group": str(obj["scenario"]) + ": " + (prompt or "")
        if obj.get("scenario") is not None
        else prompt,
        "length": len(completion) if completion is not None else None,
        "tokens": None,
        "split": split,
        "messages": dump_messages(messages) if messages else None,
        "extra": None,
        "turns": len(answers),
    }
    extra: dict[str, Any] = {}
    scores = obj.get("scores")
    if isinstance(scores, dict):
        for dim, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[f"score/{dim}"] = float(value)
            elif isinstance(value, dict) and isinstance(value.get("score"), (int, float)):
                row[f"score/{dim}"] = float(value["score"])
                extra[f"scores/{dim}"] = value
    for key, value in obj.items():
        if key in ("turns", "messages", "total_reward", "scores", "initial_observation"):
            continue
        if key in _STEP_FIELDS:
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            row.setdefault(key, value)
        else:
            extra[key] = value
    if extra:
        row["extra"] = dump_json(extra)
    return row


class EpisodeParser(Parser):
    """One episode per JSON document, read whole each time it changes."""

    format: ClassVar[str] = "episode-log"
    kind: ClassVar[str] = "rollouts"
    mode: ClassVar[str] = "whole"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.split = split_from_path(path)
        self.step = step_from_name(path)

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data.strip():
            return result
        try:
            obj = loads_json(data)
        except ValueError as exc:
            result.skips.append(json_skip(1, data, exc))  # half-written: tried again next change
            return result
        if not is_episode(obj):
            result.skips.append(Skip("JSON document is not an episode log", 1, clip_sample(data)))
            return result
        row = self._row(obj)
        row.update(_path=self.path, _offset=0, _len=len(data), _format=self.format)
        result.rollout_frame = rows_to_frame([row])
        return result

    def _row(self, obj: dict[str, Any]) -> dict[str, Any]:
        step = self.step if self.step is not None else episode_index(self.path)
        return episode_row(obj, step, self.split)

    def reread(self, raw: bytes) -> dict[str, Any]:
        obj = loads_json(raw)
        if not is_episode(obj):
            raise ValueError("not an episode log")
        return self._row(obj)


class EpisodeJsonlParser(Parser):
    """Episodes one per line (a JSON-lines log of episodes); the step defaults to the line index."""

    format: ClassVar[str] = "episode-jsonl"
    kind: ClassVar[str] = "rollouts"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.split = split_from_path(path)
        self.step = step_from_name(path)
        self.count = 0
        self.offset = 0

    def reset(self) -> None:
        super().reset()
        self.count = 0
        self.offset = 0

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        rows = []
        base = self.offset
        self.offset += len(block)
        pos = 0
        for lineno, raw in iter_lines(block, first_line):
            start = block.find(raw, pos)
            pos = start + len(raw)
            try:
                obj = loads_json(raw)
            except ValueError as exc:
                result.skips.append(json_skip(lineno, raw, exc))
                continue
            if not is_episode(obj):
                result.skips.append(Skip("line is not an episode", lineno, clip_sample(raw)))
                continue
            step = self.step if self.step is not None else self.count
            self.count += 1
            row = episode_row(obj, step, self.split)
            row.update(_path=self.path, _offset=base + start, _len=len(raw), _format=self.format)
            rows.append(row)
        if rows:
            result.rollout_frame = rows_to_frame(rows)
        return result

    def reread(self, raw: bytes) -> dict[str, Any]:
        """The episode of one line; its step is the one in the file name, else the line's index
        (which the row in memory keeps: only the text is read back)."""
        obj = loads_json(raw)
        if not is_episode(obj):
            raise ValueError("line is not an episode")
        return episode_row(obj, self.step, self.split)


PARSERS = (EpisodeParser, EpisodeJsonlParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """Episode logs: a JSON document (or JSON lines) with turns/messages and a total reward."""
    lower = path.lower()
    if not lower.endswith((".json", ".jsonl", ".ndjson")):
        return None
    if b'"turns"' not in head and b'"messages"' not in head:
        return None
    if not any(k in head for k in (b'"episode_id"', b'"terminal_reason"', b'"total_reward"')):
        return None
    if lower.endswith(".json"):
        stripped = head.lstrip()
        if not stripped.startswith(b"{"):
            return None
        try:
            obj = loads_json(stripped)
        except ValueError:
            # a long episode whose head is not the whole document: decide by the keys seen
            if b'"episode_id"' in head:
                return Sniffed(EpisodeParser, "episode log (one JSON document per episode)")
            return None
        if is_episode(obj):
            return Sniffed(EpisodeParser, "episode log (one JSON document per episode)")
        return None
    first = head.split(b"\n", 1)[0].strip()
    try:
        obj = loads_json(first)
    except ValueError:
        return None
    if is_episode(obj):
        return Sniffed(EpisodeJsonlParser, "episode logs (one episode per line)")
    return None
