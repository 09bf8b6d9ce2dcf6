"""Rollouts in Parquet: TRL completions, ART trajectories, and other prompt/completion tables.

- TRL >= 0.28 (``log_completions``) writes ``<output_dir>/completions/completions_{step:05d}.parquet``
  with ``step``, ``prompt``, ``completion``, one column per reward function and ``advantage``. The
  reward is the ``reward`` column when there is one, else the sum of the reward-function columns
  (TRL's default weights are 1); each function's column is kept.
- ART writes ``trajectories/<split>/<step:04d>.parquet`` with ``reward``, ``metrics``,
  ``messages`` (chat messages with tool calls), ``tools``.

Parquet files are written whole, so they are read whole (``whole`` mode) with polars; a file
still being written (no footer yet) is reported and read again when it changes.
"""

from __future__ import annotations

import glob
import io
import os
import re
from typing import Any, ClassVar

import polars as pl

from rltop.core.formats.base import Sniffed, loads_json
from rltop.core.formats.rollouts import (
    COMPLETION_KEYS,
    PROMPT_KEYS,
    REWARD_KEYS,
    RolloutFileParser,
    chat_rollout,
    normalize_rollout,
    rows_to_frame,
)
from rltop.core.messages import messages_of
from rltop.core.model import ParseResult, Skip
from rltop.core.tail import open_regular

#: TRL columns that are not reward functions
TRL_NON_REWARD = {"step", "prompt", "completion", "advantage", "reward", "image", "images"}


def _read(data: bytes, result: ParseResult) -> pl.DataFrame | None:
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises ComputeError/OSError/... on a half-written file
        result.skips.append(
            Skip(f"unreadable Parquet ({type(exc).__name__}: still being written?)"[:100])
        )
        return None


class ParquetRolloutParser(RolloutFileParser):
    """A table of rollouts: prompt/completion (text or chat messages) and a reward per row."""

    format: ClassVar[str] = "parquet-rollouts"
    mode = "whole"

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data:
            return result
        frame = _read(data, result)
        if frame is None:
            return result
        rows = []
        missing = 0
        for obj in frame.iter_rows(named=True):
            row = self.row(obj)
            if row["step"] is None:
                missing += 1
                continue
            rows.append(row)
        if missing:
            result.skips.append(Skip(f"{missing} rows without a step (none in the row or name)"))
        if rows:
            result.rollout_frame = rows_to_frame(rows)
        return result

    def row(self, obj: dict[str, Any]) -> dict[str, Any]:
        prompt, completion = obj.get("prompt"), obj.get("completion")
        messages = messages_of(obj.get("messages") or obj.get("messages_and_choices"))
        if messages or isinstance(prompt, list) or isinstance(completion, list):
            rest = {
                k: v
                for k, v in obj.items()
                if k not in ("prompt", "completion", "messages", "messages_and_choices")
            }
            return chat_rollout(
                rest,
                self.default_step,
                self.split,
                prompt=prompt,
                completion=completion,
                messages=messages,
            )
        return normalize_rollout(obj, self.default_step, self.split)


class TrlCompletionsParser(ParquetRolloutParser):
    """``completions/completions_{step:05d}.parquet`` from TRL's trainers.

    The table holds the reward functions' columns and the extras reward functions log, side by
    side. The functions' names are taken from ``rewards/<name>/mean`` in the run's
    ``trainer_state.json`` when there is one; otherwise every numeric column is a reward function.
    """

    format: ClassVar[str] = "trl-completions"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._funcs: set[str] = set()

    def parse_whole(self, data: bytes) -> ParseResult:
        self._funcs = reward_function_names(os.path.dirname(os.path.dirname(self.path)))
        return super().parse_whole(data)

    def row(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("reward") is None:
            funcs = [
                v
                for k, v in obj.items()
                if k not in TRL_NON_REWARD
                and (not self._funcs or k in self._funcs)
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
            ]
            if funcs:
                obj = {**obj, "reward": float(sum(v for v in funcs if v == v))}  # NaN: skipped
        return super().row(obj)


def reward_function_names(output_dir: str) -> set[str]:
    """``<name>`` of ``rewards/<name>/mean`` (or older ``rewards/<name>``) in trainer_state.json."""
    candidates = [os.path.join(output_dir, "trainer_state.json")]
    candidates += sorted(
        glob.glob(os.path.join(glob.escape(output_dir), "checkpoint-*", "trainer_state.json")),
        key=lambda p: int(re.sub(r"\D", "", os.path.basename(os.path.dirname(p))) or 0),
        reverse=True,
    )
    for path in candidates:
        try:
            with open_regular(path) as fh:
                state = loads_json(fh.read())
        except (OSError, ValueError):
            continue
        names: set[str] = set()
        for entry in state.get("log_history") or [] if isinstance(state, dict) else []:
            if isinstance(entry, dict):
                for key in entry:
                    m = re.fullmatch(r"rewards/(.+?)(?:/(?:mean|std))?", key)
                    if m:
                        names.add(m.group(1))
        if names:
            return names
    return set()


class ArtTrajectoryParquetParser(ParquetRolloutParser):
    format: ClassVar[str] = "art-trajectories-parquet"

    def row(self, obj: dict[str, Any]) -> dict[str, Any]:
        metrics = obj.get("metrics")
        if isinstance(metrics, dict):
            obj = {k: v for k, v in obj.items() if k != "metrics"}
            for key, value in metrics.items():
                if isinstance(value, (int, float, bool, str)) and key not in obj:
                    obj[key] = value
        return super().row(obj)


def parquet_columns(path: str) -> list[str] | None:
    """Column names from the footer, or None when the file is not (yet) readable Parquet.

    Polars reads the open file (it maps the descriptor and reads the footer), never the path: a
    path is a glob pattern to polars (``r[1].parquet`` would be ``r1.parquet``)."""
    try:
        with open_regular(path) as fh:
            return list(pl.read_parquet_schema(fh))
    except Exception:  # not Parquet, still being written, or not readable
        return None


def looks_like_rollouts(columns: list[str]) -> bool:
    cols = set(columns)
    text = cols & set(PROMPT_KEYS + COMPLETION_KEYS + ("messages", "messages_and_choices"))
    return bool(text) and bool(cols & set(REWARD_KEYS))


def is_trl_completions(path: str) -> bool:
    name = os.path.basename(path).lower()
    return name.startswith("completions_") or os.path.basename(os.path.dirname(path)) == (
        "completions"
    )


PARSERS = (ParquetRolloutParser, TrlCompletionsParser, ArtTrajectoryParquetParser)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """Parquet files: TRL completions and ART trajectories by place, others by their columns."""
    if not path.lower().endswith(".parquet"):
        return None
    if not head:
        return Sniffed(None, "empty so far")
    if is_trl_completions(path):
        return Sniffed(TrlCompletionsParser, "TRL completions (Parquet)")
    if "trajectories" in path.replace("\\", "/").split("/")[:-1]:
        return Sniffed(ArtTrajectoryParquetParser, "OpenPipe ART trajectories (Parquet)")
    columns = parquet_columns(path)
    if columns is None:
        return Sniffed(None, "Parquet without a readable footer (still being written?)")
    if looks_like_rollouts(columns):
        return Sniffed(ParquetRolloutParser, "Parquet rollouts (prompt/completion and reward)")
    shown = ", ".join(columns[:6]) + (", ..." if len(columns) > 6 else "")
    return Sniffed(None, f"Parquet table without prompt/completion and reward columns ({shown})")
