"""Helpers for the diagnostics tests: store snapshots built from generated series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from rltop.core.diagnose import Diagnoser, Warning
from rltop.core.model import ParseResult, Skip
from rltop.core.store import RunSnapshot, SourceInfo, Store

PATH = "/nonexistent/run/metrics.jsonl"


def rows_from(columns: Mapping[str, Sequence[float | None]], steps: Sequence[int] | None = None):
    n = max(len(v) for v in columns.values())
    steps = list(steps) if steps is not None else list(range(1, n + 1))
    rows = []
    for i, step in enumerate(steps):
        row: dict = {"step": int(step)}
        for name, values in columns.items():
            if i < len(values) and values[i] is not None:
                row[name] = float(values[i])
        rows.append(row)
    return rows


class RunBuilder:
    """One run in a Store, fed metric rows (and rollouts) in batches."""

    def __init__(self, name: str = "run") -> None:
        self.store = Store()
        self.store.add_run("/runs/" + name, name, "/runs/" + name)
        self.store.add_source(SourceInfo(PATH, "jsonl", "metrics", "/runs/" + name))
        self.store.add_source(
            SourceInfo(PATH + ".rollouts", "rollouts", "rollouts", "/runs/" + name)
        )

    def add(self, rows: list[dict], skips: Iterable[Skip] = ()) -> RunBuilder:
        self.store.apply(PATH, ParseResult(metrics=rows, skips=list(skips)))
        return self

    def add_rollouts(self, frame: pl.DataFrame) -> RunBuilder:
        from rltop.core.formats.rollouts import CORE_SCHEMA

        frame = frame.with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in CORE_SCHEMA.items()
            if name not in frame.columns
        )
        self.store.apply(PATH + ".rollouts", ParseResult(rollout_frame=frame))
        return self

    def snapshot(self) -> RunSnapshot:
        return self.store.snapshot().runs[0]


def run_of(columns: Mapping[str, Sequence[float | None]], steps=None) -> RunSnapshot:
    return RunBuilder().add(rows_from(columns, steps)).snapshot()


def ids(warnings: Iterable[Warning]) -> set[str]:
    return {w.id for w in warnings}


def find(warnings: Iterable[Warning], rule_id: str) -> Warning | None:
    return next((w for w in warnings if w.id == rule_id), None)


def first_firing(
    columns: Mapping[str, Sequence[float | None]],
    rule_id: str,
    *,
    steps: Sequence[int] | None = None,
    batch: int = 1,
    thresholds=None,
) -> tuple[int | None, Warning | None]:
    """Feed the series ``batch`` rows at a time; the last step fed when the rule first fired."""
    rows = rows_from(columns, steps)
    builder = RunBuilder()
    diag = Diagnoser(thresholds, stalled=False)
    for i in range(0, len(rows), batch):
        builder.add(rows[i : i + batch])
        update = diag.update(builder.store.snapshot())
        hit = find(update.started, rule_id)
        if hit is not None:
            return rows[min(i + batch, len(rows)) - 1]["step"], hit
    return None, None


def noisy(values: Sequence[float] | np.ndarray, sigma: float, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    arr = np.asarray(values, dtype=float)
    return list(arr + rng.normal(0, sigma, len(arr)))
