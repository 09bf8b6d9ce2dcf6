"""Warnings that diagnose a run: the rules of ``DIAGNOSTICS.md`` over a run snapshot.

Each rule is written once against roles (``rltop.core.roles``), decides on smoothed series (a
trailing rolling median for levels, rolling means for trends), never on one noisy point, and stays
silent until it has its minimum number of points. Every threshold is a default that the config file
overrides (``[thresholds."rl.kl_spike"] factor = 20``; ``enabled = false`` turns a rule off).

``diagnose(run)`` evaluates one snapshot once (``rltop check``); ``Diagnoser`` keeps per-run state,
re-evaluates only runs whose ``version`` changed, tracks ``run.stalled`` against a clock, and reports
which warnings started, changed severity or cleared (``rltop watch``, the dashboard).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from rltop.core import roles as roles_mod
from rltop.core.store import RunSnapshot, StoreSnapshot

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
SEVERITY_RANK: dict[str, int] = {name: i for i, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Warning:  # the name the spec uses (shadows the builtin); ``RunWarning`` is an alias
    """One finding about one run, with the numbers behind it and what to do."""

    id: str
    severity: str
    run: str
    metrics: tuple[str, ...]
    step: int | None  # first step at which the condition held (the onset)
    evidence: str
    action: str
    title: str = ""
    run_id: str = ""
    at_step: int | None = None  # the latest step the evidence refers to

    @property
    def since(self) -> int | None:
        """The onset step (alias of ``step``)."""
        return self.step

    @property
    def key(self) -> tuple[str, str]:
        """(run, rule id): a run has at most one active warning per rule."""
        return (self.run_id or self.run, self.id)

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``rltop check --json`` and ``rltop watch --json``."""
        return {
            "id": self.id,
            "severity": self.severity,
            "run": self.run,
            "step": self.step,
            "metrics": list(self.metrics),
            "evidence": self.evidence,
            "action": self.action,
            "title": self.title,
        }


RunWarning = Warning


@dataclass(frozen=True)
class Finding:
    """What a rule returns: the run, id and title are added by the caller."""

    severity: str
    step: int | None
    metrics: tuple[str, ...]
    evidence: str
    action: str | None = None
    at_step: int | None = None


@dataclass(frozen=True)
class Rule:
    """A rule of the catalogue: id, default severity, the help text, defaults and its check."""

    id: str
    severity: str
    title: str
    help: str
    action: str
    defaults: dict[str, Any]
    check: Callable[[Context, dict[str, Any]], Finding | None]
    kind: str = "any"  # "sft" | "rl" | "any": the run kinds the rule applies to


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    severity: str,
    title: str,
    action: str,
    help: str,
    kind: str = "any",
    **defaults: Any,
) -> Callable[[Callable[[Context, dict[str, Any]], Finding | None]], Any]:
    """Register a rule function under its public id."""

    def wrap(func: Callable[[Context, dict[str, Any]], Finding | None]) -> Any:
        defaults.setdefault("enabled", True)
        RULES[id] = Rule(id, severity, title, " ".join(help.split()), action, defaults, func, kind)
        return func

    return wrap


# -- numbers ---------------------------------------------------------------------------------
def _n(x: float | None) -> str:
    """A number for evidence: 3 significant digits, no exponent in the usual ranges."""
    if x is None:
        return "—"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 0.01 or ax == 0:
        return f"{x:.3g}" if ax < 1 else f"{x:.2f}"
    return f"{x:.2g}"


fmt_number = _n


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


@dataclass
class Series:
    """One metric's finite points, by step."""

    name: str
    steps: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def at(self, i: int) -> int:
        return int(self.steps[i])


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing rolling median (the first points use what they have)."""
    if window <= 1 or len(values) == 0:
        return values
    return pl.Series(values).rolling_median(window, min_samples=1).to_numpy()


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def rolling_max(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) == 0:
        return values
    return pl.Series(values).rolling_max(window, min_samples=1).to_numpy()


def trailing_onset(cond: np.ndarray) -> int | None:
    """Index where the final run of True starts; None when the last point is False."""
    if len(cond) == 0 or not cond[-1]:
        return None
    false_at = np.flatnonzero(~cond)
    return int(false_at[-1] + 1) if len(false_at) else 0


def spread(values: np.ndarray) -> float:
    """The range a series moves in (5th to 95th percentile), never 0."""
    if len(values) == 0:
        return 1.0
    lo, hi = np.percentile(values, [5, 95])
    width = float(hi - lo)
    if width > 1e-12:
        return width
    return max(abs(float(np.mean(values))), 1e-9)


def noise(values: np.ndarray) -> float:
    """Robust point-to-point noise (sigma) from consecutive differences."""
    if len(values) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.diff(values))) / math.sqrt(2))


def early_level(values: np.ndarray) -> float:
    """Median of the first points (up to 10, at least 3): the level a run started at."""
    w = max(3, min(10, len(values) // 10))
    return float(np.median(values[:w]))


def valid_window(n: int) -> int:
    """Validation points per rolling median: 3 for sparse evaluations, up to 9 (an eighth of
    the points) when validation is frequent and each point is noisy."""
    return min(9, max(3, n // 8))


def trend_window(n: int, p: Mapping[str, Any]) -> int:
    """Points per trend window: ``window`` if set, else a quarter of the run within bounds."""
    if p.get("window"):
        return max(2, int(p["window"]))
    return int(min(max(p.get("min_window", 5), n // 4), p.get("max_window", 200)))


def warmup_points(n: int, p: Mapping[str, Any]) -> int:
    """Points of the early noisy phase that trend rules skip."""
    return int(max(p.get("warmup_points", 5), p.get("warmup_fraction", 0.1) * n))


def _align(src: Series, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values of ``src``-aligned array at ``steps`` (the latest point at or before each step)."""
    idx = np.searchsorted(src.steps, steps, side="right") - 1
    return values[np.clip(idx, 0, len(values) - 1)]


# -- context ---------------------------------------------------------------------------------
_NAN_WATCH = re.compile(r"loss|reward|grad_norm|(^|/)score", re.IGNORECASE)
_ERROR_REASON = re.compile(
    r"err|critical|fail|abort|exception|crash|violation|unsafe|invalid|harm", re.IGNORECASE
)
_LENGTH_STOP = {"length", "max_tokens", "max_length", "truncated", "truncation", "max_new_tokens"}


class Context:
    """What rules read: the run, its roles, its series (finite points) and a few derived ones."""

    def __init__(
        self,
        run: RunSnapshot,
        role_extra: Mapping[str, Iterable[str]] | None = None,
        *,
        now: float | None = None,
        last_activity: float | None = None,
        live: bool = False,
    ) -> None:
        self.run = run
        self.columns = [c for c in run.metrics.columns if c != "step"]
        self.roles = roles_mod.resolve(self.columns, role_extra)
        self.now = now
        self.last_activity = last_activity
        self.live = live
        self._steps: np.ndarray | None = None
        self._cache: dict[str, Series | None] = {}
        self._medians: dict[tuple[str, int, int], np.ndarray] = {}
        self.is_rl = any(
            r in self.roles for r in ("reward", "valid_reward", "pass_at_k", "max_at_k")
        )

    @property
    def steps(self) -> np.ndarray:
        if self._steps is None:
            self._steps = self.run.metrics.get_column("step").to_numpy()
        return self._steps

    def column(self, name: str) -> Series | None:
        """Finite points of a metric column (nulls and NaN left out; ``run.nan`` reports those)."""
        if name in self._cache:
            return self._cache[name]
        out = None
        if name in self.run.metrics.columns:
            values = self.run.metrics.get_column(name).to_numpy().astype(np.float64, copy=False)
            ok = np.isfinite(values)
            if ok.any():
                out = Series(name, self.steps[ok], values[ok])
        self._cache[name] = out
        return out

    def series(self, role: str) -> Series | None:
        name = self.roles.get(role)
        return self.column(name) if name else None

    def median(self, s: Series, window: int) -> np.ndarray:
        """Trailing rolling median of a series, computed once per context (rules share it)."""
        key = (s.name, len(s), int(window))
        got = self._medians.get(key)
        if got is None:
            got = self._medians[key] = rolling_median(s.values, int(window))
        return got


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


# -- supervised ------------------------------------------------------------------------------
def _losses(ctx: Context, p: dict[str, Any]) -> tuple[Series, Series, np.ndarray] | None:
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
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(train_at > 1e-12, va_s / train_at, np.nan)
    cond = np.nan_to_num(ratio, nan=0.0) >= p["mild"]
    cond[: int(p["min_valid_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    r = float(ratio[-1])
    if r >= p["severe"]:
        severity, action = "critical", "severe overfitting: deploy an earlier checkpoint"
    elif r >= p["moderate"]:
        severity, action = "warning", "moderate overfitting: train fewer epochs"
    else:
        severity, action = "info", "mild overfitting: acceptable for small datasets"
    best = int(np.argmin(va.values))
    return Finding(
        severity,
        va.at(start),
        (va.name, tr.name),
        f"valid/train = {_n(r)} at step {va.at(-1)} (valid {_n(float(va_s[-1]))}, "
        f"train {_n(float(train_at[-1]))}, smoothed); ≥ {_n(p['mild'])} since step "
        f"{va.at(start)}; best valid {_n(float(va.values[best]))} at step {va.at(best)}",
        action,
        at_step=va.at(-1),
    )


@rule(
    "sft.valid_rising",
    "warning",
    "validation loss rising above its best",
    "deploy the best checkpoint",
    """The smoothed valid loss (rolling median of 3 validation points, up to 9 when validation is
    frequent: an eighth of the points) is above ``factor`` (1.2) × its best so far. Minimum
    points: 4 valid.""",
    kind="sft",
    factor=1.2,
    min_points=4,
)
def _sft_valid_rising(ctx: Context, p: dict[str, Any]) -> Finding | None:
    va = ctx.series("valid_loss")
    if va is None or len(va) < p["min_points"]:
        return None
    va_s = ctx.median(va, valid_window(len(va)))
    best_so_far = np.minimum.accumulate(va_s)
    cond = (best_so_far > 0) & (va_s > best_so_far * p["factor"])
    cond[: int(p["min_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    b = int(np.argmin(va_s))
    raw_best = int(np.argmin(va.values))
    return Finding(
        "warning",
        va.at(start),
        (va.name,),
        f"valid loss {_n(float(va_s[-1]))} at step {va.at(-1)} (smoothed) = "
        f"{va_s[-1] / va_s[b]:.2f}× the best {_n(float(va_s[b]))} at step {va.at(b)}",
        f"deploy the best checkpoint: step {va.at(raw_best)} "
        f"(valid loss {_n(float(va.values[raw_best]))})",
        at_step=va.at(-1),
    )


@rule(
    "sft.train_flat",
    "warning",
    "training loss barely decreases",
    "raise the learning rate or clean the data",
    """The smoothed train loss at the end of the first part of training (the first ``fraction``
    (30%) of the points so far, at least ``min_points``) is less than ``min_drop`` (5%) below its
    starting level. Minimum points: 30 train.""",
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
    idx = np.arange(n)
    m = np.minimum(np.maximum(int(p["min_points"]), ((idx + 1) * p["fraction"]).astype(int)), n)
    late = sm[m - 1]
    drop = (early - late) / abs(early)
    cond = (drop < p["min_drop"]) & (idx + 1 >= p["min_points"])
    start = trailing_onset(cond)
    if start is None:
        return None
    end = int(m[-1]) - 1
    return Finding(
        "warning",
        tr.at(start),
        (tr.name,),
        f"train loss {_n(early)} at the start → {_n(float(late[-1]))} at step {tr.at(end)} "
        f"(smoothed, {-drop[-1] * 100:+.1f}%; less than {_pct(p['min_drop'])} drop over the "
        f"first {_pct(p['fraction'])} of training)",
        at_step=tr.at(-1),
    )


@rule(
    "sft.train_collapse",
    "warning",
    "training loss fell to about zero",
    "lower the learning rate or add harder examples",
    """The smoothed train loss (rolling median of 5) is at most ``floor`` (0.01) or ``relative``
    (2%) of its starting level, whichever is larger. Minimum points: 10 train.""",
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
    start_level = float(np.max(rolling_median(tr.values[: max(3, len(tr) // 10)], 3)))
    limit = max(p["floor"], p["relative"] * max(start_level, 0.0))
    sm = ctx.median(tr, int(p["smoothing"]))
    cond = sm <= limit
    cond[: min(2, len(cond))] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "warning",
        tr.at(start),
        (tr.name,),
        f"train loss {_n(float(sm[-1]))} at step {tr.at(-1)} (smoothed), ≤ {_n(limit)} since step "
        f"{tr.at(start)}; it started at {_n(start_level)}",
        at_step=tr.at(-1),
    )


def _first_epoch_end(ctx: Context, va: Series) -> tuple[int, str]:
    """Step where the first epoch ended (from an epoch metric), else a third of the run."""
    ep = ctx.series("epoch")
    if ep is not None and len(ep) > 1 and float(np.min(ep.values)) < 1.0:
        past = np.flatnonzero(ep.values >= 1.0)
        if len(past):
            return ep.at(int(past[0])), "the first epoch"
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
    kind="sft",
    tolerance=0.03,
    min_points=5,
)
def _sft_valid_plateau(ctx: Context, p: dict[str, Any]) -> Finding | None:
    va = ctx.series("valid_loss")
    if va is None:
        return None
    boundary, what = _first_epoch_end(ctx, va)
    after = np.flatnonzero(va.steps >= boundary)
    if len(after) < p["min_points"]:
        return None
    vals = va.values[after]
    ref = float(np.median(vals[:3]))
    if ref <= 0:
        return None
    sm = rolling_median(vals, 3)
    # flat: every smoothed point since the epoch ended stays within the band around its level
    outside = np.abs(sm - ref) / ref > p["tolerance"]
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
    d = np.diff(x)
    flips = (d[1:] * d[:-1] < 0).astype(np.float64)
    # windows of w points end at indices w-1 .. n-1
    win_x = np.lib.stride_tricks.sliding_window_view(x, w)
    win_d = np.lib.stride_tricks.sliding_window_view(np.abs(d), w - 1)
    win_f = np.lib.stride_tricks.sliding_window_view(flips, w - 2)
    flip_share = win_f.mean(axis=1)
    swing = np.median(win_d, axis=1)
    level = np.median(win_x, axis=1)
    half = w // 2
    net = np.abs(win_x[:, half:].mean(axis=1) - win_x[:, :half].mean(axis=1))
    cond = (
        (flip_share >= p["flips"])
        & (swing >= p["min_swing"] * np.abs(level))
        & (net < p["trend"] * swing)
    )
    start = trailing_onset(cond)
    if start is None:
        return None
    end = len(x) - 1
    return Finding(
        "warning",
        va.at(start + w - 1),
        (va.name,),
        f"valid loss over the last {w} evaluations (steps {va.at(end - w + 1)}–{va.at(end)}): "
        f"changes direction {_pct(float(flip_share[-1]))} of the time, typical swing "
        f"{_n(float(swing[-1]))} ({_pct(float(swing[-1] / max(abs(level[-1]), 1e-12)))} of "
        f"{_n(float(level[-1]))}), net change {_n(float(net[-1]))}",
        at_step=va.at(end),
    )


@rule(
    "sft.both_high",
    "warning",
    "training and validation loss both stay high",
    "the task is too hard for the model: a larger model or a simpler task",
    """Both smoothed losses (rolling median of 5) are at least ``min_loss`` (1.0) and each has
    dropped less than ``max_drop`` (30%) from its starting level. Minimum points: 30 train, 3
    valid.""",
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
    cond[: int(p["min_train_points"]) - 1] = False
    start = trailing_onset(cond)
    if start is None:
        return None
    return Finding(
        "warning",
        tr.at(start),
        (tr.name, va.name),
        f"at step {tr.at(-1)} train loss {_n(float(tr_s[-1]))} (started {_n(tr_early)}) and valid "
        f"loss {_n(float(va_at[-1]))} (started {_n(va_early)}), smoothed: both ≥ "
        f"{_n(p['min_loss'])} and down less than {_pct(p['max_drop'])}",
        at_step=tr.at(-1),
    )


@rule(
    "sft.gap_from_start",
    "warning",
    "large train–valid gap from the start",
    "add more, and better matched, training data",
    """At the first 3 validation points the valid loss is at least ``ratio`` (1.5) × the train
    loss (median of the train points up to then), and the gap is still at least ``persist`` (1.2)
    × at the latest point. Minimum points: 3 valid, 3 train.""",
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
    upto = max(3, int(np.searchsorted(tr.steps, va.steps[k - 1], side="right")))
    train_start = float(np.median(tr.values[:upto]))
    valid_start = float(np.median(va.values[:k]))
    if train_start <= 0:
        return None
    start_ratio = valid_start / train_start
    now_ratio = float(np.median(va.values[-3:])) / max(float(tr_s[-1]), 1e-12)
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


# -- evaluation ------------------------------------------------------------------------------
#: parameters every trend rule understands besides its own (see ``trend_window``, ``warmup_points``)
COMMON_PARAMS = ("window", "min_window", "max_window", "warmup_points", "warmup_fraction")


def rule_params(
    rule_id: str, thresholds: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A rule's defaults with the user's overrides applied."""
    params = dict(RULES[rule_id].defaults)
    params.update((thresholds or {}).get(rule_id, {}))
    return params


def check_thresholds(thresholds: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Problems in a thresholds table: unknown rule ids or parameter names (for the config)."""
    problems = []
    for rule_id, params in thresholds.items():
        if rule_id not in RULES:
            problems.append(f"unknown rule id in [thresholds]: {rule_id!r}")
            continue
        if not isinstance(params, Mapping):
            problems.append(f"[thresholds.{rule_id!r}] must be a table")
            continue
        for key in params:
            if key not in RULES[rule_id].defaults and key not in COMMON_PARAMS:
                problems.append(f"unknown threshold {key!r} for {rule_id}")
    return problems


def diagnose(
    run: RunSnapshot,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    role_extra: Mapping[str, Iterable[str]] | None = None,
    *,
    now: float | None = None,
    last_activity: float | None = None,
    live: bool = False,
    skip: Iterable[str] = (),
) -> list[Warning]:
    """Every rule over one run, once. ``run.stalled`` needs ``now``, ``last_activity``, ``live``."""
    ctx = Context(run, role_extra, now=now, last_activity=last_activity, live=live)
    skipped = set(skip)
    out = []
    for rule_id, r in RULES.items():
        if rule_id in skipped:
            continue
        if r.kind == "sft" and ctx.is_rl:
            continue
        if r.kind == "rl" and not ctx.is_rl:
            continue
        params = rule_params(rule_id, thresholds)
        if not params.get("enabled", True):
            continue
        found = r.check(ctx, params)
        if found is None:
            continue
        out.append(
            Warning(
                id=rule_id,
                severity=found.severity,
                run=run.name,
                metrics=found.metrics,
                step=found.step,
                evidence=found.evidence,
                action=found.action or r.action,
                title=r.title,
                run_id=run.run_id,
                at_step=found.at_step,
            )
        )
    out.sort(key=lambda w: (-w.rank, w.id))
    return out


@dataclass
class WarningsUpdate:
    """The result of one ``Diagnoser.update``: what is active, and what moved since last time."""

    active: list[Warning]
    started: list[Warning] = field(default_factory=list)
    changed: list[Warning] = field(default_factory=list)  # same id, new severity
    cleared: list[Warning] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return bool(self.started or self.changed or self.cleared)


@dataclass
class _RunState:
    version: int | None = None
    sources_key: tuple = ()
    data: list[Warning] = field(default_factory=list)
    health: list[Warning] = field(default_factory=list)
    last_activity: float | None = None
    live: bool = False


def _newest_mtime(run: RunSnapshot) -> float | None:
    newest = None
    for src in run.sources:
        try:
            mtime = os.stat(src.path).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest


class Diagnoser:
    """Keeps warnings per run up to date as snapshots arrive; cheap when nothing changed.

    Data rules run again only for runs whose ``version`` moved; ``run.unreadable`` when a
    source's skip count or status moved; ``run.stalled`` on every update against ``clock``. State
    is a fixed amount per run (no history), so a headless watch can run for days.
    """

    def __init__(
        self,
        thresholds: Mapping[str, Mapping[str, Any]] | None = None,
        role_extra: Mapping[str, Iterable[str]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        stalled: bool = True,
    ) -> None:
        self.thresholds = dict(thresholds or {})
        self.role_extra = dict(role_extra or {})
        self.clock = clock
        self.stalled = stalled
        self._runs: dict[str, _RunState] = {}
        self._active: dict[tuple[str, str], Warning] = {}
        self.evaluations = 0  # data-rule evaluations done (for tests and benchmarks)

    def update(self, snapshot: StoreSnapshot | Iterable[RunSnapshot]) -> WarningsUpdate:
        """Re-evaluate what changed and return the active warnings with what started/cleared."""
        runs = snapshot.runs if isinstance(snapshot, StoreSnapshot) else tuple(snapshot)
        now = self.clock()
        seen = set()
        current: dict[tuple[str, str], Warning] = {}
        for run in runs:
            seen.add(run.run_id)
            state = self._runs.setdefault(run.run_id, _RunState())
            self._track_activity(state, run, now)
            if run.version != state.version:
                state.data = diagnose(
                    run,
                    self.thresholds,
                    self.role_extra,
                    skip=("run.unreadable", "run.stalled"),
                )
                state.version = run.version
                self.evaluations += 1
            key = tuple((s.path, s.skipped, s.status) for s in run.sources)
            if key != state.sources_key:
                state.sources_key = key
                state.health = self._only(run, "run.unreadable")
            stalled = []
            if self.stalled:
                stalled = self._only(
                    run,
                    "run.stalled",
                    now=now,
                    last_activity=state.last_activity,
                    live=state.live,
                )
            for w in (*state.data, *state.health, *stalled):
                current[w.key] = w
        for run_id in [r for r in self._runs if r not in seen]:
            del self._runs[run_id]
        update = WarningsUpdate(active=sorted(current.values(), key=_order))
        for key, w in current.items():
            old = self._active.get(key)
            if old is None:
                update.started.append(w)
            elif old.severity != w.severity:
                update.changed.append(w)
        update.cleared = [w for key, w in self._active.items() if key not in current]
        self._active = current
        return update

    @property
    def active(self) -> list[Warning]:
        return sorted(self._active.values(), key=_order)

    def _only(self, run: RunSnapshot, rule_id: str, **kwargs: Any) -> list[Warning]:
        if not rule_params(rule_id, self.thresholds).get("enabled", True):
            return []
        others = [r for r in RULES if r != rule_id]
        return diagnose(run, self.thresholds, self.role_extra, skip=others, **kwargs)

    def _track_activity(self, state: _RunState, run: RunSnapshot, now: float) -> None:
        limit = float(rule_params("run.stalled", self.thresholds)["minutes"]) * 60
        if state.version is None:
            # first sight: the run counts as writing if its files changed recently
            newest = _newest_mtime(run)
            state.last_activity = newest if newest is not None else run.last_update
            state.live = state.last_activity is not None and now - state.last_activity < limit
        elif run.version != state.version:
            # new data: the store stamps when it arrived (``last_update``, wall clock)
            state.last_activity = run.last_update if run.last_update is not None else now
            state.live = True


def _order(w: Warning) -> tuple:
    return (-w.rank, w.run, w.id)


def worst(warnings: Iterable[Warning]) -> str | None:
    """The highest severity among warnings, or None."""
    best = None
    for w in warnings:
        if best is None or w.rank > SEVERITY_RANK[best]:
            best = w.severity
    return best
