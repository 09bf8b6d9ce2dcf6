"""RL rules about rewards: narrowing, stagnant, zero, negative, saturated, declining, gaps, dimensions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import ONSET, Finding, held_finding, rule
from rltop.core.diagnose.series import (
    Series,
    _align,
    _n,
    align_held,
    arange,
    backdate,
    change_point,
    const,
    early_level,
    fill_range,
    hold_points,
    last_true,
    mask_head,
    mean,
    noise,
    num,
    rolling_max,
    rolling_mean,
    spread,
    trend_window,
    warmup_points,
    where,
)
from rltop.core.lazyre import lazy


# -- reinforcement ---------------------------------------------------------------------------
def _rise_since_warmup(
    s: Series, p: Mapping[str, Any]
) -> tuple[pl.Series, pl.Series, int, int] | None:
    """Rolling mean of a series, its change since the end of the warm-up (null before it), the
    window, the base."""
    n = len(s)
    w = trend_window(n, p)
    base = warmup_points(n, p) + w - 1
    if n - base < max(2, int(p.get("min_after", 5))):
        return None
    rm = rolling_mean(s.values, w)
    rise = fill_range(rm - rm[base], 0, base, None)
    return rm, rise, w, base


def _pass_series(ctx: Context) -> Series | None:
    return ctx.series("pass_at_k") or ctx.series("max_at_k")


def _is_fraction(s: Series) -> bool:
    return "pass" in s.name or bool(((s.values >= 0) & (s.values <= 1)).all())


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
    about="""Average reward climbs but the number of prompts the model can solve at all does not: it
    is getting better at a few easy prompts instead of solving more of them. In a healthy
    run pass@k climbs first and the mean reward follows.""",
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
    cond = (rise.fill_null(0.0) >= need) & (pk_rise <= flat)
    if _is_fraction(pk):
        cond &= pk_at < p["ceiling"]
    cond = mask_head(cond, base)
    if not cond.any():
        return None
    # date it from where the reward began to rise (the bend of a two-piece line fitted from the
    # end of the warm-up), not from where the rise became large enough to judge
    warm = warmup_points(len(rw), p)
    cond = backdate(cond, warm + change_point(rw.values.slice(warm)))
    return Finding(
        "warning",
        None,
        (rw.name, pk.name),
        f"{rw.name} {_n(float(rm[base]))} → {_n(float(rm[-1]))} (+{_n(num(rise[-1]))}) from "
        f"step {rw.at(base)} to {rw.at(-1)} while {pk.name} {_n(float(pk_at[base]))} → "
        f"{_n(float(pk_at[-1]))} (rolling means of {w} points)",
        at_step=rw.at(-1),
        held=cond,
        held_steps=rw.steps,
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
    that is rl.reward_zero), nor once its rolling mean has more than doubled from the start; never with rl.reward_saturated or rl.reward_zero. Minimum points: ``min_points`` (50) reward points.""",
    about="""Nothing improves once the early noise has settled: the data is too hard or the reward
    too sparse for the model to find any signal.""",
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
    start_level = mean(rw.values.head(head))
    rm = rolling_mean(rw.values, w)
    if float(rm.slice(first).abs().max()) <= p["zero"] and abs(start_level) <= p["zero"]:  # type: ignore[arg-type]
        return None  # rl.reward_zero
    se = math.sqrt(1.0 / head + 1.0 / w)
    need = max(p["flat"] * spread(rw.values), p["z"] * noise(rw.values) * se)
    # flat: no window since the start has been significantly above it, and it is not now
    # significantly below it (a fall is rl.reward_declining's business)
    gained = fill_range(rm - start_level, 0, first, -math.inf).cum_max()
    cond = (gained < need) & ((rm - start_level).abs() < need)
    names: tuple[str, ...] = (rw.name,)
    pk = _pass_series(ctx)
    extra = ""
    if pk is not None and len(pk) >= 2 * head:
        pw = trend_window(len(pk), p)
        pk_start = mean(pk.values.head(head))
        pk_at = _align(pk, rw.steps, rolling_mean(pk.values, pw))
        pk_need = p["pass_flat"] if _is_fraction(pk) else p["flat"] * spread(pk.values)
        pk_need = max(pk_need, p["z"] * noise(pk.values) * math.sqrt(1.0 / head + 1.0 / pw))
        cond &= fill_range(pk_at - pk_start, 0, first, -math.inf).cum_max() < pk_need
        if _is_fraction(pk):
            cond &= pk_at < p["ceiling"]
        names += (pk.name,)
        extra = f"; {pk.name} {_n(pk_start)} → {_n(float(pk_at[-1]))}"
    # a reward that more than doubled is not stagnant, however noisy (a short run cut early)
    if start_level > 0 and float(rm.slice(first).max()) > 2 * start_level:  # type: ignore[arg-type]
        return None  # it more than doubled: not stagnant, however noisy the climb
    cond = mask_head(cond, max(first, int(p["min_points"]) - 1))
    return held_finding(
        rw,
        cond,
        0,
        "warning",
        names,
        lambda: (
            f"{rw.name} {_n(start_level)} over the first {head} points → {_n(float(rm[-1]))} "
            f"at step {rw.at(-1)} (rolling mean of {w} points; never moved more than {_n(need)})"
            f"{extra}"
        ),
    )


@rule(
    "rl.reward_zero",
    "critical",
    "reward stuck at about zero",
    "the grader is broken or its threshold too strict: read low-reward rollouts",
    """The smoothed reward (rolling median of 5) has stayed within ±``zero`` (0.01) for the last
    ``window`` (10) points. Minimum points: 10.""",
    about="""Every completion scores ~0. The model is not that bad: the grader is broken, crashes
    silently, or its pass threshold is too strict.""",
    kind="rl",
    excludes=("rl.stagnant",),
    zero=0.01,
    window=10,
    min_points=10,
)
def _rl_reward_zero(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    lvl = ctx.median(rw, 5).abs()
    w = int(p["window"])
    cond = mask_head(rolling_max(lvl, w) <= p["zero"], int(p["min_points"]) - 1)
    if not cond.any():
        return None
    # a point holds when it begins ``window`` points within ±zero: the onset is their first
    held = rolling_max(cond.reverse().cast(pl.Float64), w).reverse() > 0
    return Finding(
        "critical",
        None,
        (rw.name,),
        f"{rw.name} within ±{_n(p['zero'])} since step {ONSET} "
        f"(latest {_n(float(rw.values[-1]))} at step {rw.at(-1)})",
        at_step=rw.at(-1),
        held=held,
        held_steps=rw.steps,
    )


@rule(
    "rl.reward_negative",
    "warning",
    "reward always negative",
    "the pass threshold is too high",
    """The smoothed reward (rolling median of 5) has been below 0 at every point so far. Minimum
    points: 10.""",
    about="""Graders that subtract a pass threshold (OpenAI RFT) give negative rewards when nothing
    passes.""",
    kind="rl",
    min_points=10,
)
def _rl_reward_negative(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    sm = ctx.median(rw, 5)
    highest = float(sm.max())  # type: ignore[arg-type]
    if highest >= 0:
        return None
    return Finding(
        "warning",
        rw.at(0),
        (rw.name,),
        f"{rw.name} below 0 at every point from step {rw.at(0)} to {rw.at(-1)} (smoothed, highest "
        f"{_n(highest)}, latest {_n(float(sm[-1]))})",
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
    about="""The model already does the task: there is nothing left to learn and the run burns
    compute.""",
    kind="rl",
    excludes=("rl.stagnant",),
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
    if float((sm - start_level).abs().max()) > p["tolerance"]:  # type: ignore[arg-type]
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
    """The rolling mean of the reward over ``span`` points (20; a quarter of the run when that is
    less, at least 5: a fixed window, so the delay does not grow with the run) is at least
    ``drop`` (25%) of the reward's range below its highest earlier value, that peak is at least
    one window back, and the fall is at least ``z`` (2) standard errors of the mean. The onset is
    where the decline began: the bend of a two-piece line fitted around the peak (a change
    point). Minimum points: ``min_points`` (20).""",
    about="""The reward peaked and has been falling for a sustained stretch: a learning rate too
    high, a KL too loose, or a change in data, reward or code.""",
    kind="rl",
    drop=0.25,
    z=2.0,
    span=20,
    min_points=20,
)
def _rl_reward_declining(ctx: Context, p: dict[str, Any]) -> Finding | None:
    rw = ctx.series("reward")
    if rw is None or len(rw) < p["min_points"]:
        return None
    n = len(rw)
    w = int(p["window"]) if p.get("window") else int(min(p["span"], max(5, n // 4)))
    full = rolling_mean(rw.values, w)
    rm = fill_range(full, 0, w - 1, None)  # partial windows are not trend evidence
    idx = arange(n)
    valid = rm.fill_null(-math.inf)
    peak = valid.cum_max()
    peak_at = where(valid >= peak, idx, 0).cum_max()
    fall = peak - rm
    resid = rw.values - full
    sigma = float(resid.std(ddof=0)) or noise(rw.values)  # type: ignore[arg-type]
    needed = max(p["drop"] * spread(rw.values), p["z"] * sigma * math.sqrt(2.0 / w))
    cond = (fall.fill_null(0.0) >= needed) & (idx - peak_at >= w)
    cond = mask_head(cond, int(p["min_points"]) - 1)
    if not cond.any():
        return None
    top = int(peak_at[-1])
    centre = max(0, top - (w - 1) // 2)  # the middle of the peak window
    # the change point: a level shift or a bend over the peak window and what follows it (a
    # plateau before the fall is not searched: its noisy highest point is not the onset)
    lo = max(0, centre - 2 * w)
    bend = lo + change_point(rw.values.slice(lo), k_min=centre - lo)
    cond = backdate(cond, min(bend, last_true(cond) or 0))
    return Finding(
        "warning",
        None,
        (rw.name,),
        f"{rw.name} {_n(num(rm[-1]))} at step {rw.at(-1)}, down from its peak "
        f"{_n(num(rm[top]))} around step {rw.at(centre)} (−{_n(num(fall[-1]))}; rolling "
        f"means of {w} points; the reward's range is {_n(spread(rw.values))}); declining since "
        f"step {ONSET}",
        at_step=rw.at(-1),
        held=cond,
        held_steps=rw.steps,
    )


@rule(
    "rl.train_valid_gap",
    "warning",
    "train reward well above valid reward",
    "possible reward hacking: read high-reward rollouts",
    """Smoothed train reward (rolling median of 5) minus smoothed valid reward (median of 3
    validation points) is above ``gap`` (0.10) at the latest validation point. Minimum points: 3
    valid, 5 train.""",
    about="""The policy does much better on prompts it trains on than on held-out ones: it may have
    found a way to please the grader on those prompts rather than to solve the task — reward
    hacking.""",
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
    vr = Series(vr.name, vr.steps.filter(keep), vr.values.filter(keep))
    if len(vr) < p["min_valid_points"] or len(rw) < p["min_train_points"]:
        return None
    tr_at = _align(rw, vr.steps, ctx.median(rw, 5))
    vr_s = ctx.median(vr, 3)
    gap = tr_at - vr_s
    return held_finding(
        vr,
        gap > p["gap"],
        p["min_valid_points"],
        "warning",
        (rw.name, vr.name),
        lambda: (
            f"train {_n(float(tr_at[-1]))} − valid {_n(float(vr_s[-1]))} = "
            f"{_n(float(gap[-1]))} at step {vr.at(-1)} (smoothed; limit {_n(p['gap'])}); above "
            f"since step {ONSET}"
        ),
    )


_DIMENSION = lazy(r"^(?:scores/(?P<a>.+)|rewards/(?P<b>[^/]+)(?:/mean)?)$")


@rule(
    "rl.dimension_regression",
    "warning",
    "one score dimension falls while the total reward rises",
    "training on a subset of dimensions regresses the others: re-weight the reward",
    """A score dimension (``scores/<dimension>`` from episode logs or logged; TRL's
    ``rewards/<function>/mean``) has a rolling mean (a quarter of the run) at least ``drop`` (20%)
    of its range below its peak after the warm-up, while the reward's rolling mean rose by at
    least ``rise`` (20%) of its range since the warm-up. Minimum points: ``min_points`` (20).""",
    about="""Training on a weighted subset of score dimensions (or with one dominating the sum)
    improves the total while another dimension — often the one nobody looks at, such as
    safety or empathy — regresses.""",
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
    rising = rise.fill_null(0.0) >= p["rise"] * spread(rw.values)
    _hold, clear = hold_points(len(rw), p)
    held = const(False, len(rw), pl.Boolean)
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
        tail = fill_range(drm, 0, dbase, -math.inf)
        peak = tail.cum_max()
        peak_at = int(tail.arg_max())  # type: ignore[arg-type]
        falling = mask_head((peak - drm) >= p["drop"] * spread(d.values), dbase)
        cond = falling & align_held(rw, d.steps, rising)
        if not cond.any():
            continue
        # from where the dimension began to fall (the bend of a two-piece line past its peak)
        centre = max(0, peak_at - (dw - 1) // 2)
        lo = max(0, centre - 2 * dw)
        bend = lo + change_point(d.values.slice(lo), k_min=centre - lo)
        cond = backdate(cond, min(bend, last_true(cond) or 0))
        on_rw = align_held(d, rw.steps, cond) & (rw.steps >= d.steps[0])
        held = held | on_rw
        if on_rw.tail(clear).any():
            hits.append((name, f"{name} {_n(float(peak[-1]))} → {_n(float(drm[-1]))}"))
    if not hits or not held.any():
        return None
    return Finding(
        "warning",
        None,
        (rw.name, *(h[0] for h in hits)),
        f"{rw.name} {_n(float(rm[base]))} → {_n(float(rm[-1]))} since step {rw.at(base)} while "
        + ", ".join(h[1] for h in hits)
        + " (rolling means, peak → now)",
        at_step=rw.at(-1),
        held=held,
        held_steps=rw.steps,
    )
