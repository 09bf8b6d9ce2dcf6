"""Hugging Face Trainer / TRL ``trainer_state.json``: ``log_history`` rewritten at every save."""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

from rltop.core.formats.base import (
    MAX_STEP,
    MIN_STEP,
    Parser,
    Sniffed,
    StepOutOfRange,
    loads_json,
    metric_value,
)
from rltop.core.model import ParseResult, Skip, clip_sample

#: trainer_state fields worth showing as run info (not metrics)
INFO_KEYS = (
    "global_step",
    "max_steps",
    "num_train_epochs",
    "logging_steps",
    "save_steps",
    "eval_steps",
    "best_metric",
    "best_model_checkpoint",
    "train_batch_size",
)


class TrainerStateParser(Parser):
    format: ClassVar[str] = "hf-trainer-state"
    kind: ClassVar[str] = "metrics"
    mode = "whole"
    whole_run = True

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data.strip():
            return result
        try:
            state = loads_json(data)
        except ValueError as exc:
            # a save in progress leaves a half-written file: the next change re-reads it whole
            result.skips.append(
                Skip(f"incomplete or malformed JSON ({exc})"[:100], None, clip_sample(data))
            )
            return result
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            result.skips.append(Skip("no log_history list", None, ""))
            return result
        for index, entry in enumerate(history):
            if not isinstance(entry, dict) or not isinstance(entry.get("step"), (int, float)):
                result.skips.append(Skip(f"log_history[{index}] has no step", None, _sample(entry)))
                continue
            step = entry["step"]
            if not math.isfinite(step) or not MIN_STEP <= int(step) <= MAX_STEP:
                reason = str(StepOutOfRange(step)) if math.isfinite(step) else "step not finite"
                result.skips.append(Skip(f"log_history[{index}]: {reason}", None, _sample(entry)))
                continue
            row: dict = {"step": int(step)}
            for key, value in entry.items():
                if key == "step":
                    continue
                norm = metric_value(value)
                if norm is not None:
                    row[key] = norm
            result.metrics.append(row)
        result.config = {
            f"trainer_state/{k}": state[k] for k in INFO_KEYS if state.get(k) is not None
        }
        return result


def _sample(entry: Any) -> str:
    try:
        return clip_sample(str(entry)[:200])
    except RecursionError:
        return "(nested too deeply to show)"


PARSERS = (TrainerStateParser,)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """``trainer_state.json`` by name, or any ``.json`` document with a ``log_history``."""
    lower = os.path.basename(path).lower()
    if lower == "trainer_state.json" or (lower.endswith(".json") and b'"log_history"' in head):
        return Sniffed(TrainerStateParser, "Hugging Face trainer_state.json (log_history)")
    return None
