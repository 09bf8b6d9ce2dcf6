"""The rollout list: one line per rollout (step, reward, group, length, prompt │ completion).

Drawn with Textual's line API over a polars frame and a series of row positions (the query's
result in sort order): only the visible page is ever turned into Python objects, so 200,000
rows scroll as fast as 20. Rows whose text lives on disk are read back for the visible page only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import NamedTuple

import polars as pl
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rltop.core.model import ROW_LOCATION
from rltop.core.numfmt import fmt_value
from rltop.core.search import RolloutQuery, match_spans
from rltop.ui.safe import clean

ROLE_LINES = {"system", "user", "assistant", "<|im_start|>system", "<|im_start|>user", "human"}
USER_MARKERS = {"user", "<|im_start|>user", "human", "[user]"}
LIST_COLUMNS = ("step", "reward", "group", "length", "prompt", "completion")
#: a run of a list line's text and its style (None: the widget's own)
Piece = tuple[str, Style | None]


class _Look(NamedTuple):
    """What every line of one drawing pass shares (``RolloutList.render_lines``)."""

    base: Style  # the widget's own style
    region: Region  # where lines go (its width: a line's)
    components: dict[str, Style]  # component class -> its style, looked up when first used
    combined: dict[Style | None, Style]  # a piece's style -> it on top of ``base``


def first_line(text: str | None, query: RolloutQuery | None = None, width: int = 200) -> str:
    """The first meaningful line of ``text`` (of the user's turn in a chat-template prompt, role
    markers skipped), or the text around the first match of the query."""
    if not text:
        return ""
    if query is not None and query.has_text:
        spans = match_spans(text[:200_000], query, limit=1)
        if spans:
            start = spans[0][0]
            line_start = text.rfind("\n", 0, start) + 1
            if start - line_start > width // 3:
                line_start = max(line_start, start - width // 3)
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            return ("…" if line_start > 0 else "") + text[line_start : min(end, line_start + width)]
    lines = text[:20_000].split("\n")
    # chat-template prompts ("system\n...\nuser\n<question>"): the user's turn says more
    users = [i for i, line in enumerate(lines) if line.strip().lower() in USER_MARKERS]
    start = users[-1] + 1 if users else 0
    for line in lines[start:] + lines[:start]:
        stripped = line.strip()
        if stripped and stripped.lower() not in ROLE_LINES:
            return stripped[:width]
    return text[:width].replace("\n", " ")


def short_group(group: str | None, gid: int | None = None) -> str:
    """A short, stable label for a group: its id, or a hash of a long prompt text.

    ``gid`` (the store's hash of the group) labels it the same whether its text is in memory or
    on disk.
    """
    if group is not None and len(group) <= 8 and group.isprintable():
        return group
    if gid is not None:
        return "#" + format(gid & 0xFFFFFF, "06x")
    if group is None:
        return ""
    return "#" + format(zlib.crc32(group.encode("utf-8", "replace")) & 0xFFFFFF, "06x")


class RolloutList(ScrollView, can_focus=True):
    """Virtual list of rollouts with a keyboard cursor."""

    BINDINGS = [
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "open", "Open", id="rollouts.open"),
    ]

    COMPONENT_CLASSES = {
        "rollout-list--cursor",
        "rollout-list--match",
        "rollout-list--dim",
        "rollout-list--good",
        "rollout-list--bad",
        "rollout-list--header",
    }

    DEFAULT_CSS = """
    RolloutList { background: $surface; overflow-x: hidden; }
    RolloutList > .rollout-list--cursor { background: $boost; text-style: reverse; }
    RolloutList > .rollout-list--match { background: $warning 40%; text-style: bold; }
    RolloutList > .rollout-list--dim { color: $text-muted; }
    RolloutList > .rollout-list--good { color: $success; }
    RolloutList > .rollout-list--bad { color: $error; }
    RolloutList > .rollout-list--header { color: $accent; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0)

    class Opened(Message):
        """Enter on a rollout: open its detail view."""

        def __init__(self, row: int) -> None:
            self.row = row
            super().__init__()

    class Moved(Message):
        def __init__(self, index: int) -> None:
            self.index = index
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.frame: pl.DataFrame = pl.DataFrame()
        self.positions: pl.Series = pl.Series("_row", [], dtype=pl.UInt32)
        self.search_query: RolloutQuery | None = None
        #: reads back the text of a page's rows held on disk (``coldtext.fill_row_heads``)
        self.loader: Callable[[list[dict]], list[dict]] | None = None
        self._cache: dict[int, dict] = {}
        self._cache_key: tuple | None = None
        self._pass: _Look | None = None  # while ``render_lines`` draws
        self._listed: pl.DataFrame | None = None  # the columns of ``frame`` a line shows

    # -- data ----------------------------------------------------------------------------------
    def set_rows(
        self,
        frame: pl.DataFrame,
        positions: pl.Series,
        query: RolloutQuery | None,
        *,
        keep_row: int | None = None,
    ) -> None:
        """Show ``positions`` of ``frame``; the cursor stays on ``keep_row`` when still listed."""
        self.frame = frame
        self._listed = None
        self.positions = positions
        self.search_query = query
        self._cache = {}
        self.virtual_size = Size(self.scrollable_content_region.width, len(positions) + 1)
        index = 0
        if keep_row is not None and len(positions):
            found = (positions == keep_row).arg_true()
            if len(found):
                index = int(found[0])
        self.set_reactive(RolloutList.cursor, min(index, max(0, len(positions) - 1)))
        self._scroll_cursor_visible()
        self.refresh()

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def current_row(self) -> int | None:
        if 0 <= self.cursor < len(self.positions):
            return int(self.positions[self.cursor])
        return None

    def _rows(self, start: int, stop: int) -> None:
        """Fill the cache with list rows ``start .. stop`` (a page at a time)."""
        stop = min(stop, len(self.positions))
        missing = [i for i in range(start, stop) if i not in self._cache]
        if not missing:
            return
        lo, hi = missing[0], missing[-1] + 1
        if self._listed is None:  # the columns a line shows, picked once per frame
            cols = [c for c in LIST_COLUMNS if c in self.frame.columns]
            cols += [c for c in ("_gid", *ROW_LOCATION) if c in self.frame.columns]
            self._listed = self.frame.select(cols)
        rows = self._listed[self.positions.slice(lo, hi - lo)].to_dicts()
        if self.loader is not None and "_path" in self._listed.columns:
            rows = self.loader(rows)
        self._cache.update(enumerate(rows, lo))
        if len(self._cache) > 2000:
            keep = range(max(0, lo - 200), hi + 200)
            self._cache = {k: v for k, v in self._cache.items() if k in keep}

    # -- drawing -------------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        # the lines of one pass share the widget's style, size and component styles: looked up
        # once per pass, not once per line
        self._pass = self._look()
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def _look(self) -> _Look:
        return _Look(self.rich_style, self.scrollable_content_region, {}, {})

    def _style(self, look: _Look, name: str) -> Style:
        style = look.components.get(name)
        if style is None:
            style = look.components[name] = self.get_component_rich_style(name)
        return style

    def render_line(self, y: int) -> Strip:
        look = self._pass or self._look()
        width = look.region.width
        _sx, scroll_y = self.scroll_offset
        if y == 0:
            header = f"  {'step':>6} {'reward':>7} {'group':<7} {'length':>7}  prompt │ completion"
            header += " " * max(0, width - len(header))  # the whole line in the header's style
            return self._strip([(header, self._style(look, "rollout-list--header"))], look)
        index = y - 1 + scroll_y
        if index >= len(self.positions):
            return Strip.blank(width, look.base)
        row = self._cache.get(index)
        if row is None:
            self._rows(max(0, scroll_y - 5), scroll_y + look.region.height + 5)
            row = self._cache.get(index)
            if row is None:
                return Strip.blank(width, look.base)
        return self._strip(self._line(row, look, index == self.cursor), look)

    @staticmethod
    def _strip(pieces: list[Piece], look: _Look) -> Strip:
        """A line as wide as the list from styled pieces: cut with an ellipsis when too long
        (in the style of the piece it cuts), padded when short."""
        width, base = look.region.width, look.base
        if width < 1:
            return Strip([], 0)
        sizes = [cell_len(text) for text, _style in pieces]
        used = sum(sizes)
        if used > width:  # as Rich's ``Text.truncate(overflow="ellipsis")`` cuts
            room, kept = width - 1, []
            for (text, style), size in zip(pieces, sizes, strict=True):
                if size <= room:
                    kept.append((text, style))
                    room -= size
                    continue
                kept += [(set_cell_size(text, room), style), ("…", style)]
                break
            pieces, used = kept, width
        runs: list[list] = []  # [text, style]: runs of one style in one segment, as Rich makes
        for text, style in pieces:
            if not text:
                continue
            if runs and (runs[-1][1] is style or runs[-1][1] == style):
                runs[-1][0] += text
            else:
                runs.append([text, style])
        combined = look.combined
        segments = []
        for text, style in runs:
            full = combined.get(style)
            if full is None:
                full = combined[style] = base + style if style else base
            segments.append(Segment(text, full))
        return Strip(segments, used).extend_cell_length(width, base)

    def _line(self, row: dict, look: _Look, selected: bool) -> list[Piece]:
        width = look.region.width
        dim = self._style(look, "rollout-list--dim")
        reward = row.get("reward")
        if reward is None:
            reward_style = dim
        elif reward > 0:
            reward_style = self._style(look, "rollout-list--good")
        else:
            reward_style = self._style(look, "rollout-list--bad")
        group = clean(short_group(row.get("group"), row.get("_gid")), keep_newlines=False)
        length = row.get("length")
        pieces: list[Piece] = [
            ("▶ " if selected else "  ", None),
            (f"{row.get('step', ''):>6} ", None),
            (f"{fmt_value(reward) if reward is not None else '—':>7} ", reward_style),
            (f"{group:<7} ", dim),
            (f"{length if length is not None else '':>7}  ", dim),
        ]
        room = max(10, width - sum(cell_len(text) for text, _style in pieces))
        prompt, completion = row.get("prompt"), row.get("completion")
        if prompt is None and completion is None and row.get("_path"):
            pieces.append(("(on disk)", dim))
            return self._cursor(pieces, look, selected)
        p_room = max(8, room * 2 // 5)
        p = clean(first_line(prompt, self.search_query, p_room * 2), keep_newlines=False)
        c = clean(first_line(completion, self.search_query, room * 2), keep_newlines=False)
        pieces += self._highlighted(p[:p_room], look)
        pieces.append((" │ ", dim))
        pieces += self._highlighted(c, look)
        return self._cursor(pieces, look, selected)

    def _cursor(self, pieces: list[Piece], look: _Look, selected: bool) -> list[Piece]:
        if not selected:
            return pieces
        mark = (
            self._style(look, "rollout-list--cursor") if self.has_focus else Style(underline=True)
        )
        return [(text, style + mark if style else mark) for text, style in pieces]

    def _highlighted(self, part: str, look: _Look) -> list[Piece]:
        """``part`` in pieces, the search's matches in the match style."""
        if self.search_query is None or not self.search_query.has_text:
            return [(part, None)]
        style = self._style(look, "rollout-list--match")
        out: list[Piece] = []
        at = 0
        for a, b in match_spans(part, self.search_query, limit=20):
            if b <= at:
                continue
            a = max(a, at)
            out += [(part[at:a], None), (part[a:b], style)]
            at = b
        out.append((part[at:], None))
        return [piece for piece in out if piece[0]]

    # -- moving --------------------------------------------------------------------------------
    def watch_cursor(self, _old: int, new: int) -> None:
        self._scroll_cursor_visible()
        self.refresh()
        self.post_message(self.Moved(new))

    def _scroll_cursor_visible(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.positions) + 1)
        self._scroll_cursor_visible()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def move_to(self, index: int) -> None:
        if not len(self.positions):
            return
        self.cursor = max(0, min(len(self.positions) - 1, index))

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 2))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.positions) - 1)

    def action_open(self) -> None:
        row = self.current_row
        if row is not None:
            self.post_message(self.Opened(row))

    def on_click(self, event) -> None:
        index = event.y - 1 + self.scroll_offset.y
        if 0 <= index < len(self.positions):
            if index == self.cursor:
                self.action_open()
            self.move_to(index)
