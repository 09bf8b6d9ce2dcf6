"""--refresh caps live redraws; Ctrl+S saves the screen as SVG outside the logs folder."""

from __future__ import annotations

import json
import time

from rltop.config import Settings
from rltop.ui.app import make_app
from rltop.ui.widgets.metric_grid import MetricGrid

from uihelp import demo_folder, loaded, wait_for


async def test_refresh_cap_delays_redraws(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "reward": 0.1}) + "\n")
    app = make_app([str(tmp_path)], refresh=0.5)  # at most one redraw every 2 s
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        with open(path, "a") as fh:
            fh.write(json.dumps({"step": 2, "reward": 0.7}) + "\n")
        start = time.monotonic()
        await wait_for(pilot, lambda: app.store.snapshot().runs[0].last_step == 2)
        assert grid.cards[0].latest == 0.1  # in the store, not yet redrawn
        await wait_for(pilot, lambda: grid.cards[0].latest == 0.7, timeout=10)
        assert time.monotonic() - start >= 0.5


def test_refresh_from_config_and_env(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("refresh = 2\n")
    assert Settings.load(config, env={}).refresh == 2
    assert Settings.load(config, env={"RLTOP_REFRESH": "0.5"}).refresh == 0.5


async def test_ctrl_s_saves_an_svg_outside_the_logs(tmp_path, monkeypatch):
    logs = demo_folder(tmp_path / "logs", steps=3)
    monkeypatch.chdir(tmp_path)
    app = make_app([str(logs)])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
    saved = list(tmp_path.glob("rltop-*.svg"))
    assert len(saved) == 1 and "<svg" in saved[0].read_text()[:500]
    assert not list(logs.rglob("*.svg"))


async def test_a_stream_redraws_less_and_the_last_state_is_drawn(tmp_path, monkeypatch):
    """While lines stream in, the cards move at each (paced) redraw, the chart and the rules
    less often; once the stream stops the chart and the rules catch up with the last line."""
    import asyncio

    from rltop.ui import app as app_module
    from rltop.ui.widgets.chart import MetricChart

    monkeypatch.setattr(app_module, "STREAM_REDRAW_INTERVAL", 0.3)
    monkeypatch.setattr(app_module, "STREAM_SLOW_INTERVAL", 1.2)
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
        shown = set()
        with open(path, "a") as fh:
            for step in range(2, 42):  # 4 s of a line every 0.1 s
                fh.write(json.dumps({"step": step, "reward": step / 100}) + "\n")
                fh.flush()
                await asyncio.sleep(0.1)
                if grid.cards:
                    shown.add(grid.cards[0].step)
        assert len(shown) >= 5  # the cards kept moving
        assert 1 <= len(replots) < len(shown)  # the chart less often than the cards
        assert len(submits) < len(shown)
        # the stream has stopped: the chart and the rules come to the last line
        await wait_for(pilot, lambda: chart.series and chart.series[0].steps[-1] == 41, timeout=5)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        assert grid.cards[0].step == 41
