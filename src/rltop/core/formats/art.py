"""OpenPipe ART: ``history.jsonl`` metrics and ``trajectories/<split>/<step:04d>.jsonl`` rollouts.

ART keeps a model's files under ``.art/<project>/models/<model>/``: ``history.jsonl`` (one
``{"step": N, "train/reward": ..., "val/reward": ..., "loss/...": ...}`` per line) and the
trajectories of each step, either one trajectory per line or one trajectory *group* per line
(``{"trajectories": [...]}``). A trajectory holds ``reward``, ``metrics``, ``messages`` (or ART's
``messages_and_choices``: OpenAI chat messages and choices, with ``tool_calls`` and
``tool_call_id``) and ``tools``. Messages are kept structured (the ``messages`` column holds their
JSON); prompt and completion text are rendered from them with tool calls spelled out.

The chat helpers here are shared with the prime-rl/verifiers reader.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rltop.core.formats.base import iter_json_objects
from rltop.core.formats.jsonl import JsonlMetricsParser
from rltop.core.formats.rollouts import (
    RolloutJsonlParser,
    normalize_rollout,
    rows_to_frame,
)
from rltop.core.model import ParseResult, Skip


class ArtHistoryParser(JsonlMetricsParser):
    format: ClassVar[str] = "art-history"


# -- chat messages ------------------------------------------------------------------------------
def as_message(item: Any) -> dict[str, Any] | None:
    """An OpenAI chat message from a message or a choice (``{"message": {...}, ...}``)."""
    if not isinstance(item, dict):
        return None
    if "role" not in item and isinstance(item.get("message"), dict):
        msg = dict(item["message"])
        if item.get("finish_reason") is not None:
            msg.setdefault("finish_reason", item["finish_reason"])
        return msg
    return item


def messages_of(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    out = [m for m in (as_message(v) for v in value) if m is not None]
    return out or None


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        parts = []
        for part in content:
            if isinstance(part, dict):
                text = part.get("text") or part.get("thinking") or part.get("content")
                parts.append(str(text) if text is not None else f"[{part.get('type', 'part')}]")
            else:
                parts.append(str(part))
        return " ".join(parts)
    return str(content)


def message_text(msg: dict[str, Any]) -> str:
    """``[role] content`` plus one ``→ name(arguments)`` line per tool call."""
    role = msg.get("role", "")
    head = f"[{role}]"
    if msg.get("tool_call_id"):
        head += f" ({msg['tool_call_id']})"
    lines = [f"{head} {_content_text(msg.get('content'))}".rstrip()]
    for call in msg.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        name = fn.get("name", "?")
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            import orjson

            args = orjson.dumps(args, default=str).decode()
        lines.append(f"  → {name}({args})")
    return "\n".join(lines)


def chat_text(messages: list[dict[str, Any]] | None) -> str | None:
    if not messages:
        return None
    return "\n".join(message_text(m) for m in messages)


def split_chat(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Prompt = messages before the first assistant turn; completion = the rest."""
    for i, msg in enumerate(messages):
        if msg.get("role") == "assistant":
            return messages[:i], messages[i:]
    return messages, []


def chat_rollout(
    obj: dict[str, Any],
    default_step: int | None,
    split: str,
    *,
    prompt: Any = None,
    completion: Any = None,
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A rollout row from a record whose prompt/completion are chat messages.

    ``messages`` keeps every message (with tool calls) as JSON; prompt and completion text show
    tool calls as ``→ name(arguments)`` so they are searchable and readable in the browser.
    """
    prompt_msgs = messages_of(prompt)
    completion_msgs = messages_of(completion)
    if messages is None:
        messages = (prompt_msgs or []) + (completion_msgs or []) or None
    if messages and prompt_msgs is None and completion_msgs is None:
        prompt_msgs, completion_msgs = split_chat(messages)
    base = {k: v for k, v in obj.items() if k not in ("prompt", "completion", "messages")}
    base["prompt"] = chat_text(prompt_msgs) if prompt_msgs is not None else prompt
    base["completion"] = chat_text(completion_msgs) if completion_msgs is not None else completion
    base["messages"] = messages
    return normalize_rollout(base, default_step, split)


# -- trajectories ------------------------------------------------------------------------------
class ArtTrajectoryParser(RolloutJsonlParser):
    """ART trajectories: one trajectory or one group of trajectories per line."""

    format: ClassVar[str] = "art-trajectories"
    BULK_MIN_BYTES = 1 << 62  # nested messages: always the per-line path

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._groups = 0

    def reset(self) -> None:
        super().reset()
        self._groups = 0

    def _per_line(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        rows: list[dict[str, Any]] = []
        for lineno, _raw, obj in iter_json_objects(block, first_line, result):
            if isinstance(obj.get("trajectories"), list):
                self._groups += 1
                group = f"group {self._groups}"
                for traj in obj["trajectories"]:
                    if isinstance(traj, dict):
                        rows.append(self._row(traj, group))
                    else:  # ART logs an exception in place of a failed trajectory
                        result.skips.append(
                            Skip("trajectory is not an object (failed rollout)", lineno)
                        )
            else:
                rows.append(self._row(obj, None))
        missing = [r for r in rows if r["step"] is None]
        if missing:
            result.skips.append(Skip(f"{len(missing)} trajectories without a step", first_line))
        rows = [r for r in rows if r["step"] is not None]
        if rows:
            result.rollout_frame = rows_to_frame(rows)
        return result

    def _row(self, traj: dict[str, Any], group: str | None) -> dict[str, Any]:
        messages = messages_of(traj.get("messages_and_choices") or traj.get("messages"))
        rest = {k: v for k, v in traj.items() if k not in ("messages_and_choices", "messages")}
        metrics = rest.pop("metrics", None)
        if isinstance(metrics, dict):  # per-trajectory metrics as their own columns
            for key, value in metrics.items():
                if isinstance(value, (int, float, bool, str)) and key not in rest:
                    rest[key] = value
        if group is not None:
            rest["group_id"] = group
        return chat_rollout(rest, self.default_step, self.split, messages=messages)


def sniff(path: str, head: bytes):
    """ART's ``history.jsonl`` and ``trajectories/<split>/<step>.jsonl``."""
    import os

    from rltop.core.formats import Sniffed

    name = os.path.basename(path).lower()
    parts = path.replace("\\", "/").split("/")[:-1]
    if name.endswith(".jsonl") and "trajectories" in parts:
        return Sniffed(ArtTrajectoryParser, "OpenPipe ART trajectories")
    if name == "history.jsonl" and b'"step"' in head.split(b"\n", 1)[0]:
        return Sniffed(ArtHistoryParser, "OpenPipe ART history.jsonl")
    return None
