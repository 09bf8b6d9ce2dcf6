"""The runs table: one row per run, filtered with the rollout query's language, sorted.

A row holds what tells runs apart at a glance: name, format, state and age, steps, the key metric's
last value and trend; behind it, every metric's last value and every config key
(``core/runconfig.py``), so a filter can use any of them::

    name~grpo lr>=1e-5 state=live reward>0.3 sort:-reward

Free text matches the run name. A filter key that is not a column is looked up as a metric role
(``reward`` -> the run's reward metric), then as the last part of a config key (``lr`` ->
``actor_rollout_ref/actor/optim/lr``), ``lr``/``learning_rate`` standing for each other.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import polars as pl

from rltop.core import roles
from rltop.core.cols import named
from rltop.core.search import Filter, QueryError, RolloutQuery, parse_query
from rltop.core.store import RunSnapshot, StoreSnapshot

#: a run whose files changed within this many seconds is live
LIVE_SECONDS = 300.0
#: points in the trend sparkline
TREND_POINTS = 16
#: the columns every row has (the rest are metrics' last values and config keys)
BASE_COLUMNS = ("name", "format", "state", "age", "steps", "key", "last")
#: short names users type for config keys
KEY_ALIASES = {"lr": ("learning_rate", "lr"), "learning_rate": ("learning_rate", "lr")}
_BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class RunRow:
    """What the table shows of one run (values behind the filters live in ``RunsTable.frame``)."""

    run_id: str
    name: str
    format: str
    state: str  # live | idle | error
    age: float | None  # seconds since the run's files last changed
    steps: int | None  # last step
    key: str  # the key metric's name ("" when the run has none)
    last: float | None
    trend: str  # sparkline of the key metric's last TREND_POINTS values


@dataclass(frozen=True)
class RunsTable:
    """All runs as rows and as a frame (base columns, metrics' last values, config keys)."""

    rows: tuple[RunRow, ...]
    frame: pl.DataFrame  # one row per entry of ``rows``, same order, plus ``_i``
    metric_columns: tuple[str, ...]
    config_columns: dict[str, str]  # config key -> its column (``config/<key>`` on a clash)

    def select(self, text: str, sort: str | None = None, descending: bool = False) -> list[RunRow]:
        """Rows passing the query ``text`` in its sort order (else ``sort``, else by name)."""
        query, extra = self.parse(text)
        lazy = self.frame.lazy()
        if extra:
            lazy = lazy.with_columns(extra)
        cond = query.filter_expr(dict(lazy.collect_schema()))
        if cond is not None:
            lazy = lazy.filter(cond)
        if query.phrase or query.regex:
            lazy = lazy.filter(query.text_expr(("name",)))
        column, desc = (query.sort, query.descending) if query.sort else (sort, descending)
        column = column or "name"
        keys = [column, "name"] if column != "name" else ["name"]
        lazy = lazy.sort(keys, descending=[desc, False][: len(keys)], nulls_last=True)
        order = lazy.select("_i").collect().get_column("_i").to_list()
        return [self.rows[i] for i in order]

    def parse(self, text: str) -> tuple[RolloutQuery, list[pl.Expr]]:
        """The query with keys resolved to columns, and the columns to add for keys that stand
        for several config keys (each run's own: ``lr`` is one run's ``learning_rate`` and
        another's ``.../optim/lr``)."""
        query = parse_query(text)
        extra: dict[str, pl.Expr] = {}

        def column(name: str) -> str:
            hits = self.columns_for(name)
            if len(hits) == 1:
                return hits[0]
            alias = f"any/{name}"
            if alias not in extra:
                numeric = all(self.frame.schema[h].is_numeric() for h in hits)
                dtype = pl.Float64 if numeric else pl.String
                extra[alias] = pl.coalesce([named(h).cast(dtype) for h in hits]).alias(alias)
            return alias

        query.filters = [Filter(column(f.column), f.op, f.value) for f in query.filters]
        if query.sort:
            query.sort = column(query.sort)
        return query, list(extra.values())

    def columns_for(self, name: str) -> list[str]:
        """The frame columns a typed key stands for (``QueryError`` when none)."""
        columns = self.frame.columns
        if name in columns and name != "_i":
            return [name]
        if name in self.config_columns:
            return [self.config_columns[name]]
        if name in roles.KEY_ROLES or name in roles.aliases():
            role_col = f"role/{name}"
            if role_col in columns:
                return [role_col]
        wanted = KEY_ALIASES.get(name, (name,))
        hits = sorted(
            {
                col
                for key, col in self.config_columns.items()
                if any(key == w or key.endswith("/" + w) for w in wanted)
            }
            | {c for c in self.metric_columns if any(c.endswith("/" + w) for w in wanted)}
        )
        if hits:
            return hits
        known = [c for c in BASE_COLUMNS if c in columns]
        raise QueryError(
            f"unknown key '{name}' (columns: {', '.join(known)}, any metric, role or config key)"
        )


def runs_table(
    snap: StoreSnapshot,
    role_overrides: dict[str, list[str]] | None = None,
    *,
    now: float | None = None,
) -> RunsTable:
    """The runs of ``snap`` that have metrics or rollouts, as rows and a frame."""
    now = time.time() if now is None else now
    runs = [r for r in snap.runs if r.metric_names or r.rollouts.height]
    rows: list[RunRow] = []
    records: list[dict[str, object]] = []
    metric_names: set[str] = set()
    for run in runs:
        row, values = _row(run, role_overrides, now)
        rows.append(row)
        records.append(values)
        metric_names.update(k for k in values if not k.startswith("role/"))
    metric_cols = tuple(sorted(metric_names))
    config_keys = sorted({k for run in runs for k in run.config})
    taken = (
        set(BASE_COLUMNS)
        | set(metric_cols)
        | {"_i"}
        | {k for rec in records for k in rec if k.startswith("role/")}
    )
    config_cols = {k: (f"config/{k}" if k in taken else k) for k in config_keys}
    data: dict[str, pl.Series] = {
        "_i": pl.Series("_i", range(len(rows)), dtype=pl.Int64),
        "name": pl.Series("name", [r.name for r in rows], dtype=pl.String),
        "format": pl.Series("format", [r.format for r in rows], dtype=pl.String),
        "state": pl.Series("state", [r.state for r in rows], dtype=pl.String),
        "age": pl.Series("age", [r.age for r in rows], dtype=pl.Float64),
        "steps": pl.Series("steps", [r.steps for r in rows], dtype=pl.Int64),
        "key": pl.Series("key", [r.key for r in rows], dtype=pl.String),
        "last": pl.Series("last", [r.last for r in rows], dtype=pl.Float64),
    }
    for col in sorted({k for rec in records for k in rec}):
        data[col] = pl.Series(col, [rec.get(col) for rec in records], dtype=pl.Float64)
    for key, col in config_cols.items():
        data[col] = _config_series(col, [run.config.get(key) for run in runs])
    return RunsTable(tuple(rows), pl.DataFrame(data), metric_cols, config_cols)


def _row(
    run: RunSnapshot, role_overrides: dict[str, list[str]] | None, now: float
) -> tuple[RunRow, dict[str, float | None]]:
    names = run.metric_names
    frame = run.metrics
    last_values: dict[str, float | None] = {}
    if names and not frame.is_empty():
        lasts = frame.select(named(n).drop_nulls().last() for n in names).row(0)
        last_values = {
            n: (None if v is None else float(v)) for n, v in zip(names, lasts, strict=True)
        }
    resolved = roles.resolve(names, role_overrides)
    values = dict(last_values)
    for role, metric in resolved.items():
        values[f"role/{role}"] = last_values.get(metric)
    key = next((resolved[r] for r in roles.KEY_ROLES if r in resolved), names[0] if names else "")
    trend = ""
    if key:
        tail = frame.get_column(key).drop_nulls().tail(TREND_POINTS).to_list()
        trend = sparkline(tail)
    metric_sources = [s for s in run.sources if s.kind == "metrics"] or list(run.sources)
    age = _age(run, now)
    if any(s.status == "error" for s in run.sources):
        state = "error"
    elif (
        age is not None
        and age <= LIVE_SECONDS
        and any(s.status == "following" for s in run.sources)
    ):
        state = "live"
    else:
        state = "idle"
    row = RunRow(
        run_id=run.run_id,
        name=run.name,
        format=metric_sources[0].format if metric_sources else "",
        state=state,
        age=age,
        steps=run.last_step,
        key=key,
        last=last_values.get(key),
        trend=trend,
    )
    return row, values


def _age(run: RunSnapshot, now: float) -> float | None:
    """Seconds since the run's newest file changed on disk (object copies carry the object's
    time); the time it was last read when no file can be looked at."""
    times = []
    for src in run.sources:
        try:
            times.append(os.stat(src.path).st_mtime)
        except OSError:
            continue
    newest = max(times) if times else run.last_update
    return None if newest is None else max(0.0, now - newest)


def _config_series(name: str, values: list[object]) -> pl.Series:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pl.Series(name, values, dtype=pl.Boolean)
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def sparkline(values: list[float]) -> str:
    """Values as block characters, lowest to highest (non-finite values left out)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    if hi == lo:
        return _BARS[3] * len(finite)
    scale = (len(_BARS) - 1) / (hi - lo)
    return "".join(_BARS[round((v - lo) * scale)] for v in finite)


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
