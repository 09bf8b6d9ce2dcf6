"""Search over rollout text on disk: the raw-bytes prefilter may keep lines that do not match but
never drops one that does (JSON escapes, case folding, text the parser puts together)."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rltop.core.coldtext import fill_text
from rltop.core.formats.rollouts import RolloutJsonlParser
from rltop.core.prefilter import candidate_lines, needles, regex_needles
from rltop.core.search import iter_matches, parse_query

TRICKY = [
    {"prompt": 'say "hi"\nthen go', "response": "Café ☕ naïve", "reward": 1.0},
    {"prompt": "x", "response": "The KELVIN sign: \u212a and long \u017f here"},
    {
        "messages": [
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "General Kenobi"},
        ]
    },
    {
        "prompt": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "part one"}, {"text": "part two"}],
            }
        ],
        "response": "ok",
    },
    {"prompt": 12345, "response": None, "answer": True},
    {"prompt": [1e-5, None, True, "str"], "response": "done"},
    {"prompt": "slash / back \\ tab \t bell \u0007", "response": "<tag> & </tag>"},
    {"prompt": "reward hacking detected", "response": "indeed"},
    {"prompt": "plain", "response": "nothing to see"},
    {
        "messages": [{"role": "user", "content": [{"foo": 1}, {"type": "image_url"}]}],
        "response": "x",
    },
]


def _dump(obj, ascii_only: bool, escape_letters: bool = False) -> bytes:
    text = json.dumps({"step": 1, "reward": 0.5, **obj}, ensure_ascii=ascii_only)
    if escape_letters:  # legal JSON no common writer makes: ASCII letters as \\u escapes
        text = re.sub(
            r'"(?:\\.|[^"\\])*"',
            lambda m: m.group(0).replace("o", "\\u006f").replace("K", "\\u004B"),
            text,
        )
    return text.encode() + b"\n"


def _write(tmp_path, objs, **kw):
    path = tmp_path / "r.jsonl"
    lines = [_dump(o, **kw) for o in objs]
    path.write_bytes(b"".join(lines))
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line)
    return str(path), lines, offsets


PHRASES = [
    ('"hi"\nthen', False),
    ("café", True),
    ("CAFÉ", True),
    ("naïve", False),
    ("kelvin sign: k", True),
    ("and long s", True),
    ("[user] hello", False),
    ("[assistant] General", False),
    ("part one part two", False),
    ("12345", False),
    ("None, True", False),
    ("1e-05", False),
    ("back \\ tab", False),
    ("<tag> &", False),
    ("[part]\n[image_url]", False),
    ("reward hacking", False),
    ("REWARD HACKING", True),
    ("nothing", False),
    ("absent phrase", True),
]


def _texts(raw: bytes, path: str) -> list[str]:
    try:
        row = RolloutJsonlParser(path).reread(raw)
    except ValueError:  # no rollout in that line: no text to match
        return []
    return [t for t in (row.get("prompt"), row.get("completion")) if t]


def _matches(text: str, phrase: str, ignore_case: bool) -> bool:
    series = pl.Series([text])
    if ignore_case:
        return bool(series.str.contains("(?i)" + re.escape(phrase)).item())
    return phrase in text


def test_needles_are_letter_runs_without_none_and_split_at_k_s_ignoring_case():
    assert needles("Reward hacking, 42!", False) == [b"hacking", b"reward"]
    assert needles("none, None", False) == []  # could be Python's None for a JSON null
    assert needles("kelvin sign", True) == [b"elvin", b"ign"]
    assert needles("12 / 34", False) == []


def test_no_matching_line_is_dropped(tmp_path):
    for ascii_only in (False, True):
        for escape_letters in (False, True):
            path, lines, offsets = _write(
                tmp_path, TRICKY, ascii_only=ascii_only, escape_letters=escape_letters
            )
            lengths = [len(x) for x in lines]
            for phrase, ignore_case in PHRASES:
                keep = candidate_lines(path, offsets, lengths, needles(phrase, ignore_case))
                for raw, kept in zip(lines, keep, strict=True):
                    hit = any(_matches(t, phrase, ignore_case) for t in _texts(raw, path))
                    if hit:
                        assert kept, (phrase, raw)


def test_lines_that_cannot_match_are_dropped(tmp_path):
    path, lines, offsets = _write(tmp_path, TRICKY * 50, ascii_only=False)
    keep = candidate_lines(path, offsets, [len(x) for x in lines], needles("reward hacking", True))
    assert keep.sum() == 50  # the one line per copy that has it


#: texts in rollouts, and a phrase cut from one of them (``pick``, ``start``, ``size``)
RANDOM_CASE = dict(
    texts=st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=8),
    pick=st.integers(0, 7),
    start=st.integers(0, 20),
    size=st.integers(1, 12),
    ascii_only=st.booleans(),
    ignore_case=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(**RANDOM_CASE)
def test_random_text_is_never_missed(
    tmp_path_factory, texts, pick, start, size, ascii_only, ignore_case
):
    tmp = tmp_path_factory.mktemp("p")
    objs = [{"prompt": t, "response": t[::-1]} for t in texts]
    source = texts[pick % len(texts)]
    phrase = source[start : start + size] or "x"
    if ignore_case:
        phrase = phrase.swapcase()
    path, lines, offsets = _write(tmp, objs, ascii_only=ascii_only)
    keep = candidate_lines(path, offsets, [len(x) for x in lines], needles(phrase, ignore_case))
    for raw, kept in zip(lines, keep, strict=True):
        if any(_matches(t, phrase, ignore_case) for t in _texts(raw, path)):
            assert kept


def test_regex_needles_are_the_literal_runs_every_match_holds():
    assert regex_needles(r"reward\s+hacking") == [b"hacking", b"reward"]
    assert regex_needles(r"(?i)Reward hack(ing)?") == [b"reward", b"hac"]  # split at k, s
    assert regex_needles(r"(?i:Kelvin) x") == [b"elvin", b"x"]  # a case-insensitive part
    assert regex_needles(r"(foo|bar)baz") == [b"baz"]  # a branch: neither side is needed
    assert regex_needles(r"foo|bar") == []
    assert regex_needles(r"colou?r (of)+ x*yz") == [b"colo", b"of", b"yz"]
    assert regex_needles(r"[ab]cde.fg{0,2}") == [b"cde", b"f"]
    assert regex_needles("(") == []  # not a pattern: every line is kept


def _regexes(phrase: str, draw: st.DataObject) -> str:
    """A pattern every text holding ``phrase`` matches, made of its pieces."""
    out = []
    for ch in phrase:
        kind = draw.draw(st.sampled_from(["lit", "lit", "lit", "dot", "class", "opt", "plus"]))
        lit = re.escape(ch)
        out.append(
            {
                "lit": lit,
                "dot": ".",
                "class": f"[{lit}#]",
                "opt": f"(?:{lit})?",
                "plus": f"(?:{lit})+",
            }[kind]
        )
    body = "".join(out)
    if draw.draw(st.booleans()):
        body = f"(?:{body}|zzq)"
    return body


@settings(max_examples=60, deadline=None)
@given(**RANDOM_CASE, data=st.data())
def test_a_line_a_random_regex_matches_is_never_dropped(
    tmp_path_factory, texts, pick, start, size, ascii_only, ignore_case, data
):
    tmp = tmp_path_factory.mktemp("r")
    objs = [{"prompt": t, "response": t[::-1]} for t in texts]
    source = texts[pick % len(texts)]
    phrase = source[start : start + size] or "x"
    pattern = ("(?i)" if ignore_case else "") + _regexes(phrase, data)
    path, lines, offsets = _write(tmp, objs, ascii_only=ascii_only)
    keep = candidate_lines(path, offsets, [len(x) for x in lines], regex_needles(pattern))
    for raw, kept in zip(lines, keep, strict=True):
        texts_of = _texts(raw, path)
        if any(pl.Series([t]).str.contains(pattern).item() for t in texts_of):
            assert kept, (pattern, raw)


def _cold_frame(
    path: str, lines: list[bytes], offsets: list[int], fmt: str = "rollouts-jsonl"
) -> pl.DataFrame:
    n = len(lines)
    return pl.DataFrame(
        {
            "step": list(range(n)),
            "prompt": pl.Series([None] * n, dtype=pl.String),
            "completion": pl.Series([None] * n, dtype=pl.String),
            "_path": [path] * n,
            "_offset": offsets,
            "_len": [len(x) for x in lines],
            "_format": [fmt] * n,
        }
    )


def test_search_over_cold_rows_parses_only_candidates(tmp_path, monkeypatch):
    from rltop.core import search

    monkeypatch.setattr(search, "COLD_FIRST_BATCH", 40)
    objs = TRICKY * 30
    path, lines, offsets = _write(tmp_path, objs, ascii_only=True)
    frame = _cold_frame(path, lines, offsets)
    parsed = []

    def loader(part):
        parsed.append(part.height)
        return fill_text(part)

    for text in (
        "reward hacking",
        "café",
        '"[user] hello"',
        "General Kenobi",
        "/Gen.ral/",
        r"/REWARD\s+hack(ing)?/i",
    ):
        query = parse_query(text, dict(frame.schema))
        parsed.clear()
        got = pl.concat(list(iter_matches(frame, query, loader=loader, batch=50))).sort()
        full = fill_text(frame)
        expect = full.with_row_index("_r").filter(query.text_expr()).get_column("_r").sort()
        assert got.to_list() == expect.to_list(), text
        assert len(got) > 0
        assert sum(parsed) < frame.height / 2  # a regex's literal runs are looked for too


def test_rows_of_other_formats_are_all_read_back(tmp_path, monkeypatch):
    """The raw bytes of a format not known to hold its text as JSON strings tell nothing."""
    from rltop.core import search

    monkeypatch.setattr(search, "COLD_FIRST_BATCH", 10)
    path, lines, offsets = _write(tmp_path, TRICKY * 4, ascii_only=False)
    frame = _cold_frame(path, lines, offsets, fmt="some-binary-format")
    maybe = search._candidates(frame, pl.Series(range(frame.height)), needles("hacking", True))
    assert maybe.all()


def _reference(line: bytes, wanted: list[bytes]) -> bool:
    """What the prefilter must say about one line, written the slow, obvious way."""
    folded = bytes(b | 0x20 for b in line)
    escaped = re.search(rb"\\u00[4-7]", line) is not None
    return escaped or all(needle in folded for needle in wanted)


#: pieces of lines: letters of the phrase in any case, escapes that do and do not hide a letter
PIECES = ["Reward", "HACKING", "detected", " ", "\\n", "\\u0041", "\\u006F", "\\u00e9", "x", "é"]
PIECES += ["\\\\", "\\u00", "\\u004", "\\U006f"]


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(
        st.lists(st.sampled_from(PIECES), max_size=12).map(lambda parts: "".join(parts).encode()),
        min_size=1,
        max_size=30,
    ),
    pick=st.data(),
    span=st.integers(1, 64),
    gap=st.integers(0, 40),
    phrase=st.sampled_from(["reward hacking detected", "detected", "Reward", "hacking x"]),
    workers=st.integers(1, 3),
    numpy_strings=st.booleans(),
    preadv=st.booleans(),
)
def test_spans_read_in_turn_match_a_line_by_line_reference(
    tmp_path_factory, lines, pick, span, gap, phrase, workers, numpy_strings, preadv
):
    """The file read a few bytes at a time (many spans, buffers reused, spans searched by
    several threads side by side), lines in any order with gaps between them: the same answer
    as looking at each line on its own, by ``numpy.strings`` and by ``bytearray.find`` (numpy
    1.x), with ``os.preadv`` or a locked seek and read."""
    from rltop.core import prefilter

    path = tmp_path_factory.mktemp("s") / "r.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    offsets = np.cumsum([0] + [len(x) + 1 for x in lines[:-1]])
    # any lines, in any order, some more than once (rows may share a line)
    chosen = pick.draw(st.lists(st.integers(0, len(lines) - 1), min_size=1, max_size=40))
    wanted = needles(phrase, True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prefilter, "SPAN_BYTES", span)
        patch.setattr(prefilter, "SPAN_GAP", gap)
        patch.setattr(prefilter, "WORKERS", workers)
        patch.setattr(prefilter, "_PREADV", preadv and prefilter._PREADV)
        if not numpy_strings:
            patch.setattr(prefilter, "_NP_STRINGS", None)
        keep = candidate_lines(str(path), offsets[chosen], [len(lines[i]) for i in chosen], wanted)
    assert keep.tolist() == [_reference(lines[i], wanted) for i in chosen]


def test_lines_past_the_end_no_lines_or_of_a_vanished_file_are_kept(tmp_path, monkeypatch):
    from rltop.core import prefilter

    monkeypatch.setattr(prefilter, "SPAN_BYTES", 8)
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"nothing here\nreward hacking detected\n")
    wanted = needles("reward hacking detected", True)
    keep = candidate_lines(str(path), [0, 13, 100, 200, 13, -1], [12, 23, 30, 10, 0, 5], wanted)
    assert keep.tolist() == [False, True, True, True, False, True]  # (an empty line: no text)
    assert candidate_lines(str(tmp_path / "gone"), [0], [5], wanted).tolist() == [True]


def test_rows_sharing_a_line_or_its_start_are_each_answered(tmp_path, monkeypatch):
    from rltop.core import prefilter

    path = tmp_path / "r.jsonl"
    path.write_bytes(b"abc reward\nx \\u0041 y\n")
    wanted = needles("reward", True)
    for engine in (prefilter._NP_STRINGS, None):
        monkeypatch.setattr(prefilter, "_NP_STRINGS", engine)
        keep = candidate_lines(str(path), [0, 0, 0, 11, 11, 11], [10, 3, 10, 11, 1, 11], wanted)
        assert keep.tolist() == [True, False, True, True, False, True]


def test_parts_after_the_first_end_after_a_batch_of_lines_to_read(tmp_path, monkeypatch):
    """Once the raw bytes have said which lines can match, a part ends after ``batch`` of them
    (not after ``batch`` rows): a rare phrase's matches come in one part."""
    from rltop.core import search

    monkeypatch.setattr(search, "COLD_FIRST_BATCH", 40)
    monkeypatch.setattr(search, "GROW_UNTIL", 0)  # no growing parts: the rest at once
    path, lines, offsets = _write(tmp_path, TRICKY * 30, ascii_only=True)
    frame = _cold_frame(path, lines, offsets)
    for text, batch in (("reward hacking", 10), ("reward hacking", 100), ("General Kenobi", 7)):
        loaded: list[int] = []

        def loader(part, loaded=loaded):
            loaded.append(part.height)
            return fill_text(part)

        query = parse_query(text, dict(frame.schema))
        parts = list(iter_matches(frame, query, loader=loader, batch=batch))
        expect = fill_text(frame).with_row_index("_r").filter(query.text_expr())["_r"]
        assert sorted(pl.concat(parts).to_list()) == sorted(expect.to_list())
        rest = sum(loaded[1:])  # lines read back after the first part
        assert max(loaded[1:]) <= batch
        assert len(parts) - 1 == max(1, -(-rest // batch)), (text, batch, loaded)


@pytest.mark.parametrize("span", [64, 257])
def test_a_line_longer_than_a_span_is_searched_a_window_at_a_time(tmp_path, monkeypatch, span):
    """A long line is never read whole: a needle or an escaped letter across a window's edge is
    still seen, and a line without the needles is dropped."""
    from rltop.core import prefilter

    monkeypatch.setattr(prefilter, "SPAN_BYTES", span)
    reads: list[int] = []
    real_read = prefilter._Slot.read

    def read(self, fh, lock, offset, length):
        reads.append(length)
        return real_read(self, fh, lock, offset, length)

    monkeypatch.setattr(prefilter._Slot, "read", read)
    filler = "lorem ipsum dolor " * 200
    rng = random.Random(span)
    lines = []
    for i in range(40):
        cut = rng.randrange(len(filler))
        text = filler[:cut] + ("Reward HACKING" if i % 3 == 0 else "") + filler[cut:]
        if i % 7 == 1:
            text = filler[:cut] + "Reward hacking" + filler[cut:]
        line = json.dumps({"step": i, "prompt": "p", "response": text})
        if i % 7 == 1:  # the R as a JSON escape: the raw bytes cannot tell, the line is kept
            line = line.replace("Reward", "\\u0052eward")
        lines.append(line.encode() + b"\n")
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"".join(lines))
    offsets = np.cumsum([0, *[len(x) for x in lines[:-1]]])
    keep = candidate_lines(
        str(path), offsets, [len(x) for x in lines], needles("reward hacking", True)
    )
    expect = [i % 3 == 0 or i % 7 == 1 for i in range(40)]
    assert keep.tolist() == expect
    assert max(reads) <= max(span, 4 * len(b"hacking"))


def test_parts_after_the_first_grow_twice_as_large(tmp_path, monkeypatch):
    """A frequent phrase: after the first rows, parts of rows twice as large each (each searched
    on its own) up to ``GROW_UNTIL``, so a page fills without searching the whole file first."""
    from rltop.core import search

    monkeypatch.setattr(search, "COLD_FIRST_BATCH", 20)
    monkeypatch.setattr(search, "GROW_UNTIL", 80)
    path, lines, offsets = _write(tmp_path, TRICKY * 40, ascii_only=True)
    frame = _cold_frame(path, lines, offsets)
    searched: list[int] = []
    real = search._candidates

    def spy(frame, positions, wanted):
        searched.append(len(positions))
        return real(frame, positions, wanted)

    monkeypatch.setattr(search, "_candidates", spy)
    query = parse_query("hello", dict(frame.schema))
    parts = list(iter_matches(frame, query, loader=fill_text, batch=10_000))
    expect = fill_text(frame).with_row_index("_r").filter(query.text_expr())["_r"]
    assert sorted(pl.concat(parts).to_list()) == sorted(expect.to_list())
    assert searched[:4] == [20, 40, 80, frame.height - 140]
