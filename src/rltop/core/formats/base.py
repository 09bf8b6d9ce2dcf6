"""The parser interface every format implements, and small helpers they share.

A parser is created per file and may keep state (a CSV header, a partial record). The tailer
decides *how* bytes reach it, from the parser's ``mode``:

- ``"lines"``: ``feed(block, first_line)`` gets a block of complete lines (ending in ``\\n``).
- ``"whole"``: ``parse_whole(data)`` gets the whole file each time it changes; its result replaces
  everything this file produced before (``trainer_state.json`` is rewritten at every save).
- ``"records"``: ``feed(block, first_line)`` gets raw new bytes and returns via ``consumed`` how many
  it used; the rest is offered again with more data (binary record streams).

A rollout parser whose rows map onto lines records where each row is (``locate``: ``_path``,
``_offset``, ``_len`` and ``_format``, the parser's format id) and reads one row back from those
bytes (``reread``): under a memory budget the store drops old rows' text and ``coldtext`` asks the
format that made a row for it again.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import orjson
import polars as pl

from rltop.core.lazyre import lazy
from rltop.core.model import ParseResult, Skip, clip_sample

Mode = Literal["lines", "whole", "records"]

STEP_KEYS: tuple[str, ...] = (
    "step",
    "global_step",
    "_step",
    "iteration",
    "trainer/global_step",
    "train/global_step",
    "train/step",
    "training_step",
)


#: steps are stored as 64-bit integers: a step outside this range is skipped with a reason
MIN_STEP, MAX_STEP = -(2**63), 2**63 - 1


class StepOutOfRange(ValueError):
    """A step that does not fit the store's 64-bit integers (its line is skipped)."""

    def __init__(self, value: object) -> None:
        shown = str(value)
        shown = shown if len(shown) <= 30 else shown[:27] + "..."
        super().__init__(f"step {shown} out of range (must be below 2^63)")


def checked_step(value: int) -> int:
    """``value`` if it fits a 64-bit step, else :class:`StepOutOfRange`."""
    if not MIN_STEP <= value <= MAX_STEP:
        raise StepOutOfRange(value)
    return value


class Parser:
    """Base class: one instance per followed file."""

    #: short format id shown to users, e.g. ``"verl-filelogger"``
    format: ClassVar[str] = "unknown"
    #: what the file holds: ``"metrics"`` or ``"rollouts"`` (a few hold both)
    kind: ClassVar[str] = "metrics"
    mode: ClassVar[Mode] = "lines"
    #: the file holds one whole run (a results CSV, a ``trainer_state.json``): several of them
    #: in one folder are several runs, named after the files
    whole_run: ClassVar[bool] = False
    #: ``records`` mode: a reader may start at any multiple of this many bytes and find the next
    #: record there (``resync``), so a large file's newest records are read first; None: only
    #: from the start
    RESYNC_ALIGN: ClassVar[int | None] = None
    #: lines longer than this are skipped, with a note (the follower sets its tail's limit): a
    #: ``catch_up`` that cannot skip them leaves such a file to the tail
    max_line: int = 64 * 1024 * 1024
    #: a ``catch_up`` that maps the file reads one of at most this many bytes (None: any); the
    #: follower sets it from the memory budget (``coldtext.map_limit``)
    map_limit: int | None = None
    #: a ``catch_up`` that can read in blocks (the rollout reader) hands polars the whole file
    #: to map only when this is set: the fastest read, but every page it reads stays resident
    #: until it ends. The follower clears it for a screen (``previews``): the read runs behind
    #: the rows already shown, and its peak would come on top of the drawn screen
    map_whole: bool = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.consumed = 0  # for "records" mode

    def feed(self, block: bytes, first_line: int) -> ParseResult:  # pragma: no cover - interface
        raise NotImplementedError

    def parse_whole(self, data: bytes) -> ParseResult:  # pragma: no cover - interface
        raise NotImplementedError

    def reset(self) -> None:
        """The file was truncated or rewritten: forget per-file state."""
        self.consumed = 0

    def resync(self, data: bytes, start: int) -> int | None:
        """``records`` mode: the file offset of the first record that starts in ``data``, the
        file's bytes from ``start`` (a multiple of ``RESYNC_ALIGN``); None when none does."""
        return None

    def begin_at(self, offset: int) -> None:
        """``records`` mode: read on from ``offset`` (a record boundary ``resync`` found); the
        part before it is read by another parser of this class (``older_read``)."""
        self.consumed = offset

    def older_read(self, older: Parser) -> ParseResult:
        """``older`` (begun at 0) has read the part of the file before this parser's
        ``begin_at``: what this parser held back until then (values that later records
        changed, the run's name), as a result to apply after the older part's."""
        return ParseResult()

    def catch_up(self) -> CatchUp | None:
        """Optionally read a "lines" file from its start in one go, faster than block by block
        (the follower asks before the first read). None: read it block by block."""
        return None

    def catch_up_before(self, end: int, after: tuple[int, int] | None = None) -> CatchUp | None:
        """Like ``catch_up``, the lines before ``end`` only (a line boundary: the part before
        a file's end that was read first). ``after``: (the file's size, the rows the lines
        past ``end`` make), when known. None: read them block by block."""
        return None

    def reread(self, raw: bytes) -> dict[str, Any]:
        """The row this parser made from ``raw``, the bytes a row's ``_offset``/``_len`` point at
        in this parser's file, made again as ``feed``/``parse_whole`` made it. Formats whose rows
        carry a location implement it; ``ValueError`` when the bytes no longer hold that row."""
        raise ValueError(f"{self.format} rows cannot be read back from disk")

    def locate(self, frame: pl.DataFrame, offsets: Any, lengths: Any) -> pl.DataFrame:
        """``frame`` with where each row is on disk and which format reads it back. A path that
        is not UTF-8 cannot be held by polars: those rows keep their text in memory."""
        try:
            self.path.encode("utf-8")
        except UnicodeEncodeError:
            return frame
        return frame.with_columns(
            pl.lit(self.path, dtype=pl.String).alias("_path"),
            pl.Series("_offset", offsets, dtype=pl.Int64),
            pl.Series("_len", lengths, dtype=pl.Int64),
            pl.lit(self.format, dtype=pl.String).alias("_format"),
        )


class Sniffed(NamedTuple):
    """A format module's answer for one file: the parser that reads it, or None and why not."""

    parser: type[Parser] | None
    reason: str  # why it was (not) recognised, for ``rltop sources``


@dataclass(eq=False)
class CatchUp:
    """What ``Parser.catch_up`` read: the result, and where the tail goes on from."""

    result: ParseResult
    consumed: int  # bytes read from the start (whole lines)
    lines: int  # newlines in them


def loads_json(raw: bytes) -> Any:
    """Parse one JSON document, accepting what Python's ``json`` writes (bare NaN/Infinity).

    orjson is tried first for speed; the standard library handles NaN/Infinity and, after a
    lossy decode, bytes that are not valid UTF-8. Raises ``ValueError`` when it is not JSON.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc):
            raise ValueError("nested too deeply (over 1024 levels)") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except RecursionError:  # the standard library recurses once per level of nesting
        raise ValueError("nested too deeply") from None


def head_line(head: bytes) -> bytes | None:
    """The first complete non-blank line of a file's head (None: no complete line yet)."""
    for raw in head.split(b"\n")[:-1] if b"\n" in head else []:
        if raw.strip():
            return raw.strip()
    return None


def iter_lines(block: bytes, first_line: int):
    """Yield ``(line_number, stripped_line)`` for non-blank lines of a block."""
    lineno = first_line
    for raw in block.split(b"\n"):
        stripped = raw.strip()
        if stripped:
            yield lineno, stripped
        lineno += 1


def iter_json_objects(
    block: bytes, first_line: int, result: ParseResult
) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """``(line_number, raw_line, object)`` for each JSON-object line; other lines become skips."""
    for lineno, raw in iter_lines(block, first_line):
        try:
            obj = loads_json(raw)
        except ValueError as exc:
            result.skips.append(json_skip(lineno, raw, exc))
            continue
        if not isinstance(obj, dict):
            result.skips.append(Skip("not a JSON object", lineno, clip_sample(raw)))
            continue
        yield lineno, raw, obj


def json_skip(lineno: int, raw: bytes, exc: Exception | None = None) -> Skip:
    if b"\x00" in raw[:4096] or _looks_binary(raw):
        return Skip("binary data, not a JSON line", lineno, clip_sample(raw))
    reason = "malformed JSON"
    if exc is not None:
        # the parser's words without its position ("Expecting value: line 1 column 5 (char 4)"):
        # the Skip carries the line, and reasons are counted, so they must not vary by column
        first = str(exc).splitlines()[0] if str(exc) else ""
        words = re.split(r":?\s*(?:line \d+|column \d+|\(char \d+\)|at position \d+)", first)[0]
        words = words.strip(" :").lower()[:60]
        reason = f"malformed JSON ({words})" if words else "malformed JSON"
    return Skip(reason, lineno, clip_sample(raw))


def _looks_binary(raw: bytes) -> bool:
    head = raw[:512]
    if not head:
        return False
    bad = sum(1 for b in head if b < 9 or (13 < b < 32))
    return bad / len(head) > 0.1


def flatten(
    obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Flatten nested objects with ``/`` (``{"a": {"b": 1}}`` -> ``{"a/b": 1}``).

    Iterative, in the same key order as a recursive walk: a deeply nested line must not raise
    ``RecursionError``."""
    if out is None:
        out = {}
    stack: list[Iterator[tuple[str, Any]]] = [_prefixed(prefix, obj)]
    while stack:
        for name, value in stack[-1]:
            if isinstance(value, dict):
                stack.append(_prefixed(name + "/", value))
                break
            out[name] = value
        else:
            stack.pop()
    return out


def _prefixed(prefix: str, obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in obj.items():
        yield f"{prefix}{key}", value


_NUMPY_WRAP = lazy(r"^(?:np\.)?(?:float|int|uint|bool)\d*\((.*)\)$|^tensor\((.*?)(?:,.*)?\)$")


def metric_value(value: Any) -> float | str | None:
    """Normalise one logged value: numbers (and bools) to float, strings kept, the rest dropped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        return value
    return None  # lists and other structures are not metrics


def parse_number_text(text: str) -> float | str | None:
    """A value printed as text (console logs): ``0.5``, ``np.float64(0.5)``, ``nan``, ``True``."""
    try:  # the usual case first: what ``float`` reads is a number whatever follows would say
        return float(text)
    except ValueError:
        pass
    text = text.strip().rstrip(",")
    if not text:
        return None
    m = _NUMPY_WRAP.match(text)
    if m:
        text = (m.group(1) or m.group(2) or "").strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return 1.0 if lowered == "true" else 0.0
    if lowered in ("none", "null"):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def find_step(row: dict[str, Any]) -> int | None:
    """The step of a flat row, from the first step-like key holding an integer-valued number.

    Raises :class:`StepOutOfRange` (a ``ValueError``) for a step that does not fit 64 bits: the
    caller skips that line with the reason rather than guess a step."""
    for key in STEP_KEYS:
        if key in row:
            value = row[key]
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                return checked_step(int(value))
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    continue
                if math.isfinite(number):
                    return checked_step(int(number))
    return None
