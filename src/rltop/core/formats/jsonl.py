"""JSON-lines metric streams: generic ``{"step": N, ...}``, verl FileLogger, tinker, prime-rl, ART."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from rltop.core.formats.base import (
    MAX_STEP,
    MIN_STEP,
    CatchUp,
    Parser,
    Sniffed,
    find_step,
    flatten,
    head_line,
    iter_json_objects,
    loads_json,
    metric_value,
)
from rltop.core.model import ParseResult, Skip, clip_sample
from rltop.core.tail import COUNT_WITH_NUMPY, DEFAULT_MAX_LINE, count_byte, open_regular

if TYPE_CHECKING:
    import numpy as np


class JsonlMetricsParser(Parser):
    """One JSON object per line with a step and numbers; nested objects flatten with ``/``.

    verl's FileLogger nests the metrics under ``data`` (``{"step": N, "data": {...}}``): the
    ``data/`` prefix is dropped so names match what verl shows on its console and in W&B.
    """

    format: ClassVar[str] = "jsonl-metrics"
    kind: ClassVar[str] = "metrics"

    #: blocks at least this large try polars' NDJSON reader first (a 10,000-step file must be on
    #: screen in well under a second and a half)
    BULK_MIN_BYTES = 256 * 1024
    #: a file at least this large when first seen is read in one pass, polars reading the file
    #: itself (``catch_up``); smaller ones go block by block
    CATCH_UP_MIN_BYTES = 8 * 1024 * 1024

    def catch_up(self) -> CatchUp | None:
        """The whole file through polars' reader in one pass (both cores, no copy of the file in
        Python), checked on its bytes as a block is; None (read block by block) when the file is
        small, does not end with a newline, or holds anything the careful path must look at."""
        least = max(self.CATCH_UP_MIN_BYTES, self.BULK_MIN_BYTES)
        return catch_up_metrics(self.path, least, self.max_line, map_limit=self.map_limit)

    def catch_up_before(self, end: int, after: tuple[int, int] | None = None) -> CatchUp | None:
        """The file's lines before ``end`` (a line boundary) in one pass, as ``catch_up`` reads
        a whole file: the part before its end, which a screen read first. ``after``: (the file's
        size, the rows its lines past ``end`` make) when known, so the rows of the lines before
        ``end`` are told apart without finding where each line ends."""
        least = max(self.CATCH_UP_MIN_BYTES, self.BULK_MIN_BYTES)
        return catch_up_metrics(
            self.path, least, self.max_line, end=end, after=after, map_limit=self.map_limit
        )

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        if len(block) >= self.BULK_MIN_BYTES:
            frame = bulk_metrics(block)
            if frame is not None:
                return ParseResult(metrics_frame=frame)
        return self._per_line(block, first_line)

    def _per_line(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        for lineno, raw, obj in iter_json_objects(block, first_line, result):
            try:
                row = metric_row(obj)
            except ValueError as exc:  # a step out of range
                result.skips.append(Skip(str(exc), lineno, clip_sample(raw)))
                continue
            if row is None:
                result.skips.append(Skip("no step field", lineno, clip_sample(raw)))
                continue
            result.metrics.append(row)
        return result


class VerlFileLoggerParser(JsonlMetricsParser):
    format: ClassVar[str] = "verl-filelogger"


class TinkerMetricsParser(JsonlMetricsParser):
    format: ClassVar[str] = "tinker-metrics"


def metric_row(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A flat metric row from one logged object, or None when it has no step."""
    data = obj.get("data")
    if isinstance(data, dict) and "step" in obj:
        flat = flatten(data)
        flat.setdefault("step", obj["step"])
    else:
        flat = flatten(obj)
    step = find_step(flat)
    if step is None:
        return None
    row: dict[str, Any] = {"step": step}
    for key, value in flat.items():
        if key == "step":
            continue
        norm = metric_value(value)
        if norm is not None or value is None:
            row[key] = norm
    return row


_NUMERIC = (
    pl.Float64,
    pl.Float32,
    pl.Int64,
    pl.Int32,
    pl.Int16,
    pl.Int8,
    pl.UInt64,
    pl.UInt32,
    pl.UInt16,
    pl.UInt8,
    pl.Boolean,
    pl.Null,
)


def _leaves(frame: pl.DataFrame, prefix: str = "") -> list[pl.Series] | None:
    """Flatten struct columns with ``/`` like ``flatten``; None when a leaf is not a number."""
    out: list[pl.Series] = []
    for series in frame.get_columns():
        name = prefix + series.name
        if isinstance(series.dtype, pl.Struct):
            if not series.dtype.fields:
                return None
            inner = _leaves(series.struct.unnest(), name + "/")
            if inner is None:
                return None
            out.extend(inner)
        elif isinstance(series.dtype, _NUMERIC):
            out.append(series.alias(name) if prefix else series)
        else:
            return None  # strings (text metrics), lists, ...: the per-line path knows them
    return out


def bulk_metrics(block: bytes) -> pl.DataFrame | None:
    """A block of ``{"step": N, ...}`` or verl ``{"step": N, "data": {...}}`` lines read by polars.

    Gives exactly the frame the per-line path would build (same columns, values and column
    order), or None whenever the block holds anything that path treats specially: NaN/Infinity,
    strings, lists, a missing or non-integer step, mixed layouts, bad lines.
    """
    try:
        raw = _read_ndjson(block)
    except (Exception, _PANIC):  # polars raises several error types for bad input (and may
        # panic); the per-line path explains
        return None
    if raw is None:
        return None
    return _metric_frame(raw, _DataLines(block, raw.height))


def _metric_frame(raw: pl.DataFrame, lines: Any) -> pl.DataFrame | None:
    """The metric frame (``step`` + Float64 columns in the per-line path's order) of what polars
    read from some lines, every value of which is known to be in ``raw`` (``_all_read``), or
    None when the per-line path must read them. ``lines``: the lines by index (``_DataLines``,
    ``_FileLines``), read only for the order of the columns."""
    if raw.is_empty() or "step" not in raw.columns:
        return None
    step = raw.get_column("step")
    if not step.dtype.is_integer() or step.null_count():
        return None
    if step.dtype in (pl.UInt64, pl.Int128, pl.UInt128) and not (
        step.min() >= MIN_STEP and step.max() <= MAX_STEP  # type: ignore[operator]
    ):
        return None  # the per-line path skips those lines with the reason
    verl = isinstance(raw.schema.get("data"), pl.Struct)
    if verl:
        data = raw.get_column("data")
        if set(raw.columns) != {"step", "data"} or data.null_count():
            return None
        leaves = _leaves(data.struct.unnest())
    elif "data" in raw.columns:
        return None
    else:
        leaves = _leaves(raw.drop("step"))
    if leaves is None:
        return None
    names = [s.name for s in leaves]
    if "step" in names or len(set(names)) != len(names):
        return None
    # a column exists once some row carries a number for it (all-null keys make none)
    missing = [s.null_count() for s in leaves]
    gaps = any(missing)
    leaves = [s for s, gone in zip(leaves, missing, strict=True) if gone < s.len()]
    table = pl.DataFrame(leaves)  # no copy; one query below instead of one per column
    order = _first_number_order(table, lines, verl, gaps)
    if order is None:
        return None
    # by the Series (a name such as ``^.*$`` given to ``pl.col`` is a pattern); no copy of
    # the columns already read as floats
    columns = [step.cast(pl.Int64).alias("step")]
    for name in order:
        series = table.get_column(name)
        columns.append(series if series.dtype == pl.Float64 else series.cast(pl.Float64))
    return pl.DataFrame(columns)


#: the schema of a block is inferred from its first lines (about this many bytes) ...
SAMPLE_BYTES = 256 * 1024


def _read_ndjson(block: bytes) -> pl.DataFrame | None:
    """The block through polars with the schema of its first lines; when the block holds a key
    (or a type) those lines did not have, read again inferring from every line. None when even
    that frame lacks something the block holds (``_all_read``): the per-line path reads it.

    polars gets the bytes themselves, never a ``BytesIO``: it reads ``bytes`` in place, a file
    object through Python (a third slower for a 3 MB block).
    """
    counts = _colons(block)
    cut = block.find(b"\n", SAMPLE_BYTES)
    if 0 <= cut < len(block) - 1:
        # the first lines' schema only (half the work of reading them into a frame)
        sample = pl.scan_ndjson(block[: cut + 1], infer_schema_length=None).collect_schema()
        if sample:
            try:
                frame = pl.read_ndjson(block, schema=_read_schema(sample))
            except (Exception, _PANIC):  # a type the sample did not see (text for numbers)
                frame = None
            if frame is not None and _all_read(frame, *counts):
                return frame.rechunk()  # see ``_read_file``
    frame = pl.read_ndjson(block, infer_schema_length=None)
    return frame.rechunk() if _all_read(frame, *counts) else None


try:  # polars' Rust panics reach Python as ``PanicException``, a ``BaseException``
    from polars.exceptions import PanicException as _PANIC
except ImportError:  # pragma: no cover - older polars
    _PANIC = Exception


def _read_schema(schema: Any) -> dict[str, Any]:
    """The schema a block or file is read with, from its first lines': keys that were only ever
    null there, and integers, read as floats (every metric becomes one; a metric logged as
    ``0`` first and ``0.5`` later must not fail the read). The step stays an integer."""

    def fix(dtype: Any) -> Any:
        if dtype == pl.Null or dtype.is_integer():
            return pl.Float64
        if isinstance(dtype, pl.Struct):
            return pl.Struct({f.name: fix(f.dtype) for f in dtype.fields})
        return dtype

    return {name: dtype if name == "step" else fix(dtype) for name, dtype in schema.items()}


def _colons(block: bytes) -> tuple[int, int | Callable[[], int]]:
    """Colons of the block, and how many of them open a literal null (``_count_colons``; for a
    small block a function that counts them when ``_all_read`` needs it: only a frame with
    nulls does, and the two-byte counts cost twice the colons')."""
    if len(block) < COUNT_WITH_NUMPY:  # the same counts, without importing numpy
        counted: list[int] = []

        def literal_nulls() -> int:
            if not counted:
                counted.append(block.count(b":n") + block.count(b": n"))
            return counted[0]

        return block.count(b":"), literal_nulls
    import numpy as np

    view = np.frombuffer(block, dtype=np.uint8)
    colons = literal_nulls = 0
    for start in range(0, len(view), SCAN_BYTES):
        part = view[start : start + SCAN_BYTES + _LOOKAHEAD]  # a null's bytes past the window
        found, null = _count_colons(part, min(SCAN_BYTES, len(view) - start))
        colons += found
        literal_nulls += null
    return colons, literal_nulls


#: bytes looked at per step when counting a block's or a file's bytes (numpy arrays this size
#: stay in the cache; a whole block at once would allocate a mask as large as the block)
SCAN_BYTES = 1024 * 1024
#: bytes past a window that a colon at its end needs to be told a null's (``: n``)
_LOOKAHEAD = 2
_COLON, _NEWLINE, _SPACE, _N = 58, 10, 32, 110


def _count_colons(data: np.ndarray, end: int) -> tuple[int, int]:
    """Colons of ``data[:end]``, and how many of them open a literal null (``:n`` or ``: n``:
    outside strings a JSON value starting with ``n`` is ``null``; a colon inside a key or a
    string counts once more and at most once less, so a key polars did not read still makes the
    count larger than what it read). Bytes past ``end`` are only looked at after a colon."""
    import numpy as np

    at = np.flatnonzero(data[:end] == _COLON)
    after = np.take(data, at + 1, mode="clip")  # clipped: the last byte of a file is a newline
    nulls = int(np.count_nonzero(after == _N))
    spaced = at[after == _SPACE]
    if len(spaced):
        nulls += int(np.count_nonzero(np.take(data, spaced + 2, mode="clip") == _N))
    return len(at), nulls


def _all_read(
    frame: pl.DataFrame, colons: int, literal_nulls: int | Callable[[], int | None]
) -> bool:
    """Whether polars read every ``"key": value`` of the lines behind ``frame``, from the
    colons of their bytes (``_count_colons``): one per value the frame holds (``_fields``), one
    per literal null when the frame has nulls at all (without any, a literal null is a key the
    frame lacks), and the colons inside its keys. A key polars did not read (not in the schema,
    or a key repeated in a line: polars keeps the first value, the per-line path the last), a
    colon inside a string: the counts differ. ``literal_nulls`` may be a function counting
    them, called only when the frame has nulls.
    """
    values, nulls, named = _fields(frame)
    expected = colons
    if nulls:
        counted = literal_nulls() if callable(literal_nulls) else literal_nulls
        if counted is None:
            return False
        expected -= counted
    for count, name in named:
        expected -= count * _name_colons(name, nulls)
    return values == expected


def _name_colons(name: str, nulls: bool) -> int:
    """Colons inside a key as ``_count_colons`` counts them (when literal nulls are taken off,
    one followed by ``n`` or `` n`` inside the key is taken off too)."""
    count = name.count(":")
    if nulls and count:
        text = name + '"'
        count -= sum(
            text.startswith(("n", " n"), at + 1) for at in range(len(name)) if name[at] == ":"
        )
    return count


def _fields(frame: pl.DataFrame) -> tuple[int, bool, list[tuple[int, str]]]:
    """How many ``"key":`` with a value the lines behind ``frame`` hold, if they held only its
    columns: one per value of a column, and one per row an object column has an object in (a
    missing key or a literal null reads as a null struct); whether any leaf holds a null; and
    (values, key) for the keys holding a colon (one walk of the columns, from null counts:
    nothing row by row).

    Every count is of something polars read from a ``"key":`` of the lines, so a key it did not
    read makes the colons of the bytes more, never equal.
    """
    total = 0
    nulls = False
    named: list[tuple[int, str]] = []
    flat: list[pl.Series] = []
    for series in frame.get_columns():
        if isinstance(series.dtype, pl.Struct):
            objects = series.len() - series.null_count()
            total += objects  # the object's own "key":
            if ":" in series.name:
                named.append((objects, series.name))
            inner, inner_nulls, inner_named = _fields(series.struct.unnest())
            total += inner
            nulls = nulls or inner_nulls
            named.extend(inner_named)
        else:
            flat.append(series)
    if flat:
        plain = pl.DataFrame(flat)
        missing = plain.null_count().row(0)
        nulls = nulls or any(missing)
        total += plain.height * plain.width - sum(missing)
        named.extend(
            (plain.height - gone, series.name)
            for series, gone in zip(flat, missing, strict=True)
            if ":" in series.name
        )
    return total, nulls, named


class _DataLines:
    """The non-blank lines of a block by index, split only if a line past the first is needed."""

    def __init__(self, block: bytes, height: int) -> None:
        self.block, self.height = block, height
        self._lines: list[bytes] | None = None

    def __getitem__(self, index: int) -> bytes:
        block = self.block
        if index == 0 and block[:1] not in b" \t\r\n":
            return block[: block.index(b"\n")]
        return self._split()[index]

    def _split(self) -> list[bytes]:
        if self._lines is None:
            self._lines = [line for line in self.block.split(b"\n") if line.strip()]
        return self._lines

    def complete(self) -> bool:
        """Polars saw one row per non-blank line (blank lines are the only ones it skips; it
        never makes two rows of one line: as many rows as lines means no line was skipped)."""
        if count_byte(self.block, len(self.block), 10) == self.height:
            return True
        return len(self._split()) == self.height


class _FileLines:
    """The lines of a file by index (polars gave one row per line), read when asked; where
    each ends is found the first time (``_line_ends``) unless already known."""

    def __init__(self, fd: int, end: int, ends: np.ndarray | None = None) -> None:
        self.fd, self.end, self.ends = fd, end, ends

    def __getitem__(self, index: int) -> bytes:
        if index == 0 and self.ends is None:  # the first line: no need to find every line
            head = os.pread(self.fd, SCAN_BYTES, 0)
            if b"\n" in head:
                return head[: head.index(b"\n")]
        if self.ends is None:
            self.ends = _line_ends(self.fd, self.end, strict=False)
            if self.ends is None:
                raise ValueError("the file changed while it was read")
        start = int(self.ends[index - 1]) + 1 if index else 0
        return os.pread(self.fd, int(self.ends[index]) - start, start)

    def complete(self) -> bool:
        return True  # ``catch_up_metrics`` made sure: one row per line


#: a file's sample (the lines its schema is taken from) is cut at its first newline past
#: ``SAMPLE_BYTES``, read with this much to spare
_SAMPLE_SLACK = 64 * 1024
#: lines that start with these bytes (blank ones, white space first) are lines polars skips or
#: may: a file that has them is read block by block
_BLANK_START = b"\t\n\r "


def catch_up_metrics(
    path: str,
    least: int,
    max_line: int = DEFAULT_MAX_LINE,
    *,
    end: int | None = None,
    after: tuple[int, int] | None = None,
    map_limit: int | None = None,
) -> CatchUp | None:
    """Read a metrics file whole through polars (see ``JsonlMetricsParser.catch_up``).

    Polars reads the open file (memory-mapped by polars, never copied into Python) with the
    schema of its first lines while a thread counts the newlines and colons of its bytes, then
    the frame is checked as a block's is (``_all_read``, ``_metric_frame``). A key those first
    lines lack: read once more inferring from every line. Lines appended meanwhile are left to
    the tail. With ``end`` (a line boundary), only the lines before it (``catch_up_before``):
    polars reads the whole file, the rows past ``end`` are dropped (a bad line there: None).
    """
    if not hasattr(os, "preadv"):
        return None  # not POSIX: polars would copy the file whole; the block path reads it
    try:
        fh = open_regular(path)
    except OSError:
        return None
    try:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        if end is not None:
            if end > size:
                return None
            size = end
        if map_limit is not None and os.fstat(fd).st_size > map_limit:
            return None  # polars maps the whole file: its mapping would not fit --max-memory
        if size < least or 0 < max_line < SCAN_BYTES or os.pread(fd, 1, size - 1) != b"\n":
            return None  # small, or a line is being written: the block path waits for it
        head = os.pread(fd, SAMPLE_BYTES + _SAMPLE_SLACK, 0)
        cut = head.find(b"\n", SAMPLE_BYTES)
        if cut < 0:
            cut = head.rfind(b"\n")
        try:
            sample = pl.read_ndjson(head[: cut + 1], infer_schema_length=None)
        except (Exception, _PANIC):  # bad first lines: the per-line path says what is wrong
            return None
        if cut < 0 or sample.is_empty():
            return None
        with ThreadPoolExecutor(1, thread_name_prefix="rltop-scan") as pool:
            # literal nulls are told apart beside polars when the first lines have nulls (a
            # key not in every line, or a literal null), else later only if the file has any
            scan_job = pool.submit(_scan_file, fd, size, _fields(sample)[1])
            raw = _read_file(fh, _read_schema(sample.schema))
            scan = scan_job.result()
        if raw is None or scan is None:
            return None
        newlines, colons, counted_nulls, longest = scan

        def literal_nulls() -> int | None:
            nonlocal counted_nulls
            if counted_nulls is None:  # the first lines had no nulls, the file has
                again = _scan_file(fd, size)
                counted_nulls = None if again is None else again[2]
            return counted_nulls

        if max_line and longest > max_line:
            return None  # the tail skips that line, with a note
        lines = _FileLines(fd, size)
        if (
            after is not None
            and raw.height == newlines + after[1]
            and os.fstat(fd).st_size == after[0]
        ):
            # the lines past ``end`` made their known rows: one row per line before it
            raw = raw.head(newlines)
        elif raw.height != newlines or os.fstat(fd).st_size != size:
            # blank lines (polars skips them), or lines appended while polars read (rows of
            # lines past ``size`` are the tail's): one row per line is checked on where each is
            ends = _line_ends(fd, size, strict=True)
            if ends is None or raw.height < len(ends):
                return None
            lines = _FileLines(fd, size, ends)
            raw = raw.head(len(ends))
        if not _all_read(raw, colons, literal_nulls):
            # a key (or a type) the first lines did not have: polars infers from every line
            wide = _read_file(fh, None)
            if wide is None or wide.height < raw.height:
                return None
            raw = wide.head(raw.height)
            if not _all_read(raw, colons, literal_nulls):
                return None
        frame = _metric_frame(raw, lines)
        if frame is None:
            return None
        return CatchUp(ParseResult(metrics_frame=frame), consumed=size, lines=newlines)
    except (OSError, ValueError):  # the file changed under us: the block path says how
        return None
    finally:
        fh.close()


def _read_file(fh: Any, schema: dict[str, Any] | None) -> pl.DataFrame | None:
    """The whole open file through polars (the file object: a path would be a glob pattern
    to polars), with ``schema`` or inferring from every line; None when polars cannot."""
    try:
        fh.seek(0)
        if schema is None:
            frame = pl.read_ndjson(fh, infer_schema_length=None)
        else:
            frame = pl.read_ndjson(fh, schema=schema)
    except (Exception, _PANIC):  # a bad line, a changing type: the block path explains
        return None
    # one piece per column: polars reads in batches of a few dozen lines, and each struct
    # field split into as many pieces makes every step after this slower than this copy
    return frame.rechunk()


def _windows(fd: int, end: int) -> Iterator[tuple[int, bytearray, int, int]]:
    """The file's first ``end`` bytes as ``(offset, buffer, got, size)`` windows of
    ``SCAN_BYTES`` (``buffer[:size]``), each with the next ``_LOOKAHEAD`` bytes after it (up to
    ``got``) while there are any, read into one small reused buffer (nothing mapped or copied
    whole: this runs beside polars' reader). Stops early when the file shrank (the windows then
    end before ``end``)."""
    buf = bytearray(SCAN_BYTES + _LOOKAHEAD)
    view = memoryview(buf)
    pos = 0
    while pos < end:
        got = os.preadv(fd, [view[: min(len(buf), end - pos)]], pos)
        size = min(SCAN_BYTES, got - _LOOKAHEAD) if pos + got < end else got
        if size <= 0:
            return  # the file shrank under us
        yield pos, buf, got, size
        pos += size


def _scan_file(fd: int, end: int, nulls: bool = True) -> tuple[int, int, int | None, int] | None:
    """Newlines, colons and literal nulls (``_count_colons``'s counts; with ``nulls`` only, else
    None: telling them apart costs more than counting colons) of the file's first ``end`` bytes,
    and the longest line that is not inside one window (lines inside one are at most
    ``SCAN_BYTES`` long); None when the file shrank.

    Counted by CPython's ``bytes.count`` in one reused window (it runs beside polars' reader,
    which does not need the interpreter lock): importing numpy for it would cost more than the
    count itself on a file read once."""
    newlines = colons = literal_nulls = longest = 0
    reached = run = 0  # run: bytes of the line that goes on into the next window
    count = -1  # newlines of the window before
    for pos, buf, got, size in _windows(fd, end):
        count, first, last = _newlines_in(buf, size, sparse=0 <= count < _SPARSE)
        newlines += count
        if count:
            longest = max(longest, run + first)
            run = size - 1 - last
        else:
            run += size
        colons += buf.count(b":", 0, size)
        if nulls:  # a colon in the window, then ``n`` or `` n`` (those may be past ``size``)
            literal_nulls += buf.count(b":n", 0, min(size + 1, got))
            literal_nulls += buf.count(b": n", 0, min(size + 2, got))
        reached = pos + size
    if reached != end:
        return None  # the file shrank under us
    return newlines, colons, literal_nulls if nulls else None, max(longest, run)


#: a window that held fewer lines than this (lines of ~4 KB and more: a metrics line of a few
#: hundred keys) has the next one's newlines found one by one (``bytes.find`` runs at memory
#: speed) rather than counted (``bytes.count`` looks at every byte: ~30 ms per 70 MB)
_SPARSE = 256


def _newlines_in(buf: bytearray, size: int, *, sparse: bool) -> tuple[int, int, int]:
    """Newlines of ``buf[:size]``, and where the first and last are (-1 without any)."""
    if sparse:
        count, first, at = 0, -1, buf.find(b"\n", 0, size)
        last = at
        while at >= 0:
            count += 1
            if first < 0:
                first = at
            last = at
            at = buf.find(b"\n", at + 1, size)
        return count, first, last
    count = buf.count(b"\n", 0, size)
    if not count:
        return 0, -1, -1
    return count, buf.find(b"\n", 0, size), buf.rfind(b"\n", 0, size)


def _line_ends(fd: int, end: int, *, strict: bool) -> np.ndarray | None:
    """Where each line of the file's first ``end`` bytes (ending with a newline) ends. None
    when the file shrank or, ``strict``, a line is blank or starts with white space (a line
    polars skips, or may)."""
    import numpy as np

    found: list[np.ndarray] = []
    pos = 0
    for pos, buf, got, size in _windows(fd, end):
        part = np.frombuffer(buf, dtype=np.uint8, count=got)
        newlines = np.flatnonzero(part[:size] == _NEWLINE)
        if strict:
            starts = newlines[newlines + 1 + pos < end] + 1  # the first byte of each next line
            blank = np.frombuffer(_BLANK_START, dtype=np.uint8)
            if (pos == 0 and part[0] in blank) or np.isin(part[starts], blank).any():
                return None
        if len(newlines):
            found.append(newlines + pos)
        pos += size
    ends = np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)
    if pos != end or not len(ends) or ends[-1] != end - 1:
        return None
    return ends


def _first_number_order(
    table: pl.DataFrame, lines: Any, verl: bool, gaps: bool = True
) -> list[str] | None:
    """Column order of the per-line path: by the first row holding a number, then key order.
    Without ``gaps`` (no column has a null) every column starts in the first row."""
    first_row: dict[int, list[str]] = {}
    if table.width and not gaps:
        first_row[0] = list(table.columns)
    elif table.width:
        firsts = table.select(pl.all().is_not_null().arg_max()).row(0, named=True)
        for name, row in firsts.items():
            first_row.setdefault(int(row or 0), []).append(name)
    if any(row > 0 for row in first_row) and not lines.complete():
        return None  # the row -> line mapping (past the first line) holds only if complete
    order: list[str] = []
    for row in sorted(first_row):
        try:
            obj = loads_json(lines[row])
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        keys = flatten(obj["data"] if verl else obj)
        position = {key: i for i, key in enumerate(keys)}
        names = first_row[row]
        if any(name not in position for name in names):
            return None
        order.extend(sorted(names, key=position.__getitem__))
    return order


PARSERS = (JsonlMetricsParser, VerlFileLoggerParser, TinkerMetricsParser)

JSON_EXTS = (".jsonl", ".json", ".ndjson")


def sniff(path: str, head: bytes) -> Sniffed | None:
    """JSON lines with a step and numbers (after the rollout reader has passed on them); every
    other ``.json``/``.jsonl`` file gets the reason it is not read."""
    lower = path.lower()
    if not lower.endswith(JSON_EXTS):
        return None
    line = head_line(head)
    if line is None:
        if not head.strip():
            return Sniffed(None, "empty so far")
        if lower.endswith(".json"):
            return _json_document_reason(head)
        return Sniffed(None, "no complete line yet")
    try:
        obj = loads_json(line)
    except ValueError:
        if lower.endswith(".json"):
            return _json_document_reason(head)
        obj = _next_json_line(head)  # one bad first line (cut, nested too deeply) hides nothing
        if obj is None:
            return Sniffed(None, "first line is not JSON")
    if not isinstance(obj, dict):
        return Sniffed(None, "first line is not a JSON object")
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
