"""Every screen in each shipped theme, at 80×24 and 160×48 (deterministic demo data and clocks)."""

from __future__ import annotations

import pytest

import rltop.ui.widgets.status as status
import rltop.ui.widgets.warnings as warnings_mod
from rltop.ui.app import make_app
from rltop.ui.screens.compare import CompareScreen
from rltop.ui.screens.help import HelpScreen
from rltop.ui.screens.rollout_detail import RolloutDetailScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.screens.warning_detail import WarningDetailScreen
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


def _prepare(app, screen: str):
    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        if screen in ("rollouts", "detail"):
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
            listing = app.screen
            await wait_for(pilot, lambda: listing.complete and listing.query_one(RolloutList).count)
            if screen == "detail":
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
        elif screen in ("warnings", "warning"):
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, WarningsScreen))
            if screen == "warning":
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, WarningDetailScreen))
        elif screen == "compare":
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        elif screen == "help":
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.2)

    return run_before


# the chat pane is covered by pilot tests (tests/test_chat_ui.py): the timing of its endpoint
# probe makes a picture of it unstable
SCREENS = ("dashboard", "rollouts", "detail", "warnings", "warning", "compare", "help")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(
    ("screen", "size"),
    [(screen, size) for screen in SCREENS for size in ((80, 24), (160, 48))],
)
def test_screen_in_theme(snap_compare, tmp_path, theme, screen, size):
    app = make_app([str(demo_folder(tmp_path, steps=90))], theme=theme)
    assert snap_compare(app, terminal_size=size, run_before=_prepare(app, screen))
