"""The runs screen (``u``): table, filter, sort, marks; compare of 12 runs; config diff."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from rltop.ui.app import make_app
from rltop.ui.screens.compare import CompareScreen
from rltop.ui.screens.config_diff import ConfigDiffScreen
from rltop.ui.screens.runs import RunsScreen
from rltop.ui.widgets.chart import MetricChart, chart_colors, series_style
from runshelp import make_runs

from uihelp import loaded, settled, wait_for


def shown_names(screen: RunsScreen) -> list[str]:
    return [r.name for r in screen.shown]


async def open_runs(pilot, app, n: int) -> RunsScreen:
    await wait_for(pilot, loaded(app, n), timeout=60)
    await wait_for(pilot, settled(app), timeout=60)
    await pilot.press("u")
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table)
    return app.screen


async def test_runs_screen_lists_filters_and_sorts(tmp_path):
    app = make_app([str(make_runs(tmp_path, 6))])
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_runs(pilot, app, 6)
        table = screen.query_one(DataTable)
        assert table.row_count == 6
        assert shown_names(screen) == ["grpo-1", "grpo-3", "grpo-5", "sft-0", "sft-2", "sft-4"]
        await pilot.press("slash")
        assert screen.query_one(Input).has_focus
        await pilot.press(*"name~grpo lr>=3e-6")
        assert shown_names(screen) == ["grpo-3", "grpo-5"]
        await pilot.press(*" reward>0.55")
        assert shown_names(screen) == ["grpo-5"]
        # a filter that cannot be read says why and keeps the last list
        box = screen.query_one(Input)
        box.value = box.value + " nosuchkey>1"
        await pilot.pause()
        assert shown_names(screen) == ["grpo-5"]
        assert "unknown key 'nosuchkey'" in str(screen.query_one("#rnote", Static).render())
        screen.query_one(Input).value = ""
        await pilot.pause()
        await pilot.press("enter")  # back to the table
        assert screen.query_one(DataTable).has_focus
        await pilot.press("s", "s", "s")  # name -> state -> age -> steps (descending)
        assert screen.sort == "steps" and screen.descending
        assert shown_names(screen)[:2] == ["grpo-5", "sft-4"]
        await pilot.press("S")
        assert shown_names(screen)[:2] == ["sft-0", "grpo-1"]


async def test_enter_shows_the_run_on_the_dashboard(tmp_path):
    app = make_app([str(make_runs(tmp_path, 4))])
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_runs(pilot, app, 4)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen is app.dashboard
        assert app.dashboard.run_id == screen.shown[1].run_id


async def test_marked_runs_compare_twelve_distinguishably(tmp_path):
    app = make_app([str(make_runs(tmp_path, 14))])
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_runs(pilot, app, 14)
        for _ in range(13):  # Space marks and moves down
            await pilot.press("space")
        assert len(screen.marked) == 13
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        chart = compare.query_one(MetricChart)
        assert len(chart.series) == 12  # the first 12 marked
        assert [s.label for s in chart.series] == sorted(
            r.name for r in app.snapshot.runs if r.run_id in screen.marked[:12]
        )
        colors, _raw, _marks = chart_colors(app.get_css_variables())
        styles = {(str(series_style(i, colors)[0]), series_style(i, colors)[1]) for i in range(12)}
        assert len(styles) == 12  # no two runs share both colour and marker
        table = compare.query_one("#ctable", DataTable)
        assert table.row_count == 12
        # each row shows its run's marker in its colour
        glyphs = [str(table.get_row_at(i)[-1]) for i in range(12)]
        assert glyphs[0] == "⣿⣿" and len(set(glyphs)) >= 2


async def test_config_diff_of_marked_runs(tmp_path):
    app = make_app([str(make_runs(tmp_path, 6))])
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_runs(pilot, app, 6)
        await pilot.press("d")
        assert not isinstance(app.screen, ConfigDiffScreen)  # needs two marked runs
        # sft-0 (tinker config.json) and sft-2 (training_args.json)
        await pilot.press("down", "down", "down", "space", "space")
        assert [r.name for r in app.snapshot.runs if r.run_id in screen.marked] == [
            "sft-0",
            "sft-2",
        ] or sorted(screen.shown[i].name for i in (3, 4)) == ["sft-0", "sft-2"]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigDiffScreen))
        table = app.screen.query_one(DataTable)
        keys = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert keys == ["group_size", "learning_rate", "model_name", "seed"]
        row = table.get_row_at(keys.index("learning_rate"))
        assert [str(c) for c in row[1:]] == ["1e-06", "3e-06"]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.parametrize("n", [3])
async def test_runs_screen_rows_are_escaped(tmp_path, n):
    """Run names come from folder names: markup in them is shown, never interpreted."""
    make_runs(tmp_path, n)
    (tmp_path / "sft-0").rename(tmp_path / "[bold red]x")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_runs(pilot, app, n)
        cells = [str(screen.query_one(DataTable).get_row_at(i)[1]) for i in range(n)]
        assert "[bold red]x" in cells
