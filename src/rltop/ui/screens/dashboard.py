"""The dashboard: metric cards, the chart of the selected metrics, runs, and the status line."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping

import polars as pl
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static

from rltop.config import DEFAULT_SMOOTHING
from rltop.core import axes, roles
from rltop.core.cols import named
from rltop.core.diagnose import rule_params
from rltop.core.freshness import Freshness, freshness, last_write
from rltop.core.numfmt import lower_is_better, trend
from rltop.core.store import RunSnapshot, StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.themes import theme_style
from rltop.ui.typed import rltop_app
from rltop.ui.warnings_tracker import WarningsState
from rltop.ui.widgets.chart import MetricChart, Series
from rltop.ui.widgets.footer import RltopFooter
from rltop.ui.widgets.metric_grid import SPARK_POINTS, Card, MetricGrid
from rltop.ui.widgets.status import StatusLine, status_text
from rltop.ui.widgets.warnings import WarningsPane

#: seconds between redraws of the title's freshness ("● live · 4 s ago", "◐ quiet 7 min")
FRESHNESS_EVERY = 10.0

SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)


def build_cards(
    run: RunSnapshot,
    query: str = "",
    cache: dict | None = None,
    extra_roles: Mapping[str, list[str]] | None = None,
) -> list[Card]:
    """Cards for a run: key RL metrics first, then by namespace; ``query`` filters names.

    ``extra_roles`` (the settings' roles: role -> metric names) are tried before the built-ins.

    With ``cache`` (a dict kept by the caller), the cards of logged metrics are reused while the
    run's logged columns and metric names are unchanged (``logged_version``): a stream of
    rollouts then only recomputes the few derived cards.
    """
    names = run.metric_names
    use_cache = cache is not None and run.logged_version >= 0
    # the order and roles of the metrics depend on their names only; a live run's new line
    # changes the logged columns (the cards) but rarely the names
    names_stamp = (run.run_id, tuple(names), id(extra_roles))
    if cache is not None and cache.get("names") == names_stamp:
        ordered, key, role_of = cache["meta"]
    else:
        ordered = roles.order_metrics(names, extra_roles)
        resolved = roles.resolve(names, extra_roles)
        key = {n for r, n in resolved.items() if r in roles.KEY_ROLES}
        role_of = {n: r for r, n in resolved.items()}
        if cache is not None:
            cache["names"] = names_stamp
            cache["meta"] = (ordered, key, role_of)
    stamp = (names_stamp, run.logged_version)
    if use_cache and cache.get("key") == stamp:  # type: ignore[union-attr]
        known = cache["known"]  # type: ignore[index]
    else:
        known = {}
        if use_cache:
            cache["key"] = stamp  # type: ignore[index]
            cache["known"] = known  # type: ignore[index]
    known_cards: dict[str, Card] = known
    matcher = _matcher(query)
    frame = run.metrics
    shown = [name for name in ordered if not matcher or matcher(name)]
    todo = [n for n in shown if n not in known_cards or n in run.derived]
    fresh: dict[str, Card] = {}
    if todo:
        tails, last_steps = _card_tails(frame, todo)
        for name, values, step in zip(todo, tails, last_steps, strict=True):
            fresh[name] = Card(
                name=name,
                group="key metrics" if name in key else (roles.namespace(name) or "other"),
                latest=values[-1] if values else None,
                step=int(step) if step is not None else None,
                delta=trend(values),
                spark=values,
                lower_better=lower_is_better(name, role_of.get(name)),
            )
        if use_cache:
            known_cards.update((n, c) for n, c in fresh.items() if n not in run.derived)
    cards = [fresh[name] if name in fresh else known_cards[name] for name in shown]
    for name, value in sorted(run.text_metrics.items()):
        if name in frame.columns or (matcher and not matcher(name)):
            continue
        cards.append(Card(name, "text values", value, None, None, [], False))
    return cards


def wall_clock() -> float:
    """Now, for the freshness of runs (a seam for deterministic snapshot tests)."""
    return time.time()


def runs_window(widths: list[int], current: int, room: int) -> tuple[int, int]:
    """The runs (``[first, last)``) that fit in ``room`` cells with ``current`` among them.

    The current run is always shown (the bar scrolls to it), with as many neighbours as fit,
    those after it first.
    """
    if sum(widths) <= room or not widths:
        return 0, len(widths)
    first = last = current
    used = widths[current]
    last += 1
    while True:
        grew = False
        if last < len(widths) and used + widths[last] <= room:
            used += widths[last]
            last += 1
            grew = True
        if first > 0 and used + widths[first - 1] <= room:
            first -= 1
            used += widths[first]
            grew = True
        if not grew:
            return first, last


def _card_tails(frame: pl.DataFrame, names: list[str]) -> tuple[list[list], list]:
    """The last ``SPARK_POINTS`` values and the last step of each column, nulls left out.

    This runs on each update of a live run, for every card: a column with a value in each of the
    last ``SPARK_POINTS`` rows (most metrics) is read from those rows alone; the others (logged
    every few steps) with one query over the whole frame for all of them.
    """
    recent = frame.tail(SPARK_POINTS)
    tag = "\0"  # the last steps' column names: a prefix no metric name starts with
    while any(n.startswith(tag) for n in names):
        tag += "\0"
    full = recent.height == frame.height
    dense: list[str] = []
    sparse: list[str] = []
    for n in names:
        (dense if full or recent.get_column(n).null_count() == 0 else sparse).append(n)
    tails: dict[str, list] = {}
    steps: dict[str, object] = {}
    if dense:
        part = recent.select(
            [named(n).drop_nulls().implode() for n in dense]
            + [pl.col("step").filter(named(n).is_not_null()).last().alias(tag + n) for n in dense]
        ).row(0)
        tails.update(zip(dense, part[: len(dense)], strict=True))
        steps.update(zip(dense, part[len(dense) :], strict=True))
    if sparse:
        # one query for every card (not one per metric)
        part = frame.select(
            [named(n).drop_nulls().tail(SPARK_POINTS).implode() for n in sparse]
            + [pl.col("step").filter(named(n).is_not_null()).last().alias(tag + n) for n in sparse]
        ).row(0)
        tails.update(zip(sparse, part[: len(sparse)], strict=True))
        steps.update(zip(sparse, part[len(sparse) :], strict=True))
    return [tails[n] for n in names], [steps[n] for n in names]


def _set_line(widget: Static, text: Text) -> None:
    """Update a fixed-size line only when its text changed, without a layout pass (updates of a
    live run would otherwise re-lay-out and redraw the whole screen several times a second)."""
    if getattr(widget, "_rltop_text", None) == text:
        return
    widget._rltop_text = text  # type: ignore[attr-defined]
    widget.update(text, layout=False)


def _matcher(query: str):
    query = query.strip()
    if not query:
        return None
    if len(query) > 2 and query.startswith("/") and query.endswith("/"):
        try:
            rx = re.compile(query[1:-1], re.IGNORECASE)
            return lambda name: bool(rx.search(name))
        except re.error:
            pass
    lowered = query.lower()
    return lambda name: lowered in name.lower()


class DashboardScreen(Screen):
    """Everything about one run at a glance."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="dashboard.filter"),
        Binding("plus,equals_sign", "smoothing(1)", "Smooth +", id="dashboard.smooth_more"),
        Binding("minus", "smoothing(-1)", "Smooth -", id="dashboard.smooth_less"),
        Binding("r", "next_run(1)", "Next run", id="dashboard.next_run"),
        Binding("R", "next_run(-1)", "Prev run", show=False, id="dashboard.prev_run"),
        Binding("x", "clear_chart", "Clear chart", show=False, id="dashboard.clear_chart"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="dashboard.clear_filter"),
        Binding("L", "log_y", "Log Y", show=False, id="dashboard.log_y"),
        Binding("X", "x_axis", "X axis", show=False, id="dashboard.x_axis"),
        Binding("d", "distribution", "Reward dist.", show=False, id="dashboard.distribution"),
        Binding("o", "rollouts", "Rollouts", id="dashboard.rollouts"),
        Binding("J", "jump_rollouts", "Step's rollouts", id="dashboard.jump_rollouts"),
        Binding("w", "warnings", "Warnings", id="dashboard.warnings"),
        Binding("m", "compare", "Compare runs", id="dashboard.compare"),
        Binding("u", "runs", "Runs", show=False, id="dashboard.runs"),
        Binding("1", "toggle_pane('grid')", "Cards on/off", show=False, id="dashboard.toggle_grid"),
        Binding(
            "2", "toggle_pane('chart')", "Chart on/off", show=False, id="dashboard.toggle_chart"
        ),
        Binding(
            "greater_than_sign", "resize_pane(1)", "Cards bigger", show=False, id="dashboard.grow"
        ),
        Binding(
            "less_than_sign", "resize_pane(-1)", "Cards smaller", show=False, id="dashboard.shrink"
        ),
    ]

    DEFAULT_CSS = """
    DashboardScreen { layout: vertical; }
    #title { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    #runs { height: 1; padding: 0 1; background: $panel; display: none; }
    #runs.many { display: block; }
    #body { layout: horizontal; height: 1fr; }
    #body MetricGrid { width: 1fr; min-width: 28; height: 100%; }
    #body MetricChart { width: 1fr; height: 100%; }
    DashboardScreen.narrow #body { layout: vertical; }
    DashboardScreen.narrow #body MetricGrid { width: 100%; height: 1fr; }
    DashboardScreen.narrow #body MetricChart { width: 100%; height: 1fr; min-height: 8; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    #empty { display: none; height: 1fr; content-align: center middle; color: $text-muted; }
    DashboardScreen.empty #empty { display: block; }
    DashboardScreen.empty #body { display: none; }
    """

    def __init__(
        self, smoothing: float = DEFAULT_SMOOTHING, roles: Mapping[str, list[str]] | None = None
    ) -> None:
        super().__init__()
        self.roles = roles  # the settings' role -> metric names, before the built-in aliases
        self.snapshot: StoreSnapshot | None = None
        self.run_id: str | None = None
        self.filter_text = ""
        self.smoothing = smoothing
        self.charted: dict[str, list[str]] = {}  # run -> pinned metrics
        self.highlighted: str | None = None
        self._shown: tuple | None = None
        self._card_cache: dict = {}
        self._chart_stamp: tuple | None = None
        self._restarts_seen: dict[str, int] = {}  # path -> restarts announced
        self.log_y = False
        self._written: dict[str, tuple[tuple, float | None]] = {}  # run -> (state, last write)
        self.x_axis = "step"  # or time / tokens / samples where the run logs them (core/axes.py)
        #: the status line's note while the files there at start are read ("reading 3 / 9 MB")
        self.catch_up_note = ""

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="runs")
        yield Static("Looking for training logs…", id="empty")
        with Container(id="body"):
            yield MetricGrid(id="grid")
            yield MetricChart(id="chart")
        yield Input(
            placeholder="filter metric names (text, or /regex/) — Enter keeps, Esc clears",
            id="filter",
        )
        yield WarningsPane(id="warnings")
        yield StatusLine(id="status")
        yield RltopFooter()

    def on_mount(self) -> None:
        self.query_one(MetricGrid).focus()
        self.set_class(True, "empty")
        self._update_title()
        # the age of the last write moves on while nothing is written ("quiet 7 min")
        self.set_interval(FRESHNESS_EVERY, self._update_title)
        # the title's marker and the warnings take theme colours in Python: redo them on a switch
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._update_title()
        tracker = rltop_app(self).warnings_tracker
        if tracker is not None:
            self.show_warnings(tracker.state)

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "narrow")
        self._apply_split()

    #: share of the body the cards take, in tenths (the chart gets the rest)
    split = 5

    def action_toggle_pane(self, pane: str) -> None:
        """Hide or show the cards or the chart; the other pane takes the room (never both hidden)."""
        grid, chart = self.query_one(MetricGrid), self.query_one(MetricChart)
        widget, other = (grid, chart) if pane == "grid" else (chart, grid)
        if widget.display and not other.display:
            other.display = True
        widget.display = not widget.display
        if grid.display:
            grid.focus()

    def action_resize_pane(self, direction: int) -> None:
        self.split = max(2, min(8, self.split + direction))
        self._apply_split()

    def _apply_split(self) -> None:
        grid, chart = self.query_one(MetricGrid), self.query_one(MetricChart)
        narrow = self.has_class("narrow")
        for widget, share in ((grid, self.split), (chart, 10 - self.split)):
            if narrow:
                widget.styles.height = f"{share}fr"
                widget.styles.width = "100%"
            else:
                widget.styles.width = f"{share}fr"
                widget.styles.height = "100%"

    # -- data ----------------------------------------------------------------------------------
    @property
    def run(self) -> RunSnapshot | None:
        if self.snapshot is None:
            return None
        return self.snapshot.run(self.run_id) if self.run_id else None

    def show_snapshot(self, snap: StoreSnapshot, *, chart: bool = True) -> None:
        """Show ``snap``; ``chart=False`` leaves the large chart as it is (a stream of updates
        redraws it less often: ``refresh_chart`` brings it up to date)."""
        self.snapshot = snap
        runs = [r for r in snap.runs if r.metric_names or r.text_metrics]
        if (
            self.run_id is None
            or self.run is None
            or not (self.run.metric_names or self.run.text_metrics)
        ):
            self.run_id = runs[0].run_id if runs else None
        self.set_class(
            self.run is None or not (self.run.metric_names or self.run.text_metrics), "empty"
        )
        self._update_empty(snap)
        self._update_runs()
        self._update_cards()
        if chart:
            self._update_chart()
        self._update_title()
        self._announce_restarts(snap)
        if self.focused is None and not self.has_class("empty"):
            # the body was hidden while the data was gone (a file cut to zero): focus went with it
            self._focus_body()
        _set_line(
            self.query_one(StatusLine),
            status_text(snap, extra=self.catch_up_note, watch_mode=rltop_app(self).watch_mode),
        )

    def _focus_body(self) -> None:
        grid, chart = self.query_one(MetricGrid), self.query_one(MetricChart)
        (grid if grid.display else chart).focus()

    def _announce_restarts(self, snap: StoreSnapshot) -> None:
        """Say when a followed file starts over (a restarted run): "metrics.jsonl restarted at step 1"."""
        for source in snap.sources:
            seen = self._restarts_seen.get(source.path, 0)
            if source.restarts > seen:
                self._restarts_seen[source.path] = source.restarts
                name = clean(os.path.basename(source.path), keep_newlines=False)
                self.notify(
                    f"{name} restarted at step {source.restart_step}",
                    title="run restarted",
                    timeout=8,
                )

    def show_catch_up(self, catching_up: bool) -> None:
        """The warnings strip says the rules wait while the files there at start are read."""
        self.query_one(WarningsPane).show_catch_up(catching_up)

    def _update_empty(self, snap: StoreSnapshot) -> None:
        paths = rltop_app(self).paths
        text = Text(
            "Looking for training logs in "
            + ", ".join(clean(p, keep_newlines=False) for p in paths)
            + " …\n\n",
            style="bold",
        )
        if snap.unrecognized:
            text.append(
                f"{len(snap.unrecognized)} file(s) seen but not recognised, e.g.\n", style="dim"
            )
            for path, reason in snap.unrecognized[:5]:
                text.append(f"  {clean(path, keep_newlines=False)}: {reason}\n", style="dim")
        text.append(
            "\nrltop reads JSONL metrics, verl logs, trainer_state.json, results CSV and rollout dumps.\n"
            "Try 'rltop demo' to see a live run.",
            style="dim",
        )
        _set_line(self.query_one("#empty", Static), text)

    def _update_title(self) -> None:
        run = self.run
        title = Text()
        title.append(clean(self.app.title or "rltop", keep_newlines=False), style="bold")
        if run is not None:
            title.append(" │ ")
            title.append(clean(run.name, keep_newlines=False), style="bold")
            if run.last_step is not None:
                title.append(f"  step {run.last_step}")
            formats = sorted({s.format for s in run.sources})
            title.append("  " + ", ".join(formats), style="dim")
            fresh = self._freshness(run)
            title.append(
                "  " + fresh.label,
                style=theme_style("$text-success", self) if fresh.state == "live" else "dim",
            )
            if run.rollouts.height:
                title.append(f"  {run.rollouts.height:,} rollouts", style="dim")
        title.append(f"  ema {self.smoothing:.2f}", style="dim")
        if self.filter_text:
            title.append(
                f"  filter: {clean(self.filter_text, keep_newlines=False)}", style="italic"
            )
        _set_line(self.query_one("#title", Static), title)

    def _freshness(self, run: RunSnapshot) -> Freshness:
        """Live, quiet for N min, or ended, from the run's newest file write (stat once per change)."""
        key = (run.run_id, run.version, tuple(s.status for s in run.sources))
        cached = self._written.get(run.run_id)
        if cached is None or cached[0] != key:
            cached = (key, last_write(run))
            self._written[run.run_id] = cached
        minutes = rule_params("run.stalled", rltop_app(self).settings.thresholds)["minutes"]
        return freshness(run, wall_clock(), float(minutes) * 60, written=cached[1])

    def _update_runs(self) -> None:
        runs_bar = self.query_one("#runs", Static)
        snap = self.snapshot
        runs = [r for r in snap.runs if r.metric_names or r.text_metrics] if snap else []
        runs_bar.set_class(len(runs) > 1, "many")
        if len(runs) <= 1:
            return
        labels = [f" {i} {clean(run.name, keep_newlines=False)} " for i, run in enumerate(runs, 1)]
        current = next((i for i, r in enumerate(runs) if r.run_id == self.run_id), 0)
        first, last = runs_window(
            [len(label) + 1 for label in labels], current, self.size.width - 18
        )
        text = Text("runs (r): ", style="dim")
        if first > 0:
            text.append(f"‹{first} ", style="dim")
        for i in range(first, last):
            text.append(labels[i], style="reverse bold" if i == current else "")
            text.append(" ")
        if last < len(runs):
            text.append(f"{len(runs) - last}›", style="dim")
        _set_line(runs_bar, text)

    def _update_cards(self) -> None:
        run = self.run
        grid = self.query_one(MetricGrid)
        key = (
            (run.run_id, run.version, self.filter_text, frozenset(self._charted())) if run else None
        )
        if key == self._shown:
            return
        self._shown = key
        cards = build_cards(run, self.filter_text, self._card_cache, self.roles) if run else []
        grid.set_cards(cards, set(self._charted()))
        if self.highlighted is None and cards:
            self.highlighted = cards[0].name

    def refresh_chart(self) -> None:
        """Bring the chart up to the shown snapshot (``show_snapshot(chart=False)`` left it)."""
        self._update_chart()

    def _charted(self) -> list[str]:
        return self.charted.get(self.run_id or "", [])

    def _update_chart(self) -> None:
        run = self.run
        chart = self.query_one(MetricChart)
        if run is None:
            self._chart_stamp = None
            chart.show([], self.smoothing)
            return
        names = self._charted() or ([self.highlighted] if self.highlighted else [])
        # logged columns unchanged (only rollouts arrived): the chart's data is the same
        x_axis = self.x_axis if self.x_axis in axes.available(run.metrics.columns) else "step"
        stamp = (run.run_id, run.logged_version, tuple(names), self.smoothing, self.log_y, x_axis)
        if run.logged_version >= 0 and stamp == self._chart_stamp and run.derived.isdisjoint(names):
            return
        self._chart_stamp = stamp
        series = []
        for name in names:
            if name in run.metrics.columns:
                xs, values = axes.series_against(run.metrics, name, x_axis)
                series.append(Series(name, xs, values))
        chart.show(series, self.smoothing, log_y=self.log_y, x_axis=x_axis)

    # -- events --------------------------------------------------------------------------------
    @on(MetricGrid.Highlighted)
    def _highlighted(self, event: MetricGrid.Highlighted) -> None:
        if event.name != self.highlighted:
            self.highlighted = event.name
            if not self._charted():
                self._update_chart()

    @on(MetricGrid.Toggled)
    def _toggled(self, event: MetricGrid.Toggled) -> None:
        pinned = self.charted.setdefault(self.run_id or "", [])
        if event.name in pinned:
            pinned.remove(event.name)
        else:
            pinned.append(event.name)
        self._update_cards()
        self._update_chart()

    def action_clear_chart(self) -> None:
        self.charted[self.run_id or ""] = []
        self._update_cards()
        self._update_chart()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._update_cards()
        self._update_title()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.query_one("#filter", Input).remove_class("shown")
        self.query_one(MetricGrid).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.filter_text = ""
        self._update_cards()
        self._update_title()
        self.query_one(MetricGrid).focus()

    def action_smoothing(self, direction: int) -> None:
        steps = SMOOTHING_STEPS
        current = min(range(len(steps)), key=lambda i: abs(steps[i] - self.smoothing))
        self.smoothing = steps[max(0, min(len(steps) - 1, current + direction))]
        self._update_chart()
        self._update_title()

    def action_log_y(self) -> None:
        """Log scale on the chart's y axis, and back (values at or below zero are left out)."""
        self.log_y = not self.log_y
        self._update_chart()

    def action_x_axis(self) -> None:
        """The chart's x axis: step, then wall time, tokens or samples seen where logged."""
        run = self.run
        kinds = axes.available(run.metrics.columns) if run is not None else ["step"]
        if len(kinds) < 2:
            self.notify(
                "This run logs no time, token or sample counts: x stays the step.", timeout=3
            )
            return
        at = kinds.index(self.x_axis) if self.x_axis in kinds else 0
        self.x_axis = kinds[(at + 1) % len(kinds)]
        self._update_chart()

    def action_distribution(self) -> None:
        """The reward distribution at the charted metric's last step (nearest step with rollouts)."""
        step = self._rollout_step()
        if step is not None:
            rltop_app(self).open_distribution(self.run_id, step)

    def _rollout_step(self) -> int | None:
        run = self.run
        if run is None or run.rollouts.is_empty():
            self.notify("No rollouts in this run.", timeout=2)
            return None
        names = self._charted() or ([self.highlighted] if self.highlighted else [])
        steps = run.series(names[0])[0] if names else []
        target = steps[-1] if steps else run.last_step
        have = run.rollouts.get_column("step").unique().sort()
        if target is None:
            return int(have[-1])
        below = have.filter(have <= target)
        return int(below[-1]) if len(below) else int(have[0])

    def action_rollouts(self) -> None:
        rltop_app(self).open_rollouts(self.run_id)

    def action_jump_rollouts(self) -> None:
        """The rollouts of the charted metric's last step (nearest step with rollouts), worst first."""
        step = self._rollout_step()
        if step is not None:
            rltop_app(self).open_rollouts(self.run_id, step=step, sort="reward")

    def show_warnings(self, state: WarningsState) -> None:
        """The warnings strip above the status line, for the shown run (nothing once the strip
        is gone: a warning's news times out on a timer, which may fire as the app quits)."""
        try:
            pane = self.query_one(WarningsPane)
        except NoMatches:
            return
        pane.show_state(state, self.run_id)

    def action_warnings(self) -> None:
        rltop_app(self).open_warnings()

    def action_compare(self) -> None:
        """Several runs on one chart: the pinned (or highlighted) metric, one colour per run."""
        from rltop.ui.screens.compare import CompareScreen

        if self.snapshot is None or not any(r.metric_names for r in self.snapshot.runs):
            self.notify("No runs with metrics yet.", timeout=2)
            return
        metric = (self._charted() or [self.highlighted])[0]
        self.app.push_screen(CompareScreen(self.snapshot, metric, self.smoothing))

    def action_next_run(self, direction: int) -> None:
        if self.snapshot is None:
            return
        runs = [r for r in self.snapshot.runs if r.metric_names or r.text_metrics]
        if len(runs) < 2:
            self.notify("Only one run found.", timeout=2)
            return
        ids = [r.run_id for r in runs]
        index = ids.index(self.run_id) if self.run_id in ids else 0
        self.show_run(ids[(index + direction) % len(ids)])

    def action_runs(self) -> None:
        """Every run in one table: filter, sort, mark for compare and config diff."""
        from rltop.ui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen())

    def show_run(self, run_id: str) -> None:
        """Show ``run_id`` (the run bar, the runs screen's Enter)."""
        if self.snapshot is None:
            return
        self.run_id = run_id
        self.highlighted = None
        self.show_snapshot(self.snapshot)
        tracker = rltop_app(self).warnings_tracker
        if tracker is not None:
            self.show_warnings(tracker.state)
