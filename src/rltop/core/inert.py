"""Untrusted text made inert: the one escaping path for every sink.

Anything a log, a file name, a model or a server wrote may hold terminal control sequences (ANSI
CSI/OSC, including OSC 52 clipboard writes and OSC 0 title changes), other control characters,
bidirectional overrides (U+202E), zero-width characters, a BOM, or bytes that were not UTF-8
(surrogate escapes from ``os.fsdecode``). :func:`inert` shows all of them as visible placeholders, so
what reaches a terminal is exactly the characters the user sees. Two sinks use it:

- Textual content: ``rltop.ui.safe.safe_text`` (a Rich ``Text``, so markup is never interpreted);
- plain terminal text (``sources``/``check``/``watch``/``config`` output): :func:`plain`.

JSON output needs neither: ``json.dumps`` (``ensure_ascii``) escapes every such character.
"""

from __future__ import annotations

import re

from rltop.core.lazyre import lazy

# CSI, OSC (terminated by BEL or ST), DCS/SOS/PM/APC strings, and single-character escapes
_ESCAPES = lazy(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"
)
_CONTROLS = lazy(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# invisible characters that change how the text around them reads or is laid out: bidi
# embeddings/overrides/isolates and marks, zero-width space/joiners, word joiner and invisible
# operators, BOM, Mongolian vowel separator, soft hyphen, line/paragraph separators, and lone
# surrogates (undecodable bytes of a file name); shown as ⟨U+XXXX⟩ (bytes as ⟨0xXX⟩)
_INVISIBLE = lazy(
    "[\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\ud800-\udfff]"
)
_VISIBLE = {i: "·" for i in [*range(0, 32), *range(127, 160)]}


def _show_invisible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape of a byte that was not UTF-8
        return f"⟨0x{code - 0xDC00:02X}⟩"
    return f"⟨U+{code:04X}⟩"


def inert(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with escape sequences shown as ``␛…``, control characters as ``·``, and invisible
    or direction-changing characters as ``⟨U+XXXX⟩``; with ``keep_newlines=False`` a newline is
    ``⏎`` (one line stays one line). Tabs become four spaces."""
    if not isinstance(text, str):
        text = str(text)
    text = _ESCAPES.sub(lambda m: "␛" + m.group(0)[1:].translate(_VISIBLE), text)
    text = _CONTROLS.sub(lambda m: "\n" if m.group(0) == "\n" and keep_newlines else "·", text)
    if not keep_newlines:
        text = text.replace("\n", "⏎")
    text = _INVISIBLE.sub(_show_invisible, text)
    return text.replace("\t", "    ")


def plain(text: object) -> str:
    """One line of plain terminal text (a name, a path, a message from a log or a server) made
    inert: the function every text-mode command uses for untrusted strings."""
    return inert(str(text), keep_newlines=False)


def install_log_handler() -> None:
    """rltop's log messages go to stderr through a formatter that makes them inert (instead of
    Python's last-resort handler, which writes them raw; a traceback keeps its line breaks).
    ``logging`` is imported here, not at start-up (``rltop --help`` never logs)."""
    import logging

    class InertFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return inert(super().format(record))

    logger = logging.getLogger("rltop")
    if any(getattr(h, "_rltop_inert", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(InertFormatter("%(message)s"))
    handler._rltop_inert = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
