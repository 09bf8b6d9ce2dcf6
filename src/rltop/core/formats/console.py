"""verl console logs: ``step:N - key:value - ...`` lines inside any other output.

These lines often carry a Ray actor prefix and ANSI colours, e.g.
``\\x1b[36m(TaskRunner pid=123)\\x1b[0m step:110 - critic/score/mean:0.512 - ...``.
Other lines (warnings, progress bars, blank lines) are counted as ignored, by class, not as errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar

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
        if len(block) >= COLUMNS_FROM and b"\x1b]" not in block:
            fast = _feed_columns(block)
            if fast is not None:
                return fast
        result = ParseResult()
        for raw, text in _pieces(block, result):
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


def _pieces(block: bytes, result: ParseResult) -> Iterator[tuple[bytes, str]]:
    """The block's lines that are not blank, each with its text (ANSI codes taken out); a
    progress bar rewrites a line with CR: each CR-separated piece is a line of its own. Blank
    lines are counted in ``result`` as ignored."""
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the block ends with a newline
    for line in lines:
        if not line.strip():
            result.ignore(BLANK)
            continue
        for raw in line.split(b"\r") if b"\r" in line else (line,):
            if raw.strip():
                yield raw, ANSI_RE.sub(b"", raw).decode("utf-8", errors="replace")


#: blocks this large have their ``key:value`` parts read by columns (``_feed_columns``)
COLUMNS_FROM = 256 * 1024


def _feed_columns(block: bytes) -> ParseResult | None:
    """``VerlConsoleParser.feed`` with the ``key:value`` parts of all step lines split and parsed
    by polars at once (a 10k-step log of 150 metrics holds 1.5 million of them), giving what the
    line-by-line path gives; None, for that path, when a step is out of range or a value is a
    text (the line path keeps the latest text per key)."""
    result = ParseResult()
    steps: list[int] = []
    rests: list[str] = []
    texts: list[str] = []
    for raw, text in _pieces(block, result):  # classified as the line path does
        m = STEP_LINE_RE.search(text) if b"step:" in raw else None
        if m is None:
            result.ignore(other_line_reason(text))
            continue
        try:
            steps.append(checked_step(int(m.group(1))))
        except StepOutOfRange:
            return None
        rests.append(m.group(2))
        texts.append(text)
    if not steps:
        return result
    frame, lines_with_parts = _parts_frame(steps, rests)
    if frame is None:
        return None
    for i in sorted(set(range(len(steps))) - lines_with_parts):
        result.ignore(other_line_reason(texts[i]))  # a step line without metrics
    if frame.height:
        result.metrics_frame = frame
    return result


def _parts_frame(steps: list[int], rests: list[str]) -> tuple[Any, set[int]]:
    """The metric frame of step lines' ``key:value`` parts (``parse_step_line``'s rules: parts
    split at `` - ``, a key before the first ``:``, stripped, without spaces; the last value of a
    key repeated in a line, in the place of its first; columns in the order rows first carry a
    number for them), and the lines that have a part. (None, ...) when a value is a text."""
    import numpy as np
    import polars as pl

    parts = (
        pl.DataFrame({"line": pl.Series(range(len(rests)), dtype=pl.Int64), "part": rests})
        .with_columns(pl.col("part").str.split(" - "))
        .explode("part")
    )
    pairs = parts.get_column("part").str.splitn(":", 2)
    raw_keys = pairs.struct.field("field_0")
    values = pairs.struct.field("field_1")
    # keys stripped as Python strips them, once per distinct key; an id per metric name
    names: list[str] = []
    index: dict[str, int] = {}  # metric name -> id
    key_of: dict[str, int] = {}  # the key as written -> id
    for raw in raw_keys.unique(maintain_order=True).to_list():
        name = raw.strip() if raw is not None else ""
        if name and " " not in name:
            key_of[raw] = index.setdefault(name, len(index))
            if len(names) < len(index):
                names.append(name)
    kid = (
        raw_keys.replace_strict(key_of, return_dtype=pl.Int64, default=-1).fill_null(-1).to_numpy()
    )
    keep = np.flatnonzero((kid >= 0) & values.is_not_null().to_numpy())
    numbers = values.gather(keep).str.strip_chars().cast(pl.Float64, strict=False)
    text = values.gather(keep)
    odd = (numbers.is_null() & (text != "")).fill_null(False)
    if odd.any():  # True, np.float64(2), none, ...: as the line path reads them
        where = odd.arg_true()
        parsed = [parse_number_text(v) for v in text.gather(where).to_list()]
        if any(isinstance(v, str) for v in parsed):
            return None, set()
        numbers = numbers.scatter(where, pl.Series(parsed, dtype=pl.Float64))
    line = parts.get_column("line").to_numpy()[keep]
    key = kid[keep]
    value = numbers.to_numpy(allow_copy=True).astype(np.float64)
    null = numbers.is_null().to_numpy()
    entry = np.arange(len(keep))
    first = entry  # per winning entry, the entry whose place it takes
    cell = line * len(names) + key
    if pl.Series(cell).n_unique() != len(cell):  # a key repeated in a line: its last value
        last = (
            pl.DataFrame({"cell": cell, "entry": entry})
            .group_by("cell", maintain_order=True)
            .agg(pl.col("entry").last().alias("last"), pl.col("entry").first().alias("first"))
        )
        winners = last.get_column("last").to_numpy()
        first = last.get_column("first").to_numpy()
        line, key, value, null = line[winners], key[winners], value[winners], null[winners]
    # columns in the order of the first row holding a number, then of their first place there
    numeric = np.flatnonzero(~null)
    taken, at = np.unique(key[numeric], return_index=True)
    place = np.lexsort((first[numeric][at], line[numeric][at]))
    order = taken[place]
    rows = np.unique(line)
    row = np.searchsorted(rows, line)
    step = pl.Series("step", steps, dtype=pl.Int64).gather(rows)
    columns = [step]
    by_key = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[by_key], np.arange(len(names) + 1))
    for k in order.tolist():
        mine = by_key[bounds[k] : bounds[k + 1]]
        column = np.full(len(rows), np.nan)
        column[row[mine]] = value[mine]
        missing = np.ones(len(rows), dtype=bool)
        missing[row[mine]] = null[mine]
        series = pl.Series(names[k], column, dtype=pl.Float64)
        if missing.any():
            series = series.scatter(np.flatnonzero(missing), None)
        columns.append(series)
    return pl.DataFrame(columns), set(rows.tolist())


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
