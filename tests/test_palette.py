"""The command palette offers the screen's and the app's actions, and the themes."""

from __future__ import annotations

from textual.command import CommandPalette

from rltop.ui.app import make_app
from rltop.ui.screens.compare import CompareScreen

from uihelp import demo_folder, loaded, wait_for


async def test_palette_lists_actions_and_runs_them(tmp_path):
    app = make_app([str(demo_folder(tmp_path, steps=5))])
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, loaded(app))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in (
            "Filter",
            "Compare runs",
            "Rollouts",
            "Warnings",
            "Chat",
            "Quit",
            "Theme: rltop-light",
        ):
            assert expected in titles
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Compare runs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Theme: rltop-light")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "rltop-light")
