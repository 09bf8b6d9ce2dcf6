"""A rollout list line is drawn from styled pieces as Rich would draw the same text: cut with an
ellipsis at the list's width (in the style of the piece it cuts), padded when short."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.geometry import Region

from rltop.ui.widgets.rollout_list import RolloutList, _Look

STYLES = [None, Style(bold=True), Style(color="red"), Style(underline=True, color="blue")]
# ASCII, wide (CJK, emoji) and combining characters: cells are not characters
CHARS = st.sampled_from([*"ab │…", "漢", "字", "😀", "e\u0301"])
PIECES = st.lists(
    st.tuples(st.lists(CHARS, max_size=12).map("".join), st.sampled_from(STYLES)), max_size=8
)


def _cells(segments) -> list[tuple[str, Style | None]]:
    out = []
    for segment in segments:
        if segment.text == "\n":
            continue
        out += [(ch, segment.style or Style()) for ch in segment.text]
    return out


@settings(max_examples=300, deadline=None)
@given(PIECES, st.integers(min_value=1, max_value=40))
def test_a_line_is_cut_and_styled_as_rich_cuts_it(pieces, width):
    look = _Look(Style(), Region(0, 0, width, 1), {}, {})
    strip = RolloutList._strip(list(pieces), look)
    text = Text(no_wrap=True)
    for part, style in pieces:
        text.append(part, style=style)
    text.truncate(width, overflow="ellipsis", pad=True)
    expected = _cells(text.render(Console(width=200)))
    got = _cells(strip)
    assert strip.cell_length == width
    assert "".join(ch for ch, _ in got) == "".join(ch for ch, _ in expected)
    got_styles, expected_styles = [s for _, s in got], [s for _, s in expected]
    if any(cell_len(ch) != 1 for ch, _ in got) and "…" in "".join(ch for ch, _ in got):
        # Rich styles its ellipsis by character index: where a wide character was cut into a
        # space the index is one off; here it takes the style of the piece it cuts
        last = max(i for i, (ch, _) in enumerate(got) if ch == "…")
        del got_styles[last], expected_styles[last]
    assert got_styles == expected_styles
