"""A JSON object on one very long line, read without holding its big values.

A rollout line may carry a 50 MB completion. Parsing it whole holds the line, the decoded text
(up to four bytes a character) and every copy a reader makes, whatever the memory budget. This
scanner walks the line's bytes a window at a time (``WINDOW``) from memory or from disk and keeps
only the top-level values that are small (``KEEP_VALUE`` bytes of JSON at most: the step, the
reward, ids, short fields), parsed as usual. A larger value is *cold*: where it is, its length in
characters (for a string, counted as it would decode) and a digest of its bytes (the same text
gives the same digest: prompts still form groups) are kept; its text is decoded again from disk
a page at a time (``string_pieces``) when it is shown.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

import orjson

from rltop.core.lazyre import lazy

#: a line longer than this (bytes) is scanned, not parsed
COLD_LINE = 1024 * 1024
#: a top-level value up to this many bytes of JSON is kept and parsed
KEEP_VALUE = 64 * 1024
#: bytes looked at at a time
WINDOW = 1024 * 1024

#: a run of string content made of whole units (a character, or a whole escape: a surrogate
#: pair counts as one), stopping at the closing quote or where the window ends
_BODY = lazy(
    rb'[^"\\]*(?:\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}'
    # a high surrogate alone only when what follows is there and is no low one
    rb"|u[dD][89abAB][0-9a-fA-F]{2}(?=[^\\]|\\[^u]|\\u(?=..)(?![dD][c-fC-F]))"
    rb'|u(?![dD][89abAB])[0-9a-fA-F]{4}|[^u])[^"\\]*)*'
)
_ESCAPE = lazy(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.S
)
_CONTINUATION = bytes(range(0x80, 0xC0))
_STRUCTURE = lazy(rb'[^"{}\[\]]*')
_SCALAR = lazy(rb"[^,}\]\s]*")
_SPACE = lazy(rb"[ \t\r\n]*")
#: longest escape (a surrogate pair): a window keeps this much unread so none is cut
_LONGEST_ESCAPE = 12


@dataclass(eq=False)
class ColdValue:
    """A top-level value too large to keep: where it is (offsets in the line), what it is."""

    kind: str  # "string", "object", "array" or "scalar"
    start: int  # the value's first byte (a string's opening quote)
    end: int  # just after its last byte
    chars: int | None = None  # a string's length in characters, decoded
    digest: str = ""  # of its JSON bytes (CRC-32 and size)

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(eq=False)
class Scanned:
    """A line's small top-level values (parsed) and where its large ones are."""

    small: dict[str, Any]
    cold: dict[str, ColdValue] = field(default_factory=dict)


def string_chars(data: bytes) -> int:
    """Characters that string content ``data`` (whole units, no quotes) decodes to."""
    if b"\\" in data:
        data, escapes = _ESCAPE.subn(b"", data)
    else:
        escapes = 0
    return len(data.translate(None, _CONTINUATION)) + escapes


class _Cursor:
    """A window over ``read(offset, size)`` (the line's bytes), moving forward only."""

    def __init__(self, read: Callable[[int, int], bytes], length: int) -> None:
        self.read = read
        self.length = length
        self.base = 0  # line offset of ``buf[0]``
        self.buf = b""
        self.i = 0  # position in ``buf``

    @property
    def pos(self) -> int:
        return self.base + self.i

    def more(self) -> bool:
        """Slide the window: drop what was read, read the next ``WINDOW`` bytes."""
        end = self.base + len(self.buf)
        if end >= self.length:
            return False
        keep = self.buf[self.i :]
        self.base += self.i
        self.buf = keep + self.read(end, min(WINDOW, self.length - end))
        self.i = 0
        return True

    def peek(self) -> int:
        """The next byte that is not white space (-1 at the end of the line)."""
        while True:
            self.i = _SPACE.match(self.buf, self.i).end()
            if self.i < len(self.buf):
                return self.buf[self.i]
            if not self.more():
                return -1

    def expect(self, char: bytes) -> None:
        if self.peek() != char[0]:
            raise ValueError(f"malformed JSON (expected {char.decode()!r})")
        self.i += 1

    def string(self, sink: Callable[[bytes], None] | None) -> int:
        """Past a string whose opening quote was just read; returns its length in characters.
        ``sink`` gets its content (JSON, undecoded) in pieces."""
        chars = 0
        for piece in self.string_parts():
            chars += _decoded_len(piece)
            if sink is not None:
                sink(piece)
        return chars

    def string_parts(self) -> Iterator[bytes]:
        """Past a string whose opening quote was just read: its content in pieces of whole
        escapes and whole UTF-8 characters, a window at a time."""
        while True:
            buf, i = self.buf, self.i
            end = _closing_quote(buf, i)
            if end >= 0:
                self.i = end + 1
                if end > i:
                    yield buf[i:end]
                return
            cut = _safe_cut(buf, i)
            self.i = cut
            if cut > i:
                yield buf[i:cut]
            if not self.more():
                raise ValueError("malformed JSON (unterminated string)")

    def nested(self) -> None:
        """Past an object or array whose opening bracket was just read."""
        depth = 1
        while depth:
            self.i = _STRUCTURE.match(self.buf, self.i).end()
            if self.i >= len(self.buf):
                if not self.more():
                    raise ValueError("malformed JSON (unterminated object)")
                continue
            char = self.buf[self.i]
            self.i += 1
            if char == 0x22:
                self.string(None)
            elif char in (0x7B, 0x5B):
                depth += 1
            else:
                depth -= 1

    def scalar(self) -> None:
        while True:
            self.i = _SCALAR.match(self.buf, self.i).end()
            if self.i < len(self.buf) or not self.more():
                return


def _closing_quote(buf: bytes, i: int) -> int:
    """The closing quote of string content starting at ``i`` (a whole-unit boundary), or -1."""
    j = buf.find(b'"', i)
    while j != -1:
        k = j
        while k > i and buf[k - 1] == 0x5C:
            k -= 1
        if (j - k) % 2 == 0:  # not escaped
            return j
        j = buf.find(b'"', j + 1)
    return -1


def _safe_cut(buf: bytes, i: int) -> int:
    """A cut near the end of ``buf`` (string content from ``i``, no closing quote) that splits
    no escape (nor a surrogate pair) and no UTF-8 character: at a byte that starts a character
    and is no backslash, with no backslash in the ``_LONGEST_ESCAPE // 2`` bytes before it."""
    p = len(buf) - 1
    floor = max(i, len(buf) - 4096)
    reach = _LONGEST_ESCAPE // 2
    while p > floor:
        byte = buf[p]
        if byte == 0x5C or 0x80 <= byte < 0xC0:
            p -= 1
            continue
        back = buf.rfind(b"\\", max(i, p - reach), p)
        if back == -1:
            return p
        p = back - 1
    # text thick with escapes: walk it unit by unit (slower, always right)
    end = _BODY.match(buf, i).end()
    if end < len(buf) - _LONGEST_ESCAPE and buf[end] != 0x22:
        raise ValueError("malformed JSON (invalid escape)")
    return i + _utf8_cut(buf[i:end])


def _decoded_len(content: bytes) -> int:
    """Characters that string content ``content`` decodes to."""
    try:
        return len(_decode_strict(content))
    except ValueError:  # bytes that are not UTF-8, a broken escape
        return string_chars(content)


class _Capture:
    """The bytes of one value while it is small; its digest always."""

    def __init__(self, cursor: _Cursor, limit: int) -> None:
        self.cursor = cursor
        self.limit = limit
        self.start = cursor.pos
        self.parts: list[bytes] | None = []
        self.size = 0
        self.crc = 0
        self._from = cursor.i

    def take(self) -> None:
        """Take what the cursor passed since the last call (before it slides its window)."""
        cur = self.cursor
        data = cur.buf[self._from : cur.i]
        self._from = cur.i
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        if self.parts is not None:
            if self.size > self.limit:
                self.parts = None
            else:
                self.parts.append(data)


def scan_object(read: Callable[[int, int], bytes], length: int) -> Scanned:
    """The top-level object on a line of ``length`` bytes, read by ``read(offset, size)``.

    ``ValueError`` when it is not a JSON object (the caller skips the line with the reason)."""
    cur = _Cursor(read, length)
    capture: _Capture | None = None
    original_more = cur.more

    def more() -> bool:  # a value being captured keeps the bytes the window drops
        if capture is not None:
            capture.take()
        got = original_more()
        if capture is not None:
            capture._from = cur.i
        return got

    cur.more = more  # type: ignore[method-assign]
    cur.expect(b"{")
    small_parts: list[bytes] = []
    cold: dict[str, ColdValue] = {}
    if cur.peek() == 0x7D:
        cur.i += 1
    else:
        while True:
            cur.expect(b'"')
            key_parts: list[bytes] = []
            cur.string(key_parts.append)
            key_raw = b"".join(key_parts)
            if len(key_raw) > KEEP_VALUE:
                raise ValueError("malformed JSON (a key of over 64 KB)")
            cur.expect(b":")
            first = cur.peek()
            if first == -1:
                raise ValueError("malformed JSON (no value)")
            capture = _Capture(cur, KEEP_VALUE)
            cur.i += 1
            if first == 0x22:
                chars = cur.string(None)
                kind = "string"
            elif first in (0x7B, 0x5B):
                cur.nested()
                chars, kind = None, "object" if first == 0x7B else "array"
            else:
                cur.scalar()
                chars, kind = None, "scalar"
            capture.take()
            if capture.parts is not None:
                small_parts.append(b'"' + key_raw + b'":' + b"".join(capture.parts))
            else:
                key = json.loads(b'"' + key_raw + b'"')
                cold[key] = ColdValue(
                    kind, capture.start, cur.pos, chars, f"{capture.crc:08x}{capture.size:x}"
                )
            capture = None
            sep = cur.peek()
            cur.i += 1
            if sep == 0x7D:
                break
            if sep != 0x2C:
                raise ValueError("malformed JSON (expected ',' or '}')")
    if cur.peek() != -1:
        raise ValueError("malformed JSON (text after the object)")
    small = _loads(b"{" + b",".join(small_parts) + b"}")
    if not isinstance(small, dict):  # pragma: no cover - built as an object
        raise ValueError("not a JSON object")
    for key in cold:
        small.pop(key, None)  # a key given twice: the last one counts, as in a parser
    return Scanned(small, cold)


def string_pieces(
    read: Callable[[int, int], bytes], value: ColdValue, piece: int = WINDOW
) -> Iterator[str]:
    """The text of a cold string value, decoded a piece at a time (about ``piece`` bytes)."""
    if value.kind != "string":
        # an object or array: shown as its JSON, a piece at a time
        pending = b""
        for offset in range(value.start, value.end, piece):
            data = pending + read(offset, min(piece, value.end - offset))
            cut = _utf8_cut(data)
            pending = data[cut:]
            yield data[:cut].decode("utf-8", "replace")
        if pending:
            yield pending.decode("utf-8", "replace")
        return
    cur = _Cursor(lambda o, n: read(value.start + o, n), value.size)
    cur.expect(b'"')
    parts = cur.string_parts()
    while True:
        try:
            part = next(parts)
        except (StopIteration, ValueError):  # the end, or a broken one: what came is shown
            return
        yield _decode(part)


def _loads(raw: bytes) -> Any:
    """The small values, parsed as ``formats.base.loads_json`` does (NaN and bytes that are not
    UTF-8 accepted)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8", errors="replace"))


def _utf8_cut(data: bytes) -> int:
    """Where ``data`` can be cut without splitting a UTF-8 character."""
    end = len(data)
    back = 0
    while back < 4 and end - back - 1 >= 0 and (data[end - back - 1] & 0xC0) == 0x80:
        back += 1
    if end - back - 1 >= 0 and data[end - back - 1] >= 0xC0:
        lead = data[end - back - 1]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if back + 1 < need:
            return end - back - 1
    return end


def _decode_strict(content: bytes) -> str:
    """String content (whole escapes, whole UTF-8 characters) decoded as JSON; ``ValueError``
    when it is not valid. The standard library's scanner: orjson's takes ~15 times a piece's
    size while it works."""
    return scanstring('"' + content.decode("utf-8") + '"', 1, False)[0]


def _decode(content: bytes) -> str:
    """String content decoded as JSON would, whatever it holds (undecodable bytes replaced)."""
    try:
        return _decode_strict(content)
    except ValueError:
        text = content.decode("utf-8", "replace")
        try:
            return scanstring('"' + text + '"', 1, False)[0]
        except ValueError:
            return text
