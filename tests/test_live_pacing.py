"""Following a run: metric lines are paced like rollout appends (cards at once, the chart and the
rules at most every STREAM_SLOW_INTERVAL), and the cards of a long run read only recent rows."""

from __future__ import annotations

import asyncio
import json

import polars as pl

from rltop.ui.app import make_app
from rltop.ui.screens.dashboard import _card_tails
from rltop.ui.widgets.metric_grid import SPARK_POINTS, MetricGrid

from uihelp import loaded, wait_for


async def test_slow_metric_lines_move_the_cards_and_pace_the_chart(tmp_path, monkeypatch):
    """A line every 0.4 s is no stream (each one is shown at once), yet the chart and the rules
    follow at most every STREAM_SLOW_INTERVAL; once the writer pauses they show the last line."""
    from rltop.ui import app as app_module
    from rltop.ui.widgets.chart import MetricChart

    monkeypatch.setattr(app_module, "STREAM_SLOW_INTERVAL", 1.5)
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "reward": 0.1}) + "\n")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: app.follower.caught_up_version is not None)
        chart = app.screen.query_one(MetricChart)
        grid = app.screen.query_one(MetricGrid)
        replots, submits = [], []
        real_replot, real_submit = chart.replot, app.warnings_tracker.submit
        monkeypatch.setattr(chart, "replot", lambda: (replots.append(1), real_replot()))
        monkeypatch.setattr(
            app.warnings_tracker, "submit", lambda s: (submits.append(1), real_submit(s))
        )
        seen = []
        with open(path, "a") as fh:
            for step in range(2, 12):  # 4 s, a line every 0.4 s
                fh.write(json.dumps({"step": step, "reward": step / 10}) + "\n")
                fh.flush()
                await wait_for(pilot, lambda s=step: grid.cards and grid.cards[0].step == s)
                seen.append(step)
                await asyncio.sleep(0.4)
        assert seen == list(range(2, 12))  # every line reached the cards
        assert 1 <= len(replots) <= 5  # 10 lines in ~4.5 s: the chart about every 1.5 s
        assert len(submits) <= 5
        await wait_for(pilot, lambda: chart.series and chart.series[0].steps[-1] == 11, timeout=5)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)


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
