"""Panes can be hidden and resized from the keyboard, at 80×24 and wide."""

from __future__ import annotations

import pytest

from rltop.ui.app import make_app
from rltop.ui.widgets.chart import MetricChart
from rltop.ui.widgets.metric_grid import MetricGrid

from uihelp import demo_folder, loaded, wait_for


@pytest.mark.parametrize("size", [(80, 24), (250, 70)])
async def test_hide_show_and_resize_panes(tmp_path, size):
    app = make_app([str(demo_folder(tmp_path, steps=5))])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, loaded(app))
        screen = app.screen
        grid, chart = screen.query_one(MetricGrid), screen.query_one(MetricChart)
        wide = size[0] >= 110
        measure = (lambda w: w.region.width) if wide else (lambda w: w.region.height)
        before = measure(grid)
        await pilot.press("greater_than_sign", "greater_than_sign")
        await pilot.pause(0.1)
        assert measure(grid) > before and measure(chart) < measure(grid)
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign", "less_than_sign")
        await pilot.pause(0.1)
        assert measure(grid) < before
        await pilot.press("2")
        await pilot.pause(0.1)
        assert not chart.display and measure(grid) > before
        await pilot.press("1")  # hiding the only pane shows the other instead
        await pilot.pause(0.1)
        assert chart.display and not grid.display
        await pilot.press("1")
        await pilot.pause(0.1)
        assert grid.display and chart.display and grid.has_focus
