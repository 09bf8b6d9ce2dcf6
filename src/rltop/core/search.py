"""Rollout queries: the query bar's text -> polars expressions, matches in sort order, highlights.

A query is space-separated terms combined with AND:

- free text: a plain, smart-case substring of prompt or completion (case-insensitive unless the
  text has a capital letter); ``/regex/`` (``/regex/i`` ignores case) for a regular expression;
  quote text that looks like a filter (``"x=5"``);
- filters ``<column><op><value>`` with ``= == != < <= > >= ~`` (``~`` = contains) over any column:
  ``reward<0.2``, ``step>100``, ``len>2000`` (``len`` is ``length``), ``acc=true``,
  ``scenario=refund_desk``;
- ``sort:<column>`` / ``sort:-<column>`` (descending).

Matching is done in batches in sort order, so the first page of a text search over hundreds of MB
comes back before the whole frame has been searched; rows whose text was moved to disk (see
``coldtext``) are read back for the batch being searched.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from rltop.core.cols import named
from rltop.core.lazyre import lazy
from rltop.core.model import ROW_LOCATION
from rltop.core.prefilter import RAW_TEXT_FORMATS, candidate_lines, needles, regex_needles

#: names users type -> the frame's column
ALIASES = {"len": "length", "score": "reward", "tokens_len": "tokens", "prompt_id": "group"}
#: the columns free text is searched in
TEXT_COLUMNS = ("prompt", "completion")
#: columns that are bookkeeping, not something to filter or sort by
HIDDEN = (*ROW_LOCATION, "_gid", "_row")
_OPS = ("<=", ">=", "!=", "==", "=", "<", ">", "~")
#: a filter's operator, longest first (``<=`` before ``<``)
_OP = "(" + "|".join(re.escape(op) for op in _OPS) + ")"
_FILTER = lazy(r"^([A-Za-z_][\w/@.\-]*?)" + _OP + r"(.*)$", re.S)
_REGEX = lazy(r"(?:^|(?<=\s))/((?:\\.|[^/\\])+)/(i?)(?=\s|$)")
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}


class QueryError(ValueError):
    """The query cannot be understood; the message says why, in the user's terms."""


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: object

    def describe(self) -> str:
        return f"{self.column}{self.op}{self.value}"


@dataclass
class RolloutQuery:
    """A parsed query: free text or regex, column filters, sort order."""

    text: str = ""  # the query as typed
    phrase: str | None = None  # plain substring
    regex: str | None = None  # regular expression (already carries (?i) when asked)
    ignore_case: bool = False
    filters: list[Filter] = field(default_factory=list)
    sort: str | None = None  # column; None = the caller's default
    descending: bool = False

    @property
    def has_text(self) -> bool:
        return bool(self.phrase or self.regex)

    @property
    def empty(self) -> bool:
        return not (self.has_text or self.filters)

    # -- expressions ---------------------------------------------------------------------------
    def pattern(self) -> str | None:
        """The regular expression free text stands for (None without free text)."""
        if self.regex is not None:
            return self.regex
        if self.phrase:
            return ("(?i)" if self.ignore_case else "") + re.escape(self.phrase)
        return None

    def text_expr(self, columns: list[str] | tuple[str, ...] = TEXT_COLUMNS) -> pl.Expr | None:
        """True where the free text occurs in any text column."""
        if not self.has_text:
            return None
        parts = []
        for name in columns:
            col = named(name)
            if self.phrase and not self.ignore_case:
                hit = col.str.contains(self.phrase, literal=True)
            else:
                hit = col.str.contains(self.pattern() or "")
            parts.append(hit.fill_null(False))
        return pl.any_horizontal(parts)

    def filter_expr(self, schema: dict[str, pl.DataType]) -> pl.Expr | None:
        """The column filters as one expression (AND), checked against ``schema``."""
        exprs = [_filter_expr(f, schema) for f in self.filters]
        if not exprs:
            return None
        return pl.all_horizontal(exprs)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the free text matches in ``text`` (start, end), for highlighting."""
        return match_spans(text, self)


def parse_query(text: str, columns: list[str] | dict | None = None) -> RolloutQuery:
    """Parse the query bar; raises ``QueryError`` with a readable reason.

    ``columns`` (names, or a schema) lets unknown filter columns be reported at once.
    """
    query = RolloutQuery(text=text)
    known = list(columns) if columns is not None else None
    rest = text
    m = _REGEX.search(rest)
    if m:
        body, flags = m.group(1), m.group(2)
        try:
            re.compile(body)
        except re.error as exc:
            raise QueryError(f"bad regular expression /{body}/: {exc}") from None
        query.regex = ("(?i)" if flags else "") + body
        query.ignore_case = bool(flags)
        rest = rest[: m.start()] + " " + rest[m.end() :]
    words: list[str] = []
    for token, quoted in _tokens(rest):
        if not token:
            continue
        if quoted:
            words.append(token)
            continue
        if token.lower().startswith("sort:"):
            name = token[5:]
            query.descending = name.startswith("-")
            name = name.lstrip("-+")
            name = ALIASES.get(name, name)
            if not name:
                raise QueryError("sort: needs a column, e.g. sort:reward or sort:-step")
            if known is not None and name not in known:
                raise QueryError(f"cannot sort by '{name}': no such column ({_names(known)})")
            query.sort = name
            continue
        fm = _FILTER.match(token) or _known_filter(token, known)
        if fm and fm.group(1):
            name, op, value = fm.group(1), fm.group(2), fm.group(3)
            name = ALIASES.get(name, name)
            if known is not None and name not in known:
                raise QueryError(
                    f"unknown column '{fm.group(1)}' in '{token}' ({_names(known)}); "
                    'quote it to search for the text: "' + token + '"'
                )
            if value == "":
                raise QueryError(f"'{token}' has no value after '{op}'")
            query.filters.append(Filter(name, "=" if op == "==" else op, value))
            continue
        words.append(token)
    if words:
        if query.regex is not None:
            raise QueryError("use either plain text or one /regex/, not both")
        query.phrase = " ".join(words)
        query.ignore_case = query.phrase == query.phrase.lower()
    return query


def _known_filter(token: str, known: list[str] | None) -> re.Match[str] | None:
    """A filter on a column whose name is no identifier (``^.*$>0``, ``"pass rate">0.5``): the
    longest known name the token starts with, then an operator; None without one."""
    if not known:
        return None
    for name in sorted((n for n in known if token.startswith(n)), key=len, reverse=True):
        found = re.match(f"({re.escape(name)}){_OP}(.*)$", token, re.S)
        if found:
            return found
    return None


#: a token of the query as typed: quoted strings, escaped and other characters up to white space
_TOKEN = lazy(r"""(?:"(?:\\.|[^"\\])*"|'[^']*'|\\.|[^\s"'\\]|["'\\])+""")
_QUOTED = lazy(r""""(?:\\.|[^"\\])*"|'[^']*'""")


def _tokens(text: str) -> list[tuple[str, bool]]:
    """The query's tokens as a shell reads them, each with whether it was quoted whole (quoted
    text is always free text; a quoted column name followed by a filter, ``"pass rate">0.5``,
    is a filter)."""
    out = []
    for found in _TOKEN.finditer(text):
        raw = found.group(0)
        try:
            parts = shlex.split(raw, posix=True)
        except ValueError as exc:
            raise QueryError(f"cannot read the query: {exc} (unbalanced quotes?)") from None
        out.append(("".join(parts), _QUOTED.fullmatch(raw) is not None))
    return out


def _names(known: list[str]) -> str:
    shown = [c for c in known if c not in HIDDEN]
    return "columns: " + ", ".join(shown[:14]) + (", …" if len(shown) > 14 else "")


def _filter_expr(f: Filter, schema: dict[str, pl.DataType]) -> pl.Expr:
    if f.column not in schema:
        raise QueryError(f"unknown column '{f.column}' ({_names(list(schema))})")
    dtype = schema[f.column]
    col = named(f.column)
    raw = str(f.value)
    if f.op == "~":
        return col.cast(pl.String).str.contains(re.escape(raw), literal=False).fill_null(False)
    if dtype == pl.Boolean:
        lowered = raw.lower()
        if lowered not in _TRUE | _FALSE:
            raise QueryError(f"{f.column} is true/false, not '{raw}'")
        if f.op not in ("=", "!="):
            raise QueryError(f"{f.column} is true/false: use = or !=")
        value = lowered in _TRUE
        return (col == value) if f.op == "=" else (col != value)
    if dtype.is_numeric():
        try:
            number = float(raw)
        except ValueError:
            lowered = raw.lower()
            if lowered in _TRUE | _FALSE:
                number = 1.0 if lowered in _TRUE else 0.0
            else:
                raise QueryError(f"{f.column} is a number: '{raw}' is not") from None
        return _compare(col, f.op, number).fill_null(False)
    # strings (and anything else): compare as text; numbers-as-text compare numerically
    if f.op in ("<", "<=", ">", ">="):
        try:
            number = float(raw)
        except ValueError:
            return _compare(col.cast(pl.String), f.op, raw).fill_null(False)
        return _compare(col.cast(pl.String).cast(pl.Float64, strict=False), f.op, number).fill_null(
            False
        )
    text = col.cast(pl.String)
    if f.op == "=":
        return (text.str.to_lowercase() == raw.lower()).fill_null(False)
    return (text.str.to_lowercase() != raw.lower()).fill_null(True)


def _compare(col: pl.Expr, op: str, value: object) -> pl.Expr:
    return {
        "=": lambda: col == value,
        "!=": lambda: col != value,
        "<": lambda: col < value,
        "<=": lambda: col <= value,
        ">": lambda: col > value,
        ">=": lambda: col >= value,
    }[op]()


def match_spans(text: str, query: RolloutQuery, limit: int = 200) -> list[tuple[int, int]]:
    """(start, end) of the free-text matches in ``text`` (at most ``limit``)."""
    if not text or not query.has_text:
        return []
    spans: list[tuple[int, int]] = []
    if query.phrase and not query.ignore_case:
        start = text.find(query.phrase)
        while start >= 0 and len(spans) < limit:
            spans.append((start, start + len(query.phrase)))
            start = text.find(query.phrase, start + max(1, len(query.phrase)))
        return spans
    try:
        rx = re.compile(query.pattern() or "")
    except re.error:
        return []
    for m in rx.finditer(text):
        if m.end() > m.start():
            spans.append((m.start(), m.end()))
        if len(spans) >= limit:
            break
    return spans


# -- running a query -------------------------------------------------------------------------
def sortable_columns(frame: pl.DataFrame) -> list[str]:
    """Columns ``s`` cycles through: the core numbers first, then scalar extras."""
    first = [c for c in ("step", "reward", "length", "tokens", "group") if c in frame.columns]
    rest = [
        c
        for c in frame.columns
        if c not in first
        and c not in HIDDEN
        and c not in ("prompt", "completion", "messages", "extra")
        and not frame.schema[c].is_nested()
    ]
    return first + rest


def ordered_positions(
    frame: pl.DataFrame, query: RolloutQuery, default_sort: tuple[str, bool] = ("step", True)
) -> pl.Series:
    """Row positions that pass the column filters, in sort order (free text not applied yet)."""
    schema = dict(frame.schema)
    sort, desc = (query.sort, query.descending) if query.sort else default_sort
    if sort not in schema:
        raise QueryError(f"cannot sort by '{sort}': no such column ({_names(list(schema))})")
    cond = query.filter_expr(schema)
    if sort == "_row":
        lazy = frame.lazy().with_row_index("_row")
        if cond is not None:
            lazy = lazy.filter(cond)
        return lazy.select("_row").sort("_row", descending=desc).collect().get_column("_row")
    # a stable sort: rows with the same value keep the frame's order
    if cond is None:
        by = pl.arg_sort_by(sort, descending=desc, nulls_last=True, maintain_order=True)
        return frame.select(by.alias("_row")).get_column("_row")
    out = (
        frame.lazy()
        .with_row_index("_row")
        .filter(cond)
        .select("_row", sort)
        .sort(sort, descending=desc, nulls_last=True, maintain_order=True)
        .select("_row")
        .collect()
    )
    return out.get_column("_row")


TextLoader = Callable[[pl.DataFrame], pl.DataFrame]
#: rows searched on their own before the rest of the frame (see ``iter_matches``)
FIRST_BATCH = 16_000
#: ... when their text is on disk (each is read back, or its raw bytes searched)
COLD_FIRST_BATCH = 4_000
#: after the first batch, parts of rows twice as large each up to this size, each searched on
#: its own (a frequent phrase's first page), before the rest is searched in one pass
GROW_UNTIL = 16_000


def iter_matches(
    frame: pl.DataFrame,
    query: RolloutQuery,
    *,
    batch: int = 25_000,
    default_sort: tuple[str, bool] = ("step", True),
    loader: TextLoader | None = None,
    positions: pl.Series | None = None,
) -> Iterator[pl.Series]:
    """Matching row positions, in sort order, a batch at a time (first page early).

    Text in memory is searched in one vectorised pass; rows whose text is on disk are read back
    by ``loader`` (``coldtext.fill_text``) a batch at a time, in sort order, so matches among the
    newest steps come first. Without a loader such rows cannot match free text.
    """
    order = positions if positions is not None else ordered_positions(frame, query, default_sort)
    text = query.text_expr()
    if text is None:
        yield order
        return
    cold = _cold_mask(frame) if loader is not None else None
    if cold is None:
        # the first rows in sort order on their own (a frequent phrase fills the first page from
        # them), then the rest of the frame in one vectorised pass
        head = order.slice(0, FIRST_BATCH)
        part = frame.select(*TEXT_COLUMNS)[head]
        yield head.filter(part.select(text.alias("hit")).get_column("hit"))
        rest = order.slice(FIRST_BATCH)
        if len(rest):
            hits = frame.select(text.alias("hit")).get_column("hit")
            yield rest.filter(hits.gather(rest))
        return
    hits = frame.select(text.alias("hit")).get_column("hit")
    wanted = _needles(query)

    def batch_hits(part_pos: pl.Series, candidates: pl.Series | None) -> pl.Series:
        part_hits = hits.gather(part_pos)
        part_cold = cold.gather(part_pos)
        if not part_cold.any():
            return part_pos.filter(part_hits)
        where = part_cold.arg_true()
        if wanted:
            # only the lines whose raw bytes can hold the phrase are read back and parsed
            maybe = (
                candidates.gather(part_pos.gather(where))
                if candidates is not None
                else _candidates(frame, part_pos.gather(where), wanted)
            )
            where = where.filter(maybe)
        if len(where):
            cold_pos = part_pos.gather(where)
            part = frame.select(*TEXT_COLUMNS, *_cold_cols(frame))[cold_pos]
            if loader is not None:
                part = loader(part)
            found = part.select(text.alias("hit")).get_column("hit")
            part_hits = part_hits.clone().scatter(where, found)
        return part_pos.filter(part_hits)

    # the first rows in sort order on their own (the first page), then parts twice as large
    # each (a frequent phrase fills a page from them), then the rest: with a phrase, the raw
    # bytes of all its cold lines are searched in one pass first
    head = order.slice(0, COLD_FIRST_BATCH)
    yield batch_hits(head, None)
    start, size = COLD_FIRST_BATCH, 2 * COLD_FIRST_BATCH
    while wanted and size <= GROW_UNTIL and start < len(order):
        yield batch_hits(order.slice(start, size), None)
        start, size = start + size, 2 * size
    rest = order.slice(start)
    if not len(rest):
        return
    if not wanted:
        for first in range(0, len(rest), batch):
            yield batch_hits(rest.slice(first, batch), None)
        return
    rest_cold = rest.filter(cold.gather(rest))
    candidates = pl.Series("maybe", np.zeros(frame.height, dtype=bool))
    if len(rest_cold):
        candidates = candidates.scatter(rest_cold, _candidates(frame, rest_cold, wanted))
    # the lines to read back are known now: a part ends after ``batch`` of them (the other rows
    # cost next to nothing), so a rare phrase's matches all come in one part
    costly = np.cumsum(candidates.gather(rest).to_numpy())
    cuts = np.searchsorted(costly, np.arange(batch, int(costly[-1]), batch), side="right")
    for lo, hi in itertools.pairwise([0, *cuts.tolist(), len(rest)]):
        yield batch_hits(rest.slice(lo, hi - lo), candidates)


def _needles(query: RolloutQuery) -> list[bytes]:
    """What the raw bytes of a line must hold for the query's phrase or regex (``prefilter``)."""
    if query.regex is not None:
        return regex_needles(query.regex)
    if not query.phrase:
        return []
    return needles(query.phrase, query.ignore_case)


def _candidates(frame: pl.DataFrame, positions: pl.Series, wanted: list[bytes]) -> pl.Series:
    """For the cold rows at ``positions``: whether their line on disk can hold ``wanted``
    (always, for rows of a format the raw bytes cannot tell about)."""
    columns = ["_path", "_offset", "_len"] + (["_format"] if "_format" in frame.columns else [])
    part = frame.select(columns)[positions].with_row_index("_i")
    if "_format" not in part.columns:
        part = part.with_columns(pl.lit(None, dtype=pl.String).alias("_format"))
    out = np.ones(len(positions), dtype=bool)
    for (path, fmt), group in part.group_by("_path", "_format"):
        if path is None or fmt not in RAW_TEXT_FORMATS:
            continue
        index = group.get_column("_i").to_numpy()
        out[index] = candidate_lines(
            str(path),
            group.get_column("_offset").to_numpy(),
            group.get_column("_len").to_numpy(),
            wanted,
        )
    return pl.Series("maybe", out, dtype=pl.Boolean)


def _cold_mask(frame: pl.DataFrame) -> pl.Series | None:
    """Rows whose text is on disk (None when there are none)."""
    if "_path" not in frame.columns or "prompt" not in frame.columns:
        return None
    mask = frame.select(
        pl.col("prompt").is_null() & pl.col("completion").is_null() & pl.col("_path").is_not_null()
    ).to_series()
    return mask if mask.any() else None


def _cold_cols(frame: pl.DataFrame) -> list[str]:
    return [c for c in ROW_LOCATION if c in frame.columns]


def search(
    frame: pl.DataFrame,
    query: RolloutQuery | str,
    *,
    default_sort: tuple[str, bool] = ("step", True),
    loader: TextLoader | None = None,
    limit: int | None = None,
) -> pl.Series:
    """All (or the first ``limit``) matching row positions in sort order."""
    if isinstance(query, str):
        query = parse_query(query, dict(frame.schema))
    found: list[pl.Series] = []
    total = 0
    for part in iter_matches(frame, query, default_sort=default_sort, loader=loader):
        found.append(part)
        total += len(part)
        if limit is not None and total >= limit:
            break
    if not found:
        return pl.Series("_row", [], dtype=pl.UInt32)
    out = pl.concat(found)
    return out.head(limit) if limit is not None else out


def page(frame: pl.DataFrame, positions: pl.Series, start: int, size: int) -> pl.DataFrame:
    """Rows ``start .. start+size`` of a result, as a frame (with ``_row``)."""
    part = positions.slice(start, size)
    return frame[part].with_columns(part.alias("_row"))
