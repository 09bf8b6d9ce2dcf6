"""verl console logs: ``step:N - key:value - ...`` lines inside any other output.

These lines often carry a Ray actor prefix and ANSI colours, e.g.
``\\x1b[36m(TaskRunner pid=123)\\x1b[0m step:110 - critic/score/mean:0.512 - ...``.
Other lines (warnings, progress bars, blank lines) are counted as ignored, by class, not as errors.
"""

from __future__ import annotations

import os
from typing import ClassVar

from rltop.core.formats.base import (
    Parser,
    Sniffed,
    StepOutOfRange,
    checked_step,
    parse_number_text,
)
from rltop.core.lazyre import lazy
from rltop.core.model import ParseResult, Skip, clip_sample

ANSI_RE = lazy(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
STEP_LINE_RE = lazy(r"(?:^|[\s)\]])step:\s*(\d+)\s+-\s+(.*)$")


class VerlConsoleParser(Parser):
    format: ClassVar[str] = "verl-console"
    kind: ClassVar[str] = "metrics"

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        lines = block.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the block ends with a newline
        for line in lines:
            if not line.strip():
                result.ignore(BLANK)
                continue
            # progress bars rewrite a line with \r: each \r-separated piece is its own line
            for raw in line.split(b"\r") if b"\r" in line else (line,):
                if not raw.strip():
                    continue
                text = ANSI_RE.sub(b"", raw).decode("utf-8", errors="replace")
                try:
                    row = parse_step_line(text) if b"step:" in raw else None
                except StepOutOfRange as exc:
                    result.skips.append(Skip(str(exc), None, clip_sample(raw)))
                    continue
                if row is None:
                    result.ignore(other_line_reason(text))
                else:
                    result.metrics.append(row)
        return result


BLANK = "blank line"
_PROGRESS_RE = lazy(r"\d+%\|| \d+/\d+ \[|it/s\]|s/it\]")
_LOG_RE = lazy(r"\b(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b|Warning:|warnings\.warn")
_TRACEBACK_RE = lazy(r"^(?:Traceback \(most recent call last\)|\s+File \"|\w+(?:Error|Exception):)")


def other_line_reason(text: str) -> str:
    """Why a console line is not a metrics line, in a few classes a user can recognise."""
    if "step:" in text and STEP_LINE_RE.search(text):
        return "'step:N' line without key:value metrics"
    if _PROGRESS_RE.search(text):
        return "progress bar"
    if _TRACEBACK_RE.search(text):
        return "traceback"
    if _LOG_RE.search(text):
        return "log message or warning"
    return "other output (not a 'step:N - key:value' line)"


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


PARSERS = (VerlConsoleParser,)

TEXT_LOG_EXTS = (".log", ".out", ".txt", ".err")


def sniff(path: str, head: bytes) -> Sniffed | None:
    """Text logs (``.log``, ``.out``, ``.txt``, ``.err``, no extension) with verl step lines."""
    name = os.path.basename(path)
    if not (name.lower().endswith(TEXT_LOG_EXTS) or "." not in name):
        return None
    return sniff_console(head)


#: step lines (with distinct steps) a text needs to be read as a console log; fewer will do when
#: they are at least ``MIN_DENSITY`` of its lines (two of them at least, or nothing else): a
#: README or SOURCE.txt quoting one example line is not a training log
MIN_STEP_LINES = 3
MIN_DENSITY = 0.25


def sniff_console(head: bytes) -> Sniffed:
    """Whether a text's head holds verl ``step:N - key:value`` lines (any file name): several of
    them, or nothing but them."""
    steps: set[int] = set()
    other = 0
    for raw in head.replace(b"\r", b"\n").split(b"\n"):
        if not raw.strip():
            continue
        m = None
        if b"step:" in raw:
            m = STEP_LINE_RE.search(ANSI_RE.sub(b"", raw).decode("utf-8", "replace"))
        if m and _step_line(m.group(0)):
            steps.add(int(m.group(1)))
            if len(steps) >= MIN_STEP_LINES:
                break
        else:
            other += 1
    dense = len(steps) >= 2 and len(steps) >= MIN_DENSITY * (len(steps) + other)
    if len(steps) >= MIN_STEP_LINES or dense or (steps and not other):
        return Sniffed(VerlConsoleParser, "verl console log (step:N - key:value lines)")
    if steps:
        return Sniffed(
            None,
            f"text with only {len(steps)} 'step:N - key:value' line(s) among other text "
            f"(a console log needs {MIN_STEP_LINES}, or a quarter of its lines: an example "
            "quoted in notes?)",
        )
    return Sniffed(None, "text without 'step:N - key:value' lines (yet)")


def _step_line(text: str) -> bool:
    """A metrics line (one whose step is out of range counts: the reader skips it with why)."""
    try:
        return parse_step_line(text) is not None
    except StepOutOfRange:
        return True
