"""OpenPipe ART: ``history.jsonl`` metrics and ``trajectories/<split>/<step:04d>.jsonl`` rollouts.

ART keeps a model's files under ``.art/<project>/models/<model>/``: ``history.jsonl`` (one
``{"step": N, "train/reward": ..., "val/reward": ..., "loss/...": ...}`` per line) and the
trajectories of each step, either one trajectory per line or one trajectory *group* per line
(``{"trajectories": [...]}``). A trajectory holds ``reward``, ``metrics``, ``messages`` (or ART's
``messages_and_choices``: OpenAI chat messages and choices, with ``tool_calls`` and
``tool_call_id``) and ``tools``. Messages are kept structured (the ``messages`` column holds their
JSON); prompt and completion text are rendered from them with tool calls spelled out.

Message handling is ``rltop.core.messages``; ``rollouts.chat_rollout`` makes the row.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from rltop.core.formats.base import Sniffed
from rltop.core.formats.jsonl import JsonlMetricsParser
from rltop.core.formats.rollouts import RolloutJsonlParser, chat_rollout
from rltop.core.messages import messages_of
from rltop.core.model import ParseResult, Skip


class ArtHistoryParser(JsonlMetricsParser):
    format: ClassVar[str] = "art-history"


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

    def line_rows(
        self, obj: dict[str, Any], lineno: int, raw: bytes, result: ParseResult
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
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
        missing = sum(1 for r in rows if r["step"] is None)
        if missing:
            result.skips.append(Skip(f"{missing} trajectories without a step", lineno))
        return [r for r in rows if r["step"] is not None]

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


PARSERS = (ArtHistoryParser, ArtTrajectoryParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """ART's ``history.jsonl`` and ``trajectories/<split>/<step>.jsonl``."""
    name = os.path.basename(path).lower()
    parts = path.replace("\\", "/").split("/")[:-1]
    if name.endswith(".jsonl") and "trajectories" in parts:
        return Sniffed(ArtTrajectoryParser, "OpenPipe ART trajectories")
    if name == "history.jsonl" and b'"step"' in head.split(b"\n", 1)[0]:
        return Sniffed(ArtHistoryParser, "OpenPipe ART history.jsonl")
    return None
