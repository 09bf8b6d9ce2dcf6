"""The dashboard, rollout list and warnings screens in each shipped theme, at 80×24 and 160×48."""

from __future__ import annotations

import pytest

import rltop.ui.widgets.status as status
import rltop.ui.widgets.warnings as warnings_mod
from rltop.ui.app import make_app
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.screens.warnings import WarningsScreen
from rltop.ui.widgets.rollout_list import RolloutList

from uihelp import demo_folder, settled, wait_for

THEMES = ("rltop-dark", "rltop-light", "rltop-high-contrast", "rltop-mono")


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    monkeypatch.setattr(status, "clock", lambda _ts: "12:00:00")
    monkeypatch.setattr(warnings_mod, "clock", lambda: 0.0)
    monkeypatch.setattr(RolloutsScreen, "SHOW_TIMING", False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def _prepare(app, keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.2)
        if keys == ("o",):
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
            screen = app.screen
            await wait_for(pilot, lambda: screen.complete and screen.query_one(RolloutList).count)
        if keys == ("w",):
            await wait_for(pilot, lambda: isinstance(app.screen, WarningsScreen))
        app.clear_notifications()
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(
    ("screen", "size"),
    [
        (screen, size)
        for screen in ("dashboard", "rollouts", "warnings")
        for size in ((80, 24), (160, 48))
    ],
)
def test_screen_in_theme(snap_compare, tmp_path, theme, screen, size):
    app = make_app([str(demo_folder(tmp_path, steps=90))], theme=theme)
    keys = {"dashboard": (), "rollouts": ("o",), "warnings": ("w",)}[screen]
    assert snap_compare(app, terminal_size=size, run_before=_prepare(app, keys))
