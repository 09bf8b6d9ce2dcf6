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
