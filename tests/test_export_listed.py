"""From the rollout browser, E writes the listed (filtered) rollouts, outside the logs folder."""

from __future__ import annotations

import json

from rltop.ui.app import make_app
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import demo_folder, settled, wait_for


async def test_export_of_the_filtered_list(tmp_path, monkeypatch):
    logs = demo_folder(tmp_path / "logs", steps=6)
    out = tmp_path / "here"
    out.mkdir()
    monkeypatch.chdir(out)
    app = make_app([str(logs)])
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, settled(app), timeout=60)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.complete and screen.query_one(RolloutList).count)
        screen.set_query("step=3 reward<1")
        await pilot.pause(0.3)
        await wait_for(pilot, lambda: screen.complete)
        listed = screen.query_one(RolloutList).count
        await pilot.press("E")
        await pilot.pause(0.2)
    files = list(out.glob("rollouts-*.jsonl"))
    assert len(files) == 1
    rows = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(rows) == listed > 0
    assert all(r["step"] == 3 and r["reward"] < 1 and r["completion"] for r in rows)
    assert not list(logs.rglob("rollouts-*.jsonl"))
