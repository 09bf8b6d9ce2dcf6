"""The numeric toolkit rules share (and ``checkpoint.py`` and ``commands/check.py`` import).

Series are polars ``Series`` (never numpy: ``rltop check`` does not import numpy at all). Helpers
here never change a series in place: a rule's smoothed series is shared through ``Context.median``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from rltop.core.cols import named


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


@dataclass(eq=False)
class Series:
    """One metric's finite points, by step (``steps`` Int64, ``values`` Float64)."""

    name: str
    steps: pl.Series
    values: pl.Series

    def __len__(self) -> int:
        return len(self.values)

    def at(self, i: int) -> int:
        return int(self.steps[i])


# -- building blocks (polars; a new series each time) -------------------------------------------
# Many polars ``Series`` methods run as a one-expression query (a few hundred microseconds each);
# the helpers below stay on the direct ones (slicing, filtering, arithmetic, ``zip_with``) where a
# rule calls them often.
def arange(n: int, start: int = 0) -> pl.Series:
    """``start, start + 1, ..., n - 1`` as Int64."""
    return pl.int_range(start, max(start, n), eager=True, dtype=pl.Int64)


def const(value: Any, n: int, dtype: Any) -> pl.Series:
    """``value`` ``n`` times."""
    return pl.Series([value], dtype=dtype).new_from_index(0, n) if n else pl.Series([], dtype=dtype)


def no_nulls(cond: pl.Series) -> pl.Series:
    """A condition with its nulls False (unchanged, and not copied, when it has none)."""
    return cond.fill_null(False) if cond.null_count() else cond


def fill_range(s: pl.Series, lo: int, hi: int | None, value: Any) -> pl.Series:
    """``s`` with positions ``lo`` to ``hi`` (exclusive, Python slice bounds) set to ``value``."""
    n = len(s)
    lo, hi, _ = slice(lo, hi).indices(n)
    if hi <= lo:
        return s
    parts = [s.slice(0, lo), const(value, hi - lo, s.dtype), s.slice(hi)]
    return pl.concat([p for p in parts if len(p)]).alias(s.name)


def mask_head(cond: pl.Series, k: int) -> pl.Series:
    """A boolean condition with its first ``k`` points False (a rule's minimum points)."""
    return fill_range(cond, 0, max(0, int(k)), False)


def where(mask: pl.Series, a: Any, b: Any) -> pl.Series:
    """``a`` where ``mask`` (null = False), else ``b``; each a series or a scalar."""
    n = len(mask)
    if not isinstance(a, pl.Series):
        a = const(a, n, b.dtype if isinstance(b, pl.Series) else None)
    if not isinstance(b, pl.Series):
        b = const(b, n, a.dtype)
    if a.dtype != b.dtype:
        a, b = a.cast(pl.Float64), b.cast(pl.Float64)
    return a.zip_with(no_nulls(mask), b)


def arg_true(cond: pl.Series) -> pl.Series:
    """Indexes where a condition holds (nulls do not)."""
    return arange(len(cond)).filter(cond)


def first_true(cond: pl.Series) -> int | None:
    idx = arg_true(cond)
    return int(idx[0]) if len(idx) else None


def last_true(cond: pl.Series) -> int | None:
    idx = arg_true(cond)
    return int(idx[-1]) if len(idx) else None


def diff(values: pl.Series) -> pl.Series:
    """Consecutive differences (one fewer than the points)."""
    n = len(values)
    return values.slice(1) - values.slice(0, max(0, n - 1))


def rolling_median(values: pl.Series, window: int) -> pl.Series:
    """Trailing rolling median (the first points use what they have)."""
    if window <= 1 or len(values) == 0:
        return values
    return values.cast(pl.Float64).rolling_median(window, min_samples=1)


def rolling_mean(values: pl.Series, window: int) -> pl.Series:
    if window <= 1 or len(values) == 0:
        return values
    return values.cast(pl.Float64).rolling_mean(window, min_samples=1)


def rolling_max(values: pl.Series, window: int) -> pl.Series:
    if window <= 1 or len(values) == 0:
        return values
    return values.rolling_max(window, min_samples=1)


def trailing_onset(cond: pl.Series) -> int | None:
    """Index where the final run of True starts; None when the last point is False."""
    if len(cond) == 0 or not cond[-1]:
        return None
    false_at = last_true(~no_nulls(cond))
    return false_at + 1 if false_at is not None else 0


def spread(values: pl.Series) -> float:
    """The range a series moves in (5th to 95th percentile), never 0."""
    if len(values) == 0:
        return 1.0
    ordered = values.sort()
    width = quantile(ordered, 0.95) - quantile(ordered, 0.05)
    if width > 1e-12:
        return width
    return max(abs(float(values.mean())), 1e-9)  # type: ignore[arg-type]


def quantile(ordered: pl.Series, q: float) -> float:
    """The ``q`` quantile of a sorted series, linear between the two nearest points (as
    numpy's ``percentile``)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    a, b = float(ordered[lo]), float(ordered[hi])
    return a + (b - a) * (pos - lo)


def noise(values: pl.Series) -> float:
    """Robust point-to-point noise (sigma) from consecutive differences."""
    if len(values) < 3:
        return 0.0
    return float(1.4826 * diff(values).abs().median() / math.sqrt(2))  # type: ignore[operator]


def median(values: pl.Series) -> float:
    """The median of a series (NaN when it is empty, as numpy's)."""
    got = values.median()
    return float("nan") if got is None else float(got)  # type: ignore[arg-type]


def num(x: Any) -> float:
    """A series element as a float (a null is NaN)."""
    return float("nan") if x is None else float(x)


def div(a: float, b: float) -> float:
    """``a / b`` as numpy divides floats: ±inf or NaN rather than an error for ``b == 0``."""
    if b:
        return a / b
    return float("nan") if a == 0 or math.isnan(a) else math.copysign(math.inf, a)


def mean(values: pl.Series) -> float:
    got = values.mean()
    return float("nan") if got is None else float(got)  # type: ignore[arg-type]


def early_level(values: pl.Series) -> float:
    """Median of the first points (up to 10, at least 3): the level a run started at."""
    w = max(3, min(10, len(values) // 10))
    return median(values.head(w))


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


def _align(src: Series, steps: pl.Series, values: pl.Series) -> pl.Series:
    """Values of ``src``-aligned series at ``steps`` (the latest point at or before each step)."""
    idx = src.steps.search_sorted(steps, side="right").cast(pl.Int64) - 1
    return values.gather(idx.clip(0, len(values) - 1))


def align_held(src: Series, steps: pl.Series, cond: pl.Series) -> pl.Series:
    """A condition of ``src`` at ``steps`` (as of the latest point at or before each step)."""
    return _align(src, steps, no_nulls(cond))


# -- when a warning starts and clears ---------------------------------------------------------
def hold_points(n: int, p: Mapping[str, Any]) -> tuple[int, int]:
    """(points a condition must hold to start a warning, points it must be false to clear it).

    ``hold_points`` (1) and ``clear_points`` (5% of the points, 8 to 50) override them. A false
    stretch shorter than the clear length is a flicker: the warning and its onset stay."""
    hold = int(p.get("hold_points") or 1)
    clear = p.get("clear_points")
    if not clear:
        clear = min(50, max(8, round(0.05 * n)))
    return max(1, hold), max(1, int(clear))


def sustained_onset(on: pl.Series, hold: int, clear: int) -> int | None:
    """Index where the hold still active at the last point began, or None when there is none.

    Points where ``on`` is False for fewer than ``clear`` consecutive points do not break a hold
    (flicker tolerance; hysteresis on clear); a hold needs ``hold`` True points to count."""
    t = arg_true(on)
    if not len(t) or len(on) - 1 - int(t[-1]) >= clear:
        return None
    # diff(t)[j] = t[j + 1] - t[j]: a gap longer than ``clear`` starts a new hold at j + 1
    gap = last_true(diff(t) > clear)
    first = gap + 1 if gap is not None else 0
    if len(t) - first < hold:
        return None
    return int(t[first])


def settle(levels: pl.Series, hold: int, clear: int) -> tuple[int, int] | None:
    """(severity rank, onset index) of a per-point severity series (-1 = not held): the highest
    tier whose hold is still active, dated from the start of that tier's hold."""
    if not len(levels):
        return None
    top = int(levels.tail(clear).max())  # type: ignore[arg-type]
    for tier in range(top, -1, -1):
        start = sustained_onset(levels >= tier, hold, clear)
        if start is not None:
            return tier, start
    return None


def print_precision(values: pl.Series) -> float:
    """The step of the decimals a series was printed with (0.001 for ``0.000``/``0.001``), or 0.0
    when its values carry full precision. A level below it reads 0 and is no ratio's baseline."""
    v = values.filter(values.is_finite()).tail(500)
    if not len(v) or not (v != 0).any():
        return 0.0
    # for each number of decimals (0 to 6), whether every value is printed with at most that many
    x = named(v.name)
    fits = v.to_frame().select(
        (
            ((x * 10.0**d - (x * 10.0**d).round()).abs())
            < 1e-6 * (x * 10.0**d).abs().clip(lower_bound=1.0)
        )
        .all()
        .alias(str(d))
        for d in range(7)
    )
    for decimals, ok in enumerate(fits.row(0)):
        if ok:
            return 10.0**-decimals if decimals else 0.0 if (v != v.round()).any() else 1.0
    return 0.0


def _suffix(x: pl.Series) -> pl.Series:
    return x.cum_sum(reverse=True)


def hinge_point(values: pl.Series, k_min: int = 0) -> tuple[int, float]:
    """Change point of a series that bends: the index ``k`` minimising the squared error of the
    continuous two-piece line ``a + b·t + c·max(t − k, 0)`` (the start of a decline after a
    rise or a plateau), and the residual sum of squares. Every ``k`` at once with suffix sums:
    O(n). The line ``a + b·t`` is projected out first (``1`` and the centred ``t`` are
    orthogonal), so each ``k`` adds one regressor: rss = rss(line) − (h·y⊥)² / ‖h⊥‖²."""
    n = len(values)
    y = values.cast(pl.Float64)
    y = y - float(y.mean())  # type: ignore[arg-type]
    t = arange(n).cast(pl.Float64)
    t_mean = (n - 1) / 2.0
    tc = t - t_mean
    tt = float((tc * tc).sum())
    slope = float((tc * y).sum()) / tt
    yp = y - slope * tc  # y with the line projected out
    rss_line = float((yp * yp).sum())
    ks = arange(n - 2, 1).cast(pl.Float64)  # k = 1 .. n - 3
    j = ks + 1  # the first t past each k: sums over t = j .. n - 1
    last = float(n - 1)
    c = n - j
    s1 = (j + last) * c / 2
    s2 = last * (last + 1) * (2 * last + 1) / 6 - (j - 1) * j * (2 * j - 1) / 6
    sy = _suffix(yp).slice(2, n - 3)
    sty = _suffix(t * yp).slice(2, n - 3)
    sh = s1 - ks * c  # Σ h
    shh = s2 - 2 * ks * s1 + ks * ks * c  # Σ h²
    sth = s2 - ks * s1  # Σ t·h
    hy = sty - ks * sy  # h · y⊥
    tch = sth - t_mean * sh  # Σ (t − t̄)·h
    hh = shh - sh * sh / n - tch * tch / tt
    hh = hh.zip_with(hh >= 1e-9, const(1e-9, len(hh), pl.Float64))
    rss = rss_line - hy * hy / hh
    rss = fill_range(rss, 0, max(0, k_min - 1), float("inf"))  # k < k_min
    best = int(rss.arg_min())  # type: ignore[arg-type]
    return int(ks[best]), float(rss[best])


def _level_shift(values: pl.Series, k_min: int = 0) -> tuple[int, float]:
    """(index where the second level starts, residual sum of squares) of the best two-mean split."""
    n = len(values)
    y = values.cast(pl.Float64)
    y = y - float(y.mean())  # type: ignore[arg-type]
    c = y.cum_sum().head(n - 1)
    k = arange(n, 1).cast(pl.Float64)
    total = float(y.sum())
    rss = float((y * y).sum()) - c * c / k - (total - c) ** 2 / (n - k)
    rss = fill_range(rss, 0, max(0, k_min - 1), float("inf"))  # k < k_min
    best = int(rss.arg_min())  # type: ignore[arg-type]
    return best + 1, float(rss[best])


def change_point(values: pl.Series, k_min: int = 0) -> int:
    """Where a series changed: the better fit of a level shift (two means) and a bend (two-piece
    line, ``hinge_point``), at index ``k_min`` or later (the fit uses every point). A step dates
    from the step, a ramp from where it began."""
    if len(values) < 4:
        return 0
    if len(values) > 1024:  # long series: block means, the answer scaled back (cost bounded)
        f = -(-len(values) // 1024)
        m = len(values) // f
        blocks = values.head(m * f).cast(pl.Float64).reshape((m, f)).arr.sum() / f
        return min(len(values) - 1, change_point(blocks, k_min // f) * f)
    k_min = min(max(0, k_min), len(values) - 3)
    k_bend, rss_bend = hinge_point(values, k_min)
    k_step, rss_step = _level_shift(values, k_min)
    return k_step if rss_step <= rss_bend else k_bend


def backdate(cond: pl.Series, start: int) -> pl.Series:
    """``cond`` with the hold that follows index ``start`` extended back to it: a trend rule that
    found where its change began (a change point) dates its warning from there, not from the
    point its evidence became strong enough."""
    start = max(0, start)
    out = no_nulls(cond)
    first = first_true(out.slice(start))
    if first is not None:
        out = fill_range(out, start, start + first, True)
    return out


def false_run_end(ok: pl.Series, clear: int) -> int:
    """Index where ``ok`` has first been False for ``clear`` points in a row (the end of a hold),
    or ``len(ok)`` when that never happens."""
    if len(ok) < clear:
        return len(ok)
    bad = (~no_nulls(ok)).cast(pl.Int64)
    full = first_true(bad.rolling_sum(clear) == clear)  # windows ending at each index
    return full - clear + 1 if full is not None else len(ok)
