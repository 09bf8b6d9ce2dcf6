"""Decoding of W&B records without the ``wandb`` package; history records in bulk: a whole read's records in a few C-level passes.

``WandbParser`` hands over the logical records of one read. They are parsed together through
protobuf views (``protolite``): every history record's items come back as one list of keys and
one list of JSON values (the items of a record are merged, see ``protolite``), keys are joined
and numbered once per distinct key, the values are parsed as one JSON document (or cast by polars
when they hold NaN, Infinity or null), and the rows are scattered into a step x metric matrix.

Whatever this path does not handle exactly like the per-record path (text or media values,
nested keys of several parts, typed values of newer W&B versions, a record without a step, a
batch that does not parse) is handed back to the per-record path: ``decode`` returns the indexes
of those records.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from rltop.core.formats import protolite

if TYPE_CHECKING:
    import numpy as np

# the record types neither path reads, named so that each is counted under its own kind
_OTHER_RECORDS = [
    ("summary", 3, "bytes", False, None, "record_type"),
    ("output", 4, "bytes", False, None, "record_type"),
    ("files", 6, "bytes", False, None, "record_type"),
    ("stats", 7, "bytes", False, None, "record_type"),
    ("artifact", 8, "bytes", False, None, "record_type"),
    ("tbrecord", 9, "bytes", False, None, "record_type"),
    ("alert", 10, "bytes", False, None, "record_type"),
    ("telemetry", 11, "bytes", False, None, "record_type"),
    ("metric", 12, "bytes", False, None, "record_type"),
    ("output_raw", 13, "bytes", False, None, "record_type"),
    ("final", 20, "bytes", False, None, "record_type"),
    ("header", 21, "bytes", False, None, "record_type"),
    ("footer", 22, "bytes", False, None, "record_type"),
    ("preempting", 23, "bytes", False, None, "record_type"),
    ("noop_link_artifact", 24, "bytes", False, None, "record_type"),
    ("use_artifact", 25, "bytes", False, None, "record_type"),
    ("environment", 26, "bytes", False, None, "record_type"),
    ("output_logger", 27, "bytes", False, None, "record_type"),
    ("request", 100, "bytes", False, None, "record_type"),
]

# field numbers of wandb/proto/wandb_internal.proto (Record, HistoryRecord, HistoryItem)
_SPEC = {
    "Item": [
        ("key", 1, "string", True),
        ("nested_key", 2, "string", True),
        ("none", 3, "int32", True),
        ("boolean", 4, "bool", True),
        ("integer", 5, "sint64", True),
        ("number", 6, "double", True),
        ("text", 7, "string", True),
        ("json", 8, "string", True),
        ("value_json", 16, "string", True),
    ],
    "Step": [("num", 1, "int64", False)],
    "History": [("item", 1, "message", False, "Item"), ("step", 2, "message", False, "Step")],
    "Record": [
        ("history", 2, "message", False, "History", "record_type"),
        ("config", 5, "bytes", False, None, "record_type"),
        ("run", 17, "bytes", False, None, "record_type"),
        ("exit", 18, "bytes", False, None, "record_type"),
        *_OTHER_RECORDS,
    ],
    "Batch": [("rec", 1, "message", True, "Record")],
    # one record with every field the per-record path reads (``WandbParser._record``)
    "FullItem": [
        ("key", 1, "string", False),
        ("nested_key", 2, "string", True),
        ("none", 3, "int32", False, None, "value"),
        ("boolean", 4, "bool", False, None, "value"),
        ("integer", 5, "sint64", False, None, "value"),
        ("number", 6, "double", False, None, "value"),
        ("text", 7, "string", False, None, "value"),
        ("json", 8, "string", False, None, "value"),
        ("value_json", 16, "string", False),
    ],
    "FullHistory": [
        ("item", 1, "message", True, "FullItem"),
        ("step", 2, "message", False, "Step"),
    ],
    "ConfigItem": [
        ("key", 1, "string", False),
        ("nested_key", 2, "string", True),
        ("value_json", 16, "string", False),
    ],
    "ConfigRecord": [("update", 1, "message", True, "ConfigItem")],
    "RunRecord": [
        ("run_id", 1, "string", False),
        ("project", 3, "string", False),
        ("config", 4, "message", False, "ConfigRecord"),
        ("run_group", 6, "string", False),
        ("display_name", 8, "string", False),
    ],
    "FullRecord": [
        ("history", 2, "message", False, "FullHistory", "record_type"),
        ("summary", 3, "bytes", False, None, "record_type"),
        ("output", 4, "bytes", False, None, "record_type"),
        ("config", 5, "message", False, "ConfigRecord", "record_type"),
        ("files", 6, "bytes", False, None, "record_type"),
        ("stats", 7, "bytes", False, None, "record_type"),
        ("telemetry", 11, "bytes", False, None, "record_type"),
        ("run", 17, "message", False, "RunRecord", "record_type"),
        ("exit", 18, "message", False, "RunExitRecord", "record_type"),
        *(
            f
            for f in _OTHER_RECORDS
            if f[0] not in ("summary", "output", "files", "stats", "telemetry")
        ),
    ],
    "RunExitRecord": [("exit_code", 1, "int32", False), ("runtime", 2, "int32", False)],
    # the same records, counting each history record's items
    "CItem": [],
    "CHistory": [("item", 1, "message", True, "CItem")],
    "CRecord": [("history", 2, "message", False, "CHistory")],
    "CBatch": [("rec", 1, "message", True, "CRecord")],
}


_IGNORED_KINDS = frozenset(name for name, *_ in _OTHER_RECORDS)


def record_class() -> Any:
    """A ``Record`` view with what ``WandbParser._record`` reads (no need for the wandb package)."""
    return _views()["FullRecord"]


def _views() -> dict[str, Any]:
    return protolite.views("rltop_wandb_lite.proto", "rltop_wandb_lite", _SPEC)


class Decoded:
    """What ``decode`` made of a batch of records."""

    def __init__(self) -> None:
        self.frame: pl.DataFrame | None = None  # step + Float64 metric columns
        self.slow: list[int] = []  # records for the per-record path (history, config, run)
        self.ignored: dict[str, int] = {}  # record kind (stats, summary, output, ...) -> count


def decode(records: list[bytes]) -> Decoded | None:
    """Decode ``records`` (serialized ``Record``s); None when the batch must go record by record."""
    views = _views()
    out = Decoded()
    if not records:
        return out
    wrapped = protolite.wrap(records)
    try:
        batch = views["Batch"]()
        batch.ParseFromString(wrapped)
        counted = views["CBatch"]()
        counted.ParseFromString(wrapped)
    except Exception:  # one record that does not parse: let the per-record path say which
        return None
    recs = batch.rec
    if len(recs) != len(records):
        return None
    counts = [len(r.history.item) for r in counted.rec]
    keys_src: list[Any] = []
    vals_src: list[Any] = []
    sizes: list[int] = []
    order: list[int] = []  # record index of each fast row
    step_nums: list[int | None] = []
    slow = out.slow
    for i, rec in enumerate(recs):
        kind = rec.WhichOneof("record_type")
        if kind is None or kind in _IGNORED_KINDS:
            out.ignored[kind or ""] = out.ignored.get(kind or "", 0) + 1
            continue
        if kind != "history":
            slow.append(i)
            continue
        hist = rec.history
        item = hist.item
        n = counts[i]
        values = item.value_json
        nested, plain = item.nested_key, item.key
        if (
            n == 0
            or len(values) != n
            or not ((len(nested) == n and not plain) or (len(plain) == n and not nested))
            or item.number
            or item.integer
            or item.boolean
            or item.none
            or item.text
            or item.json
        ):
            slow.append(i)
            continue
        keys_src.append(nested or plain)
        vals_src.append(values)
        sizes.append(n)
        order.append(i)
        step_nums.append(hist.step.num if hist.HasField("step") else None)
    if order:
        _frame(out, keys_src, vals_src, sizes, order, step_nums)
    slow.sort()
    return out


def _frame(
    out: Decoded,
    keys_src: list[Any],
    vals_src: list[Any],
    sizes: list[int],
    order: list[int],
    step_nums: list[int | None],
) -> None:
    import numpy as np  # a .wandb file's history only: `rltop check` of other files never loads it

    keys = list(chain.from_iterable(keys_src))
    vals = list(chain.from_iterable(vals_src))
    nrows = len(order)
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}  # first appearance order
    names = list(index)
    codes = np.fromiter(map(index.__getitem__, keys), dtype=np.int64, count=len(keys))
    rows = np.repeat(np.arange(nrows, dtype=np.int64), sizes)
    values, valid, bad = _values(vals)
    if bad is not None:  # text, media, lists...: those records go record by record
        bad_rows = np.unique(rows[bad])
        out.slow.extend(order[r] for r in bad_rows.tolist())
        keep_items = ~np.isin(rows, bad_rows)
        rows, codes, values = rows[keep_items], codes[keep_items], values[keep_items]
        valid = valid[keep_items]
    matrix = np.full((nrows, len(names)), np.nan)
    matrix[rows, codes] = values
    have = np.zeros((nrows, len(names)), dtype=bool)
    have[rows, codes] = valid
    keep_rows = np.ones(nrows, dtype=bool)
    if bad is not None:
        keep_rows[bad_rows] = False
    # the step: the row's ``_step`` value, else the record's step; rows with neither go slow
    steps = np.array([-1 if s is None else s for s in step_nums], dtype=np.float64)
    has_step = np.array([s is not None for s in step_nums], dtype=bool)
    if "_step" in index:
        j = index["_step"]
        logged = have[:, j] & np.isfinite(matrix[:, j])
        steps = np.where(logged, matrix[:, j], steps)
        has_step = has_step | logged
        # a ``_step`` that is not a finite number: the per-record path decides
        odd = have[:, j] & ~np.isfinite(matrix[:, j])
        has_step &= ~odd
    no_step = keep_rows & ~has_step
    if no_step.any():
        out.slow.extend(order[r] for r in np.flatnonzero(no_step).tolist())
        keep_rows &= has_step
    if not keep_rows.any():
        return
    if not keep_rows.all():
        matrix, have, steps = matrix[keep_rows], have[keep_rows], steps[keep_rows]
    columns = [pl.Series("step", np.trunc(steps).astype(np.int64))]
    for j, name in enumerate(names):
        if name == "_step":
            continue
        present = have[:, j]
        if not present.any():
            continue  # no number for this key in these rows: no column, as row by row
        series = pl.Series(name, matrix[:, j])
        if not present.all():
            series = series.scatter(np.flatnonzero(~present), None)
        columns.append(series)
    out.frame = pl.DataFrame(columns)


_NUMBER_TYPES = {float, int, bool}


def _values(vals: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Float values of the JSON texts, which ones hold a number, and which are not numbers.

    One JSON document for all of them when they are plain numbers; otherwise polars casts the
    texts (NaN, Infinity and null included) and the rest (strings, objects, booleans...) are
    marked ``bad``.
    """
    import numpy as np  # as in ``_frame``

    try:
        parsed = orjson.loads("[" + ",".join(vals) + "]")
        if len(parsed) == len(vals) and set(map(type, parsed)) <= _NUMBER_TYPES:
            values = np.array(parsed, dtype=np.float64)
            return values, np.ones(len(vals), dtype=bool), None
    except (orjson.JSONDecodeError, TypeError, ValueError, OverflowError):
        pass
    raw = pl.Series(vals, dtype=pl.String)
    cast = raw.cast(pl.Float64, strict=False)
    valid = cast.is_not_null()
    bad = (~valid & (raw.str.strip_chars() != "null")).to_numpy()
    values = cast.fill_null(np.nan).to_numpy()
    return values, valid.to_numpy(), bad if bad.any() else None
