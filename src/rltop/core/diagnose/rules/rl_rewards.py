"""RL rules about rewards: narrowing, stagnant, zero, negative, saturated, declining, gaps, dimensions."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import Finding, rule
from rltop.core.diagnose.series import (
    Series,
    _align,
    _n,
    early_level,
    noise,
    rolling_max,
    rolling_mean,
    spread,
    trailing_onset,
    trend_window,
    warmup_points,
)


# -- reinforcement ---------------------------------------------------------------------------
def _rise_since_warmup(
    s: Series, p: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """Rolling mean of a series, its change since the end of the warm-up, the window, the base."""
    n = len(s)
    w = trend_window(n, p)
    base = warmup_points(n, p) + w - 1
    if n - base < max(2, int(p.get("min_after", 5))):
        return None
    rm = rolling_mean(s.values, w)
    rise = rm - rm[base]
    rise[:base] = np.nan
    return rm, rise, w, base


def _pass_series(ctx: Context) -> Series | None:
    return ctx.series("pass_at_k") or ctx.series("max_at_k")


def _is_fraction(s: Series) -> bool:
    return "pass" in s.name or bool(np.all((s.values >= 0) & (s.values <= 1)))


@rule(
    "rl.narrowing",
    "warning",
    "reward rises while pass@k stays flat",
    "the model exploits a few easy prompts: check the prompt mix and the reward",
    """After the warm-up (``warmup_fraction`` 10% of the points, at least 5), the rolling mean of
    the reward (a quarter of the run, 5–200 points) has risen by at least ``rise`` (20%) of the
    reward's range and ``z`` (3) standard errors while pass@k (else max@k) moved less than ``flat`` (0.03 for shares, 10% of
    its range otherwise) and stays below ``ceiling`` (0.95). Minimum points: ``min_points`` (20)
    reward points.""",
    kind="rl",
    rise=0.2,
    z=3.0,
    flat=0.03,
    ceiling=0.95,
    min_points=20,
)
def _rl_narrowing(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw, pk = ctx.series("reward"), _pass_series(ctx)
    if rw is None or pk is None or len(rw) < p["min_points"] or len(pk) < p["min_points"] // 2:
        return None
    got = _rise_since_warmup(rw, p)
    if got is None:
        return None
    rm, rise, w, base = got
    pk_rm = rolling_mean(pk.values, trend_window(len(pk), p))
    pk_at = _align(pk, rw.steps, pk_rm)
    pk_rise = pk_at - pk_at[base]
    flat = p["flat"] if _is_fraction(pk) else 0.1 * spread(pk.values)
    need = max(p["rise"] * spread(rw.values), p["z"] * noise(rw.values) * math.sqrt(2.0 / w))
    cond = (
        (np.nan_to_num(rise) >= need)
        & (pk_rise <= flat)
        & (pk_at < p["ceiling"] if _is_fraction(pk) else True)
    )
    cond[:base] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "warning",
        rw.at(start),
        (rw.name, pk.name),
        f"{rw.name} {_n(float(rm[base]))} → {_n(float(rm[-1]))} (+{_n(float(rise[-1]))}) from "
        f"step {rw.at(base)} to {rw.at(-1)} while {pk.name} {_n(float(pk_at[base]))} → "
        f"{_n(float(pk_at[-1]))} (rolling means of {w} points)",
        at_step=rw.at(-1),
    )


@rule(
    "rl.stagnant",
    "warning",
    "reward and pass@k flat after the early phase",
    "data too hard or reward too sparse: an easier curriculum or a denser reward",
    """Compared with its starting level (the mean of the first 10% of the points, at least 5: the
    early noisy phase), the reward's rolling mean (a quarter of the run) has never risen, and is
    not now below it, by more than ``flat`` (20%) of its range or ``z`` (4) standard errors,
    whichever is larger; the same for pass@k when logged or derived (at least ``pass_flat``,
    0.03). Not when pass@k is already ≥ ``ceiling`` (0.95) or the reward is ~0 (``zero``, 0.01;
    that is rl.reward_zero). Minimum points: ``min_points`` (50) reward points.""",
    kind="rl",
    flat=0.2,
    pass_flat=0.03,
    z=4.0,
    ceiling=0.95,
    min_points=50,
    zero=0.01,
)
def _rl_stagnant(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    n = len(rw)
    w = trend_window(n, p)
    head = max(5, warmup_points(n, p))  # the starting level: the first points, noise included
    first = head + w - 1  # the first window that does not overlap the start
    if n <= first:
        return None
    start_level = float(np.mean(rw.values[:head]))
    rm = rolling_mean(rw.values, w)
    if float(np.max(np.abs(rm[first:]))) <= p["zero"] and abs(start_level) <= p["zero"]:
        return None  # rl.reward_zero
    se = math.sqrt(1.0 / head + 1.0 / w)
    need = max(p["flat"] * spread(rw.values), p["z"] * noise(rw.values) * se)
    # flat: no window since the start has been significantly above it, and it is not now
    # significantly below it (a fall is rl.reward_declining's business)
    later = np.arange(n) >= first  # whole windows after the start only
    gained = np.fmax.accumulate(np.where(later, rm - start_level, -np.inf))
    cond = (gained < need) & (np.abs(rm - start_level) < need)
    names: tuple[str, ...] = (rw.name,)
    pk = _pass_series(ctx)
    extra = ""
    if pk is not None and len(pk) >= 2 * head:
        pw = trend_window(len(pk), p)
        pk_start = float(np.mean(pk.values[:head]))
        pk_at = _align(pk, rw.steps, rolling_mean(pk.values, pw))
        pk_need = p["pass_flat"] if _is_fraction(pk) else p["flat"] * spread(pk.values)
        pk_need = max(pk_need, p["z"] * noise(pk.values) * math.sqrt(1.0 / head + 1.0 / pw))
        cond &= np.fmax.accumulate(np.where(later, pk_at - pk_start, -np.inf)) < pk_need
        if _is_fraction(pk):
            cond &= pk_at < p["ceiling"]
        names += (pk.name,)
        extra = f"; {pk.name} {_n(pk_start)} → {_n(float(pk_at[-1]))}"
    cond[:first] = False
    cond[: int(p["min_points"]) - 1] = False
    onset = trailing_onset(cond)
    if onset is None:
        return None
    return Finding(
        "warning",
        rw.at(onset),
        names,
        f"{rw.name} {_n(start_level)} over the first {head} points → {_n(float(rm[-1]))} at step "
        f"{rw.at(-1)} (rolling mean of {w} points; never moved more than {_n(need)}){extra}",
        at_step=rw.at(-1),
    )


@rule(
    "rl.reward_zero",
    "critical",
    "reward stuck at about zero",
    "the grader is broken or its threshold too strict: read low-reward rollouts",
    """The smoothed reward (rolling median of 5) has stayed within ±``zero`` (0.01) for the last
    ``window`` (10) points. Minimum points: 10.""",
    kind="rl",
    zero=0.01,
    window=10,
    min_points=10,
)
def _rl_reward_zero(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    lvl = np.abs(ctx.median(rw, 5))
    cond = rolling_max(lvl, int(p["window"])) <= p["zero"]
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    begin = max(0, start - int(p["window"]) + 1)
    return Finding(
        "critical",
        rw.at(begin),
        (rw.name,),
        f"{rw.name} within ±{_n(p['zero'])} since step {rw.at(begin)} "
        f"({len(rw) - begin} points; latest {_n(float(rw.values[-1]))} at step {rw.at(-1)})",
        at_step=rw.at(-1),
    )


@rule(
    "rl.reward_negative",
    "warning",
    "reward always negative",
    "the pass threshold is too high",
    """The smoothed reward (rolling median of 5) has been below 0 at every point so far. Minimum
    points: 10.""",
    kind="rl",
    min_points=10,
)
def _rl_reward_negative(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    sm = ctx.median(rw, 5)
    if float(np.max(sm)) >= 0:
        return None
    return Finding(
        "warning",
        rw.at(0),
        (rw.name,),
        f"{rw.name} below 0 at every point from step {rw.at(0)} to {rw.at(-1)} (smoothed, highest "
        f"{_n(float(np.max(sm)))}, latest {_n(float(sm[-1]))})",
        at_step=rw.at(-1),
    )


@rule(
    "rl.reward_saturated",
    "warning",
    "reward high from the first steps and flat",
    "the threshold is too lenient: nothing is left to learn; make the task or the grader harder",
    """The reward starts at or above ``high`` (0.9, for rewards in [0, 1]; set it for other
    scales) over the first points and its smoothed value (rolling median of 5) stays within
    ``tolerance`` (0.05) of that start. Minimum points: 10.""",
    kind="rl",
    high=0.9,
    tolerance=0.05,
    min_points=10,
)
def _rl_reward_saturated(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    start_level = early_level(rw.values)
    if start_level < p["high"]:
        return None
    sm = ctx.median(rw, 5)
    if float(np.max(np.abs(sm - start_level))) > p["tolerance"]:
        return None
    return Finding(
        "warning",
        rw.at(0),
        (rw.name,),
        f"{rw.name} {_n(start_level)} over the first points and {_n(float(sm[-1]))} at step "
        f"{rw.at(-1)} (smoothed; never moved more than {_n(p['tolerance'])})",
        at_step=rw.at(-1),
    )


@rule(
    "rl.reward_declining",
    "warning",
    "reward trending down",
    "check the learning rate, the KL and recent changes to data or reward",
    """The rolling mean of the reward (a quarter of the run, 5–200 points) is at least ``drop``
    (25%) of the reward's range below its peak, the peak is at least one window back, and the
    fall is at least ``z`` (1.5) standard errors of that mean. Minimum points: ``min_points``
    (20).""",
    kind="rl",
    drop=0.25,
    z=1.5,
    min_points=20,
)
def _rl_reward_declining(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    n = len(rw)
    w = trend_window(n, p)
    rm = rolling_mean(rw.values, w)
    rm[: w - 1] = np.nan  # partial windows are not trend evidence
    idx = np.arange(n)
    valid = np.nan_to_num(rm, nan=-np.inf)
    peak = np.maximum.accumulate(valid)
    peak_at = np.maximum.accumulate(np.where(valid >= peak, idx, 0))
    fall = peak - rm
    resid = rw.values - rolling_mean(rw.values, w)
    sigma = float(np.std(resid)) or noise(rw.values)
    needed = max(p["drop"] * spread(rw.values), p["z"] * sigma * math.sqrt(2.0 / w))
    cond = np.nan_to_num(fall, nan=0.0) >= needed
    cond &= idx - peak_at >= w
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    top = int(peak_at[-1])
    top_step = rw.at(max(0, top - (w - 1) // 2))  # the middle of the peak window
    return Finding(
        "warning",
        rw.at(start),
        (rw.name,),
        f"{rw.name} {_n(float(rm[-1]))} at step {rw.at(-1)}, down from its peak "
        f"{_n(float(rm[top]))} around step {top_step} (−{_n(float(fall[-1]))}; rolling means of "
        f"{w} points; the reward's range is {_n(spread(rw.values))})",
        at_step=rw.at(-1),
    )


@rule(
    "rl.train_valid_gap",
    "warning",
    "train reward well above valid reward",
    "possible reward hacking: read high-reward rollouts",
    """Smoothed train reward (rolling median of 5) minus smoothed valid reward (median of 3
    validation points) is above ``gap`` (0.10) at the latest validation point. Minimum points: 3
    valid, 5 train.""",
    kind="rl",
    gap=0.10,
    min_valid_points=3,
    min_train_points=5,
)
def _rl_train_valid_gap(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw, vr = ctx.series("reward"), ctx.series("valid_reward")
    if rw is None or vr is None:
        return None
    keep = vr.steps >= rw.steps[0]
    vr = Series(vr.name, vr.steps[keep], vr.values[keep])
    if len(vr) < p["min_valid_points"] or len(rw) < p["min_train_points"]:
        return None
    tr_at = _align(rw, vr.steps, ctx.median(rw, 5))
    vr_s = ctx.median(vr, 3)
    gap = tr_at - vr_s
    cond = gap > p["gap"]
    cond[: int(p["min_valid_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "warning",
        vr.at(start),
        (rw.name, vr.name),
        f"train {_n(float(tr_at[-1]))} − valid {_n(float(vr_s[-1]))} = {_n(float(gap[-1]))} at "
        f"step {vr.at(-1)} (smoothed; limit {_n(p['gap'])}); above since step {vr.at(start)}",
        at_step=vr.at(-1),
    )


_DIMENSION = re.compile(r"^(?:scores/(?P<a>.+)|rewards/(?P<b>[^/]+)(?:/mean)?)$")


@rule(
    "rl.dimension_regression",
    "warning",
    "one score dimension falls while the total reward rises",
    "training on a subset of dimensions regresses the others: re-weight the reward",
    """A score dimension (``scores/<dimension>`` from episode logs or logged; TRL's
    ``rewards/<function>/mean``) has a rolling mean (a quarter of the run) at least ``drop`` (20%)
    of its range below its peak after the warm-up, while the reward's rolling mean rose by at
    least ``rise`` (20%) of its range since the warm-up. Minimum points: ``min_points`` (20).""",
    kind="any",
    rise=0.2,
    drop=0.2,
    min_points=20,
)
def _rl_dimension_regression(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    dims = [c for c in ctx.columns if _DIMENSION.match(c) and c != rw.name]
    if not dims:
        return None
    got = _rise_since_warmup(rw, p)
    if got is None:
        return None
    rm, rise, _w, base = got
    rising = np.nan_to_num(rise) >= p["rise"] * spread(rw.values)
    hits = []
    for name in dims:
        d = ctx.column(name)
        if d is None or len(d) < p["min_points"]:
            continue
        dw = trend_window(len(d), p)
        dbase = warmup_points(len(d), p) + dw - 1
        if dbase >= len(d) - 1:
            continue
        drm = rolling_mean(d.values, dw)
        tail = drm.copy()
        tail[:dbase] = -np.inf
        peak = np.maximum.accumulate(tail)
        falling = (peak - drm) >= p["drop"] * spread(d.values)
        falling[:dbase] = False
        cond = falling & _align(rw, d.steps, rising.astype(np.float64)).astype(bool)
        start = trailing_onset(cond)
        if start is not None:
            hits.append(
                (
                    d.at(start),
                    name,
                    f"{name} {_n(float(peak[-1]))} → {_n(float(drm[-1]))}",
                    d.at(-1),
                )
            )
    if not hits:
        return None
    hits.sort()
    return Finding(
        "warning",
        hits[0][0],
        (rw.name, *(h[1] for h in hits)),
        f"{rw.name} {_n(float(rm[base]))} → {_n(float(rm[-1]))} since step {rw.at(base)} while "
        + ", ".join(h[2] for h in hits)
        + " (rolling means, peak → now)",
        at_step=max(h[3] for h in hits),
    )
