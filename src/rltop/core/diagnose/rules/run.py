"""Rules about run health: ``run.*``."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import polars as pl

from rltop.core.cols import named
from rltop.core.diagnose.context import _NAN_WATCH, Context
from rltop.core.diagnose.registry import ONSET, Finding, held_finding, rule
from rltop.core.diagnose.series import Series, _n, diff, mask_head, median


# -- the rules: run health -------------------------------------------------------------------
@rule(
    "run.nan",
    "critical",
    "NaN or infinity in a loss, reward or gradient norm",
    "stop and inspect the step",
    """Any NaN or ±inf in a loss, reward, score or gradient-norm column. Minimum points: 1 (a NaN
    is not noise).""",
    about="""Training diverged or a batch produced invalid numbers; everything after it is suspect.""",
)
def _run_nan(ctx: Context, p: dict[str, Any]) -> Finding | None:
    frame = ctx.run.metrics
    watched = {c for c in ctx.columns if _NAN_WATCH.search(c)}
    watched |= {
        ctx.roles[r]
        for r in ("train_loss", "valid_loss", "reward", "valid_reward", "grad_norm")
        if r in ctx.roles
    }
    schema = frame.schema  # built once: polars makes a new Schema on every access
    watched = sorted(c for c in watched if schema.get(c) == pl.Float64)
    if not watched:
        return None
    # one cheap pass: a column's sum (nulls skipped) is finite unless it holds NaN or ±inf (or
    # overflows, which the detailed look below then rules out); details only for flagged columns
    sums = frame.select(named(c).sum() for c in watched).row(0)
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
    about="""A run that was writing has gone quiet: the job may have died, hung, or lost its storage.""",
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
    about="""Some input could not be used: truncated lines, non-JSON output mixed into a metrics
    file, a file that disappeared. Shown so nothing is lost silently.""",
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


def _step_times(ctx: Context) -> Series | None:
    """Seconds per step: a logged timing metric, else wall time between logged steps."""
    logged = ctx.series("step_time")
    if logged is not None:
        return logged
    stamp = ctx.series("timestamp")
    if stamp is None or len(stamp) < 3:
        return None
    dt = diff(stamp.values)
    ds = diff(stamp.steps).cast(pl.Float64)
    ok = (ds > 0) & (dt >= 0)
    if ok.sum() < 3:
        return None
    return Series(f"Δ{stamp.name} per step", stamp.steps.slice(1).filter(ok), (dt / ds).filter(ok))


@rule(
    "run.slowdown",
    "warning",
    "steps take much longer than they did",
    "look for stragglers, memory pressure, growing sequence length or a slow grader",
    """Time per step (a logged timing metric such as verl ``timing_s/step``; else the wall time
    between logged steps from a timestamp such as wandb ``_timestamp``), smoothed (rolling
    median of 5), is at least ``factor`` (2) × its early median (the median of the first 10% of
    the points, 5 to 20). Minimum points: ``min_points`` (10).""",
    about="""Each step takes twice as long as it did early on: the run will miss its budget, and
    the cause is usually something to fix — a straggling worker, memory pressure and swapping,
    sequences grown long, or a grader that got slow.""",
    factor=2.0,
    min_points=10,
)
def _run_slowdown(ctx: Context, p: dict[str, Any]) -> Finding | None:
    st = _step_times(ctx)
    if st is None or len(st) < p["min_points"]:
        return None
    head = int(min(20, max(5, len(st) // 10)))
    early = median(st.values.head(head))
    if early <= 0:
        return None
    sm = ctx.median(st, 5)
    cond = mask_head(sm >= p["factor"] * early, max(head, int(p["min_points"])) - 1)
    return held_finding(
        st,
        cond,
        0,
        "warning",
        (st.name,) if st.name in ctx.columns else (),
        lambda: (
            f"{_n(float(sm[-1]))} s per step at step {st.at(-1)} (smoothed) = "
            f"{sm[-1] / early:.1f}× the early {_n(early)} s (median of the first {head} points); "
            f"≥ {_n(p['factor'])}× since step {ONSET}"
        ),
    )
