"""``d`` on the runs screen: the configuration keys that differ between the marked runs.

Only the keys whose values differ (a key one run lacks differs), flattened with ``/`` as the
runs filter takes them; one column per run, in the order the runs were marked.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from rltop.core.runconfig import config_diff, shown
from rltop.core.store import StoreSnapshot
from rltop.ui.safe import clean
from rltop.ui.widgets.footer import RltopFooter

#: characters of a value shown in a cell (a long prompt template would fill the screen)
CELL_CHARS = 40


class ConfigDiffScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back", id="config_diff.back")]

    DEFAULT_CSS = """
    ConfigDiffScreen { layout: vertical; }
    ConfigDiffScreen #dtitle { height: 1; background: $primary-background; padding: 0 1; }
    ConfigDiffScreen #dnote { height: auto; padding: 0 1; color: $text-muted; }
    ConfigDiffScreen DataTable { height: 1fr; }
    """

    def __init__(self, snapshot: StoreSnapshot, run_ids: list[str]) -> None:
        super().__init__()
        by_id = {r.run_id: r for r in snapshot.runs}
        self.runs = [by_id[i] for i in run_ids if i in by_id]

    def compose(self) -> ComposeResult:
        yield Static(id="dtitle")
        yield Static(id="dnote")
        yield DataTable(id="dtable", cursor_type="row", zebra_stripes=True)
        yield RltopFooter()

    def on_mount(self) -> None:
        configs = {r.run_id: r.config for r in self.runs}
        diff = config_diff(configs)
        keys = {k for cfg in configs.values() for k in cfg}
        head = Text("config diff", style="bold")
        head.append(
            f"  {len(diff)} of {len(keys)} key(s) differ across {len(self.runs)} runs  Esc: back",
        )
        self.query_one("#dtitle", Static).update(head)
        without = [r.name for r in self.runs if not r.config]
        note = Text()
        if without:
            note.append(
                "no config found for: " + ", ".join(clean(n, keep_newlines=False) for n in without)
            )
        self.query_one("#dnote", Static).update(note)
        table = self.query_one(DataTable)
        table.add_column("key")
        for run in self.runs:
            table.add_column(Text(clean(run.name, keep_newlines=False)[:30]))
        for key, values in diff:
            cells = []
            for value in values:
                text = clean(shown(value), keep_newlines=False)
                if len(text) > CELL_CHARS:
                    text = text[: CELL_CHARS - 1] + "…"
                cells.append(Text(text, style="dim" if value is None else ""))
            table.add_row(Text(clean(key, keep_newlines=False)), *cells)
        table.focus()

    def action_back(self) -> None:
        self.app.pop_screen()
