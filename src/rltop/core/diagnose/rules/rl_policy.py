"""RL rules about the policy: entropy and KL."""

from __future__ import annotations

from typing import Any

import polars as pl

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import ONSET, Finding, held_finding, rule
from rltop.core.diagnose.series import (
    _n,
    _pct,
    const,
    early_level,
    false_run_end,
    fill_range,
    first_true,
    hold_points,
    last_true,
    mask_head,
    print_precision,
)


@rule(
    "rl.entropy_collapse",
    "warning",
    "policy entropy collapsed",
    "exploration is gone: raise the temperature or the entropy bonus, lower the learning rate",
    """The smoothed policy entropy (rolling median of 5) is at most ``ratio`` (10%) of its
    starting level. Minimum points: 10.""",
    about="""The policy became (nearly) deterministic: it stops exploring, and groups of completions
    become identical.""",
    kind="rl",
    ratio=0.1,
    min_points=10,
)
def _rl_entropy_collapse(ctx: Context, p: dict[str, Any]) -> Finding | None:
    en = ctx.series("entropy")
    if en is None or len(en) < p["min_points"]:
        return None
    start_level = early_level(en.values)
    if start_level <= 0:
        return None
    sm = ctx.median(en, 5)
    return held_finding(
        en,
        sm <= p["ratio"] * start_level,
        p["min_points"],
        "warning",
        (en.name,),
        lambda: (
            f"{en.name} {_n(float(sm[-1]))} at step {en.at(-1)} (smoothed) = "
            f"{_pct(float(sm[-1] / start_level))} of its starting {_n(start_level)}; below "
            f"{_pct(p['ratio'])} since step {ONSET}"
        ),
    )


@rule(
    "rl.kl_spike",
    "warning",
    "KL to the reference jumped",
    "policy drift: lower the learning rate or raise the KL coefficient",
    """The median of the last 3 KL points is at least ``factor`` (8) × the median of the
    ``window`` (20) points before the jump began, and higher by at least ``min_abs`` (0.001). The
    level before the jump stays the reference while KL stays up: a level that stays high is still
    the spike, not a new normal. A level below the precision the values were printed with (KL
    0.000 in a console log) counts as that precision, never as 0. Minimum points: ``window`` + 3.""",
    about="""The policy moved far from the reference model in a few steps: an unstable update. (KL
    growing steadily from 0 as training goes on is normal and does not fire.)""",
    kind="rl",
    factor=8.0,
    window=20,
    min_abs=0.001,
)
def _rl_kl_spike(ctx: Context, p: dict[str, Any]) -> Finding | None:
    kl = ctx.series("kl")
    w = int(p["window"])
    if kl is None or len(kl) < w + 3:
        return None
    n = len(kl)
    recent = ctx.median(kl, 3)
    base_all = ctx.median(kl, w)
    # the level before the jump: the median of the ``window`` points ending 3 points back (null
    # for the first 3 points, where there is none)
    base = base_all.shift(3)
    precision = print_precision(kl.values)
    ref = base.abs().fill_null(float("inf")).clip(lower_bound=max(precision, 1e-12))
    jump = ((recent >= p["factor"] * ref) & (recent - base >= p["min_abs"])).fill_null(False)
    jump = mask_head(jump, w + 2)
    if not jump.any():
        return None
    # within a jump the reference is the level before it began, until KL has been back under
    # ``factor`` × that level for a sustained stretch
    _hold, clear = hold_points(n, p)
    held = const(False, n, pl.Boolean)
    anchors = const(None, n, pl.Float64)
    i = first_true(jump) or 0
    while True:
        anchor, anchor_base = float(ref[i]), float(base[i])
        tail = recent.slice(i)
        ok = (tail >= p["factor"] * anchor) & (tail - anchor_base >= p["min_abs"])
        end = i + false_run_end(ok, clear)
        held = pl.concat([held.slice(0, i), ok.slice(0, end - i), held.slice(end)])
        anchors = fill_range(anchors, i, end, anchor)
        later = first_true(jump.slice(end))
        if end >= n or later is None:
            break
        i = end + later
    anchor = float(anchors[last_true(anchors.is_not_null())])  # type: ignore[index]
    before = (
        f"below the print precision ({_n(precision)})"
        if precision and anchor <= precision
        else _n(anchor)
    )
    return Finding(
        "warning",
        None,
        (kl.name,),
        f"{kl.name} {_n(float(recent[-1]))} at step {kl.at(-1)} (median of 3) = "
        f"{recent[-1] / anchor:.1f}× its level before the jump, {before} (median of {w}); "
        f"since step {ONSET}",
        at_step=kl.at(-1),
        held=held,
        held_steps=kl.steps,
    )
