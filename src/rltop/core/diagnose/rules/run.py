"""Rules about run health: ``run.*``."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import polars as pl

from rltop.core.diagnose.context import _NAN_WATCH, Context
from rltop.core.diagnose.registry import Finding, rule
from rltop.core.diagnose.series import (
    _n,
)


# -- the rules: run health -------------------------------------------------------------------
@rule(
    "run.nan",
    "critical",
    "NaN or infinity in a loss, reward or gradient norm",
    "stop and inspect the step",
    """Any NaN or ±inf in a loss, reward, score or gradient-norm column. Minimum points: 1 (a NaN
    is not noise).""",
)
def _run_nan(ctx: Context, p: dict[str, Any]) -> Finding | None:
    frame = ctx.run.metrics
    watched = {c for c in ctx.columns if _NAN_WATCH.search(c)}
    watched |= {
        ctx.roles[r]
        for r in ("train_loss", "valid_loss", "reward", "valid_reward", "grad_norm")
        if r in ctx.roles
    }
    watched = sorted(c for c in watched if frame.schema[c] == pl.Float64)
    if not watched:
        return None
    # one cheap pass: a column's sum (nulls skipped) is finite unless it holds NaN or ±inf (or
    # overflows, which the detailed look below then rules out); details only for flagged columns
    sums = frame.select(pl.col(watched).sum()).row(0)
    flags = [v is not None and not math.isfinite(v) for v in sums]
    hits = []
    steps = frame.get_column("step")
    for name, flagged in zip(watched, flags, strict=True):
        if not flagged:
            continue
        col = frame.get_column(name)
        where = (col.is_nan() | col.is_infinite()).fill_null(False).arg_true()
        if not len(where):
            continue
        first = int(where[0])
        hits.append((int(steps[first]), name, len(where), col[first], int(steps[int(where[-1])])))
    if not hits:
        return None
    hits.sort()
    parts = []
    for first, name, count, value, last in hits[:3]:
        more = f" ({count} steps, latest at step {last})" if count > 1 else ""
        parts.append(f"{name} = {_n(value)} at step {first}{more}")
    if len(hits) > 3:
        parts.append(f"and {len(hits) - 3} more metrics")
    return Finding(
        "critical",
        hits[0][0],
        tuple(h[1] for h in hits),
        "; ".join(parts),
        at_step=max(h[4] for h in hits),
    )


@rule(
    "run.stalled",
    "critical",
    "the run stopped writing",
    "the job may have died or hung: check the process and its last log lines",
    """A run that was writing (new data while watched, or files changed within the limit when first
    seen) has written nothing for ``minutes`` (default 15). Evaluated by ``rltop watch`` and the
    dashboard against the clock; ``rltop check`` only with ``--stalled-after``. Minimum points:
    1 (it judges time, not values).""",
    minutes=15.0,
)
def _run_stalled(ctx: Context, p: dict[str, Any]) -> Finding | None:
    if ctx.now is None or ctx.last_activity is None or not ctx.live:
        return None
    idle = ctx.now - ctx.last_activity
    limit = float(p["minutes"]) * 60
    if idle < limit:
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ctx.last_activity))
    last = ctx.run.last_step
    return Finding(
        "critical",
        last,
        (),
        f"no new data for {idle / 60:.0f} min (limit {p['minutes']:g} min); last write {when}"
        + (f", last step {last}" if last is not None else ""),
        at_step=last,
    )


@rule(
    "run.unreadable",
    "info",
    "lines or files that could not be read",
    "see `rltop sources` for each reason; fix the writer or ignore the lines",
    """A source of the run had lines it could not parse (the count and the reasons) or could not be
    read at all. Minimum points: none.""",
)
def _run_unreadable(ctx: Context, p: dict[str, Any]) -> Finding | None:
    parts = []
    for src in ctx.run.sources:
        name = os.path.basename(src.path)
        if src.status == "error":
            parts.append(f"{name}: cannot read ({src.error or 'error'})")
        elif src.skipped:
            reasons = ", ".join(f"{c} × {r}" for r, c in src.skip_reasons.most_common(2))
            parts.append(f"{name}: {src.skipped} skipped ({reasons})")
    if not parts:
        return None
    return Finding("info", None, (), "; ".join(parts[:4]) + ("; …" if len(parts) > 4 else ""))
