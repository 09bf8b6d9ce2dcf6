"""Pilot tests of the warnings strip, the warnings screen and a warning's detail screen (#3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import rltop.ui.warnings_tracker as warnings_mod
from rltop.ui.app import make_app
from rltop.ui.screens.warning_detail import WarningDetailScreen
from rltop.ui.screens.warnings import WarningsScreen
from rltop.ui.widgets.chart import MetricChart
from rltop.ui.widgets.metric_grid import MetricGrid
from rltop.ui.widgets.warnings import WarningsPane

from uihelp import demo_folder, loaded, settled, wait_for


@pytest.fixture(autouse=True)
def _no_stall(monkeypatch):
    """A fixed clock far in the past: ``run.stalled`` never fires unless a test moves it."""
    now = {"t": 0.0}
    monkeypatch.setattr(warnings_mod, "clock", lambda: now["t"])
    return now


def _bad_run(root: Path, steps: int = 30) -> Path:
    """A second run with one unreadable line (``run.unreadable``, info)."""
    path = root / "bad" / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for i in range(1, steps + 1):
            fh.write(json.dumps({"step": i, "train/loss": 2.0 - 0.03 * i}) + "\n")
        fh.write("{not json\n")
    return path


def _evaluated(app, n: int = 1):
    return lambda: app.warnings_tracker.state.evaluated >= n


def _ids(app) -> list[str]:
    return [w.id for w in app.warnings_tracker.state.active]


async def test_strip_lists_the_runs_warning_and_best_checkpoint(tmp_path):
    app = make_app([str(demo_folder(tmp_path, 120))])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await wait_for(pilot, lambda: "rl.token_growth" in _ids(app))
        pane = app.screen.query_one(WarningsPane)
        await wait_for(pilot, lambda: pane.has_class("shown"))
        text = str(pane.render())
        assert "rl.token_growth" in text and "demo-grpo" in text and "since step 88" in text
        assert "best checkpoint" in text and "peak valid reward step 110" in text
        # announced in the strip itself (no toast over the chart), focus left on the metric grid
        assert "rl.token_growth" in str(pane.render()).splitlines()[0]
        assert not app._notifications
        assert isinstance(app.focused, MetricGrid)


async def test_no_warnings_no_strip(tmp_path):
    # at 40 steps nothing holds (the early all-zero groups' warning cleared by step ~31)
    app = make_app([str(demo_folder(tmp_path, 40))])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await wait_for(pilot, _evaluated(app))
        assert _ids(app) == []
        # the strip still shows the best-checkpoint line, but no warning line
        assert "since step" not in str(app.screen.query_one(WarningsPane).render())


async def test_screen_orders_by_severity_and_enter_opens_detail(tmp_path):
    demo_folder(tmp_path, 120)
    _bad_run(tmp_path)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, loaded(app, 2))
        await wait_for(
            pilot, lambda: {"rl.token_growth", "run.unreadable"} <= set(_ids(app)), timeout=15
        )
        await pilot.press("w")
        screen = app.screen
        assert isinstance(screen, WarningsScreen)
        severities = [w.severity for w in screen.warnings]
        assert severities == sorted(severities, key=["critical", "warning", "info"].index)
        # zero variance flickers around its threshold in the demo: one warning (hysteresis)
        assert [w.id for w in screen.warnings][:4] == [
            "rl.token_growth",
            "rl.train_valid_gap",
            "rl.zero_variance",
            "run.unreadable",
        ]
        assert "Best checkpoint" in str(screen.query_one("#warnings-best").render())
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, WarningDetailScreen)
        body = str(detail.query_one("#warning-body").render())
        assert "evidence" in body and "5.6×" in body
        assert "grader may reward verbosity" in body
        # the rule's own help, the text of its docs/rules.md section
        assert "about this rule" in body and "Minimum points: 10" in body
        chart = detail.query_one(MetricChart)
        assert [s.label for s in chart.series] == ["response_length/mean"]
        assert chart.series[0].marks == [88]  # the warning tier's (3×) crossing
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_detail_jumps_to_the_onset_steps_rollouts(tmp_path):
    app = make_app([str(demo_folder(tmp_path, 120))])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await wait_for(pilot, lambda: "rl.token_growth" in _ids(app))
        calls = []
        app.open_rollouts = lambda run_id=None, **kw: calls.append((run_id, kw))
        await pilot.press("w", "enter")
        assert isinstance(app.screen, WarningDetailScreen)
        await pilot.press("o")
        run_id = app.warnings_tracker.state.active[0].run_id
        assert calls == [(run_id, {"step": 88, "sort": "reward"})]


async def test_new_warning_is_notified_and_cleared_one_goes_to_history(tmp_path, _no_stall):
    path = _bad_run(tmp_path, steps=20)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await wait_for(pilot, lambda: "run.unreadable" in _ids(app))
        # data arrives live: a NaN loss starts run.nan (critical)
        with open(path, "a") as fh:
            fh.write('{"step": 21, "train/loss": NaN}\n')
        await wait_for(pilot, lambda: "run.nan" in _ids(app), timeout=15)
        assert _ids(app)[0] == "run.nan"
        pane = app.screen.query_one(WarningsPane)
        # announced in the strip: its line marked "new" (or one "new warning" line on top)
        await wait_for(
            pilot,
            lambda: any(
                line.startswith("new") and "run.nan" in line
                for line in str(pane.render()).splitlines()
            ),
        )
        assert "since step None" not in str(pane.render())
        assert not [n for n in app._notifications if "run." in n.message]  # no toasts
        assert isinstance(app.focused, MetricGrid)
        # the run stops writing: an hour later it is stalled, then new data clears that
        tracker = app.warnings_tracker
        _no_stall["t"] = time.time() + 3600
        tracker.submit(app.snapshot)
        await wait_for(pilot, lambda: "run.stalled" in _ids(app))
        _no_stall["t"] = time.time()
        tracker.submit(app.snapshot)
        await wait_for(pilot, lambda: "run.stalled" not in _ids(app))
        assert [c.warning.id for c in tracker.state.history] == ["run.stalled"]
        await pilot.press("w")
        history = str(app.screen.query_one("#warnings-history").render())
        assert "run.stalled" in history and "cleared at step 21" in history


def test_history_is_bounded():
    state = warnings_mod.WarningsState()
    assert state.history.maxlen == warnings_mod.HISTORY_LENGTH


async def test_news_timing_out_while_the_app_quits_is_no_error(tmp_path):
    """A new warning's line in the strip times out on a timer; fired once the strip is gone
    (the app quitting; seen under load) it must not raise NoMatches out of the app."""
    app = make_app([str(demo_folder(tmp_path, 5))])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, settled(app), timeout=30)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await app.dashboard.query_one(WarningsPane).remove()
        app.warnings_tracker.state.news = ["a new warning"]
        app.warnings_tracker._news_done()  # the timer's callback, as it fires at quit
        assert app.warnings_tracker.state.news == []
