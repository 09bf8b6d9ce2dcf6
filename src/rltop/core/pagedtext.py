"""A very long text (a 50 MB completion) kept on disk and shown a page at a time.

Drawing such a text whole costs seconds and gigabytes (wrapping, styling); holding it costs its
size again in every copy. :class:`PagedText` writes it once to a private temporary file and reads
back one page (about ``PAGE_BYTES``, cut at a line break when there is one near the end, never
inside a UTF-8 character) when it is shown, so memory holds the page offsets only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable

#: texts longer than this (characters) are paged
LONG_TEXT = 200_000
#: bytes per page (a page ends at the last line break in its last quarter, when there is one)
PAGE_BYTES = 16 * 1024
_WRITE_CHUNK = 4 * 1024 * 1024


class PagedText:
    """``text`` on disk in pages; ``page(i)`` reads page ``i`` back."""

    def __init__(self, text: str | Iterable[str], page_bytes: int = PAGE_BYTES) -> None:
        """``text`` whole, or its pieces in order (a text read from disk a piece at a time is
        never held whole)."""
        if isinstance(text, str):
            pieces: Iterable[str] = (
                text[start : start + _WRITE_CHUNK] for start in range(0, len(text), _WRITE_CHUNK)
            )
        else:
            pieces = text
        self.chars = 0
        fd, self.path = tempfile.mkstemp(prefix="rltop-text-", suffix=".txt")
        self.offsets = [0]
        with os.fdopen(fd, "wb") as fh:
            pending = b""
            written = 0
            for piece in pieces:
                self.chars += len(piece)
                data = pending + piece.encode("utf-8", "replace")
                cut = self._pages(data, written, page_bytes, final=False)
                fh.write(data[:cut])
                written += cut
                pending = data[cut:]
            fh.write(pending)
            self._pages(pending, written, page_bytes, final=True)
            self.size = written + len(pending)
        if self.offsets[-1] != self.size:
            self.offsets.append(self.size)

    def _pages(self, data: bytes, base: int, page_bytes: int, *, final: bool) -> int:
        """Add the page ends inside ``data`` (which starts at file offset ``base``); returns
        how much of it is settled (the rest waits for more text)."""
        pos = self.offsets[-1] - base
        while len(data) - pos > page_bytes or (final and pos < len(data)):
            end = min(pos + page_bytes, len(data))
            if end < len(data):
                newline = data.rfind(b"\n", pos + page_bytes * 3 // 4, end)
                if newline != -1:
                    end = newline + 1
                while end > pos + 1 and (data[end] & 0xC0) == 0x80:
                    end -= 1  # not inside a UTF-8 sequence
            self.offsets.append(base + end)
            pos = end
        return pos

    @property
    def pages(self) -> int:
        return len(self.offsets) - 1

    def page(self, index: int) -> str:
        index = max(0, min(index, self.pages - 1))
        start, end = self.offsets[index], self.offsets[index + 1]
        with open(self.path, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start).decode("utf-8", "replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __del__(self) -> None:
        self.close()
