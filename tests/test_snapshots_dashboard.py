"""SVG snapshots of the dashboard layout at 80×24 (SSH laptop) and 160×48 (wide monitor)."""

from __future__ import annotations

import pytest

import rltop.ui.screens.dashboard as dashboard_mod
from rltop.ui import widgets
from rltop.ui.app import make_app

from uihelp import demo_folder, settled, wait_for


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    import rltop.ui.widgets.status as status

    monkeypatch.setattr(status, "clock", lambda _ts: "12:00:00")
    monkeypatch.setattr(dashboard_mod, "wall_clock", lambda: 0.0)  # runs read as live
    assert widgets


def _run_before(app):
    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await pilot.pause(0.2)
        # the warnings strip is drawn once the diagnoser (a thread) has seen the shown snapshot
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        app.clear_notifications()  # a new warning's toast times out: not part of the layout
        await pilot.pause(0.1)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dashboard_layout(snap_compare, tmp_path, size):
    app = make_app([str(demo_folder(tmp_path))])
    assert snap_compare(app, terminal_size=size, run_before=_run_before(app))
