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
