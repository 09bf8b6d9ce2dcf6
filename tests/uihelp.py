"""Helpers for pilot tests: wait for the follower thread, make deterministic runs."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

from rltop.demo import DemoRun


async def wait_for(pilot, predicate, timeout: float = 10.0) -> None:
    """Pause the pilot until ``predicate()`` holds (bounded)."""
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)
        waited += 0.05
    await pilot.pause(0.05)


def demo_folder(root: Path, steps: int = 60) -> Path:
    demo = DemoRun(root, seed=3)
    demo.prefill(steps)
    return root


def loaded(app, runs: int = 1):
    return lambda: (
        app.snapshot is not None and len([r for r in app.snapshot.runs if r.metric_names]) >= runs
    )


def settled(app):
    """Everything on disk has been read and the screen has been given the latest snapshot.

    Snapshot tests need this, not just ``loaded``: under load the follower may still be reading
    rollout files when the first metrics are on screen.
    """

    def check() -> bool:
        return (
            loaded(app)()
            and not app.follower.pending()
            and app.snapshot.version == app.store.snapshot().version
            # the catch-up is over and the screen says so (no progress note, rules running)
            and app.follower.caught_up_version is not None
            and getattr(app, "_catching_up_shown", False) is False
        )

    return check


# -- live pacing on a test-driven clock ------------------------------------------------------------
class AppClock:
    """The live app's pacing clock, moved only by the test.

    ``rltop.ui.app`` paces redraws with ``time.monotonic()`` and timers (``_redraw_later``: a
    deferred redraw, ``_slow_later``: the chart and the rules catching up). Here its
    ``time.monotonic()`` reads ``now``, those two timers wait for :meth:`advance` instead of real
    time, and the app's ``call_after_refresh`` callbacks are counted until they have run. Every
    pacing decision is then the same on a loaded machine as on an idle one: tests wait on the
    app's state and never on the wall clock.
    """

    HELD = ("_redraw_later", "_slow_later")

    def __init__(self, app, monkeypatch) -> None:
        import time

        import rltop.ui.app as app_module

        self.app = app
        self.now = 1_000.0
        self.held: list[tuple[float, int, object]] = []  # (due, order, callback)
        self.after_refresh = 0  # call_after_refresh callbacks not yet run
        self._order = 0
        clock = self

        class _Time:
            def __getattr__(self, name: str):
                return getattr(time, name)

            @staticmethod
            def monotonic() -> float:
                return clock.now

        monkeypatch.setattr(app_module, "time", _Time())
        real_set_timer, real_after_refresh = app.set_timer, app.call_after_refresh

        def set_timer(delay, callback=None, *args, **kwargs):
            if getattr(callback, "__name__", "") in self.HELD:
                self._order += 1
                self.held.append((self.now + delay, self._order, callback))
                return None
            return real_set_timer(delay, callback, *args, **kwargs)

        def call_after_refresh(callback, *args, **kwargs):
            self.after_refresh += 1

            def run() -> None:
                try:
                    callback(*args, **kwargs)
                finally:
                    self.after_refresh -= 1

            return real_after_refresh(run)

        monkeypatch.setattr(app, "set_timer", set_timer)
        monkeypatch.setattr(app, "call_after_refresh", call_after_refresh)

    def holds(self, name: str) -> bool:
        return any(callback.__name__ == name for _, _, callback in self.held)

    def held_delays(self, name: str) -> list[float]:
        """How long after ``now`` each held ``name`` timer is due."""
        return [due - self.now for due, _, cb in sorted(self.held) if cb.__name__ == name]

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: each held timer that falls due fires at its own time, in order."""
        end = self.now + seconds
        while True:
            due = sorted(entry for entry in self.held if entry[0] <= end)
            if not due:
                break
            self.held.remove(due[0])
            self.now = max(self.now, due[0][0])
            due[0][2]()
        self.now = end


def metrics_line(step: int, value: float, name: str = "reward") -> str:
    return json.dumps({"step": step, name: value}) + "\n"


class LiveMetrics:
    """A dashboard following one metrics file (``reward`` by step) on an :class:`AppClock`, with
    the chart's replots and the rules' evaluations recorded at the clock's time."""

    def __init__(self, app, pilot, path: Path, clock: AppClock) -> None:
        self.app, self.pilot, self.path, self.clock = app, pilot, path, clock
        self.replots: list[float] = []
        self.submits: list[float] = []

    @property
    def chart(self):
        from rltop.ui.widgets.chart import MetricChart

        return self.app.dashboard.query_one(MetricChart)

    @property
    def grid(self):
        from rltop.ui.widgets.metric_grid import MetricGrid

        return self.app.dashboard.query_one(MetricGrid)

    def record(self, monkeypatch) -> None:
        """From now on, note the clock at each chart replot and each run of the rules."""
        chart, tracker = self.chart, self.app.warnings_tracker
        real_replot, real_submit = chart.replot, tracker.submit
        replots, submits, clock = self.replots, self.submits, self.clock
        monkeypatch.setattr(chart, "replot", lambda: (replots.append(clock.now), real_replot()))
        monkeypatch.setattr(
            tracker, "submit", lambda s: (submits.append(clock.now), real_submit(s))
        )

    @property
    def card_step(self) -> int | None:
        cards = self.grid.cards
        return cards[0].step if cards else None

    @property
    def chart_step(self) -> int | None:
        series = self.chart.series
        return series[0].steps[-1] if series and series[0].steps else None

    def taken(self) -> bool:
        """The app has dealt with everything in the store: shown it, or holds a redraw that
        will, and no after-refresh work (the chart and the rules after new values) is waiting."""
        app = self.app
        shown = app.snapshot is not None and app.snapshot.version == app.store.snapshot().version
        return (shown or self.clock.holds("_redraw_later")) and self.clock.after_refresh == 0

    async def append(self, step: int, value: float) -> None:
        """Write one line and wait until the store has it and the app has taken it."""
        with open(self.path, "a") as fh:
            fh.write(metrics_line(step, value))
        await wait_for(
            self.pilot,
            lambda: self.app.store.snapshot().runs[0].last_step == step and self.taken(),
            timeout=20,
        )

    async def settle(self) -> None:
        """Let the catch-up finish and every held timer fire: the screen and the rules show the
        whole file, nothing is pending. (The clock stands still: a redraw the app defers, even
        during the catch-up, happens only when the test lets time pass, as here.)"""
        app = self.app

        def quiet() -> bool:
            return (
                loaded(app)()
                and app.follower.caught_up_version is not None
                and self.taken()
                and app.snapshot.version == app.store.snapshot().version
                and app.warnings_tracker.state.version == app.snapshot.version
            )

        while True:
            self.clock.advance(60.0)  # whatever is held fires
            await wait_for(self.pilot, lambda: bool(self.clock.held) or quiet(), timeout=30)
            if not self.clock.held and quiet():
                return


@asynccontextmanager
async def live_metrics(tmp_path: Path, monkeypatch, **app_kwargs):
    """A dashboard following ``tmp_path/metrics.jsonl`` (one line, step 1, written before start)
    on a test-driven clock, settled: yields a :class:`LiveMetrics`."""
    import rltop.ui.app as app_module
    from rltop.ui.app import make_app

    # the rules' look at the clock every 30 s (run.stalled) is no part of the pacing under test
    monkeypatch.setattr(app_module, "CLOCK_RULES_EVERY", 24 * 3600.0)
    path = tmp_path / "metrics.jsonl"
    path.write_text(metrics_line(1, 0.1))
    app = make_app([str(tmp_path)], **app_kwargs)
    clock = AppClock(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        live = LiveMetrics(app, pilot, path, clock)
        await live.settle()
        yield live
