"""JSON-lines metric streams: generic ``{"step": N, ...}``, verl FileLogger, tinker, prime-rl, ART."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from rltop.core.formats.base import (
    MAX_STEP,
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
            out.append(series.alias(name))
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
        raw, counted = _read_ndjson(block)
    except (Exception, _PANIC):  # polars raises several error types for bad input (and may
        # panic); the per-line path explains
        return None
    if raw is None:
        return None
    if raw.is_empty() or "step" not in raw.columns:
        return None
    step = raw.get_column("step")
    if not step.dtype.is_integer() or step.null_count():
        return None
    if step.dtype == pl.UInt64 and (step.max() or 0) > MAX_STEP:  # type: ignore[operator]
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
    leaves = [s for s in leaves if s.null_count() < s.len()]
    table = pl.DataFrame(leaves)  # no copy; one query below instead of one per column
    order = _first_number_order(table, _DataLines(block, raw.height), verl, counted)
    if order is None:
        return None
    return table.select(
        step.cast(pl.Int64).alias("step"), *(pl.col(name).cast(pl.Float64) for name in order)
    )


#: the schema of a block is inferred from its first lines (about this many bytes) ...
SAMPLE_BYTES = 256 * 1024


def _read_ndjson(block: bytes) -> tuple[pl.DataFrame | None, bool]:
    """The block through polars with the schema of its first lines; when the block holds a key
    (or a type) those lines did not have, read again inferring from every line.

    Whether every key was read is checked on the bytes: each ``:`` of the block must be the
    colon of a value of the frame, or of a literal null. A key the sample did not have, a colon
    inside a key or a string: the counts differ and the careful inference runs. Also says
    whether the frame was checked so (then every line's values are in it).

    polars gets the bytes themselves, never a ``BytesIO``: it reads ``bytes`` in place, a file
    object through Python (a third slower for a 3 MB block).
    """
    cut = block.find(b"\n", SAMPLE_BYTES)
    if cut < 0 or cut + 1 >= len(block):
        return pl.read_ndjson(block, infer_schema_length=None), False
    # the first lines' schema only (half the work of reading them into a frame)
    sample = pl.scan_ndjson(block[: cut + 1], infer_schema_length=None).collect_schema()
    if not sample:
        return pl.read_ndjson(block, infer_schema_length=None), False
    try:
        frame = pl.read_ndjson(block, schema=_no_null_types(sample))
    except (Exception, _PANIC):  # a type the sample did not see (text where numbers were, ...)
        frame = None
    if frame is not None:
        fields, nulls = _fields(frame)
        if fields == _colons(block, nulls=nulls):
            return frame, True
    return pl.read_ndjson(block, infer_schema_length=None), False


try:  # polars' Rust panics reach Python as ``PanicException``, a ``BaseException``
    from polars.exceptions import PanicException as _PANIC
except ImportError:  # pragma: no cover - older polars
    _PANIC = Exception


def _no_null_types(schema: Any) -> dict[str, Any]:
    """The sample's schema with keys that were only ever null there read as numbers."""

    def fix(dtype: Any) -> Any:
        if dtype == pl.Null:
            return pl.Float64
        if isinstance(dtype, pl.Struct):
            return pl.Struct({f.name: fix(f.dtype) for f in dtype.fields})
        return dtype

    return {name: fix(dtype) for name, dtype in schema.items()}


def _colons(block: bytes, *, nulls: bool) -> int:
    """Colons of the block, less those of literal nulls (``"key":null``) when the frame has
    nulls at all (without any, a literal null would be a key the frame lacks: counted).

    One colon per ``"key":`` of a JSON line, and more only where a key or a string holds one:
    ``_fields`` counts what polars read, so the two are equal only when it read every key.
    """
    count = block.count(b":")  # one byte: memchr speed, a 2-byte pattern is 3x slower
    if nulls:
        count -= block.count(b":null") + block.count(b": null")
    return count


def _fields(frame: pl.DataFrame) -> tuple[int, bool]:
    """How many ``"key":`` with a value the lines behind ``frame`` hold, if they held only its
    columns: one per value of a column, and one per row an object column has an object in (a
    missing key or a literal null reads as a null struct); and whether any leaf holds a null
    (one walk of the columns for both, from null counts: nothing row by row).

    Every count is of something polars read from a ``"key":`` of the block, so a key it did not
    read makes ``_colons`` larger, never equal.
    """
    total = 0
    nulls = False
    flat: list[pl.Series] = []
    for series in frame.get_columns():
        if isinstance(series.dtype, pl.Struct):
            total += series.len() - series.null_count()  # the object's own "key":
            inner, inner_nulls = _fields(series.struct.unnest())
            total += inner
            nulls = nulls or inner_nulls
        else:
            flat.append(series)
    if flat:
        plain = pl.DataFrame(flat)
        missing = int(plain.null_count().sum_horizontal().item())
        nulls = nulls or missing > 0
        total += plain.height * plain.width - missing
    return total, nulls


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
        """Polars saw one row per non-blank line (blank lines are the only ones it skips)."""
        if self.block.count(b"\n") == self.height and b"\n\n" not in self.block:
            return True
        return len(self._split()) == self.height


def _first_number_order(
    table: pl.DataFrame, lines: _DataLines, verl: bool, counted: bool = False
) -> list[str] | None:
    """Column order of the per-line path: by the first row holding a number, then key order.
    ``counted``: every value of the block is known to be in the frame (``_read_ndjson``)."""
    first_row: dict[int, list[str]] = {}
    if table.width:
        firsts = table.select(pl.all().is_not_null().arg_max()).row(0, named=True)
        for name, row in firsts.items():
            first_row.setdefault(int(row or 0), []).append(name)
    if (not counted or any(row > 0 for row in first_row)) and not lines.complete():
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
