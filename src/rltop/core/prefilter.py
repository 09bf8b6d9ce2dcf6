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
import re
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from rltop.core.tail import open_regular

_LETTERS = re.compile(r"[A-Za-z]+")
#: words the rollout parsers write into a text themselves (``messages.content_text``, ``str(None)``)
SYNTHESIZED = ("none", "part")
#: formats whose located rows are JSON documents made into rows from their string values
#: (``Parser.reread``: ``formats/rollouts.py``, ``formats/episodes.py``); checked one by one
RAW_TEXT_FORMATS = frozenset({"rollouts-jsonl", "episode-log", "episode-jsonl"})
#: lines closer than this are read in one span (reading a short gap beats another call)
SPAN_GAP = 64 * 1024
#: bytes read, searched and case-folded at a time (two buffers of this size are reused; a
#: longer line is read on its own)
SPAN_BYTES = 4 * 1024 * 1024
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
    try:
        fh = open_regular(path)
    except OSError:
        return np.ones(n, dtype=bool)
    with fh:
        order = np.argsort(starts, kind="stable")
        keep_sorted = _search_file(fh, starts[order], lengths[order], wanted)
    keep = np.empty(n, dtype=bool)
    keep[order] = keep_sorted
    return keep


def _search_file(fh, starts: np.ndarray, lengths: np.ndarray, wanted: list[bytes]) -> np.ndarray:
    """``candidate_lines`` for lines sorted by offset, read from the open file ``fh``.

    The file is read a span (``SPAN_BYTES``) at a time into one of two buffers that are reused:
    while the needle is looked for in one span (``bytearray.find``, which holds the GIL), the
    next is read, checked for escaped letters and case-folded in the other by a worker thread
    (reads and numpy release the GIL). No copy of the file is ever held, nor mapped.
    """
    n = len(starts)
    ends = starts + lengths
    keep = np.ones(n, dtype=bool)  # lines that cannot be read stay kept
    size = os.fstat(fh.fileno()).st_size
    spans = [(lo, hi) for lo, hi in _spans(starts, ends) if int(ends[hi - 1]) <= size]
    if not spans:
        return keep
    buffers = [bytearray(0), bytearray(0)]
    scratch = [np.empty(0, dtype=bool)]  # used by one span at a time

    def prepare(i: int) -> tuple[bytearray, int, np.ndarray] | None:
        lo, hi = spans[i]
        a, b = int(starts[lo]), int(ends[hi - 1])
        if len(buffers[i % 2]) < b - a:
            buffers[i % 2] = bytearray(max(b - a, SPAN_BYTES))
        buf = buffers[i % 2]
        if not _read_into(fh, buf, a, b - a):
            return None  # the file changed under us: these lines stay kept
        return buf, b - a, _fold(buf, b - a, scratch)

    if len(spans) == 1:
        prepared = prepare(0)
        if prepared is not None:
            keep[spans[0][0] : spans[0][1]] = _scan(*prepared, starts, lengths, spans[0], wanted)
        return keep
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rltop-prefilter") as pool:
        pending: deque[Future] = deque(pool.submit(prepare, i) for i in range(2))
        for i, span in enumerate(spans):
            prepared = pending.popleft().result()
            if prepared is not None:
                keep[span[0] : span[1]] = _scan(*prepared, starts, lengths, span, wanted)
            if i + 2 < len(spans):  # buffer i % 2 is free again
                pending.append(pool.submit(prepare, i + 2))
    return keep


def _read_into(fh, buf: bytearray, offset: int, length: int) -> bool:
    """``length`` bytes of ``fh`` from ``offset`` into ``buf`` (False: the file is shorter)."""
    view = memoryview(buf)
    try:
        fh.seek(offset)
        got = 0
        while got < length:
            count = fh.readinto(view[got:length])
            if not count:
                return False
            got += count
        return True
    except OSError:
        return False
    finally:
        view.release()


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


def _spans(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
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


def _scan(
    folded: bytearray,
    length: int,
    escapes: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    span: tuple[int, int],
    wanted: list[bytes],
) -> np.ndarray:
    """The lines ``span`` of ``starts``/``lengths`` (read into the case-folded ``folded`` from
    the first line's start, ``length`` bytes) that hold every needle, or an escaped letter
    (``escapes``: offsets in ``folded``)."""
    lo, hi = span
    base = int(starts[lo])
    rel = starts[lo:hi] - base
    begins = rel.tolist()
    finish = (rel + lengths[lo:hi]).tolist()
    out = np.zeros(hi - lo, dtype=bool)
    first, others = wanted[0], wanted[1:]
    size = len(first)
    pos = folded.find(first, 0, length)
    while pos >= 0:
        row = bisect.bisect_right(begins, pos) - 1
        if row >= 0 and pos + size <= finish[row]:
            a, b = begins[row], finish[row]
            if all(folded.find(needle, a, b) >= 0 for needle in others):
                out[row] = True
            pos = folded.find(first, b, length)  # one test per line, however many hits
        else:
            pos = folded.find(first, pos + 1, length)
    if len(escapes):
        rows = np.searchsorted(rel, escapes, side="right") - 1
        inside = rows >= 0
        inside[inside] = escapes[inside] < np.asarray(finish)[rows[inside]]
        out[rows[inside]] = True
    return out
