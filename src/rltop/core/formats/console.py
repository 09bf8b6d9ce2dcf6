"""verl console logs: ``step:N - key:value - ...`` lines inside any other output.

These lines often carry a Ray actor prefix and ANSI colours, e.g.
``\\x1b[36m(TaskRunner pid=123)\\x1b[0m step:110 - critic/score/mean:0.512 - ...``.
Other lines (warnings, progress bars) are counted as ignored, not as errors.
"""

from __future__ import annotations

import os
import re
from typing import ClassVar

from rltop.core.formats.base import Parser, Sniffed, parse_number_text
from rltop.core.model import ParseResult

ANSI_RE = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
STEP_LINE_RE = re.compile(r"(?:^|[\s)\]])step:\s*(\d+)\s+-\s+(.*)$")


class VerlConsoleParser(Parser):
    format: ClassVar[str] = "verl-console"
    kind: ClassVar[str] = "metrics"

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        # progress bars rewrite a line with \r: each \r-separated piece is its own line
        for raw in block.replace(b"\r", b"\n").split(b"\n"):
            if not raw.strip():
                continue
            if b"step:" not in raw:
                result.ignored += 1
                continue
            text = ANSI_RE.sub(b"", raw).decode("utf-8", errors="replace")
            row = parse_step_line(text)
            if row is None:
                result.ignored += 1
            else:
                result.metrics.append(row)
        return result


def parse_step_line(text: str) -> dict | None:
    m = STEP_LINE_RE.search(text)
    if not m:
        return None
    row: dict = {"step": int(m.group(1))}
    for part in m.group(2).split(" - "):
        key, sep, value = part.partition(":")
        key = key.strip()
        if not sep or not key or " " in key:
            continue
        row[key] = parse_number_text(value)
    return row if len(row) > 1 else None


PARSERS = (VerlConsoleParser,)

TEXT_LOG_EXTS = (".log", ".out", ".txt", ".err")


def sniff(path: str, head: bytes) -> Sniffed | None:
    """Text logs (``.log``, ``.out``, ``.txt``, ``.err``, no extension) with verl step lines."""
    name = os.path.basename(path)
    if not (name.lower().endswith(TEXT_LOG_EXTS) or "." not in name):
        return None
    return sniff_console(head)


def sniff_console(head: bytes) -> Sniffed:
    """Whether a text's head holds verl ``step:N - key:value`` lines (any file name)."""
    for raw in head.replace(b"\r", b"\n").split(b"\n"):
        if b"step:" in raw and STEP_LINE_RE.search(
            ANSI_RE.sub(b"", raw).decode("utf-8", "replace")
        ):
            return Sniffed(VerlConsoleParser, "verl console log (step:N - key:value lines)")
    return Sniffed(None, "text without 'step:N - key:value' lines (yet)")
