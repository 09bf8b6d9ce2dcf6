"""RL rules about rollouts and their text: length, truncation, errors, groups, episodes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import polars as pl

from rltop.core.diagnose import text as text_mod
from rltop.core.diagnose.context import _ERROR_REASON, _LENGTH_STOP, Context
from rltop.core.diagnose.registry import ONSET, Finding, held_finding, rule
from rltop.core.diagnose.series import (
    Series,
    _align,
    _n,
    _pct,
    align_held,
    arange,
    arg_true,
    backdate,
    change_point,
    const,
    early_level,
    fill_range,
    last_true,
    mask_head,
    mean,
    rolling_mean,
    rolling_median,
    spread,
    trend_window,
    where,
)


@rule(
    "rl.token_growth",
    "warning",
    "responses growing long",
    "the grader may reward verbosity; equal reward at fewer tokens is better",
    """The smoothed response length (rolling median of 5) is ≥ ``normal`` (2×) its starting level
    (info: the model becoming more thorough) or ≥ ``excessive`` (3×) (warning). Minimum points:
    10.""",
    about="""Responses doubling in length is normal as the model becomes more thorough. Three times
    and more usually means the grader rewards verbosity. At equal reward, fewer tokens is
    strictly better.""",
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
    levels = where(ratio >= p["excessive"], 1, where(ratio >= p["normal"], 0, -1))
    levels = fill_range(levels, 0, int(p["min_points"]) - 1, -1)
    if levels.max() < 0:  # type: ignore[operator]
        return None
    r = float(ratio[-1])
    return Finding(
        "info",
        None,
        (ln.name,),
        f"{ln.name} {_n(float(ratio[-1] * start_level))} at step {ln.at(-1)} (smoothed) = "
        f"{r:.1f}× its starting {_n(start_level)}; at this level since step {ONSET}",
        at_step=ln.at(-1),
        held=levels,
        held_steps=ln.steps,
        tier_actions={
            "warning": "the grader may reward verbosity: check the scoring dimensions; equal "
            "reward at fewer tokens is better",
            "info": "normal (the model is becoming more thorough); equal reward at fewer tokens "
            "is better",
        },
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
        per.get_column("step").cast(pl.Int64),
        per.get_column("v").cast(pl.Float64),
    )


@rule(
    "rl.truncation",
    "warning",
    "most completions hit the length limit",
    "raise the max length or penalise length; rewards of cut answers are noise",
    """The smoothed clip/truncation ratio (rolling median of 5; from the trainer's metric, else
    the share of rollouts whose stop reason is the length limit) is at least ``ratio`` (0.5).
    Minimum points: 5.""",
    about="""Completions are cut at the maximum length, so their rewards grade unfinished answers:
    noise.""",
    kind="any",
    ratio=0.5,
    min_points=5,
)
def _rl_truncation(ctx: Context, p: dict[str, Any]) -> Finding | None:
    cr = ctx.series("clip_ratio") or _truncation_from_rollouts(ctx)
    if cr is None or len(cr) < p["min_points"]:
        return None
    sm = ctx.median(cr, 5)
    last = cr.values.tail(10)
    return held_finding(
        cr,
        sm >= p["ratio"],
        p["min_points"],
        "warning",
        (cr.name,),
        lambda: (
            f"{cr.name} = {_n(float(sm[-1]))} at step {cr.at(-1)} (smoothed); ≥ "
            f"{_n(p['ratio'])} since step {ONSET}; ≥ 0.9 at {_pct(mean(last >= 0.9))} of the last "
            f"{len(last)} points"
        ),
    )


@rule(
    "rl.grader_errors",
    "critical",
    "the grader reports logic errors",
    "fix the grader before continuing",
    """Any grader logic error count above 0 (counts are exact, not noisy: one error is a bug).
    Minimum points: 1.""",
    about="""The grader itself failed (OpenAI RFT `train_other_error_count`). Those rewards are
    wrong; training on them teaches the wrong thing.""",
    kind="any",
)
def _rl_grader_errors(ctx: Context, p: dict[str, Any]) -> Finding | None:
    ge = ctx.series("grader_errors")
    if ge is None:
        return None
    hits = arg_true(ge.values > 0)
    if not len(hits):
        return None
    first, last = int(hits[0]), int(hits[-1])
    return Finding(
        "critical",
        ge.at(first),
        (ge.name,),
        f"{ge.name}: {_n(float(ge.values.gather(hits).sum()))} errors at {len(hits)} logged "
        f"steps; first {_n(float(ge.values[first]))} at step {ge.at(first)}, latest "
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
    about="""The grader cannot parse many outputs. In agentic runs that is often harmless (answers
    captured mid-reasoning) as long as the reward climbs; if it does not, the output format
    is the problem.""",
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
            values = where(total > 0, pe.values / total.clip(lower_bound=1e-12), 0.0)
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
        back = (arange(len(rm)) - w).clip(lower_bound=0)
        climbing = (rm - rm.gather(back)) >= p["rise"] * spread(rw.values)
        cond &= ~align_held(rw, pe.steps, climbing)
        names += (rw.name,)
        extra = f"; {rw.name} {_n(float(rm[int(back[-1])]))} → {_n(float(rm[-1]))} over {w} points"
    return held_finding(
        pe,
        cond,
        p["min_points"],
        "info",
        names,
        lambda: (
            f"parse errors {_n(float(sm[-1]))} {unit} at step {pe.at(-1)} (smoothed; limit "
            f"{_n(limit)}){extra}"
        ),
    )


@rule(
    "rl.zero_variance",
    "warning",
    "most prompt groups have identical rewards",
    "groups teach nothing: change k, the temperature or the data difficulty",
    """The smoothed share of groups whose rewards are all equal (rolling median of 5; logged,
    e.g. TRL ``frac_reward_zero_std``, 1 − tinker ``frac_mixed``, or derived from rollouts) is at
    least ``share`` (0.5). Minimum points: 5.""",
    about="""GRPO-style training learns from differences between the k completions of a prompt. A
    group whose completions all score the same (all right or all wrong) has zero advantage
    and teaches nothing.""",
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
    return held_finding(
        zv,
        sm >= p["share"],
        p["min_points"],
        "warning",
        (zv.name,),
        lambda: (
            f"{_pct(float(sm[-1]))} of groups with zero reward variance at step "
            f"{zv.at(-1)} (smoothed); ≥ {_pct(p['share'])} since step {ONSET}"
        ),
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
                per.get_column("step").cast(pl.Int64),
                per.get_column("e").cast(pl.Float64),
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
                per.get_column("step").cast(pl.Int64),
                per.get_column("turns").cast(pl.Float64),
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
    about="""In multi-turn environments, episodes that end on an error or a critical mistake, or with
    fewer and fewer turns, mean the model does something the environment stops it for.""",
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
    found: list[tuple[Series, pl.Series, str]] = []
    if share is not None and len(share) >= p["min_points"]:
        w = trend_window(len(share), p)
        rm = rolling_mean(share.values, w)
        base = mean(share.values.head(w))
        cond = mask_head((rm - base >= p["rise"]) & (rm >= p["min_share"]), w - 1)
        if cond.any():
            # from where the share began to rise (a change point), not where it got significant
            cond = backdate(cond, min(change_point(share.values), last_true(cond) or 0))
            found.append(
                (
                    share,
                    cond,
                    f"{_pct(float(rm[-1]))} of episodes end with an error/critical terminal "
                    f"reason at step {share.at(-1)} (mean of {w} steps) vs {_pct(base)} at the "
                    f"start" + (f"; most common: {common}" if common else ""),
                )
            )
    if turns is not None and len(turns) >= p["min_points"]:
        start_level = early_level(turns.values)
        sm = ctx.median(turns, 5)
        if start_level > 0:
            cond = mask_head(sm <= (1 - p["turns_drop"]) * start_level, int(p["min_points"]) - 1)
            if cond.any():
                found.append(
                    (
                        turns,
                        cond,
                        f"turns per episode {_n(float(sm[-1]))} at step {turns.at(-1)} "
                        f"(smoothed) vs {_n(start_level)} at the start "
                        f"({-(1 - sm[-1] / start_level) * 100:+.0f}%)",
                    )
                )
    if not found:
        return None
    # one axis: every step either series has; each condition as of its latest point
    steps = pl.concat([f[0].steps for f in found]).unique().sort()
    held = const(False, len(steps), pl.Boolean)
    for s_, cond, _ in found:
        held = held | (align_held(s_, steps, cond) & (steps >= s_.steps[0]))
    return Finding(
        "warning",
        None,
        tuple(f[0].name for f in found),
        "; ".join(f[2] for f in found),
        at_step=int(steps[-1]),
        held=held,
        held_steps=steps,
    )


# -- rollout text ----------------------------------------------------------------------------
_SAMPLE_HELP = (
    f"It reads a bounded sample: the newest {text_mod.NEWEST_ROWS} rollouts, of the newest "
    f"{text_mod.NEWEST_STEPS} steps, at most {text_mod.PER_STEP} completions per step spread over "
    "its groups (each step read once while watching), so its onset can be no older than that "
    "window; rollout text kept on disk (``rltop watch``) is not read."
)


def _printable(text: str) -> str:
    """Model text quoted in evidence: one line, printable characters only (no escapes)."""
    return "".join(ch for ch in " ".join(text.split()) if ch.isprintable())


def _verdicts(ctx: Context, p: dict[str, Any]) -> list:
    key = ("verdicts", float(p.get("loop_share", 0.3)))
    got = ctx.memo.get(key)
    if got is None:
        tail = text_mod.newest_rollouts(ctx.run.rollouts)
        got = ctx.memo[key] = text_mod.step_verdicts(tail, ctx.text_cache, key[1])
    return got


def _text_share(ctx: Context, p: dict[str, Any], which: str) -> tuple[Series, list] | None:
    verdicts = [v for v in _verdicts(ctx, p) if v.sampled]
    if len(verdicts) < p["min_points"]:
        return None
    steps = pl.Series([v.step for v in verdicts], dtype=pl.Int64)
    values = pl.Series([getattr(v, which) / v.sampled for v in verdicts], dtype=pl.Float64)
    return Series(f"rollouts/{which}_share", steps, values), verdicts


def _share_above(
    ctx: Context, p: dict[str, Any], which: str, evidence: Callable[[Series, list, pl.Series], str]
) -> Finding | None:
    """The finding of a text rule: where the smoothed share of sampled completions that are
    ``which`` (rolling median of 5 steps) is above ``share`` (from ``min_points`` on), with the
    ``evidence`` made from the series, the verdicts and the smoothed share."""
    got = _text_share(ctx, p, which)
    if got is None:
        return None
    s, verdicts = got
    sm = rolling_median(s.values, 5)
    return held_finding(
        s,
        sm > p["share"],
        p["min_points"],
        "warning",
        (s.name,),
        lambda: evidence(s, verdicts, sm),
    )


@rule(
    "rl.repetition",
    "warning",
    "completions caught in a degenerate loop",
    "read them; check the sampling settings and whether cut-off loops still earn reward "
    "(a length-aware reward, a repetition penalty)",
    """The share of the newest completions caught in a loop — one span of 8+ words repeated back
    to back, or one line repeated, filling at least ``loop_share`` (30%) of the text — is above
    ``share`` (10%), smoothed (rolling median of 5 steps). Minimum points: ``min_points`` (5)
    steps with rollout text. """
    + _SAMPLE_HELP,
    about="""The model writes the same thing over and over until it hits the length limit: a
    sampling or decoding problem (temperature, repetition penalty) or a reward that still pays
    for a cut-off loop. No logged aggregate shows it; the text does.""",
    kind="any",
    share=0.1,
    loop_share=0.3,
    min_points=5,
)
def _rl_repetition(ctx: Context, p: dict[str, Any]) -> Finding | None:
    def evidence(s: Series, verdicts: list, sm: pl.Series) -> str:
        example = next((v.example_loop for v in reversed(verdicts) if v.example_loop), "")
        last = verdicts[-1]
        return (
            f"{_pct(float(sm[-1]))} of the sampled completions loop at step {s.at(-1)} "
            f"(smoothed; {last.looping} of {last.sampled} read; limit {_pct(p['share'])}); since "
            f"step {ONSET}" + (f"; e.g. “{_printable(example)[:80]}…”" if example else "")
        )

    return _share_above(ctx, p, "looping", evidence)


@rule(
    "rl.garbled",
    "warning",
    "completions with garbled text",
    "check the chat template, the tokenizer and the inference engine version; read them",
    """The share of the newest completions with garbled text — replacement characters (U+FFFD),
    control characters, a run of 20+ symbols of 5+ kinds, words of a script that neither the
    prompt nor the answer's first fifth uses — is above ``share`` (5%), smoothed (rolling
    median of 5 steps). Minimum points: ``min_points`` (5) steps with rollout text. """
    + _SAMPLE_HELP,
    about="""Broken bytes, control characters or a sudden switch of language mid-answer: usually
    a mismatch between the chat template or tokenizer and the model, or an inference-engine bug,
    not something the policy learned.""",
    kind="any",
    share=0.05,
    min_points=5,
)
def _rl_garbled(ctx: Context, p: dict[str, Any]) -> Finding | None:
    def evidence(s: Series, verdicts: list, sm: pl.Series) -> str:
        last = verdicts[-1]
        return (
            f"{_pct(float(sm[-1]))} of the sampled completions garbled at step {s.at(-1)} "
            f"(smoothed; {last.garbled} of {last.sampled} read; limit {_pct(p['share'])}); "
            f"since step {ONSET}"
        )

    return _share_above(ctx, p, "garbled", evidence)


@rule(
    "rl.mode_collapse",
    "warning",
    "completions within a group near-identical",
    "exploration is gone: raise the temperature, check the entropy and the KL coefficient",
    """Within prompt groups of the newest rollouts, distinct completions (compared without case
    and extra spaces) per group, the median over a step's groups, is below ``distinct`` (30%),
    smoothed (rolling median of 5 steps), while the step's mean reward is below ``ceiling``
    (95%) of the highest step mean reward seen (identical right answers are fine). Minimum
    points: ``min_points`` (5) steps with groups of 2+ completions. It reads the newest
    """
    + f"{text_mod.NEWEST_ROWS} rollouts of the newest {text_mod.NEWEST_STEPS} steps.",
    about="""Every sample of a prompt says the same thing: the group has no variety left, so its
    advantages are zero and it teaches nothing. Exploration collapsed (temperature, entropy, KL).""",
    kind="any",
    distinct=0.3,
    ceiling=0.95,
    min_points=5,
)
def _rl_mode_collapse(ctx: Context, p: dict[str, Any]) -> Finding | None:
    verdicts = [v for v in _verdicts(ctx, {"loop_share": 0.3}) if v.distinct is not None]
    if len(verdicts) < p["min_points"]:
        return None
    steps = pl.Series([v.step for v in verdicts], dtype=pl.Int64)
    ratio = pl.Series([v.distinct for v in verdicts], dtype=pl.Float64)
    rewards = [v.reward for v in verdicts if v.reward is not None and not math.isnan(v.reward)]
    sm = rolling_median(ratio, 5)
    cond = sm < p["distinct"]
    if any(math.isfinite(r) for r in rewards):
        top = max(rewards)
        # a step without a reward (or a NaN one) is as low as it gets
        reward = pl.Series(
            [-math.inf if v.reward is None or math.isnan(v.reward) else v.reward for v in verdicts],
            dtype=pl.Float64,
        )
        level = rolling_median(reward, 5)
        if top > 0:
            cond &= ~(level >= p["ceiling"] * top)
    cond = mask_head(cond, int(p["min_points"]) - 1)
    if not cond.any():
        return None
    return Finding(
        "warning",
        None,
        ("rollouts/distinct_per_group",),
        f"distinct completions per group {_pct(float(sm[-1]))} at step {int(steps[-1])} (median "
        f"over {verdicts[-1].groups} groups, smoothed; limit {_pct(p['distinct'])}); since step "
        f"{ONSET}",
        at_step=int(steps[-1]),
        held=cond,
        held_steps=steps,
    )
