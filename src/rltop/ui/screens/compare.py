"""``m``: several runs on one chart (same metric, distinct colours, a legend) and their key metrics.

Runs are picked from a list (Space toggles); the metric is the dashboard's highlighted one, or is
cycled with ``[``/``]`` among the metrics the picked runs share. ``t`` aligns by wall time where the
runs log a time column, else it says why it cannot.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, SelectionList, Static

from rltop.core import roles
from rltop.core.cols import named
from rltop.core.numfmt import fmt_value, shorten_name
from rltop.core.store import RunSnapshot, StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.typed import rltop_app
from rltop.ui.widgets.chart import MARKER_GLYPHS, MetricChart, Series, chart_colors, series_style
from rltop.ui.widgets.footer import RltopFooter

#: columns that hold wall-clock time, in order of preference (seconds)
TIME_COLUMNS = ("_timestamp", "timestamp", "time", "wall_time", "_runtime", "time/total")
TABLE_ROLES = (
    "reward",
    "valid_reward",
    "pass_at_k",
    "train_loss",
    "valid_loss",
    "response_length",
    "kl",
)


def time_column(run: RunSnapshot) -> str | None:
    return next((c for c in TIME_COLUMNS if c in run.metrics.columns), None)


def metric_for(run: RunSnapshot, metric: str, role: str | None, extra_roles=None) -> str | None:
    """``metric`` in ``run``, or the run's metric of the same role (TRL ``loss`` for W&B's
    ``train/loss``: both are the train loss)."""
    if metric in run.metrics.columns:
        return metric
    if role is None:
        return None
    return roles.resolve(run.metric_names, extra_roles).get(role)


def role_of(runs: list[RunSnapshot], metric: str, extra_roles=None) -> str | None:
    """The role ``metric`` plays in the runs that log it (None: no role, exact names only)."""
    for run in runs:
        if metric in run.metric_names:
            for role, name in roles.resolve(run.metric_names, extra_roles).items():
                if name == metric:
                    return role
    return None


def compare_series(
    runs: list[RunSnapshot], metric: str, by_time: bool, extra_roles=None
) -> tuple[list[Series], str]:
    """One series per run, matched by role; x is the step, or hours since the run's first time."""
    series, note = [], ""
    role = role_of(runs, metric, extra_roles)
    for run in runs:
        name = metric_for(run, metric, role, extra_roles)
        if name is None:
            continue
        label = run.name if name == metric else f"{run.name} ({name})"
        frame = run.metrics.select(
            "step", name, *([time_column(run)] if by_time and time_column(run) else [])
        )
        frame = frame.filter(named(name).is_not_null())
        if by_time:
            tcol = time_column(run)
            if tcol is None:
                note = f"{run.name} logs no time column: aligned by step"
                xs = frame.get_column("step").to_list()
            else:
                t = frame.get_column(tcol)
                start = t.drop_nulls().min() if t.drop_nulls().len() else 0
                xs = [None if v is None else (v - start) / 3600 for v in t.to_list()]
        else:
            xs = frame.get_column("step").to_list()
        ys = frame.get_column(name).to_list()
        pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None]
        series.append(Series(label, [p[0] for p in pairs], [p[1] for p in pairs]))
    return series, note


class CompareScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="compare.back"),
        Binding("right_square_bracket", "metric(1)", "Next metric", id="compare.next_metric"),
        Binding("left_square_bracket", "metric(-1)", "Prev metric", id="compare.prev_metric"),
        Binding("t", "toggle_time", "Step/time", id="compare.time"),
    ]

    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #ctitle { height: 1; background: $primary-background; padding: 0 1; }
    CompareScreen #cbody { height: 1fr; }
    CompareScreen SelectionList { width: 30; height: 100%; }
    CompareScreen.narrow SelectionList { width: 20; }
    CompareScreen #cright { width: 1fr; }
    CompareScreen MetricChart { height: 1fr; min-height: 8; }
    CompareScreen DataTable { height: auto; max-height: 12; }
    """

    #: runs picked when the screen opens without a choice (the chart tells 12 apart)
    MAX_PICKED = 12

    def __init__(
        self,
        snapshot: StoreSnapshot,
        metric: str | None,
        smoothing: float,
        *,
        picked: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        #: run ids to start with (the runs screen's marked runs); None: the first MAX_PICKED
        self.initial = picked
        self.metric = metric
        self.smoothing = smoothing
        self.by_time = False
        self.note = ""

    def compose(self) -> ComposeResult:
        yield Static(id="ctitle")
        with Horizontal(id="cbody"):
            runs = sorted((r for r in self.snapshot.runs if r.metric_names), key=lambda r: r.name)
            chosen = (
                set(self.initial)
                if self.initial is not None
                else {r.run_id for r in runs[: self.MAX_PICKED]}
            )
            yield SelectionList[str](
                *[(clean(r.name, keep_newlines=False), r.run_id, r.run_id in chosen) for r in runs]
            )
            with Vertical(id="cright"):
                yield MetricChart(id="cchart", distinct=True)
                yield DataTable(id="ctable", cursor_type="row", zebra_stripes=True)
        yield RltopFooter()

    def on_mount(self) -> None:
        if self.metric is None or not self._metrics():
            shared = self._metrics()
            resolved = [self._roles(r).get("reward") for r in self._picked()]
            self.metric = next((m for m in resolved if m in shared), shared[0] if shared else None)
        self.query_one(SelectionList).focus()
        self.refresh_view()

    def show_snapshot(self, snap: StoreSnapshot) -> None:
        self.snapshot = snap
        self.refresh_view()

    def on_resize(self) -> None:
        narrow = self.size.width < 110
        if narrow != self.has_class("narrow"):
            self.set_class(narrow, "narrow")
            self.refresh_view()

    def _picked(self) -> list[RunSnapshot]:
        chosen = set(self.query_one(SelectionList).selected)
        return sorted((r for r in self.snapshot.runs if r.run_id in chosen), key=lambda r: r.name)

    def _metrics(self) -> list[str]:
        """Metrics every picked run has (or any of them, when they share none)."""
        picked = self._picked()
        if not picked:
            return []
        common = set(picked[0].metric_names).intersection(*(r.metric_names for r in picked[1:]))
        # a role every picked run plays counts as shared, under the first run's name for it
        resolved = [self._roles(r) for r in picked]
        for role, name in resolved[0].items():
            if all(role in other for other in resolved[1:]):
                common.add(name)
        pool = common or set().union(*(r.metric_names for r in picked))
        return roles.order_metrics(sorted(pool), self._extra_roles())

    def refresh_view(self) -> None:
        picked = self._picked()
        series, self.note = (
            compare_series(picked, self.metric, self.by_time, self._extra_roles())
            if self.metric
            else ([], "")
        )
        title = f"{self.metric or 'no shared metric'} across {len(series)} run(s)"
        if self.by_time and not self.note:
            title += " (x: hours since each run's start)"
        self.query_one(MetricChart).show(series, self.smoothing, title=title)
        head = Text("compare runs", style="bold")
        head.append(
            f"  {clean(self.metric or '—', keep_newlines=False)}  by {'wall time' if self.by_time else 'step'}"
        )
        head.append("  Space: pick runs · [ ]: metric · t: step/time · Esc: back", style="dim")
        if self.note:
            head.append(f"  {self.note}", style="italic")
        self.query_one("#ctitle", Static).update(head)
        self._fill_table(picked)

    def _extra_roles(self) -> dict[str, list[str]] | None:
        """The settings' roles (``--role``, ``[roles]``), tried before the built-in aliases."""
        settings = rltop_app(self).settings
        return settings.roles if settings is not None else None

    def _roles(self, run: RunSnapshot) -> dict[str, str]:
        return roles.resolve(run.metric_names, self._extra_roles())

    def _fill_table(self, picked: list[RunSnapshot]) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        names = [clean(r.name, keep_newlines=False) for r in picked]
        narrow = self.has_class("narrow")
        # the run column as wide as its names (at most 18 cells when narrow: the roles need room)
        width = max([3, *(len(shorten_name(n, 18) if narrow else n) for n in names)])
        table.add_column("run", width=width)
        table.add_columns("last step", *[r.replace("_", " ") for r in TABLE_ROLES], "chart")
        colors, _raw, _marks = chart_colors(self.app.get_css_variables())
        charted = [s.label for s in self.query_one(MetricChart).series]
        for run in picked:
            resolved = self._roles(run)
            cells = [
                fmt_value(run.latest(resolved[r])) if r in resolved else "—" for r in TABLE_ROLES
            ]
            key = Text("")
            # the run's colour and marker on the chart (its label may name the run's own metric)
            at = next(
                (i for i, label in enumerate(charted) if label.split(" (", 1)[0] == run.name),
                None,
            )
            if at is not None:
                color, marker = series_style(at, colors)
                key = Text(MARKER_GLYPHS.get(marker, marker) * 2, style=_rich_color(color))
            name = clean(run.name, keep_newlines=False)
            if self.has_class("narrow"):
                name = shorten_name(name, 18)  # the role columns need the room
            table.add_row(Text(name), str(run.last_step), *cells, key)

    @on(SelectionList.SelectedChanged)
    def _picked_changed(self) -> None:
        shared = self._metrics()
        if shared and self.metric not in shared:
            self.metric = shared[0]
        self.refresh_view()

    def action_metric(self, direction: int) -> None:
        shared = self._metrics()
        if not shared:
            return
        index = shared.index(self.metric) if self.metric in shared else -direction
        self.metric = shared[(index + direction) % len(shared)]
        self.refresh_view()

    def action_toggle_time(self) -> None:
        self.by_time = not self.by_time
        self.refresh_view()

    def action_back(self) -> None:
        self.app.pop_screen()


def _rich_color(color: object) -> str:
    """A chart colour (an RGB triple or a plotext name) as a Rich style."""
    if isinstance(color, tuple):
        return "bold rgb({},{},{})".format(*color)
    return "bold " + str(color).rstrip("+").replace("orange", "dark_orange")
