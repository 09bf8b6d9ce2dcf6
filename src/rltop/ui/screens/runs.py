"""The runs screen (``u``): every run in one table, filtered, sorted, marked for compare or diff.

The filter bar takes the rollout query's language over the runs table (``core/runs.py``):
``name~grpo lr>=1e-5 state=live reward>0.3 sort:-reward``. Space marks runs; ``m`` draws the
marked runs on one chart (up to 12), ``d`` shows how their configurations differ, Enter shows a
run on the dashboard.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import polars as pl
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from rltop.core.numfmt import fmt_value
from rltop.core.runs import RunRow, RunsTable, fmt_age, runs_table
from rltop.core.search import QueryError
from rltop.core.store import StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.typed import rltop_app
from rltop.ui.widgets.footer import RltopFooter

if TYPE_CHECKING:
    from rltop.ui.app import RltopApp

#: columns ``s`` cycles through (table column -> runs-table column)
SORTS = ("name", "state", "age", "steps", "last", "format")
#: the runs compare draws at most (6 theme colours x 2 markers)
MAX_COMPARE = 12


def now() -> float:
    """The clock ages are measured against (a seam for deterministic snapshot tests)."""
    return time.time()


class RunsScreen(Screen):
    """All runs: a filter bar, the table, what is marked."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="runs.back"),
        Binding("slash", "focus_filter", "Filter", id="runs.filter"),
        Binding("space", "mark", "Mark", id="runs.mark"),
        Binding("s", "cycle_sort", "Sort", id="runs.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="runs.reverse_sort"),
        Binding("m", "compare", "Compare marked", id="runs.compare"),
        Binding("d", "diff", "Config diff", id="runs.diff"),
        Binding("enter", "open", "Show run", id="runs.open"),
    ]

    DEFAULT_CSS = """
    RunsScreen { layout: vertical; }
    RunsScreen #rtitle { height: 1; background: $primary-background; padding: 0 1; }
    RunsScreen #rfilter { height: 3; }
    RunsScreen #rnote { height: 1; padding: 0 1; color: $text-muted; }
    RunsScreen #rnote.error { color: $error; }
    RunsScreen DataTable { height: 1fr; }
    """

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.query_text = query
        self.sort = "name"
        self.descending = False
        self.marked: list[str] = []  # run ids, in the order they were marked
        self.table: RunsTable | None = None
        self.shown: list[RunRow] = []
        self.error = ""

    @property
    def rltop(self) -> RltopApp:
        return rltop_app(self)  # the one typed accessor (ui/typed.py)

    def compose(self) -> ComposeResult:
        yield Static(id="rtitle")
        yield Input(
            value=self.query_text,
            placeholder="filter: name~grpo lr>=1e-5 state=live reward>0.3 sort:-reward",
            id="rfilter",
        )
        yield Static(id="rnote")
        yield DataTable(id="rtable", cursor_type="row", zebra_stripes=True)
        yield RltopFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        snap = self.rltop.snapshot
        if snap is not None:
            self.show_snapshot(snap)

    # -- data ----------------------------------------------------------------------------------
    def show_snapshot(self, snap: StoreSnapshot) -> None:
        settings = self.rltop.settings
        self.table = runs_table(snap, dict(settings.roles) if settings else None, now=now())
        self.refresh_view()

    def refresh_view(self) -> None:
        if self.table is None:
            return
        try:
            self.shown = self.table.select(self.query_text, self.sort, self.descending)
            self.error = ""
        except (QueryError, pl.exceptions.PolarsError) as exc:
            self.error = str(exc)  # keep the last good list
        self._fill()
        self._titles()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        current = self._cursor_run()
        table.clear(columns=True)
        sort, descending = self.sort, self.descending
        if self.table is not None and not self.error:
            query = self.table.parse(self.query_text)[0]
            if query.sort:  # ``sort:`` in the filter wins over ``s``
                sort, descending = query.sort, query.descending
        arrow = " ↓" if descending else " ↑"
        for label, key in (
            ("", None),
            ("run", "name"),
            ("format", "format"),
            ("state", "state"),
            ("age", "age"),
            ("steps", "steps"),
            ("key metric", None),
            ("last", "last"),
            ("trend", None),
        ):
            table.add_column(label + (arrow if key == sort else ""), key=label or "mark")
        for row in self.shown:
            mark = "●" if row.run_id in self.marked else " "
            state_style = {"live": "bold green", "error": "bold red"}.get(row.state, "dim")
            table.add_row(
                Text(mark, style="bold"),
                Text(clean(row.name, keep_newlines=False)),
                Text(clean(row.format, keep_newlines=False)),
                Text(row.state, style=state_style),
                fmt_age(row.age),
                "—" if row.steps is None else str(row.steps),
                Text(clean(row.key, keep_newlines=False) or "—"),
                fmt_value(row.last) if row.last is not None else "—",
                row.trend,
                key=row.run_id,
            )
        ids = [r.run_id for r in self.shown]
        if current in ids:
            table.move_cursor(row=ids.index(current), animate=False)

    def _titles(self) -> None:
        total = len(self.table.rows) if self.table else 0
        head = Text("runs", style="bold")
        head.append(f"  {len(self.shown)} of {total} shown · {len(self.marked)} marked")
        head.append(
            "  /: filter · Space: mark · s/S: sort · m: compare · d: config diff · Enter: show",
            style="dim",
        )
        self.query_one("#rtitle", Static).update(head)
        note = self.query_one("#rnote", Static)
        note.set_class(bool(self.error), "error")
        if self.error:
            note.update(Text(clean(self.error, keep_newlines=False)))
        else:
            keys = len(self.table.config_columns) if self.table else 0
            note.update(
                Text(
                    f"filter keys: name format state age steps, any metric or role, "
                    f"{keys} config key(s)"
                )
            )

    def _cursor_run(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row is None or table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), len(self.shown) - 1)
        return self.shown[row].run_id

    # -- events and actions ----------------------------------------------------------------------
    @on(Input.Changed, "#rfilter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.refresh_view()

    @on(Input.Submitted, "#rfilter")
    def _filter_submitted(self, _event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#rfilter", Input).focus()

    def action_back(self) -> None:
        box = self.query_one("#rfilter", Input)
        if box.has_focus:
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()

    def action_mark(self) -> None:
        run_id = self._cursor_run()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked.append(run_id)
        table = self.query_one(DataTable)
        row = table.cursor_row
        self._fill()
        self._titles()
        if row + 1 < table.row_count:
            table.move_cursor(row=row + 1, animate=False)

    def action_cycle_sort(self) -> None:
        index = SORTS.index(self.sort) if self.sort in SORTS else -1
        self.sort = SORTS[(index + 1) % len(SORTS)]
        self.descending = self.sort in ("steps", "last")
        self.refresh_view()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self.refresh_view()

    def _picked(self) -> list[str]:
        return list(self.marked) or ([r] if (r := self._cursor_run()) else [])

    def action_compare(self) -> None:
        from rltop.ui.screens.compare import CompareScreen

        snap = self.rltop.snapshot
        picked = self._picked()
        if snap is None or not picked:
            self.notify("Mark runs with Space first.", timeout=3)
            return
        if len(picked) > MAX_COMPARE:
            self.notify(
                f"Compare draws up to {MAX_COMPARE} runs: the first {MAX_COMPARE} marked.",
                timeout=4,
            )
        self.app.push_screen(
            CompareScreen(snap, None, self.rltop.smoothing, picked=picked[:MAX_COMPARE])
        )

    def action_diff(self) -> None:
        from rltop.ui.screens.config_diff import ConfigDiffScreen

        snap = self.rltop.snapshot
        if snap is None or len(self.marked) < 2:
            self.notify("Mark two or more runs with Space to see how their configs differ.")
            return
        self.app.push_screen(ConfigDiffScreen(snap, list(self.marked)))

    def action_open(self) -> None:
        run_id = self._cursor_run()
        if run_id is None:
            return
        self.rltop.show_run(run_id)
        self.app.pop_screen()

    @on(DataTable.RowSelected)
    def _row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open()
