"""Rules about supervised runs (losses): ``sft.*``."""

from __future__ import annotations

from typing import Any

import polars as pl

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import ONSET, Finding, held_finding, rule
from rltop.core.diagnose.series import (
    Series,
    _align,
    _n,
    _pct,
    arange,
    arg_true,
    diff,
    div,
    early_level,
    fill_range,
    first_true,
    median,
    num,
    rolling_median,
    valid_window,
    where,
)


# -- supervised ------------------------------------------------------------------------------
def _losses(ctx: Context, p: dict[str, Any]) -> tuple[Series, Series, pl.Series] | None:
    tr, va = ctx.series("train_loss"), ctx.series("valid_loss")
    if tr is None or va is None:
        return None
    if len(tr) < p["min_train_points"] or len(va) < p["min_valid_points"]:
        return None
    tr_s = ctx.median(tr, int(p["smoothing"]))
    return tr, va, tr_s


@rule(
    "sft.overfit_ratio",
    "warning",
    "validation loss well above training loss",
    "mild: acceptable for small data; moderate: fewer epochs; severe: deploy an earlier checkpoint",
    """valid_loss / train_loss at the latest validation point, both smoothed (rolling median of
    ``smoothing`` (10) train points and of 3 valid points, up to 9 when validation is
    frequent: an eighth of the points): ≥ ``mild`` (1.2) info, ≥ ``moderate`` (1.5)
    warning, ≥ ``severe`` (2.0) critical. Minimum points: 5 train, 3 valid.""",
    about="""The model fits its training data much better than held-out data. A ratio valid/train of
    1.2–1.5 is mild and acceptable for a small dataset; 1.5–2.0 is moderate; above 2.0 the
    later checkpoints are worse than earlier ones for real use.""",
    kind="sft",
    mild=1.2,
    moderate=1.5,
    severe=2.0,
    smoothing=10,
    min_train_points=5,
    min_valid_points=3,
)
def _sft_overfit(ctx: Context, p: dict[str, Any]) -> Finding | None:
    got = _losses(ctx, p)
    if got is None:
        return None
    tr, va, tr_s = got
    va_s = ctx.median(va, valid_window(len(va)))
    train_at = _align(tr, va.steps, tr_s)
    ratio = where(train_at > 1e-12, va_s / train_at, None)  # null: no train level to divide by
    r_ = ratio.fill_null(0.0)
    levels = where(
        r_ >= p["severe"], 2, where(r_ >= p["moderate"], 1, where(r_ >= p["mild"], 0, -1))
    )
    levels = fill_range(levels, 0, int(p["min_valid_points"]) - 1, -1)
    if levels.max() < 0:  # type: ignore[operator]
        return None
    r = num(ratio[-1])
    best = int(va.values.arg_min())  # type: ignore[arg-type]
    return Finding(
        "info",
        None,
        (va.name, tr.name),
        f"valid/train = {_n(r)} at step {va.at(-1)} (valid {_n(float(va_s[-1]))}, "
        f"train {_n(float(train_at[-1]))}, smoothed); at this level since step {ONSET}; "
        f"best valid {_n(float(va.values[best]))} at step {va.at(best)}",
        at_step=va.at(-1),
        held=levels,
        held_steps=va.steps,
        lag=(valid_window(len(va)) - 1) // 2,
        tier_actions={
            "critical": "severe overfitting: deploy an earlier checkpoint",
            "warning": "moderate overfitting: train fewer epochs",
            "info": "mild overfitting: acceptable for small datasets",
        },
    )


@rule(
    "sft.valid_rising",
    "warning",
    "validation loss rising above its best",
    "deploy the best checkpoint",
    """The smoothed valid loss (rolling median of 3 validation points, up to 9 when validation is
    frequent: an eighth of the points) is above ``factor`` (1.2) × its best so far. Minimum
    points: 4 valid.""",
    about="""Validation loss went down, then came back up: the classic overfitting curve (often after
    epoch 2). The best checkpoint is behind you.""",
    kind="sft",
    factor=1.2,
    min_points=4,
)
def _sft_valid_rising(ctx: Context, p: dict[str, Any]) -> Finding | None:
    va = ctx.series("valid_loss")
    if va is None or len(va) < p["min_points"]:
        return None
    va_s = ctx.median(va, valid_window(len(va)))
    best_so_far = va_s.cum_min()
    b = int(va_s.arg_min())  # type: ignore[arg-type]
    raw_best = int(va.values.arg_min())  # type: ignore[arg-type]
    return held_finding(
        va,
        (best_so_far > 0) & (va_s > best_so_far * p["factor"]),
        p["min_points"],
        "warning",
        (va.name,),
        lambda: (
            f"valid loss {_n(float(va_s[-1]))} at step {va.at(-1)} (smoothed) = "
            f"{div(va_s[-1], va_s[b]):.2f}× the best {_n(float(va_s[b]))} at step {va.at(b)}"
        ),
        f"deploy the best checkpoint: step {va.at(raw_best)} "
        f"(valid loss {_n(float(va.values[raw_best]))})",
        lag=(valid_window(len(va)) - 1) // 2,
    )


@rule(
    "sft.train_flat",
    "warning",
    "training loss barely decreases",
    "raise the learning rate or clean the data",
    """The smoothed train loss at the end of the first part of training (the first ``fraction``
    (30%) of the points so far, at least ``min_points``) is less than ``min_drop`` (5%) below its
    starting level. Minimum points: 30 train.""",
    about="""Learning is not happening: the learning rate is too low, or the data is noisy or
    inconsistent.""",
    kind="sft",
    fraction=0.3,
    min_drop=0.05,
    min_points=30,
    smoothing=10,
)
def _sft_train_flat(ctx: Context, p: dict[str, Any]) -> Finding | None:
    tr = ctx.series("train_loss")
    if tr is None or len(tr) < p["min_points"]:
        return None
    early = early_level(tr.values)
    if early <= 0:
        return None
    n = len(tr)
    sm = ctx.median(tr, int(p["smoothing"]))
    idx = arange(n)
    m = ((idx + 1) * p["fraction"]).cast(pl.Int64).clip(int(p["min_points"]), n)
    late = sm.gather(m - 1)
    drop = (early - late) / abs(early)
    cond = (drop < p["min_drop"]) & (idx + 1 >= p["min_points"])
    end = int(m[-1]) - 1
    return held_finding(
        tr,
        cond,
        0,
        "warning",
        (tr.name,),
        lambda: (
            f"train loss {_n(early)} at the start → {_n(float(late[-1]))} at step "
            f"{tr.at(end)} (smoothed, {-drop[-1] * 100:+.1f}%; less than {_pct(p['min_drop'])} "
            f"drop over the first {_pct(p['fraction'])} of training)"
        ),
    )


@rule(
    "sft.train_collapse",
    "warning",
    "training loss fell to about zero",
    "lower the learning rate or add harder examples",
    """The smoothed train loss (rolling median of 5) is at most ``floor`` (0.01) or ``relative``
    (2%) of its starting level, whichever is larger. Minimum points: 10 train.""",
    about="""The model memorises its training set: the learning rate is too high or the examples too
    easy.""",
    kind="sft",
    floor=0.01,
    relative=0.02,
    min_points=10,
    smoothing=5,
)
def _sft_train_collapse(ctx: Context, p: dict[str, Any]) -> Finding | None:
    tr = ctx.series("train_loss")
    if tr is None or len(tr) < p["min_points"]:
        return None
    start_level = float(rolling_median(tr.values.head(max(3, len(tr) // 10)), 3).max())  # type: ignore[arg-type]
    limit = max(p["floor"], p["relative"] * max(start_level, 0.0))
    sm = ctx.median(tr, int(p["smoothing"]))
    return held_finding(
        tr,
        sm <= limit,
        3,  # the first 2 points never count
        "warning",
        (tr.name,),
        lambda: (
            f"train loss {_n(float(sm[-1]))} at step {tr.at(-1)} (smoothed), ≤ {_n(limit)} "
            f"since step {ONSET}; it started at {_n(start_level)}"
        ),
    )


def _first_epoch_end(ctx: Context, va: Series) -> tuple[int, str]:
    """Step where the first epoch ended (from an epoch metric), else a third of the run."""
    ep = ctx.series("epoch")
    if ep is not None and len(ep) > 1 and float(ep.values.min()) < 1.0:  # type: ignore[arg-type]
        past = first_true(ep.values >= 1.0)
        if past is not None:
            return ep.at(past), "the first epoch"
        return int(ctx.steps[-1]) + 1, "the first epoch"
    last = int(ctx.steps[-1]) if len(ctx.steps) else 0
    first = int(ctx.steps[0]) if len(ctx.steps) else 0
    return first + (last - first) // 3, "the first third of training"


@rule(
    "sft.valid_plateau",
    "info",
    "validation loss flat after the first epoch",
    "the model learned quickly: try one epoch or a lower learning rate",
    """After the first epoch (from an ``epoch`` metric; without one, after the first third of the
    steps) the smoothed valid loss (median of 3 validation points) stays within ``tolerance`` (3%)
    of its level when the epoch ended. Minimum points: ``min_points`` (5) valid after the epoch.""",
    about="""The model learned what it could in one epoch; more epochs cost compute without helping.""",
    kind="sft",
    tolerance=0.03,
    min_points=5,
)
def _sft_valid_plateau(ctx: Context, p: dict[str, Any]) -> Finding | None:
    va = ctx.series("valid_loss")
    if va is None:
        return None
    boundary, what = _first_epoch_end(ctx, va)
    after = arg_true(va.steps >= boundary)
    if len(after) < p["min_points"]:
        return None
    vals = va.values.gather(after)
    ref = median(vals.head(3))
    if ref <= 0:
        return None
    sm = rolling_median(vals, 3)
    # flat: every smoothed point since the epoch ended stays within the band around its level
    outside = (sm - ref).abs() / ref > p["tolerance"]
    if outside.any():
        return None
    first = int(after[0])
    return Finding(
        "info",
        va.at(first),
        (va.name,),
        f"valid loss {_n(ref)} after {what} (step {va.at(first)}) and {_n(float(sm[-1]))} at step "
        f"{va.at(-1)}: within ±{_pct(p['tolerance'])} over {len(after)} validation points",
        at_step=va.at(-1),
    )


@rule(
    "sft.valid_oscillating",
    "warning",
    "validation loss swings up and down with no trend",
    "use a larger batch, or audit the data for inconsistent examples",
    """Over the last ``window`` (8) validation points the loss changes direction at least
    ``flips`` (60%) of the time, the typical swing is at least ``min_swing`` (10%) of its level,
    and the net change across the window (mean of its second half minus its first) is smaller
    than ``trend`` (1.0) × the typical swing. Minimum points: ``window`` valid.""",
    about="""Each evaluation disagrees with the last: batches too small, or inconsistent examples in
    the data (or a validation set too small to measure anything).""",
    kind="sft",
    window=8,
    flips=0.6,
    min_swing=0.1,
    trend=1.0,
)
def _sft_valid_oscillating(ctx: Context, p: dict[str, Any]) -> Finding | None:
    va = ctx.series("valid_loss")
    w = int(p["window"])
    if va is None or len(va) < max(w, 4):
        return None
    x = va.values
    n = len(x)
    d = diff(x)
    flips = (d.slice(1) * d.slice(0, n - 2) < 0).cast(pl.Float64)
    # windows of w points end at indices w-1 .. n-1: full rolling windows only
    count = n - w + 1
    flip_share = flips.rolling_mean(w - 2).slice(w - 3, count)
    swing = d.abs().rolling_median(w - 1).slice(w - 2, count)
    level = x.rolling_median(w).slice(w - 1, count)
    half = w // 2
    first_half = x.rolling_mean(half).slice(half - 1, count)
    second_half = x.rolling_mean(w - half).slice(w - 1, count)
    net = (second_half - first_half).abs()
    cond = (
        (flip_share >= p["flips"])
        & (swing >= p["min_swing"] * level.abs())
        & (net < p["trend"] * swing)
    )
    if not cond.any():
        return None
    end = n - 1
    return Finding(
        "warning",
        None,
        (va.name,),
        f"valid loss over the last {w} evaluations (steps {va.at(end - w + 1)}–{va.at(end)}): "
        f"changes direction {_pct(float(flip_share[-1]))} of the time, typical swing "
        f"{_n(float(swing[-1]))} ({_pct(float(swing[-1] / max(abs(level[-1]), 1e-12)))} of "
        f"{_n(float(level[-1]))}), net change {_n(float(net[-1]))}",
        at_step=va.at(end),
        held=cond,
        held_steps=va.steps.slice(w - 1),
    )


@rule(
    "sft.both_high",
    "warning",
    "training and validation loss both stay high",
    "the task is too hard for the model: a larger model or a simpler task",
    """Both smoothed losses (rolling median of 5) are at least ``min_loss`` (1.0) and each has
    dropped less than ``max_drop`` (30%) from its starting level. Minimum points: 30 train, 3
    valid.""",
    about="""Neither loss comes down: the task is beyond this model, or badly posed.""",
    kind="sft",
    min_loss=1.0,
    max_drop=0.3,
    min_train_points=30,
    min_valid_points=3,
    smoothing=5,
)
def _sft_both_high(ctx: Context, p: dict[str, Any]) -> Finding | None:
    got = _losses(ctx, p)
    if got is None:
        return None
    tr, va, tr_s = got
    va_s = ctx.median(va, 5)
    tr_early, va_early = early_level(tr.values), early_level(va.values)
    if tr_early <= 0 or va_early <= 0:
        return None
    va_at = _align(va, tr.steps, va_s)
    cond = (
        (tr_s >= p["min_loss"])
        & (va_at >= p["min_loss"])
        & ((tr_early - tr_s) / tr_early < p["max_drop"])
        & ((va_early - va_at) / va_early < p["max_drop"])
    )
    return held_finding(
        tr,
        cond,
        p["min_train_points"],
        "warning",
        (tr.name, va.name),
        lambda: (
            f"at step {tr.at(-1)} train loss {_n(float(tr_s[-1]))} (started {_n(tr_early)}) "
            f"and valid loss {_n(float(va_at[-1]))} (started {_n(va_early)}), smoothed: both ≥ "
            f"{_n(p['min_loss'])} and down less than {_pct(p['max_drop'])}"
        ),
    )


@rule(
    "sft.gap_from_start",
    "warning",
    "large train–valid gap from the start",
    "add more, and better matched, training data",
    """At the first 3 validation points the valid loss is at least ``ratio`` (1.5) × the train
    loss (median of the train points up to then), and the gap is still at least ``persist`` (1.2)
    × at the latest point. Minimum points: 3 valid, 3 train.""",
    about="""Before any overfitting could happen, validation already looks different from training:
    the training data is too small or does not match what you validate on.""",
    kind="sft",
    ratio=1.5,
    persist=1.2,
    min_train_points=3,
    min_valid_points=3,
    smoothing=5,
)
def _sft_gap_from_start(ctx: Context, p: dict[str, Any]) -> Finding | None:
    got = _losses(ctx, p)
    if got is None:
        return None
    tr, va, tr_s = got
    k = 3
    upto = max(3, int(tr.steps.search_sorted(va.steps[k - 1], side="right")))
    train_start = median(tr.values.head(upto))
    valid_start = median(va.values.head(k))
    if train_start <= 0:
        return None
    start_ratio = valid_start / train_start
    now_ratio = median(va.values.tail(3)) / max(float(tr_s[-1]), 1e-12)
    if start_ratio < p["ratio"] or now_ratio < p["persist"]:
        return None
    return Finding(
        "warning",
        va.at(0),
        (va.name, tr.name),
        f"valid/train = {_n(start_ratio)} over the first {k} evaluations (valid {_n(valid_start)}, "
        f"train {_n(train_start)}, to step {va.at(k - 1)}); still {_n(now_ratio)} at step "
        f"{va.at(-1)}",
        at_step=va.at(-1),
    )
