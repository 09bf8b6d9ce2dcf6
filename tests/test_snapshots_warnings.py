"""SVG snapshots of the dashboard with its warnings strip and of a warning's detail screen (#3),
at 80×24 and 160×48. Deterministic: fixed status clock, and a fixed diagnoser clock so
``run.stalled`` never depends on real time."""

from __future__ import annotations

import pytest

import rltop.ui.screens.dashboard as dashboard_mod
import rltop.ui.warnings_tracker as warnings_mod
from rltop.ui.app import make_app

from uihelp import demo_folder, settled, wait_for


@pytest.fixture(autouse=True)
def _fixed_clocks(monkeypatch):
    import rltop.ui.widgets.status as status

    monkeypatch.setattr(status, "clock", lambda _ts: "12:00:00")
    monkeypatch.setattr(dashboard_mod, "wall_clock", lambda: 0.0)  # runs read as live
    monkeypatch.setattr(warnings_mod, "clock", lambda: 0.0)


def _run_before(app, keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(
            pilot, lambda: any(w.id == "rl.token_growth" for w in app.warnings_tracker.state.active)
        )
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await pilot.pause(0.2)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.2)
        app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause(0.1)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_dashboard_with_warnings(snap_compare, tmp_path, size):
    app = make_app([str(demo_folder(tmp_path, 120))])
    assert snap_compare(app, terminal_size=size, run_before=_run_before(app))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_warning_detail(snap_compare, tmp_path, size):
    app = make_app([str(demo_folder(tmp_path, 120))])
    assert snap_compare(app, terminal_size=size, run_before=_run_before(app, ("w", "enter")))
