"""Following one file: new bytes only, whole lines only, and the ways files change under us.

- A half-written last line waits for its newline.
- A file that shrank, or whose first bytes changed (verl's FileLogger reopens with "wb" when a run
  restarts), is read again from the start; the caller drops what it had from that file.
- A file that vanished is marked ended; what was read stays.
- A line longer than ``max_line`` is skipped (counted), without holding it in memory.
- With ``cold_line``, a line longer than that (and within ``max_line``) is not held either: the
  read says where it is (``TailRead.cold``) and the parser reads it from disk in windows.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import BinaryIO

from rltop.core.model import Skip

CHUNK = 32 * 1024 * 1024  # bytes read per call: keeps one cycle short on huge files
HEAD_FINGERPRINT = 256
DEFAULT_MAX_LINE = 64 * 1024 * 1024
#: a waiting partial line up to this size is read again from disk with the new bytes, instead of
#: being joined to them in memory (that join copied every 32 MB chunk of a catch-up once more)
REREAD_PARTIAL = 1024 * 1024
#: a large read that stops short of the end of the file ends at the last newline of its last
#: ``LINE_END_PROBE`` bytes (found by a small read first): the block is then the bytes read,
#: never a copy of them cut at that newline
LINE_END_PROBE = 64 * 1024


def open_regular(path: str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file.

    Opened non-blocking (a FIFO or a device would block ``open()`` or ``read()`` forever) and
    checked with ``fstat`` on the open descriptor (no race with a file swapped in after a stat);
    anything else raises ``OSError`` "not a regular file"."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise OSError(f"{kind}: never opened for reading")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass(eq=False)
class TailRead:
    """What one read of a file produced."""

    block: bytes = b""  # complete lines (ends with b"\n"), or raw bytes for whole/records modes
    first_line: int = 1  # 1-based number of the block's first line
    reset: bool = False  # the file was truncated or rewritten: drop earlier data from it
    ended: bool = False  # the file is gone
    error: str | None = None  # could not be read (permission denied, ...)
    skips: list[Skip] = field(default_factory=list)
    more: bool = False  # more bytes are waiting (a read stopped at CHUNK)
    lines: int = 0  # newlines in ``block`` (lines mode), counted once here
    #: a very long line passed over before ``block``: (line number, file offset, length)
    cold: tuple[int, int, int] | None = None
    offset: int = 0  # file offset of ``block``'s first byte


class FileTail:
    """Reads a growing file incrementally. Never writes, never holds the file open between reads."""

    def __init__(
        self,
        path: str,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        chunk: int = CHUNK,
        cold_line: int | None = None,
    ) -> None:
        self.path = path
        self.max_line = max_line
        #: lines longer than this are passed over and reported in ``TailRead.cold``
        self.cold_line = cold_line
        self.cold_start: int | None = None  # where the cold line being passed over starts
        self.chunk = chunk
        self.offset = 0  # bytes consumed (whole lines)
        self.line = 1  # number of the next line
        self.ino: int | None = None
        self.head = b""  # first bytes, to notice a rewrite that is already longer than before
        self.partial = b""  # bytes after the last newline, waiting for it
        self.partial_start = 0
        self.skipping_long = False  # inside an over-long line: drop bytes until its newline
        self.ended = False
        self.size = 0
        self.mtime = 0.0
        #: reads stop here (a line boundary; None: at the end of the file): the part of a file
        #: before its end, which was read first (``Follower._newest_lines``)
        self.limit: int | None = None

    def _check_replaced(self, st: os.stat_result, fh) -> bool:
        if self.ino is not None and st.st_ino != self.ino:
            return True
        if st.st_size < self.offset + len(self.partial):
            return True
        if self.head:
            fh.seek(0)
            if fh.read(len(self.head)) != self.head:
                return True
        return False

    def _restart(self) -> None:
        self.offset = 0
        self.line = 1
        self.head = b""
        self.partial = b""
        self.skipping_long = False
        self.cold_start = None
        self.limit = None  # a new file: read to its end

    def changed_on_disk(self) -> bool:
        """Cheap stat check used by the polling fallback."""
        try:
            st = os.stat(self.path)
        except OSError:
            return not self.ended
        return st.st_size != self.size or st.st_mtime != self.mtime or st.st_ino != self.ino

    def read_lines(self) -> TailRead:
        """New complete lines since the last call."""
        out = TailRead()
        try:
            fh = open_regular(self.path)
        except FileNotFoundError:
            self.ended = True
            out.ended = True
            return out
        except OSError as exc:
            out.error = exc.strerror or str(exc)
            return out
        try:
            st = os.fstat(fh.fileno())
            came_back = (
                self.ended
            )  # deleted, then created again: a new file, even on the same inode
            self.ended = False
            if came_back or self._check_replaced(st, fh):
                self._restart()
                out.reset = True
            self.ino = st.st_ino
            self.size, self.mtime = st.st_size, st.st_mtime
            reread = (
                bool(self.partial)
                and not self.skipping_long
                and len(self.partial) <= REREAD_PARTIAL
            )
            pos = self.offset if reread else self.offset + len(self.partial)
            if self.skipping_long:
                pos = self.partial_start
            want = self.chunk + (len(self.partial) if reread else 0)
            limit = self.limit
            if limit is not None and pos + want >= limit:
                want = max(0, limit - pos)  # ends at a line boundary: no probe for one
            elif not self.skipping_long and want >= 4 * LINE_END_PROBE and pos + want < st.st_size:
                fh.seek(pos + want - LINE_END_PROBE)
                nl = fh.read(LINE_END_PROBE).rfind(b"\n")
                if nl >= 0:
                    want += nl + 1 - LINE_END_PROBE
            fh.seek(pos)
            # no more than the file holds: ``read(n)`` allocates ``n`` bytes first (a 3 MB file
            # read with a 128 MB chunk took five times as long); bytes written since the
            # ``fstat`` are the next read's (the same change wakes the follower again)
            data = fh.read(max(0, min(want, st.st_size - pos)))
            out.more = pos + len(data) < st.st_size
        except OSError as exc:
            out.error = exc.strerror or str(exc)
            return out
        finally:
            fh.close()
        if reread:
            if data.startswith(self.partial):
                self.partial = b""  # ``data`` starts with the waiting line: no join needed
            else:  # the waiting bytes changed on disk: join as before, whatever is there now
                data = data[len(self.partial) :]
        elif pos == 0 and data:
            self.head = data[:HEAD_FINGERPRINT]
        self._take(data, out)
        return out

    def read_to(self) -> int:
        """Where the next read starts (past the line being waited for or passed over)."""
        if self.skipping_long:
            return self.partial_start
        return self.offset + len(self.partial)

    def skip_to(self, consumed: int, lines: int) -> None:
        """Go on after ``consumed`` bytes (``lines`` newlines) that were read another way (a
        parser's one-pass catch-up of a large file, before the first ``read_lines``)."""
        with open_regular(self.path) as fh:
            st = os.fstat(fh.fileno())
            self.head = fh.read(HEAD_FINGERPRINT)
        self.ino, self.size, self.mtime = st.st_ino, st.st_size, st.st_mtime
        self.offset, self.line = consumed, 1 + lines
        self.partial, self.skipping_long, self.ended = b"", False, False
        self.limit = None

    def _take(self, data: bytes, out: TailRead) -> None:
        if self.skipping_long:
            nl = data.find(b"\n")
            if nl < 0:
                self.partial_start += len(data)
                if self._cold_over_limit(self.partial_start):
                    out.skips.append(Skip(f"line over the {self.max_line:,}-byte limit", self.line))
                return
            end = self.partial_start + nl
            if self.cold_start is not None:
                if self._cold_over_limit(end):
                    out.skips.append(Skip(f"line over the {self.max_line:,}-byte limit", self.line))
                else:
                    out.cold = (self.line, self.cold_start, end - self.cold_start)
            self.cold_start = None
            self.skipping_long = False
            self.offset = end + 1
            self.line += 1
            data = data[nl + 1 :]
        buf = self.partial + data if self.partial else data
        last_nl = buf.rfind(b"\n")
        if last_nl < 0:
            self.partial = buf
            self._check_long(out)
            return
        block = buf[: last_nl + 1]
        self.partial = buf[last_nl + 1 :]
        # over-long complete lines inside the block are dropped here, with a note
        if (
            self.max_line
            and len(block) > self.max_line
            and may_hold_long_line(block, self.max_line)
        ):
            block = self._drop_long_lines(block, out)
        out.first_line = self.line
        out.block = block
        out.offset = self.offset
        self.offset += last_nl + 1
        out.lines = _count_newlines(buf, last_nl + 1)
        self.line += out.lines
        self._check_long(out)

    def _drop_long_lines(self, block: bytes, out: TailRead) -> bytes:
        kept, start, lineno = [], 0, self.line
        while start < len(block):
            end = block.index(b"\n", start)
            if end - start > self.max_line:
                out.skips.append(
                    Skip(
                        f"line of {end - start:,} bytes is over the {self.max_line:,}-byte limit",
                        lineno,
                    )
                )
                kept.append(b"\n")  # keep numbering
            else:
                kept.append(block[start : end + 1])
            start = end + 1
            lineno += 1
        return b"".join(kept)

    def _cold_over_limit(self, end: int) -> bool:
        """The cold line being passed over turned out longer than ``max_line`` (it is then
        skipped like any over-long line)."""
        if self.cold_start is None or not self.max_line or end - self.cold_start <= self.max_line:
            return False
        self.cold_start = None
        return True

    def _check_long(self, out: TailRead) -> None:
        if (
            self.cold_line
            and len(self.partial) > self.cold_line
            and not (self.max_line and len(self.partial) > self.max_line)
        ):
            # passed over without holding it; the parser reads it from disk once it ends
            self.skipping_long = True
            self.cold_start = self.offset
            self.partial_start = self.offset + len(self.partial)
            self.partial = b""
            return
        if self.max_line and len(self.partial) > self.max_line:
            out.skips.append(Skip(f"line over the {self.max_line:,}-byte limit", self.line))
            self.skipping_long = True
            self.partial_start = self.offset + len(self.partial)
            self.partial = b""

    def read_whole(self) -> TailRead:
        """The whole file, when it changed since the last call (``block`` empty otherwise)."""
        out = TailRead()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.ended = True
            out.ended = True
            return out
        except OSError as exc:
            out.error = exc.strerror or str(exc)
            return out
        if st.st_size == self.size and st.st_mtime == self.mtime and st.st_ino == self.ino:
            return out
        try:
            with open_regular(self.path) as fh:
                data = fh.read()
        except OSError as exc:
            out.error = exc.strerror or str(exc)
            return out
        self.ended = False
        self.ino, self.size, self.mtime = st.st_ino, st.st_size, st.st_mtime
        out.block = data
        out.reset = True
        return out

    def read_records(self, consumed: int) -> TailRead:
        """Raw bytes after ``consumed`` (binary record streams parse and report what they used)."""
        out = TailRead()
        try:
            with open_regular(self.path) as fh:
                st = os.fstat(fh.fileno())
                if (self.ino is not None and st.st_ino != self.ino) or st.st_size < consumed:
                    out.reset = True
                    consumed = 0
                self.ino, self.size, self.mtime = st.st_ino, st.st_size, st.st_mtime
                fh.seek(consumed)
                out.block = fh.read(self.chunk)
                out.more = consumed + len(out.block) < st.st_size
        except FileNotFoundError:
            self.ended = True
            out.ended = True
        except OSError as exc:
            out.error = exc.strerror or str(exc)
        return out

    def read_at(self, offset: int, size: int) -> TailRead:
        """Up to ``size`` bytes from ``offset``, apart from the sequential reads (a record
        stream read newest records first, then the part before them). ``reset`` when the
        file is no longer the one read so far, or shorter than ``offset + size``."""
        out = TailRead()
        try:
            with open_regular(self.path) as fh:
                st = os.fstat(fh.fileno())
                if (self.ino is not None and st.st_ino != self.ino) or st.st_size < offset + size:
                    out.reset = True
                    return out
                self.ino = st.st_ino
                fh.seek(offset)
                out.block = fh.read(size)
                out.more = offset + len(out.block) < st.st_size
        except FileNotFoundError:
            out.ended = True
        except OSError as exc:
            out.error = exc.strerror or str(exc)
        return out


def may_hold_long_line(block: bytes, limit: int) -> bool:
    """False when every line of ``block`` is surely at most ``limit`` bytes: each window of
    ``limit // 2`` bytes holds a newline (a longer line would cover a whole window). A few
    ``find`` calls instead of splitting a 128 MB block line by line."""
    step = max(1, limit // 2)
    return any(block.find(b"\n", start, start + step) < 0 for start in range(0, len(block), step))


#: a block at least this large has its newlines counted by numpy (CPython's one-byte count
#: goes byte by byte: ~45 ms per 70 MB, numpy's ~6 ms)
COUNT_WITH_NUMPY = 4 * 1024 * 1024


def _count_newlines(buf: bytes, end: int) -> int:
    """Newlines in ``buf[:end]``."""
    return count_byte(buf, end, 10)


def count_byte(buf: bytes, end: int, byte: int, window: int = 1024 * 1024) -> int:
    """How many times ``byte`` is in ``buf[:end]``: CPython's count below
    ``COUNT_WITH_NUMPY`` (no numpy to import for small reads), else numpy's, a window at a
    time (no temporary array as large as the block)."""
    if end < COUNT_WITH_NUMPY:
        return buf.count(bytes((byte,)), 0, end)
    import numpy as np

    view = np.frombuffer(buf, dtype=np.uint8, count=end)
    return sum(
        int(np.count_nonzero(view[start : start + window] == byte))
        for start in range(0, end, window)
    )
