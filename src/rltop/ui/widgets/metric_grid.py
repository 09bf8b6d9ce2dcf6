"""The card grid: one card per metric (name, latest value, trend, sparkline), grouped.

Drawn with Textual's line API: only visible lines are rendered, so a run with hundreds of metrics
costs the same to draw as one with ten. Cards are laid out once per data change or resize.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rltop.core.numfmt import fmt_value, shorten_name, sparkline
from rltop.ui.safe import clean

CARD_WIDTH = 26
CARD_HEIGHT = 4  # name, value + trend, sparkline, gap
SPARK_POINTS = 400


@dataclass(frozen=True)
class Card:
    """What one card shows, computed from a snapshot (no widget state)."""

    name: str
    group: str
    latest: float | str | None
    step: int | None
    delta: float | None
    spark: list[float]
    lower_better: bool


class MetricGrid(ScrollView, can_focus=True):
    """Scrollable grid of metric cards with a keyboard cursor."""

    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "Left", show=False),
        Binding("right,l", "move(1, 0)", "Right", show=False),
        Binding("up,k", "move(0, -1)", "Up", show=False),
        Binding("down,j", "move(0, 1)", "Down", show=False),
        Binding("enter,space", "toggle", "Chart it", id="grid.toggle"),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    COMPONENT_CLASSES = {
        "metric-grid--name",
        "metric-grid--value",
        "metric-grid--group",
        "metric-grid--cursor",
        "metric-grid--charted",
        "metric-grid--up",
        "metric-grid--down",
        "metric-grid--spark",
        "metric-grid--dim",
    }

    DEFAULT_CSS = """
    MetricGrid { background: $surface; }
    MetricGrid > .metric-grid--name { color: $text-muted; }
    MetricGrid > .metric-grid--value { color: $text; text-style: bold; }
    MetricGrid > .metric-grid--group { color: $accent; text-style: bold; }
    MetricGrid > .metric-grid--cursor { background: $boost; text-style: reverse; }
    MetricGrid > .metric-grid--charted { color: $secondary; text-style: bold; }
    MetricGrid > .metric-grid--up { color: $success; }
    MetricGrid > .metric-grid--down { color: $error; }
    MetricGrid > .metric-grid--spark { color: $primary; }
    MetricGrid > .metric-grid--dim { color: $text-disabled; }
    """

    cursor: reactive[int] = reactive(0)

    class Toggled(Message):
        """The user asked to add or remove a metric from the chart."""

        def __init__(self, name: str) -> None:
            self.name = name
            super().__init__()

    class Highlighted(Message):
        """The cursor moved to a metric."""

        def __init__(self, name: str) -> None:
            self.name = name
            super().__init__()

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.cards: list[Card] = []
        self.charted: set[str] = set()
        self._rows: list[tuple[str, object]] = []  # ("group", title) | ("cards", [index, ...])
        self._row_y: list[int] = []
        self._card_pos: dict[int, tuple[int, int]] = {}  # card index -> (row index, column)
        self._lines: list[
            tuple[str, object, int]
        ] = []  # per screen line: kind, payload, line-in-card
        self._columns = 1

    # -- data ----------------------------------------------------------------------------------
    def set_cards(self, cards: list[Card], charted: set[str]) -> None:
        if cards == self.cards and charted == self.charted:
            return  # nothing a card shows has changed (e.g. only rollout text arrived)
        if (
            charted == self.charted
            and len(cards) == len(self.cards)
            and self._lines
            and all(
                (a.name, a.group) == (b.name, b.group)
                for a, b in zip(cards, self.cards, strict=True)
            )
        ):
            # same cards in the same places: redraw only the rows of cards whose values changed
            # (a rollout stream changes a few derived cards several times a second)
            rows = {
                self._card_pos[i][0]
                for i, (a, b) in enumerate(zip(cards, self.cards, strict=True))
                if a != b and i in self._card_pos
            }
            self.cards = cards
            for row in rows:
                if row < len(self._row_first_line):
                    self.refresh_lines(self._row_first_line[row], CARD_HEIGHT)
            return
        current = (
            self.cards[self.cursor].name if self.cards and self.cursor < len(self.cards) else None
        )
        self.cards = cards
        self.charted = charted
        self._layout()
        if current is not None:
            index = next((i for i, c in enumerate(cards) if c.name == current), None)
            if index is not None and index != self.cursor:
                self.set_reactive(MetricGrid.cursor, index)
        if self.cursor >= len(cards):
            self.set_reactive(MetricGrid.cursor, max(0, len(cards) - 1))
        self.refresh()

    @property
    def current(self) -> str | None:
        return self.cards[self.cursor].name if 0 <= self.cursor < len(self.cards) else None

    def on_resize(self) -> None:
        self._layout()
        self._scroll_cursor_visible()

    def _layout(self) -> None:
        width = max(self.scrollable_content_region.width, CARD_WIDTH)
        self._columns = max(1, width // CARD_WIDTH)
        lines: list[tuple[str, object, int]] = []
        self._card_pos = {}
        row_index = 0
        group = None
        pending: list[int] = []

        def flush() -> None:
            nonlocal row_index
            if not pending:
                return
            for i, idx in enumerate(pending):
                self._card_pos[idx] = (row_index, i)
            for sub in range(CARD_HEIGHT):
                lines.append(("cards", tuple(pending), sub))
            row_index += 1
            pending.clear()

        self._row_first_line: list[int] = []
        for idx, card in enumerate(self.cards):
            if card.group != group:
                flush()
                group = card.group
                lines.append(("group", group, 0))
            if len(pending) == self._columns:
                flush()
            if not pending:
                self._row_first_line.append(len(lines))
            pending.append(idx)
        flush()
        self._lines = lines
        self.virtual_size = Size(width, len(lines))

    # -- drawing -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        _scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        kind, payload, sub = self._lines[index]
        if kind == "group":
            style = self.get_component_rich_style("metric-grid--group")
            title = f" {clean(str(payload or 'metrics'), keep_newlines=False)} "
            text = ("── " + title).ljust(width, "─")[:width]
            return Strip([Segment(text, base + style)], width)
        segments: list[Segment] = []
        for idx in payload:  # type: ignore[union-attr]
            segments.extend(self._card_line(idx, sub, base))
        strip = Strip(segments)
        return strip.extend_cell_length(width, base).crop(0, width)

    def _card_line(self, idx: int, sub: int, base: Style) -> list[Segment]:
        card = self.cards[idx]
        inner = CARD_WIDTH - 2
        selected = idx == self.cursor and self.has_focus
        cursor_style = self.get_component_rich_style("metric-grid--cursor") if selected else Style()
        if sub == 0:
            marker = "●" if card.name in self.charted else " "
            name = clean(card.name, keep_newlines=False)
            name = shorten_name(name, inner - 1)
            style = self.get_component_rich_style(
                "metric-grid--charted" if card.name in self.charted else "metric-grid--name"
            )
            return [
                Segment(marker, base + style),
                Segment(name.ljust(inner), base + style + cursor_style),
                Segment("  ", base),
            ]
        if sub == 1:
            value = fmt_value(card.latest)
            if isinstance(card.latest, str):
                value = clean(value, keep_newlines=False)[: inner - 1]
            segs = [
                Segment(" " + value, base + self.get_component_rich_style("metric-grid--value"))
            ]
            used = 1 + len(value)
            latest_finite = isinstance(card.latest, int | float) and math.isfinite(card.latest)
            # no trend beside NaN/inf: "NaN ▲0.0216" reads as if NaN were rising
            if (
                latest_finite
                and card.delta is not None
                and card.delta != 0
                and math.isfinite(card.delta)
            ):
                good = (card.delta < 0) if card.lower_better else (card.delta > 0)
                arrow = "▲" if card.delta > 0 else "▼"
                tstyle = self.get_component_rich_style(
                    "metric-grid--up" if good else "metric-grid--down"
                )
                text = f" {arrow}{fmt_value(abs(card.delta))}"
                segs.append(Segment(text, base + tstyle))
                used += len(text)
            if card.step is not None:
                stext = f" @{card.step}"
                if used + len(stext) <= inner:
                    segs.append(
                        Segment(
                            stext.rjust(inner - used),
                            base + self.get_component_rich_style("metric-grid--dim"),
                        )
                    )
                    used = inner
            segs.append(Segment(" " * max(0, CARD_WIDTH - used), base))
            return _crop(segs, CARD_WIDTH)
        if sub == 2:
            line = sparkline(card.spark, inner)
            return [
                Segment(
                    " " + line.ljust(inner) + " ",
                    base + self.get_component_rich_style("metric-grid--spark"),
                )
            ]
        return [Segment(" " * CARD_WIDTH, base)]

    # -- keys ----------------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        if not self.cards:
            return
        row, col = self._card_pos.get(self.cursor, (0, 0))
        if dx:
            self.cursor = max(0, min(len(self.cards) - 1, self.cursor + dx))
            return
        target_row = row + dy
        candidates = [i for i, (r, _c) in self._card_pos.items() if r == target_row]
        if not candidates:
            if dy > 0:
                self.action_last()
            else:
                self.action_first()
            return
        self.cursor = min(candidates, key=lambda i: abs(self._card_pos[i][1] - col))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(0, len(self.cards) - 1)

    def action_toggle(self) -> None:
        if self.current:
            self.post_message(self.Toggled(self.current))

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_cursor_visible()
        self.refresh()
        if self.current:
            self.post_message(self.Highlighted(self.current))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def _scroll_cursor_visible(self) -> None:
        pos = self._card_pos.get(self.cursor)
        if pos is None or not self._row_first_line:
            return
        row = pos[0]
        if row >= len(self._row_first_line):
            return
        top = self._row_first_line[row]
        if row == 0 or self._lines[top - 1][0] == "group":
            top = max(0, top - 1) if row == 0 or self._lines[top - 1][0] == "group" else top
        self.scroll_to_region(Region(0, top, 1, CARD_HEIGHT + 1), animate=False, force=True)

    def on_click(self, event) -> None:  # the mouse works, but is never required
        y = event.y + self.scroll_offset.y
        if y >= len(self._lines):
            return
        kind, payload, _sub = self._lines[y]
        if kind != "cards":
            return
        col = (event.x + self.scroll_offset.x) // CARD_WIDTH
        if col < len(payload):  # type: ignore[arg-type]
            idx = payload[col]  # type: ignore[index]
            if idx == self.cursor:
                self.action_toggle()
            self.cursor = idx


def _crop(segments: list[Segment], width: int) -> list[Segment]:
    return list(Strip(segments).crop(0, width))
