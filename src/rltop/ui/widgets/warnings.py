"""The dashboard's compact warnings strip and the one-line forms of a warning and a checkpoint.

The state it shows comes from :mod:`rltop.ui.warnings_tracker` (the controller that runs the rules).
New warnings are announced here, in the strip, as one coalesced line ("3 new warnings: …"), never
as toasts over the chart or the rollout list.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from rltop.core.checkpoint import BestCheckpoint
from rltop.core.diagnose import Warning
from rltop.ui.safe import clean
from rltop.ui.themes import theme_style
from rltop.ui.warnings_tracker import WarningsState

#: lines of warnings the dashboard strip shows before "+N more"
PANE_LINES = 3
#: below this many rows the strip shows one warning line
SMALL_HEIGHT = 30


SEVERITY_STYLE = {"critical": "bold $error", "warning": "bold $warning", "info": "$primary"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲", "info": "●"}


def severity_style(severity: str, widget: Static | None = None) -> str:
    """A Rich style for a severity from the theme's $error/$warning/$primary colours."""
    return theme_style(SEVERITY_STYLE.get(severity, ""), widget)


def short(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = clean(text, keep_newlines=False)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def warning_line(w: Warning, width: int = 120, widget: Static | None = None) -> Text:
    """One line for a warning: mark, id, run, since step, short evidence."""
    style = severity_style(w.severity, widget)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{SEVERITY_MARK.get(w.severity, '●')} {w.id}", style=style)
    line.append(f"  {short(w.run, 24)}", style="bold")
    if w.step is not None:
        line.append(f"  since step {w.step}", style="dim")
    rest = width - line.cell_len - 2
    if rest > 8:
        line.append("  " + short(w.evidence, rest))
    return line


def news_line(news: list[Warning], width: int = 120, widget: Static | None = None) -> Text:
    """The warnings that just started, in one line: "▲ 3 new warnings: a, b, c — w to see them"."""
    worst = max(news, key=lambda w: w.rank)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(
        SEVERITY_MARK.get(worst.severity, "●") + " ", style=severity_style(worst.severity, widget)
    )
    if len(news) == 1:
        w = news[0]
        line.append(f"new warning: {w.id}", style="bold")
        line.append(f" in {short(w.run, 24)}")
        if w.step is not None:
            line.append(f" since step {w.step}")
    else:
        line.append(f"{len(news)} new warnings: ", style="bold")
        line.append(short(", ".join(dict.fromkeys(w.id for w in news)), max(10, width - 40)))
    line.append(" — w to see them", style="dim")
    return line


def checkpoint_line(best: BestCheckpoint | None, width: int = 120) -> Text:
    """One line for the best-checkpoint candidates of a run."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if best is None:
        return line
    line.append("best checkpoint ", style="bold")
    parts = []
    for c in best.candidates:
        saved = f" ({clean(c.saved, keep_newlines=False)})" if c.saved else ""
        parts.append(f"{c.label} step {c.step}{saved}")
    # whole candidates only (never cut in the middle of a name), "+N more" for the rest
    room = max(10, width - line.cell_len)
    kept: list[str] = []
    for i, part in enumerate(parts):
        more = len(parts) - i - 1
        tail = f" · +{more} more" if more else ""
        candidate = " · ".join([*kept, part])
        if len(candidate) + len(tail) > room and kept:
            line.append(" · ".join(kept) + f" · +{len(parts) - i} more")
            return line
        kept.append(part)
    line.append(short(" · ".join(kept), room))
    return line


CATCH_UP_NOTE = (
    "warnings after the catch-up… (the rules and the best checkpoint wait until the files are read)"
)


class WarningsPane(Static):
    """The dashboard strip: one line per active warning of the shown runs and the best checkpoint."""

    DEFAULT_CSS = """
    WarningsPane { height: auto; max-height: 5; padding: 0 1; background: $panel; display: none; }
    WarningsPane.shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.run_id: str | None = None
        self.state: WarningsState | None = None
        self._text: Text | None = None
        self._lines = -1  # lines of the drawn text
        self.catching_up = False  # the files there at start are still being read

    def on_resize(self) -> None:
        if self.state is not None or self.catching_up:
            self.show_state(self.state, self.run_id)

    def show_catch_up(self, catching_up: bool) -> None:
        """While the catch-up reads the files there at start, the rules and the best checkpoint
        wait for it, and the strip says so instead of showing verdicts on part of a run."""
        self.catching_up = catching_up
        self.show_state(self.state, self.run_id)

    def show_state(self, state: WarningsState | None, run_id: str | None) -> None:
        """Redraw for ``run_id``'s warnings (others counted) and its best checkpoint."""
        self.state, self.run_id = state, run_id
        if self.catching_up or state is None:
            text = Text(CATCH_UP_NOTE if self.catching_up else "", style="dim", no_wrap=True)
            lines = 1 if self.catching_up else 0
            self.set_class(lines > 0, "shown")
            if text != self._text:
                self._text, self._lines = text, lines
                self.update(text)
            return
        # the strip spans the screen (padding 1 each side): from the app's width, so the first
        # draw (while still hidden, zero-sized) and later ones cut the lines alike
        width = max(40, self.app.size.width - 2)
        mine = [w for w in state.active if w.run_id == run_id]
        others = len(state.active) - len(mine)
        text = Text(no_wrap=True, overflow="ellipsis")
        lines = 0
        # a short terminal: one warning line (the rest behind w), so the chart keeps its rows
        small = self.app.size.height < SMALL_HEIGHT
        listed = mine[: 1 if small else PANE_LINES]
        fresh = {w.key for w in state.news}
        # news already listed below is marked there; the rest gets one coalesced line on top
        unlisted = [w for w in state.news if w not in listed]
        if unlisted:
            text.append_text(news_line(unlisted, width, self))
            lines += 1
        for w in listed:
            if lines:
                text.append("\n")
            if w.key in fresh:
                text.append("new ", style="bold reverse")
            text.append_text(warning_line(w, width - (4 if w.key in fresh else 0), self))
            lines += 1
        more = len(mine) - len(listed)
        if (more > 0 or others > 0) and not (small and lines > len(listed)):
            extra = []
            if more > 0:
                extra.append(f"+{more} more")
            if others > 0:
                extra.append(f"{others} in other runs")
            text.append(("\n" if lines else "") + ", ".join(extra) + " — w: all warnings", "dim")
            lines += 1
        best = state.best.get(run_id or "")
        if best is not None:
            if lines:
                text.append("\n")
            text.append_text(checkpoint_line(best, width))
            lines += 1
        self.set_class(lines > 0, "shown")
        if text != self._text:
            # same number of lines (new numbers in the evidence): no layout pass, which would
            # redraw every widget of the screen, the chart included
            same_height = lines == self._lines
            self._text, self._lines = text, lines
            self.update(text, layout=not same_height)
