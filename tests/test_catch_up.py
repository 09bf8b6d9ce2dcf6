"""One-pass catch-up of a large rollout file: same rows and numbers as the block-by-block read,
text left on disk and read back the same, and a safe fall back whenever the file needs care."""

from __future__ import annotations

import itertools
import json
import mmap
import os
import random

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rltop.core import coldtext
from rltop.core.follow import Follower
from rltop.core.formats import rollouts
from rltop.core.formats.rollouts import (
    LineScan,
    RolloutJsonlParser,
    file_line_spans,
    line_blocks,
    line_boundary,
    line_spans,
)

#: columns both reads must agree on (the catch-up leaves prompt and completion on disk)
NUMBERS = ["step", "reward", "group", "length", "tokens", "split", "_gid", "_offset", "_len"]


@pytest.fixture
def small_threshold(monkeypatch):
    """Files of a few hundred kB take the one-pass path (64 MB in real use)."""
    monkeypatch.setattr(RolloutJsonlParser, "CATCH_UP_MIN_BYTES", 0)
    monkeypatch.setattr(RolloutJsonlParser, "BULK_MIN_BYTES", 64 * 1024)
    monkeypatch.setattr(RolloutJsonlParser, "HEAD_BYTES", 32 * 1024)  # columns from ~40 lines


def rows(count: int, seed: int = 0, first_step: int = 1):
    rng = random.Random(seed)
    for i in range(count):
        yield {
            "prompt": f"Solve {i // 4}: " + "x" * rng.randint(50, 200),
            "completion": f"answer {i} é " + "y" * rng.randint(100, 900),
            "reward": rng.choice([0, 1, 0.5]),
            "step": first_step + i // 32,
            "uid": f"u{i // 4}",
            "num_tokens": rng.randint(10, 500),
            "acc": rng.random() < 0.5,
            "data_source": "gsm8k",
        }


def write(path, items, end: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for row in items:
            fh.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        fh.write(end)


def read(path) -> tuple[Follower, pl.DataFrame]:
    follower = Follower([str(path.parent)])
    follower.read_all()
    run = next(iter(follower.store.runs.values()))
    return follower, run.rollouts.frame()


def block_read(path, monkeypatch) -> pl.DataFrame:
    with monkeypatch.context() as m:
        m.setattr(RolloutJsonlParser, "catch_up", lambda self: None)
        return read(path)[1]


def test_same_rows_numbers_and_text_as_the_block_read(tmp_path, small_threshold, monkeypatch):
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(800))
    follower, fast = read(path)
    slow = block_read(path, monkeypatch)
    assert fast.height == slow.height == 800
    # the catch-up really ran: its text is on disk, not in memory
    assert fast.get_column("completion").null_count() == 800
    assert_frame_equal(fast.select(NUMBERS), slow.select(NUMBERS))
    for extra in ("acc", "data_source"):
        assert fast.get_column(extra).to_list() == slow.get_column(extra).to_list()
    # text read back from disk is what the block read held in memory
    filled = coldtext.fill_text(fast)
    for column in ("prompt", "completion"):
        assert filled.get_column(column).to_list() == slow.get_column(column).to_list()
    # per-step statistics (pass@k by group, tokens, length) are the same
    run = follower.store.snapshot().runs[0]
    stats = [c for c in run.metrics.columns if c.startswith("rollouts/")]
    assert "rollouts/pass@k" in stats
    fresh = Follower([str(path.parent)])
    monkeypatch.setattr(RolloutJsonlParser, "catch_up", lambda self: None)
    fresh.read_all()
    assert_frame_equal(
        run.metrics.select(["step", *stats]),
        fresh.store.snapshot().runs[0].metrics.select(["step", *stats]),
    )
    info = next(iter(follower.store.sources.values()))
    assert (info.lines_read, info.bytes_read, info.skipped) == (800, os.path.getsize(path), 0)


def test_lines_appended_after_the_catch_up_are_followed(tmp_path, small_threshold):
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(600))
    follower, frame = read(path)
    assert frame.height == 600
    with open(path, "ab") as fh:
        fh.write(b"not json\n")
        fh.write(json.dumps(next(rows(1, first_step=99))).encode() + b"\n")
        fh.write(b'{"prompt": "half')
    follower.poll_once()
    run = next(iter(follower.store.runs.values()))
    frame = run.rollouts.frame()
    assert frame.height == 601
    new = frame.filter(pl.col("step") == 99).row(0, named=True)
    assert new["completion"].startswith("answer 0 ")  # live rows keep their text in memory
    assert coldtext.load_text(frame.row(5, named=True))["completion"].startswith("answer 5 ")
    info = next(iter(follower.store.sources.values()))
    assert [s.line for s in info.recent_skips] == [601]  # line numbers go on from the catch-up
    assert follower.followed[str(path)].tail.offset == path.stat().st_size - len(
        b'{"prompt": "half'
    )


@pytest.mark.parametrize(
    "damage",
    [
        "bad line",
        "blank line",
        "nan",
        "chat messages",
        "type change",
        "no newline at the end",
        "step missing",
    ],
)
@pytest.mark.parametrize("map_whole", [True, False])
def test_files_that_need_care_are_read_line_by_line(
    tmp_path, small_threshold, monkeypatch, damage, map_whole
):
    items = list(rows(600))
    end = b""
    if damage == "chat messages":
        items[3]["messages"] = [{"role": "user", "content": "hi"}]
    elif damage == "type change":
        items[500]["acc"] = "sometimes"
    elif damage == "step missing":
        del items[400]["step"]
    elif damage == "no newline at the end":
        end = b'{"prompt": "being written'
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, items, end)
    if damage in ("bad line", "blank line", "nan"):
        lines = path.read_bytes().split(b"\n")
        extra = {"bad line": b"{oops", "blank line": b"   ", "nan": b""}[damage]
        if damage == "nan":
            lines[200] = lines[200].replace(b'"reward": ', b'"reward": NaN, "r0": ')
        else:
            lines.insert(200, extra)
        path.write_bytes(b"\n".join(lines))
    monkeypatch.setattr(RolloutJsonlParser, "PASS_BLOCK", 16 * 1024)  # the damage in a later block
    parser = RolloutJsonlParser(str(path))
    parser.map_whole = map_whole
    assert parser.catch_up() is None
    follower, frame = read(path)
    expected = 599 if damage == "step missing" else 600
    assert frame.height == expected
    assert frame.get_column("completion").null_count() == 0  # read in blocks, text in memory
    info = next(iter(follower.store.sources.values()))
    assert info.skipped == (1 if damage in ("bad line", "step missing") else 0)


def test_nested_extras_stay_on_disk_and_come_back(tmp_path, small_threshold):
    items = list(rows(600))
    for i in (2, 450):  # in the lines that set the columns, and far after them
        items[i]["tool_calls"] = [{"name": "search", "arguments": {"q": i}}]
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, items)
    caught = RolloutJsonlParser(str(path)).catch_up()
    assert caught is not None
    frame = caught.result.rollout_frame
    assert "tool_calls" not in frame.columns
    for i in (2, 450):
        row = coldtext.load_text(frame.row(i, named=True))
        assert json.loads(row["extra"])["tool_calls"][0]["arguments"] == {"q": i}


def test_small_files_are_read_block_by_block(tmp_path):
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(50))
    assert RolloutJsonlParser(str(path)).catch_up() is None


def block_line_spans(fd: int, end: int, block: int):
    """The lines of a file as the read in blocks finds them: its blocks through ``LineScan``."""
    lines = LineScan()
    for pos, data in line_blocks(fd, end, block):
        if not lines.add(data, pos):
            return None
    return lines.result(end)


@pytest.mark.parametrize("how", ["mapped", "pread", "blocks"])
@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
def test_file_line_spans_match_the_block_spans(tmp_path, monkeypatch, block, how):
    if how == "pread":  # where pages cannot be let go, the file is read with pread
        monkeypatch.delattr(mmap, "MADV_DONTNEED")
    spans = block_line_spans if how == "blocks" else file_line_spans
    rng = random.Random(block)
    data = b"".join(
        b"{" + b"a" * rng.choice([0, 1, 5, 63, 64, 65, 200]) + b"}\n" for _ in range(300)
    )
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        got = spans(fh.fileno(), len(data), block=block)
    assert got is not None
    starts, lengths, newlines = got
    want_starts, want_lengths = line_spans(data)
    assert np.array_equal(starts, want_starts) and np.array_equal(lengths, want_lengths)
    assert newlines == 300
    # a line starting with white space, wherever it falls, sends the file to the careful path
    for at in (0, 64, len(data) // 2):
        nl = data.index(b"\n", at) + 1
        spaced = data[:nl] + b" " + data[nl:]
        path.write_bytes(spaced)
        with open(path, "rb") as fh:
            assert spans(fh.fileno(), len(spaced), block=block) is None


@pytest.mark.parametrize("block", [100, 4096, 3 * 4096 + 5, 1 << 20])
def test_the_line_scan_lets_go_of_each_block_it_mapped(tmp_path, monkeypatch, block):
    """``file_line_spans`` runs beside polars' mapping of the file: its own mapping's pages are
    let go as it goes (page-aligned, in order, to the end), so it adds about a block to the
    read's peak, not a second copy of the file's pages."""
    data = b"".join(b"x" * (1 + i % 500) + b"\n" for i in range(2000))
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    released: list[tuple[int, int]] = []
    real = rollouts.release_pages

    def spy(mm, start, end):
        stop = real(mm, start, end)
        if stop > start:
            released.append((start, stop))
        return stop

    monkeypatch.setattr(rollouts, "release_pages", spy)
    with open(path, "rb") as fh:
        assert file_line_spans(fh.fileno(), len(data), block=block) is not None
    assert released and released[0][0] == 0 and released[-1][1] == len(data)
    page = mmap.PAGESIZE
    for (_a, b), (c, _d) in itertools.pairwise(released):
        assert b == c and b % page == 0  # each range goes on from the last, from a page start
    assert max(b - a for a, b in released) <= block + page


@pytest.mark.parametrize("block", [1, 5, 100, 4096])
def test_blocks_are_whole_lines_and_make_the_file(tmp_path, block):
    rng = random.Random(block)
    data = b"".join(b"x" * rng.choice([0, 1, 99, 100, 101, 5000]) + b"\n" for _ in range(200))
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        blocks = list(line_blocks(fd, len(data), block))
        assert b"".join(b for _pos, b in blocks) == data
        assert all(b.endswith(b"\n") for _pos, b in blocks)
        assert [pos for pos, _b in blocks] == list(
            np.cumsum([0] + [len(b) for _pos, b in blocks])[:-1]
        )
        # a block ends at the first line end at or after ``block`` bytes: its last line starts
        # before that
        assert all(b.rfind(b"\n", 0, len(b) - 1) + 1 < block for _pos, b in blocks)
        # where a line starts, from any byte
        for at in range(0, len(data), 37):
            want = at if at == 0 or data[at - 1] == 10 else data.index(b"\n", at) + 1
            assert line_boundary(fd, at, len(data)) == want
        # a file shorter than the read expects (it shrank) is an error, never a short block
        with pytest.raises(OSError):
            list(line_blocks(fd, len(data) + 10, block))
    finally:
        os.close(fd)


def test_a_prompt_standing_for_its_group_stays_on_disk(tmp_path, small_threshold, monkeypatch):
    items = list(rows(600))
    for item in items:
        del item["uid"]  # the group is the prompt text
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, items)
    _follower, fast = read(path)
    slow = block_read(path, monkeypatch)
    assert fast.get_column("group").null_count() == 600
    assert slow.get_column("group").to_list() == slow.get_column("prompt").to_list()
    # the groups are still told apart, the same way
    assert fast.get_column("_gid").to_list() == slow.get_column("_gid").to_list()


def test_headless_reads_a_metrics_file_in_one_block(tmp_path, monkeypatch):
    """The small first read is for a screen (``previews``); ``check`` reads the file whole."""
    from rltop.core import follow
    from rltop.core.formats.jsonl import JsonlMetricsParser

    with open(tmp_path / "metrics.jsonl", "w") as fh:
        for step in range(1, 2001):
            fh.write(json.dumps({"step": step, "loss": 1 / step, "reward": step * 0.001}) + "\n")
    monkeypatch.setattr(follow, "FIRST_READ", 4096)
    blocks = []
    real = JsonlMetricsParser.feed

    def counted(self, block, first_line):
        blocks.append(len(block))
        return real(self, block, first_line)

    monkeypatch.setattr(JsonlMetricsParser, "feed", counted)
    headless = follow.Follower([str(tmp_path)])
    headless.read_all()
    assert len(blocks) == 1
    assert headless.store.snapshot().runs[0].metrics.height == 2000
    blocks.clear()
    screen = follow.Follower([str(tmp_path)], previews=True)
    screen.read_all()
    assert len(blocks) == 2 and blocks[0] <= 4096
    assert screen.store.snapshot().runs[0].metrics.height == 2000


@pytest.mark.parametrize("name", ["r[1].jsonl", "r*.jsonl", "r?.jsonl", "r{1}.jsonl"])
def test_a_file_named_like_a_glob_pattern_is_read_as_itself(
    tmp_path, small_threshold, monkeypatch, name
):
    """polars reads a path as a glob: ``r[1].jsonl`` would be ``r1.jsonl``, its neighbour (and
    ``r*.jsonl`` both). The one-pass catch-up reads the open file, whatever its name."""
    odd = tmp_path / "run" / name
    write(odd, rows(600, seed=0))
    write(tmp_path / "run" / "r1.jsonl", rows(900, seed=1, first_step=1000))
    caught: dict[str, bool] = {}
    catch_up = RolloutJsonlParser.catch_up

    def spy(self):
        got = catch_up(self)
        caught[os.path.basename(self.path)] = got is not None
        return got

    monkeypatch.setattr(RolloutJsonlParser, "catch_up", spy)
    _follower, frame = read(odd)
    assert caught == {name: True, "r1.jsonl": True}  # the one-pass path read both files
    assert frame.height == 1500
    assert frame.get_column("completion").null_count() == 1500  # text on disk: one pass
    ours = frame.filter(pl.col("_path") == str(odd)).sort("_offset")
    assert ours.height == 600 and ours.get_column("step").max() < 1000
    want = [row["completion"] for row in rows(600, seed=0)]
    assert coldtext.fill_text(ours).get_column("completion").to_list() == want


@pytest.mark.parametrize("map_whole", [True, False])
def test_the_catch_up_reads_the_file_it_opened(tmp_path, small_threshold, monkeypatch, map_whole):
    """polars is given the open file (it maps it), or with ``map_whole`` unset the bytes of the
    open file a block at a time; never a name (a glob pattern to polars)."""
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(600))
    monkeypatch.setattr(RolloutJsonlParser, "PASS_BLOCK", 64 * 1024)
    given = []
    scan = pl.scan_ndjson

    def spy(source, **kwargs):
        given.append(source)
        return scan(source, **kwargs)

    monkeypatch.setattr(pl, "scan_ndjson", spy)
    parser = RolloutJsonlParser(str(path))
    parser.map_whole = map_whole
    assert parser.catch_up() is not None
    if map_whole:
        assert len(given) == 1 and not isinstance(given[0], (str, os.PathLike, bytes))
        return
    # a few blocks, never the file: a block is read, parsed and let go
    assert len(given) > 1 and all(isinstance(source, bytes) for source in given)
    assert b"".join(given) == path.read_bytes()
    longest = max(len(line) + 1 for line in path.read_bytes().split(b"\n"))
    assert max(len(source) for source in given) < 64 * 1024 + longest


@pytest.mark.parametrize("block", [1, 333, 4096, 50_000, 1 << 30])
def test_the_read_in_blocks_is_the_read_in_one(tmp_path, small_threshold, monkeypatch, block):
    """Wherever the blocks of the one-pass read in blocks end (in any line, or one block for the
    file), its rows are the mapped read's: numbers, groups, extras and where each line is."""
    path = tmp_path / "run" / "rollouts.jsonl"
    items = list(rows(700, seed=5))
    for i, item in enumerate(items):
        if i % 3 == 0:
            item["note"] = f"n{i}"  # an extra that comes and goes
    write(path, items)
    whole = RolloutJsonlParser(str(path)).catch_up()  # mapped whole by polars
    monkeypatch.setattr(RolloutJsonlParser, "PASS_BLOCK", block)
    monkeypatch.setattr(RolloutJsonlParser, "map_whole", False)
    blocks = RolloutJsonlParser(str(path)).catch_up()
    assert whole is not None and blocks is not None
    assert (
        (blocks.consumed, blocks.lines)
        == (whole.consumed, whole.lines)
        == (
            path.stat().st_size,
            700,
        )
    )
    assert_frame_equal(blocks.result.rollout_frame, whole.result.rollout_frame)
    assert blocks.result.rollout_frame.get_column("note").to_list()[:4] == ["n0", None, None, "n3"]


@pytest.mark.parametrize("at", ["first block", "a later block"])
def test_a_bad_line_in_any_block_sends_the_file_to_the_careful_path(
    tmp_path, small_threshold, monkeypatch, at
):
    items = list(rows(600))
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, items)
    lines = path.read_bytes().split(b"\n")
    lines.insert(60 if at == "first block" else 550, b"{oops")
    path.write_bytes(b"\n".join(lines))
    monkeypatch.setattr(RolloutJsonlParser, "PASS_BLOCK", 16 * 1024)
    monkeypatch.setattr(RolloutJsonlParser, "map_whole", False)
    assert RolloutJsonlParser(str(path)).catch_up() is None
    _follower, frame = read(path)
    assert frame.height == 600


def test_a_file_that_shrinks_during_the_read_is_left_to_the_tail(
    tmp_path, small_threshold, monkeypatch
):
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(600))
    monkeypatch.setattr(RolloutJsonlParser, "PASS_BLOCK", 16 * 1024)
    monkeypatch.setattr(RolloutJsonlParser, "map_whole", False)
    real = rollouts.line_blocks

    def shrinking(fd, end, block):
        for i, got in enumerate(real(fd, end, block)):
            yield got
            if i == 2:
                os.truncate(path, 1000)

    monkeypatch.setattr(rollouts, "line_blocks", shrinking)
    assert RolloutJsonlParser(str(path)).catch_up() is None


def test_without_posix_reads_the_block_path(tmp_path, small_threshold, monkeypatch):
    """Where polars cannot map a descriptor (not POSIX) it would copy the file whole into
    memory: the block path reads the file instead, with the same rows."""
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(600))
    monkeypatch.delattr(os, "pread")
    assert RolloutJsonlParser(str(path)).catch_up() is None
    _follower, frame = read(path)
    assert frame.height == 600 and frame.get_column("completion").null_count() < 600


def test_a_file_whose_mapping_would_not_fit_the_budget_is_read_block_by_block(
    tmp_path, small_threshold, monkeypatch
):
    """The one-pass read maps the file (every page read stays resident until it ends): under a
    --max-memory the file's size does not fit, the block path reads it, with the same rows."""
    from rltop.core import coldtext

    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, rows(600))
    size = path.stat().st_size
    _follower, whole = read(path)
    parser = RolloutJsonlParser(str(path))
    parser.map_limit = size
    assert parser.catch_up() is not None
    parser.map_limit = size - 1
    assert parser.catch_up() is None
    calls: list[int | None] = []
    real = RolloutJsonlParser.catch_up

    def spy(self):
        calls.append(self.map_limit)
        return real(self)

    monkeypatch.setattr(RolloutJsonlParser, "catch_up", spy)
    monkeypatch.setattr(coldtext.BUDGET, "max_memory", int((size - 1) / coldtext.MAP_SHARE))
    _follower, frame = read(path)
    assert calls and calls[0] is not None and calls[0] < size  # the follower set the limit
    assert frame.height == whole.height == 600
    assert frame.get_column("step").to_list() == whole.get_column("step").to_list()


@pytest.mark.parametrize("kind", ["plain", "chat", "mixed"])
def test_text_read_back_many_at_once_is_what_each_row_reads(
    tmp_path, small_threshold, monkeypatch, kind
):
    """Rows read back in bulk (``reread_many``: one polars read of many lines) give the text the
    row-by-row read gives; lines the bulk read cannot take go row by row."""
    items = list(rows(600, seed=3))
    if kind in ("chat", "mixed"):
        for i, item in enumerate(items):
            if kind == "chat" or i % 7 == 0:
                item["messages"] = [
                    {"role": "user", "content": item.pop("prompt")},
                    {"role": "assistant", "content": [{"type": "text", "text": "ok é"}]},
                ]
    path = tmp_path / "run" / "rollouts.jsonl"
    write(path, items)
    _follower, frame = read(path)
    cold = frame.select(pl.exclude("prompt", "completion", "messages", "extra"))
    for name in ("prompt", "completion", "messages", "extra"):
        if name in frame.columns:
            cold = cold.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    monkeypatch.setattr(coldtext, "BULK_REREAD", 1 << 30)
    one_by_one = coldtext.fill_text(cold)
    # a list page's rows, as dicts, read back one by one and many at once: the same text
    assert coldtext.fill_rows(cold.to_dicts()) == one_by_one.to_dicts()
    monkeypatch.setattr(coldtext, "BULK_REREAD", 1)
    assert coldtext.fill_rows(cold.to_dicts()) == one_by_one.to_dicts()
    took: list[bool] = []
    real = RolloutJsonlParser.reread_many

    def spy(self, block, count, columns):
        got = real(self, block, count, columns)
        took.append(got is not None)
        return got

    monkeypatch.setattr(RolloutJsonlParser, "reread_many", spy)
    bulk = coldtext.fill_text(cold)
    assert_frame_equal(bulk, one_by_one)
    assert took and (all(took) if kind == "plain" else True)
    assert one_by_one.get_column("completion").null_count() == 0


def test_lines_read_back_close_together_are_read_with_one_call(tmp_path, monkeypatch):
    data = bytearray(bytes(range(256)) * 1000)
    data[5007] = ord("\n")
    data = bytes(data)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    from rltop.core import prefilter

    monkeypatch.setattr(prefilter, "SPAN_GAP", 100)
    calls: list[int] = []
    real = os.pread

    def pread(fd, n, at):
        calls.append(n)
        return real(fd, n, at)

    monkeypatch.setattr(os, "pread", pread)
    spans = [(0, 10), (50, 5), (60, 30), (5000, 7), (5008, 3), (5012, 2), (200_000, 100)]
    fd = os.open(path, os.O_RDONLY)
    try:
        got = coldtext._read_block(fd, spans)
        reads = len(calls)
        past_end = coldtext._read_block(fd, [(0, 10), (len(data) - 5, 10)])
        unended = coldtext._read_block(fd, [(len(data) - 7, 7)])  # the last line, no newline
    finally:
        os.close(fd)
    assert got == b"".join(data[o : o + n] + b"\n" for o, n in spans)
    assert reads == 3  # 0..90, 5000..5014, 200000..200100
    assert past_end is None  # the file ends before the last span does
    assert unended == data[-7:] + b"\n"
