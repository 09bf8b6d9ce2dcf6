"""Untrusted text (anything a model wrote, any log line or file name) made inert for Textual.

Rich markup is never interpreted (we build ``Text`` objects, not markup strings); control
sequences and invisible characters are made visible by :func:`rltop.core.inert.inert`, the one
escaping path shared with the text-mode commands.
"""

from __future__ import annotations

from rich.text import Text

from rltop.core.inert import inert

clean = inert  # the name the screens use


def safe_text(text: str, style: str = "", *, keep_newlines: bool = True) -> Text:
    """A Rich ``Text`` that shows ``text`` literally: no markup, no escapes, no control codes."""
    return Text(inert(text, keep_newlines=keep_newlines), style=style)
