"""RL rules about rollouts and their text: length, truncation, errors, groups, episodes."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl

from rltop.core.diagnose.context import _ERROR_REASON, _LENGTH_STOP, Context
from rltop.core.diagnose.registry import Finding, rule
from rltop.core.diagnose.series import (
    Series,
    _align,
    _n,
    _pct,
    early_level,
    rolling_mean,
    rolling_median,
    spread,
    trailing_onset,
    trend_window,
)


@rule(
    "rl.token_growth",
    "warning",
    "responses growing long",
    "the grader may reward verbosity; equal reward at fewer tokens is better",
    """The smoothed response length (rolling median of 5) is ≥ ``normal`` (2×) its starting level
    (info: the model becoming more thorough) or ≥ ``excessive`` (3×) (warning). Minimum points:
    10.""",
    kind="any",
    normal=2.0,
    excessive=3.0,
    min_points=10,
)
def _rl_token_growth(ctx: Context, p: dict[str, Any]) -> Finding | None:
    ln = ctx.series("response_length")
    if ln is None or len(ln) < p["min_points"]:
        return None
    start_level = early_level(ln.values)
    if start_level <= 0:
        return None
    ratio = ctx.median(ln, 5) / start_level
    cond = ratio >= p["normal"]
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    r = float(ratio[-1])
    severity = "warning" if r >= p["excessive"] else "info"
    action = (
        "the grader may reward verbosity: check the scoring dimensions; equal reward at fewer "
        "tokens is better"
        if severity == "warning"
        else "normal (the model is becoming more thorough); equal reward at fewer tokens is better"
    )
    return Finding(
        severity,
        ln.at(start),
        (ln.name,),
        f"{ln.name} {_n(float(ratio[-1] * start_level))} at step {ln.at(-1)} (smoothed) = "
        f"{r:.1f}× its starting {_n(start_level)}; ≥ {_n(p['normal'])}× since step {ln.at(start)}",
        action,
        at_step=ln.at(-1),
    )


def _truncation_from_rollouts(ctx: Context) -> Series | None:
    """Share of rollouts per step that stopped at the length limit (``stop_reason``)."""
    ro = ctx.run.rollouts
    col = next((c for c in ("stop_reason", "finish_reason") if c in ro.columns), None)
    if col is None or ro.is_empty() or ro.schema[col] != pl.String:
        return None
    per = (
        ro.lazy()
        .filter(pl.col(col).is_not_null())
        .group_by("step")
        .agg(pl.col(col).str.to_lowercase().is_in(list(_LENGTH_STOP)).mean().alias("v"))
        .sort("step")
        .collect()
    )
    if per.is_empty():
        return None
    return Series(
        f"rollouts/{col}=length",
        per.get_column("step").to_numpy(),
        per.get_column("v").to_numpy().astype(np.float64),
    )


@rule(
    "rl.truncation",
    "warning",
    "most completions hit the length limit",
    "raise the max length or penalise length; rewards of cut answers are noise",
    """The smoothed clip/truncation ratio (rolling median of 5; from the trainer's metric, else
    the share of rollouts whose stop reason is the length limit) is at least ``ratio`` (0.5).
    Minimum points: 5.""",
    kind="any",
    ratio=0.5,
    min_points=5,
)
def _rl_truncation(ctx: Context, p: dict[str, Any]) -> Finding | None:
    cr = ctx.series("clip_ratio") or _truncation_from_rollouts(ctx)
    if cr is None or len(cr) < p["min_points"]:
        return None
    sm = ctx.median(cr, 5)
    cond = sm >= p["ratio"]
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    last = cr.values[-10:]
    high = float(np.mean(last >= 0.9))
    return Finding(
        "warning",
        cr.at(start),
        (cr.name,),
        f"{cr.name} = {_n(float(sm[-1]))} at step {cr.at(-1)} (smoothed); ≥ {_n(p['ratio'])} since "
        f"step {cr.at(start)}; ≥ 0.9 at {_pct(high)} of the last {len(last)} points",
        at_step=cr.at(-1),
    )


@rule(
    "rl.grader_errors",
    "critical",
    "the grader reports logic errors",
    "fix the grader before continuing",
    """Any grader logic error count above 0 (counts are exact, not noisy: one error is a bug).
    Minimum points: 1.""",
    kind="any",
)
def _rl_grader_errors(ctx: Context, p: dict[str, Any]) -> Finding | None:
    ge = ctx.series("grader_errors")
    if ge is None:
        return None
    hits = np.flatnonzero(ge.values > 0)
    if not len(hits):
        return None
    first, last = int(hits[0]), int(hits[-1])
    return Finding(
        "critical",
        ge.at(first),
        (ge.name,),
        f"{ge.name}: {_n(float(ge.values[hits].sum()))} errors at {len(hits)} logged steps; first "
        f"{_n(float(ge.values[first]))} at step {ge.at(first)}, latest "
        f"{_n(float(ge.values[last]))} at step {ge.at(last)}",
        at_step=ge.at(last),
    )


@rule(
    "rl.parse_errors",
    "info",
    "many unparseable outputs and reward not climbing",
    "the output format is not parseable: check the format reward and the prompt",
    """The smoothed parse-error rate (rolling median of 5; a count is divided by the samples per
    step when known) is at least ``rate`` (0.1) — or, for a count with no sample total, at least
    ``count`` (1) per step — while the reward's rolling mean rose less than ``rise`` (10%) of its
    range over the last window (a quarter of the run). Minimum points: 5.""",
    kind="any",
    rate=0.1,
    count=1.0,
    rise=0.1,
    min_points=5,
)
def _rl_parse_errors(ctx: Context, p: dict[str, Any]) -> Finding | None:
    pe = ctx.series("parse_errors")
    if pe is None or len(pe) < p["min_points"]:
        return None
    values, unit, limit = pe.values, "rate", p["rate"]
    if not re.search(r"rate|frac|ratio|share", pe.name):
        samples = ctx.series("samples")
        if samples is not None:
            total = _align(samples, pe.steps, samples.values)
            values = np.where(total > 0, pe.values / np.maximum(total, 1e-12), 0.0)
        else:
            unit, limit = "per step", p["count"]
    sm = rolling_median(values, 5)
    cond = sm >= limit
    names: tuple[str, ...] = (pe.name,)
    extra = ""
    rw = ctx.series("reward")
    if rw is not None and len(rw) >= p["min_points"]:
        w = trend_window(len(rw), p)
        rm = rolling_mean(rw.values, w)
        back = np.maximum(np.arange(len(rm)) - w, 0)
        climbing = (rm - rm[back]) >= p["rise"] * spread(rw.values)
        cond &= ~_align(rw, pe.steps, climbing.astype(np.float64)).astype(bool)
        names += (rw.name,)
        extra = f"; {rw.name} {_n(float(rm[back[-1]]))} → {_n(float(rm[-1]))} over {w} points"
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "info",
        pe.at(start),
        names,
        f"parse errors {_n(float(sm[-1]))} {unit} at step {pe.at(-1)} (smoothed; limit "
        f"{_n(limit)}){extra}",
        at_step=pe.at(-1),
    )


@rule(
    "rl.zero_variance",
    "warning",
    "most prompt groups have identical rewards",
    "groups teach nothing: change k, the temperature or the data difficulty",
    """The smoothed share of groups whose rewards are all equal (rolling median of 5; logged,
    e.g. TRL ``frac_reward_zero_std``, 1 − tinker ``frac_mixed``, or derived from rollouts) is at
    least ``share`` (0.5). Minimum points: 5.""",
    kind="any",
    share=0.5,
    min_points=5,
)
def _rl_zero_variance(ctx: Context, p: dict[str, Any]) -> Finding | None:
    zv = ctx.series("zero_variance")
    if zv is None:
        mixed = ctx.series("mixed_groups")
        if mixed is not None:
            zv = Series(f"1 − {mixed.name}", mixed.steps, 1.0 - mixed.values)
    if zv is None or len(zv) < p["min_points"]:
        return None
    sm = ctx.median(zv, 5)
    cond = sm >= p["share"]
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "warning",
        zv.at(start),
        (zv.name,),
        f"{_pct(float(sm[-1]))} of groups with zero reward variance at step {zv.at(-1)} "
        f"(smoothed); ≥ {_pct(p['share'])} since step {zv.at(start)}",
        at_step=zv.at(-1),
    )


def _episode_series(ctx: Context) -> tuple[Series | None, Series | None, str]:
    """Per-step share of error-like terminal reasons, and mean turns, from episode rollouts."""
    ro = ctx.run.rollouts
    if ro.is_empty() or "step" not in ro.columns:
        return None, None, ""
    share = turns = None
    common = ""
    if "terminal_reason" in ro.columns and ro.schema["terminal_reason"] == pl.String:
        part = ro.select("step", "terminal_reason").filter(pl.col("terminal_reason").is_not_null())
        if part.height:
            flagged = part.with_columns(
                pl.col("terminal_reason").str.contains("(?i)" + _ERROR_REASON.pattern).alias("e")
            )
            per = flagged.group_by("step").agg(pl.col("e").mean()).sort("step")
            share = Series(
                "episodes/error_terminal_share",
                per.get_column("step").to_numpy(),
                per.get_column("e").cast(pl.Float64).to_numpy(),
            )
            bad = flagged.filter(pl.col("e")).get_column("terminal_reason")
            if bad.len():
                common = str(bad.mode().sort()[0])
    if "turns" in ro.columns and ro.schema["turns"].is_numeric():
        per = (
            ro.select("step", "turns")
            .filter(pl.col("turns").is_not_null())
            .group_by("step")
            .agg(pl.col("turns").cast(pl.Float64).mean())
            .sort("step")
        )
        if per.height:
            turns = Series(
                "episodes/turns_mean",
                per.get_column("step").to_numpy(),
                per.get_column("turns").to_numpy(),
            )
    return share, turns, common


@rule(
    "rl.early_termination",
    "warning",
    "episodes end early more often",
    "log and review those trajectories: the model makes a critical error",
    """Episode logs: the share of error/critical terminal reasons (rolling mean over a quarter of
    the points) has risen by at least ``rise`` (0.15) above its starting level and is at least
    ``min_share`` (0.2); or the turns per episode (rolling median of 5) fell by at least
    ``turns_drop`` (40%) from their starting level. Minimum points: ``min_points`` (10) steps with
    episodes.""",
    kind="any",
    rise=0.15,
    min_share=0.2,
    turns_drop=0.4,
    min_points=10,
)
def _rl_early_termination(ctx: Context, p: dict[str, Any]) -> Finding | None:
    share, turns, common = _episode_series(ctx)
    if turns is None:
        turns = ctx.series("turns")
    found: list[tuple[int, str, str, int]] = []
    if share is not None and len(share) >= p["min_points"]:
        w = trend_window(len(share), p)
        rm = rolling_mean(share.values, w)
        base = float(np.mean(share.values[:w]))
        cond = (rm - base >= p["rise"]) & (rm >= p["min_share"])
        cond[: w - 1] = False
        start = trailing_onset(cond)
        if start is not None:
            found.append(
                (
                    share.at(start),
                    share.name,
                    f"{_pct(float(rm[-1]))} of episodes end with an error/critical terminal "
                    f"reason at step {share.at(-1)} (mean of {w} steps) vs {_pct(base)} at the "
                    f"start" + (f"; most common: {common}" if common else ""),
                    share.at(-1),
                )
            )
    if turns is not None and len(turns) >= p["min_points"]:
        start_level = early_level(turns.values)
        sm = ctx.median(turns, 5)
        if start_level > 0:
            cond = sm <= (1 - p["turns_drop"]) * start_level
            cond[: int(p["min_points"]) - 1] = False
            start = trailing_onset(cond)
            if start is not None:
                found.append(
                    (
                        turns.at(start),
                        turns.name,
                        f"turns per episode {_n(float(sm[-1]))} at step {turns.at(-1)} "
                        f"(smoothed) vs {_n(start_level)} at the start "
                        f"({-(1 - sm[-1] / start_level) * 100:+.0f}%)",
                        turns.at(-1),
                    )
                )
    if not found:
        return None
    found.sort()
    return Finding(
        "warning",
        found[0][0],
        tuple(f[1] for f in found),
        "; ".join(f[2] for f in found),
        at_step=max(f[3] for f in found),
    )
