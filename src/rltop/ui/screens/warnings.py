"""``w``: every active warning (Enter for its detail), the cleared ones, and the best checkpoints."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rltop.core.diagnose import Warning
from rltop.ui.safe import clean
from rltop.ui.screens.warning_detail import WarningDetailScreen
from rltop.ui.typed import rltop_app
from rltop.ui.warnings_tracker import WarningsState
from rltop.ui.widgets.footer import RltopFooter
from rltop.ui.widgets.warnings import short, warning_line


class WarningsScreen(Screen):
    """Active warnings of every run, most severe first; history; best-checkpoint candidates."""

    BINDINGS = [
        Binding("escape,w", "back", "Back", id="warnings.back"),
    ]

    DEFAULT_CSS = """
    WarningsScreen { layout: vertical; }
    #warnings-title { height: 1; background: $primary-background; padding: 0 1; }
    #warnings-list { height: auto; max-height: 50%; border: none; padding: 0; }
    #warnings-more { height: 1fr; padding: 0 1; }
    #warnings-more Static { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[Warning] = []

    def compose(self) -> ComposeResult:
        yield Static(id="warnings-title")
        yield OptionList(id="warnings-list")
        with VerticalScroll(id="warnings-more"):
            yield Static(id="warnings-best")
            yield Static(id="warnings-history")
        yield RltopFooter()

    @property
    def tracker(self):
        return rltop_app(self).warnings_tracker

    def on_mount(self) -> None:
        tracker = self.tracker
        if tracker is not None:
            tracker.listeners.append(self.show_state)
            self.show_state(tracker.state)
        self.query_one(OptionList).focus()

    def on_unmount(self) -> None:
        tracker = self.tracker
        if tracker is not None and self.show_state in tracker.listeners:
            tracker.listeners.remove(self.show_state)

    def show_state(self, state: WarningsState) -> None:
        """Redraw from the tracker's state, keeping the highlighted warning where it was."""
        width = max(40, self.app.size.width - 2)
        listing = self.query_one(OptionList)
        keep = None
        if listing.highlighted is not None and listing.highlighted < len(self.warnings):
            keep = self.warnings[listing.highlighted].key
        if state.active != self.warnings:
            self.warnings = list(state.active)
            listing.clear_options()
            listing.add_options([Option(warning_line(w, width, self)) for w in self.warnings])
            keys = [w.key for w in self.warnings]
            if self.warnings:
                listing.highlighted = keys.index(keep) if keep in keys else 0
        n = len(state.active)
        title = Text(f"{n} active warning{'s' if n != 1 else ''}", style="bold")
        title.append("  Enter: details · Esc: back", style="dim")
        self.query_one("#warnings-title", Static).update(title)
        self.query_one("#warnings-best", Static).update(self._best_text(state, width))
        self.query_one("#warnings-history", Static).update(self._history_text(state, width))

    def _best_text(self, state: WarningsState, width: int) -> Text:
        text = Text("\n")
        text.append("Best checkpoint", style="bold underline")
        text.append("\n")
        snap = rltop_app(self).snapshot
        names = {r.run_id: r.name for r in snap.runs} if snap else {}
        shown = [(rid, b) for rid, b in state.best.items() if b is not None]
        if not shown:
            text.append("  not enough metrics yet (needs a valid loss or a reward)\n", style="dim")
        for run_id, best in shown:
            text.append(f"  {short(names.get(run_id, run_id), 40)}", style="bold")
            text.append(
                f"  {best.kind}, by {clean(best.basis, keep_newlines=False)}\n", style="dim"
            )
            for c in best.candidates:
                text.append(f"    {short(c.describe(), width - 4)}\n")
        return text

    def _history_text(self, state: WarningsState, width: int) -> Text:
        text = Text("\n")
        text.append("Cleared", style="bold underline")
        text.append("\n")
        if not state.history:
            text.append("  none yet\n", style="dim")
        for item in state.history:
            w = item.warning
            line = warning_line(w, width - 20, self)
            line.stylize("dim")
            text.append("  ")
            text.append_text(line)
            if item.at_step is not None:
                text.append(f"  cleared at step {item.at_step}", style="dim")
            text.append("\n")
        return text

    @on(OptionList.OptionSelected, "#warnings-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self.warnings):
            self.app.push_screen(WarningDetailScreen(self.warnings[event.option_index]))

    def action_back(self) -> None:
        self.app.pop_screen()
