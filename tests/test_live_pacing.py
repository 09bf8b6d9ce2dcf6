"""Following a run: metric lines are paced like rollout appends (cards at once, the chart and the
rules at most every STREAM_SLOW_INTERVAL), and the cards of a long run read only recent rows."""

from __future__ import annotations

import itertools

import polars as pl

from rltop.ui.screens.dashboard import _card_tails
from rltop.ui.widgets.metric_grid import SPARK_POINTS

from uihelp import live_metrics, wait_for


async def test_slow_metric_lines_move_the_cards_and_pace_the_chart(tmp_path, monkeypatch):
    """A line every 0.4 s is no stream (each one is shown at once), yet the chart and the rules
    follow at most every STREAM_SLOW_INTERVAL; once the writer pauses they show the last line.
    On the app's clock, moved by the test (``uihelp.AppClock``): no real time is measured."""
    from rltop.ui import app as app_module

    interval = 1.5
    monkeypatch.setattr(app_module, "STREAM_SLOW_INTERVAL", interval)
    async with live_metrics(tmp_path, monkeypatch) as live:
        live.record(monkeypatch)
        start = live.clock.now
        for step in range(2, 12):  # 4 s, a line every 0.4 s
            live.clock.advance(0.4)
            await live.append(step, step / 10)
            assert live.card_step == step  # every line reaches the cards at once
        # the chart and the rules moved while the lines came, never twice within the interval
        assert 2 <= len(live.replots) <= 1 + (live.clock.now - start) // interval
        assert 2 <= len(live.submits) <= 1 + (live.clock.now - start) // interval
        for times in (live.replots, live.submits):
            assert all(b - a >= interval for a, b in itertools.pairwise(times)), times
        assert live.chart_step < 11  # not yet at the last line
        # the writer pauses: within the interval the chart and the rules show the last line
        live.clock.advance(interval)
        app = live.app
        await wait_for(live.pilot, lambda: live.chart_step == 11)
        await wait_for(
            live.pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version
        )
        assert app.snapshot.runs[0].last_step == 11


def test_card_tails_read_recent_rows_and_fall_back_for_sparse_columns():
    n = SPARK_POINTS * 3
    steps = list(range(1, n + 1))
    frame = pl.DataFrame(
        {
            "step": steps,
            "dense": [float(s) for s in steps],
            "sparse": [float(s) if s % 50 == 0 else None for s in steps],
            "\0dense": [float(-s) for s in steps],  # a name like the internal alias prefix
            "gone": [1.0 if s < 10 else None for s in steps],
            "empty": pl.Series([None] * n, dtype=pl.Float64),
        }
    )
    names = ["dense", "sparse", "\0dense", "gone", "empty"]
    tails, last = _card_tails(frame, names)
    expect_tails = list(
        frame.select([pl.col(c).drop_nulls().tail(SPARK_POINTS).implode() for c in names]).row(0)
    )
    expect_last = [frame.filter(pl.col(c).is_not_null()).get_column("step").max() for c in names]
    assert tails == expect_tails
    assert last == expect_last
    assert len(tails[0]) == SPARK_POINTS and tails[1][-1] == float(n - n % 50)
    assert last[3] == 9 and last[4] is None
