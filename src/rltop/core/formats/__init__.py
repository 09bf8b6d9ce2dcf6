"""Format sniffing: which parser reads a file, decided by its name and its first bytes.

Each candidate is cheap to test: the name first, then at most ``SNIFF_BYTES`` of the head. A file
that matches nothing gets a reason, so ``rltop sources`` can say why it was not read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rltop.core.formats.base import Parser, find_step, flatten, loads_json
from rltop.core.formats.console import ANSI_RE, STEP_LINE_RE, VerlConsoleParser
from rltop.core.formats.csv import OPENAI_COLUMNS, CsvMetricsParser, OpenAIResultsParser
from rltop.core.formats.hf_state import TrainerStateParser
from rltop.core.formats.jsonl import JsonlMetricsParser, TinkerMetricsParser, VerlFileLoggerParser
from rltop.core.formats.rollouts import RolloutJsonlParser, has_rollout_keys

SNIFF_BYTES = 64 * 1024
ROTATED = re.compile(r"\.\d{1,3}$")  # as discover.ROTATED (discover imports this package)

TEXT_LOG_EXTS = (".log", ".out", ".txt", ".err")
JSON_EXTS = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class Sniffed:
    parser: type[Parser] | None
    reason: str  # why it was (not) recognised, for ``rltop sources``


#: extra sniffers added by optional format modules (TensorBoard, W&B, ...); each returns a
#: Sniffed for files it owns, or None
EXTRA_SNIFFERS: list[Callable[[str, bytes], Sniffed | None]] = []


def register_sniffer(func: Callable[[str, bytes], Sniffed | None]) -> None:
    EXTRA_SNIFFERS.append(func)


def sniff(path: str, head: bytes) -> Sniffed:
    """Pick the parser for ``path`` given its first bytes (may be empty for a new file)."""
    # a rotated log (``metrics.jsonl.1``) is sniffed as the file it was
    name = ROTATED.sub("", os.path.basename(path))
    lower = name.lower()
    for extra in EXTRA_SNIFFERS:
        found = extra(path, head)
        if found is not None:
            return found
    path = os.path.join(os.path.dirname(path), name)
    if lower == "trainer_state.json" or (lower.endswith(".json") and b'"log_history"' in head):
        return Sniffed(TrainerStateParser, "Hugging Face trainer_state.json (log_history)")
    if lower.endswith(".csv"):
        return _sniff_csv(head)
    if lower.endswith(JSON_EXTS):
        return _sniff_jsonl(path, head)
    if lower.endswith(TEXT_LOG_EXTS) or "." not in name:
        return _sniff_console(head)
    return Sniffed(None, "not a metrics or rollouts file type")


def _first_line(head: bytes) -> bytes | None:
    for raw in head.split(b"\n")[:-1] if b"\n" in head else []:
        if raw.strip():
            return raw.strip()
    return None


def _sniff_jsonl(path: str, head: bytes) -> Sniffed:
    line = _first_line(head)
    if line is None:
        if not head.strip():
            return Sniffed(None, "empty so far")
        if path.lower().endswith(".json"):
            return _json_document_reason(head)
        return Sniffed(None, "no complete line yet")
    try:
        obj = loads_json(line)
    except ValueError:
        if path.lower().endswith(".json"):
            return _json_document_reason(head)
        obj = _next_json_line(head)  # one bad first line (cut, nested too deeply) hides nothing
        if obj is None:
            return Sniffed(None, "first line is not JSON")
    if not isinstance(obj, dict):
        return Sniffed(None, "first line is not a JSON object")
    if has_rollout_keys(obj):
        return Sniffed(RolloutJsonlParser, "rollouts (prompt/completion text with a reward)")
    if isinstance(obj.get("data"), dict) and "step" in obj:
        return Sniffed(VerlFileLoggerParser, "verl FileLogger ({step, data})")
    flat = flatten(obj)
    if find_step(flat) is None:
        return Sniffed(None, "JSON lines without a step field")
    if not any(isinstance(v, (int, float)) and k != "step" for k, v in flat.items()):
        return Sniffed(None, "JSON lines with a step but no numbers")
    if any(k.startswith(("env/all/", "test/env/all/")) for k in flat):
        return Sniffed(TinkerMetricsParser, "tinker-cookbook metrics.jsonl")
    return Sniffed(JsonlMetricsParser, "JSON-lines metrics with a step field")


def _next_json_line(head: bytes, tries: int = 4) -> Any:
    """The first JSON object among the next few complete lines after a first one that is not
    JSON (the reader then skips that line with its reason), else None."""
    lines = [raw.strip() for raw in head.split(b"\n")[:-1] if raw.strip()]
    for raw in lines[1 : 1 + tries]:
        try:
            obj = loads_json(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _json_document_reason(head: bytes) -> Sniffed:
    """Why a ``.json`` document (not JSON lines, not trainer_state.json) is not read."""
    try:
        doc = loads_json(head)
    except ValueError:
        return Sniffed(None, "JSON document (not JSON lines), not a metric stream")
    if isinstance(doc, dict):
        keys = ", ".join(list(doc)[:5]) + (", ..." if len(doc) > 5 else "")
        return Sniffed(None, f"JSON document, not a metric stream (keys: {keys})")
    return Sniffed(None, "JSON document, not a metric stream")


_CSV_STEP = re.compile(r"(^|,)\s*(step|global_step|iteration)\s*(,|$)")


def _sniff_csv(head: bytes) -> Sniffed:
    line = _first_line(head) or head.strip()
    if not line:
        return Sniffed(None, "empty so far")
    header = line.decode("utf-8", errors="replace")
    if not _CSV_STEP.search(header):
        return Sniffed(None, "CSV without a step column")
    columns = {c.strip() for c in header.split(",")}
    if columns & OPENAI_COLUMNS:
        return Sniffed(OpenAIResultsParser, "OpenAI fine-tuning results CSV")
    return Sniffed(CsvMetricsParser, "CSV metrics with a step column")


def _sniff_console(head: bytes) -> Sniffed:
    for raw in head.replace(b"\r", b"\n").split(b"\n"):
        if b"step:" in raw and STEP_LINE_RE.search(
            ANSI_RE.sub(b"", raw).decode("utf-8", "replace")
        ):
            return Sniffed(VerlConsoleParser, "verl console log (step:N - key:value lines)")
    return Sniffed(None, "text without 'step:N - key:value' lines (yet)")


def _register_trainer_formats() -> None:
    """Trainer-specific readers (issue #6); optional packages are imported only when used."""
    from rltop.core.formats import (
        art,
        episodes,
        nemo_skyrl,
        parquet,
        prime_rl,
        tensorboard,
        tinker_logtree,
        wandb,
    )

    for module in (
        tensorboard,
        wandb,
        parquet,
        tinker_logtree,
        nemo_skyrl,
        prime_rl,
        art,
        episodes,
    ):
        if module.sniff not in EXTRA_SNIFFERS:
            register_sniffer(module.sniff)


_register_trainer_formats()
