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
import mmap
import os
import re
from collections.abc import Sequence

import numpy as np

_LETTERS = re.compile(r"[A-Za-z]+")
#: ``\\u0040`` .. ``\\u007f`` (the escaped forms of ASCII letters among them), in folded bytes
#: (where a backslash, 0x5c, has become 0x7c)
_ESCAPED_LETTER = re.compile(rb"\|u00[4-7]")
#: words the rollout parsers write into a text themselves (``messages.content_text``, ``str(None)``)
SYNTHESIZED = ("none", "part")
#: formats whose located rows are JSON documents made into rows from their string values
#: (``Parser.reread``: ``formats/rollouts.py``, ``formats/episodes.py``); checked one by one
RAW_TEXT_FORMATS = frozenset({"rollouts-jsonl", "episode-log", "episode-jsonl"})
#: lines closer than this are read in one span (reading a short gap beats another call)
SPAN_GAP = 64 * 1024
#: bytes read (and lowered) at a time
SPAN_BYTES = 64 * 1024 * 1024


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
    keep = np.ones(n, dtype=bool)
    if not wanted or n == 0:
        return keep
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return keep
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return keep
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            keep = _search_map(mm, size, starts, lengths, wanted)
        finally:
            mm.close()
    return keep


def _search_map(
    mm: mmap.mmap, size: int, starts: np.ndarray, lengths: np.ndarray, wanted: list[bytes]
) -> np.ndarray:
    n = len(starts)
    order = np.argsort(starts, kind="stable")
    s_sorted, l_sorted = starts[order], lengths[order]
    ends = s_sorted + l_sorted
    keep_sorted = np.ones(n, dtype=bool)
    raw = np.frombuffer(mm, dtype=np.uint8)
    buffer = np.empty(0, dtype=np.uint8)
    try:
        for lo, hi in _spans(s_sorted, ends):
            a, b = int(s_sorted[lo]), int(ends[hi - 1])
            if b > size:
                continue  # the file changed under us: keep these lines
            if len(buffer) < b - a:
                buffer = np.empty(max(b - a, min(SPAN_BYTES, size)), dtype=np.uint8)
            folded = buffer[: b - a]
            # ASCII letters to lower case by setting bit 5 (other bytes change too: the needles
            # are letters only, so a byte that was no letter can only add candidates)
            np.bitwise_or(raw[a:b], 0x20, out=folded)
            keep_sorted[lo:hi] = _scan(folded, s_sorted[lo:hi] - a, l_sorted[lo:hi], wanted)
            del folded
    finally:
        del raw
    keep = np.empty(n, dtype=bool)
    keep[order] = keep_sorted
    return keep


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
    folded: np.ndarray, starts: np.ndarray, lengths: np.ndarray, wanted: list[bytes]
) -> np.ndarray:
    """Lines (``starts``/``lengths`` inside the case-folded ``folded``) that hold every needle,
    or an escaped ASCII letter."""
    view = memoryview(folded)  # searched in place: no copy of the span
    first = re.compile(re.escape(wanted[0]))
    begins = starts.tolist()
    finish = (starts + lengths).tolist()
    out = np.zeros(len(begins), dtype=bool)
    found = first.search(view)
    while found is not None:
        pos = found.start()
        row = bisect.bisect_right(begins, pos) - 1
        if row >= 0 and found.end() <= finish[row]:
            if len(wanted) > 1:
                line = bytes(view[begins[row] : finish[row]])
                if all(needle in line for needle in wanted[1:]):
                    out[row] = True
            else:
                out[row] = True
            found = first.search(view, finish[row])  # one test per line, however many hits
        else:
            found = first.search(view, pos + 1)
    for m in _ESCAPED_LETTER.finditer(view):
        row = bisect.bisect_right(begins, m.start()) - 1
        if row >= 0:
            out[row] = True
    return out
