"""Pilot tests of the dashboard: what a user sees and what each key does."""

from __future__ import annotations

import json

import pytest

from rltop.ui.app import make_app
from rltop.ui.screens.dashboard import DashboardScreen
from rltop.ui.screens.help import HelpScreen
from rltop.ui.widgets.chart import MetricChart
from rltop.ui.widgets.metric_grid import MetricGrid
from rltop.ui.widgets.status import status_text

from uihelp import demo_folder, loaded, wait_for


async def test_dashboard_shows_the_demo_run_key_metrics_first(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        await wait_for(pilot, lambda: len(grid.cards) > 20)
        names = [c.name for c in grid.cards]
        assert names[0] == "critic/score/mean"
        assert names.index("rollouts/pass@k") < names.index("actor/lr")
        assert grid.cards[0].group == "key metrics"
        assert grid.cards[0].step == 60
        title = str(app.screen.query_one("#title").render())
        assert "step 60" in title and "demo-grpo" in title
        # the chart follows the cursor until metrics are pinned
        chart = app.screen.query_one(MetricChart)
        assert [s.label for s in chart.series] == ["critic/score/mean"]


async def test_keys_move_pin_filter_and_smooth(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app))
        screen: DashboardScreen = app.screen
        grid = screen.query_one(MetricGrid)
        chart = screen.query_one(MetricChart)
        await pilot.press("right")
        assert grid.cursor == 1
        second = grid.current
        await pilot.press("l", "h")
        assert grid.cursor == 1
        await pilot.press("j")
        assert grid.cursor > 1
        await pilot.press("k")
        assert grid.cursor == 1
        assert [s.label for s in chart.series] == [second]
        await pilot.press("enter")  # pin it
        await pilot.press("left", "enter")  # and the first one
        assert [s.label for s in chart.series] == [second, "critic/score/mean"]
        await pilot.press("x")
        assert [s.label for s in chart.series] == ["critic/score/mean"]
        before = screen.smoothing
        await pilot.press("plus")
        assert screen.smoothing > before
        await pilot.press("minus", "minus")
        assert screen.smoothing < before
        await pilot.press("slash")
        await pilot.press(*"ppo_kl")
        assert [c.name for c in grid.cards] == ["actor/ppo_kl"]
        await pilot.press("enter")
        assert grid.has_focus
        await pilot.press("escape")
        assert len(grid.cards) > 20
        await pilot.press("slash", *"/^timing_s/", "enter")
        assert grid.cards and all(c.name.startswith("timing_s/") for c in grid.cards)


async def test_help_lists_the_bindings(tmp_path):
    app = make_app([str(demo_folder(tmp_path))])
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, loaded(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(f"{key} {what}" for key, what, _where in app.screen.rows)
        for expected in (
            "/ Filter",
            "+/= Smooth +",
            "r Next run",
            "q Quit",
            "Enter/Space Chart it",
        ):
            assert expected in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_run_picker_switches_runs(tmp_path):
    for name, value in (("alpha", 1.0), ("beta", 2.0)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/loss": value}) + "\n")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app, runs=2))
        screen = app.screen
        first = screen.run.name
        await pilot.press("r")
        assert screen.run.name != first
        assert {first, screen.run.name} == {"alpha", "beta"}
        assert "many" in screen.query_one("#runs").classes
        await pilot.press("R")
        assert screen.run.name == first


async def test_live_append_reaches_the_screen(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "reward": 0.1}) + "\n")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, loaded(app))
        grid = app.screen.query_one(MetricGrid)
        with open(path, "a") as fh:
            fh.write(json.dumps({"step": 2, "reward": 0.7}) + "\n")
        await wait_for(pilot, lambda: grid.cards and grid.cards[0].latest == 0.7, timeout=10)
        assert grid.cards[0].step == 2
        assert " 1 file followed · 2 lines" in str(status_text(app.snapshot))
        # a new file in a new folder is found while running
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "metrics.jsonl").write_text(
            json.dumps({"step": 5, "loss": 2.0}) + "\n"
        )
        await wait_for(pilot, loaded(app, runs=2), timeout=15)


async def test_empty_folder_says_what_it_is_doing(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.unrecognized)
        text = str(app.screen.query_one("#empty").render())
        assert "Looking for training logs" in text and "notes.txt" in text
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_a_file_cut_to_zero_and_rewritten_keeps_focus_and_is_announced(tmp_path, size):
    run = tmp_path / "run1"
    run.mkdir()
    metrics = run / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in range(1, 41)))
    app = make_app([str(tmp_path)])
    notes: list[str] = []
    async with app.run_test(size=size) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and app.snapshot.runs
                and app.snapshot.runs[0].last_step == 40
            ),
        )
        screen: DashboardScreen = app.screen
        original = screen.notify

        def record(message, **kwargs):
            notes.append(str(message))
            return original(message, **kwargs)

        screen.notify = record  # type: ignore[method-assign]
        assert isinstance(screen.focused, MetricGrid)
        metrics.write_text("")
        await wait_for(pilot, lambda: screen.has_class("empty"))
        metrics.write_text(
            "".join(json.dumps({"step": s, "loss": 2 / s}) + "\n" for s in range(1, 6))
        )
        await wait_for(pilot, lambda: app.snapshot.runs[0].last_step == 5)
        assert "metrics.jsonl restarted at step 1" in notes
        assert isinstance(screen.focused, MetricGrid)
        await pilot.press("slash")  # keys work at once, no Tab needed
        assert screen.query_one("#filter").has_focus
