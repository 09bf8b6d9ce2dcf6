"""verl console logs: ``step:N - key:value - ...`` lines inside any other output.

These lines often carry a Ray actor prefix and ANSI colours, e.g.
``\\x1b[36m(TaskRunner pid=123)\\x1b[0m step:110 - critic/score/mean:0.512 - ...``.
Other lines (warnings, progress bars) are counted as ignored, not as errors.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rltop.core.formats.base import Parser, StepOutOfRange, checked_step, parse_number_text
from rltop.core.model import ParseResult, Skip, clip_sample

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
            try:
                row = parse_step_line(text)
            except StepOutOfRange as exc:
                result.skips.append(Skip(str(exc), None, clip_sample(raw)))
                continue
            if row is None:
                result.ignored += 1
            else:
                result.metrics.append(row)
        return result


def parse_step_line(text: str) -> dict | None:
    m = STEP_LINE_RE.search(text)
    if not m:
        return None
    row: dict = {"step": checked_step(int(m.group(1)))}
    for part in m.group(2).split(" - "):
        key, sep, value = part.partition(":")
        key = key.strip()
        if not sep or not key or " " in key:
            continue
        row[key] = parse_number_text(value)
    return row if len(row) > 1 else None
