"""Round, evenly spaced axis ticks and their labels (headless: the chart and tests use them)."""

from __future__ import annotations

import math


def nice_step(span: float, most: int, *, integer: bool = False) -> float:
    """The smallest 1, 2 or 5 × 10^k step that covers ``span`` in at most ``most`` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, most)
    if integer and raw <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw * (1 - 1e-9):
            return float(round(m * power)) if integer else m * power
    return 10 * power


def nice_ticks(lo: float, hi: float, most: int, *, integer: bool = False) -> list[float]:
    """Ticks at multiples of a round step, from at or below ``lo`` to at or above ``hi``.

    ``integer``: the step is a whole number (steps of training are never 5.8). A flat range is
    widened around its value so a constant series still gets a few round labels.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = 1.0 if integer else (abs(lo) * 0.1 or 1.0)
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, max(1, most - 1), integer=integer)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    # k * step, not a running sum: no 0.6000000000000001
    return [_tidy(k * step, step) for k in range(first, last + 1)]


def _tidy(value: float, step: float) -> float:
    digits = max(0, -math.floor(math.log10(step)) + 2)
    return round(value, digits) + 0.0  # + 0.0: never -0.0


def tick_labels(ticks: list[float]) -> list[str]:
    """Labels with as many decimals as the ticks need, no float noise (never 1.00000000000000022)."""
    if not ticks:
        return []
    biggest = max(abs(t) for t in ticks)
    if biggest >= 1e6 or 0 < biggest < 1e-3:
        exponent = math.floor(math.log10(biggest))
        scaled = [t / 10**exponent for t in ticks]
        return [f"{_plain(s)}e{exponent}" if s else "0" for s in scaled]
    return _plain_all(ticks)


def _plain_all(values: list[float]) -> list[str]:
    for decimals in range(0, 10):
        if all(abs(round(v, decimals) - v) < 1e-9 * max(1.0, abs(v)) for v in values):
            return [f"{v:.{decimals}f}" for v in values]
    return [f"{v:.6g}" for v in values]


def _plain(value: float) -> str:
    return _plain_all([value])[0]


def log_ticks(lo: float, hi: float, most: int) -> list[float]:
    """Ticks for a log axis, in log10 units: whole powers of ten (every other one when crowded)."""
    first, last = math.floor(lo), math.ceil(hi)
    if last == first:
        last = first + 1
    every = max(1, math.ceil((last - first) / max(1, most - 1)))
    return [float(p) for p in range(first, last + 1, every)]


def log_tick_labels(ticks: list[float]) -> list[str]:
    labels = []
    for power in ticks:
        value = 10**power
        labels.append(f"{value:g}" if -3 <= power <= 4 else f"1e{int(power)}")
    return labels


def _ladder(start: float):
    """1, 2, 5 × 10^k steps from the one at or above ``start`` upwards."""
    power = 10 ** math.floor(math.log10(start))
    while True:
        for m in (1, 2, 5):
            if m * power >= start * (1 - 1e-9):
                yield m * power
        power *= 10


def even_ticks(lo: float, hi: float, rows: int, most: int) -> list[float]:
    """Round ticks that fall on evenly spaced rows of an axis ``rows`` rows tall.

    The axis spans the first to the last tick; ``rows - 1`` must be a multiple of the number of
    intervals for every label to sit the same number of rows from the next, so the range is
    widened (by whole steps, above and below) until it is, with at most ``most`` labels.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    gaps = max(1, rows - 1)
    most = max(2, min(most, gaps + 1))
    for tries, step in enumerate(_ladder(nice_step(hi - lo, most - 1))):
        first = math.floor(lo / step + 1e-9)
        last = math.ceil(hi / step - 1e-9)
        need = max(1, last - first)
        fits = [k for k in range(need, most) if gaps % k == 0]
        if fits:
            k = fits[0]
            extra = k - need
            first -= extra // 2
            if first < 0 <= math.floor(lo / step + 1e-9):
                first = 0  # never push a non-negative axis below zero for symmetry's sake
            return [_tidy((first + i) * step, step) for i in range(k + 1)]
        if tries > 12:
            break
    return nice_ticks(lo, hi, most)


def fit_ticks(lo: float, hi: float, rows: int, *, every: int = 3) -> tuple[int, list[float]]:
    """Even round ticks for an axis of up to ``rows`` rows, and how many rows to use.

    Giving up one or two rows often allows a much tighter set of ticks (19 rows split only into
    1 or 19 equal parts, 18 rows into 2, 3, 6 or 9): the choice wastes the least of the axis on
    empty range. About one label every ``every`` rows.
    """
    best: tuple[float, int, list[float]] | None = None
    for used in range(rows, max(1, rows - max(2, rows // 8)) - 1, -1):
        # small axes: a label on any row (a 4-row plot still gets 0, 0.2, 0.4, 0.6)
        most = used // every + 1 if used >= 3 * every else max(2, used)
        ticks = even_ticks(lo, hi, used, most)
        if len(ticks) < 2:
            continue
        span = ticks[-1] - ticks[0]
        waste = 1 - (max(hi - lo, 0.0) / span if span > 0 else 1)
        score = waste + 0.01 * (rows - used) + (0.3 if len(ticks) < 3 and used >= 5 else 0)
        if best is None or score < best[0]:
            best = (score, used, ticks)
    if best is None:
        return rows, nice_ticks(lo, hi, 2)
    return best[1], best[2]
