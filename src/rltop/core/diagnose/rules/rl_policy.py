"""RL rules about the policy: entropy and KL."""

from __future__ import annotations

from typing import Any

import numpy as np

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import ONSET, Finding, rule
from rltop.core.diagnose.series import (
    _n,
    _pct,
    early_level,
    false_run_end,
    hold_points,
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
    cond = sm <= p["ratio"] * start_level
    cond[: int(p["min_points"]) - 1] = False
    if not cond.any():
        return None
    return Finding(
        "warning",
        None,
        (en.name,),
        f"{en.name} {_n(float(sm[-1]))} at step {en.at(-1)} (smoothed) = "
        f"{_pct(float(sm[-1] / start_level))} of its starting {_n(start_level)}; below "
        f"{_pct(p['ratio'])} since step {ONSET}",
        at_step=en.at(-1),
        held=cond,
        held_steps=en.steps,
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
    base = np.full(n, np.nan)
    base[3:] = base_all[:-3]
    precision = print_precision(kl.values)
    ref = np.maximum(np.abs(np.nan_to_num(base, nan=np.inf)), max(precision, 1e-12))
    with np.errstate(invalid="ignore"):
        jump = (recent >= p["factor"] * ref) & (recent - base >= p["min_abs"])
    jump[: w + 2] = False
    if not jump.any():
        return None
    # within a jump the reference is the level before it began, until KL has been back under
    # ``factor`` × that level for a sustained stretch
    _hold, clear = hold_points(n, p)
    held = np.zeros(n, dtype=bool)
    anchors = np.full(n, np.nan)
    i = int(np.argmax(jump))
    while True:
        anchor, anchor_base = float(ref[i]), float(base[i])
        ok = (recent[i:] >= p["factor"] * anchor) & (recent[i:] - anchor_base >= p["min_abs"])
        end = i + false_run_end(ok, clear)
        held[i:end] = ok[: end - i]
        anchors[i:end] = anchor
        later = np.flatnonzero(jump[end:])
        if end >= n or not len(later):
            break
        i = end + int(later[0])
    anchor = float(anchors[np.flatnonzero(~np.isnan(anchors))[-1]])
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
