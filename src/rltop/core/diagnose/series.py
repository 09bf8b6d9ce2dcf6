"""The numeric toolkit rules share (and ``checkpoint.py`` and ``commands/check.py`` import)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl


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
    if window > 15 or len(values) < window:
        return pl.Series(values).rolling_median(window, min_samples=1).to_numpy()
    # short windows: numpy over a strided view (no per-call thread pool start-up)
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(len(values))
    out[window - 1 :] = np.median(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)
    head = values[: window - 1].tolist()
    for i in range(window - 1):
        part = sorted(head[: i + 1])
        mid = len(part) // 2
        out[i] = part[mid] if len(part) % 2 else (part[mid - 1] + part[mid]) / 2
    return out


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


def sustained_onset(on: np.ndarray, hold: int, clear: int) -> int | None:
    """Index where the hold still active at the last point began, or None when there is none.

    Points where ``on`` is False for fewer than ``clear`` consecutive points do not break a hold
    (flicker tolerance; hysteresis on clear); a hold needs ``hold`` True points to count."""
    t = np.flatnonzero(on)
    if not len(t) or len(on) - 1 - int(t[-1]) >= clear:
        return None
    breaks = np.flatnonzero(np.diff(t) > clear)
    first = int(breaks[-1]) + 1 if len(breaks) else 0
    if len(t) - first < hold:
        return None
    return int(t[first])


def settle(levels: np.ndarray, hold: int, clear: int) -> tuple[int, int] | None:
    """(severity rank, onset index) of a per-point severity array (-1 = not held): the highest
    tier whose hold is still active, dated from the start of that tier's hold."""
    if not len(levels):
        return None
    top = int(levels[-clear:].max())
    for tier in range(top, -1, -1):
        start = sustained_onset(levels >= tier, hold, clear)
        if start is not None:
            return tier, start
    return None


def print_precision(values: np.ndarray) -> float:
    """The step of the decimals a series was printed with (0.001 for ``0.000``/``0.001``), or 0.0
    when its values carry full precision. A level below it reads 0 and is no ratio's baseline."""
    v = values[np.isfinite(values)][-500:]
    if not len(v) or not np.any(v):
        return 0.0
    for decimals in range(0, 7):
        scaled = v * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 10.0**-decimals if decimals else 0.0 if np.any(v != np.round(v)) else 1.0
    return 0.0


def hinge_point(values: np.ndarray, k_min: int = 0) -> tuple[int, float]:
    """Change point of a series that bends: the index ``k`` minimising the squared error of the
    continuous two-piece line ``a + b·t + c·max(t − k, 0)`` (the start of a decline after a
    rise or a plateau), and the residual sum of squares. Vectorised over every ``k`` with
    prefix sums: O(n)."""
    n = len(values)
    t = np.arange(n, dtype=np.float64)
    y = values.astype(np.float64) - float(np.mean(values))
    ks = np.arange(1, n - 2, dtype=np.float64)
    # suffix sums over t > k
    rc = np.cumsum(np.ones(n)[::-1])[::-1]
    r1 = np.cumsum(t[::-1])[::-1]
    r2 = np.cumsum((t * t)[::-1])[::-1]
    ry = np.cumsum(y[::-1])[::-1]
    rty = np.cumsum((t * y)[::-1])[::-1]
    idx = ks.astype(int) + 1
    c, s1, s2, sy, sty = rc[idx], r1[idx], r2[idx], ry[idx], rty[idx]
    sh = s1 - ks * c
    shh = s2 - 2 * ks * s1 + ks * ks * c
    sth = s2 - ks * s1
    shy = sty - ks * sy
    st, stt, sy_all, sty_all = t.sum(), (t * t).sum(), y.sum(), (t * y).sum()
    m = np.empty((len(ks), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = n, st, sh
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = st, stt, sth
    m[:, 2, 0], m[:, 2, 1], m[:, 2, 2] = sh, sth, shh
    rhs = np.stack([np.full(len(ks), sy_all), np.full(len(ks), sty_all), shy], axis=1)
    m[:, [0, 1, 2], [0, 1, 2]] += 1e-9
    beta = np.linalg.solve(m, rhs[..., None])[..., 0]
    # residual sum of squares = y·y − beta·rhs (least squares)
    rss = float((y * y).sum()) - np.einsum("ij,ij->i", beta, rhs)
    rss[ks < k_min] = np.inf
    best = int(np.argmin(rss))
    return int(ks[best]), float(rss[best])


def _level_shift(values: np.ndarray, k_min: int = 0) -> tuple[int, float]:
    """(index where the second level starts, residual sum of squares) of the best two-mean split."""
    n = len(values)
    y = values.astype(np.float64) - float(np.mean(values))
    c = np.cumsum(y)[:-1]
    k = np.arange(1, n, dtype=np.float64)
    total = float(y.sum())
    rss = float((y * y).sum()) - c * c / k - (total - c) ** 2 / (n - k)
    rss[k < k_min] = np.inf
    best = int(np.argmin(rss))
    return best + 1, float(rss[best])


def change_point(values: np.ndarray, k_min: int = 0) -> int:
    """Where a series changed: the better fit of a level shift (two means) and a bend (two-piece
    line, ``hinge_point``), at index ``k_min`` or later (the fit uses every point). A step dates
    from the step, a ramp from where it began."""
    if len(values) < 4:
        return 0
    if len(values) > 1024:  # long series: block means, the answer scaled back (cost bounded)
        f = -(-len(values) // 1024)
        m = len(values) // f
        blocks = values[: m * f].reshape(m, f).mean(axis=1)
        return min(len(values) - 1, change_point(blocks, k_min // f) * f)
    k_min = min(max(0, k_min), len(values) - 3)
    k_bend, rss_bend = hinge_point(values, k_min)
    k_step, rss_step = _level_shift(values, k_min)
    return k_step if rss_step <= rss_bend else k_bend


def backdate(cond: np.ndarray, start: int) -> np.ndarray:
    """``cond`` with the hold that follows index ``start`` extended back to it: a trend rule that
    found where its change began (a change point) dates its warning from there, not from the
    point its evidence became strong enough."""
    out = np.asarray(cond, dtype=bool).copy()
    t = np.flatnonzero(out[max(0, start) :])
    if len(t):
        out[max(0, start) : max(0, start) + int(t[0])] = True
    return out


def false_run_end(ok: np.ndarray, clear: int) -> int:
    """Index where ``ok`` has first been False for ``clear`` points in a row (the end of a hold),
    or ``len(ok)`` when that never happens."""
    bad = (~ok).astype(np.int64)
    if len(bad) < clear:
        return len(ok)
    csum = np.concatenate(([0], np.cumsum(bad)))
    full = np.flatnonzero(csum[clear:] - csum[:-clear] == clear)
    return int(full[0]) if len(full) else len(ok)
