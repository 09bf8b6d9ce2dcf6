"""A long series reduced to what a plot of a given width can show: a min/max envelope per column.

A chart ``columns`` dots wide cannot show more than one column of dots per step range; drawing
10,000 points there costs plotext ~100x what drawing the envelope costs, for the same picture.
Each column keeps its lowest and highest value (in the order they were logged), so a one-step
spike stays visible, unlike a mean or a stride.

Columns are ranges of steps of a width taken from a fixed ladder (1, 2, 3, 4, 6, 8, 12, 16, ...),
aligned to multiples of that width: a new step of a live run changes only the last column (or
opens a new one), never the columns before it, so a chart can tell cheaply whether what it draws
changed (``Envelope`` compares equal when the picture would be the same).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Envelope:
    """Points to draw: ``xs`` (a column's first step, or the step itself at full resolution) and
    ``ys``; one or two points per column (lowest and highest value, in logged order)."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    width: int  # steps per column (1: every finite point is kept)

    def __len__(self) -> int:
        return len(self.xs)


def column_width(first: float, last: float, columns: int) -> int:
    """The smallest width of the ladder 1, 2, 3, 4, 6, 8, 12, 16, ... (2^k and 3 * 2^k) whose
    aligned columns (``floor(step / width)``) from ``first`` to ``last`` number at most ``columns``."""
    if columns <= 0 or not (math.isfinite(first) and math.isfinite(last)) or last <= first:
        return 1

    def fits(width: int) -> bool:
        return math.floor(last / width) - math.floor(first / width) + 1 <= columns

    width = 1
    while True:
        if fits(width):
            return width
        if width >= 2 and fits(width * 3 // 2):
            return width * 3 // 2
        width *= 2


def envelope(
    steps: Sequence[float] | np.ndarray,
    values: Sequence[float | None] | np.ndarray,
    columns: int,
) -> Envelope:
    """The min/max envelope of ``values`` against ``steps`` in at most ``columns`` columns.

    Non-finite values (None, NaN, inf) are left out. A series with no more points than columns
    is returned as it is (width 1), as is any series when ``columns`` is 0 or less.
    """
    xs = np.asarray(steps, dtype=np.float64)
    if isinstance(values, np.ndarray):
        ys = values.astype(np.float64, copy=False)
    else:
        ys = np.array(values, dtype=np.float64)  # None -> NaN
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    keep = np.isfinite(ys) & np.isfinite(xs)
    if not keep.all():
        xs, ys = xs[keep], ys[keep]
    if len(xs) and np.any(np.diff(xs) < 0):
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    if columns <= 0 or len(xs) == 0:
        return Envelope(tuple(xs.tolist()), tuple(ys.tolist()), 1)
    width = column_width(float(xs[0]), float(xs[-1]), columns)
    if width == 1:
        return Envelope(tuple(xs.tolist()), tuple(ys.tolist()), 1)
    bucket = np.floor(xs / width).astype(np.int64)
    # within a column: ordered by value (ties: by position), so its first row is the lowest
    order = np.lexsort((np.arange(len(ys)), ys, bucket))
    starts = np.flatnonzero(np.r_[True, np.diff(bucket[order]) != 0])
    ends = np.r_[starts[1:], len(order)] - 1
    low, high = order[starts], order[ends]
    first = np.minimum(low, high)
    second = np.maximum(low, high)
    picked = np.stack([first, second], axis=1).ravel()
    single = np.repeat(first == second, 2)
    single[0::2] = False  # of a column with one point, keep that point once
    picked = picked[~single]
    out_x = bucket[picked].astype(np.float64) * width
    return Envelope(tuple(out_x.tolist()), tuple(ys[picked].tolist()), width)
