"""What a chart's x axis can be besides the step: wall time, tokens or samples seen, where logged.

Each kind lists the column names trainers use, most specific first. Time is shown as hours since
the run's first logged time (absolute timestamps and run-times alike); tokens and samples are
cumulative counts as logged.
"""

from __future__ import annotations

import polars as pl

from rltop.core.cols import named

X_COLUMNS: dict[str, tuple[str, ...]] = {
    "time": (
        "_timestamp",
        "timestamp",
        "time",
        "wall_time",
        "_runtime",
        "time/total",
        "time/elapsed",
    ),
    "tokens": (
        "num_tokens",  # TRL / transformers Trainer
        "elapsed_tokens",  # OpenAI legacy fine-tunes
        "total_tokens",
        "tokens_seen",
        "train/num_tokens",
        "progress/total_tokens",
        "perf/total_num_tokens_cumulative",
    ),
    "samples": (
        "elapsed_examples",  # OpenAI legacy fine-tunes
        "num_samples",
        "samples_seen",
        "total_samples",
        "progress/total_samples",
        "train/num_samples",
    ),
}

KINDS = ("step", "time", "tokens", "samples")


def x_column(columns: list[str] | tuple[str, ...], kind: str) -> str | None:
    """The logged column for x axis ``kind`` (None for "step" or when the run logs none)."""
    names = set(columns)
    return next((c for c in X_COLUMNS.get(kind, ()) if c in names), None)


def available(columns: list[str] | tuple[str, ...]) -> list[str]:
    """The x axes a run can be drawn against: always "step", then the logged ones."""
    return ["step", *(k for k in KINDS[1:] if x_column(columns, k))]


def series_against(metrics: pl.DataFrame, name: str, kind: str) -> tuple[list[float], list[float]]:
    """``name`` against x axis ``kind``: rows where both are logged (hours since start for time)."""
    column = x_column(metrics.columns, kind) if kind != "step" else None
    if name not in metrics.columns:
        return [], []
    if column is None:
        part = metrics.select(pl.col("step"), named(name)).filter(named(name).is_not_null())
        return part.get_column("step").to_list(), part.get_column(name).to_list()
    part = metrics.select(named(column).alias("_x"), named(name)).filter(
        named(name).is_not_null() & pl.col("_x").is_not_null() & pl.col("_x").is_finite()
    )
    xs = part.get_column("_x").to_list()
    if kind == "time" and xs:
        start = min(xs)
        xs = [(x - start) / 3600 for x in xs]
    return xs, part.get_column(name).to_list()
