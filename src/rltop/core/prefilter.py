"""Which logged lines can hold a phrase, told from their raw bytes without parsing the JSON.

A text search over rollouts whose text is on disk (``coldtext``) would otherwise parse every
line. The raw bytes of a line are searched first for what any line whose *normalised* text
contains the phrase must contain; only those lines are parsed and matched exactly. The test may
keep lines that do not match (they are parsed and dropped) but never drops one that does:

- Only the phrase's runs of ASCII letters are looked for. Anything else may be written
  differently in the file than in the text: quotes, backslashes, slashes, control characters and
  any non-ASCII character may be JSON escapes (``\\"``, ``\\n``, ``\\u00e9``); digits may come
  from a number (``1e-05`` logged as ``1e-5``); spaces, brackets and newlines may be put there by
  the parser (``[user] hello`` from a chat message). A run of letters in the text always comes from
  one run of letters in one value of the line.
- Letters are compared without case (``true`` logged, ``True`` in a value's text), and a run that
  could be a word the parser writes itself (a part of ``none``, Python's ``None`` for a JSON
  ``null``, or of ``part``, a content part without a type) is not used.
- Only for formats whose rows are JSON documents read back this way (``RAW_TEXT_FORMATS``); rows
  of other formats are all parsed.
- A case-insensitive search also splits runs at ``k`` and ``s``: the Kelvin sign and the long s
  match them under Unicode case folding.
- A line with an escaped ASCII letter (``\\u0041`` .. ``\\u007a``, which no common writer makes)
  is always kept.
"""

from __future__ import annotations

import bisect
import itertools
import os
import queue
import re
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from rltop.core.lazyre import lazy
from rltop.core.tail import open_regular

_LETTERS = lazy(r"[A-Za-z]+")
#: words the rollout parsers write into a text themselves (``messages.content_text``, ``str(None)``)
SYNTHESIZED = ("none", "part")
#: formats whose located rows are JSON documents made into rows from their string values
#: (``Parser.reread``: ``formats/rollouts.py``, ``formats/episodes.py``); checked one by one
RAW_TEXT_FORMATS = frozenset({"rollouts-jsonl", "episode-log", "episode-jsonl"})
#: lines closer than this are read in one span (reading a short gap beats another call)
SPAN_GAP = 64 * 1024
#: bytes read, case-folded and searched at a time (a buffer this size per thread, and one more,
#: is reused; a longer line is read on its own)
SPAN_BYTES = 2 * 1024 * 1024
#: threads searching spans side by side (the cores this process may use, up to 4)
WORKERS = max(
    1,
    min(
        4,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    ),
)
#: ``numpy.strings`` (numpy 2): substring search between bounds, without the GIL
_NP_STRINGS = getattr(np, "strings", None)
#: the longest span searched as one numpy string
_MAX_ITEM = 2**31 - 1
_PREADV = hasattr(os, "preadv")
#: ``\\u`` as one 16-bit word in this machine's byte order
_BACKSLASH_U = np.frombuffer(b"\\u", dtype=np.uint16)[0]
_ZERO = 0x30


def needles(phrase: str, ignore_case: bool) -> list[bytes]:
    """Lowercase byte strings every line whose text contains ``phrase`` has, longest first.

    An empty list: the phrase has nothing that can be looked for in the raw bytes.
    """
    runs = _LETTERS.findall(phrase)
    if ignore_case:
        runs = [part for run in runs for part in re.split("[ksKS]", run)]
    out = {
        run.lower().encode()
        for run in runs
        if run and not any(run.lower() in word for word in SYNTHESIZED)
    }
    return sorted(out, key=lambda b: (-len(b), b))


def regex_needles(pattern: str) -> list[bytes]:
    """``needles`` for a regular expression: those of the literal text any match must contain.

    Read from the parsed pattern (``re._parser``, Python's own): runs of literal characters
    outside alternatives and optional parts (``a*``, ``a?``, ``{0,n}``); groups and repeats of
    at least one are looked into. Letters are compared without case as for a phrase; a pattern
    with any case-insensitive part is split as a case-insensitive phrase is. An alternative
    (``a|b``) gives nothing, since a line needs only one of its branches. A pattern that cannot
    be parsed gives nothing (every line is kept)."""
    import re._constants as sre
    import re._parser as sre_parse

    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return []
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    runs: list[str] = []

    def walk(items: object) -> None:
        nonlocal ignore_case
        run: list[str] = []
        for op, av in items:  # type: ignore[attr-defined]
            if op is sre.LITERAL:
                run.append(chr(av))
                continue
            runs.append("".join(run))
            run = []
            if op is sre.SUBPATTERN:
                _group, add_flags, _del_flags, sub = av
                ignore_case = ignore_case or bool(add_flags & re.IGNORECASE)
                walk(sub)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
                low, _high, sub = av
                if low >= 1:
                    walk(sub)
            elif op is getattr(sre, "ATOMIC_GROUP", None):
                walk(av)
        runs.append("".join(run))

    walk(parsed)
    phrase = " ".join(run for run in runs if run)
    return needles(phrase, ignore_case) if phrase else []


def candidate_lines(
    path: str,
    starts: Sequence[int] | np.ndarray,
    lengths: Sequence[int] | np.ndarray,
    wanted: list[bytes],
) -> np.ndarray:
    """For the lines of ``path`` at ``starts`` (byte offsets, any order) of ``lengths`` bytes:
    whether each can hold every needle of ``wanted`` (True for all when ``wanted`` is empty).

    Lines that cannot be read (the file shrank or vanished) are kept: parsing them says what
    happened.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(starts)
    if not wanted or n == 0:
        return np.ones(n, dtype=bool)
    sane = (starts >= 0) & (lengths >= 0)
    if not sane.all():  # a location that is no line is kept (parsing it says what it is)
        keep = np.ones(n, dtype=bool)
        keep[sane] = candidate_lines(path, starts[sane], lengths[sane], wanted)
        return keep
    try:
        fh = open_regular(path)
    except OSError:
        return np.ones(n, dtype=bool)
    # each line once, in file order (rows may share a line)
    order = np.argsort(starts, kind="stable")
    same = np.diff(starts[order]) == 0
    if (same & (np.diff(lengths[order]) != 0)).any():  # one start, other lengths: by both
        order = np.lexsort((lengths, starts))
        same = np.diff(starts[order]) == 0
    new = np.ones(n, dtype=bool)
    new[1:] = ~(same & (np.diff(lengths[order]) == 0))
    with fh:
        found = _search_file(fh, starts[order][new], lengths[order][new], wanted)
    keep = np.empty(n, dtype=bool)
    keep[order] = found[np.cumsum(new) - 1]
    return keep


def _search_file(fh, starts: np.ndarray, lengths: np.ndarray, wanted: list[bytes]) -> np.ndarray:
    """``candidate_lines`` for lines sorted by offset, read from the open file ``fh``.

    The file is read a span (``SPAN_BYTES``) at a time into reused buffers; each span is read,
    checked for escaped letters, case-folded and searched line by line by numpy calls that
    release the GIL, so ``WORKERS`` threads search spans side by side. No copy of the file is
    ever held, nor mapped.
    """
    n = len(starts)
    ends = starts + lengths
    keep = np.ones(n, dtype=bool)  # lines that cannot be read stay kept
    size = os.fstat(fh.fileno()).st_size
    spans = [(lo, hi) for lo, hi in line_runs(starts, ends) if int(ends[hi - 1]) <= size]
    workers = min(WORKERS, len(spans))
    slots: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
    for _ in range(workers + 1):
        slots.put(_Slot())
    lock = threading.Lock()

    def search(span: tuple[int, int]) -> np.ndarray | None:
        lo, hi = span
        base = int(starts[lo])
        length = int(ends[hi - 1]) - base
        slot = slots.get()
        try:
            if hi - lo == 1 and length > SPAN_BYTES:  # one long line: a window at a time
                held = _long_line_holds(slot, fh, lock, base, length, wanted)
                return None if held is None else np.array([held])
            if not slot.read(fh, lock, base, length):
                return None  # the file changed under us: these lines stay kept
            begins, finish = starts[lo:hi] - base, ends[lo:hi] - base
            escapes = _fold(slot.buffer, length, slot.scratch)
            out = _lines_with(slot.buffer, length, begins, finish, wanted)
            _mark_lines_at(out, begins, finish, escapes)
            return out
        finally:
            if len(slot.buffer) > SPAN_BYTES:  # a long line's buffer is not kept for the next
                slot.buffer, slot.scratch = bytearray(0), [np.empty(0, dtype=bool)]
            slots.put(slot)

    if workers <= 1:
        for span in spans:
            found = search(span)
            if found is not None:
                keep[span[0] : span[1]] = found
        return keep
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rltop-prefilter") as pool:
        pending: deque[tuple[tuple[int, int], Future]] = deque()
        for span in spans:
            if len(pending) > workers:  # at most one span waiting per free buffer
                _collect(keep, *pending.popleft())
            pending.append((span, pool.submit(search, span)))
        while pending:
            _collect(keep, *pending.popleft())
    return keep


def _long_line_holds(
    slot: _Slot, fh, lock: threading.Lock, base: int, length: int, wanted: list[bytes]
) -> bool | None:
    """``candidate_lines`` for one line longer than ``SPAN_BYTES``, read ``SPAN_BYTES`` at a time
    into the slot's buffer (a 50 MB completion is never held whole): windows overlap by the
    longest needle (and an escape, ``\\u0041``) less a byte, so nothing is missed at their edges.
    None when the file changed under us."""
    overlap = max(6, *(len(needle) for needle in wanted)) - 1
    window = max(SPAN_BYTES, 4 * (overlap + 1))  # a window always moves on
    missing = list(wanted)
    pos = 0
    while True:
        size = min(window, length - pos)
        if not slot.read(fh, lock, base + pos, size):
            return None
        if len(_fold(slot.buffer, size, slot.scratch)):
            return True  # an escaped letter: parsing the line tells
        missing = [needle for needle in missing if slot.buffer.find(needle, 0, size) < 0]
        if not missing:
            return True
        if pos + size >= length:
            return False
        pos += size - overlap


def _mark_lines_at(out: np.ndarray, begins: np.ndarray, finish: np.ndarray, at: np.ndarray) -> None:
    """Set ``out`` for every line (sorted ``begins``, ``finish``) holding an offset of ``at``."""
    if not len(at):
        return
    last = np.searchsorted(begins, at, side="right") - 1  # the last line starting at or before
    inside = last >= 0
    at, last = at[inside], last[inside]
    out[last[at < finish[last]]] = True
    first = np.searchsorted(begins, begins[last], side="left")  # lines with the same start
    shared = np.flatnonzero(first < last)
    for row_first, row_last, pos in zip(
        first[shared].tolist(), last[shared].tolist(), at[shared].tolist(), strict=True
    ):
        for row in range(row_first, row_last):
            if pos < finish[row]:
                out[row] = True


def _collect(keep: np.ndarray, span: tuple[int, int], future: Future) -> None:
    found = future.result()
    if found is not None:
        keep[span[0] : span[1]] = found


class _Slot:
    """A span's buffer and scratch mask, reused span after span (one span at a time)."""

    def __init__(self) -> None:
        self.buffer = bytearray(0)
        self.scratch = [np.empty(0, dtype=bool)]

    def read(self, fh, lock: threading.Lock, offset: int, length: int) -> bool:
        """``length`` bytes of ``fh`` from ``offset`` into the buffer (False: the file is
        shorter, or cannot be read)."""
        if len(self.buffer) < length:
            self.buffer = bytearray(max(length, SPAN_BYTES))
        view = memoryview(self.buffer)
        try:
            got = 0
            while got < length:
                if _PREADV:  # at an offset, no shared file position: no lock
                    count = os.preadv(fh.fileno(), [view[got:length]], offset + got)
                else:
                    with lock:
                        fh.seek(offset + got)
                        count = fh.readinto(view[got:length])
                if not count:
                    return False
                got += count
            return True
        except OSError:
            return False
        finally:
            view.release()


def _lines_with(
    folded: bytearray, length: int, begins: np.ndarray, finish: np.ndarray, wanted: list[bytes]
) -> np.ndarray:
    """Which lines (``begins``/``finish`` in the case-folded ``folded[:length]``) hold every
    needle of ``wanted``."""
    if length == 0:
        return np.zeros(len(begins), dtype=bool)
    if _NP_STRINGS is None or length >= _MAX_ITEM:
        return _lines_with_find(folded, begins, finish, wanted)
    # the span as one numpy string, searched between each line's bounds (the GIL is released)
    text = np.frombuffer(folded, dtype=f"S{length}", count=1)
    hit = _NP_STRINGS.find(text, wanted[0], begins, finish) >= 0
    for needle in wanted[1:]:
        rows = np.flatnonzero(hit)
        if not len(rows):
            break
        hit[rows] = _NP_STRINGS.find(text, needle, begins[rows], finish[rows]) >= 0
    return hit


def _lines_with_find(
    folded: bytearray, begins: np.ndarray, finish: np.ndarray, wanted: list[bytes]
) -> np.ndarray:
    """``_lines_with`` by ``bytearray.find`` (numpy before 2.0 has no ``numpy.strings``)."""
    starts, ends = begins.tolist(), finish.tolist()
    out = np.zeros(len(starts), dtype=bool)
    first, others = wanted[0], wanted[1:]
    limit = ends[-1]
    pos = folded.find(first, starts[0], limit)
    while pos >= 0:
        row = bisect.bisect_right(starts, pos) - 1
        if row >= 0 and pos + len(first) <= ends[row]:
            a, b = starts[row], ends[row]
            if all(folded.find(needle, a, b) >= 0 for needle in others):
                out[row] = True
            pos = folded.find(first, b, limit)  # one test per line, however many hits
        else:
            pos = folded.find(first, pos + 1, limit)
    # lines that start at the same offset (with other lengths) are each checked on their own
    for row in np.flatnonzero(np.diff(begins) == 0).tolist():
        a, b = starts[row], ends[row]
        out[row] = all(folded.find(needle, a, b) >= 0 for needle in wanted)
    return out


def _fold(buf: bytearray, length: int, scratch: list[np.ndarray]) -> np.ndarray:
    """Case-fold ``buf[:length]`` in place; return where an ASCII letter may be escaped.

    An escaped letter (``\\u0041`` .. ``\\u007a``) is looked for first, on the raw bytes: the
    offsets of every ``\\u004`` .. ``\\u007``. A ``\\u`` is found as one 16-bit word, at even
    and at odd offsets (``scratch[0]``: a reused mask, so no span allocates one). Then ASCII
    letters become lower case by setting bit 5 (other bytes change too: the needles are letters
    only, so a byte that was no letter can only add candidates).
    """
    raw = np.frombuffer(buf, dtype=np.uint8, count=length)
    found = []
    for first in (0, 1):
        words = (length - 3 - first) // 2  # a "\\u" at p needs p + 4 < length
        if words <= 0:
            continue
        if len(scratch[0]) < words:
            scratch[0] = np.empty(words, dtype=bool)
        hit = scratch[0][:words]
        np.equal(raw[first : first + 2 * words].view(np.uint16), _BACKSLASH_U, out=hit)
        found.append(np.flatnonzero(hit) * 2 + first)
    slashes = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    if len(slashes):
        escaped = (
            (raw[slashes + 2] == _ZERO)
            & (raw[slashes + 3] == _ZERO)
            & ((raw[slashes + 4] & 0xFC) == 0x34)  # 4, 5, 6 or 7
        )
        slashes = slashes[escaped]
    np.bitwise_or(raw, 0x20, out=raw)
    return slashes


def line_runs(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``[lo, hi)`` of sorted lines read together: gaps under SPAN_GAP, up to SPAN_BYTES."""
    n = len(starts)
    if n == 0:
        return []
    gaps = starts[1:] - ends[:-1]
    breaks = np.flatnonzero(gaps > SPAN_GAP) + 1
    out = []
    bounds = [0, *breaks.tolist(), n]
    for lo, hi in itertools.pairwise(bounds):
        # split long runs at line boundaries so no span is (much) over SPAN_BYTES
        while lo < hi:
            limit = starts[lo] + SPAN_BYTES
            cut = int(np.searchsorted(ends[lo:hi], limit, side="right")) + lo
            cut = max(cut, lo + 1)
            out.append((lo, cut))
            lo = cut
    return out
