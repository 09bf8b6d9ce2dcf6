"""core.downsample: a series reduced to a min/max envelope per plot column."""

from __future__ import annotations

import math
import random

from rltop.core.downsample import column_width, envelope


def test_short_series_is_kept_as_is_without_non_finite_values():
    env = envelope([1, 2, 3, 4], [1.0, None, float("nan"), 2.5], 100)
    assert env.xs == (1.0, 4.0) and env.ys == (1.0, 2.5) and env.width == 1


def test_long_series_fits_the_columns_and_keeps_a_one_step_spike():
    rng = random.Random(1)
    steps = list(range(1, 10_001))
    values = [rng.random() for _ in steps]
    values[4321] = 50.0  # a spike: a mean per column would flatten it to ~0.8
    values[8000] = -40.0
    env = envelope(steps, values, 160)
    columns = {x for x in env.xs}
    assert len(columns) <= 160
    assert len(env) <= 2 * 160
    assert max(env.ys) == 50.0 and min(env.ys) == -40.0
    # every column holds its own lowest and highest value
    for x in columns:
        inside = [v for s, v in zip(steps, values, strict=True) if x <= s < x + env.width]
        drawn = [y for xx, y in zip(env.xs, env.ys, strict=True) if xx == x]
        assert min(drawn) == min(inside) and max(drawn) == max(inside)


def test_the_lowest_and_highest_are_in_logged_order():
    steps = list(range(0, 400))
    values = [0.0] * 400
    values[10], values[12] = 5.0, -5.0  # high first, then low, in column 0 (width >= 4)
    env = envelope(steps, values, 20)
    first_column = [y for x, y in zip(env.xs, env.ys, strict=True) if x == 0.0]
    assert first_column == [5.0, -5.0]


def test_a_new_step_changes_only_the_last_column():
    rng = random.Random(2)
    steps = list(range(1, 5001))
    values = [rng.gauss(0, 1) for _ in steps]
    before = envelope(steps, values, 120)
    after = envelope([*steps, 5001], [*values, 0.0], 120)
    assert before.width == after.width
    last = before.xs[-1]
    keep = sum(1 for x in before.xs if x < last)
    assert after.xs[:keep] == before.xs[:keep] and after.ys[:keep] == before.ys[:keep]


def test_an_unchanged_envelope_compares_equal():
    steps = list(range(1, 3001))
    values = [math.sin(s / 100) for s in steps]
    a = envelope(steps, values, 100)
    # a value inside its column's range: the same picture
    b = envelope([*steps, 3001], [*values, values[-1]], 100)
    assert a.width == 32  # 3000 and 3001 fall in the same column
    assert a == b
    c = envelope([*steps, 3001], [*values, 9.0], 100)
    assert c != a and c.ys[-1] == 9.0


def test_unsorted_steps_are_ordered_first():
    env = envelope([3, 1, 2], [30.0, 10.0, 20.0], 10)
    assert env.xs == (1.0, 2.0, 3.0) and env.ys == (10.0, 20.0, 30.0)


def test_column_width_ladder():
    assert column_width(1, 100, 200) == 1
    assert column_width(0, 10_000, 160) == 64
    width = column_width(17, 123_457, 300)
    assert math.floor(123_457 / width) - math.floor(17 / width) + 1 <= 300
    smaller = [w for w in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)]
    assert all(math.floor(123_457 / w) - math.floor(17 / w) + 1 > 300 for w in smaller if w < width)
    assert column_width(5, 5, 10) == 1 and column_width(0, 100, 0) == 1
