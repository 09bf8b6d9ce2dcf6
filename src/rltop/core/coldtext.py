"""Rollout text held on disk: read back by byte offset when a row is looked at or searched.

Rollout parsers that read line files record, per row, where its line is and which format made it
(``_path``, ``_offset``, ``_len``, ``_format``: ``Parser.locate``). Under a memory budget the store
drops the text of the oldest steps (the text columns become null, the numbers stay);
``load_text`` and ``fill_text`` read those bytes again and ask the format that made the row to
make it again (``Parser.reread``). Like toolong, nothing is read until it is needed, and files are
only ever opened for reading.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import polars as pl

from rltop.core.cols import named
from rltop.core.formats.base import Parser
from rltop.core.formats.registry import parser_for
from rltop.core.jsonscan import string_pieces
from rltop.core.model import LONG_STRING, ROW_LOCATION
from rltop.core.tail import open_regular

#: columns whose content can be dropped from memory and read back from disk
TEXT_COLUMNS = ("prompt", "completion", "messages", "extra")
LOCATION = ROW_LOCATION


def is_cold(row: dict[str, Any]) -> bool:
    """The row's text is not in memory but can be read back."""
    return (
        row.get("_path") is not None
        and row.get("prompt") is None
        and row.get("completion") is None
        and row.get("messages") is None
    )


def read_raw(path: str, offset: int, length: int) -> bytes:
    with open_regular(path) as fh:
        fh.seek(offset)
        return fh.read(length)


def reader(fmt: str | None, path: str) -> Parser:
    """A parser of format ``fmt`` for ``path``, to read rows back (``ValueError``: none)."""
    cls = parser_for(fmt) if fmt else None
    if cls is None:
        raise ValueError(f"no reader for format {fmt!r}")
    return cls(path)


def text_is_on_disk(frame: pl.DataFrame) -> bool:
    """Every row of ``frame`` has its prompt and completion on disk, none in memory."""
    present = [c for c in ("prompt", "completion") if c in frame.columns]
    return (
        bool(present)
        and frame.height > 0
        and all(frame.get_column(c).null_count() == frame.height for c in present)
    )


def _long_line_reader(row: dict[str, Any]) -> Parser | None:
    """The parser that reads ``row``'s line back in windows, when that line is too long to
    read whole (``RolloutJsonlParser.COLD_LINE``); else None."""
    try:
        parser = reader(row.get("_format"), row["_path"])
    except ValueError:
        return None
    limit = getattr(parser, "COLD_LINE", None)
    if not getattr(parser, "cold_lines", False) or limit is None:
        return None
    return parser if int(row["_len"]) > limit else None


#: in a row from ``load_text``: column -> the cold text it shows the head of (``cold_pieces``)
COLD = "_cold"


def load_text(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its text columns read back from disk when they were dropped (else as is).

    A line too long to read whole gives the heads of its long texts, and under ``COLD`` where the
    whole of each is (``cold_pieces`` reads it a piece at a time). If the file changed so the bytes
    no longer parse, the text columns say so instead of raising.
    """
    if not is_cold(row):
        return row
    out = dict(row)
    parser = _long_line_reader(row)
    offset, length = int(row["_offset"]), int(row["_len"])
    cold: dict[str, Any] | None = None
    try:
        if parser is not None:
            full, cold = parser.reread_cold(offset, length)  # type: ignore[attr-defined]
        else:
            raw = read_raw(row["_path"], offset, length)
            full = reader(row.get("_format"), row["_path"]).reread(raw)
    except (OSError, ValueError) as exc:
        out["completion"] = f"(text not available: {os.path.basename(row['_path'])} changed: {exc})"
        return out
    for key in TEXT_COLUMNS:
        out[key] = full.get(key)
    for key, value in full.items():
        if key not in out or out[key] is None:
            out[key] = value
    if cold is not None:
        out[COLD] = {column: (row["_path"], offset, value) for column, value in cold.items()}
    return out


def cold_pieces(entry: tuple[str, int, Any]) -> Iterator[str]:
    """The whole of a text ``load_text`` gave the head of (an item of its ``COLD``), decoded a
    piece at a time from disk."""
    path, offset, value = entry
    with open_regular(path) as fh:

        def read(at: int, size: int) -> bytes:
            fh.seek(offset + at)
            return fh.read(size)

        yield from string_pieces(read, value)


def fill_heads(part: pl.DataFrame) -> pl.DataFrame:
    """``fill_text`` for a list: the text of a line too long to read whole comes back as its
    head (``RolloutJsonlParser.HEAD_CHARS``), read in windows; memory holds no whole text."""
    return fill_text(part, heads=True)


def fill_text(part: pl.DataFrame, *, heads: bool = False) -> pl.DataFrame:
    """``part`` with the text of its cold rows read back (one open per file, in offset order).

    ``heads``: lines too long to read whole give the heads of their texts (``fill_heads``)."""
    if "_path" not in part.columns or part.is_empty():
        return part
    checks = [named(c).is_null() for c in ("prompt", "completion") if c in part.columns]
    if not checks:
        return part
    mask = part.select(pl.all_horizontal(checks) & pl.col("_path").is_not_null()).to_series()
    if not mask.any():
        return part
    cold = part.with_row_index("_i").filter(mask)
    has_format = "_format" in cold.columns
    located = zip(
        cold.get_column("_i").to_list(),
        cold.get_column("_path").to_list(),
        cold.get_column("_format").to_list() if has_format else itertools.repeat(None),
        cold.get_column("_offset").to_list(),
        cold.get_column("_len").to_list(),
        strict=False,
    )
    columns = [c for c in TEXT_COLUMNS if c in part.columns]
    bulk, filled = _read_back(located, columns, heads)
    rows = sorted({i for values in filled.values() for i in values})
    if rows:
        one_by_one = {"_i": pl.Series("_i", rows, dtype=pl.UInt32)}
        for column, values in filled.items():
            one_by_one[column] = pl.Series(
                column, [values.get(i) for i in rows], dtype=pl.String, strict=False
            )
        bulk.append(pl.DataFrame(one_by_one))
    return _put_back(part, bulk)


def fill_rows(rows: list[dict[str, Any]], *, heads: bool = False) -> list[dict[str, Any]]:
    """``fill_text`` for rows as dicts (a list page: no frame is made), filled in place."""
    columns = [c for c in TEXT_COLUMNS if rows and c in rows[0]]
    located = [
        (i, row["_path"], row.get("_format"), row["_offset"], row["_len"])
        for i, row in enumerate(rows)
        if is_cold(row)
    ]
    if not located or not columns:
        return rows
    bulk, filled = _read_back(located, columns, heads)
    for frame in bulk:
        where = frame.get_column("_i").to_list()
        for column in columns:
            for i, value in zip(where, frame.get_column(column).to_list(), strict=True):
                if value is not None:
                    rows[i][column] = value
    for column, values in filled.items():
        for i, value in values.items():
            if value is not None:
                rows[i][column] = value
    return rows


def fill_row_heads(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``fill_rows`` for a list: the heads of texts too long to read whole (``fill_heads``)."""
    return fill_rows(rows, heads=True)


def _read_back(
    located: Iterable[tuple[int, str, str | None, int, int]], columns: list[str], heads: bool
) -> tuple[list[pl.DataFrame], dict[str, dict[int, Any]]]:
    """Read back the text ``columns`` of the rows ``located`` ((row, path, format, offset,
    length)): as frames ("_i", the row, and ``columns``) for rows read many at once, and as
    column -> row -> value for rows read one by one. One open per file, in offset order."""
    wanted: dict[tuple[str, str | None], list[tuple[int, int, int]]] = defaultdict(list)
    for i, path, fmt, offset, length in located:
        wanted[(path, fmt)].append((i, int(offset), int(length)))
    bulk: list[pl.DataFrame] = []
    filled: dict[str, dict[int, Any]] = {c: {} for c in columns}
    for (path, fmt), items in wanted.items():
        items.sort(key=lambda t: t[1])
        try:
            parser = reader(fmt, path)
            fh = open_regular(path)
        except (OSError, ValueError):
            continue
        limit = getattr(parser, "COLD_LINE", None) if heads else None
        if not getattr(parser, "cold_lines", False):
            limit = None
        with fh:
            many = getattr(parser, "reread_many", None)
            if many is not None and len(items) >= BULK_REREAD:
                items = _reread_many(fh, many, items, limit, columns, bulk)
            for i, offset, length in items:
                try:
                    if limit is not None and length > limit:
                        full, _cold = parser.reread_cold(offset, length)  # type: ignore[attr-defined]
                    else:
                        fh.seek(offset)
                        full = parser.reread(fh.read(length))
                except (OSError, ValueError):
                    continue
                for column, values in filled.items():
                    values[i] = full.get(column)
    return bulk, filled


def _put_back(part: pl.DataFrame, pieces: list[pl.DataFrame]) -> pl.DataFrame:
    """``part`` with the texts read back (``pieces``: "_i", the row in ``part``, and text
    columns) put in their rows; a text that came back null keeps what the row had."""
    if not pieces:
        return part
    new = pieces[0] if len(pieces) == 1 else pl.concat(pieces, how="vertical")
    where = new.get_column("_i")
    updates = []
    for column in new.columns[1:]:
        old = part.get_column(column)
        if old.dtype not in (pl.String, pl.Null):  # not text: let polars find the common type
            fresh = pl.lit(
                pl.Series(column, [None] * part.height, dtype=pl.String).scatter(
                    where, new.get_column(column)
                )
            )
            updates.append(
                pl.when(fresh.is_not_null()).then(fresh).otherwise(named(column)).alias(column)
            )
            continue
        old = old.cast(pl.String)
        got = new.get_column(column)
        if got.null_count():
            got = got.fill_null(old.gather(where))
        updates.append(old.clone().scatter(where, got))
    return part.with_columns(updates)


#: rows of one file read back together in one polars read (``Parser.reread_many``) from this many
BULK_REREAD = 64


def _reread_many(
    fh: Any,
    many: Any,
    items: list[tuple[int, int, int]],
    limit: int | None,
    columns: list[str],
    into: list[pl.DataFrame],
) -> list[tuple[int, int, int]]:
    """Read back the rows of ``items`` (sorted by offset) whose lines are read whole in one go,
    as a frame ("_i" and ``columns``) added to ``into``; returns the items left for the
    row-by-row read (lines too long, or all of them when the bulk read cannot take them)."""
    if not hasattr(os, "pread"):
        return items
    whole = [t for t in items if limit is None or t[2] <= limit]
    rest = [t for t in items if not (limit is None or t[2] <= limit)]
    if not whole:
        return items
    try:
        block = _read_block(fh.fileno(), [(offset, length) for _i, offset, length in whole])
    except OSError:
        return items
    if block is None:
        return items  # the file shrank: the row-by-row read says which rows are gone
    got = many(block, len(whole), columns)
    if got is None:
        return items
    rows = pl.Series("_i", [i for i, _offset, _length in whole], dtype=pl.UInt32)
    into.append(got.select(columns).with_columns(rows).select("_i", *columns))
    return rest


NEWLINE = ord("\n")


def _read_block(fd: int, spans: list[tuple[int, int]]) -> bytes | None:
    """The bytes at ``spans`` ((offset, length) of lines, sorted by offset), each followed by a
    newline, in one buffer (None when the file ends before a span does).

    Lines that follow each other in the file are read as they are, in one piece (no copy per
    line: the newest rows of a file are one stretch of it); stretches close together are read
    with one ``pread``, in the runs the search's prefilter reads (``prefilter.line_runs``)."""
    import numpy as np

    from rltop.core.prefilter import line_runs

    if not spans:
        return b""
    table = np.array(spans, dtype=np.int64).reshape(-1, 2)
    starts, ends = table[:, 0], table[:, 0] + table[:, 1]
    # stretches of lines back to back (a line, one byte, the next line)
    bounds = np.concatenate(([0], np.flatnonzero(starts[1:] != ends[:-1] + 1) + 1, [len(spans)]))
    first, last = bounds[:-1], bounds[1:] - 1
    g_start, g_end = starts[first], ends[last] + 1  # a stretch with its last line's newline
    chunks: list[Any] = []
    for lo, hi in line_runs(g_start, g_end):
        start = int(g_start[lo])
        size = int(g_end[lo:hi].max()) - start
        data = os.pread(fd, size, start)
        if len(data) < size:
            if len(data) < size - 1 or os.fstat(fd).st_size != start + len(data):
                return None
            data += b"\n"  # the file's last line, not ended by a newline
        view = memoryview(data)
        raw = np.frombuffer(data, dtype=np.uint8)
        for g in range(lo, hi):
            lines = slice(int(first[g]), int(last[g]) + 1)
            if (raw[ends[lines] - start] == NEWLINE).all():
                chunks.append(view[int(g_start[g]) - start : int(g_end[g]) - start])
                continue
            for a, b in zip(starts[lines].tolist(), ends[lines].tolist(), strict=True):
                chunks.extend((view[a - start : b - start], b"\n"))
    if len(chunks) == 1 and len(chunks[0]) == len(chunks[0].obj):
        return chunks[0].obj
    return b"".join(chunks)


# -- the memory budget -----------------------------------------------------------------------
DEFAULT_MAX_MEMORY = 2 * 1024**3
#: share of ``--max-memory`` that rollout frames may take; the rest is the interpreter, the UI,
#: a block being parsed, and the allocator's slack
FRAME_SHARE = 0.4
#: columns kept in memory even for steps whose text is on disk
KEEP_STRINGS = {"split", "_path", "_format"}


class MemoryBudget:
    """How much memory rollout frames may hold; the tables of all runs share it."""

    def __init__(self, max_memory: int = DEFAULT_MAX_MEMORY) -> None:
        self.max_memory = max_memory
        self.tables: list[Any] = []  # RolloutTables (weakly: dropped when their store is)

    @property
    def limit(self) -> int:
        return int(self.max_memory * FRAME_SHARE)

    def register(self, table: Any) -> None:
        import weakref

        self.tables.append(weakref.ref(table))

    def live_tables(self) -> list[Any]:
        alive = [t() for t in self.tables]
        self.tables = [ref for ref, t in zip(self.tables, alive, strict=True) if t is not None]
        return [t for t in alive if t is not None]

    def enforce(self) -> None:
        """Move the text of the oldest steps to disk until the frames fit the budget."""
        tables = self.live_tables()
        total = sum(t.held_bytes() for t in tables)
        while total > self.limit:
            candidates = [t for t in tables if t.can_evict()]
            if not candidates:
                return
            table = max(candidates, key=lambda t: t.hot_text_bytes())
            freed = table.evict_oldest()
            if freed <= 0:
                return
            total -= freed


BUDGET = MemoryBudget()


#: share of ``--max-memory`` a file mapped whole may take (a one-pass read maps the file: every
#: page read stays resident until the read ends, on top of the process itself)
MAP_SHARE = 0.75


def map_limit() -> int:
    """The largest file read in one pass over its mapping within the memory budget (a larger
    one is read block by block, the text of old steps moved to disk): ``Parser.map_limit``."""
    return int(BUDGET.max_memory * MAP_SHARE)


def set_max_memory(max_memory: int | None) -> None:
    """Set the process-wide budget (``--max-memory``); applies to tables created from now on too."""
    BUDGET.max_memory = int(max_memory) if max_memory else DEFAULT_MAX_MEMORY
    BUDGET.enforce()


def text_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of a chunk whose content is moved to disk with its text."""
    out = [c for c in TEXT_COLUMNS if c in frame.columns]
    if "group" in frame.columns:
        out.append("group")
    for name, dtype in frame.schema.items():
        if (
            dtype == pl.String
            and name not in out
            and name not in KEEP_STRINGS
            and name not in ("group",)
            and frame.height
        ):
            mean = frame.get_column(name).estimated_size() / frame.height
            if mean > LONG_STRING + 16:
                out.append(name)
    return out
