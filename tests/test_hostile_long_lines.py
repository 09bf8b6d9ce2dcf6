"""Issue #12 row 15: a very long rollout line is read without holding its text.

The follower passes over a line longer than ``COLD_LINE`` without keeping it (``FileTail``'s
``cold_line``), the rollout reader scans its bytes from disk a window at a time for the small
fields (``core/jsonscan.py``), and the row's text columns stay null (cold): the text is read back
in pieces when it is shown (the list gets its head, the detail view pages it)."""

from __future__ import annotations

import json
import random
import tracemalloc
import zlib
from pathlib import Path

import pytest

from rltop.core import follow, jsonscan
from rltop.core.coldtext import COLD, cold_pieces, fill_heads, load_text
from rltop.core.follow import Follower
from rltop.core.formats.rollouts import RolloutJsonlParser
from rltop.core.pagedtext import PagedText
from rltop.core.tail import FileTail

ALPHABET = ["a", "b", " ", "\n", '"', "\\", "é", "✓", "😀", "\x01", "\u2028", "/", "\ud800"]


def _long_text(size: int) -> str:
    words = "".join(f"wörd{i} ✓ " + ("\n" if i % 12 == 11 else "") for i in range(size // 8))
    return words[:size]


def _write(path: Path, text: str) -> int:
    """Three short rollouts, one with ``text`` as its completion, one short after it; returns
    the long line's length in bytes."""
    lines = [
        json.dumps({"step": s, "prompt": f"p{s}", "completion": "short", "reward": 0.1})
        for s in range(3)
    ]
    long_line = json.dumps(
        {"step": 3, "prompt": "the long one", "completion": text, "reward": 1.0, "uid": "g"}
    )
    lines += [long_line, json.dumps({"step": 4, "prompt": "after", "completion": "x", "reward": 0})]
    path.write_text("\n".join(lines) + "\n")
    return len(long_line.encode())


def _digest(pieces) -> tuple[int, int]:
    crc, chars = 0, 0
    for piece in pieces:
        crc = zlib.crc32(piece.encode("utf-8", "surrogatepass"), crc)
        chars += len(piece)
    return crc, chars


# -- the scanner --------------------------------------------------------------------------------
def test_scanner_keeps_small_values_and_measures_cold_strings(monkeypatch) -> None:
    monkeypatch.setattr(jsonscan, "WINDOW", 37)  # every window boundary lands somewhere new
    monkeypatch.setattr(jsonscan, "KEEP_VALUE", 50)
    rnd = random.Random(7)
    for _ in range(600):
        ascii_only = rnd.random() < 0.5  # else UTF-8, where a lone surrogate cannot be
        alphabet = ALPHABET if ascii_only else ALPHABET[:-1]
        big = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 300)))
        obj = {
            "step": rnd.randint(0, 9),
            "prompt": big[: rnd.randint(0, 80)],
            "completion": big,
            "reward": 0.5,
            "meta": {"a": [1, "x]}", {"b": big[:60]}]},
            "z": None,
        }
        line = json.dumps(obj, ensure_ascii=ascii_only).encode()
        if rnd.random() < 0.3:
            line = line.replace(b", ", b" ,  ")

        def read(offset: int, size: int, line: bytes = line) -> bytes:
            return line[offset : offset + size]

        scanned = jsonscan.scan_object(read, len(line))
        for key, value in obj.items():
            if key not in scanned.cold:
                assert scanned.small[key] == value
                continue
            cold = scanned.cold[key]
            assert json.loads(line[cold.start : cold.end]) == value
            if cold.kind == "string":
                assert cold.chars == len(value)
                assert "".join(jsonscan.string_pieces(read, cold, piece=23)) == value


@pytest.mark.parametrize(
    "bad", [b'{"a": "x', b'{"a": 1,}', b"[1]", b'{"a" 1}', b'{"a": "\\q"}', b'{"a": 1} x', b""]
)
def test_scanner_rejects_what_is_not_one_json_object(bad: bytes) -> None:
    with pytest.raises(ValueError):
        jsonscan.scan_object(lambda o, n: bad[o : o + n], len(bad))


# -- the tail passes over it ----------------------------------------------------------------------
def test_tail_passes_over_a_cold_line_and_says_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "rollouts.jsonl"
    length = _write(path, _long_text(3_000_000))
    data = path.read_bytes()
    start = data.index(b'{"step": 3')
    tail = FileTail(str(path), chunk=256 * 1024, cold_line=1024 * 1024)
    blocks, cold = [], []
    while True:
        got = tail.read_lines()
        if got.block:
            blocks.append((got.first_line, got.offset, got.block))
            assert data[got.offset : got.offset + len(got.block)] == got.block
        if got.cold:
            cold.append(got.cold)
        if not got.more:
            break
    assert cold == [(4, start, length)]
    assert blocks[-1][0] == 5 and blocks[-1][2].startswith(b'{"step": 4')
    assert max(len(b) for _, _, b in blocks) < 1024 * 1024


# -- the whole follower ----------------------------------------------------------------------
def test_follower_keeps_a_long_line_cold_and_never_holds_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(follow, "CHUNK", 512 * 1024)  # the line is longer than a read
    text = _long_text(8_000_000)
    length = _write(tmp_path / "rollouts.jsonl", text)
    follower = Follower([str(tmp_path)])
    tracemalloc.start()
    try:
        follower.read_all()
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the line is 8 M characters (14 MB): reading it holds a few windows of it at most
    assert peak < min(length / 2, 8 * 2**20), (
        f"peak {peak / 1e6:.1f} MB while reading a {length / 1e6:.1f} MB line"
    )
    frame = follower.store.snapshot().runs[0].rollouts.sort("step")
    assert frame["step"].to_list() == [0, 1, 2, 3, 4]
    row = frame.row(3, named=True)
    assert row["completion"] is None and row["prompt"] is None  # cold: on disk
    assert row["length"] == len(text) and row["reward"] == 1.0 and row["group"] == "g"
    assert row["_len"] == length
    # the rows after it know where their lines are
    assert load_text(frame.row(4, named=True))["prompt"] == "after"
    # the list gets the head of the text, read in windows
    heads = fill_heads(frame[3:4])
    head = heads["completion"][0]
    assert head.startswith(text[:1000]) and len(head) < RolloutJsonlParser.HEAD_CHARS + 100
    # the detail view gets the heads and where the whole is; paged, it is the whole text
    full = load_text(row)
    assert full["prompt"] == "the long one" and full["completion"].startswith(text[:1000])
    assert set(full[COLD]) == {"completion"}
    paged = PagedText(cold_pieces(full[COLD]["completion"]))
    try:
        assert paged.chars == len(text)
        assert _digest(paged.page(i) for i in range(paged.pages)) == _digest([text])
    finally:
        paged.close()


def test_a_long_line_inside_a_block_is_scanned_in_place(tmp_path: Path, monkeypatch) -> None:
    """A block already read that holds a long line: that line is scanned from the block (no
    parse), the lines before and after it read as usual and located right."""
    monkeypatch.setattr(RolloutJsonlParser, "COLD_LINE", 100_000)
    text = _long_text(400_000)
    path = tmp_path / "rollouts.jsonl"
    _write(path, text)
    parser = RolloutJsonlParser(str(path))
    result = parser.feed(path.read_bytes(), 1)
    frame = result.rollout_frame.sort("step")
    assert frame["step"].to_list() == [0, 1, 2, 3, 4] and not result.skips
    assert frame["completion"][3] is None and frame["length"][3] == len(text)
    data = path.read_bytes()
    for i in (0, 4):
        row = frame.row(i, named=True)
        line = data[row["_offset"] : row["_offset"] + row["_len"]]
        assert json.loads(line)["step"] == row["step"]


def test_a_broken_long_line_is_skipped_with_a_reason(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(follow, "CHUNK", 512 * 1024)
    path = tmp_path / "rollouts.jsonl"
    _write(path, "x")
    with open(path, "a") as fh:
        fh.write('{"step": 5, "reward": 1, "completion": "' + "y" * 2_000_000 + "\n")
        fh.write(json.dumps({"step": 6, "prompt": "p", "completion": "c", "reward": 1}) + "\n")
    follower = Follower([str(tmp_path)])
    follower.read_all()
    snap = follower.store.snapshot()
    assert sorted(snap.runs[0].rollouts["step"].to_list()) == [0, 1, 2, 3, 4, 6]
    info = follower.store.sources[str(path)]
    assert info.skipped == 1 and info.lines_read == 7
    assert any("malformed JSON" in reason for reason in info.skip_reasons)


def test_a_large_file_with_a_long_line_is_not_caught_up_by_polars(tmp_path: Path, monkeypatch):
    """The one-pass catch-up of a large file (polars' reader) would hold a long line's text:
    a file that may hold one is read block by block, where the line stays cold."""
    monkeypatch.setattr(RolloutJsonlParser, "CATCH_UP_MIN_BYTES", 0)
    monkeypatch.setattr(RolloutJsonlParser, "BULK_MIN_BYTES", 64 * 1024)
    monkeypatch.setattr(RolloutJsonlParser, "COLD_LINE", 1_000_000)
    path = tmp_path / "rollouts.jsonl"
    # lines of at most half the limit (every half-limit window holds a newline): one pass
    assert 64 * 1024 < _write(path, _long_text(40_000)) < 250_000
    assert RolloutJsonlParser(str(path)).catch_up() is not None
    text = _long_text(800_000)
    assert _write(path, text) > 1_000_000
    assert RolloutJsonlParser(str(path)).catch_up() is None
    follower = Follower([str(tmp_path)], previews=True)
    follower.read_all()
    frame = follower.store.snapshot().runs[0].rollouts.sort("step")
    assert frame["step"].to_list() == [0, 1, 2, 3, 4]
    assert frame["completion"][3] is None and frame["length"][3] == len(text)
