"""tinker-cookbook's per-iteration files: rollout summaries and logtree conversations.

Newer tinker-cookbook writes ``<log_path>/iteration_NNNNNN/``:

- ``train_rollout_summaries.jsonl`` (and ``eval_<name>_rollout_summaries.jsonl``): one trajectory
  per line, ``{"schema_version", "split", "iteration", "group_idx", "traj_idx", "tags",
  "total_reward", "final_reward", "trajectory_metrics", "steps": [{"ob_len", "ac_len", "reward",
  "stop_reason", "metrics", ...}], "final_ob_len"}``: rewards and groups of every trajectory, no
  text. These carry the per-step rollout statistics.
- ``train_logtree.json`` (and ``eval_<name>_logtree.json``): the HTML report's tree as JSON
  (``{"title", "started_at", "root": {"tag", "attrs", "children", "data"?}}``); conversations are
  nodes with ``data = {"type": "conversation", "messages": [{role, content}]}``, inside
  "Group Rollout" sections, followed by a "Reward" table. Only a few groups are logged
  (``num_groups_to_log``), so when the summaries file is beside it, the logtree's rollouts give
  the text and leave ``reward`` empty (kept as ``logged_reward``) so no trajectory counts twice in
  the statistics.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from rltop.core.formats.base import Parser, Sniffed, iter_json_objects, loads_json
from rltop.core.formats.rollouts import (
    RolloutFileParser,
    chat_rollout,
    normalize_rollout,
    rows_to_frame,
    split_from_path,
    step_from_path,
)
from rltop.core.messages import split_chat
from rltop.core.model import ParseResult, Skip

SUMMARIES_SUFFIX = "_rollout_summaries.jsonl"
LOGTREE_SUFFIX = "_logtree.json"


def _split_of(path: str, record_split: Any) -> str:
    if isinstance(record_split, str) and record_split:
        return "train" if record_split == "train" else "valid"
    return split_from_path(path)


class TinkerRolloutSummaryParser(Parser):
    """``*_rollout_summaries.jsonl``: one rollout row (reward, group, tokens) per trajectory."""

    format: ClassVar[str] = "tinker-rollout-summaries"
    kind: ClassVar[str] = "rollouts"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.default_step = step_from_path(path)

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        rows = []
        for lineno, _raw, obj in iter_json_objects(block, first_line, result):
            row = self._row(obj)
            if row["step"] is None:
                result.skips.append(Skip("trajectory without an iteration", lineno))
                continue
            rows.append(row)
        if rows:
            result.rollout_frame = rows_to_frame(rows)
        return result

    def _row(self, obj: dict[str, Any]) -> dict[str, Any]:
        steps = [s for s in obj.get("steps") or [] if isinstance(s, dict)]
        ac_tokens = [s.get("ac_len") for s in steps if isinstance(s.get("ac_len"), int)]
        step = obj.get("iteration")
        flat: dict[str, Any] = {
            "step": step if isinstance(step, int) else self.default_step,
            "reward": obj.get("total_reward"),
            "group_id": f"group {obj['group_idx']}" if "group_idx" in obj else None,
            "tokens": sum(ac_tokens) if ac_tokens else None,
            "final_reward": obj.get("final_reward"),
            "traj_idx": obj.get("traj_idx"),
            "turns": len(steps),
            "final_ob_len": obj.get("final_ob_len"),
            "sampling_client_step": obj.get("sampling_client_step"),
        }
        tags = obj.get("tags")
        if isinstance(tags, list) and tags:
            flat["tags"] = ",".join(str(t) for t in tags)
        if steps and steps[-1].get("stop_reason") is not None:
            flat["stop_reason"] = str(steps[-1]["stop_reason"])
        metrics = obj.get("trajectory_metrics")
        if isinstance(metrics, dict):
            for key, value in metrics.items():
                if isinstance(value, (int, float, bool, str)) and key not in flat:
                    flat[key] = value
        row = normalize_rollout(
            {k: v for k, v in flat.items() if v is not None},
            self.default_step,
            _split_of(self.path, obj.get("split")),
        )
        return row


# -- logtree -----------------------------------------------------------------------------------
def _text_of_node(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        return "".join(_text_of_node(c) for c in node.get("children") or [])
    return ""


def _table(node: dict[str, Any]) -> dict[str, str]:
    """A two-column key/value table (``logtree.table_from_dict``) as a dict."""
    out: dict[str, str] = {}

    def rows(n: Any):
        if isinstance(n, dict):
            if n.get("tag") == "tr":
                yield n
            else:
                for c in n.get("children") or []:
                    yield from rows(c)

    for tr in rows(node):
        cells = [
            _text_of_node(c).strip()
            for c in tr.get("children") or []
            if isinstance(c, dict) and c.get("tag") in ("td", "th")
        ]
        if len(cells) == 2:
            out[cells[0]] = cells[1]
    return out


def _events(node: Any, out: list[tuple[str, Any]]) -> None:
    """Walk the tree in document order: group sections, conversations and tables."""
    if not isinstance(node, dict):
        return
    data = node.get("data")
    if isinstance(data, dict) and data.get("type") == "conversation":
        out.append(("conversation", data.get("messages") or []))
    tag = node.get("tag")
    children = node.get("children") or []
    if tag == "section":
        header = next(
            (
                _text_of_node(c).strip()
                for c in children
                if isinstance(c, dict) and str(c.get("tag", "")).startswith("h")
            ),
            "",
        )
        if header == "Group Rollout":
            out.append(("group", None))
    if tag == "table":
        out.append(("table", _table(node)))
        return
    for child in children:
        _events(child, out)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class TinkerLogtreeParser(RolloutFileParser):
    """``*_logtree.json``: the logged conversations of an iteration as rollouts with text."""

    format: ClassVar[str] = "tinker-logtree"
    mode = "whole"

    def summaries_path(self) -> str:
        name = os.path.basename(self.path)
        base = name[: -len(LOGTREE_SUFFIX)] if name.endswith(LOGTREE_SUFFIX) else name
        return os.path.join(os.path.dirname(self.path), base + SUMMARIES_SUFFIX)

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data.strip():
            return result
        try:
            doc = loads_json(data)
        except ValueError as exc:
            result.skips.append(Skip(f"incomplete or malformed JSON ({exc})"[:100]))
            return result
        if not isinstance(doc, dict) or not isinstance(doc.get("root"), dict):
            result.skips.append(Skip("no logtree root"))
            return result
        if self.default_step is None:
            result.skips.append(Skip("no iteration_NNNNNN folder: step unknown"))
            return result
        events: list[tuple[str, Any]] = []
        _events(doc["root"], events)
        has_summaries = os.path.exists(self.summaries_path())
        rows: list[dict[str, Any]] = []
        group = 0
        prompt: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        for kind, value in events:
            if kind == "group":
                group += 1
                prompt, last = [], None
            elif kind == "conversation":
                messages = [m for m in value if isinstance(m, dict)]
                head, answer = split_chat(messages)
                if not answer:  # a prompt: the next response answers it
                    prompt = messages
                    continue
                full_prompt = head or prompt
                obj: dict[str, Any] = {"group_id": f"group {group}"} if group else {}
                last = chat_rollout(
                    obj,
                    self.default_step,
                    self.split,
                    prompt=full_prompt,
                    completion=answer,
                    messages=full_prompt + answer,
                )
                rows.append(last)
            elif kind == "table" and last is not None and "logged_reward" not in last:
                reward = _number(value.get("reward"))
                if reward is None:
                    reward = _number(value.get("total_return"))
                if reward is not None:
                    last["logged_reward"] = reward
                    if not has_summaries:
                        last["reward"] = reward
                    for key in ("correct", "format_valid"):
                        if key in value:
                            last[key] = value[key]
        if not rows:
            result.skips.append(Skip("no conversations in the logtree"))
            return result
        result.rollout_frame = rows_to_frame(rows)
        return result


PARSERS = (TinkerRolloutSummaryParser, TinkerLogtreeParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """tinker-cookbook's per-iteration rollout summaries and logtree JSON."""
    name = os.path.basename(path).lower()
    if name.endswith(SUMMARIES_SUFFIX):
        return Sniffed(TinkerRolloutSummaryParser, "tinker-cookbook rollout summaries")
    if name.endswith(LOGTREE_SUFFIX):
        return Sniffed(TinkerLogtreeParser, "tinker-cookbook logtree conversations")
    if name.endswith(".html") and name.startswith(("train_iteration_", "train", "eval_")):
        return Sniffed(
            None,
            "tinker-cookbook HTML report (for a browser); its conversations are read from "
            "the *_logtree.json beside it when there is one",
        )
    return None
