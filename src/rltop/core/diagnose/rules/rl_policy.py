"""RL rules about the policy: entropy and KL."""

from __future__ import annotations

from typing import Any

import numpy as np

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import Finding, rule
from rltop.core.diagnose.series import (
    _n,
    _pct,
    early_level,
    trailing_onset,
)


@rule(
    "rl.entropy_collapse",
    "warning",
    "policy entropy collapsed",
    "exploration is gone: raise the temperature or the entropy bonus, lower the learning rate",
    """The smoothed policy entropy (rolling median of 5) is at most ``ratio`` (10%) of its
    starting level. Minimum points: 10.""",
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
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "warning",
        en.at(start),
        (en.name,),
        f"{en.name} {_n(float(sm[-1]))} at step {en.at(-1)} (smoothed) = "
        f"{_pct(float(sm[-1] / start_level))} of its starting {_n(start_level)}; below "
        f"{_pct(p['ratio'])} since step {en.at(start)}",
        at_step=en.at(-1),
    )


@rule(
    "rl.kl_spike",
    "warning",
    "KL to the reference jumped",
    "policy drift: lower the learning rate or raise the KL coefficient",
    """The median of the last 3 KL points is at least ``factor`` (8) × the median of the
    ``window`` (20) points before them, and higher by at least ``min_abs`` (0.001). Minimum
    points: ``window`` + 3.""",
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
    recent = ctx.median(kl, 3)
    base_all = ctx.median(kl, w)
    base = np.full(len(kl), np.nan)
    base[3:] = base_all[:-3]
    ref = np.maximum(np.abs(base), 1e-12)
    cond = (recent >= p["factor"] * ref) & (recent - base >= p["min_abs"])
    cond[: w + 2] = False
    start = trailing_onset(np.nan_to_num(cond, nan=0).astype(bool))
    if start is None:
        return None
    return Finding(
        "warning",
        kl.at(start),
        (kl.name,),
        f"{kl.name} {_n(float(recent[-1]))} at step {kl.at(-1)} (median of 3) = "
        f"{recent[-1] / ref[-1]:.1f}× its recent level {_n(float(base[-1]))} (median of {w}); "
        f"since step {kl.at(start)}",
        at_step=kl.at(-1),
    )
