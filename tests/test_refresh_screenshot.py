"""--refresh caps live redraws; Ctrl+S saves the screen as SVG outside the logs folder."""

from __future__ import annotations

import itertools

import pytest

from rltop.config import Settings
from rltop.ui.app import make_app

from uihelp import demo_folder, live_metrics, loaded, wait_for


async def test_refresh_cap_delays_redraws(tmp_path, monkeypatch):
    """--refresh 0.5: a change after a quiet spell is drawn at once, the next one only once 2 s
    have passed since that redraw (on the app's clock, moved by the test)."""
    async with live_metrics(tmp_path, monkeypatch, refresh=0.5) as live:
        live.clock.advance(10.0)
        await live.append(2, 0.7)
        assert live.grid.cards[0].latest == 0.7  # drawn at once
        live.clock.advance(0.5)
        await live.append(3, 0.3)
        assert live.grid.cards[0].latest == 0.7  # in the store, not yet redrawn
        assert live.clock.held_delays("_redraw_later") == [pytest.approx(1.5)]
        live.clock.advance(1.4)
        assert live.grid.cards[0].latest == 0.7
        live.clock.advance(0.1)
        await wait_for(live.pilot, lambda: live.grid.cards[0].latest == 0.3)


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
    less often; once the stream stops the chart and the rules catch up with the last line.
    On the app's clock, moved by the test (``uihelp.AppClock``): no real time is measured."""
    from rltop.ui import app as app_module

    slow = 1.2
    monkeypatch.setattr(app_module, "STREAM_REDRAW_INTERVAL", 0.3)
    monkeypatch.setattr(app_module, "STREAM_SLOW_INTERVAL", slow)
    async with live_metrics(tmp_path, monkeypatch) as live:
        live.record(monkeypatch)
        shown = set()
        for step in range(2, 42):  # 4 s of a line every 0.1 s
            live.clock.advance(0.1)
            await live.append(step, step / 100)
            shown.add(live.card_step)
        assert len(shown) >= 5  # the cards kept moving
        assert live.card_step < 41  # ... at the stream's pace, not at every line
        assert 1 <= len(live.replots) < len(shown)  # the chart less often than the cards
        assert len(live.submits) < len(shown)
        for times in (live.replots, live.submits):
            assert all(b - a >= slow for a, b in itertools.pairwise(times)), times
        # the stream has stopped: the chart and the rules come to the last line
        live.clock.advance(slow)
        app = live.app
        await wait_for(live.pilot, lambda: live.chart_step == 41)
        await wait_for(
            live.pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version
        )
        assert live.card_step == 41
