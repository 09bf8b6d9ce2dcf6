"""SVG snapshots of the rollout list and the detail view (fixed size, deterministic demo data)."""

from __future__ import annotations

import pytest

from rltop.ui.app import make_app
from rltop.ui.screens.rollout_detail import RolloutDetailScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import demo_folder, settled, wait_for


@pytest.fixture(autouse=True)
def _no_timings(monkeypatch):
    monkeypatch.setattr(RolloutsScreen, "SHOW_TIMING", False)


async def _no_toasts(app, pilot) -> None:
    """Drop the warnings' toasts (they time out): not part of the layout under test."""
    await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
    app.clear_notifications()
    await pilot.pause(0.1)


def _open_list(app, query: str = ""):
    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height >= 1920)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.complete and screen.query_one(RolloutList).count)
        if query:
            screen.set_query(query)
            await pilot.pause(0.2)
            await wait_for(pilot, lambda: screen.complete)
        await pilot.pause(0.1)
        await _no_toasts(app, pilot)

    return run_before


def test_rollout_list(snap_compare, tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    assert snap_compare(app, terminal_size=(120, 32), run_before=_open_list(app))


def test_rollout_list_search_highlighted(snap_compare, tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    run_before = _open_list(app, "answer is 1 reward<1")
    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)


def test_rollout_detail(snap_compare, tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    open_list = _open_list(app, "Giving away")

    async def run_before(pilot) -> None:
        await open_list(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
        await pilot.press("t")
        await pilot.pause(0.2)
        await _no_toasts(app, pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
