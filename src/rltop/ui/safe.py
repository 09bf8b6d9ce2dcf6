"""Untrusted text (anything a model wrote, any log line) made inert before it reaches the screen.

Rich markup is never interpreted (we build ``Text`` objects, not markup strings), and terminal
control sequences (ANSI CSI/OSC, including OSC 52 clipboard writes and title changes) and other
control characters are replaced by visible placeholders.
"""

from __future__ import annotations

import re

from rich.text import Text

# CSI, OSC (terminated by BEL or ST), DCS/SOS/PM/APC strings, and single-character escapes
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str, *, keep_newlines: bool = True) -> str:
    """Plain text with escape sequences shown as ``␛…`` and control characters as ``·``."""
    text = _ESCAPES.sub(lambda m: "␛" + m.group(0)[1:].translate(_VISIBLE), text)
    text = _CONTROLS.sub(lambda m: "\n" if m.group(0) == "\n" and keep_newlines else "·", text)
    if not keep_newlines:
        text = text.replace("\n", "⏎")
    return text.replace("\t", "    ")


_VISIBLE = {i: "·" for i in [*range(0, 32), *range(127, 160)]}


def safe_text(text: str, style: str = "", *, keep_newlines: bool = True) -> Text:
    """A Rich ``Text`` that shows ``text`` literally: no markup, no escapes, no control codes."""
    return Text(clean(text, keep_newlines=keep_newlines), style=style)
