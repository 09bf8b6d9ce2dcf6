"""SVG snapshots of the runs screen (plain and filtered), a compare of 12 runs, a config diff."""

from __future__ import annotations

import pytest

from rltop.ui.app import make_app
from rltop.ui.screens.compare import CompareScreen
from rltop.ui.screens.config_diff import ConfigDiffScreen
from rltop.ui.screens.runs import RunsScreen
from runshelp import make_runs

from uihelp import settled, wait_for

#: the files' time, and the clock the runs screen measures ages against (90 s later)
WRITTEN = 1_750_000_000.0


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    import rltop.ui.screens.runs as runs
    import rltop.ui.widgets.status as status

    monkeypatch.setattr(status, "clock", lambda _ts: "12:00:00")
    monkeypatch.setattr(runs, "now", lambda: WRITTEN + 90)


def _open_runs(app, n: int, keys: tuple[str, ...] = (), query: str = ""):
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: settled(app)() and len(app.snapshot.runs) >= n, timeout=60)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table)
        if query:
            await pilot.press("slash", *query, "enter")
        await pilot.press(*keys)
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.1)

    return run_before


def test_runs_screen(snap_compare, tmp_path):
    app = make_app([str(make_runs(tmp_path, 14, mtime=WRITTEN))])
    assert snap_compare(app, terminal_size=(120, 30), run_before=_open_runs(app, 14))


def test_runs_screen_filtered(snap_compare, tmp_path):
    app = make_app([str(make_runs(tmp_path, 14, mtime=WRITTEN))])
    run_before = _open_runs(app, 14, ("space", "down", "space"), "name~grpo lr>=5e-6 sort:-last")
    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_compare_twelve_runs(snap_compare, tmp_path):
    app = make_app([str(make_runs(tmp_path, 14, mtime=WRITTEN))])
    keys = ("space",) * 12 + ("m",)

    async def run_before(pilot) -> None:
        await _open_runs(app, 14, keys)(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


def test_config_diff(snap_compare, tmp_path):
    app = make_app([str(make_runs(tmp_path, 6, mtime=WRITTEN))])
    keys = ("space", "space", "space", "space", "d")

    async def run_before(pilot) -> None:
        await _open_runs(app, 6, keys)(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigDiffScreen))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(120, 24), run_before=run_before)
