"""The rules' numeric toolkit runs on polars (``rltop check`` never imports numpy); these check
its least-squares change points and percentiles against numpy done the long way."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from rltop.core.diagnose import series


def _hinge_rss(y: np.ndarray, k: int) -> float:
    t = np.arange(len(y), dtype=float)
    design = np.stack([np.ones_like(t), t, np.maximum(t - k, 0)], axis=1)
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    fit = design @ beta
    return float(((y - fit) ** 2).sum())


def _shift_rss(y: np.ndarray, k: int) -> float:
    a, b = y[:k], y[k:]
    return float(((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum())


@pytest.mark.parametrize("seed", range(6))
def test_change_point_is_the_least_squares_fit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 200))
    t = np.arange(n)
    y = np.minimum(t, rng.integers(2, n)) * 0.05 + rng.normal(0, 0.1, n)
    k_min = int(rng.integers(0, n // 2))
    k_bend, rss_bend = series.hinge_point(pl.Series(y), k_min)
    bends = {k: _hinge_rss(y, k) for k in range(max(1, k_min), n - 2)}
    assert rss_bend == pytest.approx(min(bends.values()), rel=1e-6, abs=1e-9)
    assert bends[k_bend] == pytest.approx(min(bends.values()), rel=1e-6, abs=1e-9)
    k_step, rss_step = series._level_shift(pl.Series(y), k_min)
    shifts = {k: _shift_rss(y, k) for k in range(max(1, k_min), n)}
    assert rss_step == pytest.approx(min(shifts.values()), rel=1e-6, abs=1e-9)
    want = k_step if rss_step <= rss_bend else k_bend
    assert series.change_point(pl.Series(y), k_min) == want


def test_spread_noise_and_levels_match_numpy():
    rng = np.random.default_rng(3)
    for n in (3, 10, 101, 1000):
        y = rng.normal(0, 1, n)
        lo, hi = np.percentile(y, [5, 95])
        assert series.spread(pl.Series(y)) == pytest.approx(hi - lo)
        noise = 1.4826 * np.median(np.abs(np.diff(y))) / np.sqrt(2)
        assert series.noise(pl.Series(y)) == pytest.approx(noise)
        assert series.early_level(pl.Series(y)) == pytest.approx(
            np.median(y[: max(3, min(10, n // 10))])
        )


def test_onsets_and_holds():
    on = pl.Series([False, True, True, False, True, True, True, False, False])
    assert series.trailing_onset(on) is None
    assert series.trailing_onset(on.head(7)) == 4
    # a flicker shorter than ``clear`` keeps the hold (and its onset)
    assert series.sustained_onset(on, hold=1, clear=3) == 1
    assert series.sustained_onset(on, hold=1, clear=1) is None
    assert series.sustained_onset(on.head(7), hold=1, clear=1) == 4
    assert series.false_run_end(pl.Series([True, False, True, False, False, True]), 2) == 3
    assert series.backdate(on, 0).to_list()[:3] == [True, True, True]
    assert series.print_precision(pl.Series([0.0, 0.001, 0.002, 0.0])) == pytest.approx(0.001)
