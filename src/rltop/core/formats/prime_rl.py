"""prime-rl ``metrics.jsonl`` and rollouts, and verifiers ``results.jsonl``.

prime-rl's file monitor (on by default) appends ``{"step", "time", ...}`` to
``<output_dir>/metrics.jsonl`` with keys like ``train/agg/all/<agent>/reward/mean``, and the
rollouts of each step to ``<output_dir>/rollouts/step_N/{train,eval}/{all,effective}/traces.jsonl``
(``all`` grows as episodes finish, ``effective`` is the subset trained on: it is read only when
there is no ``all`` file beside it, so rollouts are not counted twice). verifiers' ``results.jsonl``
(``vf-eval`` output) holds one rollout per line: ``prompt``/``completion`` as chat messages with
``tool_calls``, ``reward``, one score per reward function, ``example_id``, ``answer``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from rltop.core.formats.art import chat_rollout
from rltop.core.formats.base import iter_lines, json_skip, loads_json
from rltop.core.formats.jsonl import JsonlMetricsParser
from rltop.core.formats.rollouts import RolloutJsonlParser, normalize_rollout, rows_to_frame
from rltop.core.model import ParseResult, Skip, clip_sample


class PrimeRlMetricsParser(JsonlMetricsParser):
    format: ClassVar[str] = "prime-rl-metrics"


class ChatRolloutParser(RolloutJsonlParser):
    """Rollouts whose prompt and completion are chat messages (tool calls kept structured)."""

    format: ClassVar[str] = "verifiers-rollouts"
    BULK_MIN_BYTES = 1 << 62  # chat messages are nested: always the per-line path

    def _per_line(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        rows: list[dict[str, Any]] = []
        for lineno, raw in iter_lines(block, first_line):
            try:
                obj = loads_json(raw)
            except ValueError as exc:
                result.skips.append(json_skip(lineno, raw, exc))
                continue
            if not isinstance(obj, dict):
                result.skips.append(Skip("not a JSON object", lineno, clip_sample(raw)))
                continue
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
                result.skips.append(
                    Skip("rollout without a step (none in the line or path)", lineno)
                )
                continue
            rows.append(row)
        if rows:
            result.rollout_frame = rows_to_frame(rows)
        return result


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


def sniff(path: str, head: bytes):
    """prime-rl rollouts and metrics, verifiers results, by name and first line."""
    from rltop.core.formats import Sniffed

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
