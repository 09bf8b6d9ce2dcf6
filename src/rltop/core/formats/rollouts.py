"""Rollout dumps: one completion per line with its prompt, reward and step.

Covers generic ``prompt/completion/reward/step`` JSONL and verl ``rollout_data_dir`` dumps
(``<dir>/<global_step>.jsonl`` with ``input``, ``output``, ``gts``, ``score``, ``step`` and reward
extras). A large file already there at start is caught up in one pass of polars' own NDJSON reader
with its text left on disk (``catch_up``: the ingest of a 480 MB dump keeps pace with
``polars.read_ndjson`` at a fraction of its memory); after that, and for smaller files, large blocks
go through polars block by block; what polars cannot take (NaN, nested messages, bad lines) falls
back to a per-line reader that keeps every valid line and reports each bad one.
"""

from __future__ import annotations

import io
import math
import mmap
import os
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import orjson
import polars as pl

from rltop.core.cols import named
from rltop.core.formats.base import (
    MAX_STEP,
    MIN_STEP,
    CatchUp,
    Parser,
    Sniffed,
    StepOutOfRange,
    head_line,
    iter_json_objects,
    json_skip,
    loads_json,
)
from rltop.core.jsonscan import COLD_LINE, ColdValue, Scanned, scan_object, string_pieces
from rltop.core.lazyre import lazy
from rltop.core.messages import chat_text, dump_json, dump_messages, messages_of, split_chat
from rltop.core.model import LONG_STRING, ParseResult, Skip, clip_sample
from rltop.core.tail import may_hold_long_line as block_may_hold_long_line
from rltop.core.tail import open_regular

if TYPE_CHECKING:
    import numpy as np

PROMPT_KEYS = ("prompt", "input", "question", "query", "input_prompt", "problem", "instruction")
COMPLETION_KEYS = (
    "completion",
    "output",
    "response",
    "output_response",
    "generated_text",
    "generation",
)
REWARD_KEYS = ("reward", "score", "total_reward", "rewards", "reward/total")
STEP_KEYS = ("step", "global_step", "iteration", "training_step")
GROUP_KEYS = ("prompt_id", "uid", "example_id", "group_id", "group", "prompt_index", "problem_id")
TOKEN_KEYS = ("tokens", "num_tokens", "completion_tokens", "response_length", "response_tokens")
MESSAGE_KEYS = ("messages", "conversation", "turns")
TRUTH_KEYS = ("gts", "ground_truth", "answer", "target", "reference")

CORE_SCHEMA: dict[str, pl.DataType] = {
    "step": pl.Int64(),
    "prompt": pl.String(),
    "completion": pl.String(),
    "reward": pl.Float64(),
    "group": pl.String(),
    "length": pl.Int64(),
    "tokens": pl.Int64(),
    "split": pl.String(),
    "messages": pl.String(),
    "extra": pl.String(),
}

_STEP_IN_NAME = lazy(r"(?:^|[_\-/])(?:global_step|step|iteration|completions)?[_\-]?(\d+)(?:\D|$)")
_VALID_PARTS = {
    "val",
    "valid",
    "validation",
    "validation_data",
    "eval",
    "evals",
    "test",
    "dumped_evals",
}


def step_from_path(path: str) -> int | None:
    """``rollouts/40.jsonl`` -> 40, ``step_12/...`` -> 12, ``completions_00010.parquet`` -> 10."""
    name = os.path.basename(path)
    stem = name.split(".", 1)[0]
    if stem.isdigit():
        return int(stem)
    for part in [stem, *reversed(os.path.dirname(path).split(os.sep)[-3:])]:
        m = re.search(
            r"(?:global_step|step|iteration|completions|train_data_step|val_data_step)[_\-]?(\d+)",
            part,
        )
        if m:
            return int(m.group(1))
    return None


def split_from_path(path: str) -> str:
    parts = {p.lower() for p in path.replace("\\", "/").split("/")[:-1]}
    name = os.path.basename(path).lower()
    if parts & _VALID_PARTS or name.startswith(("val_", "eval_", "validation")):
        return "valid"
    return "train"


def has_rollout_keys(obj: dict[str, Any]) -> bool:
    text = any(k in obj for k in PROMPT_KEYS + COMPLETION_KEYS + MESSAGE_KEYS)
    reward = any(k in obj for k in REWARD_KEYS)
    return text and reward


def _text_of(value: Any) -> str | None:
    """Prompt/completion text from a string or a list of chat messages."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return chat_text(value) or ""
    return str(value)


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in obj and obj[key] is not None:
            return key, obj[key]
    return None, None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer past the float range
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, dict):  # {"total": x} style
        for key in ("total", "reward", "score"):
            if key in value:
                return _to_float(value[key])
    return None


def _to_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value  # exact: no detour through float
    else:
        f = _to_float(value)
        if f is None or not math.isfinite(f):
            return None
        number = int(f)
    return number if MIN_STEP <= number <= MAX_STEP else None  # polars stores Int64


def _messages_json(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    try:
        return dump_messages(messages)
    except (TypeError, ValueError):  # nested past orjson's depth limit, or not serialisable
        return None


def normalize_rollout(obj: dict[str, Any], default_step: int | None, split: str) -> dict[str, Any]:
    """One logged rollout -> the store's rollout row (core columns plus scalar extras)."""
    used: set[str] = set()
    pkey, prompt = _first(obj, PROMPT_KEYS)
    ckey, completion = _first(obj, COMPLETION_KEYS)
    rkey, reward = _first(obj, REWARD_KEYS)
    skey, step = _first(obj, STEP_KEYS)
    gkey, group = _first(obj, GROUP_KEYS)
    tkey, tokens = _first(obj, TOKEN_KEYS)
    mkey, messages = _first(obj, MESSAGE_KEYS)
    used.update(k for k in (pkey, ckey, rkey, skey, gkey, tkey, mkey) if k)

    if messages is None and (isinstance(prompt, list) or isinstance(completion, list)):
        messages = (prompt if isinstance(prompt, list) else []) + (
            completion if isinstance(completion, list) else []
        )
    prompt_text = _text_of(prompt)
    completion_text = _text_of(completion)
    if prompt_text is None and isinstance(messages, list):
        prompt_text = _text_of(
            [m for m in messages if isinstance(m, dict) and m.get("role") != "assistant"][:2]
        )
    if completion_text is None and isinstance(messages, list):
        completion_text = _text_of(
            [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        )

    step_value = _to_int(step)
    as_float = _to_float(step)
    # a step too large for the store skips the line (never the file name's step instead)
    step_too_large = step_value is None and as_float is not None and not math.isnan(as_float)
    row: dict[str, Any] = {
        "step": step_value if step_value is not None or step_too_large else default_step,
        "prompt": prompt_text,
        "completion": completion_text,
        "reward": _to_float(reward),
        "group": str(group) if group is not None else prompt_text,
        "length": len(completion_text) if completion_text is not None else None,
        "tokens": _to_int(tokens),
        "split": split,
        "messages": _messages_json(messages),
        "extra": None,
    }
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        if key in used:
            continue
        if key in TRUTH_KEYS:
            extra["ground_truth"] = value
        if isinstance(value, (str, int, float, bool)) or value is None:
            if key not in CORE_SCHEMA:
                row[key] = value
        else:
            extra[key] = value
    if extra:
        row["extra"] = dump_json(extra, orjson.OPT_SERIALIZE_NUMPY)
    return row


def chat_rollout(
    obj: dict[str, Any],
    default_step: int | None,
    split: str,
    *,
    prompt: Any = None,
    completion: Any = None,
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A rollout row from a record whose prompt/completion are chat messages.

    ``messages`` keeps every message (with tool calls) as JSON; prompt and completion text show
    tool calls as ``→ name(arguments)`` so they are searchable and readable in the browser.
    """
    prompt_msgs = messages_of(prompt)
    completion_msgs = messages_of(completion)
    if messages is None:
        messages = (prompt_msgs or []) + (completion_msgs or []) or None
    if messages and prompt_msgs is None and completion_msgs is None:
        prompt_msgs, completion_msgs = split_chat(messages)
    base = {k: v for k, v in obj.items() if k not in ("prompt", "completion", "messages")}
    base["prompt"] = chat_text(prompt_msgs) if prompt_msgs is not None else prompt
    base["completion"] = chat_text(completion_msgs) if completion_msgs is not None else completion
    base["messages"] = messages
    return normalize_rollout(base, default_step, split)


def rows_to_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rollout rows -> a frame with the core schema; extras keep one type (string when mixed)."""
    columns: dict[str, list[Any]] = {name: [] for name in CORE_SCHEMA}
    for i, row in enumerate(rows):
        for key in row:
            if key not in columns:
                columns[key] = [None] * i
        for key, values in columns.items():
            values.append(row.get(key))
    series = []
    for name, values in columns.items():
        if name in CORE_SCHEMA:
            series.append(pl.Series(name, values, dtype=CORE_SCHEMA[name], strict=False))
        else:
            series.append(_extra_series(name, values))
    return pl.DataFrame(series)


def _extra_series(name: str, values: list[Any]) -> pl.Series:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool}:
        return pl.Series(name, values, dtype=pl.Boolean)
    if kinds <= {int}:
        return pl.Series(name, values, dtype=pl.Int64)
    if kinds <= {int, float}:
        return pl.Series(name, values, dtype=pl.Float64)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def line_spans(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and lengths of the non-blank lines of a block (vectorised: no per-line Python)."""
    import numpy as np  # rollout files only: a metrics-only `rltop check` never loads numpy

    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(block)]))
    lengths = ends - starts
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    # lines that start with white space may be blank ("  \r"): look at those few one by one
    if len(starts):
        first = data[np.minimum(starts, len(block) - 1)]
        odd = np.flatnonzero((first == 32) | (first == 9) | (first == 13))
        if len(odd):
            blank = [i for i in odd if not block[starts[i] : starts[i] + lengths[i]].strip()]
            if blank:
                mask = np.ones(len(starts), dtype=bool)
                mask[blank] = False
                starts, lengths = starts[mask], lengths[mask]
    return starts.astype(np.int64), lengths.astype(np.int64)


class RolloutFileParser(Parser):
    """Base of rollout readers: the step and split a file's path implies (``rollouts/40.jsonl``,
    ``validation_data/...``) for rows that do not say."""

    kind: ClassVar[str] = "rollouts"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.default_step = step_from_path(path)
        self.split = split_from_path(path)


class RolloutJsonlParser(RolloutFileParser):
    format: ClassVar[str] = "rollouts-jsonl"

    #: blocks at least this large try polars' NDJSON reader first
    BULK_MIN_BYTES = 256 * 1024
    #: a file at least this large when first seen is caught up in one pass (``catch_up``)
    CATCH_UP_MIN_BYTES = 64 * 1024 * 1024
    #: bytes at the start of a file whose lines decide the columns of a one-pass catch-up
    HEAD_BYTES = 256 * 1024
    #: a one-pass catch-up in blocks (not ``map_whole``) reads blocks of about this many bytes
    #: (whole lines)
    PASS_BLOCK = 16 * 1024 * 1024

    def __init__(self, path: str) -> None:
        super().__init__(path)
        #: bytes of the file fed so far: each row records where its line is (``_path``,
        #: ``_offset``, ``_len``) so its text can be dropped from memory and read back
        self.offset = 0

    def reset(self) -> None:
        super().reset()
        self.offset = 0

    #: a line longer than this is scanned for its small fields, its text left on disk
    #: (``core/jsonscan.py``), never parsed whole
    COLD_LINE = COLD_LINE
    #: characters of a cold text read back for a list or a heading (the view pages the rest)
    HEAD_CHARS = 2000

    @property
    def cold_lines(self) -> bool:
        """Whether this reader keeps very long lines cold (formats that make their rows
        another way from a line read them whole)."""
        return type(self).line_rows is RolloutJsonlParser.line_rows

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        if self.cold_lines and len(block) > self.COLD_LINE:
            import numpy as np  # a block this large: line_spans loads it anyway

            starts, lengths = line_spans(block)
            huge = np.flatnonzero(lengths > self.COLD_LINE)
            if len(huge):
                return self._feed_around(block, first_line, starts, lengths, huge)
        return self._feed(block, first_line)

    def _feed_around(
        self, block: bytes, first_line: int, starts: Any, lengths: Any, huge: Any
    ) -> ParseResult:
        """A block holding very long lines: those are scanned in place (their text stays on
        disk), the lines between them read as usual."""
        base = self.offset
        view = memoryview(block)
        result = ParseResult()
        prev, lineno = 0, first_line
        for k in huge:
            start, length = int(starts[k]), int(lengths[k])
            if start > prev:
                self.offset = base + prev
                result.extend(self._feed(block[prev:start], lineno))
                lineno += block.count(b"\n", prev, start)
            result.extend(
                self.cold_line(
                    lambda o, n, s=start: bytes(view[s + o : s + o + n]),
                    base + start,
                    length,
                    lineno,
                )
            )
            prev = start + length + 1  # past its newline
            lineno += 1
        if prev < len(block):
            self.offset = base + prev
            result.extend(self._feed(block[prev:], lineno))
        view.release()
        self.offset = base + len(block)
        return result

    def feed_cold(self, lineno: int, offset: int, length: int) -> ParseResult:
        """A very long line the tail did not hold (``FileTail(cold_line=...)``), read from disk
        a window at a time."""
        try:
            fh = open_regular(self.path)
        except OSError as exc:
            return ParseResult(skips=[Skip(f"cannot read: {exc.strerror or exc}", lineno)])
        with fh:
            return self.cold_line(_file_reader(fh, offset), offset, length, lineno)

    def cold_line(
        self, read: Callable[[int, int], bytes], offset: int, length: int, lineno: int
    ) -> ParseResult:
        """The row of one very long line (``length`` bytes at file ``offset``, read by
        ``read(offset_in_line, size)``): its small fields, its text left on disk."""
        result = ParseResult()
        try:
            scanned = scan_object(read, length)
        except ValueError as exc:
            result.skips.append(json_skip(lineno, read(0, 200), exc))
            return result
        row, _cold = self._cold_row(scanned, lineno, read(0, 200), result, None)
        if row is not None:
            for key in ("prompt", "completion", "messages", "extra"):
                row[key] = None  # on disk: ``coldtext`` reads it back when it is shown
            result.rollout_frame = self.locate(rows_to_frame([row]), [offset], [length])
        return result

    def _cold_row(
        self,
        scanned: Scanned,
        lineno: int,
        head: bytes,
        result: ParseResult,
        texts: dict[str, str] | None,
    ) -> tuple[dict[str, Any] | None, dict[str, ColdValue]]:
        """The row of a scanned line, and which of its columns (``prompt``, ``completion``)
        come from a cold string. ``texts``: what stands in for each cold value (its head),
        else an empty value of its kind."""
        obj: dict[str, Any] = dict(scanned.small)
        for key, value in scanned.cold.items():
            if texts is not None and key in texts:
                obj[key] = texts[key]
            else:
                obj[key] = {"string": "", "object": {}, "array": []}.get(value.kind)
        rows = self.line_rows(obj, lineno, head, result)
        if len(rows) != 1:
            return None, {}
        row = rows[0]
        pkey, _ = _first(obj, PROMPT_KEYS)
        ckey, _ = _first(obj, COMPLETION_KEYS)
        mkey, _ = _first(obj, MESSAGE_KEYS)
        cold = scanned.cold
        columns = {c: cold[k] for c, k in (("prompt", pkey), ("completion", ckey)) if k in cold}
        if ckey in cold:
            row["length"] = cold[ckey].chars
        elif ckey is None and mkey in cold:
            row["length"] = None
        gkey, _ = _first(obj, GROUP_KEYS)
        if gkey is None and pkey in cold:
            # the group is the prompt: the same text gives the same digest
            row["group"] = f"(long prompt {cold[pkey].digest})"
        for key in cold:
            if key in row and key not in CORE_SCHEMA:
                row[key] = None  # a long extra stays on disk with the text
        return row, columns

    def reread_cold(self, offset: int, length: int) -> tuple[dict[str, Any], dict[str, ColdValue]]:
        """A very long line's row again, its long texts cut to ``HEAD_CHARS`` (with a note),
        and the cold string values the view pages from disk (``string_pieces``) by column."""
        with open_regular(self.path) as fh:
            read = _file_reader(fh, offset)
            scanned = scan_object(read, length)
            heads = {}
            for key, value in scanned.cold.items():
                text = ""
                for piece in string_pieces(read, value):
                    text += piece
                    if len(text) > self.HEAD_CHARS:
                        break
                if len(text) > self.HEAD_CHARS or value.kind != "string":
                    text = text[: self.HEAD_CHARS] + f"… ({value.size:,} bytes on disk)"
                heads[key] = text
            row, columns = self._cold_row(scanned, 1, read(0, 200), ParseResult(), heads)
        if row is None:
            raise ValueError("the line holds no rollout")
        return row, columns

    def _feed(self, block: bytes, first_line: int) -> ParseResult:
        base = self.offset
        self.offset += len(block)
        if len(block) >= self.BULK_MIN_BYTES:
            frame = self._bulk(block)
            if frame is not None:
                starts, lengths = line_spans(block)
                if len(starts) == frame.height:  # polars read one row per non-blank line
                    frame = self.locate(frame, starts + base, lengths)
                return ParseResult(rollout_frame=frame)
        result, row_lines = self._per_line(block, first_line)
        frame = result.rollout_frame
        # rows located only where each line made one row (a line of a trajectory group makes
        # several: those rows keep their text in memory)
        if frame is not None and len(set(row_lines)) == len(row_lines) == frame.height:
            starts = [0, *(m.end() for m in re.finditer(b"\n", block))]
            offsets = [starts[n - first_line] for n in row_lines]
            ends = [block.find(b"\n", o) for o in offsets]
            lengths = [
                (e if e >= 0 else len(block)) - o for o, e in zip(offsets, ends, strict=True)
            ]
            result.rollout_frame = self.locate(frame, [base + o for o in offsets], lengths)
        return result

    def line_rows(
        self, obj: dict[str, Any], lineno: int, raw: bytes, result: ParseResult
    ) -> list[dict[str, Any]]:
        """The rollout rows one logged line makes (problems go to ``result.skips``). Formats
        built on this reader override this one method."""
        row = normalize_rollout(obj, self.default_step, self.split)
        if row["step"] is None:
            _key, step = _first(obj, STEP_KEYS)
            number = _to_float(step)
            result.skips.append(
                Skip(
                    str(StepOutOfRange(step))
                    if number is not None and not math.isnan(number)
                    else "rollout without a step (none in the line or file name)",
                    lineno,
                    clip_sample(raw),
                )
            )
            return []
        return [row]

    def _per_line(self, block: bytes, first_line: int) -> tuple[ParseResult, list[int]]:
        """Rows of a block line by line, and the line each row came from."""
        result = ParseResult()
        rows: list[dict[str, Any]] = []
        row_lines: list[int] = []
        for lineno, raw, obj in iter_json_objects(block, first_line, result):
            got = self.line_rows(obj, lineno, raw, result)
            rows.extend(got)
            row_lines.extend([lineno] * len(got))
        if rows:
            result.rollout_frame = rows_to_frame(rows)
        return result, row_lines

    def reread(self, raw: bytes) -> dict[str, Any]:
        obj = loads_json(raw)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        rows = self.line_rows(obj, 1, raw, ParseResult())
        if len(rows) != 1:
            raise ValueError(f"the line holds {len(rows)} rollouts, not one")
        return rows[0]

    def reread_many(self, block: bytes, count: int, columns: list[str]) -> pl.DataFrame | None:
        """``reread`` of ``count`` lines at once (``block``: each line followed by a newline),
        ``columns`` only, as a frame of a row per line: one polars read of them all (the block
        path's reader), or None when they need the line-by-line read (a line that is not one
        plain rollout, a column the bulk read does not make)."""
        frame = self._bulk(block)
        if frame is None or frame.height != count or any(c not in frame.columns for c in columns):
            return None
        return frame.select(columns)

    def _bulk(self, block: bytes) -> pl.DataFrame | None:
        """Read a large block with polars; None when it needs the careful per-line path."""
        try:
            raw = pl.read_ndjson(io.BytesIO(block), infer_schema_length=200)
        except Exception:  # polars raises several error types for bad input; per-line path explains
            return None
        keys = _BulkKeys.of(raw.schema, self.default_step)
        if keys is None:
            return None
        frame = raw.select(keys.columns(self.split, self.default_step, raw.columns))
        if frame["step"].null_count():
            return None  # some lines lack a step: let the per-line path name them
        return frame

    # -- catching up with a large file in one pass -----------------------------------------------
    def catch_up(self) -> CatchUp | None:
        """Read a large file from its start in one pass of polars' reader, its text left on disk:
        ``coldtext`` reads a row's text back when it is looked at or searched. None when the file
        is small, does not end with a newline, or holds anything the careful path must look at
        (bad lines, nested values, changing types).

        Everything reads one open file; polars never gets the path (a path is a glob pattern to
        polars: ``r[1].jsonl`` would be read as ``r1.jsonl``). With ``map_whole`` polars gets the
        file and maps it (``_mapped_pass``: the fastest read, the file's pages resident at its
        peak), else the bytes of a block at a time (``_pass_in_blocks``: a few blocks resident)."""
        if not hasattr(os, "pread"):
            # not POSIX: the block path reads it (polars copies a file object whole into memory
            # there, and the reads in blocks and ``coldtext``'s reading back need ``pread``)
            return None
        try:
            fh = open_regular(self.path)
        except OSError:
            return None
        with fh:
            return self._catch_up(fh)

    def _catch_up(self, fh: BinaryIO) -> CatchUp | None:
        threshold = max(self.CATCH_UP_MIN_BYTES, self.BULK_MIN_BYTES)
        fd = fh.fileno()
        try:
            size = os.fstat(fd).st_size
            if size < threshold or (self.map_limit is not None and size > self.map_limit):
                return None  # small; or larger than --max-memory allows: block by block
            if os.pread(fd, 1, size - 1) != b"\n":
                return None  # a line is being written: the block path waits for it
            head = os.pread(fd, self.HEAD_BYTES, 0)
        except OSError:
            return None
        if self.cold_lines and may_hold_long_line(fd, size, self.COLD_LINE):
            return None  # polars would hold that line's text: the block path keeps it cold
        head = head[: head.rfind(b"\n") + 1]
        try:
            sample = pl.read_ndjson(io.BytesIO(head), infer_schema_length=None)
        except Exception:  # bad lines at the start: the per-line path reports them
            return None
        keys = _BulkKeys.of(sample.schema, self.default_step, cold=True)
        if keys is None:
            return None
        schema = keys.scan_schema(sample)
        columns = keys.columns(self.split, self.default_step, list(schema), cold=True)
        one_pass = self._mapped_pass if self.map_whole else self._pass_in_blocks
        try:
            read = one_pass(fh, size, schema, columns)
        except Exception:  # a bad line or a changing type further on: read block by block
            return None
        if read is None:
            return None
        frame, (starts, lengths, newlines) = read
        if frame["step"].null_count():
            return None
        frame = self.locate(frame, starts, lengths)
        self.offset = size
        return CatchUp(ParseResult(rollout_frame=frame), consumed=size, lines=newlines)

    def _mapped_pass(
        self, fh: BinaryIO, size: int, schema: dict[str, pl.DataType], columns: list[pl.Expr]
    ) -> tuple[pl.DataFrame, tuple[np.ndarray, np.ndarray, int]] | None:
        """The rows of the open file ``fh`` up to ``size`` (whole lines) as polars reads them
        with ``schema`` and ``columns``, and where each line is; None when a line is blank or
        starts with white space (which the one-pass reader would skip).

        polars is given the file and maps it (both cores; it reads from the file's offset, so
        nothing here moves that offset: the lines are found by ``file_line_spans``, in a thread
        meanwhile, through a mapping of its own). Every page polars reads stays resident until
        the read ends: the file's size is the peak."""
        with ThreadPoolExecutor(1, thread_name_prefix="rltop-spans") as pool:
            spans_job = pool.submit(file_line_spans, fh.fileno(), size)
            try:
                fh.seek(0)
                frame = pl.scan_ndjson(fh, schema=schema).select(columns).collect()
            finally:
                spans = spans_job.result()
        if spans is None or frame.height < len(spans[0]):
            return None
        # lines written since the size was taken are read again by the tail
        return frame.head(len(spans[0])), spans

    def _pass_in_blocks(
        self, fh: BinaryIO, size: int, schema: dict[str, pl.DataType], columns: list[pl.Expr]
    ) -> tuple[pl.DataFrame, tuple[np.ndarray, np.ndarray, int]] | None:
        """What ``_mapped_pass`` reads, a block at a time: a few blocks resident, not the file.

        The file is read in blocks of whole lines (``line_blocks``, ``PASS_BLOCK`` bytes): a
        thread reads the next block and finds its lines (``LineScan``) while polars parses this
        one (both let go of the GIL); a block leaves memory once parsed. Slower than the mapped
        read by the copies (``pread``, its page faults) and a wait for both cores at the end of
        each block: ~0.2 s more for 476 MB on two cores."""
        fd = fh.fileno()
        lines = LineScan()

        def take(blocks: Iterator[tuple[int, bytes]]) -> bytes | None:
            got = next(blocks, None)
            if got is None:
                return None
            pos, data = got
            if not lines.add(data, pos):
                raise _NeedsCare
            return data

        blocks = line_blocks(fd, size, self.PASS_BLOCK)
        frames = []
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="rltop-read") as pool:
                pending = pool.submit(take, blocks)
                while (data := pending.result()) is not None:
                    pending = pool.submit(take, blocks)
                    frames.append(pl.scan_ndjson(data, schema=schema).select(columns).collect())
                    del data  # the block leaves memory once parsed
        except _NeedsCare:
            return None
        spans = lines.result(size)
        if spans is None or not frames:
            return None
        frame = frames[0] if len(frames) == 1 else pl.concat(frames).rechunk()
        if frame.height != len(spans[0]):
            return None
        return frame, spans


class _NeedsCare(Exception):
    """A line the one-pass read would not read as the careful path does (blank, or starting
    with white space)."""


def line_boundary(fd: int, at: int, end: int, window: int = 4096) -> int:
    """Where the first line of the open file ``fd`` that starts at or after ``at`` starts (a line
    starts after each newline); ``end`` when none does before it."""
    if at <= 0:
        return 0
    pos = at - 1  # a line starts at ``at`` when the byte before it ends a line
    while pos < end:
        data = os.pread(fd, min(window, end - pos), pos)
        if not data:
            raise OSError("the file shrank during the read")
        found = data.find(b"\n")
        if found >= 0:
            return min(pos + found + 1, end)
        pos += len(data)
        window *= 2
    return end


def line_blocks(fd: int, end: int, block: int) -> Iterator[tuple[int, bytes]]:
    """The bytes of the open file ``fd`` before ``end``, each block whole lines of about
    ``block`` bytes (a longer line makes a longer block), with where it starts. Each is one
    ``pread`` into its own ``bytes``, which polars reads as it is (no further copy). The file's
    offset is left alone. A file that shrank under the read raises ``OSError``."""
    pos = 0
    while pos < end:
        stop = line_boundary(fd, pos + block, end)
        data = os.pread(fd, stop - pos, pos)
        if len(data) != stop - pos:
            raise OSError("the file shrank during the read")
        yield pos, data
        pos = stop


@dataclass(eq=False, repr=False)
class _BulkKeys:
    """Which logged keys hold a block's (or file's) prompt, completion, reward, step, ..."""

    prompt: str | None
    completion: str | None
    reward: str
    step: str | None
    group: str | None
    tokens: str | None

    @classmethod
    def of(
        cls, schema: Mapping[str, pl.DataType], default_step: int | None, *, cold: bool = False
    ) -> _BulkKeys | None:
        """None when the rows need ``normalize_rollout``: nested values (or, for a ``cold``
        read that leaves nested extras on disk, chat messages or nested text)."""
        nested = {key for key, dtype in schema.items() if dtype.is_nested()}
        if nested and not cold:
            return None
        if cold and nested & set(PROMPT_KEYS + COMPLETION_KEYS + MESSAGE_KEYS):
            return None

        def pick(keys: tuple[str, ...]) -> str | None:
            return next((k for k in keys if k in schema), None)

        keys = cls(
            prompt=pick(PROMPT_KEYS),
            completion=pick(COMPLETION_KEYS),
            reward=pick(REWARD_KEYS) or "",
            step=pick(STEP_KEYS),
            group=pick(GROUP_KEYS),
            tokens=pick(TOKEN_KEYS),
        )
        if not keys.reward or (keys.prompt is None and keys.completion is None):
            return None
        if nested & keys.used or (cold and any(k in schema for k in MESSAGE_KEYS)):
            return None
        if keys.step is None and default_step is None:
            return None
        return keys

    @property
    def used(self) -> set[str]:
        named = (self.prompt, self.completion, self.reward, self.step, self.group, self.tokens)
        return {k for k in named if k}

    def extras(self, columns: list[str]) -> list[str]:
        return [c for c in columns if c not in self.used and c not in CORE_SCHEMA]

    def scan_schema(self, sample: pl.DataFrame) -> dict[str, pl.DataType]:
        """What a whole-file scan reads: numbers as floats (an int may turn float further on),
        prompt and completion as strings, groups as logged, and the short extras; long string
        extras, like the text, stay on disk."""
        schema: dict[str, pl.DataType] = {}
        for key in sorted(self.used):
            if key in (self.prompt, self.completion):
                schema[key] = pl.String()
            elif key == self.group:
                schema[key] = sample.schema[key]
            else:
                schema[key] = pl.Float64()
        for key in self.extras(sample.columns):
            dtype = sample.schema[key]
            if dtype == pl.Null or dtype.is_nested():
                continue  # read back from disk with the text (nested values: into ``extra``)
            if dtype == pl.String and sample.height:
                mean = sample.get_column(key).estimated_size() / sample.height
                if mean > LONG_STRING + 16:  # as ``coldtext.text_columns`` decides
                    continue
            schema[key] = dtype
        return schema

    def columns(
        self, split: str, default_step: int | None, columns: list[str], *, cold: bool = False
    ) -> list[pl.Expr]:
        """The store's rollout columns. ``cold``: prompt and completion null (on disk), and the
        group too when it is the prompt; ``_gid``, the hash the store gives the group text, keeps
        groups apart."""

        def text(key: str | None) -> pl.Expr:
            return named(key).cast(pl.String) if key else pl.lit(None, dtype=pl.String)

        none = pl.lit(None, dtype=pl.String)
        step = (
            named(self.step).cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
            if self.step
            else pl.lit(None, pl.Int64)
        )
        if default_step is not None:
            step = step.fill_null(default_step)
        group = text(self.group) if self.group else text(self.prompt)
        out = [
            step.alias("step"),
            (none if cold else text(self.prompt)).alias("prompt"),
            (none if cold else text(self.completion)).alias("completion"),
            named(self.reward).cast(pl.Float64, strict=False).alias("reward"),
            # a logged group id is short: kept; a prompt standing for its group stays on disk
            (none if cold and not self.group else group).alias("group"),
            text(self.completion).str.len_chars().cast(pl.Int64).alias("length"),
            (
                named(self.tokens).cast(pl.Int64, strict=False)
                if self.tokens
                else pl.lit(None, pl.Int64)
            ).alias("tokens"),
            pl.lit(split).alias("split"),
            none.alias("messages"),
            none.alias("extra"),
        ]
        if cold:
            out.append(group.hash().alias("_gid"))
        return out + [named(c) for c in self.extras(columns)]


def file_line_spans(
    fd: int, end: int, *, block: int = 4 * 1024 * 1024
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Offsets and lengths of the lines of the open file ``fd`` up to ``end`` (which ends with a
    newline), and the number of newlines, found a block at a time (``LineScan``); the file's
    offset, which polars reads from, is left alone. The file is read through a mapping of its
    own whose pages are let go (``release_pages``) as each block is done: it runs beside
    polars' reader, whose mapping of the file is the peak of the read, and adds a block to it,
    without copying the file (a copy with ``pread`` cost as much system time as polars' whole
    parse). Without ``madvise`` the blocks are read with ``pread``. None when a line is empty
    or starts with white space."""
    lines = LineScan()
    pos = 0
    mapped = _mapped(fd, end) if end and hasattr(mmap, "MADV_DONTNEED") else None
    if mapped is not None:
        with mapped as mm, memoryview(mm) as view:
            released = 0
            while pos < end:
                got = min(block, end - pos)
                ok = lines.add(view[pos : pos + got], pos)
                pos += got
                released = release_pages(mm, released, pos)
                if not ok:
                    return None
    else:
        buf = bytearray(block)
        view = memoryview(buf)
        while pos < end:
            got = os.preadv(fd, [view[: min(len(buf), end - pos)]], pos)
            if not got:
                return None  # the file shrank under us
            if not lines.add(view[:got], pos):
                return None
            pos += got
    return lines.result(end)


def _mapped(fd: int, size: int) -> mmap.mmap | None:
    """The open file ``fd`` mapped read-only up to ``size``; None when it cannot be (it shrank)."""
    try:
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


def release_pages(mm: mmap.mmap, start: int, end: int) -> int:
    """Let go of the pages of the read-only mapping ``mm`` from ``start`` (a page boundary) to
    the last page boundary at or before ``end`` (or to ``end`` at the mapping's end): they leave
    the process's resident set and stay in the page cache (a read-only file mapping has nothing
    to lose: a page touched again is mapped again). Returns where the next release starts."""
    stop = end if end >= len(mm) else end - end % mmap.PAGESIZE
    if stop > start:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)
        return stop
    return start


class LineScan:
    """Where the lines of a file are, found from its blocks in order (``add``): the offsets and
    lengths of its lines and the number of newlines (``result``). The one-pass reader skips
    blank lines, the careful path does not number them the same: a line that is empty or
    starts with white space makes ``add`` return False."""

    def __init__(self) -> None:
        import numpy as np  # rollout files only: a metrics-only `rltop check` never loads numpy

        self._np = np
        self._found: list[np.ndarray] = []
        self._line_start = 0  # where the line being read started
        self._pos = 0  # where the next block starts
        # which bytes of a block are newlines, one buffer for every block: a new array per
        # block of megabytes is fresh memory each time (page faults cost as much as the scan)
        self._is_newline = np.zeros(0, dtype=bool)

    def add(self, block: bytes | memoryview, pos: int) -> bool:
        """The lines of ``block``, the file's bytes from ``pos``; False when a line starts with
        white space."""
        np = self._np
        if pos != self._pos:
            raise ValueError(f"blocks out of order: {pos} after {self._pos}")
        data = np.frombuffer(block, dtype=np.uint8)
        got = len(data)
        if len(self._is_newline) < got:
            self._is_newline = np.empty(got, dtype=bool)
        is_newline = self._is_newline[:got]
        np.equal(data, 10, out=is_newline)
        newlines = np.flatnonzero(is_newline)
        # the first byte of every line that starts in this block
        firsts = newlines[newlines + 1 < got] + 1
        if self._line_start == pos:
            firsts = np.concatenate(([0], firsts))
        if len(firsts):
            first = data[firsts]
            if ((first == 32) | (first == 9) | (first == 13)).any():  # space, tab, CR
                return False
        if len(newlines):
            self._found.append(newlines + pos)
            self._line_start = pos + int(newlines[-1]) + 1
        self._pos = pos + got
        return True

    def result(self, end: int) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The lines of the blocks added, which must be the file up to ``end``, ending with a
        newline; None when not, or when a line is empty."""
        np = self._np
        if self._pos != end or self._line_start != end:
            return None
        found = self._found
        ends = np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)
        starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
        lengths = ends - starts
        if (lengths == 0).any():
            return None
        return starts, lengths, len(lengths)


def may_hold_long_line(fd: int, size: int, limit: int) -> bool:
    """False when no line of the open file ``fd`` up to ``size`` is longer than ``limit``: every
    window of ``limit // 2`` bytes holds a newline, found at once near the window's start (a few
    pages of the mapped file are touched, not the whole of it)."""
    try:
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mm:
            return block_may_hold_long_line(mm, limit)  # type: ignore[arg-type]
    except (OSError, ValueError):
        return True  # cannot tell: the careful path


def _file_reader(fh: Any, base: int) -> Callable[[int, int], bytes]:
    """``read(offset, size)`` of the bytes of an open file from ``base`` on."""

    def read(offset: int, size: int) -> bytes:
        fh.seek(base + offset)
        return fh.read(size)

    return read


PARSERS = (RolloutJsonlParser,)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """JSON lines whose first line has prompt/completion text and a reward."""
    if not path.lower().endswith((".jsonl", ".json", ".ndjson")):
        return None
    line = head_line(head)
    if line is None:
        return None
    try:
        obj = loads_json(line)
    except ValueError:
        return None
    if isinstance(obj, dict) and has_rollout_keys(obj):
        return Sniffed(RolloutJsonlParser, "rollouts (prompt/completion text with a reward)")
    return None
