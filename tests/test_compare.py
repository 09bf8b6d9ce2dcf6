"""Multi-run compare: same metric from several runs on one chart, a table of their key metrics."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, SelectionList

from rltop.ui.app import make_app
from rltop.ui.screens.compare import CompareScreen
from rltop.ui.screens.dashboard import DashboardScreen
from rltop.ui.widgets.chart import MetricChart

from uihelp import loaded, wait_for


def _runs(root, with_time: bool = True):
    for name, slope, t0 in (
        ("alpha", 0.01, 1000.0),
        ("beta", 0.02, 5000.0),
        ("gamma", 0.03, 9000.0),
    ):
        folder = root / name
        folder.mkdir()
        lines = []
        for step in range(1, 21):
            row = {"step": step, "reward": slope * step, "loss": 1 / step}
            if with_time:
                row["_timestamp"] = t0 + step * 360
            lines.append(json.dumps(row))
        (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")


async def test_compare_overlays_runs_and_tables_their_metrics(tmp_path):
    _runs(tmp_path)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, loaded(app, runs=3))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        chart = screen.query_one(MetricChart)
        assert screen.metric == "reward"
        assert [s.label for s in chart.series] == ["alpha", "beta", "gamma"]
        assert chart.series[2].values[-1] == 0.03 * 20
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        assert str(table.get_row_at(1)[0]) == "beta" and table.get_row_at(1)[2] == "0.4"
        # unpick a run
        await pilot.press("space")
        assert [s.label for s in chart.series] == ["beta", "gamma"]
        # next metric, wall-time alignment (hours since each run's start)
        await pilot.press("right_square_bracket")
        assert screen.metric != "reward"
        await pilot.press("t")
        assert screen.by_time and screen.note == ""
        assert chart.series[0].steps[0] == 0.0 and chart.series[0].steps[-1] == pytest.approx(1.9)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_wall_time_without_a_time_column_says_why(tmp_path):
    _runs(tmp_path, with_time=False)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, loaded(app, runs=3))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.press("t")
        assert "no time column" in app.screen.note
        assert app.screen.query_one(SelectionList).selected
