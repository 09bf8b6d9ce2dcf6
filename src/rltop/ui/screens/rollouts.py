"""The rollouts screen (``o``): what the model wrote, searchable, filterable, sortable.

A query bar over a virtual list of the selected run's rollouts. Queries run in a thread worker
over the snapshot's polars frame; the first page is shown as soon as it is found, the rest
follows. A query that cannot be understood says why in the status line and leaves the list as
it was.
"""

from __future__ import annotations

import os
import time

import polars as pl
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from rltop.core.coldtext import fill_row_heads, fill_text
from rltop.core.search import (
    QueryError,
    RolloutQuery,
    iter_matches,
    parse_query,
    sortable_columns,
)
from rltop.core.store import RunSnapshot, StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.typed import rltop_app
from rltop.ui.widgets.footer import RltopFooter
from rltop.ui.widgets.rollout_list import RolloutList

#: the direction each column sorts in first (others ascending)
DESCENDING_FIRST = {"step", "length", "tokens"}


def memory_note(frame: pl.DataFrame) -> str:
    """Which steps' text is held in memory, and which is read from disk on demand."""
    if frame.is_empty() or "step" not in frame.columns:
        return ""
    steps = frame.get_column("step")
    if "_path" not in frame.columns or "prompt" not in frame.columns:
        return f"steps {steps.min()}–{steps.max()} in memory"
    cold_mask = (
        pl.col("prompt").is_null() & pl.col("completion").is_null() & pl.col("_path").is_not_null()
    )
    parts = frame.select(
        pl.col("step").filter(~cold_mask).min().alias("hot_lo"),
        pl.col("step").filter(~cold_mask).max().alias("hot_hi"),
        pl.col("step").filter(cold_mask).min().alias("cold_lo"),
        pl.col("step").filter(cold_mask).max().alias("cold_hi"),
    ).row(0, named=True)
    if parts["cold_lo"] is None:
        return f"steps {parts['hot_lo']}–{parts['hot_hi']} in memory"
    if parts["hot_lo"] is None:
        return f"text of steps {parts['cold_lo']}–{parts['cold_hi']} on disk"
    return (
        f"steps {parts['hot_lo']}–{parts['hot_hi']} in memory, "
        f"{parts['cold_lo']}–{parts['cold_hi']} on disk"
    )


class RolloutsScreen(Screen):
    """Rollouts of one run: query bar, list, status."""

    #: show how long the last query took (off in snapshot tests: timings vary)
    SHOW_TIMING = True

    BINDINGS = [
        Binding("escape", "back", "Back", id="rollouts.back"),
        Binding("slash", "focus_query", "Query", id="rollouts.query"),
        Binding("s", "cycle_sort(1)", "Sort", id="rollouts.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="rollouts.reverse_sort"),
        Binding("n", "next_match(1)", "Next match", id="rollouts.next_match"),
        Binding("N", "next_match(-1)", "Prev match", show=False, id="rollouts.prev_match"),
        Binding("p", "group", "Group", id="rollouts.group"),
        Binding("d", "distribution", "Reward dist.", id="rollouts.distribution"),
        Binding("e", "export", "Export", id="rollouts.export"),
        Binding("E", "export_listed", "Export list", id="rollouts.export_listed"),
    ]

    DEFAULT_CSS = """
    RolloutsScreen { layout: vertical; }
    RolloutsScreen #rtitle { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    RolloutsScreen #query { height: 3; }
    RolloutsScreen RolloutList { height: 1fr; }
    RolloutsScreen #rstatus { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    RolloutsScreen #rstatus.error { color: $error; text-style: bold; }
    """

    def __init__(
        self,
        run_id: str | None = None,
        *,
        query: str = "",
        sort: str | None = None,
        descending: bool | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.query_text = query
        self.sort = sort or "step"
        self.descending = self.sort in DESCENDING_FIRST if descending is None else descending
        self.frame: pl.DataFrame = pl.DataFrame()
        self.version: int | None = None
        self.search_query: RolloutQuery | None = None
        self.error: str | None = None
        self.complete = True
        self.elapsed: float | None = None
        self._generation = 0
        self._debounce = None

    def compose(self) -> ComposeResult:
        yield Static(id="rtitle")
        yield Input(
            value=self.query_text,
            placeholder="text, /regex/, reward<0.2 step=40 len>2000 acc=true, sort:-reward",
            id="query",
        )
        yield RolloutList(id="rlist")
        yield Static(id="rstatus")
        yield RltopFooter()

    def on_mount(self) -> None:
        rlist = self.query_one(RolloutList)
        rlist.loader = fill_row_heads  # a very long line: the head of its text, read in windows
        rlist.focus()
        snap = rltop_app(self).snapshot
        if snap is not None:
            self.show_snapshot(snap)
        else:
            self._update_title()

    def on_screen_resume(self) -> None:
        snap = rltop_app(self).snapshot
        if snap is not None:
            self.show_snapshot(snap)

    # -- data ----------------------------------------------------------------------------------
    @property
    def run(self) -> RunSnapshot | None:
        snap = rltop_app(self).snapshot
        if snap is None:
            return None
        run = snap.run(self.run_id) if self.run_id else None
        if run is None or run.rollouts.is_empty():
            # a run with metrics only (rollouts logged elsewhere): show the first run that has some
            runs = [r for r in snap.runs if r.rollouts.height]
            if runs:
                self.run_id, run = runs[0].run_id, runs[0]
        return run

    def show_snapshot(self, snap: StoreSnapshot) -> None:
        run = self.run
        if run is None:
            self._update_title()
            self._update_status()
            return
        if run.version == self.version and self.frame is run.rollouts:
            return
        self.version = run.version
        self.frame = run.rollouts
        self._update_title()
        self.run_query(keep=True)

    def run_query(self, keep: bool = False) -> None:
        """Parse the query bar and search in a worker; a bad query only changes the status."""
        frame = self.frame
        if frame.is_empty():
            self._update_status()
            return
        try:
            query = parse_query(self.query_text, dict(frame.schema))
            schema = dict(frame.schema)
            query.filter_expr(schema)  # column types are checked here
            if self.sort not in schema:
                self.sort, self.descending = "step", True
        except QueryError as exc:
            self.error = str(exc)
            self._update_status()
            return
        self.error = None
        self.search_query = query
        self._generation += 1
        rlist = self.query_one(RolloutList)
        # the cursor stays on its rollout as rows arrive, except on the first row: there it
        # stays first (new rollouts sort to the top; following them is what a user at the top wants)
        keep_row = rlist.current_row if keep and rlist.cursor > 0 else None
        self.complete = False
        self._search(frame, query, self._generation, keep_row, (self.sort, self.descending))
        self._update_status()

    @work(thread=True, exclusive=True, group="rollout-query", exit_on_error=False)
    def _search(
        self,
        frame: pl.DataFrame,
        query: RolloutQuery,
        generation: int,
        keep_row: int | None,
        default_sort: tuple[str, bool],
    ) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        found: list[pl.Series] = []
        shown = False
        try:
            for part in iter_matches(frame, query, default_sort=default_sort, loader=fill_text):
                if worker.is_cancelled:
                    return
                found.append(part)
                # the first part (the first rows in sort order) is shown at once, even short of
                # a page: a rare phrase's few matches there come up while the rest is searched
                if not shown:
                    shown = True
                    positions = pl.concat(found)
                    self.app.call_from_thread(
                        self._show_result, generation, frame, query, positions, keep_row, False,
                        time.perf_counter() - started,
                    )  # fmt: skip
        except (QueryError, pl.exceptions.PolarsError) as exc:
            self.app.call_from_thread(self._show_error, generation, str(exc))
            return
        if worker.is_cancelled:
            return
        positions = pl.concat(found) if found else pl.Series("_row", [], dtype=pl.UInt32)
        self.app.call_from_thread(
            self._show_result, generation, frame, query, positions, keep_row, True,
            time.perf_counter() - started,
        )  # fmt: skip

    def _show_result(
        self,
        generation: int,
        frame: pl.DataFrame,
        query: RolloutQuery,
        positions: pl.Series,
        keep_row: int | None,
        complete: bool,
        elapsed: float,
    ) -> None:
        if generation != self._generation:
            return
        rlist = self.query_one(RolloutList)
        if complete and rlist.frame is frame and rlist.search_query is query:
            # the user may have moved while the rest was searched
            keep_row = rlist.current_row if rlist.cursor > 0 else None
        rlist.set_rows(frame, positions, query, keep_row=keep_row)
        self.complete = complete
        if complete or self.elapsed is None:
            self.elapsed = elapsed
        self._update_status()

    def _show_error(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.error = message
        self.complete = True
        self._update_status()

    # -- text ----------------------------------------------------------------------------------
    def _update_title(self) -> None:
        run = self.run
        title = Text()
        title.append(self.app.title or "rltop", style="bold")
        title.append(" │ rollouts", style="bold")
        if run is not None:
            title.append(" of ")
            title.append(clean(run.name, keep_newlines=False), style="bold")
            title.append(f"  {run.rollouts.height:,} rollouts", style="dim")
        self.query_one("#rtitle", Static).update(title)

    def _update_status(self) -> None:
        status = self.query_one("#rstatus", Static)
        status.set_class(self.error is not None, "error")
        if self.error is not None:
            status.update(Text("query: " + clean(self.error, keep_newlines=False)))
            return
        rlist = self.query_one(RolloutList)
        if self.frame.is_empty():
            status.update(Text("no rollouts in this run (yet)"))
            return
        text = Text()
        count = rlist.count
        more = "" if self.complete else "+ (searching…)"
        if self.search_query is not None and not self.search_query.empty:
            text.append(f"{count:,}{more} of {self.frame.height:,} match")
        else:
            text.append(f"{count:,}{more} rollouts")
        sort = (
            self.search_query.sort
            if self.search_query is not None and self.search_query.sort
            else self.sort
        )
        desc = (
            self.search_query.descending
            if self.search_query is not None and self.search_query.sort
            else self.descending
        )
        text.append(f" · sort {sort} {'↓' if desc else '↑'}")
        if self.elapsed is not None and self.SHOW_TIMING:
            text.append(f" · {self.elapsed * 1000:.0f} ms")
        note = memory_note(self.frame)
        if note:
            text.append(f" · {note}")
        if count:
            text.append(f" · {rlist.cursor + 1:,}/{count:,}")
        status.update(text)

    # -- events --------------------------------------------------------------------------------
    @on(Input.Changed, "#query")
    def _query_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.15, self.run_query)

    @on(Input.Submitted, "#query")
    def _query_submitted(self, _event: Input.Submitted) -> None:
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self.run_query()
        self.query_one(RolloutList).focus()

    @on(RolloutList.Moved)
    def _moved(self, _event: RolloutList.Moved) -> None:
        self._update_status()

    @on(RolloutList.Opened)
    def _opened(self, event: RolloutList.Opened) -> None:
        self.open_detail(event.row)

    def open_detail(self, row: int) -> None:
        from rltop.ui.screens.rollout_detail import RolloutDetailScreen

        self.app.push_screen(RolloutDetailScreen(self.frame, row, self.search_query, screen=self))

    # -- actions -------------------------------------------------------------------------------
    def action_back(self) -> None:
        box = self.query_one("#query", Input)
        if box.has_focus:
            self.query_one(RolloutList).focus()
            return
        self.app.pop_screen()

    def action_focus_query(self) -> None:
        self.query_one("#query", Input).focus()

    def action_cycle_sort(self, direction: int) -> None:
        columns = sortable_columns(self.frame) if not self.frame.is_empty() else ["step"]
        index = columns.index(self.sort) if self.sort in columns else -1
        self.sort = columns[(index + direction) % len(columns)]
        self.descending = self.sort in DESCENDING_FIRST
        self.run_query()

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        self.run_query()

    def action_next_match(self, direction: int) -> None:
        self.query_one(RolloutList).action_move(direction)

    def action_group(self) -> None:
        row = self.query_one(RolloutList).current_row
        if row is None:
            return
        from rltop.ui.screens.rollout_detail import GroupScreen

        self.app.push_screen(GroupScreen(self.frame, row, self.search_query))

    def action_distribution(self) -> None:
        """The reward distribution of the highlighted rollout's step, its groups side by side."""
        row = self.query_one(RolloutList).current_row
        if row is None or "step" not in self.frame.columns:
            return
        step = self.frame.get_column("step")[row]
        if step is not None:
            rltop_app(self).open_distribution(self.run_id, int(step))

    def action_export(self) -> None:
        row = self.query_one(RolloutList).current_row
        if row is None:
            return
        from rltop.ui.screens.rollout_detail import export_row

        export_row(self.app, self.frame, row)

    def action_export_listed(self) -> None:
        """Write every rollout the query lists (text read back from disk if cold) as JSON lines."""
        import time

        from rltop.core.coldtext import fill_text
        from rltop.ui.screens.rollout_detail import default_export_dir

        rlist = self.query_one(RolloutList)
        if not len(rlist.positions):
            self.notify("Nothing listed to export.", timeout=3)
            return
        frame = fill_text(rlist.frame[rlist.positions])
        frame = frame.select([c for c in frame.columns if not c.startswith("_")])
        folder = default_export_dir(rltop_app(self).paths)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, time.strftime("rollouts-%Y%m%d-%H%M%S.jsonl"))
        frame.write_ndjson(path)
        self.notify(f"{frame.height:,} rollouts written to {path}", title="export", timeout=8)

    # -- for tests and callers -----------------------------------------------------------------
    def set_query(self, text: str) -> None:
        """Replace the query (as if typed) and search."""
        self.query_text = text
        box = self.query_one("#query", Input)
        with box.prevent(Input.Changed):
            box.value = text
        self.run_query()
